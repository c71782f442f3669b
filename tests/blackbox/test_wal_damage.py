"""A damaged WAL record costs that record and nothing else: the real server is killed,
bytes are flipped in the middle of a real segment, and the restarted server replays every
record around the damage, keeps the segment aside in wal/quarantine/ and says what it
skipped in /metrics."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from helpers import metric_sum, new_span_id, new_trace_id, now_micros, wait_for_trace, zspan

# Runs in both black-box passes, local disk and S3 (tests/run.sh: -m storage).
pytestmark = pytest.mark.storage

MAGIC = b"WEFTWAL0"
HEADER_BYTES = 9
BATCHES = 12
SPANS_PER_BATCH = 4


def record_extents(segment: bytes) -> list[tuple[int, int]]:
    """(offset, length) of each record of an undamaged segment (docs: crates/ingester/src/wal)."""
    assert segment[:8] == MAGIC, "not a weft WAL segment"
    extents, offset = [], len(MAGIC)
    while offset < len(segment):
        (length,) = struct.unpack_from("<I", segment, offset)
        extents.append((offset, HEADER_BYTES + length))
        offset += HEADER_BYTES + length
    assert offset == len(segment), "the segment is exactly its records"
    return extents


def test_flipped_bytes_mid_segment_lose_only_the_damaged_record(weft_factory):
    server = weft_factory()
    trace_ids = []
    for batch in range(BATCHES):
        trace_id = new_trace_id()
        root = new_span_id()
        spans = [
            zspan(trace_id, root if index == 0 else None, parent_id=None if index == 0 else root,
                  name=f"op-{index}", service="wal-damage", timestamp=now_micros(), duration=10 + index)
            for index in range(SPANS_PER_BATCH)
        ]
        response = server.post_zipkin(spans)
        assert response.status_code == 202, response.text
        trace_ids.append(trace_id)
    server.kill()

    wal = Path(server.data_dir) / "wal"
    segments = sorted(path for path in wal.iterdir() if path.suffix == ".wal")
    segment = max(segments, key=lambda path: path.stat().st_size)
    pristine = segment.read_bytes()
    extents = record_extents(pristine)
    assert len(extents) == BATCHES, f"one record per acknowledged request, found {len(extents)}"

    # Damage records 3 and 8 at random offsets inside them (header or payload).
    rng = random.Random(20261204)
    damaged_bytes = bytearray(pristine)
    damaged_records = [3, 8]
    for record in damaged_records:
        offset, length = extents[record]
        at = offset + rng.randrange(length)
        damaged_bytes[at] ^= 1 + rng.randrange(255)
    segment.write_bytes(bytes(damaged_bytes))

    server.start()
    for index, trace_id in enumerate(trace_ids):
        if index in damaged_records:
            continue
        wait_for_trace(server, trace_id, SPANS_PER_BATCH)
    for index in damaged_records:
        response = server.zget(f"/trace/{trace_ids[index]}")
        assert response.status_code == 404, f"record {index} was damaged, yet {response.text[:200]}"

    metrics = server.metrics_text()
    lost = sum(extents[record][1] for record in damaged_records)
    assert metric_sum(metrics, "weft_wal_skipped_bytes_total") == lost
    assert metric_sum(metrics, "weft_wal_corrupt_records_total") == len(damaged_records)
    assert metric_sum(metrics, "weft_wal_quarantined_segments_total") == 1
    quarantined = wal / "quarantine" / segment.name
    assert quarantined.read_bytes() == bytes(damaged_bytes), "the damaged segment is kept as it was"
    assert "wal segment is damaged" in server.log_text()
