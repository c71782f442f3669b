"""Jaeger remote sampling against the real binary, with real clients: weft serves the
strategies of a Jaeger strategies file (`--sampling.strategies-file`) on
`--jaeger.sampling.listen` (`GET /sampling?service=`) and as
`jaeger.api_v2.SamplingManager/GetSamplingStrategy` on `--jaeger.grpc.listen`, and SDKs
sample at the rates it serves:

- jaeger-client (Python, .venv-classic, classic_drivers/jaeger_client_remote_sampling.py)
  with its remote-controlled sampler: a service-wide probability, per-operation
  probabilities and a rate limit. What it sampled is reported as compact Thrift over UDP,
  counted by weft and read back with the sampler tags the client set.
- OpenTelemetry JS's `jaeger_remote` sampler (tests/node/otel_jaeger_remote_sampling.js),
  exporting OTLP/HTTP: a service-wide probability and per-operation probabilities.
- gRPC (grpcio, raw bytes both ways): the same answers as the HTTP endpoint, bad request
  bytes INVALID_ARGUMENT, and CollectorService still served on the same port.
- Reload: a rewritten strategies file is served within the poll period (10 s); an invalid
  one keeps the previous strategies.
- Adaptive: a simulated service samples its operations at the probabilities weft serves
  and reports its sampled root spans with `sampler.type`/`sampler.param`; the served
  probabilities move to target / rate.

Sampled counts are checked against the served probability within five standard deviations
of the binomial (plus one): a wrong rate fails, a right one practically never does.

A missing client (the classic venv, node, the npm packages) skips its test outside CI and
fails in CI (`CI` set, or the full tests/run.sh run, which sets WEFT_TEST_UI_REQUIRED=1
and installs every client).
"""

from __future__ import annotations

import json
import math
import os
import random
import secrets
import shutil
import struct
import time
from pathlib import Path

import grpc
import pytest
import requests

from classic import COMPACT, JAEGER_GRPC, NODE_DIR, classic_python, jaeger_port, run_classic_driver, run_node_script
from helpers import WeftServer, metric_sum, native_trace, wait_for_trace, wait_until

SAMPLING = "--jaeger.sampling.listen"
GET_SAMPLING_STRATEGY = "/jaeger.api_v2.SamplingManager/GetSamplingStrategy"
POST_SPANS = "/jaeger.api_v2.CollectorService/PostSpans"
RECEIVED = "weft_receiver_spans_received_total"
# How long a rewritten strategies file may take to be served: weft polls it every 10 s.
RELOAD_TIMEOUT_SECONDS = 13.0

STRATEGIES = {
    "default_strategy": {"type": "probabilistic", "param": 0.001},
    "service_strategies": [
        {"service": "checkout", "type": "probabilistic", "param": 0.25},
        {
            "service": "storefront",
            "type": "probabilistic",
            "param": 0.25,
            "operation_strategies": [
                {"operation": "GET /hot", "type": "probabilistic", "param": 0.05},
                {"operation": "GET /cold", "type": "probabilistic", "param": 0.8},
            ],
        },
        {"service": "limited", "type": "ratelimiting", "param": 20},
    ],
}


def clients_required() -> bool:
    """True where every client must be installed (CI, tests/run.sh's full run)."""
    return bool(os.environ.get("CI")) or os.environ.get("WEFT_TEST_UI_REQUIRED") == "1"


def missing_client(reason: str) -> None:
    if clients_required():
        pytest.fail(f"{reason} (tests/run.sh installs it)")
    pytest.skip(reason)


def require_classic_python() -> None:
    if not classic_python().exists():
        missing_client(f"{classic_python()} missing: no jaeger-client (Python)")


def require_node_sampler() -> None:
    if shutil.which("node") is None:
        missing_client("node not found on PATH")
    if not (NODE_DIR / "node_modules" / "@opentelemetry" / "sampler-jaeger-remote").is_dir():
        missing_client(f"{NODE_DIR}/node_modules has no @opentelemetry/sampler-jaeger-remote: run npm ci there")


def write_strategies(path: Path, strategies: dict) -> None:
    # Through a temporary file, so weft never reads a half-written file.
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(strategies))
    temporary.replace(path)


