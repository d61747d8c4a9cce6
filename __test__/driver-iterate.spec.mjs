// iterate(): rows streamed in chunks from one snapshot on a reader, released when the loop ends,
// when the consumer stalls past queryTimeout, and when the pool closes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { statSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { Worker } from 'node:worker_threads'
import { once } from 'node:events'
import v8 from 'node:v8'
import vm from 'node:vm'
import { addon, dbPath, rejectsWith } from './helpers.mjs'

const { SQLiteConnectionPool } = addon
v8.setFlagsFromString('--expose-gc')
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const rowsUpTo = (n) =>
  `INSERT INTO t(id, v) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${n}) SELECT x, 'v' || x FROM c`

async function withRows(n, options = {}) {
  const pool = new SQLiteConnectionPool(dbPath('iterate'), { maxReaders: 2, maxWorkers: 1, ...options })
  await pool.write('CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)')
  if (n > 0) await pool.write(rowsUpTo(n))
  return pool
}

async function collect(iterator) {
  const rows = []
  for await (const row of iterator) rows.push(row)
  return rows
}

/** Resolves to what `promise` gives, or to 'stuck' after `ms`. */
const within = (promise, ms) => Promise.race([promise, sleep(ms).then(() => 'stuck')])

test('rows are those read() returns, for any batch size', async () => {
  const pool = new SQLiteConnectionPool(dbPath('iterate-values'), { safeIntegers: true })
  await pool.write('CREATE TABLE v(i INTEGER, r REAL, s TEXT, b BLOB, n)')
  const values = [
    [1, 1.5, 'one', Buffer.from([1, 2]), null],
    [2n ** 60n, -0.25, '', Buffer.alloc(0), 7],
    [-3, 1e300, 'ünïcödé', Buffer.from('x'), 'mixed'],
  ]
  for (let k = 0; k < 40; k++) {
    for (const row of values) await pool.write('INSERT INTO v VALUES (?, ?, ?, ?, ?)', row)
  }
  const sql = 'SELECT rowid AS id, * FROM v ORDER BY rowid'
  const expected = await pool.read(sql)
  assert.equal(expected.length, 120)
  for (const batchSize of [1, 7, 120, 121, 10_000, undefined]) {
    assert.deepEqual(await collect(pool.iterate(sql, [], { batchSize })), expected, `batchSize ${batchSize}`)
  }
  assert.deepEqual(await collect(pool.iterate(sql)), expected)
  const weird = 'SELECT 1 AS "__proto__", 2 AS a, 3 AS a, 4 AS "constructor", 5 AS "then"'
  assert.deepEqual(await collect(pool.iterate(weird)), await pool.read(weird))
  assert.deepEqual(await collect(pool.iterate('SELECT * FROM v WHERE i = ?', [-3])), await pool.read('SELECT * FROM v WHERE i = ?', [-3]))
  assert.deepEqual(await collect(pool.iterate('SELECT * FROM v WHERE 0')), [])
  await pool.close()
})

test('one snapshot: writes made during the iteration are not seen by it', async () => {
  const pool = await withRows(10)
  const seen = []
  for await (const row of pool.iterate('SELECT id FROM t ORDER BY id', [], { batchSize: 2 })) {
    seen.push(row.id)
    if (row.id === 3) {
      await pool.write('DELETE FROM t WHERE id > 5')
      await pool.write('INSERT INTO t(id, v) VALUES (100, ?)', ['late'])
    }
  }
  assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
  assert.deepEqual((await pool.read('SELECT id FROM t')).map((r) => r.id), [1, 2, 3, 4, 5, 100])
  await pool.close()
})

test('leaving the loop frees the only reader at once (break, return, throw)', async () => {
  const pool = await withRows(1000, { maxReaders: 1, queryTimeout: 60_000 })
  for await (const row of pool.iterate('SELECT * FROM t', [], { batchSize: 10 })) {
    if (row.id === 15) break
  }
  assert.equal(pool.getStats().availableReaders, 1)
  assert.deepEqual(await within(pool.get('SELECT count(*) AS n FROM t'), 2000), { n: 1000 })

  const it = pool.iterate('SELECT * FROM t')
  assert.equal((await it.next()).value.id, 1)
  assert.deepEqual(await it.return(undefined), { value: undefined, done: true })
  assert.deepEqual(await it.next(), { value: undefined, done: true })
  assert.deepEqual(await within(pool.get('SELECT 1 AS one'), 2000), { one: 1 })

  await assert.rejects(async () => {
    for await (const row of pool.iterate('SELECT * FROM t')) {
      if (row.id === 3) throw new Error('consumer failed')
    }
  }, /consumer failed/)
  assert.equal(pool.getStats().availableReaders, 1)
  assert.deepEqual(await within(pool.get('SELECT 2 AS two'), 2000), { two: 2 })
  await pool.close()
})

