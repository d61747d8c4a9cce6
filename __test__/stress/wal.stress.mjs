// The WAL stays bounded under sustained mixed load (WAL_SECONDS, default 60): 16 loops of point
// reads, 16 loops of ~200-byte inserts and an aggregate on a worker every 500 ms never leave the
// readers idle, so without coordination no checkpoint could ever reset the WAL (checkpoint
// starvation). The sampled WAL file stays within 3 × walLimit, stats report its real size, and
// after 2 s idle it is back within walLimit.
import test from 'node:test'
import assert from 'node:assert/strict'
import { statSync } from 'node:fs'
import { addon, dbPath } from '../helpers.mjs'

const { SQLiteConnectionPool } = addon
const SECONDS = Number(process.env.WAL_SECONDS ?? 60)
const WAL_LIMIT = 4 * 1024 * 1024
const MiB = 1024 * 1024
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

const walFile = (path) => {
  try {
    return statSync(`${path}-wal`).size
  } catch {
    return 0
  }
}

test(`${SECONDS} s of continuous mixed load keeps the WAL within 3 × walLimit`, { timeout: (SECONDS + 60) * 1000 }, async () => {
  const path = dbPath('wal-bound')
  const pool = new SQLiteConnectionPool(path, { walLimit: WAL_LIMIT })
  await pool.write('CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL)')
  const payload = 'p'.repeat(200)
  let stop = false
  let inserted = 0
  let reads = 0
  let aggregates = 0
  const inserters = Array.from({ length: 16 }, async () => {
    while (!stop) {
      await pool.write('INSERT INTO t(v) VALUES (?)', [payload])
      inserted++
    }
  })
  const readers = Array.from({ length: 16 }, async () => {
    while (!stop) {
      await pool.get('SELECT id, v FROM t WHERE id = ?', [1 + Math.floor(Math.random() * Math.max(inserted, 1))])
      reads++
    }
  })
  const aggregator = (async () => {
    while (!stop) {
      await pool.executeInWorker('SELECT count(*) AS n, avg(length(v)) AS mean FROM t WHERE id > (SELECT max(id) - 20000 FROM t)')
      aggregates++
      await sleep(500)
    }
  })()

  let peak = 0
  let samples = 0
  let worstMismatch = 0
  const until = Date.now() + SECONDS * 1000
  while (Date.now() < until) {
    const file = walFile(path)
    const reported = pool.getStats().walBytes
    const fileAgain = walFile(path)
    peak = Math.max(peak, file, fileAgain)
    // The file may change between the two reads; compare with the nearer one.
    worstMismatch = Math.max(worstMismatch, Math.min(Math.abs(reported - file), Math.abs(reported - fileAgain)))
    samples++
    await sleep(20)
  }
  stop = true
  await Promise.all([...inserters, ...readers, aggregator])
  const stats = pool.getStats()
  await sleep(2000)
  const idle = walFile(path)
  const health = pool.poolHealth()
  console.log(
    `wal: ${samples} samples, peak ${(peak / MiB).toFixed(2)} MiB (limit ${WAL_LIMIT / MiB} MiB), after 2 s idle ${(idle / MiB).toFixed(2)} MiB; ` +
      `${inserted} inserts, ${reads} reads, ${aggregates} aggregates; checkpoints ${health.wal.checkpoints} ` +
      `(truncate ${health.wal.truncate_checkpoints}, deferred ${health.wal.resets_deferred}); stats vs file within ${(worstMismatch / MiB).toFixed(3)} MiB`,
  )
  assert.ok(inserted > 1000 && reads > 1000 && aggregates > 0, 'the load ran')
  assert.equal((await pool.get('SELECT count(*) AS n FROM t')).n, inserted, 'every acknowledged insert is there')
  assert.ok(peak <= 3 * WAL_LIMIT, `WAL peaked at ${(peak / MiB).toFixed(2)} MiB`)
  assert.ok(idle <= WAL_LIMIT, `WAL after 2 s idle: ${(idle / MiB).toFixed(2)} MiB`)
  assert.equal(health.wal.over_limit, false)
  assert.ok(worstMismatch <= MiB, `stats' WAL size was ${worstMismatch} bytes off the file`)
  assert.ok(stats.checkpoints > 0 && health.wal.truncate_checkpoints > 0, 'checkpoints are counted')
  await pool.close()
})
