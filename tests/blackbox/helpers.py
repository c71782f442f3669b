"""Shared helpers for the black-box tests: starting the real `weft` binary, talking
Zipkin v2 / OTLP to it, polling instead of sleeping, reading /metrics.

Everything here talks to the server over loopback sockets only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DIR = REPO_ROOT.parent / "shared"
FIXTURES_DIR = SHARED_DIR / "fixtures"
SPECS_DIR = SHARED_DIR / "specs"


def weft_binary() -> Path:
    """Path of the binary under test: $WEFT_BIN, else target/ci/weft (what tests/run.sh
    builds), else target/release/weft in the repo."""
    configured = os.environ.get("WEFT_BIN")
    if configured:
        return Path(configured).resolve()
    ci_build = REPO_ROOT / "target" / "ci" / "weft"
    return ci_build if ci_build.is_file() else REPO_ROOT / "target" / "release" / "weft"


# Seconds a server gets to answer 200 on /ready after it was started (covers WAL replay).
READY_TIMEOUT_SECONDS = float(os.environ.get("WEFT_TEST_READY_TIMEOUT", "30"))
# Seconds a server gets to exit after SIGTERM.
SHUTDOWN_TIMEOUT_SECONDS = 20.0
# Default per-request timeout for HTTP calls to the server.
HTTP_TIMEOUT_SECONDS = 10.0


# Ports come from a range of their own for each pytest-xdist worker and each concurrent
# pass (WEFT_TEST_PORT_BASE, set by tests/run.sh), below Linux's ephemeral range
# (32768-60999), so neither another worker's server nor any client's outgoing connection
# can take a port between the moment it is chosen and the moment weft binds it.
PORTS_PER_WORKER = 1000
_next_port_offset = 0


def _worker_port_range() -> tuple[int, int]:
    base = int(os.environ.get("WEFT_TEST_PORT_BASE", "12000"))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    first = base + index * PORTS_PER_WORKER
    return first, first + PORTS_PER_WORKER


def free_ports(count: int, kind: int = socket.SOCK_STREAM) -> list[int]:
    """`count` distinct free loopback ports (held open together while choosing) from this
    worker's range, taken in turn so a restarted server gets new ones; TCP by default,
    UDP with `kind=socket.SOCK_DGRAM`."""
    global _next_port_offset
    first, end = _worker_port_range()
    sockets = []
    try:
        for _ in range(PORTS_PER_WORKER):
            if len(sockets) == count:
                break
            port = first + _next_port_offset
            _next_port_offset = (_next_port_offset + 1) % PORTS_PER_WORKER
            sock = socket.socket(socket.AF_INET, kind)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                sock.close()
                continue
            sockets.append(sock)
        if len(sockets) < count:
            raise RuntimeError(f"no {count} free ports in {first}-{end - 1}")
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


_SERVE_HELP_CACHE: dict[str, str] = {}


def serve_help() -> str:
    """Output of `weft serve --help` (cached), used to find listener flags to switch off."""
    binary = str(weft_binary())
    if binary not in _SERVE_HELP_CACHE:
        completed = subprocess.run(
            [binary, "serve", "--help"], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
        )
        _SERVE_HELP_CACHE[binary] = completed.stdout + completed.stderr
    return _SERVE_HELP_CACHE[binary]


# Listener flags the tests set themselves; any other `--*.listen` flag the binary offers
# (Loki, ...) is passed "off" so parallel servers never fight over default ports.
MANAGED_LISTEN_FLAGS = ("--http.listen", "--zipkin.listen", "--otlp.grpc.listen", "--otlp.http.listen")

# Jaeger listener flags and their transport: when the binary offers one, every server gets
# a free loopback port of that kind for it (`WeftServer.jaeger_ports`), never the default.
JAEGER_LISTEN_FLAGS = {
    "--jaeger.compact.listen": socket.SOCK_DGRAM,
    "--jaeger.binary.listen": socket.SOCK_DGRAM,
    "--jaeger.http.listen": socket.SOCK_STREAM,
    "--jaeger.grpc.listen": socket.SOCK_STREAM,
    "--jaeger.query.listen": socket.SOCK_STREAM,
    "--jaeger.sampling.listen": socket.SOCK_STREAM,
    # not Jaeger, but chosen the same way: the Loki-compatible logs port
    "--loki.listen": socket.SOCK_STREAM,
}


def extra_listen_flags() -> list[str]:
    """Listener flags advertised by `weft serve --help` other than the four managed ones."""
    found = []
    for flag in re.findall(r"(--[a-z0-9][a-z0-9.\-]*\.listen)\b", serve_help()):
        if flag not in MANAGED_LISTEN_FLAGS and flag not in found:
            found.append(flag)
    return found


def fsync_args(policy: str) -> list[str]:
    """Flags selecting the WAL fsync policy: the contract's `--wal.fsync` when the binary
    offers it, else the `--ingester.wal-fsync-policy` spelling it has."""
    if "--wal.fsync" in serve_help():
        return ["--wal.fsync", policy]
    return ["--ingester.wal-fsync-policy", policy]


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The test process environment minus any WEFT_* variables, plus `extra`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("WEFT_")}
    env.setdefault("RUST_BACKTRACE", "1")
    if extra:
        env.update(extra)
    return env


def s3_storage_args(data_dir: Path) -> list[str]:
    """Flags that put a server's blocks in the S3-compatible test server, when the suite
    runs in S3 mode (WEFT_TEST_S3_ENDPOINT and WEFT_TEST_S3_BUCKET set, credentials in
    the AWS_* variables). Each data dir gets its own prefix, so restarts of one server
    (the durability tests) find their blocks again and servers never share blocks."""
    endpoint = os.environ.get("WEFT_TEST_S3_ENDPOINT")
    bucket = os.environ.get("WEFT_TEST_S3_BUCKET")
    if not endpoint or not bucket:
        return []
    prefix = "t-" + hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:20]
    return [
        "--storage.backend", "s3",
        "--storage.s3.endpoint", endpoint,
        "--storage.s3.bucket", bucket,
        "--storage.s3.prefix", prefix,
        "--storage.s3.allow-http", "true",
    ]


@dataclass
class WeftServer:
    """One `weft serve` process on free loopback ports.

    `start()` may be called again after `stop()`/`kill()`: the same data dir is reused
    (new ports are chosen each time), which is what the durability tests need.
    """

    data_dir: Path | None
    log_dir: Path
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    config_path: Path | None = None
    pass_storage_flag: bool = True
    # value per managed listener flag instead of a free port ("off", or None to omit the flag)
    listen_overrides: dict[str, str | None] = field(default_factory=dict)
    # called after ports are chosen and before the process starts (e.g. to write a config)
    prepare: Callable[["WeftServer"], None] | None = None
    process: subprocess.Popen | None = None
    http_port: int = 0
    zipkin_port: int = 0
    otlp_grpc_port: int = 0
    otlp_http_port: int = 0
    # flag -> port for each Jaeger listener the binary offers (see JAEGER_LISTEN_FLAGS)
    jaeger_ports: dict[str, int] = field(default_factory=dict)
    starts: int = 0
    last_ready_seconds: float = 0.0
    log_paths: list[Path] = field(default_factory=list)

    # -- urls -------------------------------------------------------------------------
    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def zipkin_url(self) -> str:
        return f"http://127.0.0.1:{self.zipkin_port}"

    @property
    def zipkin_api(self) -> str:
        return f"{self.zipkin_url}/api/v2"

    @property
    def otlp_http_url(self) -> str:
        return f"http://127.0.0.1:{self.otlp_http_port}"

    @property
    def loki_url(self) -> str:
        return f"http://127.0.0.1:{self.jaeger_ports['--loki.listen']}"

    @property
    def otlp_grpc_endpoint(self) -> str:
        return f"127.0.0.1:{self.otlp_grpc_port}"

    # -- lifecycle --------------------------------------------------------------------
    def command(self) -> list[str]:
        ports = {
            "--http.listen": self.http_port,
            "--zipkin.listen": self.zipkin_port,
            "--otlp.grpc.listen": self.otlp_grpc_port,
            "--otlp.http.listen": self.otlp_http_port,
        }
        args = [str(weft_binary()), "serve"]
        for flag, port in ports.items():
            value = self.listen_overrides.get(flag, f"127.0.0.1:{port}")
            if value is not None:
                args += [flag, value]
        for flag in extra_listen_flags():
            if flag in self.extra_args:
                continue
            if flag in self.listen_overrides:
                if self.listen_overrides[flag] is not None:
                    args += [flag, self.listen_overrides[flag]]
            elif flag in self.jaeger_ports:
                args += [flag, f"127.0.0.1:{self.jaeger_ports[flag]}"]
            else:
                args += [flag, "off"]
        if self.pass_storage_flag and self.data_dir is not None:
            args += ["--storage.path", str(self.data_dir)]
            args += s3_storage_args(self.data_dir)
        if self.config_path is not None:
            args += ["--config", str(self.config_path)]
        return args + list(self.extra_args)

    def start(self, wait_ready: bool = True) -> "WeftServer":
        assert not self.running, "server already running"
        offered = [flag for flag in JAEGER_LISTEN_FLAGS if flag in extra_listen_flags()]
        udp_flags = [flag for flag in offered if JAEGER_LISTEN_FLAGS[flag] == socket.SOCK_DGRAM]
        tcp_flags = [flag for flag in offered if JAEGER_LISTEN_FLAGS[flag] == socket.SOCK_STREAM]
        tcp_ports = free_ports(4 + len(tcp_flags))
        self.http_port, self.zipkin_port, self.otlp_grpc_port, self.otlp_http_port = tcp_ports[:4]
        self.jaeger_ports = dict(zip(tcp_flags, tcp_ports[4:]))
        self.jaeger_ports.update(zip(udp_flags, free_ports(len(udp_flags), socket.SOCK_DGRAM)))
        self.starts += 1
        if self.prepare is not None:
            self.prepare(self)
        log_path = self.log_dir / f"weft-{self.starts}.log"
        self.log_paths.append(log_path)
        log_file = open(log_path, "wb")
        started = time.monotonic()
        self.process = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=clean_env(self.env),
            cwd=str(self.log_dir),
        )
        log_file.close()
        if wait_ready:
            self.wait_ready()
            self.last_ready_seconds = time.monotonic() - started
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        last_error = "no attempt"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(
                    f"weft exited with code {self.process.returncode} before becoming ready\n{self.log_tail()}"
                )
            try:
                response = requests.get(f"{self.http_url}/ready", timeout=1)
                if response.status_code == 200:
                    return
                last_error = f"/ready answered {response.status_code}: {response.text[:200]}"
            except requests.RequestException as error:
                last_error = repr(error)
            time.sleep(0.05)
        raise AssertionError(f"weft not ready after {timeout}s ({last_error})\n{self.log_tail()}")

    def stop(self, timeout: float = SHUTDOWN_TIMEOUT_SECONDS) -> int:
        """SIGTERM and wait; SIGKILL and fail if it does not exit in time. Returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
                raise AssertionError(f"weft did not exit within {timeout}s of SIGTERM\n{self.log_tail()}")
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL (simulated crash) and reap."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def restart(self) -> "WeftServer":
        code = self.stop()
        assert code == 0, f"weft exited with {code} on SIGTERM\n{self.log_tail()}"
        return self.start()

    def log_text(self) -> str:
        parts = []
        for path in self.log_paths:
            try:
                parts.append(f"--- {path.name} ---\n" + path.read_text(errors="replace"))
            except OSError:
                pass
        return "\n".join(parts)

    def log_tail(self, max_chars: int = 6000) -> str:
        text = self.log_text()
        return text[-max_chars:]

    # -- convenience ------------------------------------------------------------------
    def post_zipkin(self, spans: Any, **kwargs) -> requests.Response:
        body = spans if isinstance(spans, (bytes, str)) else json.dumps(spans)
        headers = kwargs.pop("headers", {"Content-Type": "application/json"})
        return requests.post(
            f"{self.zipkin_api}/spans", data=body, headers=headers, timeout=HTTP_TIMEOUT_SECONDS, **kwargs
        )

    def zget(self, path: str, params: dict | None = None) -> requests.Response:
        """GET a Zipkin API path, e.g. `zget("/services")`."""
        return requests.get(f"{self.zipkin_api}{path}", params=params, timeout=HTTP_TIMEOUT_SECONDS)

    def zjson(self, path: str, params: dict | None = None) -> Any:
        response = self.zget(path, params)
        assert response.status_code == 200, (
            f"GET {path} {params} -> {response.status_code}: {response.text[:500]}"
        )
        return response.json()

    def metrics_text(self) -> str:
        response = requests.get(f"{self.http_url}/metrics", timeout=HTTP_TIMEOUT_SECONDS)
        assert response.status_code == 200, f"/metrics -> {response.status_code}"
        return response.text