def start_with_strategies(weft_factory, tmp_path: Path, strategies: dict = STRATEGIES, args=()) -> tuple[WeftServer, Path]:
    path = tmp_path / "strategies.json"
    write_strategies(path, strategies)
    server = weft_factory(args=["--sampling.strategies-file", str(path), *args])
    return server, path


def sampling_url(server: WeftServer) -> str:
    return f"http://127.0.0.1:{jaeger_port(server, SAMPLING)}"


def http_strategy(server: WeftServer, service: str) -> dict:
    response = requests.get(f"{sampling_url(server)}/sampling", params={"service": service}, timeout=5)
    assert response.status_code == 200, response.text[:500]
    return response.json()


def within_binomial(sampled: int, created: int, probability: float) -> bool:
    expected = created * probability
    deviation = math.sqrt(created * probability * (1 - probability))
    return abs(sampled - expected) <= 5 * deviation + 1


def assert_sampled_at(counts: dict, probability: float, what: str) -> None:
    created, sampled = counts["created"], counts["sampled"]
    assert created > 0, what
    print(f"{what}: sampled {sampled} of {created} = {sampled / created:.4f}, served {probability}")
    assert within_binomial(sampled, created, probability), (
        f"{what}: sampled {sampled} of {created} ({sampled / created:.4f}), served {probability}"
    )


def received_spans(server: WeftServer) -> float:
    return metric_sum(server.metrics_text(), RECEIVED)


def wait_received_exactly(server: WeftServer, count: int) -> None:
    """Waits until weft counted `count` received spans, then checks no more arrive."""
    wait_until(lambda: received_spans(server) >= count, 15, message=f"{count} spans received")
    time.sleep(0.3)
    assert received_spans(server) == count


# ---------------------------------------------------------------------------------------
# jaeger-client (Python)


def run_jaeger_client(server: WeftServer, service: str, operations: list[str], *, traces: int = 0, seconds: float = 0.0) -> dict:
    args = [
        "--agent-port", str(jaeger_port(server, COMPACT)),
        "--sampling-port", str(jaeger_port(server, SAMPLING)),
        "--service", service,
        "--operations", ",".join(operations),
    ]
    if traces:
        args += ["--traces", str(traces)]
    else:
        args += ["--seconds", str(seconds)]
    report = run_classic_driver("jaeger_client_remote_sampling.py", *args)
    assert report["flushed"], "jaeger-client did not flush within 10 s"
    return report


def check_stored_with_sampler_tags(server: WeftServer, report: dict, sampler_type: str, params: set[str]) -> None:
    """Reads back a few of the sampled traces: stored, with the sampler tags the client set."""
    for trace_id in random.Random(7).sample(report["sampled_trace_ids"], min(15, len(report["sampled_trace_ids"]))):
        (span,) = wait_for_trace(server, trace_id, 1)
        tags = span.get("tags", {})
        assert tags.get("sampler.type") == sampler_type, span
        assert tags.get("sampler.param") in params, span


# service -> {operation: the probability weft serves for it}, as STRATEGIES says
SERVED_PROBABILITIES = {
    "checkout": {"GET /cart": 0.25},
    "storefront": {"GET /hot": 0.05, "GET /cold": 0.8, "GET /other": 0.25},
}


@pytest.mark.parametrize("service", SERVED_PROBABILITIES)
def test_jaeger_client_samples_at_the_served_probabilities(weft_factory, tmp_path, service):
    require_classic_python()
    served = SERVED_PROBABILITIES[service]
    server, _ = start_with_strategies(weft_factory, tmp_path)
    report = run_jaeger_client(server, service, list(served), traces=1000 * len(served))
    # per-operation strategies make jaeger-client switch to its AdaptiveSampler
    wanted_sampler = "AdaptiveSampler(0.25" if len(served) > 1 else "ProbabilisticSampler(0.25)"
    assert report["sampler"].startswith(wanted_sampler), f"the sampler never took weft's strategy: {report['sampler']}"
    for operation, probability in served.items():
        assert_sampled_at(report["operations"][operation], probability, f"jaeger-client, {service} {operation}")
    total = sum(counts["sampled"] for counts in report["operations"].values())
    wait_received_exactly(server, total)
    assert metric_sum(server.metrics_text(), RECEIVED, protocol="jaeger_thrift_compact") == total
    check_stored_with_sampler_tags(server, report, "probabilistic", {str(probability) for probability in served.values()})


