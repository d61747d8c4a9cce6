// `swarm-persistence mcp --db PATH`: an MCP server on stdio (official SDK) serving `mcpTools`.
// stdout carries the protocol, so everything else goes to stderr. The SDK loads on first use.
'use strict'
const { parseArgs } = require('node:util')
const { SwarmPersistencePooled } = require('..')
const { loadSdk } = require('./sdk')
const { InflightTransport } = require('./inflight')
const { mcpTools } = require('./tools')
const { version } = require('../package.json')

const HELP = `usage: swarm-persistence mcp [--db PATH]
  Serves the swarm-persistence MCP tools over stdio (needs @modelcontextprotocol/sdk).
  --db PATH   database file (default ./data/swarm.db, or POOL_DB_PATH); POOL_* variables configure the pool
  When stdin ends, every call already received is answered, then the pool closes and the process exits.`

/** Builds an SDK server answering tools/list and tools/call from `tools`. */
function createServer(tools) {
  const { Server, CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError } = loadSdk()
  const byName = new Map(tools.map((t) => [t.name, t]))
  const server = new Server({ name: 'swarm-persistence', version }, { capabilities: { tools: {} } })
  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: tools.map(({ name, title, description, inputSchema, outputSchema, annotations }) => ({
      name, title, description, inputSchema, outputSchema, annotations,
    })),
  }))
  server.setRequestHandler(CallToolRequestSchema, async (request) => {
    const tool = byName.get(request.params.name)
    if (!tool) throw new McpError(ErrorCode.InvalidParams, `unknown tool ${request.params.name}`)
    return tool.handler(request.params.arguments)
  })
  return server
}

async function serve(argv) {
  const { values } = parseArgs({ args: argv, options: { db: { type: 'string' }, help: { type: 'boolean', default: false } } })
  if (values.help) {
    console.error(HELP)
    return 0
  }
  // Before opening the database: a missing SDK is reported without touching any file.
  const { StdioServerTransport } = loadSdk()
  const persistence = new SwarmPersistencePooled(values.db ?? process.env.POOL_DB_PATH ?? null)
  await persistence.initialize()
  const server = createServer(mcpTools(persistence))
  const transport = new InflightTransport(new StdioServerTransport())
  let closing
  const shutdown = () => {
    // No new calls from here on; the ones already read finish and are answered first.
    process.stdin.pause()
    closing ??= transport
      .drained()
      .then(() => server.close())
      .catch(() => {})
      .then(() => persistence.close())
      .then(() => console.error('swarm-persistence MCP server closed'))
      .catch((err) => {
        console.error(`swarm-persistence mcp: close failed: ${err.code ?? ''} ${err.message}`)
        process.exitCode = 1
      })
    return closing
  }
  process.stdin.once('end', shutdown)
  process.once('SIGINT', shutdown)
  process.once('SIGTERM', shutdown)
  await server.connect(transport)
  console.error(`swarm-persistence MCP server on stdio, database ${persistence.dbPath}`)
}

module.exports = { serve, createServer }