# ---------------------------------------------------------------------------------------
# polling


def wait_until(
    probe: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05, message: str = ""
) -> Any:
    """Call `probe` until it returns a truthy value; return it. Fails after `timeout` s
    with `message` and the last value/exception."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = probe()
            if last:
                return last
        except (requests.RequestException, AssertionError, KeyError, ValueError) as error:
            last = error
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s: {message}; last: {last!r}"[:3000])
        time.sleep(interval)


def wait_for_trace(server: WeftServer, trace_id: str, span_count: int, timeout: float = 10.0) -> list[dict]:
    """Poll `/api/v2/trace/{id}` until it holds at least `span_count` spans."""

    def probe():
        response = server.zget(f"/trace/{trace_id}")
        if response.status_code == 200:
            spans = response.json()
            if len(spans) >= span_count:
                return spans
            return None
        if response.status_code == 404:
            return None
        raise AssertionError(f"/trace/{trace_id} -> {response.status_code}: {response.text[:300]}")

    return wait_until(probe, timeout, message=f"trace {trace_id} with {span_count} spans")


# ---------------------------------------------------------------------------------------
# Zipkin spans


def new_trace_id(bits: int = 128) -> str:
    """Random lower-hex trace id (16 or 32 chars) with a non-zero first nibble."""
    while True:
        value = secrets.token_hex(bits // 8)
        if value[0] != "0":
            return value


def new_span_id() -> str:
    while True:
        value = secrets.token_hex(8)
        if value[0] != "0":
            return value


def now_micros() -> int:
    return time.time_ns() // 1000


def now_millis() -> int:
    return time.time_ns() // 1_000_000


def zspan(
    trace_id: str,
    span_id: str | None = None,
    *,
    name: str | None = "op",
    service: str | None = "frontend",
    timestamp: int | None = None,
    duration: int | None = None,
    parent_id: str | None = None,
    kind: str | None = None,
    tags: dict[str, str] | None = None,
    annotations: list[tuple[int, str]] | None = None,
    remote_service: str | None = None,
    shared: bool | None = None,
    debug: bool | None = None,
) -> dict:
    """A Zipkin v2 span as JSON-ready dict; None fields are omitted."""
    span: dict[str, Any] = {"traceId": trace_id, "id": span_id or new_span_id()}
    if parent_id:
        span["parentId"] = parent_id
    if name is not None:
        span["name"] = name
    if kind:
        span["kind"] = kind
    if timestamp is not None:
        span["timestamp"] = timestamp
    if duration is not None:
        span["duration"] = duration
    if service is not None:
        span["localEndpoint"] = {"serviceName": service}
    if remote_service is not None:
        span["remoteEndpoint"] = {"serviceName": remote_service}
    if tags:
        span["tags"] = tags
    if annotations:
        span["annotations"] = [{"timestamp": ts, "value": value} for ts, value in annotations]
    if shared is not None:
        span["shared"] = shared
    if debug is not None:
        span["debug"] = debug
    return span


def normalize_zipkin_span(span: dict) -> str:
    """Canonical JSON of a Zipkin span for multiset comparison: ids lower-case, id padding
    as Zipkin normalizes, names and service names lower-case, annotations sorted,
    empty collections and false flags dropped."""

    def endpoint(value: dict | None) -> dict | None:
        if not value:
            return None
        out = {}
        for key in ("serviceName", "ipv4", "ipv6", "port"):
            if value.get(key) not in (None, "", 0):
                out[key] = value[key].lower() if key == "serviceName" else value[key]
        return out or None

    trace_id = span["traceId"].lower()
    trace_id = trace_id.rjust(16, "0") if len(trace_id) <= 16 else trace_id.rjust(32, "0")
    if len(trace_id) == 32 and trace_id[:16] == "0" * 16:
        trace_id = trace_id[16:]
    out = {
        "traceId": trace_id,
        "id": span["id"].lower().rjust(16, "0"),
        "parentId": span["parentId"].lower().rjust(16, "0") if span.get("parentId") else None,
        "name": (span.get("name") or "").lower() or None,
        "kind": span.get("kind"),
        "timestamp": span.get("timestamp"),
        "duration": span.get("duration"),
        "localEndpoint": endpoint(span.get("localEndpoint")),
        "remoteEndpoint": endpoint(span.get("remoteEndpoint")),
        "tags": span.get("tags") or None,
        "annotations": sorted(
            ((a["timestamp"], a["value"]) for a in span.get("annotations") or []),
        )
        or None,
        "shared": bool(span.get("shared")),
        "debug": bool(span.get("debug")),
    }
    return json.dumps({k: v for k, v in out.items() if v not in (None, False)}, sort_keys=True)


def trace_ids_of(traces: list[list[dict]]) -> list[str]:
    """The trace id of each trace in a `/api/v2/traces` answer (first span's id)."""
    return [trace[0]["traceId"] for trace in traces if trace]


# ---------------------------------------------------------------------------------------
# OTLP


def otlp_request(trace_id: bytes, span_id: bytes, service: str = "blackbox") -> ExportTraceServiceRequest:
    """A one-span OTLP export request; the span started a second ago and lasted 1 ms."""
    start_unix_nanos = time.time_ns() - 1_000_000_000
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value=service))]),
                scope_spans=[
                    ScopeSpans(
                        spans=[
                            Span(
                                trace_id=trace_id,
                                span_id=span_id,
                                name="op",
                                start_time_unix_nano=start_unix_nanos,
                                end_time_unix_nano=start_unix_nanos + 1_000_000,
                            )
                        ]
                    )
                ],
            )
        ]
    )


