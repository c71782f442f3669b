"""Configuration: flags, WEFT_* environment variables and the YAML file compose
(flag > env > file); unknown YAML keys and bad values stop startup with a message
naming them; a listener can be switched off."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from helpers import WeftServer, clean_env, free_ports, fsync_args, new_trace_id, now_micros, wait_for_trace, weft_binary, zspan

MANAGED = ("--http.listen", "--zipkin.listen", "--otlp.grpc.listen", "--otlp.http.listen")


def serve_expecting_failure(args: list[str], tmp_path: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `weft serve` on free ports with `args`; it must exit (non-zero) by itself."""
    ports = free_ports(4)
    command = [str(weft_binary()), "serve"]
    for flag, port in zip(MANAGED, ports):
        command += [flag, f"127.0.0.1:{port}"]
    try:
        completed = subprocess.run(
            command + args,
            capture_output=True,
            text=True,
            timeout=15,
            stdin=subprocess.DEVNULL,
            env=clean_env(env),
            cwd=str(tmp_path),
        )
    except subprocess.TimeoutExpired as expired:
        pytest.fail(f"weft kept running with {args}; expected a startup error. stderr: {expired.stderr!r}")
    assert completed.returncode != 0, f"weft exited 0 with {args}\n{completed.stderr}"
    assert "panicked" not in completed.stderr, completed.stderr
    return completed


def has_data(directory: Path) -> bool:
    return directory.is_dir() and any(path.is_file() and path.stat().st_size > 0 for path in directory.rglob("*"))


def store_one_span(server: WeftServer) -> None:
    trace_id = new_trace_id()
    response = server.post_zipkin([zspan(trace_id, timestamp=now_micros(), duration=10)])
    assert response.status_code == 202, response.text
    wait_for_trace(server, trace_id, 1)


@pytest.mark.parametrize(
    "yaml_text,key",
    [
        ("bogus_top_level_key: 1\n", "bogus_top_level_key"),
        ("storage:\n  path: ./data\n  not_a_storage_option: 3\n", "not_a_storage_option"),
    ],
    ids=["top-level", "nested"],
)
def test_unknown_yaml_key_is_a_startup_error_naming_it(tmp_path: Path, yaml_text: str, key: str):
    config = tmp_path / "weft.yaml"
    config.write_text(yaml_text)
    completed = serve_expecting_failure(["--config", str(config), "--storage.path", str(tmp_path / "d")], tmp_path)
    assert key in completed.stderr, f"stderr does not name {key!r}:\n{completed.stderr}"


def test_bad_flag_value_is_a_startup_error_naming_it(tmp_path: Path):
    completed = serve_expecting_failure(["--storage.path", str(tmp_path / "d"), *fsync_args("sometimes")], tmp_path)
    assert "sometimes" in completed.stderr and "fsync" in completed.stderr, completed.stderr


def test_missing_config_file_is_a_startup_error(tmp_path: Path):
    missing = tmp_path / "nope.yaml"
    completed = serve_expecting_failure(["--config", str(missing), "--storage.path", str(tmp_path / "d")], tmp_path)
    assert "nope.yaml" in completed.stderr, completed.stderr


def test_env_storage_path_is_honoured(weft_factory, tmp_path: Path):
    env_dir = tmp_path / "from-env"
    server = weft_factory(pass_storage_flag=False, env={"WEFT_STORAGE_PATH": str(env_dir)})
    store_one_span(server)
    assert server.stop() == 0
    assert has_data(env_dir), f"nothing written under WEFT_STORAGE_PATH={env_dir}"
    assert not has_data(server.log_dir / "weft-data"), "default ./weft-data used despite the env var"


def test_flag_beats_env_beats_file(weft_factory, tmp_path: Path):
    file_dir, env_dir, flag_dir = tmp_path / "file", tmp_path / "env", tmp_path / "flag"
    config = tmp_path / "weft.yaml"
    config.write_text(f"storage:\n  path: {file_dir}\n")

    server = weft_factory(data_dir=flag_dir, config_path=config, env={"WEFT_STORAGE_PATH": str(env_dir)})
    store_one_span(server)
    assert server.stop() == 0
    assert has_data(flag_dir) and not has_data(env_dir) and not has_data(file_dir)

    server = weft_factory(pass_storage_flag=False, config_path=config, env={"WEFT_STORAGE_PATH": str(env_dir)})
    store_one_span(server)
    assert server.stop() == 0
    assert has_data(env_dir) and not has_data(file_dir)

    server = weft_factory(pass_storage_flag=False, config_path=config)
    store_one_span(server)
    assert server.stop() == 0
    assert has_data(file_dir)


def test_yaml_file_sets_listeners_and_storage(weft_factory, tmp_path: Path):
    data_dir = tmp_path / "yaml-data"
    config = tmp_path / "weft.yaml"

    def write_config(server: WeftServer) -> None:
        config.write_text(
            "http:\n"
            f"  listen: 127.0.0.1:{server.http_port}\n"
            "zipkin:\n"
            f"  listen: 127.0.0.1:{server.zipkin_port}\n"
            "otlp:\n"
            "  grpc:\n"
            f"    listen: 127.0.0.1:{server.otlp_grpc_port}\n"
            "  http:\n"
            f"    listen: 127.0.0.1:{server.otlp_http_port}\n"
            "storage:\n"
            f"  path: {data_dir}\n"
            "ingester:\n"
            "  max_block_duration: 5m\n"
        )

    server = weft_factory(
        pass_storage_flag=False,
        config_path=config,
        listen_overrides={flag: None for flag in MANAGED},
        prepare=write_config,
    )
    store_one_span(server)
    assert server.stop() == 0
    assert has_data(data_dir)


def test_listener_can_be_switched_off(weft_factory):
    server = weft_factory(listen_overrides={"--otlp.grpc.listen": "off"})
    store_one_span(server)  # the others still work
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.otlp_grpc_port), timeout=2).close()
