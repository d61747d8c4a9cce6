#!/usr/bin/env node
// swarm-persistence [run] …   the main job (see --help)
// swarm-persistence mcp …     an MCP stdio server over a database
// swarm-persistence migrate … copies a SQLite database into PostgreSQL
'use strict'

// Errors that mean "fix the command line or the POOL_* settings" exit 2; anything else exits 1.
const USAGE_CODES = new Set(['INVALID_ARGUMENT', 'INVALID_CONFIG'])
const isUsageError = (err) => USAGE_CODES.has(err.code) || String(err.code).startsWith('ERR_PARSE_ARGS')

async function cli(argv) {
  const [command, ...rest] = argv
  if (command === 'mcp') return require('../mcp/server').serve(rest)
  if (command === 'migrate') return require('./migrate').migrate(rest)
  const { main } = require('./main-job')
  return main(command === 'run' ? rest : argv)
}

cli(process.argv.slice(2)).then(
  (code) => { if (typeof code === 'number') process.exitCode = code },
  (err) => {
    // One line, whatever the message: parseArgs' messages span several.
    const message = String(err?.message ?? err).replace(/\s*\n\s*/g, ' ')
    console.error(`swarm-persistence: ${err?.code ? `${err.code}: ` : ''}${message}`)
    process.exitCode = err && isUsageError(err) ? 2 : 1
  },
)