def test_jaeger_client_rate_limits_at_the_served_rate(weft_factory, tmp_path):
    require_classic_python()
    server, _ = start_with_strategies(weft_factory, tmp_path)
    report = run_jaeger_client(server, "limited", ["GET /limited"], seconds=2.0)
    assert report["sampler"].startswith("RateLimitingSampler(20"), report["sampler"]
    counts = report["operations"]["GET /limited"]
    elapsed = report["elapsed_seconds"]
    # A token bucket of 20 a second holding at most 20, starting anywhere in 0..20.
    lowest, highest = math.floor(20 * elapsed) - 1, math.ceil(20 * elapsed) + 20 + 1
    assert counts["created"] > 40 * elapsed, f"the driver created too few traces to hit the limit: {counts}"
    print(f"jaeger-client, limited: sampled {counts['sampled']} of {counts['created']} in {elapsed:.3f} s, served 20/s")
    assert lowest <= counts["sampled"] <= highest, f"sampled {counts} in {elapsed:.2f} s, limit 20/s"
    wait_received_exactly(server, counts["sampled"])
    check_stored_with_sampler_tags(server, report, "ratelimiting", {"20", "20.0"})


# ---------------------------------------------------------------------------------------
# OpenTelemetry JS jaeger_remote sampler


@pytest.mark.parametrize("service", SERVED_PROBABILITIES)
def test_otel_js_jaeger_remote_sampler_samples_at_the_served_probabilities(weft_factory, tmp_path, service):
    require_node_sampler()
    served = SERVED_PROBABILITIES[service]
    server, _ = start_with_strategies(weft_factory, tmp_path)
    traces = 1000 * len(served)
    report = run_node_script(
        "otel_jaeger_remote_sampling.js",
        sampling_url(server),
        f"{server.otlp_http_url}/v1/traces",
        service,
        str(traces),
        ",".join(served),
    )
    wanted_sampler = "PerOperationSampler" if len(served) > 1 else "TraceIdRatioBased{0.25}"
    assert wanted_sampler in report["sampler"], f"the sampler never took weft's strategy: {report['sampler']}"
    for operation, probability in served.items():
        assert_sampled_at(report["operations"][operation], probability, f"OpenTelemetry JS, {service} {operation}")
    assert report["exported"], "the OTLP exporter failed"
    total = sum(counts["sampled"] for counts in report["operations"].values())
    assert total == len(report["sampled_trace_ids"])
    wait_received_exactly(server, total)
    for trace_id in random.Random(11).sample(report["sampled_trace_ids"], 10):
        status, _ = native_trace(server.http_url, trace_id)
        assert status == 200, f"sampled trace {trace_id} not stored"


# ---------------------------------------------------------------------------------------
# gRPC


def read_varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
        shift += 7


