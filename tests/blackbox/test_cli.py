"""`weft search` and `weft trace` against a running server print what a person needs:
trace ids, service names, span names, durations, as an indented waterfall."""

from __future__ import annotations

import re
import subprocess

import pytest

from helpers import (
    WeftServer,
    clean_env,
    free_ports,
    new_trace_id,
    now_micros,
    wait_for_trace,
    wait_until,
    weft_binary,
    zspan,
)

# Runs in both black-box passes, local disk and S3 (tests/run.sh: -m storage).
pytestmark = pytest.mark.storage


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(weft_binary()), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=clean_env(),
    )


def duration_pattern(millis: int) -> re.Pattern:
    """A duration of `millis` ms printed as ms, s or µs (e.g. 150ms, 150.0 ms, 0.15s, 150000µs)."""
    seconds = f"{millis / 1000:g}".replace(".", r"\.")
    return re.compile(
        rf"(?<![\d.])({millis}(\.0+)?\s*ms|{seconds}0*\s*s\b|{millis * 1000}(\.0+)?\s*(us|µs))", re.IGNORECASE
    )


def post_checkout(server: WeftServer, start_micros: int) -> str:
    trace_id = new_trace_id()
    root = zspan(trace_id, name="get /checkout", kind="SERVER", timestamp=start_micros, duration=150_000)
    child = zspan(trace_id, parent_id=root["id"], name="reserve stock", kind="SERVER", service="inventory",
                  timestamp=start_micros + 20_000, duration=40_000)
    grandchild = zspan(trace_id, parent_id=child["id"], name="select stock", kind="CLIENT", service="inventory",
                       timestamp=start_micros + 25_000, duration=12_000, remote_service="postgres")
    response = server.post_zipkin([root, child, grandchild])
    assert response.status_code == 202, response.text
    wait_for_trace(server, trace_id, 3)
    return trace_id


def test_search_lists_recent_traces(weft: WeftServer):
    now = now_micros()
    older = post_checkout(weft, now - 60_000_000)
    newer = post_checkout(weft, now - 30_000_000)
    other = new_trace_id()
    assert weft.post_zipkin([zspan(other, service="billing", name="invoice", timestamp=now - 10_000_000,
                                   duration=5_000)]).status_code == 202

    def search(*extra: str) -> subprocess.CompletedProcess:
        completed = run_cli("search", "--server", weft.http_url, *extra)
        assert completed.returncode == 0, f"exit {completed.returncode}\n{completed.stdout}\n{completed.stderr}"
        return completed

    def lines_with(output: str, trace_id: str) -> list[str]:
        short = trace_id.lstrip("0")
        return [line for line in output.splitlines() if short in line.lower()]

    completed = wait_until(
        lambda: (c := search("--service", "frontend", "--limit", "10")) and lines_with(c.stdout, newer) and c,
        message="weft search shows the trace",
    )
    output = completed.stdout
    for trace_id in (older, newer):
        [line] = lines_with(output, trace_id)
        first_word = line.split()[0].lower()
        assert first_word.lstrip("0") == trace_id.lstrip("0"), f"trace id must come first: {line!r}"
        assert "frontend" in line, line
    assert not lines_with(output, other), "--service frontend must not list billing's trace"
    assert output.lower().index(newer.lstrip("0")) < output.lower().index(older.lstrip("0")), "newest first"

    limited = search("--limit", "1").stdout
    listed = [t for t in (older, newer, other) if lines_with(limited, t)]
    assert listed == [other], f"--limit 1 must print only the newest trace:\n{limited}"


def test_trace_prints_indented_waterfall(weft: WeftServer):
    trace_id = post_checkout(weft, now_micros() - 5_000_000)
    completed = run_cli("trace", trace_id, "--server", weft.http_url)
    assert completed.returncode == 0, f"exit {completed.returncode}\n{completed.stdout}\n{completed.stderr}"
    output = completed.stdout
    assert trace_id.lstrip("0") in output.lower(), output
    lines = output.splitlines()

    def line_of(name: str) -> tuple[int, str]:
        matches = [(index, line) for index, line in enumerate(lines) if name in line]
        assert len(matches) == 1, f"{name!r} should appear on exactly one line:\n{output}"
        return matches[0]

    root_index, root_line = line_of("get /checkout")
    child_index, child_line = line_of("reserve stock")
    leaf_index, leaf_line = line_of("select stock")
    assert root_index < child_index < leaf_index, output
    assert "frontend" in root_line and "inventory" in child_line and "inventory" in leaf_line, output
    # indentation grows with depth
    assert root_line.index("get /checkout") < child_line.index("reserve stock") < leaf_line.index("select stock"), output
    for line, millis in ((root_line, 150), (child_line, 40), (leaf_line, 12)):
        assert duration_pattern(millis).search(line), f"duration {millis}ms missing from {line!r}"


def test_trace_unknown_id_and_unreachable_server_fail_cleanly(weft: WeftServer):
    unknown = new_trace_id()
    completed = run_cli("trace", unknown, "--server", weft.http_url)
    assert completed.returncode != 0, completed.stdout
    assert "not found" in (completed.stderr + completed.stdout).lower(), completed.stderr
    assert "panicked" not in completed.stderr

    completed = run_cli("trace", "zz-not-hex", "--server", weft.http_url)
    assert completed.returncode != 0
    assert "panicked" not in completed.stderr

    # nothing listens on a port we just freed
    [port] = free_ports(1)
    completed = run_cli("search", "--server", f"http://127.0.0.1:{port}")
    assert completed.returncode != 0
    assert completed.stderr.strip(), "an unreachable server must be reported on stderr"
    assert "panicked" not in completed.stderr


def test_query_prints_matching_traces_with_matched_spans_and_tags_lists_scopes(weft: WeftServer):
    now = now_micros()
    checkout = post_checkout(weft, now - 20_000_000)
    other = new_trace_id()
    assert weft.post_zipkin([zspan(other, service="billing", name="invoice", timestamp=now - 10_000_000,
                                   duration=5_000)]).status_code == 202
    wait_for_trace(weft, other, 1)

    def query(*args: str) -> subprocess.CompletedProcess:
        completed = run_cli("query", "--server", weft.http_url, *args)
        assert completed.returncode == 0, f"exit {completed.returncode}\n{completed.stdout}\n{completed.stderr}"
        return completed

    output = query('{ resource.service.name = "inventory" } >> { name = "select stock" }').stdout
    lines = output.splitlines()
    assert any(checkout.lstrip("0") in line.lower() for line in lines), output
    assert not any(other.lstrip("0") in line.lower() for line in lines), output
    matched = [line for line in lines if "select stock" in line]
    assert matched and duration_pattern(12).search(matched[0]), output

    counted = query("{ } | count() > 2", "--json").stdout
    import json as json_module

    answer = json_module.loads(counted)
    ids = {trace["traceID"] for trace in answer["traces"]}
    assert checkout.lstrip("0") in ids and other.lstrip("0") not in ids, counted

    bad = run_cli("query", "--server", weft.http_url, "{ name = }")
    assert bad.returncode != 0
    assert "line 1, col" in bad.stderr, bad.stderr

    tags = run_cli("tags", "--server", weft.http_url)
    assert tags.returncode == 0, tags.stderr
    assert "resource:" in tags.stdout and "service.name" in tags.stdout, tags.stdout
    intrinsic = run_cli("tags", "--scope", "intrinsic", "--server", weft.http_url)
    assert intrinsic.returncode == 0, intrinsic.stderr
    assert "rootServiceName" in intrinsic.stdout and "resource:" not in intrinsic.stdout, intrinsic.stdout
