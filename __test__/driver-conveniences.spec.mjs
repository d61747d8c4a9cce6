// The conveniences: pragma(name, value?), exec(script), Symbol.asyncDispose and a per-call
// AbortSignal. Each is checked by reading the database back, and attacked: injection through
// names and values, scripts escaping their transaction, aborts racing a job's start.
import test from 'node:test'
import assert from 'node:assert/strict'
import { getEventListeners } from 'node:events'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { addon, dbPath, rejectsWith, require, slowCount, forever } from './helpers.mjs'

const { SQLiteConnectionPool, SwarmPersistencePooled } = addon
const small = { maxReaders: 2, maxWorkers: 1 }
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const count = async (pool, table = 't') => (await pool.get(`SELECT count(*) AS n FROM ${table}`)).n
const tables = async (pool) =>
  (await pool.read("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")).map((r) => r.name)

async function table(name, options = small) {
  const pool = new SQLiteConnectionPool(dbPath(name), options)
  await pool.write('CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT UNIQUE)')
  return pool
}

/** Holds the writer in an interactive transaction until `release()`; writes queue meanwhile. */
async function holdWriter(pool) {
  let release
  const gate = new Promise((resolve) => (release = resolve))
  let began
  const held = new Promise((resolve) => (began = resolve))
  const done = pool.transaction(async () => {
    began()
    await gate
  })
  await held
  return { release, done }
}

/** Resolves once a connection runs a job (and a moment more, so the job is inside its SQL). */
async function busy(pool) {
  while (pool.poolHealth().pool_status.active_connections === 0) await sleep(1)
  await sleep(50)
}

// ---- pragma -------------------------------------------------------------------------------

test('pragma(name) reads on a reader; pragma(name, value) sets, reads back, and is durable', async () => {
  const path = dbPath('pragma')
  const pool = new SQLiteConnectionPool(path, small)
  assert.deepEqual(await pool.pragma('journal_mode'), [{ journal_mode: 'wal' }])
  assert.deepEqual(await pool.pragma('JOURNAL_MODE'), [{ journal_mode: 'wal' }])
  assert.deepEqual(await pool.pragma('user_version', 7), [{ user_version: 7 }])
  assert.deepEqual(await pool.pragma('user_version'), [{ user_version: 7 }])
  assert.deepEqual(await pool.read('PRAGMA user_version'), [{ user_version: 7 }])
  assert.deepEqual(await pool.pragma('application_id', -(2 ** 31)), [{ application_id: -(2 ** 31) }])
  assert.deepEqual(await pool.pragma('user_version', 2n ** 31n - 1n), [{ user_version: 2 ** 31 - 1 }])
  assert.deepEqual(await pool.pragma('user_version', true), [{ user_version: 1 }])
  await pool.write('CREATE TABLE t(x)')
  // Informational pragmas with several rows and columns.
  const list = await pool.pragma('table_list')
  assert.ok(list.some((r) => r.name === 't' && r.schema === 'main'))
  assert.deepEqual(await pool.pragma('integrity_check'), [{ integrity_check: 'ok' }])
  assert.deepEqual(await pool.pragma('no_such_pragma').catch((e) => e.code), 'INVALID_ARGUMENT')
  // Every PRAGMA readers may read answers through pragma(name), including those SQLite does not
  // call read-only statements (journal_mode, locking_mode …).
  for (const name of [
    'application_id', 'auto_vacuum', 'busy_timeout', 'cache_size', 'collation_list', 'compile_options',
    'data_version', 'database_list', 'encoding', 'foreign_key_check', 'foreign_keys', 'freelist_count',
    'function_list', 'journal_mode', 'journal_size_limit', 'locking_mode', 'max_page_count', 'mmap_size',
    'module_list', 'page_count', 'page_size', 'pragma_list', 'query_only', 'quick_check', 'schema_version',
    'synchronous', 'table_list', 'temp_store', 'wal_autocheckpoint',
  ]) {
    assert.ok(Array.isArray(await pool.pragma(name)), name)
  }
  assert.deepEqual(await pool.pragma('query_only'), [{ query_only: 1 }], 'read on a reader')
  // With { raw: true }, as read() gives it.
  const raw = await pool.pragma('journal_mode', undefined, { raw: true })
  assert.deepEqual(raw.rows, [['wal']])
  assert.equal(raw.columns[0].name, 'journal_mode')
  await rejectsWith(pool.pragma('journal_mode', undefined, 5), 'INVALID_ARGUMENT', /options must be an object/)
  await rejectsWith(pool.exec('SELECT 1', [1]), 'INVALID_ARGUMENT', /options must be an object/)
  await pool.close()
  const again = new SQLiteConnectionPool(path, small)
  assert.deepEqual(await again.pragma('user_version'), [{ user_version: 1 }])
  assert.deepEqual(await again.pragma('application_id'), [{ application_id: -(2 ** 31) }])
  await again.close()
})

