from hive_mcp.cli import main

main()
