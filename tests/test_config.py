"""Settings: limits from config.yaml and the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from hive_mcp.config import Settings
from hive_mcp.errors import UsageError
from hive_mcp.runtime import RuntimeLimits


def test_limits_come_from_config_yaml_and_the_environment_wins(tmp_path: Path) -> None:
    def limits(env: dict[str, str], text: str = "") -> RuntimeLimits:
        (tmp_path / "config.yaml").write_text(text)
        return Settings.load({"HIVE_MCP_HOME": str(tmp_path), **env}, cwd=tmp_path).limits

    assert limits({}) == RuntimeLimits(max_concurrent=50, max_input_bytes=1_000_000)
    configured = "limits: {max_concurrent: 3, max_input_bytes: 4096}\n"
    assert limits({}, configured) == RuntimeLimits(max_concurrent=3, max_input_bytes=4096)
    assert limits({"HIVE_MCP_MAX_CONCURRENT": "7"}, configured).max_concurrent == 7
    with pytest.raises(UsageError, match="HIVE_MCP_MAX_INPUT_BYTES must be a whole number above 0"):
        limits({"HIVE_MCP_MAX_INPUT_BYTES": "0"})
    with pytest.raises(UsageError, match=r"limits\.max_concurrent"):
        limits({}, "limits: {max_concurrent: 0}\n")


def test_the_store_is_the_home_file_unless_the_environment_or_config_names_another(
    tmp_path: Path,
) -> None:
    def target(env: dict[str, str], text: str = "") -> str | Path:
        (tmp_path / "config.yaml").write_text(text)
        return Settings.load({"HIVE_MCP_HOME": str(tmp_path), **env}, cwd=tmp_path).store_target

    assert target({}) == tmp_path / "store.db"
    assert target({}, "store: other.db\n") == tmp_path / "other.db"  # relative: to the cwd
    url = "postgresql://hive:s3cret@127.0.0.1:5432/hive"
    assert target({"HIVE_MCP_STORE": url}, "store: other.db\n") == url  # the environment wins
    settings = Settings.load({"HIVE_MCP_HOME": str(tmp_path), "HIVE_MCP_STORE": url})
    assert settings.store_label == "postgresql://hive:***@127.0.0.1:5432/hive"
    with pytest.raises(UsageError, match=r"mysql:// store, which hive-mcp does not know"):
        target({"HIVE_MCP_STORE": "mysql://x@y/z"})


def test_a_password_never_shows_in_how_a_store_url_is_named() -> None:
    from hive_mcp.store import redact_url

    assert redact_url("postgresql://u:pw@h:1/db?sslmode=require") == (
        "postgresql://u:***@h:1/db?sslmode=require"
    )
    assert redact_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert "pw" not in redact_url("postgresql://u:pw@h:notaport/db")
