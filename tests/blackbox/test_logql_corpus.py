"""LogQL conformance: the queries of tests/logql/queries.py over the dataset of
tests/logql/dataset.py, asked as range queries at several steps and as instant queries
(tests/logql/corpus.py says how), must give the answers Grafana Loki gave
(tests/logql/expected.json, recorded as tests/logql/LOKI.md describes). Answers listed
in tests/logql/known-failures.txt may differ; one listed there that now agrees fails
the test, so the list only shrinks."""

from __future__ import annotations

import importlib.util
import json
import sys
import time

from helpers import REPO_ROOT, WeftServer

LOGQL_DIR = REPO_ROOT / "tests" / "logql"
# tests/logql/corpus.py imports its siblings (dataset, queries) by name.
sys.path.insert(0, str(LOGQL_DIR))
# Loaded under its own name: tests/traceql/corpus.py is `corpus` in the same pytest worker.
_spec = importlib.util.spec_from_file_location("logql_corpus", LOGQL_DIR / "corpus.py")
corpus = importlib.util.module_from_spec(_spec)
sys.modules["logql_corpus"] = corpus
_spec.loader.exec_module(corpus)


def test_logql_answers_equal_lokis(weft: WeftServer):
    base = corpus.base_for(time.time())
    corpus.push(weft.loki_url, base)
    corpus.wait_loaded(weft.loki_url, base)
    expected = json.loads(corpus.EXPECTED_PATH.read_text())["results"]
    assert len(corpus.QUERIES) >= 200
    actual = corpus.run_all(weft.loki_url, base)
    equal, different = corpus.compare(expected, actual)
    known = corpus.load_known_failures()
    unexpected = [key for key in different if not corpus.is_known(key, known)]
    fixed = corpus.fixed_known(known, expected, equal)
    report = [corpus.describe(key, expected[key], actual.get(key)) for key in unexpected[:8]]
    assert not unexpected, "\n".join(report) + (
        f"\n{len(unexpected)} answers differ from Loki's and are not in known-failures.txt"
        f" ({len(equal)} of {len(expected)} equal)"
    )
    assert not fixed, f"now equal to Loki's, remove from known-failures.txt: {fixed}"
    print(f"{len(equal)} of {len(expected)} answers equal to Loki's; {len(different)} different, all known")
