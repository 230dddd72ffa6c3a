#!/usr/bin/python3
"""An independent oracle for Ferret's findings.

Given packages (what each is matched as: ecosystem, release, name, version) and advisory
files (Debian security tracker JSON, OSV JSON or JSON lines), prints the findings the
formats' own rules give, compared with the reference implementations: `dpkg
--compare-versions`, python3-rpm's `labelCompare`, `packaging` (PEP 440), python3-semver
and Maven's own `ComparableVersion` (Debian's maven-artifact jar, run by the JDK). It shares
no code with Ferret.

Input: a JSON file {"packages": [{"id", "ecosystem", "release", "name", "version"}],
"debian_tracker": [paths], "osv": [paths], "nvd": [NVD JSON 2.0 files],
"cve5": [CVE JSON 5 record files], "ratings_osv": [OSV files read for ratings only]}.
Output (stdout): {"findings": [{"package", "id", "related", "records": {record: fix}}],
"skipped": [{"package", "record"}] (a version in the record does not parse),
"unparsable": [package ids] (the installed version does not parse)} where fix is {"state": "fixed", "versions": [...]},
{"state": "not-fixed"} or {"state": "will-not-fix"}.

Rules, from the formats:
- Debian tracker (per source package, CVE, release codename): `resolved` with
  fixed_version 0 never affected; `resolved` with V affected below V, fixed in V; `open` or
  `undetermined` affected, not fixed, unless the no-DSA reason is `ignored` (will not fix).
- OSV: withdrawn records do not stand. An entry applies when its ecosystem string names the package's ecosystem and
  release exactly (`Ubuntu:22.04:LTS` is Ubuntu 22.04; `Ubuntu:Pro:…` is another
  ecosystem). A version is affected when listed in `versions` or inside an ECOSYSTEM or
  SEMVER range (GIT ranges are commits, not versions): walking the events in version order
  up to the installed version, `introduced` opens, `fixed` and `limit` close, `last_affected`
  closes above it. The fix versions are the `fixed` events above the installed version of
  the ranges that contain it. RPM module builds (`.module+`/`.module_` in the release) and
  the distro's own builds are separate streams: a record of one never applies to the other.
- One finding per vulnerability: records sharing an id or alias are one finding, named by
  its CVE when it has one, else the lowest record id.
- Severity (each finding's "severity" and "source"): the Debian urgency of the matched
  tracker entries when one is a rating ("not yet assigned" and "end-of-life" are not;
  "unimportant" is NEGLIGIBLE; the highest wins); else, over every id of the finding, the
  first source in the order NVD (Primary metrics), CNA (NVD Secondary metrics not from
  CISA's ADP, CVE 5 CNA container), CISA ADP, GitHub (GHSA OSV records), other OSV
  records: within it the newest CVSS version (major, then minor), then the highest base
  score (as stated, else computed by the `cvss` package), else its highest qualitative
  rating; else UNKNOWN. Source is printed "nvd 3.1", "cna 4.0", "ghsa", "debian".
"""

import functools
import json
import os
import re
import subprocess
import sys

import cvss
import rpm
import semver
from packaging.utils import canonicalize_name
from packaging_legacy.version import parse as parse_python_version

CODENAMES = {"9": "stretch", "10": "buster", "11": "bullseye", "12": "bookworm",
             "13": "trixie", "14": "forky"}


class Unparsable(Exception):
    pass


@functools.lru_cache(maxsize=None)
def dpkg_cmp(a, b):
    for op, result in (("lt", -1), ("eq", 0)):
        r = subprocess.run(["dpkg", "--compare-versions", a, op, b])
        if r.returncode == 0:
            return result
        if r.returncode not in (0, 1):
            raise Unparsable(f"{a} / {b}")
    return 1


def evr(v):
    epoch = None
    if ":" in v:
        epoch, v = v.split(":", 1)
    version, _, release = v.partition("-")
    return (epoch or "0", version, release or None)


def rpm_cmp(a, b):
    return rpm.labelCompare(evr(a), evr(b))


def pep440_cmp(a, b):
    # PEP 440 versions, and the legacy ones PyPI still holds ordered below them by
    # packaging's LegacyVersion rules (which osv.dev keeps through packaging-legacy).
    x, y = parse_python_version(a), parse_python_version(b)
    return (x > y) - (x < y)


def semver_cmp(a, b):
    try:
        return semver.VersionInfo.parse(a.removeprefix("v")).compare(
            semver.VersionInfo.parse(b.removeprefix("v")))
    except ValueError as e:
        raise Unparsable(str(e))


# Maven's own ordering: its ComparableVersion (maven-artifact), whose main() prints the
# comparison of each argument with the next. Every pair the run needs is asked in one JVM.
MAVEN_ORDER = {}
MAVEN_LINE = re.compile(r"^\s+(\S+) (<|==|>) (\S+)$")


