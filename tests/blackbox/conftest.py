"""Fixtures that start the real `weft` binary on free loopback ports.

- `weft`: a fresh server (own temp data dir) for one test; stopped with SIGTERM at
  teardown, which must exit 0 within the timeout.
- `weft_factory(args=..., data_dir=..., ...)`: start more servers, e.g. with extra flags;
  each is stopped the same way at teardown. `server.kill()` / `server.start()` on the
  returned object restarts on the same data dir.
- The server's combined stdout/stderr is captured to a file and attached to the report
  of a failing test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import WeftServer, weft_binary



@pytest.fixture(scope="session", autouse=True)
def weft_binary_exists():
    """The suite tests the binary; a missing binary is an error, never a skip."""
    if not weft_binary().is_file():
        pytest.fail(f"weft binary not found at {weft_binary()}: run ./tests/run.sh (or cargo build --profile ci) or set WEFT_BIN")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    servers: list[WeftServer] = getattr(item, "_weft_servers", [])
    if report.failed and servers:
        for index, server in enumerate(servers):
            report.sections.append((f"weft server {index} log ({server.log_dir})", server.log_tail(20000)))
    return report


@pytest.fixture
def weft_factory(request, tmp_path: Path):
    servers: list[WeftServer] = []
    request.node._weft_servers = servers

    def factory(args=(), data_dir: Path | None = None, **kwargs) -> WeftServer:
        log_root = tmp_path / f"server-{len(servers)}"
        log_root.mkdir()
        server = WeftServer(
            data_dir=data_dir if data_dir is not None else log_root / "data",
            log_dir=log_root,
            extra_args=list(args),
            **kwargs,
        )
        servers.append(server)
        return server.start()

    yield factory

    problems = []
    for server in servers:
        if server.process is None or not server.running:
            continue
        try:
            code = server.stop()
        except AssertionError as error:
            problems.append(str(error))
            continue
        if code != 0:
            problems.append(f"weft exited with code {code} after SIGTERM\n{server.log_tail()}")
    assert not problems, "\n".join(problems)


@pytest.fixture
def weft(weft_factory) -> WeftServer:
    return weft_factory()