test('pragma() sets only user_version, application_id and max_page_count; connection state is refused', async () => {
  const pool = await table('pragma-refused')
  for (const [name, value] of [
    ['journal_mode', 'delete'],
    ['journal_mode', 0],
    ['locking_mode', 'exclusive'],
    ['writable_schema', 1],
    ['query_only', 0],
    ['synchronous', 0],
    ['foreign_keys', 0],
    ['cache_size', 10],
    ['mmap_size', 0],
    ['busy_timeout', 0],
    ['wal_autocheckpoint', 0],
    ['schema_version', 1],
    ['temp_store', 2],
  ]) {
    await rejectsWith(pool.pragma(name, value), 'INVALID_ARGUMENT', /refused/)
  }
  assert.deepEqual(await pool.pragma('journal_mode'), [{ journal_mode: 'wal' }])
  assert.deepEqual(await pool.pragma('writable_schema').catch((e) => e.code), 'INVALID_ARGUMENT')
  // Reading what has a side effect is refused on readers, as read() refuses it.
  for (const name of ['wal_checkpoint', 'optimize', 'incremental_vacuum', 'shrink_memory']) {
    await rejectsWith(pool.pragma(name), 'INVALID_ARGUMENT')
  }
  // max_page_count is the writer's size quota: a write past it fails with SQLITE_FULL.
  const [{ page_count: pages }] = await pool.pragma('page_count')
  assert.deepEqual(await pool.pragma('max_page_count', pages + 1), [{ max_page_count: pages + 1 }])
  await rejectsWith(pool.write('INSERT INTO t(v) VALUES (?)', ['x'.repeat(64 * 1024)]), 'SQLITE_FULL')
  await pool.pragma('max_page_count', 4294967294)
  await pool.write('INSERT INTO t(v) VALUES (?)', ['x'.repeat(64 * 1024)])
  await pool.close()
})

test('pragma names and values cannot carry SQL', async () => {
  const pool = await table('pragma-injection')
  await pool.write("INSERT INTO t(v) VALUES ('kept')")
  const names = [
    'user_version = 1; DROP TABLE t',
    'user_version; DROP TABLE t',
    'user_version=1',
    'user_version --',
    'user_version /*',
    'main.user_version',
    'table_info(t)',
    "table_info('t')",
    'user_version\0',
    ' user_version',
    '',
    '1x',
    'ü',
    'x'.repeat(65),
  ]
  for (const name of names) {
    await rejectsWith(pool.pragma(name), 'INVALID_ARGUMENT', /identifier/)
    await rejectsWith(pool.pragma(name, 1), 'INVALID_ARGUMENT', /identifier/)
  }
  for (const bad of [42, null, {}, [], Symbol('x')]) {
    await rejectsWith(pool.pragma(bad), 'INVALID_ARGUMENT')
  }
  const values = ['1; DROP TABLE t', '1', 1.5, NaN, Infinity, 2 ** 31, -(2 ** 31) - 1, 2n ** 63n - 1n, {}, [1], Buffer.from('1')]
  for (const value of values) {
    await rejectsWith(pool.pragma('user_version', value), 'INVALID_ARGUMENT')
  }
  await rejectsWith(pool.pragma('max_page_count', 0), 'INVALID_ARGUMENT', /from 1/)
  await rejectsWith(pool.pragma('user_version', 10n ** 30n), 'INVALID_ARGUMENT')
  assert.deepEqual(await pool.pragma('user_version'), [{ user_version: 0 }])
  assert.equal(await count(pool), 1, 'the table is still there')
  assert.equal(pool.getStats().errors.INVALID_ARGUMENT > 0, true)
  await pool.close()
})