# ---------------------------------------------------------------------------------------
# metrics

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Prometheus text exposition -> [(name, labels, value)]."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if not match:
            continue
        name, labels_text, value = match.groups()
        labels = dict(_LABEL.findall(labels_text or ""))
        try:
            samples.append((name, labels, float(value)))
        except ValueError:
            continue
    return samples


def metric_sum(text: str, name: str, **label_filter: str) -> float:
    """Sum of all samples of `name` whose labels include `label_filter`."""
    total = 0.0
    for sample_name, labels, value in parse_metrics(text):
        if sample_name != name:
            continue
        if all(labels.get(key) == wanted for key, wanted in label_filter.items()):
            total += value
    return total


def native_trace(base_url: str, trace_id: str, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    """GET Tempo's /api/v2/traces/{id} and return (status, trace) with the trace as
    OTLP/JSON {"resourceSpans": [...]}: Tempo's base64 ids turned into lowercase hex.
    An unknown trace (Tempo answers 200 with an empty trace) comes back as 404."""
    import base64

    response = requests.get(f"{base_url}/api/v2/traces/{trace_id}", headers=headers or {}, timeout=10)
    if response.status_code != 200:
        return response.status_code, {}
    trace = response.json().get("trace") or {}
    if not trace.get("resourceSpans"):
        return 404, {}

    def hexify(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: base64.b64decode(value).hex()
                if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str)
                else hexify(value)
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [hexify(item) for item in node]
        return node

    return 200, hexify(trace)
