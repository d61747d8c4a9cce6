// The official MCP SDK, loaded on first use: it is an optional peer dependency, needed only to
// serve the tools (`swarm-persistence mcp`), never to define them (`mcpTools`).
'use strict'

const INSTALL =
  'the MCP server needs @modelcontextprotocol/sdk, which is not installed: run `npm install @modelcontextprotocol/sdk`, ' +
  'or start the server with `npx -y -p @modelcontextprotocol/sdk -p swarm-persistence swarm-persistence mcp --db PATH`'

let loaded

/** `{ Server, StdioServerTransport, CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError }`; throws MCP_SDK_MISSING. */
function loadSdk() {
  if (loaded) return loaded
  try {
    const { Server } = require('@modelcontextprotocol/sdk/server/index.js')
    const { StdioServerTransport } = require('@modelcontextprotocol/sdk/server/stdio.js')
    const { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError } = require('@modelcontextprotocol/sdk/types.js')
    loaded = { Server, StdioServerTransport, CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError }
    return loaded
  } catch (err) {
    // Only the SDK itself missing is an install problem; a module missing inside it is a broken install.
    if (err?.code === 'MODULE_NOT_FOUND' && String(err.message).startsWith("Cannot find module '@modelcontextprotocol/sdk/")) {
      throw Object.assign(new Error(INSTALL), { code: 'MCP_SDK_MISSING' })
    }
    throw err
  }
}

module.exports = { loadSdk }