// ---- exec ---------------------------------------------------------------------------------

test('exec(script) runs a migration as one transaction and resolves { changes }', async () => {
  const pool = await table('exec')
  const migration = `
    -- version 1
    CREATE TABLE agents(id TEXT PRIMARY KEY, name TEXT NOT NULL);
    CREATE INDEX agents_name ON agents(name);;
    CREATE TRIGGER agents_log AFTER INSERT ON agents BEGIN INSERT INTO t(v) VALUES ('new ' || new.id); END;
    INSERT INTO agents VALUES ('a1', 'Ada'), ('a2', 'Grace');
    UPDATE agents SET name = upper(name);
    SELECT * FROM agents;
    PRAGMA user_version = 1; /* trailing comment */`
  assert.deepEqual(await pool.exec(migration), { changes: 6 }, '2 inserts, 2 updates, 2 through the trigger')
  assert.deepEqual(await tables(pool), ['agents', 't'])
  assert.deepEqual(await pool.read('SELECT * FROM agents ORDER BY id'), [{ id: 'a1', name: 'ADA' }, { id: 'a2', name: 'GRACE' }])
  assert.deepEqual(await pool.pragma('user_version'), [{ user_version: 1 }])
  assert.deepEqual(await pool.exec('DELETE FROM agents'), { changes: 2 })
  assert.deepEqual(await pool.exec('CREATE TABLE empty(x)'), { changes: 0 })
  await pool.close()
})

test('a failing statement rolls the whole script back; other jobs of the group commit are unaffected', async () => {
  const pool = await table('exec-rollback')
  const script = 'CREATE TABLE a(x); INSERT INTO a VALUES (1); CREATE TABLE b(x); INSERT INTO nowhere VALUES (1); CREATE TABLE c(x)'
  const before = Array.from({ length: 30 }, (_, i) => pool.write('INSERT INTO t(v) VALUES (?)', [`a${i}`]))
  const failing = pool.exec(script)
  const after = Array.from({ length: 30 }, (_, i) => pool.write('INSERT INTO t(v) VALUES (?)', [`b${i}`]))
  await rejectsWith(failing, 'SQLITE_ERROR', /no such table: nowhere.*\(statement 3\)/)
  await Promise.all([...before, ...after])
  assert.deepEqual(await tables(pool), ['t'], 'the tables of the first statements do not exist')
  assert.equal(await count(pool), 60)
  // A constraint failure in the middle, and a statement that rolls back the whole transaction.
  await rejectsWith(pool.exec("CREATE TABLE d(x); INSERT INTO t(v) VALUES ('a1')"), 'SQLITE_CONSTRAINT_UNIQUE')
  const others = Array.from({ length: 30 }, (_, i) => pool.write('INSERT INTO t(v) VALUES (?)', [`c${i}`]))
  await rejectsWith(pool.exec("CREATE TABLE e(x); INSERT OR ROLLBACK INTO t(v) VALUES ('a2')"), 'SQLITE_CONSTRAINT_UNIQUE')
  await Promise.all(others)
  assert.deepEqual(await tables(pool), ['t'])
  assert.equal(await count(pool), 90)
  await pool.close()
})

test('exec() cannot escape the group commit, however transaction control is spelled', async () => {
  const pool = await table('exec-escape')
  const hostile = [
    ';COMMIT',
    '\vCOMMIT',
    '\uFEFFCOMMIT',
    ';ROLLBACK',
    ';RELEASE x',
    ';ROLLBACK TO x',
    ' ;; END',
    'COMMIT',
    'END TRANSACTION',
    'BEGIN',
    'BEGIN IMMEDIATE',
    'SAVEPOINT x',
    // The writer's own savepoint and statements, which sit in its statement cache.
    'RELEASE job',
    'ROLLBACK TO job',
    'SAVEPOINT job',
    '/* c */ commit',
    '-- c\ncommit',
  ]
  for (const spelling of hostile) {
    const label = JSON.stringify(spelling)
    const before = Array.from({ length: 20 }, (_, i) => pool.write('INSERT INTO t(v) VALUES (?)', [`${spelling}-a${i}`]))
    const bad = pool.exec(`INSERT INTO t(v) VALUES ('${Math.random()}'); ${spelling}; INSERT INTO t(v) VALUES ('${Math.random()}')`)
    const after = Array.from({ length: 20 }, (_, i) => pool.write('INSERT INTO t(v) VALUES (?)', [`${spelling}-b${i}`]))
    const results = await Promise.allSettled([...before, bad, ...after])
    assert.equal(results[20].status, 'rejected', label)
    assert.ok(['INVALID_ARGUMENT', 'SQLITE_ERROR'].includes(results[20].reason.code), `${label}: ${results[20].reason.code}`)
    assert.deepEqual(results.filter((r, i) => i !== 20 && r.status !== 'fulfilled'), [], label)
    // A script that starts with it is refused before it is queued.
    await rejectsWith(pool.exec(`${spelling}; INSERT INTO t(v) VALUES ('${Math.random()}')`), results[20].reason.code)
  }
  assert.equal(await count(pool), hostile.length * 40, 'nothing of a hostile script, everything of the others')
  await pool.close()
})

