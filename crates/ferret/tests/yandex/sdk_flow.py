"""Drives a running `ferret serve` with the official Yandex Cloud SDK's generated stubs
(PyPI `yandexcloud`) over an insecure gRPC channel, then the same sequence over REST with
plain HTTP and JSON, then checks isolation and bad input on every endpoint.

Environment: FERRET_GRPC, FERRET_HTTP (host:port), ALICE_TOKEN (owns the image), BOB_TOKEN
(owns nothing), EXPECTED (the stats `ferret scan` found, as JSON), BOB_NAME, BOB_PASSWORD
(for session tokens), SESSION_TTL (seconds a session lasts).
Prints one line per check; exits non-zero at the first failure.
"""

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import grpc
from yandex.cloud.containerregistry.v1 import (
    image_service_pb2,
    image_service_pb2_grpc,
    scanner_pb2,
    scanner_service_pb2,
    scanner_service_pb2_grpc,
)
from yandex.cloud.operation import operation_service_pb2, operation_service_pb2_grpc

GRPC = os.environ["FERRET_GRPC"]
HTTP = os.environ["FERRET_HTTP"]
ALICE = os.environ["ALICE_TOKEN"]
BOB = os.environ["BOB_TOKEN"]
EXPECTED = json.loads(os.environ["EXPECTED"])
SEVERITIES = ["critical", "high", "medium", "low", "negligible", "undefined"]


def check(cond, what):
    if not cond:
        print(f"FAIL: {what}", flush=True)
        sys.exit(1)
    print(f"ok: {what}", flush=True)


channel = grpc.insecure_channel(GRPC)
images = image_service_pb2_grpc.ImageServiceStub(channel)
scanner = scanner_service_pb2_grpc.ScannerServiceStub(channel)
operations = operation_service_pb2_grpc.OperationServiceStub(channel)


def md(token):
    return (("authorization", f"Bearer {token}"),)


def stats_dict(stats, as_str=False):
    return {k: int(getattr(stats, k)) if not as_str else int(stats[k]) for k in SEVERITIES}


# --- gRPC, with the SDK's stubs -------------------------------------------------------

listed = images.List(image_service_pb2.ListImagesRequest(), metadata=md(ALICE))
check(len(listed.images) == 1, f"ImageService.List shows alice her one image: {listed.images}")
image = listed.images[0]
check(image.name == "local/app" and image.digest.startswith("sha256:"), f"image {image.name}@{image.digest}")
got = images.Get(image_service_pb2.GetImageRequest(image_id=image.id), metadata=md(ALICE))
check(got.id == image.id and "1.0" in got.tags, "ImageService.Get")
# repository_name as an Image names it (with its registry) and without the prefix alike.
for name in (image.name, image.name.split("/", 1)[1]):
    by_name = images.List(image_service_pb2.ListImagesRequest(repository_name=name), metadata=md(ALICE))
    check([i.id for i in by_name.images] == [image.id], f"ImageService.List repository_name={name!r}")
    rest = json.loads(urllib.request.urlopen(urllib.request.Request(
        f"http://{HTTP}/container-registry/v1/images?repositoryName={urllib.parse.quote(name)}",
        headers={"Authorization": f"Bearer {ALICE}"})).read())
    check([i["id"] for i in rest.get("images", [])] == [image.id], f"REST images?repositoryName={name!r}")

op = scanner.Scan(scanner_service_pb2.ScanRequest(image_id=image.id), metadata=md(ALICE))
meta = scanner_service_pb2.ScanMetadata()
check(op.metadata.Unpack(meta) and meta.scan_result_id, f"Scan returns an operation with ScanMetadata {meta}")
deadline = time.time() + 300
while not op.done:
    check(time.time() < deadline, "the operation finishes within 5 minutes") if time.time() >= deadline else None
    time.sleep(0.5)
    op = operations.Get(operation_service_pb2.GetOperationRequest(operation_id=op.id), metadata=md(ALICE))
