// Soundness under hostile input: guards SQLite itself enforces, no acknowledged write lost,
// values that come back as written, lifecycle and health that tell the truth. The tests of
// SwarmPersistencePooled's API run once per backend (SQLite, and PostgreSQL when configured).
import test from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync, rmSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { addon, dbPath, rejectsWith, slowCount, throwsWith } from './helpers.mjs'
import { eachBackend } from './backends.mjs'

const { SQLiteConnectionPool, SwarmPersistencePooled } = addon
const small = { maxReaders: 2, maxWorkers: 1 }
const count = async (pool) => (await pool.get('SELECT count(*) AS n FROM t')).n

async function table(name, options = small) {
  const pool = new SQLiteConnectionPool(dbPath(name), options)
  await pool.write('CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT UNIQUE)')
  return pool
}

test('a NUL in SQL text is refused, never cut short', async () => {
  const pool = await table('nul')
  await pool.write("INSERT INTO t(v) VALUES ('a'), ('b')")
  await rejectsWith(pool.write('DELETE FROM t\0 WHERE id = 1'), 'INVALID_ARGUMENT', /NUL/)
  await rejectsWith(pool.read('SELECT * FROM t\0'), 'INVALID_ARGUMENT', /NUL/)
  await rejectsWith(pool.transaction(['DELETE FROM t\0 WHERE id = 1']), 'INVALID_ARGUMENT', /statement 0/)
  assert.equal(await count(pool), 2)
  await pool.close()
})

test('SQL with no statement is INVALID_ARGUMENT, and so is a NUL in a path', async () => {
  const pool = await table('blank')
  for (const sql of ['-- only a comment', '/* x */', ' ; ; ']) {
    await rejectsWith(pool.write(sql), 'INVALID_ARGUMENT')
    await rejectsWith(pool.read(sql), 'INVALID_ARGUMENT')
  }
  await pool.close()
  throwsWith(() => new SQLiteConnectionPool(dbPath('x') + '\0.db'), 'INVALID_ARGUMENT', /NUL/)
})

test('transaction control cannot escape the group commit, however it is spelled', async () => {
  const pool = await table('escape')
  const hostile = [';COMMIT', '\vCOMMIT', '\uFEFFCOMMIT', ';ROLLBACK', ';RELEASE x', ';ROLLBACK TO x', ' ;; END', "INSERT INTO t(v) VALUES ('z'); COMMIT"]
  for (const sql of hostile) {
    // The hostile write sits in the middle of a group of honest ones.
    const before = Array.from({ length: 20 }, (_, i) => pool.write('INSERT INTO t(v) VALUES (?)', [`${sql}-a${i}`]))
    const bad = pool.write(sql)
    const after = Array.from({ length: 20 }, (_, i) => pool.write('INSERT INTO t(v) VALUES (?)', [`${sql}-b${i}`]))
    const results = await Promise.allSettled([...before, bad, ...after])
    assert.equal(results[20].status, 'rejected', JSON.stringify(sql))
    assert.ok(['INVALID_ARGUMENT', 'SQLITE_ERROR'].includes(results[20].reason.code), `${JSON.stringify(sql)}: ${results[20].reason.code}`)
    assert.deepEqual(results.filter((r, i) => i !== 20 && r.status !== 'fulfilled'), [], JSON.stringify(sql))
    assert.equal((await pool.get('SELECT count(*) AS n FROM t WHERE v LIKE ?', [`${sql}-%`])).n, 40, JSON.stringify(sql))
    await rejectsWith(pool.transaction([`INSERT INTO t(v) VALUES ('${Math.random()}')`, sql]), bad.code ?? results[20].reason.code)
  }
  assert.equal(await count(pool), hostile.length * 40)
  await pool.close()
})

