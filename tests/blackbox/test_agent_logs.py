"""`weft agent` tails log files and ships them to the real server's Loki push API
(--loki.listen): lines written while files are rotated by rename and by copytruncate
all arrive, through pipeline stages, and are read back with /loki/api/v1/query_range.

The kill -9 check: a writer keeps writing and rotating (rename and copytruncate,
alternately) while the agent is killed with SIGKILL at random moments and restarted;
every line must arrive at least once, and duplicates may only come from the batch in
flight at each kill. WEFT_AGENT_KILL_CYCLES sets the number of kills (default 5, the
acceptance run uses 20); the per-cycle numbers are printed (pytest -s shows them).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from helpers import free_ports, metric_sum, wait_until, weft_binary

# The agent's batch size in bytes; a kill can repeat at most one batch's lines.
BATCH_BYTES = 4096


STARTED: list["LogAgent"] = []


@pytest.fixture(autouse=True)
def stop_leftover_agents():
    """An agent a failing test left running is killed at teardown."""
    yield
    while STARTED:
        agent = STARTED.pop()
        if agent.process is not None and agent.process.poll() is None:
            agent.process.kill()
            agent.process.wait(timeout=10)


class LogAgent:
    """`weft agent` with only its scrape/metrics listener and a `logs` section."""

    def __init__(self, tmp_path: Path, loki_url: str, log_dir: Path, name: str = "agent"):
        (self.port,) = free_ports(1)
        self.config = tmp_path / f"{name}.yml"
        self.log = tmp_path / f"{name}.log"
        self.config.write_text(
            f"""
