"""A foreign client: the official MCP TypeScript SDK drives hive-mcp over stdio and HTTP.

The SDK comes from npm. It is installed once into a cache folder outside the tracked
files (under the pytest cache) and reused by later runs; only that install touches the
network, and only the npm registry. At run time everything stays on 127.0.0.1.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.test_transports import TOKEN, env_for, free_port, http_server

# The first run installs the SDK (npm's own timeout below); later runs take seconds.
pytestmark = pytest.mark.timeout(240)

FOREIGN = Path(__file__).resolve().parent / "foreign"
SDK = "@modelcontextprotocol/sdk"
NEEDED_TOOLS = {"start_execution", "get_events", "send_input", "get_execution", "run_support_desk"}


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    # Several pytest runs may share the cache folder; one npm install at a time.
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _cache_folder(config: pytest.Config) -> Path:
    cache = getattr(config, "cache", None)  # absent under -p no:cacheprovider
    if cache is not None:
        return Path(cache.mkdir("hive-mcp-node"))
    return Path.home() / ".cache" / "hive-mcp-tests" / "node"


def _install(folder: Path, npm: str) -> None:
    """npm install the pinned SDK into `folder`, unless that exact install is already there."""
    install_npm_manifest(folder, npm, (FOREIGN / "package.json").read_text(), SDK)


def install_npm_manifest(folder: Path, npm: str, manifest: str, label: str) -> None:
    """npm install the packages of ``manifest`` into ``folder``, once per exact manifest."""
    done_marker = folder / "installed-package.json"  # written only after a complete install
    if done_marker.exists() and done_marker.read_text() == manifest:
        return
    (folder / "package.json").write_text(manifest)
    # --ignore-scripts: no package's install script may fetch anything from elsewhere;
    # --no-audit/--no-fund: no requests beyond the packages themselves.
    done = subprocess.run(
        [npm, "install", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline"],
        cwd=folder,
        env=os.environ | {"npm_config_update_notifier": "false"},
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"npm install of {label} failed in {folder}:\n{done.stderr}")
    done_marker.write_text(manifest)


@pytest.fixture(scope="module")
def ts_client(pytestconfig: pytest.Config) -> list[str]:
    """The command that runs tests/foreign/ts_client.mjs with the SDK resolvable."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("node and npm (Node.js 20+) must be on PATH for the TypeScript client tests")
    folder = _cache_folder(pytestconfig)
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder / ".lock"):
        _install(folder, npm)
        # ESM imports ignore NODE_PATH: node finds packages by walking up from the
        # script's real path, so the script must sit next to node_modules. Replace it
        # atomically: another run may be starting node on the old copy right now.
        with tempfile.NamedTemporaryFile("wb", dir=folder, suffix=".mjs", delete=False) as tmp:
            tmp.write((FOREIGN / "ts_client.mjs").read_bytes())
        os.replace(tmp.name, folder / "ts_client.mjs")
    return [node, str(folder / "ts_client.mjs")]


def _run(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, f"TypeScript client failed:\n{done.stderr}"
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    result: dict[str, Any] = json.loads(lines[0])
    return result


def _assert_conversation_completed(result: dict[str, Any]) -> None:
    assert set(result["tools"]) >= NEEDED_TOOLS
    assert result["status"] == "completed"
    assert result["reply"].endswith("(see kb-101)")


def test_the_typescript_sdk_drives_a_conversation_over_stdio(
    ts_client: list[str], tmp_path: Path
) -> None:
    server = [sys.executable, "-m", "hive_mcp", "serve"]
    result = _run([*ts_client, "stdio", *server], env=env_for(tmp_path))
    _assert_conversation_completed(result)


def test_the_typescript_sdk_drives_a_conversation_over_http_with_a_bearer_token(
    ts_client: list[str], tmp_path: Path
) -> None:
    port = free_port()
    with http_server(tmp_path, port):
        # The client reads the token from HIVE_MCP_TOKEN and sends it as a bearer header.
        result = _run(
            [*ts_client, "http", f"http://127.0.0.1:{port}/mcp"],
            env=env_for(tmp_path) | {"HIVE_MCP_TOKEN": TOKEN},
        )
    _assert_conversation_completed(result)
