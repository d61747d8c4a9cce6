#!/usr/bin/env node
// swarm-persistence [run] …   the main job (see --help)
// swarm-persistence mcp …     an MCP stdio server over a database
'use strict'

async function cli(argv) {
  const [command, ...rest] = argv
  if (command === 'mcp') return require('../mcp/server').serve(rest)
  const { main } = require('./main-job')
  return main(command === 'run' ? rest : argv)
}

cli(process.argv.slice(2)).then(
  (code) => { if (typeof code === 'number') process.exitCode = code },
  (err) => {
    console.error(`swarm-persistence: ${err.code ? `${err.code}: ` : ''}${err.message}`)
    process.exitCode = 2
  },
)