test('a job that rolls back the whole transaction fails alone; the others of its group commit', async () => {
  const pool = await table('rollback')
  await pool.write("INSERT INTO t(v) VALUES ('taken')")
  await pool.write('CREATE TABLE guarded(x)')
  await pool.write("CREATE TRIGGER no_bad BEFORE INSERT ON guarded WHEN new.x = 'bad' BEGIN SELECT RAISE(ROLLBACK, 'bad value'); END")
  const writes = []
  for (let i = 0; i < 100; i++) {
    if (i === 30) writes.push(pool.write("INSERT OR ROLLBACK INTO t(v) VALUES ('taken')"))
    else if (i === 60) writes.push(pool.write("INSERT INTO guarded VALUES ('bad')"))
    else writes.push(pool.write('INSERT INTO t(v) VALUES (?)', [`v${i}`]))
  }
  const results = await Promise.allSettled(writes)
  const rejected = results.flatMap((r, i) => (r.status === 'rejected' ? [[i, r.reason.code]] : []))
  assert.deepEqual(rejected, [[30, 'SQLITE_CONSTRAINT_UNIQUE'], [60, 'SQLITE_CONSTRAINT_TRIGGER']])
  assert.equal(await count(pool), 99, 'every acknowledged write is there')
  assert.ok(pool.poolHealth().writes.replayed > 0, 'innocent jobs were run again')
  await pool.close()
})

test('backup refuses every spelling of a live database file, and cleans orphaned partial files', async () => {
  const path = dbPath('backup-live')
  const pool = new SQLiteConnectionPool(path, small)
  await pool.write('CREATE TABLE t(x)')
  const other = new SQLiteConnectionPool(dbPath('backup-other'), small)
  await other.write('CREATE TABLE o(x)')
  const dir = dirname(path)
  symlinkSync(path, join(dir, 'link.db'))
  symlinkSync(dir, join(dir, '..', 'dirlink'))
  const spellings = [
    path,
    join(dir, '.', basename(path)),
    join(dir, '..', basename(dir), basename(path)),
    join(dir, '..', 'dirlink', basename(path)),
    join(dir, 'link.db'),
    `${path}-wal`,
    `${path}-shm`,
    other.path,
  ]
  const writes = Array.from({ length: 1000 }, (_, i) => pool.write('INSERT INTO t VALUES (?)', [i]))
  for (const dest of spellings) await rejectsWith(pool.backup(dest), 'INVALID_ARGUMENT', /this process has open/)
  await Promise.all(writes)
  assert.equal((await pool.get('SELECT count(*) AS n FROM t')).n, 1000, 'no acknowledged write lost')
  const backups = join(dir, 'backups')
  mkdirSync(backups)
  const orphan = join(backups, '.copy.db.sp-backup-999999999-0.tmp')
  writeFileSync(orphan, Buffer.alloc(1024))
  writeFileSync(`${orphan}-journal`, Buffer.alloc(16))
  const made = await pool.backup(join(backups, 'copy.db'))
  assert.equal(made.integrity, 'ok')
  assert.deepEqual(readdirSync(backups), ['copy.db'], 'orphans removed, no partial file left')
  await Promise.all([pool.close(), other.close()])
})

test('a WAL deleted under an open pool: later writes are refused, never acknowledged', async () => {
  const path = dbPath('wal-deleted')
  const pool = new SQLiteConnectionPool(path, small)
  await pool.write('CREATE TABLE t(x)')
  await pool.write('INSERT INTO t VALUES (1)')
  rmSync(`${path}-wal`)
  const results = await Promise.allSettled(Array.from({ length: 100 }, (_, i) => pool.write('INSERT INTO t VALUES (?)', [i])))
  assert.deepEqual([...new Set(results.map((r) => r.status === 'rejected' && r.reason.code))], ['SQLITE_READONLY_DBMOVED'])
  await pool.close()
})

test('promises settle without the timer globals (fake timers installed, then removed)', async () => {
  const pool = await table('fake-timers')
  const saved = { setImmediate, setTimeout, setInterval, clearImmediate }
  // What @sinonjs/fake-timers does: the globals are replaced and never fire on their own.
  Object.assign(globalThis, { setImmediate: () => 0, setTimeout: () => 0, setInterval: () => 0, clearImmediate: () => {} })
  try {
    const writes = Array.from({ length: 2000 }, (_, i) => pool.write('INSERT INTO t(v) VALUES (?)', [`f${i}`]))
    const reads = Array.from({ length: 2000 }, () => pool.get('SELECT 1 AS one'))
    assert.equal((await Promise.all(writes)).length, 2000)
    assert.ok((await Promise.all(reads)).every((r) => r.one === 1))
  } finally {
    Object.assign(globalThis, saved)
  }
  assert.equal(await count(pool), 2000)
  await pool.close()
})

