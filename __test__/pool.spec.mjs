// The generic pool: group commit, isolation of failures, read-your-writes, transactions, error
// codes, close, and process lifecycle.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { addon, dbPath, rejectsWith, throwsWith, slowCount, forever } from './helpers.mjs'

const { SQLiteConnectionPool } = addon

async function withTable(options = {}) {
  const pool = new SQLiteConnectionPool(dbPath(), { maxReaders: 2, maxWorkers: 1, ...options })
  await pool.ready
  await pool.write('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE, n REAL, b BLOB)')
  return pool
}

test('10,000 concurrent writes all land, in far fewer commits', async () => {
  const pool = await withTable()
  const results = await Promise.all(
    Array.from({ length: 10_000 }, (_, i) => pool.write('INSERT INTO t (v) VALUES (?)', [`v${i}`])),
  )
  assert.equal(results.length, 10_000)
  assert.ok(results.every((r) => r.changes === 1))
  assert.equal(new Set(results.map((r) => r.lastInsertRowid)).size, 10_000)
  const { n } = await pool.get('SELECT count(*) AS n FROM t')
  assert.equal(n, 10_000)
  const stats = pool.getStats()
  assert.ok(stats.commits < 1_000, `${stats.commits} commits`)
  assert.ok(stats.averageBatchSize > 10, `average batch ${stats.averageBatchSize}`)
  assert.equal(stats.totalWrites, 10_001)
  await pool.close()
})

test('a failing statement in a batch fails alone', async () => {
  const pool = await withTable()
  await pool.write("INSERT INTO t (v) VALUES ('taken')")
  const settled = await Promise.allSettled([
    pool.write("INSERT INTO t (v) VALUES ('a')"),
    pool.write("INSERT INTO t (v) VALUES ('taken')"),
    pool.write("INSERT INTO t (v) VALUES ('b')"),
    pool.write('INSERT INTO nowhere VALUES (1)'),
    pool.write("INSERT INTO t (v) VALUES ('c')"),
  ])
  assert.deepEqual(settled.map((s) => s.status), ['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled'])
  assert.equal(settled[1].reason.code, 'SQLITE_CONSTRAINT_UNIQUE')
  assert.equal(settled[3].reason.code, 'SQLITE_ERROR')
  const rows = await pool.read('SELECT v FROM t ORDER BY id')
  assert.deepEqual(rows.map((r) => r.v), ['taken', 'a', 'b', 'c'])
  await pool.close()
})

test('a read issued after a write resolved sees it', async () => {
  const pool = await withTable({ maxReaders: 4 })
  for (let i = 0; i < 300; i++) {
    await pool.write('INSERT INTO t (v) VALUES (?)', [`r${i}`])
    const row = await pool.get('SELECT count(*) AS n FROM t')
    assert.equal(row.n, i + 1)
  }
  await pool.close()
})

test('transaction is all or nothing', async () => {
  const pool = await withTable()
  await rejectsWith(
    pool.transaction([
      { sql: 'INSERT INTO t (v) VALUES (?)', params: ['x'] },
      "INSERT INTO t (v) VALUES ('y')",
      { sql: 'INSERT INTO t (v) VALUES (:v)', params: { v: 'x' } },
    ]),
    'SQLITE_CONSTRAINT_UNIQUE',
    /statement 2/,
  )
  assert.equal((await pool.get('SELECT count(*) AS n FROM t')).n, 0)
  const ok = await pool.transaction([
    { sql: 'INSERT INTO t (v) VALUES (?)', params: ['x'] },
    { sql: 'UPDATE t SET n = 1.5 WHERE v = ?', params: ['x'] },
  ])
  assert.deepEqual(ok.map((r) => r.changes), [1, 1])
  assert.deepEqual(await pool.read('SELECT v, n FROM t'), [{ v: 'x', n: 1.5 }])
  await rejectsWith(pool.transaction('nope'), 'INVALID_ARGUMENT')
  await rejectsWith(pool.transaction(['VACUUM']), 'INVALID_ARGUMENT', /cannot run inside a transaction/)
  await pool.close()
})