test("exec() keeps the guard's other refusals, and refuses text SQLite would misread", async () => {
  const pool = await table('exec-guard')
  const dir = mkdtempSync(join(tmpdir(), 'sp-exec-'))
  for (const statement of [
    `ATTACH '${join(dir, 'x.db')}' AS x`,
    'DETACH main',
    'PRAGMA journal_mode = DELETE',
    'PRAGMA locking_mode = EXCLUSIVE',
    'PRAGMA writable_schema = 1',
    'PRAGMA query_only = 1',
    'PRAGMA synchronous = OFF',
    'PRAGMA foreign_keys = OFF',
    'PRAGMA wal_checkpoint(TRUNCATE)',
    `VACUUM INTO '${join(dir, 'copy.db')}'`,
    'VACUUM',
  ]) {
    const refused = await pool.exec(`CREATE TABLE z(x); ${statement}`).then(() => null, (err) => err.code)
    assert.ok(['INVALID_ARGUMENT', 'SQLITE_ERROR'].includes(refused), `${statement}: ${refused}`)
  }
  await rejectsWith(pool.exec("CREATE TABLE a(x);\0DROP TABLE t"), 'INVALID_ARGUMENT', /NUL/)
  await rejectsWith(pool.exec('CREATE TABLE a(x)\0'), 'INVALID_ARGUMENT', /NUL/)
  await rejectsWith(pool.exec(' -- nothing\n ;; /* */'), 'INVALID_ARGUMENT', /no statement/)
  await rejectsWith(pool.exec(''), 'INVALID_ARGUMENT')
  await rejectsWith(pool.exec(42), 'INVALID_ARGUMENT', /script/)
  await rejectsWith(pool.exec('CREATE TABLE a(x); SELEKT 1'), 'SQLITE_ERROR', /statement 1/)
  assert.deepEqual(await tables(pool), ['t'])
  assert.deepEqual(await pool.pragma('journal_mode'), [{ journal_mode: 'wal' }])
  await pool.write("INSERT INTO t(v) VALUES ('still works')")
  assert.equal(await count(pool), 1)
  await pool.close()
})

// ---- Symbol.asyncDispose -------------------------------------------------------------------

test('Symbol.asyncDispose closes a pool: later calls reject POOL_CLOSED, the data is durable', async () => {
  assert.equal(typeof Symbol.asyncDispose, 'symbol')
  const path = dbPath('dispose')
  const pool = new SQLiteConnectionPool(path, small)
  await pool.exec('CREATE TABLE t(v); INSERT INTO t VALUES (1)')
  const pending = pool.write('INSERT INTO t VALUES (2)')
  await pool[Symbol.asyncDispose]()
  await pending
  await rejectsWith(pool.read('SELECT 1'), 'POOL_CLOSED')
  await rejectsWith(pool.write('INSERT INTO t VALUES (3)'), 'POOL_CLOSED')
  await pool[Symbol.asyncDispose]() // a second dispose is harmless
  const reopened = new SQLiteConnectionPool(path, small)
  assert.deepEqual(await reopened.read('SELECT v FROM t ORDER BY v'), [{ v: 1 }, { v: 2 }])
  await reopened.close()
})