test('absurd parameter arrays are refused at once', async () => {
  const pool = await table('sparse')
  const sparse = []
  sparse.length = 2 ** 32 - 1
  await rejectsWith(pool.read('SELECT ?', sparse), 'INVALID_ARGUMENT', /at most 32766/)
  await rejectsWith(pool.write('INSERT INTO t(v) VALUES (?)', sparse), 'INVALID_ARGUMENT')
  const statements = []
  statements.length = 2 ** 32 - 1
  await rejectsWith(pool.transaction(statements), 'INVALID_ARGUMENT')
  assert.equal(await count(pool), 0)
  await pool.close()
})

test('a huge maxQueue costs nothing up front; a default pool stays small', async () => {
  const before = process.memoryUsage.rss()
  const pools = Array.from({ length: 4 }, (_, i) => new SQLiteConnectionPool(dbPath(`mem-${i}`), { maxQueue: 1e8 }))
  await Promise.all(pools.map((p) => p.write('CREATE TABLE t(x)')))
  const perPool = (process.memoryUsage.rss() - before) / pools.length
  assert.ok(perPool < 15 * 1024 * 1024, `${(perPool / 1048576).toFixed(1)} MB per pool`)
  await Promise.all(pools.map((p) => p.close()))
})

eachBackend('JSON values come back as written: __proto__ an own key, deep nesting, lone surrogates', async (backend) => {
  const p = new SwarmPersistencePooled(backend.location('json-exact'), small)
  await p.createAgent({ id: 'a1', name: 'n', type: 't' })
  const hostile = JSON.parse('{"__proto__": {"isAdmin": true}, "a": 1}')
  let deep = 'leaf'
  for (let i = 0; i < 200; i++) deep = { d: deep }
  const values = { hostile, deep, surrogate: { s: 'x\uD800y' }, text: 'plain' }
  for (const [key, value] of Object.entries(values)) await p.storeMemory('a1', key, value)
  for (const [key, value] of Object.entries(values)) {
    const got = (await p.getMemory('a1', key)).value
    assert.deepEqual(got, value, key)
  }
  const back = (await p.getMemory('a1', 'hostile')).value
  assert.ok(Object.hasOwn(back, '__proto__'))
  assert.equal(back.isAdmin, undefined, 'nothing inherited')
  assert.equal(JSON.stringify(back), '{"__proto__":{"isAdmin":true},"a":1}')
  await p.close()
})

test("[sqlite] a raw row's __proto__ column is an own key of a plain object", async () => {
  const p = new SwarmPersistencePooled(dbPath('json-columns'), small)
  await p.initialize()
  const row = await p.pool.get('SELECT 1 AS __proto__, 2 AS b')
  assert.ok(Object.hasOwn(row, '__proto__'))
  assert.equal(Object.getPrototypeOf(row), Object.prototype)
  assert.equal(JSON.stringify(row), '{"__proto__":1,"b":2}')
  await p.close()
})

eachBackend('text that is not valid Unicode is refused, never silently replaced', async (backend) => {
  const p = new SwarmPersistencePooled(backend.location('surrogates'), small)
  await p.createAgent({ id: 'a1', name: 'n', type: 't' })
  await rejectsWith(p.storeMemory('a1', 'k\uD800', 1), 'INVALID_ARGUMENT', /lone surrogate/)
  await rejectsWith(p.storeMemory('a1', 'k\uDC00', 2), 'INVALID_ARGUMENT', /lone surrogate/)
  await p.storeMemory('a1', 'k\uFFFD', 3)
  await p.storeMemory('a1', 'k\uD83D\uDE00', 4)
  assert.equal((await p.getMemory('a1', 'k\uFFFD')).value, 3)
  assert.equal((await p.getMemory('a1', 'k\uD83D\uDE00')).value, 4)
  assert.equal((await p.getAllMemory('a1')).length, 2)
  await p.close()
})

