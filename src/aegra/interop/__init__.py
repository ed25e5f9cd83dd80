"""Agent interop protocols served beside the Agent Protocol API: MCP at `/mcp`, A2A at `/a2a/{assistant_id}`.

Their SDKs (`mcp`, `a2a-sdk`) are imported on the first request to their routes, so a server that never sees
one does not pay for importing them at startup.
"""
