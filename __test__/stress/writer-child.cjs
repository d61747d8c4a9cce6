// One of several processes writing the same database: `setup` creates the tables, `write N` inserts N rows tagged WHO in
// concurrent waves; `hold MS` keeps the write lock busy with one long statement. Prints a JSON
// summary on stdout.
'use strict'
const { SQLiteConnectionPool } = require('../../lib/index.js')

const [path, mode, who, arg, busyTimeout] = process.argv.slice(2)

async function main() {
  const pool = new SQLiteConnectionPool(path, { maxReaders: 1, maxWorkers: 1, busyTimeout: Number(busyTimeout) })
  if (mode === 'setup') {
    await pool.write('CREATE TABLE rows(id INTEGER PRIMARY KEY, who TEXT NOT NULL, i INTEGER NOT NULL)')
    await pool.write('CREATE TABLE filler(x INTEGER)')
    await pool.close()
    return process.stdout.write(`${JSON.stringify({ who, ok: 1, errors: {} })}\n`)
  }
  const errors = {}
  let ok = 0
  const started = Date.now()
  if (mode === 'write') {
    const n = Number(arg)
    for (let base = 0; base < n; base += 500) {
      const wave = Array.from({ length: Math.min(500, n - base) }, (_, k) => pool.write('INSERT INTO rows(who, i) VALUES (?, ?)', [who, base + k]))
      for (const r of await Promise.allSettled(wave)) {
        if (r.status === 'fulfilled') ok++
        else errors[r.reason.code] = (errors[r.reason.code] ?? 0) + 1
      }
    }
  } else {
    // A statement long enough to hold the write lock for a while.
    process.stdout.write('holding\n')
    await pool.write(`INSERT INTO filler WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${Number(arg)}) SELECT x FROM c`)
    ok = 1
  }
  await pool.close()
  process.stdout.write(`${JSON.stringify({ who, ok, errors, ms: Date.now() - started })}\n`)
}

main().catch((err) => {
  process.stdout.write(`${JSON.stringify({ who, fatal: `${err.code}: ${err.message}` })}\n`)
  process.exitCode = 1
})