test('an iterator costs nothing until its first next()', async () => {
  const pool = await withRows(10, { maxReaders: 1, queryTimeout: 60_000 })
  const idle = pool.iterate('SELECT * FROM t')
  assert.deepEqual(await within(pool.get('SELECT count(*) AS n FROM t'), 2000), { n: 10 })
  assert.equal((await collect(idle)).length, 10)
  await pool.close()
})

test('after a break the WAL can be reset again', async () => {
  const WAL_LIMIT = 64 * 1024
  const path = dbPath('iterate-wal')
  const pool = new SQLiteConnectionPool(path, { maxReaders: 2, walLimit: WAL_LIMIT, queryTimeout: 60_000 })
  await pool.write('CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)')
  await pool.write(rowsUpTo(100))
  const wal = () => pool.poolHealth().wal
  const payload = 'w'.repeat(2000)
  let before = 0
  for await (const row of pool.iterate('SELECT * FROM t', [], { batchSize: 10 })) {
    if (row.id === 1) {
      // The open iteration pins its snapshot: the writer cannot reset the WAL meanwhile.
      for (let i = 0; i < 200; i++) await pool.write('INSERT INTO t(v) VALUES (?)', [payload])
      assert.ok(wal().wal_bytes > 2 * WAL_LIMIT, `pinned: ${wal().wal_bytes} bytes`)
      assert.ok(wal().resets_deferred > 0)
      before = wal().truncate_checkpoints
      // Point reads on the other reader go on meanwhile: the gate does not wait for the iteration.
      assert.deepEqual(await within(pool.get('SELECT count(*) AS n FROM t'), 2000), { n: 300 })
    }
    if (row.id === 5) break
  }
  for (let i = 0; i < 5; i++) await pool.write('INSERT INTO t(v) VALUES (?)', ['after'])
  const started = Date.now()
  while (wal().wal_bytes > WAL_LIMIT && Date.now() - started < 5000) {
    await pool.write('INSERT INTO t(v) VALUES (?)', ['after'])
    await sleep(10)
  }
  assert.ok(wal().truncate_checkpoints > before, 'a TRUNCATE checkpoint ran after the break')
  assert.ok(wal().wal_bytes <= WAL_LIMIT, `${wal().wal_bytes} bytes`)
  assert.ok(statSync(`${path}-wal`).size <= WAL_LIMIT)
  await pool.close()
})

test('a consumer idle past queryTimeout loses the iteration; the reader was freed at the timeout', async () => {
  const pool = await withRows(100, { maxReaders: 1, queryTimeout: 200 })
  const it = pool.iterate('SELECT * FROM t', [], { batchSize: 50 })
  assert.equal((await it.next()).value.id, 1)
  assert.equal(pool.getStats().availableReaders, 0)
  await sleep(450)
  // No call since: the reader let go on its own.
  assert.equal(pool.getStats().availableReaders, 1)
  assert.deepEqual(await within(pool.get('SELECT 1 AS one'), 1000), { one: 1 })
  // Rows 2..50 were already here, but the iteration is over.
  await rejectsWith(it.next(), 'QUERY_TIMEOUT', /not pulled for 200 ms/)
  assert.deepEqual(await it.next(), { value: undefined, done: true })
  await pool.close()
})

test('a slow consumer that keeps pulling is never timed out, however long a chunk lasts', async () => {
  const pool = await withRows(30, { maxReaders: 1, queryTimeout: 400 })
  const ids = []
  for await (const row of pool.iterate('SELECT id FROM t', [], { batchSize: 100 })) {
    ids.push(row.id)
    if (ids.length <= 10) await sleep(100) // 10 × 100 ms: far past queryTimeout within one chunk
  }
  assert.equal(ids.length, 30)
  await pool.close()
})

