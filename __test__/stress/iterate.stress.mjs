// iterate() holds bounded memory: 1,000,000 rows of ~100 bytes streamed through `for await` grow
// RSS by far less than 100 MB (read() of the same rows holds them all, ~450 MB), whether they
// are computed by the query or read from a table. And iterations holding snapshots one after
// another under continuous writes do not let the WAL grow past 3 × walLimit.
import test from 'node:test'
import assert from 'node:assert/strict'
import v8 from 'node:v8'
import vm from 'node:vm'
import { statSync } from 'node:fs'
import { addon, dbPath } from '../helpers.mjs'

const { SQLiteConnectionPool } = addon
const MiB = 1024 * 1024
const ROWS = 1_000_000
const BUDGET = 100 * MiB

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc')

const generated = `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${ROWS})
  SELECT x AS id, printf('%.80c', 'p') || x AS payload, x * 0.5 AS score FROM c`

/** Streams `sql`, checking every row, and returns the row count and the peak RSS growth. */
async function stream(pool, sql, batchSize) {
  gc()
  const base = process.memoryUsage.rss()
  let peak = base
  let n = 0
  for await (const row of pool.iterate(sql, [], { batchSize })) {
    n += 1
    if (row.id !== n || row.payload.length < 80) throw new Error(`row ${n}: ${JSON.stringify(row)}`)
    if (n % 10_000 === 0) peak = Math.max(peak, process.memoryUsage.rss())
  }
  return { n, growth: peak - base }
}

test('1,000,000 generated rows stream in well under 100 MB of RSS growth', { timeout: 300_000 }, async () => {
  const pool = new SQLiteConnectionPool(dbPath('iterate-rss'), { queryTimeout: 60_000 })
  await pool.get('SELECT 1')
  for (const batchSize of [256, 2000]) {
    const started = Date.now()
    const { n, growth } = await stream(pool, generated, batchSize)
    console.log(`batchSize ${batchSize}: ${n} rows in ${Date.now() - started} ms, RSS growth ${(growth / MiB).toFixed(1)} MiB`)
    assert.equal(n, ROWS)
    assert.ok(growth < BUDGET, `RSS grew ${(growth / MiB).toFixed(1)} MiB`)
  }
  await pool.close()
})

test('1,000,000 rows of a table stream in well under 100 MB of RSS growth', { timeout: 300_000 }, async () => {
  // No memory-mapped reads and a small page cache, so RSS shows the stream, not cached file pages.
  const pool = new SQLiteConnectionPool(dbPath('iterate-rss-table'), { mmapSize: 0, cacheSize: -2000, queryTimeout: 60_000 })
  await pool.write('CREATE TABLE t(id INTEGER PRIMARY KEY, payload TEXT, score REAL)')
  await pool.write(`INSERT INTO t ${generated}`)
  const started = Date.now()
  const { n, growth } = await stream(pool, 'SELECT id, payload, score FROM t ORDER BY id', 256)
  console.log(`table: ${n} rows in ${Date.now() - started} ms, RSS growth ${(growth / MiB).toFixed(1)} MiB`)
  assert.equal(n, ROWS)
  assert.ok(growth < BUDGET, `RSS grew ${(growth / MiB).toFixed(1)} MiB`)
  // For comparison: read() holds every row at once.
  gc()
  const before = process.memoryUsage.rss()
  const all = await pool.read('SELECT id, payload, score FROM t')
  console.log(`read(): ${all.length} rows, RSS growth ${((process.memoryUsage.rss() - before) / MiB).toFixed(1)} MiB`)
  await pool.close()
})

test('iterations coming and going under continuous writes keep the WAL within 3 × walLimit', { timeout: 120_000 }, async () => {
  const WAL_LIMIT = 4 * MiB
  const path = dbPath('iterate-wal')
  const pool = new SQLiteConnectionPool(path, { walLimit: WAL_LIMIT, maxReaders: 3 })
  await pool.write('CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)')
  const wal = () => {
    try {
      return statSync(`${path}-wal`).size
    } catch {
      return 0
    }
  }
  const payload = 'p'.repeat(200)
  let stop = false
  let inserted = 0
  let iterations = 0
  let reads = 0
  let largest = 0
  const inserters = Array.from({ length: 8 }, async () => {
    while (!stop) {
      await pool.write('INSERT INTO t(v) VALUES (?)', [payload])
      inserted++
    }
  })
  // Two readers of three always hold an iteration's snapshot, one after another.
  const iterators = Array.from({ length: 2 }, async () => {
    while (!stop) {
      for await (const row of pool.iterate('SELECT * FROM t ORDER BY id DESC LIMIT 20000', [], { batchSize: 500 })) {
        if (row.v !== payload) throw new Error('bad row')
      }
      iterations++
    }
  })
  const readers = Array.from({ length: 4 }, async () => {
    while (!stop) {
      await pool.get('SELECT v FROM t WHERE id = ?', [inserted])
      reads++
    }
  })
  const started = Date.now()
  while (Date.now() - started < 15_000) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    largest = Math.max(largest, wal())
  }
  stop = true
  await Promise.all([...inserters, ...iterators, ...readers])
  console.log(`${inserted} inserts, ${iterations} iterations, ${reads} reads; largest WAL ${(largest / MiB).toFixed(1)} MiB`, pool.poolHealth().wal)
  assert.ok(iterations > 10 && inserted > 1000 && reads > 1000)
  assert.ok(largest <= 3 * WAL_LIMIT, `WAL reached ${(largest / MiB).toFixed(1)} MiB`)
  await pool.close()
})
