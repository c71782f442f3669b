"""Screenshots of the real Jaeger UI (jaeger-ui, built from source, outside the repository)
against weft's Jaeger query API: the search page with results, a trace page and the
compare page of two traces. See tests/ui/README.md for how to build the UI.

    .venv/bin/python tests/ui/jaeger_ui_screenshots.py \
        --dist /work/peers/jaeger-ui-dist --out /tmp/jaeger-ui-shots

By default it starts weft itself ($WEFT_BIN, else target/ci/weft) on free loopback ports
with a fresh data dir, loads the recorded Zipkin traces from shared/fixtures through
weft's Zipkin listener, and points the UI at weft's `--jaeger.query.listen` listener.
With --query-url it uses an already running weft's Jaeger query listener instead and
loads nothing unless --zipkin-url is given too.

The UI's static files are served by tests/ui/static_proxy.py the way jaeger-query serves
them (index.html for every route of the single-page app, /static/ as files), and /api/ is
forwarded to weft. Exits non-zero, naming the step, when a page does not show what it
should; prints the path of every screenshot.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chromium import CHROMIUM, launch  # noqa: E402
from static_proxy import StaticProxyServer  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES_DIR = REPO_ROOT.parent / "shared" / "fixtures"
FIXTURES = {
    # fixture file -> trace id
    "zipkin-yelp.json": "a03ee8fff1dcd9b9",
    "zipkin-smartthings-oauth-authorization.json": "8ce82b2e9ed820ba",
}
VIEWPORT = {"width": 1400, "height": 1000}
PAGE_TIMEOUT_MS = 30_000
READY_TIMEOUT_SECONDS = 30.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dist", type=Path, required=True, help="jaeger-ui build output (holds index.html)")
    parser.add_argument("--out", type=Path, required=True, help="directory for the screenshots")
    parser.add_argument(
        "--weft-bin", type=Path, default=None, help="weft binary (default $WEFT_BIN, else target/ci/weft)"
    )
    parser.add_argument("--query-url", default=None, help="a running weft's Jaeger query listener, http://host:port")
    parser.add_argument(
        "--zipkin-url", default=None, help="with --query-url: load the fixtures through this Zipkin listener"
    )
    parser.add_argument("--chromium", default=CHROMIUM, help="Chromium executable")
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_for(probe, what: str, timeout: float = READY_TIMEOUT_SECONDS):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = probe()
            if result:
                return result
        except OSError as error:
            last = error
        time.sleep(0.1)
    raise SystemExit(f"timed out after {timeout}s waiting for {what}; last error: {last}")


class Weft:
    """weft serve on free loopback ports: Zipkin and Jaeger query listeners, everything
    else off."""

    def __init__(self, binary: Path, data_dir: Path, log_path: Path) -> None:
        help_text = subprocess.run(
            [str(binary), "serve", "--help"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
        if "--jaeger.query.listen" not in help_text:
            raise SystemExit(
                f"{binary} has no --jaeger.query.listen flag: this weft has no Jaeger query API yet"
            )
        self.http_port, self.zipkin_port, self.query_port = free_port(), free_port(), free_port()
        args = [str(binary), "serve", "--storage.path", str(data_dir), "--storage.retention", "100000d"]
        for flag in sorted(set(re.findall(r"(--[a-z0-9][a-z0-9.\-]*\.listen)\b", help_text))):
            value = {
                "--http.listen": f"127.0.0.1:{self.http_port}",
                "--zipkin.listen": f"127.0.0.1:{self.zipkin_port}",
                "--jaeger.query.listen": f"127.0.0.1:{self.query_port}",
            }.get(flag, "off")
            args += [flag, value]
        self.log = log_path.open("wb")
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for(lambda: http_get(f"http://127.0.0.1:{self.http_port}/ready")[0] == 200, "weft /ready")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)
        self.log.close()


def load_fixtures(zipkin_url: str, query_url: str) -> None:
    """POST the Zipkin fixtures and wait until the Jaeger query API returns each trace."""
    for name, trace_id in FIXTURES.items():
        body = (FIXTURES_DIR / name).read_bytes()
        request = urllib.request.Request(
            f"{zipkin_url}/api/v2/spans", data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            if response.status != 202:
                raise SystemExit(f"POST {name}: {response.status}")
        wait_for(lambda: http_get(f"{query_url}/api/traces/{trace_id}")[0] == 200, f"trace {trace_id} via {query_url}")


def fixture_window_micros() -> tuple[int, int]:
    stamps = [
        span["timestamp"]
        for name in FIXTURES
        for span in json.loads((FIXTURES_DIR / name).read_text())
        if "timestamp" in span
    ]
    return min(stamps) - 60_000_000, max(stamps) + 60_000_000


def is_app_route(dist: Path, path: str) -> bool:
    """Every path that is not a file of the build is a route of the single-page app."""
    if path.startswith("/static/") or path.startswith("/api/"):
        return False
    return not (dist / path.lstrip("/")).is_file() or path == "/"


def take_screenshots(ui_url: str, out: Path, chromium: str) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    start_micros, end_micros = fixture_window_micros()
    yelp, smartthings = FIXTURES["zipkin-yelp.json"], FIXTURES["zipkin-smartthings-oauth-authorization.json"]
    taken = []
    with sync_playwright() as playwright:
        browser = launch(playwright, chromium)
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(PAGE_TIMEOUT_MS)

        def shot(name: str) -> None:
            path = out / f"{name}.png"
            page.screenshot(path=str(path), full_page=True)
            taken.append(path)
            print(path)

        # search: the service dropdown lists weft's services; a search over the fixtures'
        # time range lists both traces
        page.goto(
            f"{ui_url}/search?end={end_micros}&limit=20&lookback=custom&service=datamgmt&start={start_micros}"
        )
        page.get_by_text("datamgmt: get /oauth/authorize").first.wait_for()
        shot("search-datamgmt")
        page.goto(f"{ui_url}/search?end={end_micros}&limit=20&lookback=custom&service=routing&start={start_micros}")
        page.get_by_text("routing: post /location/update/v4").first.wait_for()
        shot("search-routing")

        # trace page
        page.goto(f"{ui_url}/trace/{yelp}")
        page.get_by_text("post /location/update/v4").first.wait_for()
        page.get_by_text("yelp-main").first.wait_for()
        shot(f"trace-{yelp}")
        page.goto(f"{ui_url}/trace/{smartthings}")
        page.get_by_text("get /oauth/authorize").first.wait_for()
        shot(f"trace-{smartthings}")

        # compare page: the two traces side by side in one diff graph
        page.goto(f"{ui_url}/trace/{yelp}...{smartthings}?cohort={yelp}&cohort={smartthings}")
        page.get_by_text(yelp[:7]).first.wait_for()
        page.locator("svg, canvas").first.wait_for()
        shot("compare")
        browser.close()
    return taken


def main() -> int:
    args = parse_args()
    if not (args.dist / "index.html").is_file():
        raise SystemExit(f"no index.html in {args.dist}: build jaeger-ui first (tests/ui/README.md)")
    weft = None
    workdir = tempfile.TemporaryDirectory(prefix="weft-jaeger-ui-")
    try:
        if args.query_url:
            query_url = args.query_url.rstrip("/")
            if args.zipkin_url:
                load_fixtures(args.zipkin_url.rstrip("/"), query_url)
        else:
            binary = args.weft_bin or Path(os.environ.get("WEFT_BIN", REPO_ROOT / "target" / "ci" / "weft"))
            weft = Weft(binary, Path(workdir.name) / "data", Path(workdir.name) / "weft.log")
            query_url = f"http://127.0.0.1:{weft.query_port}"
            load_fixtures(f"http://127.0.0.1:{weft.zipkin_port}", query_url)
        dist = args.dist.resolve()
        with StaticProxyServer(
            static_dir=dist,
            mount="/",
            index_paths=lambda path: is_app_route(dist, path),
            forward_prefixes=["/api/"],
            upstream=query_url,
        ) as ui:
            print(f"jaeger-ui at {ui.url}, API at {query_url}")
            take_screenshots(ui.url, args.out, args.chromium)
            print("API requests:", *ui.requests_seen, sep="\n  ")
    finally:
        if weft is not None:
            weft.stop()
            log = (Path(workdir.name) / "weft.log").read_text(errors="replace")
            if weft.process.returncode != 0:
                print(log[-4000:], file=sys.stderr)
        workdir.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
