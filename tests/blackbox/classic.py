"""Helpers for the classic-client black-box tests (test_classic_*.py): running the real
Zipkin / Jaeger clients that cannot share the main venv, Jaeger listener ports, and the
Zipkin v1 -> v2 expectations.

The clients run as subprocesses:
- Python ones under .venv-classic ($WEFT_CLASSIC_PYTHON), made by tests/run.sh from
  tests/requirements-classic.txt (jaeger-client, the OpenTelemetry Jaeger exporter and
  py_zipkin's Thrift encoder need old dependencies that conflict with the main venv);
- zipkin-js under node, from tests/node (installed by `npm ci` in tests/run.sh).
Each driver prints one JSON object: what it sent, as the client itself recorded it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

from helpers import REPO_ROOT, WeftServer, metric_sum, serve_help, wait_until

DRIVERS_DIR = Path(__file__).resolve().parent / "classic_drivers"
NODE_DIR = REPO_ROOT / "tests" / "node"
# Seconds a client driver may run (client start-up, export, flush).
DRIVER_TIMEOUT_SECONDS = 90.0

COMPACT = "--jaeger.compact.listen"
BINARY = "--jaeger.binary.listen"
JAEGER_HTTP = "--jaeger.http.listen"
JAEGER_GRPC = "--jaeger.grpc.listen"

RECEIVED = "weft_receiver_spans_received_total"
REJECTED = "weft_receiver_requests_rejected_total"


def classic_python() -> Path:
    """The interpreter of .venv-classic: $WEFT_CLASSIC_PYTHON, else <repo>/.venv-classic."""
    configured = os.environ.get("WEFT_CLASSIC_PYTHON")
    if configured:
        return Path(configured)
    return REPO_ROOT / ".venv-classic" / "bin" / "python"


def _run(command: list[str], what: str) -> dict:
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=DRIVER_TIMEOUT_SECONDS,
        stdin=subprocess.DEVNULL,
        cwd=str(REPO_ROOT),
    )
    lines = [line for line in completed.stdout.splitlines() if line.strip()]
    assert completed.returncode == 0 and lines, (
        f"{what} exited with {completed.returncode}\nstdout:\n{completed.stdout[-3000:]}\n"
        f"stderr:\n{completed.stderr[-5000:]}"
    )
    try:
        return json.loads(lines[-1])
    except ValueError as error:
        raise AssertionError(f"{what} printed no JSON ({error}): {completed.stdout[-2000:]}") from error


def run_classic_driver(script: str, *args: str) -> dict:
    """Run classic_drivers/<script> under .venv-classic; returns its JSON report. A missing
    venv is a failure (tests/run.sh creates it), never a skip."""
    python = classic_python()
    assert python.exists(), (
        f"{python} missing: run tests/run.sh (it creates .venv-classic from tests/requirements-classic.txt) "
        "or set WEFT_CLASSIC_PYTHON"
    )
    return _run([str(python), str(DRIVERS_DIR / script), *args], f"{script} {' '.join(args)}")


def run_node_script(script: str, *args: str) -> dict:
    """Run tests/node/<script> with node; returns its JSON report."""
    node = shutil.which("node")
    assert node, "node not found on PATH"
    assert (NODE_DIR / "node_modules" / "zipkin-transport-http").is_dir(), (
        f"{NODE_DIR}/node_modules missing: run tests/run.sh (it runs npm ci there)"
    )
    return _run([node, str(NODE_DIR / script), *args], f"node {script}")


def jaeger_port(server: WeftServer, flag: str) -> int:
    """The loopback port `server` listens on for a Jaeger listener flag; fails loudly when
    the binary does not offer the flag."""
    assert flag in serve_help(), f"`weft serve --help` does not offer {flag}: the Jaeger receivers are missing"
    port = server.jaeger_ports.get(flag)
    assert port, f"no port chosen for {flag}: {server.jaeger_ports}"
    return port


def send_udp(port: int, payload: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(payload, ("127.0.0.1", port))


def received(server: WeftServer, protocol: str) -> float:
    return metric_sum(server.metrics_text(), RECEIVED, protocol=protocol)


def wait_received(server: WeftServer, protocol: str, at_least: float, timeout: float = 10.0) -> float:
    """Poll /metrics until weft_receiver_spans_received_total{protocol} >= at_least."""

    def probe():
        value = received(server, protocol)
        return value if value >= at_least else None

    return wait_until(
        probe,
        timeout,
        message=f'{RECEIVED}{{protocol="{protocol}"}} >= {at_least} '
        f"(samples: {[line for line in server.metrics_text().splitlines() if RECEIVED in line]})",
    )


def by_key(spans: list[dict]) -> dict[tuple[str, str], dict]:
    """Zipkin spans keyed by (span id, kind or "") so client and server halves that share
    an id stay apart. Fails on a repeated key."""
    out: dict[tuple[str, str], dict] = {}
    for span in spans:
        key = (span["id"], span.get("kind") or "")
        assert key not in out, f"span {key} returned twice: {json.dumps(spans)[:3000]}"
        out[key] = span
    return out


# ---------------------------------------------------------------------------------------
# Zipkin v1 -> v2, as Zipkin's V1SpanConverter does it for the shapes the clients send


_CORE = {"cs", "cr", "sr", "ss", "ms", "mr", "ws", "wr"}
_ADDRESS_KEYS = {"ca", "sa", "ma"}
_STRING_TYPE = 6


def _endpoint(value: dict | None) -> dict | None:
    if not value:
        return None
    return {key: value[key] for key in ("serviceName", "ipv4", "ipv6", "port") if value.get(key) not in (None, "", 0)}


def v1_to_v2(span: dict) -> list[dict]:
    """One decoded v1 span (as classic_drivers/py_zipkin_trace.py prints it) -> the v2
    spans Zipkin makes of it: cs/cr -> CLIENT, sr/ss -> SERVER (shared when the v1 span
    carries no timestamp), timestamp/duration from the span or else the core annotations,
    sa/ca -> remoteEndpoint, string binary annotations -> tags, other annotations kept.
    Covers one host per v1 span, which is what py_zipkin emits."""
    annotations = {a["value"]: a for a in span["annotations"] if a["value"] in _CORE}
    other = [a for a in span["annotations"] if a["value"] not in _CORE]
    local = None
    for annotation in span["annotations"]:
        local = local or _endpoint(annotation.get("endpoint"))
    for binary in span["binaryAnnotations"]:
        if binary["key"] not in _ADDRESS_KEYS:
            local = local or _endpoint(binary.get("endpoint"))
    out: dict[str, Any] = {"traceId": span["traceId"], "id": span["id"], "name": span["name"]}
    if span.get("parentId"):
        out["parentId"] = span["parentId"]
    timestamp, duration = span.get("timestamp"), span.get("duration")
    if "cs" in annotations or "cr" in annotations:
        out["kind"] = "CLIENT"
        begin, end, remote_key = annotations.get("cs"), annotations.get("cr"), "sa"
    elif "sr" in annotations or "ss" in annotations:
        out["kind"] = "SERVER"
        begin, end, remote_key = annotations.get("sr"), annotations.get("ss"), "ca"
        if not timestamp:
            out["shared"] = True
    else:
        begin = end = remote_key = None
    if not timestamp and begin:
        timestamp = begin["timestamp"]
    if not duration and begin and end:
        duration = end["timestamp"] - begin["timestamp"]
    if timestamp:
        out["timestamp"] = timestamp
    if duration:
        out["duration"] = duration
    if local:
        out["localEndpoint"] = local
    for binary in span["binaryAnnotations"]:
        if binary["key"] == remote_key:
            out["remoteEndpoint"] = _endpoint(binary["endpoint"])
        elif binary["key"] not in _ADDRESS_KEYS and binary["type"] == _STRING_TYPE:
            out.setdefault("tags", {})[binary["key"]] = binary["value"]
    if other:
        out["annotations"] = [{"timestamp": a["timestamp"], "value": a["value"]} for a in other]
    return [out]
