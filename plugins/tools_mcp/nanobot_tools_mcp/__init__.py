"""nanobot plugin ``tools_mcp``: the tools of Model Context Protocol servers, for the agent."""
