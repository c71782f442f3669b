"""`weft agent`'s log tailer finds its targets with the span scraper's service
discovery: targets come from `http_sd_configs` served by a small HTTP server in the
test, relabeling builds `__path__` from a discovered `__meta_*` label, the lines of
those files arrive in the real server with the discovered labels, and a target that
disappears from discovery stops being tailed. Bad discovery settings are refused at
start with the key named, as the span scraper refuses them.

DNS SD is not run here: the binary queries the system's name servers and has no flag
to point it at a test server (weft-scraper's tests cover DNS SD against one).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from helpers import free_ports, metric_sum, wait_until, weft_binary
from test_agent_logs import STARTED, loki_lines, stop_leftover_agents  # noqa: F401  (autouse fixture)


class TargetGroupServer:
    """Serves `groups` as an HTTP SD response (a JSON list of target groups); the
    list can be replaced while running. Counts the polls."""

    def __init__(self) -> None:
        self.groups: list[dict] = []
        self.polls = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802  (http.server's name)
                owner.polls += 1
                body = json.dumps(owner.groups).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/targets"

    def __enter__(self) -> "TargetGroupServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_agent(tmp_path: Path, logs_section: str) -> tuple[subprocess.Popen, int, Path]:
    (port,) = free_ports(1)
    config = tmp_path / "agent.yml"
    config.write_text(logs_section)
    log = tmp_path / "agent.log"
    command = [str(weft_binary()), "agent", "--config", str(config), "--scrape.listen", f"127.0.0.1:{port}"]
    for flag in ("otlp-grpc", "otlp-http", "zipkin", "jaeger-compact", "jaeger-binary", "jaeger-http", "jaeger-grpc"):
        command += [f"--{flag}.listen", "off"]
    process = subprocess.Popen(command, stdout=log.open("a"), stderr=subprocess.STDOUT)
    return process, port, log


def append(path: Path, line: str) -> None:
    with path.open("a") as handle:
        handle.write(line + "\n")


def test_targets_from_http_sd_are_relabeled_tailed_and_dropped_when_gone(weft_factory, tmp_path):
    # loki_lines asks for up to 200,000 entries.
    server = weft_factory(args=["--logs.max-entries-limit-per-query", "1000000"])
    log_dir = tmp_path / "logs"
    for app in ("checkout", "search", "other"):
        (log_dir / app).mkdir(parents=True)
    # Written before the agent starts: a glob is expanded when discovery publishes
    # (and then every sync period, 5 s here).
    append(log_dir / "checkout" / "app.log", "checkout line 1")
    append(log_dir / "search" / "app.log", "search line 1")
    # Not a target: no discovered group names it.
    append(log_dir / "other" / "app.log", "never shipped")
    start_ns = time.time_ns()
    with TargetGroupServer() as sd:
        sd.groups = [
            {"targets": ["10.0.0.1:80"], "labels": {"__meta_app": "checkout", "team": "payments"}},
            {"targets": ["10.0.0.2:80"], "labels": {"__meta_app": "search", "team": "discovery"}},
        ]
        process, port, log = start_agent(
            tmp_path,
            f"""
logs:
  positions: {{filename: {tmp_path / 'positions.json'}}}
  clients:
    - url: {server.loki_url}/loki/api/v1/push
      batchwait: 50ms
      backoff_config: {{min_period: 50ms, max_period: 500ms}}
  target_config: {{sync_period: 5s}}
  file_watch_config: {{min_poll_frequency: 20ms, max_poll_frequency: 50ms}}
  scrape_configs:
    - job_name: discovered
      http_sd_configs: [{{url: "{sd.url}", refresh_interval: 100ms}}]
      relabel_configs:
        - source_labels: [__meta_app]
          target_label: __path__
          replacement: {log_dir}/$1/*.log
        - {{source_labels: [__meta_app], target_label: app}}
        - {{target_label: job, replacement: bb-sd}}
""",
        )
        agent = type("Agent", (), {"process": process})()
        STARTED.append(agent)
        metrics_url = f"http://127.0.0.1:{port}/metrics"
        wait_until(lambda: requests.get(metrics_url, timeout=2).status_code == 200, timeout=20, message="agent up")

        def lines() -> dict[str, dict]:
            return {line: labels for labels, line in loki_lines(server, start_ns, '{job="bb-sd"}')}

        # The sync period is 5 s: lines arriving sooner show the targets came with the
        # discovery's publication, not with a periodic sync.
        wait_until(lambda: len(lines()) >= 2, timeout=4, message="lines of both discovered targets")
        delivered = lines()
        assert set(delivered) == {"checkout line 1", "search line 1"}, delivered
        checkout = delivered["checkout line 1"]
        assert checkout["app"] == "checkout" and checkout["team"] == "payments", checkout
        assert checkout["filename"] == str(log_dir / "checkout" / "app.log"), checkout
        assert not any(name.startswith("__") for name in checkout), checkout
        assert delivered["search line 1"]["team"] == "discovery", delivered

        # `search` disappears from discovery: its file is no longer tailed.
        sd.groups = sd.groups[:1]
        wait_until(
            lambda: metric_sum(requests.get(metrics_url, timeout=2).text, "weft_tail_files_active") == 1,
            timeout=4,
            message="the vanished target's follower stops",
        )
        append(log_dir / "search" / "app.log", "search line 2, after its target vanished")
        append(log_dir / "checkout" / "app.log", "checkout line 2")
        wait_until(lambda: "checkout line 2" in lines(), timeout=4, message="the remaining target still tailed")
        time.sleep(0.5)
        assert set(lines()) == {"checkout line 1", "search line 1", "checkout line 2"}, lines()
        assert sd.polls >= 2

        process.terminate()
        assert process.wait(timeout=20) == 0, log.read_text()[-3000:]


def test_discovery_settings_the_span_scraper_refuses_are_refused_at_start(tmp_path):
    for section, expected in [
        (
            'http_sd_configs: [{url: "ftp://sd.example.org/targets"}]',
            ["logs.scrape_configs[0].http_sd_configs[0]", "URL scheme must be 'http' or 'https'"],
        ),
    ]:
        process, _, log = start_agent(
            tmp_path,
            f"""
logs:
  positions: {{filename: {tmp_path / 'positions.json'}}}
  clients: [{{url: "http://127.0.0.1:1/loki/api/v1/push"}}]
  scrape_configs:
    - job_name: refused
      {section}
""",
        )
        code = process.wait(timeout=20)
        output = log.read_text()
        assert code != 0, output
        for text in expected:
            assert text in output, (text, output[-2000:])
        log.unlink()
