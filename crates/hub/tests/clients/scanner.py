"""A scanner written against the lexicon alone, with the `websockets` library: it drives
io.atcr.hold.subscribeScanJobs through one scenario and prints, one JSON object per line,
every frame it sends and receives and how the connection closed, for the Rust test to judge.

    python scanner.py WS_URL SECRET SCENARIO

Scenarios:
  future-cursor  connect with the cursor in WS_URL; wait for frames and the close
  protocol       take a job, then send: text that is not JSON, a binary frame, a result
                 for a digest not held, a result whose report disagrees with its summary,
                 and (for the job offered again) a result with neither sbom nor vulnReport
  oversized      take a job, then send a result frame of OVERSIZED_MIB MiB
  idle           say "connected" and wait for the close (the hub is stopped meanwhile)
"""

import asyncio
import base64
import json
import os
import sys

import websockets

RESULT_TYPE = "io.atcr.hold.subscribeScanJobs#scanResult"


def emit(**event):
    print(json.dumps(event), flush=True)


def b64(data: bytes) -> dict:
    return {"$bytes": base64.b64encode(data).decode().rstrip("=")}


def result(digest, summary, sbom=None, report=None):
    frame = {"$type": RESULT_TYPE, "type": "scan_result", "digest": digest, "summary": summary}
    if sbom is not None:
        frame["sbom"] = b64(sbom)
    if report is not None:
        frame["vulnReport"] = b64(report)
    frame["scannerVersion"] = "lexicon-scanner-1"
    return frame


async def recv(ws, timeout=15):
    """The next frame, recorded; None once the connection is closed."""
    try:
        msg = await asyncio.wait_for(ws.recv(), timeout)
    except websockets.ConnectionClosed as e:
        emit(closed=e.rcvd.code if e.rcvd else None, reason=e.rcvd.reason if e.rcvd else None)
        return None
    if isinstance(msg, bytes):
        emit(received_binary=len(msg))
        return msg
    emit(received=msg)
    return json.loads(msg)


async def send(ws, frame):
    text = frame if isinstance(frame, str) else json.dumps(frame)
    emit(sent=text)
    await ws.send(text)


async def until_closed(ws):
    while await recv(ws, timeout=60) is not None:
        pass


async def protocol(ws):
    job = await recv(ws)
    digest = job["digest"]
    # Not JSON; binary; a digest not held.
    await send(ws, "not json{")
    await recv(ws)
    emit(sent_binary=3)
    await ws.send(b"\x00\x01\x02")
    await recv(ws)
    other = "sha256:" + "f" * 64
    await send(ws, result(other, {"critical": 0, "high": 0, "medium": 0, "low": 0, "total": 0}))
    await recv(ws)
    # A report with one High finding under a summary that says none.
    report = {"matches": [{
        "vulnerability": {"id": "CVE-2024-0001", "severity": "High", "dataSource": "https://example.org/CVE-2024-0001"},
        "artifact": {"name": "openssl", "version": "3.0.11", "type": "deb", "purl": "pkg:deb/debian/openssl@3.0.11"},
    }]}
    sbom = json.dumps({"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT"}).encode()
    summary = {"critical": 0, "high": 0, "medium": 0, "low": 0, "total": 0}
    await send(ws, result(digest, summary, sbom, json.dumps(report).encode()))
    await recv(ws)  # the error frame
    again = await recv(ws)  # the job, offered again
    # The lexicon's sbom and vulnReport are optional: counts from the summary alone.
    summary = {"critical": 1, "high": 2, "medium": 0, "low": 0, "total": 4}
    await send(ws, result(again["digest"], summary))
    # Nothing comes back for a good result; a last frame shows the connection still reads.
    try:
        msg = await asyncio.wait_for(ws.recv(), 1.5)
        emit(received=msg if isinstance(msg, str) else "<binary>")
    except asyncio.TimeoutError:
        emit(quiet=True)
    await ws.close()


async def oversized(ws):
    job = await recv(ws)
    mib = int(os.environ.get("OVERSIZED_MIB", "16"))
    blob = b"{" + b" " * (mib << 20) + b"}"
    frame = result(job["digest"], {"critical": 0, "high": 0, "medium": 0, "low": 0, "total": 0},
                   report=blob)
    text = json.dumps(frame)
    emit(sent_bytes=len(text))
    sender = asyncio.ensure_future(ws.send(text))
    await until_closed(ws)
    sender.cancel()


async def main():
    url, secret, scenario = sys.argv[1:4]
    headers = {"X-Scanner-Secret": secret}
    async with websockets.connect(url, additional_headers=headers, max_size=None,
                                  ping_interval=None, close_timeout=5) as ws:
        emit(connected=True)
        if scenario == "future-cursor" or scenario == "idle":
            await until_closed(ws)
        elif scenario == "protocol":
            await protocol(ws)
        elif scenario == "oversized":
            await oversized(ws)
        else:
            raise SystemExit(f"unknown scenario {scenario}")


asyncio.run(main())