def decode_fields(data: bytes) -> dict[int, list]:
    """A protobuf message as field number -> values (varints as ints, 64-bit fields as
    doubles, length-delimited fields as bytes), without a schema."""
    fields: dict[int, list] = {}
    position = 0
    while position < len(data):
        key, position = read_varint(data, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, position = read_varint(data, position)
        elif wire_type == 1:
            (value,) = struct.unpack_from("<d", data, position)
            position += 8
        elif wire_type == 2:
            length, position = read_varint(data, position)
            value = data[position : position + length]
            assert len(value) == length, "truncated field"
            position += length
        elif wire_type == 5:
            value = data[position : position + 4]
            position += 4
        else:
            raise AssertionError(f"unexpected wire type {wire_type}")
        fields.setdefault(number, []).append(value)
    return fields


def one(fields: dict[int, list], number: int, default):
    values = fields.get(number, [])
    assert len(values) <= 1, f"field {number} repeated: {values}"
    return values[0] if values else default


def signed32(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def response_as_json(data: bytes) -> dict:
    """A `SamplingStrategyResponse` in the JSON shape `/sampling` answers."""
    fields = decode_fields(data)
    names = {0: "PROBABILISTIC", 1: "RATE_LIMITING"}
    out: dict = {"strategyType": names[one(fields, 1, 0)]}
    if 2 in fields:
        out["probabilisticSampling"] = {"samplingRate": one(decode_fields(one(fields, 2, b"")), 1, 0.0)}
    if 3 in fields:
        out["rateLimitingSampling"] = {"maxTracesPerSecond": signed32(one(decode_fields(one(fields, 3, b"")), 1, 0))}
    if 4 in fields:
        operations = decode_fields(one(fields, 4, b""))
        per_operation = []
        for raw in operations.get(3, []):
            operation = decode_fields(raw)
            probabilistic = decode_fields(one(operation, 2, b""))
            per_operation.append(
                {
                    "operation": one(operation, 1, b"").decode(),
                    "probabilisticSampling": {"samplingRate": one(probabilistic, 1, 0.0)},
                }
            )
        out["operationSampling"] = {
            "defaultSamplingProbability": one(operations, 1, 0.0),
            "defaultLowerBoundTracesPerSecond": one(operations, 2, 0.0),
            "perOperationStrategies": per_operation,
            "defaultUpperBoundTracesPerSecond": one(operations, 4, 0.0),
        }
    return out


def parameters(service: str) -> bytes:
    """`SamplingStrategyParameters{serviceName}`: field 1, length-delimited."""
    name = service.encode()
    assert len(name) < 128
    return b"\x0a" + bytes([len(name)]) + name


def grpc_method(channel: grpc.Channel, path: str):
    return channel.unary_unary(path, request_serializer=None, response_deserializer=None)


def test_grpc_get_sampling_strategy_answers_as_http(weft_factory, tmp_path):
    server, _ = start_with_strategies(weft_factory, tmp_path)
    with grpc.insecure_channel(f"127.0.0.1:{jaeger_port(server, JAEGER_GRPC)}") as channel:
        get_strategy = grpc_method(channel, GET_SAMPLING_STRATEGY)
        for service in ("checkout", "storefront", "limited", "not-listed", ""):
            answer = response_as_json(get_strategy(parameters(service), timeout=5))
            assert answer == http_strategy(server, service), service
        assert response_as_json(get_strategy(parameters("limited"), timeout=5))["rateLimitingSampling"] == {
            "maxTracesPerSecond": 20
        }
        storefront = response_as_json(get_strategy(parameters("storefront"), timeout=5))
        assert {
            strategy["operation"]: strategy["probabilisticSampling"]["samplingRate"]
            for strategy in storefront["operationSampling"]["perOperationStrategies"]
        } == {"GET /hot": 0.05, "GET /cold": 0.8}

        # field 1 announces 16 bytes and 2 follow
        with pytest.raises(grpc.RpcError) as refused:
            get_strategy(b"\x0a\x10ab", timeout=5)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "SamplingStrategyParameters" in refused.value.details()

        with pytest.raises(grpc.RpcError) as unknown:
            grpc_method(channel, "/jaeger.api_v2.SamplingManager/GetSamplingStrategies")(b"", timeout=5)
        assert unknown.value.code() == grpc.StatusCode.UNIMPLEMENTED

        # CollectorService shares the port: an empty PostSpansRequest reaches it.
        posted = grpc_method(channel, POST_SPANS)(b"", timeout=5)
        assert posted == b""


# ---------------------------------------------------------------------------------------
# reload


def probability_served(server: WeftServer, service: str) -> float:
    return http_strategy(server, service)["probabilisticSampling"]["samplingRate"]


def test_strategies_file_is_reloaded_and_an_invalid_one_keeps_the_previous(weft_factory, tmp_path):
    server, path = start_with_strategies(weft_factory, tmp_path)
    assert probability_served(server, "checkout") == 0.25
    changed = json.loads(json.dumps(STRATEGIES))
    changed["service_strategies"][0]["param"] = 0.5
    write_strategies(path, changed)
    started = time.monotonic()
    wait_until(lambda: probability_served(server, "checkout") == 0.5, RELOAD_TIMEOUT_SECONDS, 0.2, "0.5 served after the rewrite")
    reload_seconds = time.monotonic() - started
    print(f"rewritten strategies served after {reload_seconds:.1f} s")
    with grpc.insecure_channel(f"127.0.0.1:{jaeger_port(server, JAEGER_GRPC)}") as channel:
        answer = response_as_json(grpc_method(channel, GET_SAMPLING_STRATEGY)(parameters("checkout"), timeout=5))
    assert answer["probabilisticSampling"]["samplingRate"] == 0.5, f"gRPC after {reload_seconds:.1f} s"

    invalid = json.loads(json.dumps(changed))
    invalid["service_strategies"][0]["param"] = 1.5  # a probability over 1
    write_strategies(path, invalid)
    wait_until(
        lambda: "keeping the previous sampling strategies" in server.log_text(),
        RELOAD_TIMEOUT_SECONDS,
        0.2,
        "weft to reject the invalid file",
    )
    assert probability_served(server, "checkout") == 0.5
    assert probability_served(server, "storefront") == 0.25


# ---------------------------------------------------------------------------------------
# adaptive


def served_operation_probabilities(server: WeftServer, service: str) -> tuple[dict[str, float], float]:
    strategy = http_strategy(server, service)
    operations = strategy.get("operationSampling") or {}
    return (
        {
            entry["operation"]: entry["probabilisticSampling"]["samplingRate"]
            for entry in operations.get("perOperationStrategies", [])
        },
        operations.get("defaultSamplingProbability", strategy.get("probabilisticSampling", {}).get("samplingRate", 0.0)),
    )


def root_span(operation: str, probability: float) -> dict:
    now = time.time_ns()
    return {
        "traceId": secrets.token_hex(16),
        "spanId": secrets.token_hex(8),
        "name": operation,
        "kind": 2,
        "startTimeUnixNano": str(now - 1_000_000),
        "endTimeUnixNano": str(now),
        "attributes": [
            {"key": "sampler.type", "value": {"stringValue": "probabilistic"}},
            {"key": "sampler.param", "value": {"doubleValue": probability}},
        ],
    }


def test_adaptive_probabilities_move_to_target_over_rate(weft_factory):
    service = "adaptive-shop"
    target = 20.0
    initial = 0.1
    rates = {"GET /fast": 1000, "GET /medium": 200, "GET /slow": 40}  # traces a second
    server = weft_factory(
        args=[
            "--sampling.adaptive-enabled", "true",
            "--sampling.adaptive.calculation-interval", "1s",
            "--sampling.adaptive.calculation-delay", "0s",
            "--sampling.adaptive.target-samples-per-second", str(target),
            "--sampling.adaptive.initial-sampling-probability", str(initial),
        ]
    )
    rng = random.Random(5)
    wanted = {operation: target / rate for operation, rate in rates.items()}
    history: list[dict[str, float]] = []
    first_default = served_operation_probabilities(server, service)[1]

    def converged(probabilities: dict[str, float]) -> bool:
        return all(
            operation in probabilities and 0.6 <= probabilities[operation] / wanted[operation] <= 1.6
            for operation in rates
        )

    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        # One simulated second of traffic per calculation interval: fetch what weft serves
        # just after its interval boundary, sample, report the sampled roots at once.
        time.sleep(1.2 - time.time() % 1.0)
        per_operation, default = served_operation_probabilities(server, service)
        history.append(per_operation)
        if len(history) >= 3 and all(converged(entry) for entry in history[-3:]):
            break
        spans = []
        for operation, rate in rates.items():
            probability = per_operation.get(operation, default)
            spans += [root_span(operation, probability) for _ in range(rate) if rng.random() < probability]
        if spans:
            response = requests.post(
                f"{server.otlp_http_url}/v1/traces",
                json={
                    "resourceSpans": [
                        {
                            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                            "scopeSpans": [{"spans": spans}],
                        }
                    ]
                },
                timeout=10,
            )
            assert response.status_code == 200, response.text[:300]

    final = history[-1]
    trail = "\n".join(json.dumps(entry, sort_keys=True) for entry in history)
    print(f"adaptive, wanted {wanted}, served each second:\n{trail}")
    assert first_default == initial, "new operations start at the initial probability"
    assert converged(final), f"served probabilities never settled near {wanted}:\n{trail}"
    assert final["GET /fast"] < final["GET /medium"] < final["GET /slow"], trail
    # from the initial 0.1 they moved down (fast) and up (slow)
    assert final["GET /fast"] < initial / 2 and final["GET /slow"] > initial * 3, trail
