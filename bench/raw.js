// The no-JavaScript limit each SQLite workload is also reported against: examples/raw_limit.rs
// (rusqlite alone on connections opened as the pool opens them), built and run in the same
// benchmark run as the Node peers. See that file for what each rate measures.
'use strict'
const { execFileSync } = require('node:child_process')
const { join } = require('node:path')

const root = join(__dirname, '..')

/** { threads, insert, read, update, upsert }: medians of `runs` runs, operations per second. */
function rawLimit(runs) {
  execFileSync('cargo', ['build', '--release', '--quiet', '--example', 'raw_limit'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] })
  const out = execFileSync(join(root, 'target', 'release', 'examples', 'raw_limit'), {
    env: { ...process.env, RAW_RUNS: String(runs) },
    encoding: 'utf8',
  })
  return JSON.parse(out)
}

/**
 * Workload `key`'s limit in its table's unit, and how it was measured: W1 inserts, W2 and W4
 * point reads, W3 80% reads and 20% updates (the time of 0.8 read + 0.2 update per operation),
 * W5 upserts.
 */
function limitOf(key, raw) {
  const readers = `${raw.threads} thread${raw.threads === 1 ? '' : 's'}`
  switch (key) {
    case 'W1': return { rate: raw.insert, how: 'one transaction, one thread' }
    case 'W2': return { rate: raw.read, how: `${readers}, one read transaction each` }
    case 'W3': return { rate: 1 / (0.8 / raw.read + 0.2 / raw.update), how: `reads on ${readers}, updates in one transaction` }
    case 'W4': return { rate: raw.read, how: `point reads on ${readers}, nothing else running` }
    case 'W5': return { rate: raw.upsert, how: 'one transaction, one thread' }
    default: return undefined
  }
}

module.exports = { rawLimit, limitOf }