test('`await using` closes both classes at the end of the scope (syntax compiled by TypeScript)', async () => {
  // Node 20's V8 parses no `await using`; TypeScript compiles it to calls of Symbol.asyncDispose,
  // which is how most code uses it today. The compiled module runs here, on the real classes.
  const ts = require('typescript')
  const source = `
    export async function run(addon: any, poolPath: string, persistencePath: string) {
      let pool: any, persistence: any
      {
        await using p = new addon.SQLiteConnectionPool(poolPath, { maxReaders: 1, maxWorkers: 1 })
        pool = p
        await p.exec('CREATE TABLE t(v); INSERT INTO t VALUES (42)')
      }
      {
        await using s = new addon.SwarmPersistencePooled(persistencePath, { maxReaders: 1, maxWorkers: 1 })
        persistence = s
        await s.createSwarm({ id: 's1', name: 'disposed', topology: 'mesh', maxAgents: 1 })
      }
      return { pool, persistence }
    }`
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS },
  })
  assert.match(outputText, /Symbol\.asyncDispose/)
  const file = join(mkdtempSync(join(tmpdir(), 'sp-using-')), 'using.cjs')
  writeFileSync(file, outputText)
  const [poolPath, persistencePath] = [dbPath('using-pool'), dbPath('using-persistence')]
  const { pool, persistence } = await require(file).run(addon, poolPath, persistencePath)
  await rejectsWith(pool.read('SELECT 1'), 'POOL_CLOSED')
  await rejectsWith(persistence.getActiveSwarms(), 'POOL_CLOSED')
  const reopened = new SQLiteConnectionPool(poolPath, small)
  assert.deepEqual(await reopened.read('SELECT v FROM t'), [{ v: 42 }])
  await reopened.close()
  const again = new SwarmPersistencePooled(persistencePath, small)
  assert.deepEqual((await again.getActiveSwarms()).map((s) => s.name), ['disposed'])
  await again[Symbol.asyncDispose]()
  await rejectsWith(again.getActiveSwarms(), 'POOL_CLOSED')
})

// ---- AbortSignal ---------------------------------------------------------------------------

test('an already-aborted signal rejects ABORTED at once, without queueing', async () => {
  const pool = await table('abort-early')
  const signal = AbortSignal.abort()
  const held = await holdWriter(pool)
  // The writer is held: a call that reached its queue could not settle before release.
  const calls = [
    pool.write("INSERT INTO t(v) VALUES ('w')", [], { signal }),
    pool.transaction(["INSERT INTO t(v) VALUES ('tx')"], { signal }),
    pool.exec("INSERT INTO t(v) VALUES ('exec')", { signal }),
    pool.pragma('user_version', 9, { signal }),
    pool.read('SELECT 1', [], { signal }),
    pool.get('SELECT 1', undefined, { signal }),
    pool.executeInWorker('SELECT 1', null, { signal }),
    pool.pragma('user_version', undefined, { signal }),
  ]
  for (const call of calls) await rejectsWith(call, 'ABORTED', /before it ran/)
  assert.equal(pool.getStats().writeQueueLength, 0)
  held.release()
  await held.done
  assert.equal(await count(pool), 0)
  assert.deepEqual(await pool.pragma('user_version'), [{ user_version: 0 }])
  assert.equal(pool.getStats().errors.ABORTED, calls.length)
  assert.equal(getEventListeners(signal, 'abort').length, 0)
  await pool.close()
})

test('a write aborted while queued behind a long transaction rejects at once and never runs', async () => {
  const pool = await table('abort-queued')
  const held = await holdWriter(pool)
  const controller = new AbortController()
  const honest = Array.from({ length: 20 }, (_, i) => pool.write('INSERT INTO t(v) VALUES (?)', [`h${i}`]))
  const aborted = pool.write("INSERT INTO t(v) VALUES ('aborted')", [], { signal: controller.signal })
  const batch = pool.transaction(["INSERT INTO t(v) VALUES ('tx1')", "INSERT INTO t(v) VALUES ('tx2')"], { signal: controller.signal })
  const script = pool.exec("CREATE TABLE never(x); INSERT INTO t(v) VALUES ('exec')", { signal: controller.signal })
  const setting = pool.pragma('user_version', 5, { signal: controller.signal })
  assert.equal(getEventListeners(controller.signal, 'abort').length, 4)
  controller.abort()
  // Settled while the writer is still held (it is released only below), so not waited for.
  for (const call of [aborted, batch, script, setting]) await rejectsWith(call, 'ABORTED', /before it ran/)
  held.release()
  await held.done
  await Promise.all(honest)
  assert.equal(await count(pool), 20)
  assert.equal((await pool.read("SELECT v FROM t WHERE v IN ('aborted', 'tx1', 'tx2', 'exec')")).length, 0)
  assert.deepEqual(await tables(pool), ['t'])
  assert.deepEqual(await pool.pragma('user_version'), [{ user_version: 0 }])
  assert.equal(getEventListeners(controller.signal, 'abort').length, 0)
  await pool.close()
})

