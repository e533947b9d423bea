"""hive-mcp: run agent graphs and expose them to MCP hosts as tools."""

__version__ = "0.1.0"
