"""TraceQL metrics conformance: the 45 queries of tests/traceql/metrics_corpus.py, each
asked four ways (step 60s, step 37s from an unaligned start, the default step, instant)
over the same generated spans, must give exactly the series Grafana Tempo gave
(tests/traceql/metrics_expected.json, recorded as tests/traceql/TEMPO.md describes)."""

from __future__ import annotations

import json
import sys

import pytest

from helpers import REPO_ROOT, WeftServer

# Runs in both black-box passes, local disk and S3 (tests/run.sh: -m storage).
pytestmark = pytest.mark.storage

sys.path.insert(0, str(REPO_ROOT / "tests" / "traceql"))
import metrics_corpus  # noqa: E402


def test_traceql_metrics_answers_equal_tempos(weft: WeftServer, tmp_path):
    state = tmp_path / "metrics_state.json"
    base = metrics_corpus.load(weft.otlp_http_url, state)
    metrics_corpus.wait_loaded(weft.http_url, base)
    actual = metrics_corpus.ask_all(weft.http_url, base)
    expected = json.loads(metrics_corpus.EXPECTED_PATH.read_text())
    assert len(metrics_corpus.METRICS_QUERIES) >= 40
    found = metrics_corpus.differences(expected, actual)
    assert not found, "\n".join(found[:10]) + f"\n{len(found)} of {len(metrics_corpus.METRICS_QUERIES) * 4} answers differ"
