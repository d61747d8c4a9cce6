#!/usr/bin/env node
// Runs a command with POOL_TEST_PG_URL naming a PostgreSQL database, so that one throwaway cluster
// serves a whole test run (`npm test` runs cargo test and the Node specs under it):
//
//   node bin/with-postgres.js <command> [args…]
//
// A POOL_TEST_PG_URL already set is passed on as is. Otherwise it starts a cluster in a temp folder
// (bin/pg-cluster.js), also sets POOL_TEST_PG_LOG to the server's log, and stops the cluster and
// removes the folder when the command exits, or when this process gets SIGINT, SIGTERM or SIGHUP.
// It exits with the command's exit code (128 + the signal's number when a signal ended it).
// Without PostgreSQL's server programs it warns loudly and runs the command without the variable,
// so the Postgres specs skip; under CI=true it fails instead, before running anything.
'use strict'
const { spawn } = require('node:child_process')
const { constants } = require('node:os')
const { findBinDir, start, stop } = require('./pg-cluster')

const [command, ...args] = process.argv.slice(2)
if (!command) {
  console.error('usage: node bin/with-postgres.js <command> [args…]')
  process.exit(2)
}

let child = null
let cluster = null
let forwarded = false
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    // The first signal goes to the command, which ends as it would alone; the cluster stops when
    // it has. A signal before the command runs, or a second one, ends everything now.
    if (child && !forwarded) {
      forwarded = true
      child.kill(signal)
      return
    }
    finish(128 + constants.signals[signal])
  })
}

main().catch((e) => {
  console.error(`with-postgres: ${e.message}`)
  finish(1)
})

async function main() {
  if (process.env.POOL_TEST_PG_URL) return run(process.env)
  if (!findBinDir()) {
    warnSkipped()
    if (process.env.CI === 'true') return finish(1)
    return run(process.env)
  }
  cluster = await start()
  console.error(`with-postgres: PostgreSQL cluster at ${cluster.url} (${cluster.dir})`)
  run({ ...process.env, POOL_TEST_PG_URL: cluster.url, POOL_TEST_PG_LOG: cluster.log })
}

/** Runs the command with `env`, and finishes with its exit code. */
function run(env) {
  child = spawn(command, args, { stdio: 'inherit', env })
  child.on('error', (e) => {
    console.error(`with-postgres: cannot run ${command}: ${e.message}`)
    finish(127)
  })
  child.on('exit', (code, signal) => finish(code ?? 128 + constants.signals[signal]))
}

/** Stops the cluster (if one was started) and exits. */
function finish(code) {
  if (cluster) stop(cluster)
  // pg-cluster also stops, at exit, a cluster whose start() was still under way.
  process.exit(code)
}

function warnSkipped() {
  const ci = process.env.CI === 'true'
  const lines = [
    '',
    '################################################################################',
    ci ? '#  CI=true and NO PostgreSQL: FAILING (CI must run the Postgres specs)'
      : '#  NO PostgreSQL: the Postgres specs are SKIPPED',
    '#',
    '#  POOL_TEST_PG_URL is not set, and no PostgreSQL server programs (initdb and',
    '#  pg_ctl) were found through `pg_config --bindir` or in /usr/lib/postgresql/*/bin.',
    '#  To run them, either',
    '#    - install the server: apt-get install postgresql',
    '#      (each test run then starts a throwaway cluster of its own), or',
    '#    - point the tests at a database they may fill and empty:',
    '#      POOL_TEST_PG_URL=postgres://user@host:port/db npm test',
    '################################################################################',
    '',
  ]
  console.error(lines.join('\n'))
}
