"""A small HTTP server for driving real trace UIs against weft in tests: it serves a
UI's built static files and forwards API paths to a backend, the way the UI's own
server would (zipkin-server for zipkin-lens, jaeger-query for jaeger-ui).

Python standard library only; loopback only; one thread per request.

    server = StaticProxyServer(
        static_dir=Path("lens/zipkin-lens"),
        mount="/zipkin/",
        index_paths=ZIPKIN_LENS_INDEX_PATHS,
        forward_prefixes=["/zipkin/api/v2/", "/zipkin/config.json", "/api/v2/"],
        upstream="http://127.0.0.1:9411",
        redirects={"/": "/zipkin/", "/zipkin": "/zipkin/"},
    ).start()
    ... server.url ...
    server.stop()
"""

from __future__ import annotations

import http.client
import mimetypes
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

# The paths zipkin-server answers with zipkin-lens's index.html (the single-page app's
# routes), from zipkin-server's ZipkinUiConfiguration: /zipkin/, /zipkin/index.html,
# /zipkin/traces/{id}, /zipkin/dependency, /zipkin/traceViewer.
ZIPKIN_LENS_INDEX_PATHS = re.compile(r"^/zipkin/(index\.html|traces/[^/]+|dependency|traceViewer)?$")

# Seconds a forwarded request may take at the backend.
UPSTREAM_TIMEOUT_SECONDS = 30.0

# Hop-by-hop headers (RFC 9110 section 7.6.1) are not forwarded in either direction.
HOP_BY_HOP_HEADERS = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}


class StaticProxyServer:
    """Serves `static_dir` under the URL prefix `mount` (which ends with "/"), answers
    paths matching `index_paths` (a compiled regex, or a callable taking the path) with
    `static_dir/index.html`, forwards requests whose path starts with one of
    `forward_prefixes` unchanged (method, path, query, body, end-to-end headers) to
    `upstream` (an `http://host:port` origin), and answers paths in `redirects` with a
    302 to the given location. Anything else is a 404.

    Binds 127.0.0.1 on `port` (0: any free port). `requests_seen` records every
    forwarded request as "METHOD path?query" for assertions and failure reports."""

    def __init__(
        self,
        static_dir: Path,
        mount: str,
        index_paths: re.Pattern[str] | Callable[[str], bool],
        forward_prefixes: list[str],
        upstream: str,
        redirects: dict[str, str] | None = None,
        port: int = 0,
    ) -> None:
        if not mount.startswith("/") or not mount.endswith("/"):
            raise ValueError(f"mount must start and end with '/': {mount!r}")
        if not (static_dir / "index.html").is_file():
            raise ValueError(f"no index.html in static dir {static_dir}")
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme != "http" or not parsed.hostname or not parsed.port:
            raise ValueError(f"upstream must be an http://host:port origin: {upstream!r}")
        self.static_dir = static_dir.resolve()
        self.mount = mount
        self.is_index_path = index_paths.match if isinstance(index_paths, re.Pattern) else index_paths
        self.forward_prefixes = list(forward_prefixes)
        self.upstream_host = parsed.hostname
        self.upstream_port = parsed.port
        self.redirects = dict(redirects or {})
        self.requests_seen: list[str] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "StaticProxyServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="static-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> "StaticProxyServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- request handling -------------------------------------------------------------
    def _static_file(self, path: str) -> Path | None:
        """The file under static_dir that a URL path names, or None (outside the mount,
        a directory, missing, or escaping the directory)."""
        if not path.startswith(self.mount):
            return None
        relative = urllib.parse.unquote(path[len(self.mount):])
        candidate = (self.static_dir / relative).resolve()
        if not candidate.is_relative_to(self.static_dir) or not candidate.is_file():
            return None
        return candidate

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args) -> None:  # noqa: A002 (stdlib name)
                pass

            def do_GET(self) -> None:
                self._dispatch(send_body=True)

            def do_HEAD(self) -> None:
                self._dispatch(send_body=False)

            def do_POST(self) -> None:
                self._dispatch(send_body=True)

            def _dispatch(self, send_body: bool) -> None:
                path = urllib.parse.urlsplit(self.path).path
                if any(path.startswith(prefix) for prefix in server.forward_prefixes):
                    self._forward()
                    return
                if self.command not in ("GET", "HEAD"):
                    self._plain(405, f"{self.command} not allowed on {path}", send_body)
                    return
                if path in server.redirects:
                    self.send_response(302)
                    self.send_header("Location", server.redirects[path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if server.is_index_path(path):
                    self._file(server.static_dir / "index.html", "max-age=60", send_body)
                    return
                found = server._static_file(path)
                if found is None:
                    self._plain(404, f"{path} not found", send_body)
                    return
                self._file(found, "max-age=31536000", send_body)

            def _plain(self, status: int, text: str, send_body: bool) -> None:
                body = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if send_body:
                    self.wfile.write(body)

            def _file(self, path: Path, cache_control: str, send_body: bool) -> None:
                body = path.read_bytes()
                content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                if content_type.startswith("text/") or content_type in ("application/javascript", "application/json"):
                    content_type += "; charset=utf-8"
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", cache_control)
                self.end_headers()
                if send_body:
                    self.wfile.write(body)

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {
                    name: value for name, value in self.headers.items() if name.lower() not in HOP_BY_HOP_HEADERS
                }
                with server._lock:
                    server.requests_seen.append(f"{self.command} {self.path}")
                connection = http.client.HTTPConnection(
                    server.upstream_host, server.upstream_port, timeout=UPSTREAM_TIMEOUT_SECONDS
                )
                try:
                    connection.request(self.command, self.path, body=body, headers=headers)
                    answer = connection.getresponse()
                    answer_body = answer.read()
                except OSError as error:
                    self._plain(502, f"upstream {server.upstream_host}:{server.upstream_port}: {error}", True)
                    return
                finally:
                    connection.close()
                self.send_response(answer.status, answer.reason)
                for name, value in answer.getheaders():
                    if name.lower() not in HOP_BY_HOP_HEADERS:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer_body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer_body)

        return Handler
