#!/usr/bin/env node
// A minimal stdio MCP server (official SDK) with one tool, `ping`, for the contract tests of
// Claude Code's `.mcp.json` approval and health check.
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";

const server = new McpServer({ name: "e2e-stdio", version: "1.0.0" });
server.tool("ping", "Answers pong.", async () => ({ content: [{ type: "text", text: "pong" }] }));
await server.connect(new StdioServerTransport());