logs:
  positions:
    filename: {tmp_path / 'positions.json'}
  clients:
    - url: {loki_url}/loki/api/v1/push
      batchwait: 100ms
      batchsize: {BATCH_BYTES}
      backoff_config: {{min_period: 50ms, max_period: 500ms}}
      external_labels: {{agent: blackbox}}
  target_config: {{sync_period: 200ms}}
  file_watch_config: {{min_poll_frequency: 20ms, max_poll_frequency: 50ms}}
  rotated_file_idle: 500ms
  scrape_configs:
    - job_name: files
      static_configs:
        - targets: [localhost]
          labels:
            job: bb-tail
            __path__: {log_dir}/*.log*
      relabel_configs:
        - source_labels: [job]
          target_label: team
          replacement: team-$1
      pipeline_stages:
        - logfmt: {{mapping: {{level: }}}}
        - labels: {{level: }}
        - drop: {{source: level, value: debug}}
"""
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> "LogAgent":
        command = [str(weft_binary()), "agent", "--config", str(self.config), "--scrape.listen", f"127.0.0.1:{self.port}"]
        for flag in ("otlp-grpc", "otlp-http", "zipkin", "jaeger-compact", "jaeger-binary", "jaeger-http", "jaeger-grpc"):
            command += [f"--{flag}.listen", "off"]
        self.process = subprocess.Popen(command, stdout=self.log.open("a"), stderr=subprocess.STDOUT)
        STARTED.append(self)
        wait_until(lambda: requests.get(self.metrics_url, timeout=2).status_code == 200, timeout=20, message="agent up")
        return self

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        code = self.process.wait(timeout=20)
        assert code == 0, self.log.read_text()[-3000:]


def loki_lines(server, start_ns: int, query: str = '{job="bb-tail"}') -> list[tuple[dict, str]]:
    response = requests.get(
        f"{server.loki_url}/loki/api/v1/query_range",
        params={"query": query, "start": str(start_ns), "end": str(time.time_ns() + 10**9), "limit": "200000", "direction": "forward"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return [(stream["stream"], value[1]) for stream in response.json()["data"]["result"] for value in stream["values"]]


class RotatingWriter:
    """Writes numbered lines to `app.log` (rotated by rename) and `svc.log` (rotated by
    copytruncate), each line tagged with the cycle it was written in."""

    def __init__(self, directory: Path, lines_per_file_generation: int = 150):
        self.directory = directory
        self.per_generation = lines_per_file_generation
        self.cycle = 0
        self.written: list[tuple[int, str]] = []
        self.stop_event = threading.Event()
        self.generation = {"app": 0, "svc": 0}
        self.count = {"app": 0, "svc": 0}
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.error: BaseException | None = None

    def write(self, name: str) -> None:
        path = self.directory / f"{name}.log"
        sequence = len(self.written)
        line = f"level=info c={self.cycle:02d} seq={sequence:07d} file={name} padding=" + "x" * (sequence % 40)
        with path.open("a") as handle:
            handle.write(line + "\n")
        self.written.append((self.cycle, line))
        self.count[name] += 1
        if self.count[name] >= self.per_generation:
            self.count[name] = 0
            self.rotate(name)

    def rotate(self, name: str) -> None:
        path = self.directory / f"{name}.log"
        # Keep a few rotated files, as logrotate's `rotate 4` does.
        for index in range(3, 0, -1):
            older = self.directory / f"{name}.log.{index}"
            if older.exists():
                older.rename(self.directory / f"{name}.log.{index + 1}")
        if name == "app":
            path.rename(self.directory / f"{name}.log.1")
        else:
            shutil.copyfile(path, self.directory / f"{name}.log.1")
            with path.open("r+") as handle:
                handle.truncate(0)
        self.generation[name] += 1

    def run(self) -> None:
        try:
            while not self.stop_event.is_set():
                self.write("app" if len(self.written) % 2 == 0 else "svc")
                time.sleep(0.002)
        except BaseException as error:  # reported by the test
            self.error = error

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=10)
        assert self.error is None, self.error


def test_agent_ships_lines_across_rename_and_copytruncate(weft_factory, tmp_path):
    server = weft_factory(args=["--logs.max-entries-limit-per-query", "1000000"])
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    start_ns = time.time_ns()
    writer = RotatingWriter(log_dir, lines_per_file_generation=60)
    writer.write("app")
    writer.write("svc")
    agent = LogAgent(tmp_path, server.loki_url, log_dir).start()
    time.sleep(0.5)
    for _ in range(6):
        for index in range(80):
            writer.write("app" if index % 2 == 0 else "svc")
        time.sleep(0.3)
    # A compressed rotated file and a debug line are never shipped.
    (log_dir / "old.log.2.gz").write_bytes(b"level=info compressed\n")
    with (log_dir / "svc.log").open("a") as handle:
        handle.write("level=debug dropped by the pipeline\n")
    expected = {line for _, line in writer.written}
    wait_until(lambda: len(loki_lines(server, start_ns)) >= len(expected), timeout=30, message="every line delivered")
    time.sleep(1.0)
    delivered = loki_lines(server, start_ns)
    counts = Counter(line for _, line in delivered)
    assert set(counts) == expected, (len(set(counts) - expected), len(expected - set(counts)))
    assert max(counts.values()) == 1, [line for line, count in counts.items() if count > 1][:3]
    labels = delivered[0][0]
    assert labels["team"] == "team-bb-tail" and labels["agent"] == "blackbox" and labels["level"] == "info", labels
    assert labels["filename"].startswith(str(log_dir)), labels
    metrics = requests.get(agent.metrics_url, timeout=5).text
    assert metric_sum(metrics, "weft_tail_read_lines_total") >= len(expected) + 1
    assert metric_sum(metrics, "weft_tail_sent_entries_total") == len(expected)
    assert metric_sum(metrics, "weft_tail_sent_batches_total") >= 1
    assert metric_sum(metrics, "weft_tail_stage_dropped_entries_total") == 1
    assert metric_sum(metrics, "weft_tail_rotations_total", kind="truncate") >= 1
    assert "weft_tail_position_lag_bytes" in metrics
    agent.stop()


def test_agent_kill_9_during_rotation_loses_no_line(weft_factory, tmp_path):
    cycles = int(os.environ.get("WEFT_AGENT_KILL_CYCLES", "5"))
    server = weft_factory(args=["--logs.max-entries-limit-per-query", "1000000"])
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    start_ns = time.time_ns()
    randomness = random.Random(int(os.environ.get("WEFT_AGENT_KILL_SEED", "13")))
    writer = RotatingWriter(log_dir)
    writer.write("app")
    writer.write("svc")
    agent = LogAgent(tmp_path, server.loki_url, log_dir)
    writer.start()
    for cycle in range(cycles):
        writer.cycle = cycle
        agent.start()
        time.sleep(randomness.uniform(0.3, 1.2))
        agent.kill()
        time.sleep(randomness.uniform(0.0, 0.3))
    writer.cycle = cycles
    time.sleep(0.3)
    writer.stop()
    agent.start()
    expected = Counter(line for _, line in writer.written)
    wait_until(
        lambda: set(line for _, line in loki_lines(server, start_ns)) >= set(expected),
        timeout=60,
        interval=0.5,
        message="every line delivered after the last restart",
    )
    time.sleep(1.5)
    agent.stop()
    deliveries = loki_lines(server, start_ns)
    delivered = Counter(line for _, line in deliveries)
    sources: dict[str, list[str]] = {}
    for stream, line in deliveries:
        sources.setdefault(line, []).append(stream.get("filename", "?"))
    missing = [line for line in expected if line not in delivered]
    assert not missing, f"{len(missing)} lines lost, first {missing[:3]}"
    unexpected = [line for line in delivered if line not in expected]
    assert not unexpected, unexpected[:3]
    duplicates = {line: count - 1 for line, count in delivered.items() if count > 1}
    # Per cycle: lines written, delivered, delivered more than once.
    report = []
    for cycle in range(cycles + 1):
        lines = [line for written_cycle, line in writer.written if written_cycle == cycle]
        report.append((cycle, len(lines), sum(1 for line in lines if line in delivered), sum(duplicates.get(line, 0) for line in lines)))
    print(f"\nagent kill -9 cycles: {cycles}, lines written {len(expected)}, delivered {len(expected) - len(missing)}, "
          f"duplicated {sum(duplicates.values())}")
    for cycle, written, arrived, duplicated in report:
        print(f"  cycle {cycle:2d}: written {written:6d} delivered {arrived:6d} duplicated {duplicated:4d}")
    # At most the batch in flight at each kill is sent again: BATCH_BYTES of lines
    # (each line is at least 50 bytes), so every run of consecutive repeated lines of
    # one file is at most that long, and there is at most one run per file per kill.
    per_kill_bound = BATCH_BYTES // 50 + 1
    runs = []
    for name in ("app", "svc"):
        run = 0
        for _, line in writer.written:
            if f"file={name} " not in line:
                continue
            if line in duplicates:
                if run == 0:
                    print(f"  repeated run starts at {line[:45]}, delivered from {sorted(sources[line])}")
                run += 1
            elif run:
                runs.append(run)
                run = 0
        if run:
            runs.append(run)
    print(f"  runs of repeated lines: {runs}")
    assert all(run <= per_kill_bound for run in runs), (runs, per_kill_bound, agent.log.read_text()[-6000:])
    assert len(runs) <= 2 * cycles, runs
    assert sum(duplicates.values()) <= cycles * per_kill_bound, (sum(duplicates.values()), cycles * per_kill_bound)