check(op.WhichOneof("result") == "response", f"the operation is done with a response: {op.error}")
result = scanner_pb2.ScanResult()
check(op.response.Unpack(result), "the response unpacks to a ScanResult")
check(result.id == meta.scan_result_id, "the result is the one the metadata named")
check(result.status == scanner_pb2.ScanResult.READY, f"READY: {result.status}")
stats = stats_dict(result.vulnerabilities)
check(stats == EXPECTED, f"stats {stats} equal ferret scan's {EXPECTED}")
total = sum(stats.values())

def walk_grpc(page_size, flt=""):
    seen, token, pages = [], "", 0
    while True:
        resp = scanner.ListVulnerabilities(
            scanner_service_pb2.ListVulnerabilitiesRequest(
                scan_result_id=result.id, page_size=page_size, page_token=token, filter=flt),
            metadata=md(ALICE))
        pages += 1
        check(len(resp.vulnerabilities) <= page_size, f"page {pages} holds at most {page_size}") if len(resp.vulnerabilities) > page_size else None
        for v in resp.vulnerabilities:
            p = v.package
            seen.append((v.severity, p.name, p.package, p.version, p.source, p.origin, p.type, p.fixed_by))
        token = resp.next_page_token
        if not token:
            return seen, pages

walked, pages = walk_grpc(7)
whole, _ = walk_grpc(1000)
check(len(walked) == total, f"ListVulnerabilities walked by 7 ({pages} pages) gives {len(walked)} = total {total}")
check(walked == whole, "paging by 7 has no duplicate and no gap (equals one page of 1000)")
for size in (1, 3):
    by, n = walk_grpc(size)
    check(by == whole and n >= total // size, f"paging by {size} ({n} pages) walks the same {total}")
check(len(set(walked)) == len(walked), "no finding twice")
check(all(v[4] for v in walked), "every vulnerability names its package manager (source)")
check(any(v[4] == "dpkg" for v in walked), "dpkg findings are there")
critical, _ = walk_grpc(100, 'severity="CRITICAL"')
check(len(critical) == stats["critical"] and all(v[0] == scanner_pb2.Vulnerability.CRITICAL for v in critical),
      f"filter severity=CRITICAL gives the {stats['critical']} critical ones")
high, _ = walk_grpc(4, 'severity="HIGH"')
check(len(high) == stats["high"] > 0 and all(v[0] == scanner_pb2.Vulnerability.HIGH for v in high),
      f"filter severity=HIGH, pages of 4, gives the {stats['high']} high ones")
one_cve, _ = walk_grpc(10, 'name="CVE-2024-0001"')
check([v[1] for v in one_cve] == ["CVE-2024-0001"], f"filter name= gives that vulnerability: {one_cve}")
both, _ = walk_grpc(10, 'severity="HIGH" AND package="openssl"')
check(both and all(v[0] == scanner_pb2.Vulnerability.HIGH and v[2] == "openssl" for v in both),
      f"filters joined by AND: {len(both)} high ones in openssl")
by_sev = scanner.ListVulnerabilities(
    scanner_service_pb2.ListVulnerabilitiesRequest(scan_result_id=result.id, page_size=1000, order_by="severity"),
    metadata=md(ALICE))
ranks = [v.severity for v in by_sev.vulnerabilities]
check(ranks == sorted(ranks), "order_by=severity puts the most severe first")
seen, token = [], ""
while True:
    resp = scanner.ListVulnerabilities(scanner_service_pb2.ListVulnerabilitiesRequest(
        scan_result_id=result.id, page_size=1, page_token=token, order_by="severity"), metadata=md(ALICE))
    seen += list(resp.vulnerabilities)
    token = resp.next_page_token
    if not token:
        break
check(seen == list(by_sev.vulnerabilities), "ordered by severity, pages of 1 walk the same list")
last = scanner.GetLast(scanner_service_pb2.GetLastScanResultRequest(image_id=image.id), metadata=md(ALICE))
check(last.id == result.id and last.status == scanner_pb2.ScanResult.READY, "GetLast is the finished scan")
one = scanner.Get(scanner_service_pb2.GetScanResultRequest(scan_result_id=result.id), metadata=md(ALICE))
check(stats_dict(one.vulnerabilities) == EXPECTED, "Get returns the same stats")
ready = scanner.List(
    scanner_service_pb2.ListScanResultsRequest(repository_id=image.name, filter='status="READY"'),
    metadata=md(ALICE))
check(result.id in [s.id for s in ready.scan_results] and all(s.status == scanner_pb2.ScanResult.READY for s in ready.scan_results),
      f"List(repository_id={image.name}, status=READY) holds the scan ({len(ready.scan_results)} results)")
by_image = scanner.List(scanner_service_pb2.ListScanResultsRequest(image_id=image.id, page_size=1), metadata=md(ALICE))
check(len(by_image.scan_results) == 1 and by_image.next_page_token, "List(image_id) pages by 1")
rest_of = scanner.List(scanner_service_pb2.ListScanResultsRequest(
    image_id=image.id, page_size=1, page_token=by_image.next_page_token), metadata=md(ALICE))
check(rest_of.scan_results and rest_of.scan_results[0].id != by_image.scan_results[0].id, "the next page continues")

# --- REST, plain HTTP and JSON ---------------------------------------------------------

def http(method, path, token=ALICE, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    h = {"Content-Type": "application/json"} if data is not None else {}
    if token:
        h["Authorization"] = f"Bearer {token}"
    h.update(headers or {})
    req = urllib.request.Request(f"http://{HTTP}{path}", data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, {"raw": raw.decode(errors="replace")}

q = urllib.parse.quote
CRITICAL = q('severity="CRITICAL"')
READY = q('status="READY"')
NOPE = q('status="NOPE"')
status, body = http("GET", "/container-registry/v1/images")
check(status == 200 and [i["id"] for i in body["images"]] == [image.id], f"REST images: {body}")
check(body["images"][0]["compressedSize"] == str(image.compressed_size) and image.compressed_size > 0,
      f"the compressed size, int64 as a string: {body['images'][0]['compressedSize']}")
status, body = http("GET", f"/container-registry/v1/images/{image.id}")
check(status == 200 and body["digest"] == image.digest, "REST image")
status, op = http("POST", "/container-registry/v1/scans", body={"imageId": image.id})
check(status == 200 and op["metadata"]["@type"].endswith("ScanMetadata"), f"REST Scan: {op}")
deadline = time.time() + 300
while not op["done"]:
    if time.time() > deadline:
        check(False, "the REST operation finishes")
    time.sleep(0.5)
    status, op = http("GET", f"/operations/{op['id']}")
    check(status == 200, "GET /operations/{id}") if status != 200 else None
resp = op["response"]
check(resp["@type"] == "type.googleapis.com/yandex.cloud.containerregistry.v1.ScanResult", "the response is a ScanResult")
check(resp["status"] == "READY" and resp["id"] == op["metadata"]["scanResultId"], "READY, and the one the metadata named")
check({k: int(v) for k, v in resp["vulnerabilities"].items()} == EXPECTED, "REST stats equal ferret scan's")
check(resp["scannedAt"].endswith("Z") and "T" in resp["scannedAt"], f"RFC 3339 time {resp['scannedAt']}")
rid = resp["id"]
seen, token = [], ""
while True:
    status, page = http("GET", f"/container-registry/v1/scans/{rid}:listVulnerabilities?pageSize=7&pageToken={q(token)}")
    check(status == 200, "REST listVulnerabilities") if status != 200 else None
    seen += [json.dumps(v, sort_keys=True) for v in page["vulnerabilities"]]
    token = page["nextPageToken"]
    if not token:
        break
status, whole = http("GET", f"/container-registry/v1/scans/{rid}:listVulnerabilities?pageSize=1000")
check(seen == [json.dumps(v, sort_keys=True) for v in whole["vulnerabilities"]] and len(seen) == total,
      f"REST paging by 7 walks all {total} without duplicate or gap")
status, crit = http("GET", f"/container-registry/v1/scans/{rid}:listVulnerabilities?filter={CRITICAL}")
check(status == 200 and len(crit["vulnerabilities"]) == stats["critical"]
      and all(v["severity"] == "CRITICAL" for v in crit["vulnerabilities"]), "REST severity filter")
status, last = http("GET", f"/container-registry/v1/images/{image.id}:lastScanResult")
check(status == 200 and last["id"] == rid, "REST lastScanResult is the newest finished scan")
status, lst = http("GET", f"/container-registry/v1/scans?repositoryId={q(image.name)}&filter={READY}")
check(status == 200 and rid in [s["id"] for s in lst["scanResults"]], "REST List by repository, status READY")
status, one = http("GET", f"/container-registry/v1/scans/{rid}")
check(status == 200 and one["status"] == "READY", "REST Get")

# --- isolation: bob sees none of alice's things --------------------------------------

operation_id = op["id"]
def grpc_code(call):
    try:
        call()
    except grpc.RpcError as e:
        return e.code(), e.details()
    return grpc.StatusCode.OK, ""

for name, call in [
    ("ImageService.Get", lambda: images.Get(image_service_pb2.GetImageRequest(image_id=image.id), metadata=md(BOB))),
    ("Scan", lambda: scanner.Scan(scanner_service_pb2.ScanRequest(image_id=image.id), metadata=md(BOB))),
    ("Get", lambda: scanner.Get(scanner_service_pb2.GetScanResultRequest(scan_result_id=rid), metadata=md(BOB))),
    ("GetLast", lambda: scanner.GetLast(scanner_service_pb2.GetLastScanResultRequest(image_id=image.id), metadata=md(BOB))),
    ("List(image)", lambda: scanner.List(scanner_service_pb2.ListScanResultsRequest(image_id=image.id), metadata=md(BOB))),
    ("List(repository)", lambda: scanner.List(scanner_service_pb2.ListScanResultsRequest(repository_id=image.name), metadata=md(BOB))),
    ("ListVulnerabilities", lambda: scanner.ListVulnerabilities(scanner_service_pb2.ListVulnerabilitiesRequest(scan_result_id=rid), metadata=md(BOB))),
    ("OperationService.Get", lambda: operations.Get(operation_service_pb2.GetOperationRequest(operation_id=operation_id), metadata=md(BOB))),
]:
    code, _ = grpc_code(call)
    check(code == grpc.StatusCode.NOT_FOUND, f"gRPC {name} as bob: NOT_FOUND ({code})")
check(len(images.List(image_service_pb2.ListImagesRequest(), metadata=md(BOB)).images) == 0, "bob lists no image")
for path in [
    f"/container-registry/v1/images/{image.id}",
    f"/container-registry/v1/images/{image.id}:lastScanResult",
    f"/container-registry/v1/scans/{rid}",
    f"/container-registry/v1/scans/{rid}:listVulnerabilities",
    f"/container-registry/v1/scans?imageId={image.id}",
    f"/container-registry/v1/scans?repositoryId={q(image.name)}",
    f"/operations/{operation_id}",
    f"/api/ferret/v1/scans/{rid}",
    "/api/v2/images/local/app/1.0",
]:
    status, body = http("GET", path, token=BOB)
    check(status == 404 and body.get("code") == 5, f"REST GET {path} as bob: 404 NOT_FOUND ({status} {body})")
status, body = http("POST", "/container-registry/v1/scans", token=BOB, body={"imageId": image.id})
check(status == 404, f"REST Scan as bob: 404 ({status})")
status, body = http("GET", "/container-registry/v1/images", token=BOB)
check(status == 200 and body["images"] == [], "bob's REST image list is empty")

# Sessions: a tampered token and an expired one are UNAUTHENTICATED everywhere.
status, login = http("POST", "/api/v1/login", token=None,
                     body={"id": os.environ["BOB_NAME"], "password": os.environ["BOB_PASSWORD"]})
check(status == 200 and login["token"].count(".") == 2, "bob logs in for a JWT")
jwt = login["token"]
check(http("GET", "/container-registry/v1/images", token=jwt)[0] == 200, "the JWT works on REST")
check(grpc_code(lambda: images.List(image_service_pb2.ListImagesRequest(), metadata=md(jwt)))[0] == grpc.StatusCode.OK, "and on gRPC")
head, claims, sig = jwt.split(".")
payload = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
payload["exp"] += 3600
forged = head + "." + base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=") + "." + sig
flipped = jwt[:-2] + ("A" if jwt[-2] != "A" else "B") + jwt[-1]
status, wrong = http("POST", "/api/v1/login", token=None, body={"id": os.environ["BOB_NAME"], "password": "wrong"})
check(status == 401 and wrong["code"] == 16, "a wrong password is 401 UNAUTHENTICATED")
time.sleep(float(os.environ["SESSION_TTL"]) + 1.5)
for label, bad in [("tampered claims", forged), ("tampered signature", flipped), ("expired", jwt),
                   ("unknown API token", "fer_" + "0" * 64), ("garbage", "x")]:
    status, body = http("GET", "/container-registry/v1/images", token=bad)
    check(status == 401 and body["code"] == 16, f"REST with a {label} token: 401 ({status} {body.get('message')})")
    code, _ = grpc_code(lambda: images.List(image_service_pb2.ListImagesRequest(), metadata=md(bad)))
    check(code == grpc.StatusCode.UNAUTHENTICATED, f"gRPC with a {label} token: UNAUTHENTICATED ({code})")
check(http("GET", "/container-registry/v1/images", token=None)[0] == 401, "no token: 401")
check(grpc_code(lambda: images.List(image_service_pb2.ListImagesRequest()))[0] == grpc.StatusCode.UNAUTHENTICATED,
      "no token over gRPC: UNAUTHENTICATED")

# --- bad input: INVALID_ARGUMENT naming the field, never a 500 ------------------------

scan_id_of_image = "scn" + image.id[3:]
forged_token = base64.urlsafe_b64encode(b"READY|0|scn" + b"0" * 32 + b"x" * 12).decode().rstrip("=")
other_token = by_image.next_page_token
grpc_bad = [
    ("page_size", lambda: scanner.ListVulnerabilities(scanner_service_pb2.ListVulnerabilitiesRequest(scan_result_id=rid, page_size=1001), metadata=md(ALICE))),
    ("page_size", lambda: scanner.List(scanner_service_pb2.ListScanResultsRequest(image_id=image.id, page_size=-1), metadata=md(ALICE))),
    ("page_size", lambda: images.List(image_service_pb2.ListImagesRequest(page_size=1001), metadata=md(ALICE))),
    ("page_token", lambda: scanner.ListVulnerabilities(scanner_service_pb2.ListVulnerabilitiesRequest(scan_result_id=rid, page_token=forged_token), metadata=md(ALICE))),
    ("page_token", lambda: scanner.ListVulnerabilities(scanner_service_pb2.ListVulnerabilitiesRequest(scan_result_id=rid, page_token=other_token), metadata=md(ALICE))),
    ("page_token", lambda: scanner.List(scanner_service_pb2.ListScanResultsRequest(image_id=image.id, page_token="!!!"), metadata=md(ALICE))),
    ("page_token", lambda: images.List(image_service_pb2.ListImagesRequest(page_token="A" * 101), metadata=md(ALICE))),
    ("filter", lambda: scanner.List(scanner_service_pb2.ListScanResultsRequest(image_id=image.id, filter='status="NOPE"'), metadata=md(ALICE))),
    ("filter", lambda: scanner.ListVulnerabilities(scanner_service_pb2.ListVulnerabilitiesRequest(scan_result_id=rid, filter='severity="SEVERE"'), metadata=md(ALICE))),
    ("filter", lambda: scanner.ListVulnerabilities(scanner_service_pb2.ListVulnerabilitiesRequest(scan_result_id=rid, filter='cvss>7'), metadata=md(ALICE))),
    ("order_by", lambda: scanner.ListVulnerabilities(scanner_service_pb2.ListVulnerabilitiesRequest(scan_result_id=rid, order_by="name"), metadata=md(ALICE))),
    ("order_by", lambda: scanner.List(scanner_service_pb2.ListScanResultsRequest(image_id=image.id, order_by="size desc"), metadata=md(ALICE))),
    ("image_id", lambda: scanner.Scan(scanner_service_pb2.ScanRequest(image_id=""), metadata=md(ALICE))),
    ("image_id", lambda: scanner.Scan(scanner_service_pb2.ScanRequest(image_id=rid), metadata=md(ALICE))),
    ("image_id", lambda: scanner.GetLast(scanner_service_pb2.GetLastScanResultRequest(image_id="x" * 51), metadata=md(ALICE))),
    ("image_id", lambda: images.Get(image_service_pb2.GetImageRequest(image_id=""), metadata=md(ALICE))),
    ("image_id", lambda: scanner.List(scanner_service_pb2.ListScanResultsRequest(), metadata=md(ALICE))),
    ("scan_result_id", lambda: scanner.Get(scanner_service_pb2.GetScanResultRequest(scan_result_id=image.id), metadata=md(ALICE))),
    ("scan_result_id", lambda: scanner.ListVulnerabilities(scanner_service_pb2.ListVulnerabilitiesRequest(scan_result_id=""), metadata=md(ALICE))),
    ("repository_id", lambda: scanner.List(scanner_service_pb2.ListScanResultsRequest(repository_id=image.id), metadata=md(ALICE))),
    ("operation_id", lambda: operations.Get(operation_service_pb2.GetOperationRequest(operation_id=""), metadata=md(ALICE))),
    ("operation_id", lambda: operations.Get(operation_service_pb2.GetOperationRequest(operation_id=rid), metadata=md(ALICE))),
]
for field, call in grpc_bad:
    code, details = grpc_code(call)
    check(code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith(field + ":"),
          f"gRPC bad {field}: INVALID_ARGUMENT {details!r}")
check(grpc_code(lambda: scanner.Get(scanner_service_pb2.GetScanResultRequest(scan_result_id="scn" + "0" * 32), metadata=md(ALICE)))[0]
      == grpc.StatusCode.NOT_FOUND, "a well-formed id of nothing is NOT_FOUND")

rest_bad = [
    ("page_size", "GET", f"/container-registry/v1/scans/{rid}:listVulnerabilities?pageSize=1001", None),
    ("page_size", "GET", f"/container-registry/v1/scans/{rid}:listVulnerabilities?pageSize=ten", None),
    ("page_token", "GET", f"/container-registry/v1/scans/{rid}:listVulnerabilities?pageToken={forged_token}", None),
    ("filter", "GET", f"/container-registry/v1/scans?imageId={image.id}&filter={NOPE}", None),
    ("order_by", "GET", f"/container-registry/v1/scans?imageId={image.id}&orderBy=size", None),
    ("bogus", "GET", f"/container-registry/v1/scans?imageId={image.id}&bogus=1", None),
    ("image_id", "GET", "/container-registry/v1/scans", None),
    ("image_id", "GET", f"/container-registry/v1/images/{rid}", None),
    ("image_id", "GET", f"/container-registry/v1/images/{rid}:lastScanResult", None),
    ("scan_result_id", "GET", f"/container-registry/v1/scans/{image.id}", None),
    ("operation_id", "GET", f"/operations/{image.id}", None),
    ("body", "POST", "/container-registry/v1/scans", {"imageId": image.id, "bogus": 1}),
    ("body", "POST", "/container-registry/v1/scans", {}),
    ("image_id", "POST", "/container-registry/v1/scans", {"imageId": ""}),
    ("body", "POST", "/api/v2/images", {"registry": "local"}),
    ("registry", "POST", "/api/v2/images", {"registry": "nowhere", "image": "app:1.0"}),
    ("body", "POST", "/api/v1/login", {"id": "x"}),
]
for field, method, path, body in rest_bad:
    status, err = http(method, path, body=body)
    check(status == 400 and err.get("code") == 3 and err["message"].startswith(field),
          f"REST {method} {path} {body}: 400 INVALID_ARGUMENT naming {field} ({status} {err.get('message')!r})")
print("all checks passed")