test('close() ends open iterations with POOL_CLOSED, promptly', async () => {
  const pool = await withRows(1000, { queryTimeout: 60_000 })
  const it = pool.iterate('SELECT * FROM t', [], { batchSize: 10 })
  await it.next()
  const closed = pool.close()
  assert.notEqual(await within(closed, 3000), 'stuck')
  await rejectsWith(it.next(), 'POOL_CLOSED')
  await rejectsWith(pool.iterate('SELECT 1').next(), 'POOL_CLOSED')
})

test('close() while a chunk is being read: the chunk arrives or POOL_CLOSED, never a hang', async () => {
  const pool = await withRows(0, { queryTimeout: 60_000 })
  // Few rows, far apart: each chunk takes a while to read.
  const slow = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) SELECT x FROM c WHERE x % 500000 = 0'
  const it = pool.iterate(slow, [], { batchSize: 2 })
  const pending = it.next()
  await sleep(5)
  const closed = pool.close()
  const first = await within(pending.then((r) => r.value.x, (e) => e.code), 10_000)
  assert.ok(first === 500000 || first === 'POOL_CLOSED', `first: ${first}`)
  assert.notEqual(await within(closed, 10_000), 'stuck')
  await rejectsWith(it.next(), 'POOL_CLOSED')
})

test('closing one user of a shared pool ends its iterations only', async () => {
  const path = dbPath('iterate-shared')
  const a = new SQLiteConnectionPool(path, { maxReaders: 1, queryTimeout: 60_000 })
  await a.write('CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)')
  await a.write(rowsUpTo(100))
  const b = new SQLiteConnectionPool(path)
  const it = a.iterate('SELECT * FROM t', [], { batchSize: 10 })
  await it.next()
  await a.close()
  await rejectsWith(it.next(), 'POOL_CLOSED')
  // The shared engine's only reader is free for the other user.
  assert.deepEqual(await within(b.get('SELECT count(*) AS n FROM t'), 2000), { n: 100 })
  assert.equal((await collect(b.iterate('SELECT * FROM t'))).length, 100)
  await b.close()
})

test('a statement error mid-stream rejects the next() that meets it, after the rows before it', async () => {
  const pool = await withRows(10)
  // abs() of the smallest integer overflows at id 7.
  const sql = 'SELECT id, abs(CASE WHEN id = 7 THEN -9223372036854775807 - 1 ELSE id END) AS a FROM t ORDER BY id'
  for (const batchSize of [1, 3, 4, 100]) {
    const ids = []
    await rejectsWith(
      (async () => {
        for await (const row of pool.iterate(sql, [], { batchSize })) ids.push(row.id)
      })(),
      'SQLITE_ERROR',
      /integer overflow/,
    )
    // Whole chunks before the failing one arrive; its own rows do not.
    assert.deepEqual(ids, [1, 2, 3, 4, 5, 6].slice(0, Math.floor(6 / batchSize) * batchSize), `batchSize ${batchSize}`)
  }
  assert.equal(pool.getStats().availableReaders, 2)
  await pool.close()
})

test('writes and transaction control are refused like in read()', async () => {
  const pool = await withRows(3)
  for (const sql of ['DELETE FROM t', "INSERT INTO t(v) VALUES ('x') RETURNING id", 'BEGIN', 'COMMIT']) {
    await rejectsWith(pool.iterate(sql).next(), 'READ_ONLY')
  }
  await rejectsWith(pool.iterate('SELECT 1; SELECT 2').next(), 'INVALID_ARGUMENT')
  await rejectsWith(pool.iterate('SELECT nope FROM t').next(), 'SQLITE_ERROR', /no such column/)
  await rejectsWith(pool.iterate('SELECT ?', [1, 2]).next(), 'INVALID_ARGUMENT')
  assert.equal((await pool.get('SELECT count(*) AS n FROM t')).n, 3)
  await pool.close()
})

