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
