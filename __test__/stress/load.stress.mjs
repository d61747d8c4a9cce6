// Load: waves of 100,000 concurrent promises (reads, writes, aggregates). Every promise settles,
// nothing is SQLITE_BUSY, no write is lost, nothing is left unhandled, and over 1,000,000
// operations RSS after GC stays within 20% of its level after warm-up.
import test from 'node:test'
import assert from 'node:assert/strict'
import v8 from 'node:v8'
import vm from 'node:vm'
import { addon, dbPath } from '../helpers.mjs'

const { SQLiteConnectionPool } = addon
const WAVE = Number(process.env.LOAD_WAVE ?? 100_000)
const WAVES = Number(process.env.LOAD_WAVES ?? 10)
const KEYS = 10_000

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc')

/** RSS once garbage is collected and freed pages have had time to go back to the system. */
async function settle() {
  let rss = Infinity
  for (let i = 0; i < 8; i++) {
    gc()
    await new Promise((r) => setTimeout(r, 100))
    rss = Math.min(rss, process.memoryUsage().rss)
  }
  return rss
}

test(`${WAVES} waves of ${WAVE} concurrent mixed operations`, { timeout: 600_000 }, async () => {
  const unhandled = []
  const onUnhandled = (err) => unhandled.push(err)
  process.on('unhandledRejection', onUnhandled)
  const pool = new SQLiteConnectionPool(dbPath('load'), { maxReaders: 4, maxWorkers: 2 })
  await pool.write('CREATE TABLE kv(k INTEGER PRIMARY KEY, v INTEGER NOT NULL, n INTEGER NOT NULL DEFAULT 0)')
  await pool.write('CREATE TABLE log(id INTEGER PRIMARY KEY, k INTEGER NOT NULL)')
  const errors = new Map()
  let writes = 0
  let logged = 0
  const levels = []

  for (let wave = 0; wave < WAVES; wave++) {
    const ops = []
    for (let i = 0; i < WAVE; i++) {
      const k = (wave * WAVE + i) % KEYS
      const r = i % 20
      let op
      if (r < 12) op = pool.get('SELECT v FROM kv WHERE k = ?', [k])
      else if (r < 17) {
        op = pool.write('INSERT INTO kv(k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v, n = n + 1', [k, i]).then((x) => { writes++; return x })
      } else if (r < 19) {
        // The log is trimmed each wave so the database keeps its size.
        op = pool.write('INSERT INTO log(k) VALUES (?)', [k]).then((x) => { logged++; return x })
      } else op = pool.executeInWorker('SELECT k % 10 AS bucket, count(*) AS c, sum(v) AS s FROM kv GROUP BY bucket')
      ops.push(op)
    }
    const results = await Promise.allSettled(ops)
    for (const r of results) if (r.status === 'rejected') errors.set(r.reason.code, (errors.get(r.reason.code) ?? 0) + 1)
    const { n } = await pool.get('SELECT count(*) AS n FROM log')
    assert.equal(n, logged, `wave ${wave}: log rows`)
    await pool.write('DELETE FROM log')
    logged = 0
    // Between waves the load pauses and GC runs. The first wave is the warm-up (statement caches,
    // page caches, queue buffers and heap grow to their working size); the baseline is the highest
    // level of the next three (each connection's page cache fills at its own pace), compared with
    // the mean of the last three. A leak shows as a level that keeps rising wave after wave.
    levels.push(await settle())
  }
  const { total } = await pool.get('SELECT sum(n) + count(*) AS total FROM kv')
  assert.equal(total, writes, 'every upsert is counted in the table')
  assert.deepEqual([...errors], [], 'no operation failed (no SQLITE_BUSY, no timeouts)')
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length
  const [baseline, after] = [Math.max(...levels.slice(1, 4)), mean(levels.slice(-3))]
  const stats = pool.getStats()
  await pool.close()
  process.off('unhandledRejection', onUnhandled)
  assert.deepEqual(unhandled, [])
  const growth = (after - baseline) / baseline
  console.log(JSON.stringify({ operations: WAVES * WAVE, writes, commits: stats.commits, rssBaselineMB: Math.round(baseline / 2 ** 20), rssAfterMB: Math.round(after / 2 ** 20), rssPerWaveMB: levels.map((l) => Math.round(l / 2 ** 20)), growthPercent: Math.round(growth * 1000) / 10 }))
  assert.ok(growth < 0.2, `RSS grew ${(growth * 100).toFixed(1)}% (${baseline} → ${after})`)
})
