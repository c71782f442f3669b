"""Sends a recorded Jaeger trace (shared/fixtures/jaeger-petclinic-trace.json, the Jaeger
query API's JSON shape) to a Jaeger collector as jaeger-client would: each process's spans
as one binary-Thrift `Batch` POSTed to /api/traces, built with jaeger-client's own generated
Thrift types. Prints one JSON line: {"batches": N, "spans": M}.

usage: jaeger_fixture_thrift.py FIXTURE COLLECTOR_URL
"""

import json
import sys

import requests
from jaeger_client.thrift_gen.jaeger import ttypes
from thrift.protocol import TBinaryProtocol
from thrift.transport import TTransport

TAG_TYPES = {
    "string": ttypes.TagType.STRING,
    "bool": ttypes.TagType.BOOL,
    "int64": ttypes.TagType.LONG,
    "float64": ttypes.TagType.DOUBLE,
}


def signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def id_halves(hex_id: str) -> tuple[int, int]:
    value = int(hex_id, 16)
    return signed(value >> 64), signed(value & ((1 << 64) - 1))


def tag(entry: dict) -> ttypes.Tag:
    kind = TAG_TYPES[entry["type"]]
    value = entry["value"]
    if kind == ttypes.TagType.STRING:
        return ttypes.Tag(key=entry["key"], vType=kind, vStr=str(value))
    if kind == ttypes.TagType.BOOL:
        return ttypes.Tag(key=entry["key"], vType=kind, vBool=bool(value))
    if kind == ttypes.TagType.LONG:
        return ttypes.Tag(key=entry["key"], vType=kind, vLong=int(value))
    return ttypes.Tag(key=entry["key"], vType=kind, vDouble=float(value))


def thrift_span(span: dict) -> ttypes.Span:
    high, low = id_halves(span["traceID"])
    parent = next((ref for ref in span["references"] if ref["refType"] == "CHILD_OF"), None)
    return ttypes.Span(
        traceIdLow=low,
        traceIdHigh=high,
        spanId=signed(int(span["spanID"], 16)),
        parentSpanId=signed(int(parent["spanID"], 16)) if parent else 0,
        operationName=span["operationName"],
        references=[],
        flags=span.get("flags", 1),
        startTime=span["startTime"],
        duration=span["duration"],
        tags=[tag(entry) for entry in span["tags"]],
        logs=[
            ttypes.Log(timestamp=log["timestamp"], fields=[tag(field) for field in log["fields"]])
            for log in span["logs"]
        ],
    )


def main() -> None:
    fixture_path, collector_url = sys.argv[1], sys.argv[2]
    with open(fixture_path, encoding="utf-8") as file:
        trace = json.load(file)
    batches = 0
    for process_id, process in trace["processes"].items():
        spans = [thrift_span(span) for span in trace["spans"] if span["processID"] == process_id]
        batch = ttypes.Batch(
            process=ttypes.Process(serviceName=process["serviceName"], tags=[tag(t) for t in process["tags"]]),
            spans=spans,
        )
        buffer = TTransport.TMemoryBuffer()
        batch.write(TBinaryProtocol.TBinaryProtocol(buffer))
        response = requests.post(
            collector_url,
            data=buffer.getvalue(),
            headers={"Content-Type": "application/x-thrift"},
            timeout=10,
        )
        if response.status_code // 100 != 2:
            raise SystemExit(f"collector answered {response.status_code}: {response.text}")
        batches += 1
    print(json.dumps({"batches": batches, "spans": len(trace["spans"])}))


if __name__ == "__main__":
    main()