test('a running read is interrupted, only that read, and its reader serves the next one', async () => {
  const pool = await table('abort-running', { maxReaders: 2, maxWorkers: 1 })
  for (const run of [
    (signal) => pool.read(forever, [], { signal }),
    (signal) => pool.get(forever, [], { signal }),
    (signal) => pool.executeInWorker(forever, [], { signal }),
  ]) {
    const controller = new AbortController()
    const started = Date.now()
    const running = run(controller.signal)
    await busy(pool)
    // Issued once the endless read runs, so a free reader takes it (a read queued behind another
    // in a reader's batch is a queued read, and an abort would remove it instead).
    const other = pool.get(slowCount(2_000_000))
    await sleep(100)
    controller.abort()
    await rejectsWith(running, 'ABORTED', /interrupted/)
    assert.ok(Date.now() - started < 5_000, 'interrupted long before queryTimeout')
    assert.deepEqual(await other, { n: 2_000_000 }, 'the read beside it was not interrupted')
    // Every reader and the worker serve the next reads normally.
    const next = await Promise.all([
      ...Array.from({ length: 8 }, () => pool.get('SELECT 40 + 2 AS n')),
      pool.executeInWorker('SELECT 42 AS n'),
    ])
    assert.deepEqual(next.flat(), Array.from({ length: 9 }, () => ({ n: 42 })))
  }
  assert.equal(pool.getStats().errors.ABORTED, 3)
  assert.equal(pool.isHealthy, true)
  await pool.close()
})

test('a write that started in its group commit is not interrupted: it completes and resolves', async () => {
  const pool = await table('abort-started')
  await pool.write('CREATE TABLE big(x)')
  const controller = new AbortController()
  const rows = 1_500_000
  const big = pool.write(`INSERT INTO big ${slowCount(rows).replace('count(*) AS n', 'x')}`, [], { signal: controller.signal })
  const neighbour = pool.write("INSERT INTO t(v) VALUES ('neighbour')")
  await busy(pool)
  controller.abort()
  assert.equal((await big).changes, rows)
  await neighbour
  assert.equal(await count(pool, 'big'), rows)
  assert.equal(await count(pool), 1)
  await pool.close()
})

test("an ABORTED rejection carries the signal's reason as its cause", async () => {
  const pool = await table('abort-cause')
  const held = await holdWriter(pool)
  const controller = new AbortController()
  const write = pool.write("INSERT INTO t(v) VALUES ('x')", [], { signal: controller.signal })
  const reason = new Error('user went away')
  controller.abort(reason)
  await assert.rejects(write, (err) => err.code === 'ABORTED' && err.cause === reason)
  held.release()
  await held.done
  await assert.rejects(
    pool.read('SELECT 1', [], { signal: AbortSignal.abort('early') }),
    (err) => err.code === 'ABORTED' && err.cause === 'early',
  )
  // AbortSignal.timeout: a deadline of the caller's own, told apart from queryTimeout by its cause.
  await assert.rejects(
    pool.executeInWorker(forever, [], { signal: AbortSignal.timeout(100) }),
    (err) => err.code === 'ABORTED' && err.cause?.name === 'TimeoutError',
  )
  assert.deepEqual(await pool.executeInWorker('SELECT 42 AS n'), [{ n: 42 }])
  assert.equal(await count(pool), 0)
  await pool.close()
})