test('values map both ways as documented', async () => {
  const pool = await withTable({ safeIntegers: true })
  await pool.write('CREATE TABLE v (a, b, c, d, e, f, g)')
  await pool.write('INSERT INTO v VALUES (?, ?, ?, ?, ?, ?, ?)', [
    null, true, 42, 1.25, 2n ** 60n, 'text ✓', Buffer.from([1, 2, 3]),
  ])
  await pool.write('INSERT INTO v (a, b, g) VALUES (@a, $b, :g)', { a: undefined, b: false, g: new Uint8Array([9]) })
  const rows = await pool.read('SELECT * FROM v ORDER BY rowid')
  assert.deepEqual(rows[0], { a: null, b: 1, c: 42, d: 1.25, e: 2n ** 60n, f: 'text ✓', g: Buffer.from([1, 2, 3]) })
  assert.deepEqual(rows[1], { a: null, b: 0, c: null, d: null, e: null, f: null, g: Buffer.from([9]) })
  assert.equal(Object.keys(rows[0]).join(), 'a,b,c,d,e,f,g')
  assert.equal(await pool.get('SELECT 1 WHERE 0'), null)
  await pool.close()
})

test('column names of any spelling come back as the same keys, in order', async () => {
  const pool = await withTable()
  const names = ['plain', 'say "hi"', "it's", 'back\\slash', 'new\nline', '名前 ✓', '0', '${x}', '})();process.exit(3);({', 'a\u2028b']
  const sql = `SELECT ${names.map((n, i) => `${i} AS "${n.replaceAll('"', '""')}"`).join(', ')}`
  const expected = Object.fromEntries(names.map((n, i) => [n, i]))
  for (let round = 0; round < 3; round++) {
    const row = await pool.get(sql)
    assert.deepEqual(row, expected)
    assert.deepEqual(Object.keys(row).sort(), names.slice().sort())
    assert.deepEqual(await pool.read(sql), [expected])
  }
  // Wider than one generated row builder takes, repeated names (last wins), and __proto__,
  // which must not change the object's prototype.
  const wide = Array.from({ length: 100 }, (_, i) => `${i} AS c${i}`).join(', ')
  const row = await pool.get(`SELECT ${wide}`)
  assert.equal(Object.keys(row).length, 100)
  assert.equal(row.c99, 99)
  assert.deepEqual(await pool.get('SELECT 1 AS a, 2 AS a'), { a: 2 })
  const proto = await pool.get('SELECT 1 AS "__proto__", 2 AS b')
  assert.equal(Object.getPrototypeOf(proto), Object.prototype)
  assert.equal(proto.b, 2)
  await pool.close()
})

test('bad input rejects with INVALID_ARGUMENT and writes nothing', async () => {
  const pool = await withTable()
  const bad = [
    [{}], [() => 1], [Symbol('s')], [NaN], [Infinity], [2n ** 64n], [[1]],
  ]
  for (const params of bad) {
    await rejectsWith(pool.write('INSERT INTO t (v) VALUES (?)', params), 'INVALID_ARGUMENT')
  }
  await rejectsWith(pool.write('INSERT INTO t (v, n) VALUES (?, ?)', ['only one']), 'INVALID_ARGUMENT', /wrong number/)
  await rejectsWith(pool.write('INSERT INTO t (v) VALUES (:v)', { v: 'a', extra: 1 }), 'INVALID_ARGUMENT', /extra/)
  await rejectsWith(pool.write('INSERT INTO t (v) VALUES (:v)', { w: 1 }), 'INVALID_ARGUMENT', /:v/)
  await rejectsWith(pool.write('INSERT INTO t (v) VALUES (1); DROP TABLE t'), 'INVALID_ARGUMENT', /one SQL statement/)
  await rejectsWith(pool.write(42), 'INVALID_ARGUMENT')
  await rejectsWith(pool.write(''), 'INVALID_ARGUMENT')
  await rejectsWith(pool.write('BEGIN'), 'INVALID_ARGUMENT', /transaction/)
  await rejectsWith(pool.write('INSERT INTO t (v) VALUS (1)'), 'SQLITE_ERROR', /syntax error/)
  assert.equal((await pool.get('SELECT count(*) AS n FROM t')).n, 0)
  await pool.close()
})

test('writes sent to read() or executeInWorker() reject with READ_ONLY', async () => {
  const pool = await withTable()
  await rejectsWith(pool.read("INSERT INTO t (v) VALUES ('no')"), 'READ_ONLY')
  await rejectsWith(pool.executeInWorker('DELETE FROM t'), 'READ_ONLY')
  await rejectsWith(pool.read('BEGIN'), 'READ_ONLY')
  assert.equal((await pool.get('SELECT count(*) AS n FROM t')).n, 0)
  await pool.close()
})

test('a job that waits past acquireTimeout rejects with POOL_TIMEOUT', async () => {
  const pool = await withTable({ maxWorkers: 1, acquireTimeout: 20 })
  const slow = pool.executeInWorker(slowCount(3_000_000))
  await rejectsWith(pool.executeInWorker('SELECT 1'), 'POOL_TIMEOUT', /acquireTimeout/)
  assert.deepEqual(await slow, [{ n: 3_000_000 }])
  assert.ok(pool.getStats().timeouts >= 1)
  await pool.close()
})