test('[sqlite] a raw parameter that is not valid Unicode is refused', async () => {
  const p = new SwarmPersistencePooled(dbPath('raw-surrogates'), small)
  await p.initialize()
  await rejectsWith(p.pool.read('SELECT ?', ['\uD83D']), 'INVALID_ARGUMENT', /lone surrogate/)
  await p.close()
})

eachBackend('TTLs beyond 100 years are refused; long ones stay visible', async (backend) => {
  const p = new SwarmPersistencePooled(backend.location('ttl'), small)
  await p.createAgent({ id: 'a1', name: 'n', type: 't' })
  for (const ttl of [3e11, 1.8e16, Infinity, -1]) await rejectsWith(p.storeMemory('a1', `k${ttl}`, 1, ttl), 'INVALID_ARGUMENT', /ttlSecs/)
  await p.storeMemory('a1', 'long', 1, 3e9)
  assert.equal((await p.getMemory('a1', 'long')).value, 1)
  assert.equal((await p.getAllMemory('a1')).length, 1)
  await p.close()
})

test('only Buffer and Uint8Array are BLOBs; other typed arrays and DataViews are refused', async () => {
  const pool = new SQLiteConnectionPool(dbPath('typed'), small)
  await pool.write('CREATE TABLE b(x)')
  for (const v of [new Float64Array([1.5]), new Uint16Array([1]), new Int8Array([1]), new DataView(new ArrayBuffer(4))]) {
    await rejectsWith(pool.write('INSERT INTO b VALUES (?)', [v]), 'INVALID_ARGUMENT')
  }
  await pool.write('INSERT INTO b VALUES (?), (?)', [new Uint8Array([1, 2]), Buffer.from([3])])
  const rows = await pool.read('SELECT x FROM b ORDER BY rowid')
  assert.deepEqual(rows.map((r) => [...r.x]), [[1, 2], [3]])
  await pool.close()
})

test('close() frees native memory: 100 open/close cycles stay flat', async () => {
  const path = dbPath('cycles')
  const warm = new SQLiteConnectionPool(path)
  await warm.write('CREATE TABLE t(x)')
  await warm.close()
  const before = process.memoryUsage.rss()
  for (let i = 0; i < 100; i++) {
    const pool = new SQLiteConnectionPool(path)
    await pool.write('INSERT INTO t VALUES (?)', [i])
    await pool.close()
    await rejectsWith(pool.read('SELECT 1'), 'POOL_CLOSED')
  }
  const grown = process.memoryUsage.rss() - before
  assert.ok(grown < 200 * 1024 * 1024, `${(grown / 1048576).toFixed(0)} MB after 100 cycles`)
})

// Each backend's record of the schema version, set to one newer than this library knows.
const NEWER_SCHEMA = { sqlite: 'PRAGMA user_version = 99', postgres: 'UPDATE swarm_schema SET version = 99' }

