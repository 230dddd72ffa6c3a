"""Checks Ferret's `.proto` files against the official Yandex Cloud SDK's descriptors
(PyPI `yandexcloud`): every message, enum, field (name, number, type, label, oneof) and
service method Ferret declares must be the SDK's, and every message Ferret declares must
carry all of the SDK's fields. Usage: compare_protos.py PROTO_DIR. Prints one line per
message or service; exits non-zero on the first difference.
"""

import importlib
import os
import subprocess
import sys
import tempfile

import grpc_tools
from google.protobuf import descriptor_pb2

proto_dir = sys.argv[1]
files = []
for root, _, names in os.walk(proto_dir):
    files += [os.path.relpath(os.path.join(root, n), proto_dir) for n in names if n.endswith(".proto")]
with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "ours.pb")
    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{proto_dir}", f"-I{include}",
         f"--descriptor_set_out={out}", *sorted(files)],
        check=True)
    ours = descriptor_pb2.FileDescriptorSet()
    with open(out, "rb") as f:
        ours.ParseFromString(f.read())

MODULES = {
    "yandex/cloud/containerregistry/v1/scanner.proto": "yandex.cloud.containerregistry.v1.scanner_pb2",
    "yandex/cloud/containerregistry/v1/scanner_service.proto": "yandex.cloud.containerregistry.v1.scanner_service_pb2",
    "yandex/cloud/containerregistry/v1/image.proto": "yandex.cloud.containerregistry.v1.image_pb2",
    "yandex/cloud/containerregistry/v1/image_service.proto": "yandex.cloud.containerregistry.v1.image_service_pb2",
    "yandex/cloud/containerregistry/v1/blob.proto": "yandex.cloud.containerregistry.v1.blob_pb2",
    "yandex/cloud/operation/operation.proto": "yandex.cloud.operation.operation_pb2",
    "yandex/cloud/operation/operation_service.proto": "yandex.cloud.operation.operation_service_pb2",
    "google/rpc/status.proto": "google.rpc.status_pb2",
}


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def field_key(f, msg):
    oneof = msg.oneof_decl[f.oneof_index].name if f.HasField("oneof_index") else None
    return (f.name, f.number, f.type, f.label, f.type_name, oneof)


def compare_message(path, mine, theirs):
    theirs_fields = {f.name: field_key(f, theirs) for f in theirs.field}
    mine_fields = {f.name: field_key(f, mine) for f in mine.field}
    if mine_fields != theirs_fields:
        fail(f"{path}: fields differ\n  ours:   {sorted(mine_fields.values())}\n  theirs: {sorted(theirs_fields.values())}")
    for e in mine.enum_type:
        t = next((x for x in theirs.enum_type if x.name == e.name), None)
        if t is None or [(v.name, v.number) for v in e.value] != [(v.name, v.number) for v in t.value]:
            fail(f"{path}.{e.name}: enum differs")
    for n in mine.nested_type:
        t = next((x for x in theirs.nested_type if x.name == n.name), None)
        if t is None:
            fail(f"{path}.{n.name}: not in the SDK")
        compare_message(f"{path}.{n.name}", n, t)


checked = 0
for fd in ours.file:
    if fd.name.startswith("google/protobuf/"):
        continue
    module = MODULES.get(fd.name) or fail(f"{fd.name}: no SDK module to compare with")
    sdk = descriptor_pb2.FileDescriptorProto()
    importlib.import_module(module).DESCRIPTOR.CopyToProto(sdk)
    if fd.package != sdk.package:
        fail(f"{fd.name}: package {fd.package} is not the SDK's {sdk.package}")
    for msg in fd.message_type:
        theirs = next((m for m in sdk.message_type if m.name == msg.name), None) or fail(f"{fd.package}.{msg.name}: not in the SDK")
        compare_message(f"{fd.package}.{msg.name}", msg, theirs)
        print(f"ok: message {fd.package}.{msg.name}")
        checked += 1
    for svc in fd.service:
        theirs = next((s for s in sdk.service if s.name == svc.name), None) or fail(f"service {svc.name}: not in the SDK")
        for m in svc.method:
            t = next((x for x in theirs.method if x.name == m.name), None) or fail(f"{svc.name}.{m.name}: not in the SDK")
            if (m.input_type, m.output_type, m.client_streaming, m.server_streaming) != (
                    t.input_type, t.output_type, t.client_streaming, t.server_streaming):
                fail(f"{svc.name}.{m.name}: signature differs")
        print(f"ok: service {fd.package}.{svc.name} ({', '.join(m.name for m in svc.method)})")
        checked += 1
print(f"all {checked} definitions match the SDK")