test('a full queue rejects with POOL_QUEUE_FULL', async () => {
  const pool = await withTable({ maxWorkers: 1, maxQueue: 2 })
  const settled = await Promise.allSettled(Array.from({ length: 8 }, () => pool.executeInWorker(slowCount(200_000))))
  const codes = settled.map((s) => (s.status === 'fulfilled' ? 'ok' : s.reason.code))
  assert.ok(codes.includes('POOL_QUEUE_FULL'), codes.join())
  assert.ok(codes.includes('ok'), codes.join())
  await pool.close()
})

test('a runaway query rejects with QUERY_TIMEOUT and the worker keeps working', async () => {
  const pool = await withTable({ maxWorkers: 1, queryTimeout: 100 })
  await rejectsWith(pool.executeInWorker(forever), 'QUERY_TIMEOUT')
  assert.deepEqual(await pool.executeInWorker('SELECT 7 AS x'), [{ x: 7 }])
  await pool.close()
})

test('bad configuration throws INVALID_CONFIG naming the option or variable', () => {
  throwsWith(() => new SQLiteConnectionPool(dbPath(), { maxReaders: 0 }), 'INVALID_CONFIG', /maxReaders/)
  throwsWith(() => new SQLiteConnectionPool(dbPath(), { maxWorkers: 1.5 }), 'INVALID_CONFIG', /maxWorkers/)
  throwsWith(() => new SQLiteConnectionPool(dbPath(), { acquireTimeout: 'soon' }), 'INVALID_CONFIG', /acquireTimeout/)
  throwsWith(() => new SQLiteConnectionPool(dbPath(), { synchronous: 'SOMETIMES' }), 'INVALID_CONFIG', /synchronous/)
  throwsWith(() => new SQLiteConnectionPool(42), 'INVALID_ARGUMENT', /path/)
  for (const bad of ['abc', '0', '-3']) {
    const child = spawnSync(process.execPath, ['-e', `
      const { SQLiteConnectionPool } = require(${JSON.stringify(new URL('../lib/index.js', import.meta.url).pathname)})
      try { new SQLiteConnectionPool(':memory:') } catch (e) { console.log(e.code + ' ' + e.message); process.exit(3) }`],
    { env: { ...process.env, POOL_MAX_READERS: bad }, encoding: 'utf8' })
    assert.equal(child.status, 3, child.stderr)
    assert.match(child.stdout, /^INVALID_CONFIG .*POOL_MAX_READERS/)
  }
})

test('constructor options win over POOL_* variables', () => {
  const child = spawnSync(process.execPath, ['-e', `
    const { SQLiteConnectionPool } = require(${JSON.stringify(new URL('../lib/index.js', import.meta.url).pathname)})
    const a = new SQLiteConnectionPool(':memory:'); const b = new SQLiteConnectionPool(':memory:', { maxReaders: 2 })
    console.log(a.getStats().totalConnections, b.getStats().totalConnections)
    Promise.all([a.close(), b.close()])`],
  { env: { ...process.env, POOL_MAX_READERS: '4', POOL_MAX_WORKERS: '1' }, encoding: 'utf8' })
  assert.equal(child.status, 0, child.stderr)
  assert.equal(child.stdout.trim(), '6 4')
})

test('close drains queued work, then every call rejects with POOL_CLOSED', async () => {
  const path = dbPath()
  const pool = new SQLiteConnectionPool(path, { maxReaders: 1, maxWorkers: 1 })
  await pool.write('CREATE TABLE t (v)')
  const writes = Array.from({ length: 5_000 }, (_, i) => pool.write('INSERT INTO t VALUES (?)', [i]))
  const reads = Array.from({ length: 100 }, () => pool.read('SELECT count(*) AS n FROM t'))
  await pool.close()
  assert.equal((await Promise.allSettled(writes)).filter((s) => s.status === 'fulfilled').length, 5_000)
  assert.equal((await Promise.allSettled(reads)).filter((s) => s.status === 'fulfilled').length, 100)
  await rejectsWith(pool.read('SELECT 1'), 'POOL_CLOSED')
  await rejectsWith(pool.write('INSERT INTO t VALUES (1)'), 'POOL_CLOSED')
  await rejectsWith(pool.transaction(['INSERT INTO t VALUES (1)']), 'POOL_CLOSED')
  await rejectsWith(pool.executeInWorker('SELECT 1'), 'POOL_CLOSED')
  await pool.close()
  assert.equal(pool.isHealthy, false)
  const again = new SQLiteConnectionPool(path)
  assert.equal((await again.get('SELECT count(*) AS n FROM t')).n, 5_000)
  await again.close()
})

