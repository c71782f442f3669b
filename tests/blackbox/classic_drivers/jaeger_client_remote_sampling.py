"""Samples with the real jaeger-client (Python)'s remote-controlled sampler, which polls
`GET /sampling?service=` on the agent's sampling port (weft's --jaeger.sampling.listen),
and reports the sampled spans as compact Thrift UDP datagrams to the agent port.

Runs in .venv-classic (tests/requirements-classic.txt), driven by
tests/blackbox/test_remote_sampling.py:

    python jaeger_client_remote_sampling.py --agent-port P --sampling-port S --service NAME
        (--traces N | --seconds D) --operations OP[,OP...]

Waits (up to 15 s) for the sampler's first strategy, then starts root spans cycling
through the operations: N of them, or as many as it can for D seconds (1 ms apart), and
counts per operation how many the client sampled. Prints one JSON object:
{"sampler": str, "operations": {OP: {"created", "sampled"}}, "elapsed_seconds",
 "sampled_trace_ids": [...], "flushed"}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from jaeger_client import Config

WAIT_FOR_STRATEGY_SECONDS = 15.0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agent-port", type=int, required=True)
    parser.add_argument("--sampling-port", type=int, required=True)
    parser.add_argument("--service", required=True)
    parser.add_argument("--traces", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=0.0)
    parser.add_argument("--operations", required=True)
    args = parser.parse_args()
    operations = args.operations.split(",")

    config = Config(
        config={
            # no "sampler" section: jaeger-client's RemoteControlledSampler
            "local_agent": {
                "reporting_host": "127.0.0.1",
                "reporting_port": args.agent_port,
                "sampling_port": args.sampling_port,
            },
            "sampling_refresh_interval": 0.2,
            "generate_128bit_trace_id": True,
            "reporter_flush_interval": 0.05,
            "reporter_queue_size": 20000,
            "logging": False,
        },
        service_name=args.service,
        validate=True,
    )
    tracer = config.new_tracer()
    remote = tracer.sampler
    initial = remote.sampler
    deadline = time.monotonic() + WAIT_FOR_STRATEGY_SECONDS
    while remote.sampler is initial and time.monotonic() < deadline:
        time.sleep(0.02)

    counts = {operation: {"created": 0, "sampled": 0} for operation in operations}
    sampled_trace_ids: list[str] = []
    started = time.monotonic()
    index = 0
    while True:
        if args.traces and index >= args.traces:
            break
        if args.seconds and time.monotonic() - started >= args.seconds:
            break
        operation = operations[index % len(operations)]
        span = tracer.start_span(operation, tags={"span.kind": "server"})
        counts[operation]["created"] += 1
        if span.is_sampled():
            counts[operation]["sampled"] += 1
            sampled_trace_ids.append(format(span.context.trace_id, "032x"))
        span.finish()
        index += 1
        if args.seconds:
            time.sleep(0.001)
    elapsed_seconds = time.monotonic() - started

    future = tracer.close()
    deadline = time.monotonic() + 10
    while not future.done() and time.monotonic() < deadline:
        time.sleep(0.01)
    print(
        json.dumps(
            {
                "sampler": str(remote.sampler),
                "operations": counts,
                "elapsed_seconds": elapsed_seconds,
                "sampled_trace_ids": sampled_trace_ids,
                "flushed": future.done(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