test('an abort after the call resolved changes nothing and leaves no listener', async () => {
  const pool = await table('abort-late')
  const controller = new AbortController()
  const { signal } = controller
  assert.deepEqual(await pool.write("INSERT INTO t(v) VALUES ('x')", [], { signal }), { changes: 1, lastInsertRowid: 1 })
  assert.deepEqual(await pool.get('SELECT v FROM t', [], { signal }), { v: 'x' })
  assert.deepEqual(await pool.exec("INSERT INTO t(v) VALUES ('y')", { signal }), { changes: 1 })
  assert.equal(getEventListeners(signal, 'abort').length, 0)
  controller.abort()
  assert.equal(await count(pool), 2)
  assert.equal(pool.getStats().errors.ABORTED, undefined)
  await pool.close()
})

test('listeners on a long-lived signal stay bounded over 10,000 calls', async () => {
  const pool = await table('abort-listeners')
  const { signal } = new AbortController()
  let most = 0
  for (let wave = 0; wave < 10; wave++) {
    const calls = Array.from({ length: 1000 }, (_, i) => {
      const k = wave * 1000 + i
      if (k % 4 === 0) return pool.write('INSERT INTO t(v) VALUES (?)', [`l${k}`], { signal })
      if (k % 4 === 1) return pool.get('SELECT ? AS k', [k], { signal })
      if (k % 4 === 2) return pool.read('SELECT ? AS k', [k], { signal })
      return pool.executeInWorker('SELECT ? AS k', [k], { signal })
    })
    most = Math.max(most, getEventListeners(signal, 'abort').length)
    await Promise.all(calls)
    assert.equal(getEventListeners(signal, 'abort').length, 0, `after wave ${wave}`)
  }
  assert.ok(most <= 1000, `${most} listeners at most`)
  // Failed calls remove theirs too.
  await Promise.allSettled(Array.from({ length: 1000 }, () => pool.write('INSERT INTO nowhere VALUES (1)', [], { signal })))
  assert.equal(getEventListeners(signal, 'abort').length, 0)
  assert.equal(await count(pool), 2500)
  await pool.close()
})

test('aborts racing the start of their jobs: every write either committed and resolved, or ABORTED and absent', async () => {
  const pool = await table('abort-race', { maxReaders: 2, maxWorkers: 1, maxBatch: 16 })
  const when = [
    (abort) => abort(),
    (abort) => queueMicrotask(abort),
    (abort) => setImmediate(abort),
    (abort) => setTimeout(abort, 0),
    (abort) => setTimeout(abort, Math.random() * 20),
    () => {},
  ]
  const writes = []
  const reads = []
  for (let i = 0; i < 1200; i++) {
    const controller = new AbortController()
    writes.push(pool.write('INSERT INTO t(v) VALUES (?)', [`r${i}`], { signal: controller.signal }))
    const reader = new AbortController()
    reads.push(pool.get(slowCount(2_000 + (i % 7) * 1_000), [], { signal: reader.signal }))
    when[i % when.length](() => controller.abort())
    when[(i + 3) % when.length](() => reader.abort())
  }
  const [written, read] = await Promise.all([Promise.allSettled(writes), Promise.allSettled(reads)])
  for (const r of [...written, ...read]) {
    if (r.status === 'rejected') assert.equal(r.reason.code, 'ABORTED', r.reason.message)
  }
  for (const [i, r] of read.entries()) {
    if (r.status === 'fulfilled') assert.deepEqual(r.value, { n: 2_000 + (i % 7) * 1_000 })
  }
  const resolved = new Set(written.flatMap((r, i) => (r.status === 'fulfilled' ? [`r${i}`] : [])))
  const stored = new Set((await pool.read('SELECT v FROM t')).map((r) => r.v))
  assert.deepEqual(stored, resolved, 'exactly the resolved writes are stored')
  assert.ok(resolved.size > 0 && resolved.size < 1200, `${resolved.size} of 1200 resolved`)
  assert.ok(read.some((r) => r.status === 'rejected') && read.some((r) => r.status === 'fulfilled'))
  // Nothing is left interrupted or held: every connection serves a read, the writer commits.
  const after = await Promise.all(Array.from({ length: 50 }, () => pool.get('SELECT 42 AS n')))
  assert.ok(after.every((r) => r.n === 42))
  await pool.write("INSERT INTO t(v) VALUES ('last')")
  assert.equal(await count(pool), resolved.size + 1)
  await pool.close()
})