eachBackend('a schema newer than this library is refused at initialize() and every call, and stays refused', async (backend) => {
  const path = backend.location('newer-schema')
  const seed = new SwarmPersistencePooled(path, small)
  await seed.initialize()
  await backend.sql(seed, NEWER_SCHEMA[backend.name])
  await seed.close()
  // A second instance finds it refused too: the first attempt changed nothing.
  for (let i = 0; i < 2; i++) {
    const p = new SwarmPersistencePooled(path, small)
    await rejectsWith(p.initialize(), 'INVALID_ARGUMENT', /schema is version 99, newer than this library's 2/)
    await rejectsWith(p.getActiveSwarms(), 'INVALID_ARGUMENT', /newer/)
    await p.close()
  }
})

eachBackend('close() during a failing or running initialize() sticks', async (backend) => {
  // A schema newer than this library opens fine and then fails its migration, asynchronously.
  const newer = backend.location('close-failing')
  const seed = new SwarmPersistencePooled(newer, small)
  await seed.initialize()
  await backend.sql(seed, NEWER_SCHEMA[backend.name])
  await seed.close()
  const failing = new SwarmPersistencePooled(newer, small)
  const init = failing.initialize().catch((e) => e.code)
  await failing.close()
  assert.notEqual(await init, undefined, 'initialize() failed')
  await rejectsWith(failing.createSwarm({ id: 's', name: 'n', topology: 'mesh', maxAgents: 1 }), 'POOL_CLOSED')
  await rejectsWith(failing.initialize(), 'POOL_CLOSED')
  const path = backend.location('close-running')
  const running = new SwarmPersistencePooled(path, small)
  const started = running.initialize()
  await running.close()
  await started.catch(() => {})
  await rejectsWith(running.createSwarm({ id: 's', name: 'n', topology: 'mesh', maxAgents: 1 }), 'POOL_CLOSED')
  const check = new SwarmPersistencePooled(path, small)
  assert.deepEqual(await check.getActiveSwarms(), [])
  await check.close()
})

test(':memory: is a private file in a private folder, removed on close and at exit', async () => {
  const pool = new SQLiteConnectionPool(':memory:', small)
  await pool.write('CREATE TABLE t(x)')
  const file = pool.path
  assert.equal(statSync(dirname(file)).mode & 0o777, 0o700)
  assert.equal(statSync(file).mode & 0o777, 0o600)
  await pool.close()
  assert.equal(existsSync(dirname(file)), false)
  const child = spawnSync(process.execPath, ['-e', `
    const { SQLiteConnectionPool } = require(${JSON.stringify(new URL('../lib/index.js', import.meta.url).pathname)})
    const pool = new SQLiteConnectionPool(':memory:')
    pool.write('CREATE TABLE t(x)').then(() => { console.log(pool.path); process.exit(0) })`], { encoding: 'utf8', timeout: 20000 })
  assert.equal(child.status, 0, child.stderr)
  const left = child.stdout.trim()
  assert.ok(left.endsWith('memory.db'), left)
  assert.equal(existsSync(dirname(left)), false, 'removed at process.exit()')
})

test('ATTACH and connection-state PRAGMAs are refused on every connection; informational PRAGMAs work', async () => {
  const path = dbPath('pragmas')
  const pool = new SQLiteConnectionPool(path, small)
  await pool.write('CREATE TABLE t(x)')
  await rejectsWith(pool.read("ATTACH '/etc/hostname' AS x"), 'INVALID_ARGUMENT', /ATTACH/)
  await rejectsWith(pool.write("ATTACH '/tmp/x.db' AS x"), 'INVALID_ARGUMENT', /ATTACH/)
  for (const sql of ['PRAGMA locking_mode = EXCLUSIVE', 'PRAGMA query_only = 1', 'PRAGMA journal_mode = DELETE', 'PRAGMA foreign_keys = 0']) {
    await rejectsWith(pool.write(sql), 'INVALID_ARGUMENT', /PRAGMA/)
    await rejectsWith(pool.read(sql), 'INVALID_ARGUMENT', /PRAGMA/)
  }
  assert.deepEqual((await pool.read('PRAGMA table_info(t)')).map((c) => c.name), ['x'])
  assert.equal((await pool.get('PRAGMA foreign_keys')).foreign_keys, 1)
  assert.equal((await pool.get('PRAGMA locking_mode')).locking_mode, 'normal')
  await pool.write('PRAGMA user_version = 7')
  assert.equal((await pool.get('PRAGMA user_version')).user_version, 7)
  // Another process still writes: nobody took an exclusive lock.
  const child = spawnSync(process.execPath, ['-e', `
    const { SQLiteConnectionPool } = require(${JSON.stringify(new URL('../lib/index.js', import.meta.url).pathname)})
    const pool = new SQLiteConnectionPool(${JSON.stringify(path)}, { maxReaders: 1, maxWorkers: 1, busyTimeout: 2000 })
    pool.write('INSERT INTO t VALUES (1)').then(() => pool.close(), (e) => { console.error(e.code); process.exitCode = 1 })`], { encoding: 'utf8', timeout: 20000 })
  assert.equal(child.status, 0, child.stderr)
  assert.equal((await pool.get('SELECT count(*) AS n FROM t')).n, 1)
  await pool.close()
})

test('a getter or Proxy that throws rejects with a code, never throws synchronously', async () => {
  const pool = await table('getters')
  const trap = new Proxy([], { get() { throw new Error('boom') } })
  const calls = [
    () => pool.read('SELECT ?', trap),
    () => pool.write('INSERT INTO t(v) VALUES (?)', [{ toString() { throw new Error('boom') } }]),
    () => pool.write('INSERT INTO t(v) VALUES (:v)', new Proxy({ v: 1 }, { ownKeys() { throw new Error('boom') } })),
    () => pool.transaction([{ get sql() { throw new Error('boom') } }]),
  ]
  for (const call of calls) {
    let promise
    assert.doesNotThrow(() => { promise = call() })
    await assert.rejects(promise, (e) => e instanceof Error && typeof e.code === 'string')
  }
  await pool.close()
})

eachBackend('a persistence call whose getter or toJSON throws rejects INVALID_ARGUMENT, never throws synchronously', async (backend) => {
  const field = { get id() { throw new Error('boom') }, name: 'n', type: 't' }
  const p = new SwarmPersistencePooled(backend.location('getters-p'), small)
  let promise
  assert.doesNotThrow(() => { promise = p.createAgent(field) })
  await rejectsWith(promise, 'INVALID_ARGUMENT', /boom/)
  assert.doesNotThrow(() => { promise = p.storeMemory('a', 'k', { toJSON() { throw new Error('boom') } }) })
  await rejectsWith(promise, 'INVALID_ARGUMENT', /boom/)
  await p.close()
})

test('health turns false while every write fails for the environment, and back once one commits', async () => {
  const pool = new SQLiteConnectionPool(dbPath('degraded'), { ...small, healthCheckInterval: 20 })
  await pool.write('CREATE TABLE t(b BLOB)')
  await pool.write('PRAGMA max_page_count = 20')
  for (let i = 0; i < 40; i++) await pool.write('INSERT INTO t VALUES (zeroblob(3000))').catch(() => {})
  await rejectsWith(pool.write('INSERT INTO t VALUES (zeroblob(3000))'), 'SQLITE_FULL')
  assert.equal(pool.isHealthy, false)
  assert.equal(pool.poolHealth().healthy, false)
  assert.equal(pool.poolHealth().writes.failing, true)
  assert.match(pool.poolHealth().writes.last_failure, /SQLITE_FULL/)
  await pool.write('PRAGMA max_page_count = 100000')
  await pool.write('INSERT INTO t VALUES (zeroblob(3000))')
  assert.equal(pool.isHealthy, true)
  await pool.close()
})

test('every rejection is counted once, in the lane it was meant for', async () => {
  const pool = new SQLiteConnectionPool(dbPath('counting'), { maxReaders: 1, maxWorkers: 1, maxQueue: 1 })
  await pool.write('CREATE TABLE t(x)')
  // The only reader is busy with a slow query, so one read fits in the queue and the rest are full.
  const busy = pool.read(slowCount(3_000_000))
  await new Promise((r) => setTimeout(r, 20))
  const results = await Promise.allSettled(Array.from({ length: 49 }, () => pool.read('SELECT count(*) FROM t')))
  await busy
  const full = results.filter((r) => r.status === 'rejected' && r.reason.code === 'POOL_QUEUE_FULL').length
  assert.equal(full, 48)
  await rejectsWith(pool.read(42), 'INVALID_ARGUMENT')
  await rejectsWith(pool.write('INSERT INTO t VALUES (?)', [Symbol('s')]), 'INVALID_ARGUMENT')
  const stats = pool.getStats()
  assert.equal(stats.totalReads, 51)
  assert.equal(stats.failedReads, full + 1)
  assert.equal(stats.totalWrites, 2)
  assert.equal(stats.failedWrites, 1)
  assert.equal(stats.errors.POOL_QUEUE_FULL, full)
  assert.equal(stats.errors.INVALID_ARGUMENT, 2)
  await pool.close()
})