test('bad arguments reject the first next() with INVALID_ARGUMENT', async () => {
  const pool = await withRows(3)
  for (const batchSize of [0, -1, 1.5, 10_001, NaN, Infinity, '10', 10n, true]) {
    await rejectsWith(pool.iterate('SELECT 1', [], { batchSize }).next(), 'INVALID_ARGUMENT', /batchSize/)
  }
  await rejectsWith(pool.iterate('SELECT 1', [], { raw: true }).next(), 'INVALID_ARGUMENT', /batchSize, not raw/)
  await rejectsWith(pool.iterate('SELECT 1', [], 'fast').next(), 'INVALID_ARGUMENT')
  await rejectsWith(pool.iterate('SELECT 1', [], [5]).next(), 'INVALID_ARGUMENT')
  await rejectsWith(pool.iterate(42).next(), 'INVALID_ARGUMENT')
  await rejectsWith(pool.iterate('SELECT ?', [{ an: 'object' }]).next(), 'INVALID_ARGUMENT')
  const hostile = {
    get batchSize() {
      throw new Error('getter trap')
    },
  }
  await rejectsWith(pool.iterate('SELECT 1', [], hostile).next(), 'INVALID_ARGUMENT', /getter trap/)
  // Nothing was left holding a reader.
  assert.equal(pool.getStats().availableReaders, 2)
  assert.deepEqual(await collect(pool.iterate('SELECT 1 AS one', undefined, { batchSize: undefined })), [{ one: 1 }])
  assert.deepEqual(await collect(pool.iterate('SELECT 1 AS one', null, null)), [{ one: 1 }])
  await pool.close()
})

test('more iterations than readers queue for them and all finish', async () => {
  const pool = await withRows(500, { maxReaders: 2 })
  const counts = await Promise.all(
    Array.from({ length: 12 }, async (_, k) => {
      let n = 0
      for await (const row of pool.iterate('SELECT * FROM t WHERE id % 12 = ?', [k], { batchSize: 3 })) {
        n += row.id % 12 === k ? 1 : 1000
      }
      return n
    }),
  )
  assert.equal(counts.reduce((a, b) => a + b, 0), 500)
  assert.equal(pool.getStats().availableReaders, 2)
  await pool.close()
})

test('an iteration waiting for a reader held by its own consumer is bounded, not a deadlock', async () => {
  const pool = await withRows(20, { maxReaders: 1, queryTimeout: 300 })
  const started = Date.now()
  let inner = 0
  await rejectsWith(
    (async () => {
      for await (const outer of pool.iterate('SELECT id FROM t', [], { batchSize: 5 })) {
        // Needs the only reader, which the outer loop holds until it times out.
        for await (const row of pool.iterate('SELECT id FROM t')) inner += row.id > 0 ? 1 : 0
        void outer
      }
    })(),
    'QUERY_TIMEOUT',
  )
  assert.equal(inner, 20)
  assert.ok(Date.now() - started < 5000)
  await pool.close()
})

test('next() calls made at once are answered in order', async () => {
  const pool = await withRows(10)
  const it = pool.iterate('SELECT id FROM t ORDER BY id', [], { batchSize: 3 })
  const results = await Promise.all(Array.from({ length: 12 }, () => it.next()))
  assert.deepEqual(results.map((r) => r.value?.id), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, undefined, undefined])
  assert.deepEqual(results.map((r) => r.done), [...Array(10).fill(false), true, true])
  await pool.close()
})

test('health checks are answered while an iteration holds a reader', async () => {
  const pool = await withRows(100, { maxReaders: 1, queryTimeout: 60_000 })
  const it = pool.iterate('SELECT * FROM t', [], { batchSize: 10 })
  await it.next()
  assert.notEqual(await within(pool.performHealthCheck(), 3000), 'stuck')
  assert.equal(pool.isHealthy, true)
  assert.equal((await it.next()).value.id, 2)
  await it.return()
  await pool.close()
})

test('iterating needs no timer globals (fake timers installed)', async () => {
  const pool = await withRows(300)
  const saved = { setImmediate, setTimeout, setInterval, clearImmediate }
  Object.assign(globalThis, { setImmediate: () => 0, setTimeout: () => 0, setInterval: () => 0, clearImmediate: () => {} })
  let n = 0
  try {
    for await (const row of pool.iterate('SELECT * FROM t', [], { batchSize: 7 })) {
      n += 1
      if (row.id === 250) break
    }
  } finally {
    Object.assign(globalThis, saved)
  }
  assert.equal(n, 250)
  assert.equal(pool.getStats().availableReaders, 2)
  await pool.close()
})

test('a chunk that reads for longer than queryTimeout is interrupted with QUERY_TIMEOUT', async () => {
  const pool = await withRows(0, { maxReaders: 1, queryTimeout: 100 })
  const endless = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c WHERE x < 0'
  await rejectsWith(pool.iterate(endless).next(), 'QUERY_TIMEOUT', /interrupted/)
  assert.deepEqual(await within(pool.get('SELECT 1 AS one'), 2000), { one: 1 })
  await pool.close()
})

