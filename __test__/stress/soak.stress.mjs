// A write soak (SOAK_SECONDS, default 120): continuous writes, a worker holding a read snapshot
// for part of the time, and online backups. The WAL may grow past its limit while the snapshot
// is held (and the health payload must say so), and must be back under it once the reader is done.
// Every backup passes integrity_check and holds every row acknowledged before it started.
import test from 'node:test'
import assert from 'node:assert/strict'
import { dirname, join } from 'node:path'
import { addon, dbPath, slowCount } from '../helpers.mjs'

const { SQLiteConnectionPool } = addon
const SECONDS = Number(process.env.SOAK_SECONDS ?? 120)
const WAL_LIMIT = 4 * 1024 * 1024
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

test(`a ${SECONDS} s write soak keeps the WAL bounded and its backups whole`, { timeout: (SECONDS + 120) * 1000 }, async () => {
  const path = dbPath('soak')
  const pool = new SQLiteConnectionPool(path, { maxReaders: 2, maxWorkers: 2, walLimit: WAL_LIMIT, queryTimeout: 600_000 })
  await pool.write('CREATE TABLE log(id INTEGER PRIMARY KEY, body TEXT NOT NULL)')
  await pool.write('CREATE TABLE kv(k INTEGER PRIMARY KEY, v TEXT NOT NULL)')

  // Ids are issued in order; `watermark` is the lowest id not yet acknowledged.
  let next = 1
  const pending = new Set()
  const watermark = () => (pending.size ? Math.min(...pending) : next)
  let stop = false
  let acked = 0
  const body = 'x'.repeat(100)
  const writers = Array.from({ length: 32 }, async () => {
    while (!stop) {
      const id = next++
      pending.add(id)
      if (id % 2) await pool.write('INSERT INTO log(id, body) VALUES (?, ?)', [id, body])
      else await pool.transaction([
        { sql: 'INSERT INTO log(id, body) VALUES (?, ?)', params: [id, body] },
        { sql: 'INSERT OR REPLACE INTO kv(k, v) VALUES (?, ?)', params: [id % 5_000, body] },
      ])
      pending.delete(id)
      acked++
      // Paced to a few thousand writes a second, so two minutes do not fill the disk.
      await sleep(8)
    }
  })

  const overLimitSeen = []
  const monitor = setInterval(() => {
    const wal = pool.poolHealth().wal
    if (wal.over_limit) overLimitSeen.push(wal.wal_bytes)
  }, 50)

  // A worker holds a snapshot (one long query) during the first third.
  const holdUntil = Date.now() + (SECONDS * 1000) / 3
  const holder = (async () => {
    let held = 0
    while (Date.now() < holdUntil) {
      await pool.executeInWorker(`SELECT count(*) AS n FROM log, (${slowCount(2_000_000)})`)
      held++
    }
    return held
  })()

  const backups = []
  const backupEvery = (SECONDS * 1000) / 4
  const end = Date.now() + SECONDS * 1000
  for (let n = 0; Date.now() + 1000 < end; n++) {
    await sleep(Math.min(backupEvery, end - Date.now() - 1000))
    const before = watermark()
    const made = await pool.backup(join(dirname(path), `soak-${n}.db`))
    backups.push({ made, before })
  }
  stop = true
  await Promise.all(writers)
  assert.ok((await holder) >= 1)

  // Once no snapshot is held, the writer's next checks bring the WAL back under its limit.
  let wal
  for (let i = 0; i < 100; i++) {
    await pool.write('INSERT OR REPLACE INTO kv(k, v) VALUES (0, ?)', [String(i)])
    await sleep(100)
    wal = pool.poolHealth().wal
    if (wal.wal_bytes <= WAL_LIMIT) break
  }
  clearInterval(monitor)
  assert.ok(wal.wal_bytes <= WAL_LIMIT, `WAL still ${wal.wal_bytes} bytes`)
  assert.equal(wal.over_limit, false)

  const { n } = await pool.get('SELECT count(*) AS n FROM log')
  assert.equal(n, acked, 'every acknowledged write is in the database')
  assert.ok(backups.length >= 3, `only ${backups.length} backups`)
  for (const { made, before } of backups) {
    assert.equal(made.integrity, 'ok')
    const copy = new SQLiteConnectionPool(made.path, { maxReaders: 1, maxWorkers: 1 })
    assert.deepEqual(await copy.read('PRAGMA integrity_check'), [{ integrity_check: 'ok' }])
    const { held } = await copy.get('SELECT count(*) AS held FROM log WHERE id < ?', [before])
    assert.equal(held, before - 1, `${made.path} lacks rows acknowledged before it started`)
    await copy.close()
  }
  const stats = pool.getStats()
  await pool.close()
  console.log(JSON.stringify({
    seconds: SECONDS,
    acknowledgedWrites: acked,
    commits: stats.commits,
    walOverLimitSamples: overLimitSeen.length,
    walPeakBytes: Math.max(0, ...overLimitSeen),
    truncateCheckpoints: wal.truncate_checkpoints,
    finalWalBytes: wal.wal_bytes,
    backups: backups.map((b) => ({ rowsBefore: b.before - 1, bytes: b.made.bytes, ms: Math.round(b.made.durationMs) })),
  }))
})