def maven_prepare(versions):
    versions = sorted(set(versions))
    args = []
    for i, a in enumerate(versions):
        for b in versions[i + 1:]:
            args += [a, b]
    if not args:
        return
    jar = os.environ.get("FERRET_MAVEN_ARTIFACT_JAR", "/usr/share/java/maven3-artifact.jar")
    out = subprocess.run(
        ["java", "-cp", jar, "org.apache.maven.artifact.versioning.ComparableVersion", *args],
        check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        m = MAVEN_LINE.match(line)
        if m:
            a, op, b = m.groups()
            r = {"<": -1, "==": 0, ">": 1}[op]
            MAVEN_ORDER[(a, b)] = r
            MAVEN_ORDER[(b, a)] = -r


def maven_cmp(a, b):
    if a == b:
        return 0
    return MAVEN_ORDER[(a, b)]


SCHEMES = {
    "Debian": dpkg_cmp, "Ubuntu": dpkg_cmp,
    "Rocky Linux": rpm_cmp, "AlmaLinux": rpm_cmp,
    "PyPI": pep440_cmp, "crates.io": semver_cmp, "Go": semver_cmp, "npm": semver_cmp,
    "Maven": maven_cmp,
}


def normal_name(ecosystem, name):
    if ecosystem == "PyPI":
        return canonicalize_name(name)
    if ecosystem in ("crates.io", "npm"):
        return name.lower()
    return name


def split_ecosystem(text):
    """`Ubuntu:22.04:LTS` → ("Ubuntu", "22.04"); `Debian:12` → ("Debian", "12")."""
    name, _, release = text.partition(":")
    if name == "Ubuntu" and release.endswith(":LTS"):
        release = release[: -len(":LTS")]
    return name, release


def is_module(v):
    return ".module+" in v or ".module_" in v


def in_range(cmp, v, events):
    """Whether the range contains v, walking the events in version order."""
    def key(e):
        (kind, ver), = e.items()
        return kind, ver
    evs = [key(e) for e in events if key(e)[1] != "*"]
    # introduced 0 first; then by version, an introduction before a closing event.
    evs.sort(key=functools.cmp_to_key(lambda x, y: (
        -1 if x[1] == "0" and x[0] == "introduced" and not (y[1] == "0" and y[0] == "introduced") else
        1 if y[1] == "0" and y[0] == "introduced" and not (x[1] == "0" and x[0] == "introduced") else
        cmp(x[1], y[1]) or ((x[0] != "introduced") - (y[0] != "introduced")))))
    affected = False
    for kind, ver in evs:
        c = -1 if (kind == "introduced" and ver == "0") else cmp(ver, v)
        if kind == "introduced" and c <= 0:
            affected = True
        elif kind in ("fixed", "limit") and c <= 0:
            affected = False
        elif kind == "last_affected" and c < 0:
            affected = False
        elif c > 0:
            break
    return affected


def osv_verdict(ecosystem, v, entry):
    cmp = SCHEMES[ecosystem]
    if ecosystem in ("Rocky Linux", "AlmaLinux"):
        versions = [x for r in entry.get("ranges", []) for e in r["events"] for x in e.values()]
        versions += entry.get("versions", [])
        if any(is_module(x) for x in versions) != is_module(v):
            return None
    hit = False
    fixes = set()
    for r in entry.get("ranges", []):
        if r["type"] not in ("ECOSYSTEM", "SEMVER"):
            continue
        rcmp = semver_cmp if (r["type"] == "SEMVER" and ecosystem != "Go") else cmp
        if in_range(rcmp, v, r["events"]):
            hit = True
            for e in r["events"]:
                if "fixed" in e and rcmp(e["fixed"], v) > 0:
                    fixes.add(e["fixed"])
    if not hit and v in entry.get("versions", []):
        hit = True
    if not hit:
        return None
    if fixes:
        return {"state": "fixed", "versions": sorted(
            fixes, key=functools.cmp_to_key(lambda a, b: cmp(a, b) or (a > b) - (a < b)))}
    return {"state": "not-fixed"}


QUALITATIVE = {"critical": "CRITICAL", "high": "HIGH", "important": "HIGH", "medium": "MEDIUM",
               "moderate": "MEDIUM", "low": "LOW", "negligible": "NEGLIGIBLE",
               "unimportant": "NEGLIGIBLE"}
RANK = ["UNKNOWN", "NEGLIGIBLE", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
SOURCES = ["vendor", "nvd", "cna", "cisa-adp", "ghsa", "osv"]
CISA_ADP = "134c704f-9b21-4f2e-91b3-4a467353bcc0"


def qualitative(text):
    if not isinstance(text, str):
        return None
    return QUALITATIVE.get(text.strip().rstrip("*").lower())


def band(score):
    if score >= 9.0:
        return "CRITICAL"
    if score >= 7.0:
        return "HIGH"
    if score >= 4.0:
        return "MEDIUM"
    if score > 0.0:
        return "LOW"
    return "NEGLIGIBLE"


def vector_score(vector):
    """(version, base score) of a vector, computed by the cvss package; None if invalid."""
    v = vector.strip()
    try:
        if v.startswith("CVSS:4"):
            return "4.0", float(cvss.CVSS4(v).base_score)
        if v.startswith("CVSS:3"):
            c = cvss.CVSS3(v)
            return v[5:8], float(c.scores()[0])
        v = v.removeprefix("CVSS:2.0/").strip("()")
        return "2.0", float(cvss.CVSS2(v).scores()[0])
    except Exception:
        return None


def rating(source, version, score, qual):
    """A rating as (source, version or None, score or None, severity)."""
    if score is not None:
        return (source, version, score, band(score))
    q = qualitative(qual)
    return (source, None, None, q) if q else None


def load_ratings(spec, osv_records):
    """id -> [rating]."""
    out = {}
    for path in spec.get("nvd", []):
        doc = json.load(open(path))
        for item in doc["vulnerabilities"]:
            cve = item["cve"]
            if cve.get("vulnStatus") == "Rejected":
                continue
            for kind, metrics in cve.get("metrics", {}).items():
                if not kind.startswith("cvssMetricV"):
                    continue
                for m in metrics:
                    src = "nvd" if m["type"] == "Primary" else \
                        "cisa-adp" if m["source"] == CISA_ADP else "cna"
                    data = m["cvssData"]
                    r = rating(src, data["version"], float(data["baseScore"]), None)
                    out.setdefault(cve["id"], []).append(r)
    for path in spec.get("cve5", []):
        rec = json.load(open(path))
        if rec["cveMetadata"].get("state") == "REJECTED":
            continue
        cid = rec["cveMetadata"]["cveId"]
        containers = [("cna", rec["containers"].get("cna", {}))]
        containers += [("cisa-adp", a) for a in rec["containers"].get("adp", [])
                       if a.get("providerMetadata", {}).get("shortName") == "CISA-ADP"]
        for src, c in containers:
            for m in c.get("metrics", []):
                for key in ("cvssV4_0", "cvssV3_1", "cvssV3_0", "cvssV2_0"):
                    if key in m:
                        d = m[key]
                        score = d.get("baseScore")
                        if score is None:
                            parsed = vector_score(d["vectorString"])
                            score = parsed and parsed[1]
                        r = rating(src, d["version"], score, d.get("baseSeverity"))
                        if r:
                            out.setdefault(cid, []).append(r)
                content = (m.get("other") or {}).get("content")
                if isinstance(content, dict):
                    for k in ("value", "text", "other"):
                        if isinstance(content.get(k), str):
                            r = rating(src, None, None, content[k])
                            if r:
                                out.setdefault(cid, []).append(r)
                            break
    for rec in osv_records:
        src = "ghsa" if rec["id"].startswith("GHSA-") else "osv"
        found = []
        for sev in rec.get("severity", []):
            if sev["type"] in ("CVSS_V2", "CVSS_V3", "CVSS_V4"):
                parsed = vector_score(sev["score"])
                if parsed:
                    found.append(rating(src, parsed[0], parsed[1], None))
        r = rating(src, None, None, (rec.get("database_specific") or {}).get("severity"))
        if r:
            found.append(r)
        for i in {rec["id"], *rec.get("aliases", [])}:
            out.setdefault(i, []).extend(found)
    return out


def choose(vendor, ids, ratings):
    """(severity, source label) by the rule."""
    if vendor:
        return max(vendor, key=RANK.index), "debian"
    candidates = [r for i in ids for r in ratings.get(i, [])]
    for src in SOURCES[1:]:
        mine = [r for r in candidates if r[0] == src]
        scored = [r for r in mine if r[2] is not None]
        if scored:
            def key(r):
                major, minor = (int(x) for x in r[1].split("."))
                return (major, minor, r[2])
            best = max(scored, key=key)
            return best[3], f"{src} {best[1]}"
        if mine:
            return max((r[3] for r in mine), key=RANK.index), src
    return "UNKNOWN", None


def read_osv(paths):
    for path in paths:
        with open(path) as f:
            if path.endswith(".jsonl"):
                for line in f:
                    if line.strip():
                        yield json.loads(line)
            else:
                yield json.load(f)


def main():
    spec = json.load(open(sys.argv[1]))
    packages = spec["packages"]
    by_key = {}
    for p in packages:
        key = (p["ecosystem"], p["release"], normal_name(p["ecosystem"], p["name"]))
        by_key.setdefault(key, []).append(p)

    # Packages whose installed version does not parse cannot be matched at all.
    unparsable = []
    for key in list(by_key):
        keep = []
        for p in by_key[key]:
            try:
                SCHEMES[p["ecosystem"]](p["version"], p["version"])
                keep.append(p)
            except Unparsable:
                unparsable.append(p["id"])
        by_key[key] = keep

    # (package id) -> {record id: (ids, fix)}
    hits = {}
    skipped = []
    # (package id, record id) -> the distro's ratings
    vendor = {}

    def record_hit(p, rec_id, ids, fix):
        slot = hits.setdefault(p["id"], {})
        if rec_id in slot:
            old = slot[rec_id][1]
            if old["state"] == "fixed" and fix["state"] == "fixed":
                fix = {"state": "fixed", "versions": sorted(set(old["versions"]) | set(fix["versions"]))}
            elif old["state"] == "fixed":
                fix = old
        slot[rec_id] = (ids, fix)

    for path in spec.get("debian_tracker", []):
        tracker = json.load(open(path))
        for source, cves in tracker.items():
            for cve, info in cves.items():
                releases = info.get("releases")
                if not isinstance(releases, dict):
                    continue
                for release_no, codename in CODENAMES.items():
                    r = releases.get(codename)
                    if r is None:
                        continue
                    for p in by_key.get(("Debian", release_no, source), []):
                        status = r.get("status")
                        if status == "resolved":
                            fixed = r.get("fixed_version")
                            if fixed is None or fixed == "0":
                                continue
                            try:
                                if dpkg_cmp(p["version"], fixed) >= 0:
                                    continue
                            except Unparsable:
                                skipped.append({"package": p["id"], "record": cve})
                                continue
                            fix = {"state": "fixed", "versions": [fixed]}
                        elif status in ("open", "undetermined"):
                            fix = {"state": "will-not-fix"} if r.get("nodsa_reason") == "ignored" \
                                else {"state": "not-fixed"}
                        else:
                            continue
                        record_hit(p, cve, {cve}, fix)
                        q = qualitative(r.get("urgency"))
                        if q:
                            vendor.setdefault((p["id"], cve), []).append(q)

    records = list(read_osv(spec.get("osv", [])))
    maven_versions = [p["version"] for (eco, _, _), ps in by_key.items() if eco == "Maven" for p in ps]
    for rec in records:
        for entry in rec.get("affected", []):
            if entry.get("package", {}).get("ecosystem") == "Maven":
                maven_versions += entry.get("versions", [])
                maven_versions += [v for r in entry.get("ranges", []) for e in r["events"]
                                   for v in e.values() if v != "0"]
    maven_prepare(maven_versions)

    for rec in records:
        # A withdrawn record no longer stands.
        if rec.get("withdrawn"):
            continue
        ids = {rec["id"], *rec.get("aliases", [])}
        for entry in rec.get("affected", []):
            pkg = entry.get("package", {})
            eco, release = split_ecosystem(pkg.get("ecosystem", ""))
            if eco not in SCHEMES:
                continue
            for p in by_key.get((eco, release, normal_name(eco, pkg.get("name", ""))), []):
                try:
                    fix = osv_verdict(eco, p["version"], entry)
                except Unparsable:
                    skipped.append({"package": p["id"], "record": rec["id"]})
                    continue
                if fix is not None:
                    record_hit(p, rec["id"], ids, fix)

    ratings = load_ratings(spec, records + list(read_osv(spec.get("ratings_osv", []))))
    findings = []
    for pid, records in sorted(hits.items()):
        # Union records through shared ids.
        groups = []
        for rec_id, (ids, fix) in sorted(records.items()):
            ids = set(ids)
            members = {rec_id: fix}
            keep = []
            for g_ids, g_members in groups:
                if g_ids & ids:
                    ids |= g_ids
                    members.update(g_members)
                else:
                    keep.append((g_ids, g_members))
            groups = keep + [(ids, members)]
        for ids, members in groups:
            cves = sorted(i for i in ids if i.startswith("CVE-"))
            primary = cves[0] if cves else min(members)
            own = [q for rec in members for q in vendor.get((pid, rec), [])]
            severity, source = choose(own, ids, ratings)
            findings.append({
                "package": pid,
                "id": primary,
                "related": sorted(ids - {primary}),
                "records": members,
                "severity": severity,
                "source": source,
            })
    findings.sort(key=lambda f: (f["package"], f["id"]))
    json.dump({"findings": findings,
               "skipped": sorted(skipped, key=lambda s: (s["package"], s["record"])),
               "unparsable": sorted(unparsable)},
              sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
