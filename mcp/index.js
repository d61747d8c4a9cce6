// `require('swarm-persistence/mcp')`: MCP tool definitions over a SwarmPersistencePooled, and the
// SDK server that serves them (`swarm-persistence mcp` runs it on stdio). The SDK, an optional
// peer dependency, loads only when a server is made, so `mcpTools` works without it.
'use strict'
const { mcpTools } = require('./tools')
const { createServer, serve } = require('./server')

module.exports = { mcpTools, createServer, serve }
