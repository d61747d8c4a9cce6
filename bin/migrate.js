// swarm-persistence migrate --from ./data/swarm.db --to postgres://… [--merge] [--batch N] [--json]
// Copies a SQLite database into PostgreSQL and verifies it (see copyToPostgres in the README).
'use strict'
const { parseArgs } = require('node:util')

const HELP = `Usage: swarm-persistence migrate --from <sqlite file> --to <postgres:// URL> [options]

Copies every table into PostgreSQL in batches, then verifies each table's row count and
checksum. Safe to re-run: rows already there are skipped, so an interrupted copy resumes.
A target holding different data is refused unless --merge is given.

  --from <file>   the SQLite database (default: POOL_DB_PATH, else ./data/swarm.db)
  --to <url>      the PostgreSQL database (default: POOL_DB_URL)
  --merge         add the rows the target lacks; keep the target's version of rows that differ
  --batch <n>     rows per INSERT (default 500)
  --json          print the report as JSON on stdout (progress still goes to stderr)
  -h, --help      this text
`

function usage(message) {
  return Object.assign(new Error(message), { code: 'INVALID_ARGUMENT' })
}

async function migrate(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      from: { type: 'string' },
      to: { type: 'string' },
      merge: { type: 'boolean', default: false },
      batch: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    process.stdout.write(HELP)
    return 0
  }
  const from = values.from ?? process.env.POOL_DB_PATH ?? './data/swarm.db'
  const to = values.to ?? process.env.POOL_DB_URL
  if (!to) throw usage('--to <postgres:// URL> is required (or set POOL_DB_URL)')
  const batchSize = values.batch === undefined ? undefined : Number(values.batch)
  if (values.batch !== undefined && !Number.isInteger(batchSize)) throw usage(`--batch ${values.batch}: not a whole number`)
  const { copyToPostgres } = require('../lib/index.js')
  const report = await copyToPostgres(from, to, { merge: values.merge, batchSize, progress: true })
  if (values.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
  } else {
    for (const t of report.tables) {
      console.log(`${t.table}: ${t.sourceRows} rows, ${t.copied} copied, ${t.alreadyThere} already there` +
        `${t.conflicts ? `, ${t.conflicts} kept as the target had them` : ''}; checksum ${t.targetChecksum}`)
    }
    console.log(`verified: ${report.from} → ${report.to}`)
  }
  return 0
}

module.exports = { migrate }