test('persistence.pool iterates, and closing the persistence ends its iterations', async () => {
  const persistence = new addon.SwarmPersistencePooled(dbPath('iterate-persistence'), { maxReaders: 1, queryTimeout: 60_000 })
  await persistence.initialize()
  const pool = persistence.pool
  await pool.write('CREATE TABLE extra(id INTEGER PRIMARY KEY)')
  await pool.write('INSERT INTO extra WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50) SELECT x FROM c')
  const it = pool.iterate('SELECT id FROM extra', [], { batchSize: 5 })
  assert.equal((await it.next()).value.id, 1)
  assert.notEqual(await within(persistence.close(), 5000), 'stuck')
  await rejectsWith(it.next(), 'POOL_CLOSED')
})

const indexPath = JSON.stringify(new URL('../lib/index.js', import.meta.url).pathname)

test('an abandoned, open iteration does not keep the process alive', () => {
  const started = Date.now()
  const child = spawnSync(process.execPath, ['-e', `
    const { SQLiteConnectionPool } = require(${indexPath})
    const pool = new SQLiteConnectionPool(':memory:', { queryTimeout: 60000 })
    pool.iterate("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000) SELECT x FROM c", [], { batchSize: 10 })
      .next().then((r) => console.log('first', r.value.x))`], { encoding: 'utf8', timeout: 20_000 })
  assert.equal(child.status, 0, child.stderr)
  assert.equal(child.stdout.trim(), 'first 1')
  assert.ok(Date.now() - started < 10_000, `exited after ${Date.now() - started} ms`)
})

test('a worker thread terminated mid-iteration leaves the file usable', async () => {
  const path = dbPath('iterate-worker-thread')
  const pool = new SQLiteConnectionPool(path, { maxReaders: 1 })
  await pool.write('CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)')
  await pool.write(rowsUpTo(5000))
  const worker = new Worker(`
    const { parentPort, workerData } = require('node:worker_threads')
    const { SQLiteConnectionPool } = require(workerData.index)
    const pool = new SQLiteConnectionPool(workerData.path, { queryTimeout: 60000 })
    ;(async () => {
      let n = 0
      for await (const row of pool.iterate('SELECT * FROM t', [], { batchSize: 7 })) {
        if (++n === 100) parentPort.postMessage(n)
        await new Promise((r) => setImmediate(r))
      }
    })()`, { eval: true, workerData: { index: JSON.parse(indexPath), path } })
  assert.equal((await once(worker, 'message'))[0], 100)
  await worker.terminate()
  assert.deepEqual(await within(pool.get('SELECT count(*) AS n FROM t'), 5000), { n: 5000 })
  assert.equal((await collect(pool.iterate('SELECT id FROM t'))).length, 5000)
  await pool.close()
})

test('an iteration queued past acquireTimeout rejects POOL_TIMEOUT; past maxQueue, POOL_QUEUE_FULL', async () => {
  const pool = await withRows(100, { maxReaders: 1, acquireTimeout: 100, maxQueue: 1, queryTimeout: 60_000 })
  const holder = pool.iterate('SELECT * FROM t', [], { batchSize: 10 })
  await holder.next()
  const late = pool.iterate('SELECT * FROM t').next() // queued behind the holder
  await rejectsWith(pool.iterate('SELECT * FROM t').next(), 'POOL_QUEUE_FULL')
  await sleep(200)
  await holder.return()
  await rejectsWith(late, 'POOL_TIMEOUT')
  assert.equal((await collect(pool.iterate('SELECT * FROM t'))).length, 100)
  await pool.close()
})

test('an abandoned iterator lets its reader go once collected', async () => {
  const gc = vm.runInNewContext('gc')
  const pool = await withRows(100, { maxReaders: 1, queryTimeout: 60_000 })
  await (async () => {
    const it = pool.iterate('SELECT * FROM t', [], { batchSize: 10 })
    assert.equal((await it.next()).value.id, 1)
  })()
  assert.equal(pool.getStats().availableReaders, 0)
  const started = Date.now()
  while (pool.getStats().availableReaders === 0 && Date.now() - started < 5000) {
    gc()
    await sleep(20)
  }
  assert.equal(pool.getStats().availableReaders, 1, 'released without waiting for queryTimeout')
  assert.deepEqual(await within(pool.get('SELECT count(*) AS n FROM t'), 2000), { n: 100 })
  await pool.close()
})