test('an abort still removes a queued job with the timer globals faked', async () => {
  const pool = await table('abort-fake-timers')
  const held = await holdWriter(pool)
  const saved = { setImmediate, setTimeout, setInterval, clearImmediate }
  Object.assign(globalThis, { setImmediate: () => 0, setTimeout: () => 0, setInterval: () => 0, clearImmediate: () => {} })
  try {
    const controller = new AbortController()
    const queued = Array.from({ length: 100 }, (_, i) =>
      pool.write('INSERT INTO t(v) VALUES (?)', [`q${i}`], { signal: controller.signal }),
    )
    controller.abort()
    for (const call of queued) await rejectsWith(call, 'ABORTED')
    held.release()
    await held.done
  } finally {
    Object.assign(globalThis, saved)
  }
  assert.equal(await count(pool), 0)
  await pool.close()
})

test('a signal that is not an AbortSignal is INVALID_ARGUMENT; options without one change nothing', async () => {
  const pool = await table('abort-invalid')
  for (const signal of [5, 'x', null, {}, { aborted: false }, { aborted: 'no', addEventListener() {}, removeEventListener() {} }, () => {}]) {
    await rejectsWith(pool.read('SELECT 1', [], { signal }), 'INVALID_ARGUMENT', /options.signal must be an AbortSignal/)
    await rejectsWith(pool.write("INSERT INTO t(v) VALUES ('x')", [], { signal }), 'INVALID_ARGUMENT')
  }
  const throwing = {
    get signal() {
      throw new Error('boom')
    },
  }
  await rejectsWith(pool.write("INSERT INTO t(v) VALUES ('x')", [], throwing), 'INVALID_ARGUMENT', /boom/)
  // An object posing as a signal whose listener methods throw: the call rejects, never throws.
  const posing = { aborted: false, addEventListener() { throw new Error('no') }, removeEventListener() {} }
  await rejectsWith(pool.write("INSERT INTO t(v) VALUES ('x')", [], { signal: posing }), 'INVALID_ARGUMENT', /listened to: no/)
  const proxy = new Proxy({}, { get() { throw new Error('trap') } })
  await rejectsWith(pool.read('SELECT 1', [], proxy), 'INVALID_ARGUMENT', /trap/)
  await rejectsWith(pool.read('SELECT 1', [], { signal: proxy }), 'INVALID_ARGUMENT', /trap/)
  assert.equal(await count(pool), 0)
  assert.deepEqual(await pool.read('SELECT 1 AS one', [], {}), [{ one: 1 }])
  assert.deepEqual(await pool.write("INSERT INTO t(v) VALUES ('y')", undefined, { signal: undefined }), { changes: 1, lastInsertRowid: 1 })
  assert.equal(await count(pool), 1)
  // transaction(fn) takes no signal: fn throws to roll back. Without a signal, options are fine.
  let ran = false
  const body = async (tx) => {
    ran = true
    await tx.write("INSERT INTO t(v) VALUES ('fn')")
  }
  await rejectsWith(pool.transaction(body, { signal: new AbortController().signal }), 'INVALID_ARGUMENT', /takes no signal/)
  await rejectsWith(pool.transaction(body, { signal: AbortSignal.abort() }), 'INVALID_ARGUMENT', /takes no signal/)
  assert.equal(ran, false)
  await pool.transaction(body, {})
  assert.equal(ran, true)
  // The signal belongs in the options, not the parameters.
  await rejectsWith(pool.read('SELECT :signal', { signal: new AbortController().signal }), 'INVALID_ARGUMENT')
  await pool.close()
})

test('persistence.pool takes the same options, and an abort on it works alike', async () => {
  const persistence = new SwarmPersistencePooled(dbPath('abort-persistence'), small)
  await persistence.initialize()
  const pool = persistence.pool
  await pool.exec('CREATE TABLE t(v)')
  const held = await holdWriter(pool)
  const controller = new AbortController()
  const write = pool.write('INSERT INTO t VALUES (1)', [], { signal: controller.signal })
  controller.abort()
  await rejectsWith(write, 'ABORTED')
  held.release()
  await held.done
  assert.equal(await count(pool), 0)
  await persistence[Symbol.asyncDispose]()
  await rejectsWith(pool.read('SELECT 1'), 'POOL_CLOSED')
})