test(':memory: pools share data between the writer and readers', async () => {
  const pool = new SQLiteConnectionPool(':memory:', { maxReaders: 3 })
  await pool.write('CREATE TABLE m (x)')
  await Promise.all([1, 2, 3].map((x) => pool.write('INSERT INTO m VALUES (?)', [x])))
  const sums = await Promise.all([1, 2, 3, 4, 5, 6].map(() => pool.get('SELECT sum(x) AS s FROM m')))
  assert.ok(sums.every((r) => r.s === 6))
  await pool.close()
})

function runChild(source, timeout = 10_000) {
  const started = Date.now()
  const child = spawnSync(process.execPath, ['--expose-gc', '-e', source], { encoding: 'utf8', timeout })
  return { ...child, ms: Date.now() - started }
}

const indexPath = JSON.stringify(new URL('../lib/index.js', import.meta.url).pathname)

test('a process with an open, idle pool exits by itself within 1 s', () => {
  const child = runChild(`
    const { SQLiteConnectionPool } = require(${indexPath})
    const pool = new SQLiteConnectionPool(':memory:')
    pool.write('CREATE TABLE t (x)').then(() => pool.write('INSERT INTO t VALUES (1)'))
      .then(() => { globalThis.doneAt = Date.now(); process.on('exit', () => console.log('exit after', Date.now() - doneAt)) })`)
  assert.equal(child.status, 0, child.stderr)
  const waited = Number(child.stdout.match(/exit after (\d+)/)[1])
  assert.ok(waited < 1_000, `exited ${waited} ms after the last promise`)
})

test('a pool garbage-collected with work in flight does not crash the process', () => {
  const child = runChild(`
    const { SQLiteConnectionPool } = require(${indexPath})
    let results = []
    function spawnWork() {
      const pool = new SQLiteConnectionPool(':memory:', { maxReaders: 1, maxWorkers: 1 })
      pool.write('CREATE TABLE t (x)')
      for (let i = 0; i < 200; i++) results.push(pool.write('INSERT INTO t VALUES (?)', [i]).catch((e) => e.code))
    }
    for (let i = 0; i < 20; i++) spawnWork()
    for (let i = 0; i < 5; i++) global.gc()
    Promise.all(results).then((r) => { global.gc(); console.log('settled', r.length) })`)
  assert.equal(child.status, 0, child.stderr)
  assert.match(child.stdout, /settled 4000/)
})

test('process.exit with queued work neither hangs nor crashes', () => {
  const child = runChild(`
    const { SQLiteConnectionPool } = require(${indexPath})
    const pool = new SQLiteConnectionPool(':memory:')
    pool.write('CREATE TABLE t (x)')
    for (let i = 0; i < 10000; i++) pool.write('INSERT INTO t VALUES (?)', [i]).catch(() => {})
    setImmediate(() => process.exit(7))`)
  assert.equal(child.status, 7, child.stderr)
  assert.ok(child.ms < 5_000)
})

test('statement cache hits and misses are counted in getStats() and poolStats()', async () => {
  const pool = await withTable({ maxReaders: 1 })
  try {
    const before = pool.getStats().statementCache
    for (let i = 0; i < 100; i++) assert.equal(await pool.get('SELECT v FROM t WHERE id = ?', [i]), null)
    await pool.get('SELECT n FROM t WHERE id = ?', [1])
    // An EXPLAIN is compiled afresh each time (never cached), so both are misses.
    await pool.read('EXPLAIN SELECT v FROM t')
    await pool.read('EXPLAIN SELECT v FROM t')
    const after = pool.getStats().statementCache
    assert.equal(after.hits - before.hits, 99, 'one reader: compiled once, then found 99 times')
    assert.equal(after.misses - before.misses, 4)
    assert.equal(after.hit_rate, after.hits / (after.hits + after.misses))
  } finally {
    await pool.close()
  }
  const persistence = new addon.SwarmPersistencePooled(dbPath(), { maxReaders: 1 })
  try {
    await persistence.createSwarm({ id: 's', name: 's', topology: 'mesh', maxAgents: 5 })
    for (let i = 0; i < 10; i++) await persistence.getAgent(`a${i}`)
    const cache = persistence.poolStats().pool_metrics.statement_cache
    assert.ok(cache.hits >= 9, `${cache.hits} hits`)
    assert.deepEqual(cache, persistence.pool.getStats().statementCache)
  } finally {
    await persistence.close()
  }
})
