// Red-team findings against the driver features (RETURNING rows, pragma(), exec(), per-call
// AbortSignal, Symbol.asyncDispose). Each test reproduces one defect; every assertion is on values
// read back or on rejection codes, never on timing.
import test from 'node:test'
import assert from 'node:assert/strict'
import { addon, dbPath, rejectsWith } from './helpers.mjs'

const { SQLiteConnectionPool, SwarmPersistencePooled } = addon
const small = { maxReaders: 2, maxWorkers: 1 }

async function table(name, options = small) {
  const path = dbPath(name)
  const pool = new SQLiteConnectionPool(path, options)
  await pool.write('CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)')
  return { pool, path }
}

// ---- TEMP objects live on the writer connection only ----------------------------------------
// A TEMP table shadows the main table of the same name for every later write on the shared writer
// (all pools on the file share it), but not for readers: writes resolve, readers never see them,
// and they are gone at close. A TEMP trigger silently rewrites or refuses every caller's writes.

test('a TEMP table cannot shadow a main table on the shared writer: acknowledged writes stay durable', async () => {
  const { pool, path } = await table('temp-shadow')
  for (const sql of [
    'CREATE TEMP TABLE t(id INTEGER PRIMARY KEY, v TEXT)',
    'CREATE TABLE temp.t(id INTEGER PRIMARY KEY, v TEXT)',
    'CREATE TEMPORARY TABLE IF NOT EXISTS t AS SELECT * FROM main.t',
  ]) {
    await rejectsWith(pool.write(sql), 'INVALID_ARGUMENT')
    await rejectsWith(pool.exec(`SELECT 1; ${sql}`), 'INVALID_ARGUMENT')
    await rejectsWith(pool.transaction([sql]), 'INVALID_ARGUMENT')
    await rejectsWith(pool.transaction(async (tx) => tx.write(sql)), 'INVALID_ARGUMENT')
  }
  const acked = await pool.write("INSERT INTO t(v) VALUES ('acked') RETURNING id")
  assert.deepEqual(acked.rows, [{ id: 1 }])
  assert.deepEqual(await pool.read('SELECT id, v FROM t'), [{ id: 1, v: 'acked' }])
  await pool.close()
  const again = new SQLiteConnectionPool(path, small)
  assert.deepEqual(await again.read('SELECT id, v FROM t'), [{ id: 1, v: 'acked' }])
  await again.close()
})

test('TEMP triggers, views, indexes and virtual tables are refused on the writer', async () => {
  const { pool } = await table('temp-trigger')
  for (const sql of [
    "CREATE TEMP TRIGGER hijack BEFORE INSERT ON main.t BEGIN SELECT RAISE(ABORT, 'hijacked'); END",
    'CREATE TEMP TRIGGER spy AFTER INSERT ON main.t BEGIN UPDATE main.t SET v = NULL WHERE id = new.id; END',
    'CREATE TEMP VIEW t_view AS SELECT * FROM main.t',
    'CREATE VIRTUAL TABLE temp.fts USING fts5(a)',
  ]) {
    await rejectsWith(pool.exec(sql), 'INVALID_ARGUMENT')
    await rejectsWith(pool.write(sql), 'INVALID_ARGUMENT')
  }
  // The writer's temp schema stayed empty, so other callers' writes are untouched.
  const persistence = new SwarmPersistencePooled(dbPath('temp-persistence'))
  await persistence.initialize()
  await rejectsWith(persistence.pool.write('CREATE TEMP TABLE swarms(id)'), 'INVALID_ARGUMENT')
  await persistence.createSwarm({ id: 's1', name: 'n', topology: 'mesh', maxAgents: 1 })
  assert.equal((await persistence.getActiveSwarms()).length, 1)
  await persistence.close()
  await pool.write("INSERT INTO t(v) VALUES ('kept')")
  assert.deepEqual(await pool.read('SELECT v FROM t'), [{ v: 'kept' }])
  assert.deepEqual(await pool.read("SELECT name FROM sqlite_temp_schema"), [])
  await pool.close()
})

// ---- changes of a statement that changes no rows --------------------------------------------
// SQLite's sqlite3_changes() keeps the count of the last INSERT/UPDATE/DELETE on the connection,
// so DDL reported the row count of whatever job ran before it on the writer: another caller's.

test('a statement that inserts, updates or deletes nothing reports changes 0, never an earlier job’s count', async () => {
  const { pool } = await table('stale-changes')
  const [insert, create, index, drop, pragma] = await Promise.all([
    pool.write("INSERT INTO t(v) VALUES ('1'), ('2'), ('3'), ('4'), ('5')"),
    pool.write('CREATE TABLE other(x)'),
    pool.write('CREATE INDEX t_v ON t(v)'),
    pool.write('DROP INDEX t_v'),
    pool.write('PRAGMA user_version = 3'),
  ])
  assert.equal(insert.changes, 5)
  assert.deepEqual([create.changes, index.changes, drop.changes, pragma.changes], [0, 0, 0, 0])
  const list = await pool.transaction(["UPDATE t SET v = v || '!' WHERE id <= 3", 'CREATE TABLE more(x)', 'DROP TABLE more'])
  assert.deepEqual(list.map((r) => r.changes), [3, 0, 0])
  const vacuum = await pool.write('VACUUM')
  assert.equal(vacuum.changes, 0)
  const inside = await pool.transaction(async (tx) => {
    await tx.write('DELETE FROM t WHERE id > 3')
    return tx.write('CREATE TABLE inside(x)')
  })
  assert.equal(inside.changes, 0)
  // Real counts are kept: RETURNING, zero-row updates, upserts.
  assert.equal((await pool.write("UPDATE t SET v = 'x' WHERE id = 99")).changes, 0)
  const returned = await pool.write("UPDATE t SET v = 'y' RETURNING id")
  assert.equal(returned.changes, 3)
  assert.equal(returned.rows.length, 3)
  await pool.close()
})

// ---- exec() of a long script ----------------------------------------------------------------
// SQLite copies the remaining text of a script on every prepare unless it ends in a NUL, so a
// script of n statements cost O(n²) on the writer (100,000 short INSERTs: ~12 s). The observable
// part asserted here: a long script runs whole and counts every row; the quadratic cost is shown by
// the Rust test `a_long_script_prepares_each_statement_once`.

test('exec() of 20,000 statements runs whole, and a NUL-free script still ends where it ends', async () => {
  const { pool } = await table('exec-long')
  const script = Array.from({ length: 20_000 }, (_, i) => `INSERT INTO t(v) VALUES ('${i}')`).join(';\n')
  assert.deepEqual(await pool.exec(script), { changes: 20_000 })
  assert.deepEqual(await pool.get('SELECT count(*) AS n, max(v + 0) AS top FROM t'), { n: 20_000, top: 19_999 })
  // A trailing comment, a trailing `;` and an unterminated comment are still fine.
  assert.deepEqual(await pool.exec("INSERT INTO t(v) VALUES ('a'); -- done"), { changes: 1 })
  assert.deepEqual(await pool.exec("INSERT INTO t(v) VALUES ('b');"), { changes: 1 })
  assert.deepEqual(await pool.exec("INSERT INTO t(v) VALUES ('c') /* open"), { changes: 1 })
  await rejectsWith(pool.exec("INSERT INTO t(v) VALUES ('d'); INSERT INTO"), 'SQLITE_ERROR')
  assert.equal((await pool.get('SELECT count(*) AS n FROM t')).n, 20_003)
  await pool.close()
})

// ---- a signal that misbehaves when its listener is removed ----------------------------------
// The listener is removed after the call settled; a removeEventListener that throws turned a
// committed write into a rejection without a code.

test('a signal whose removeEventListener throws never turns a committed write into a rejection', async () => {
  const { pool } = await table('signal-remove-throws')
  const signal = {
    aborted: false,
    addEventListener() {},
    removeEventListener() {
      throw new Error('removeEventListener threw')
    },
  }
  const written = await pool.write("INSERT INTO t(v) VALUES ('committed') RETURNING v", [], { signal })
  assert.deepEqual(written.rows, [{ v: 'committed' }])
  assert.deepEqual(await pool.read('SELECT v FROM t', [], { signal }), [{ v: 'committed' }])
  await rejectsWith(pool.write('INSERT INTO nowhere VALUES (1)', [], { signal }), 'SQLITE_ERROR')
  await pool.close()
})

// ---- transaction(fn, options) ---------------------------------------------------------------
// README: options that are not an object (or null/undefined), and a `raw` that is not a boolean,
// reject INVALID_ARGUMENT on every call that runs SQL; transaction(fn, …) accepted anything.

test('transaction(fn, options) refuses bad options as transaction([...]) does, and runs nothing', async () => {
  const { pool } = await table('tx-fn-options')
  for (const options of ['yes', 1, true, [], { raw: 'yes' }, { raw: 1 }]) {
    let ran = false
    await rejectsWith(
      pool.transaction(async (tx) => {
        ran = true
        await tx.write("INSERT INTO t(v) VALUES ('never')")
      }, options),
      'INVALID_ARGUMENT',
    )
    assert.equal(ran, false)
    await rejectsWith(pool.transaction(["INSERT INTO t(v) VALUES ('never')"], options), 'INVALID_ARGUMENT')
  }
  assert.equal(await pool.transaction(async () => 'ok', {}), 'ok')
  assert.equal(await pool.transaction(async () => 'ok', { raw: false }), 'ok')
  assert.deepEqual(await pool.read('SELECT v FROM t'), [])
  await pool.close()
})

// ---- max_page_count, the one setting a rollback does not undo -------------------------------
// `PRAGMA max_page_count = n` changes the writer connection, not the database: inside an exec()
// script that then failed, or a transaction(fn) that threw, it stayed set, and every later write
// of every caller failed SQLITE_FULL; pragma('max_page_count') read a reader's value (SQLite's
// default) and hid it.

test('a failed script or a rolled-back transaction leaves no max_page_count quota behind', async () => {
  const { pool } = await table('quota-rollback')
  const big = 'x'.repeat(100_000)
  await rejectsWith(pool.exec('PRAGMA max_page_count = 2; INSERT INTO nowhere VALUES (1)'), 'INVALID_ARGUMENT')
  await rejectsWith(pool.exec('INSERT INTO t(v) VALUES (1); PRAGMA max_page_count = 2'), 'INVALID_ARGUMENT')
  await pool.write('INSERT INTO t(v) VALUES (?)', [big])
  // A statement the writer cached outside a transaction is authorized again inside one.
  assert.deepEqual((await pool.write('PRAGMA max_page_count = 4294967294')).changes, 0)
  await rejectsWith(
    pool.transaction(async (tx) => {
      await tx.write('PRAGMA max_page_count = 4294967294')
    }),
    'INVALID_ARGUMENT',
  )
  await rejectsWith(
    pool.transaction(async (tx) => {
      await tx.write('PRAGMA max_page_count = 2')
      throw new Error('roll back')
    }),
    'INVALID_ARGUMENT',
  )
  await pool.write('INSERT INTO t(v) VALUES (?)', [big])
  assert.equal((await pool.get('SELECT count(*) AS n FROM t')).n, 2)
  assert.deepEqual(await pool.pragma('max_page_count'), [{ max_page_count: 4294967294 }])
  // user_version stays settable in a script, and is undone with it.
  await rejectsWith(pool.exec('PRAGMA user_version = 9; INSERT INTO nowhere VALUES (1)'), 'SQLITE_ERROR')
  assert.deepEqual(await pool.pragma('user_version'), [{ user_version: 0 }])
  await pool.close()
})

test("pragma('max_page_count') reads the writer's quota that pragma('max_page_count', n) set", async () => {
  const { pool } = await table('quota-read')
  const [{ page_count: pages }] = await pool.pragma('page_count')
  assert.deepEqual(await pool.pragma('max_page_count', pages + 5), [{ max_page_count: pages + 5 }])
  assert.deepEqual(await pool.pragma('max_page_count'), [{ max_page_count: pages + 5 }])
  await pool.pragma('max_page_count', 4294967294)
  assert.deepEqual(await pool.pragma('max_page_count'), [{ max_page_count: 4294967294 }])
  await pool.close()
})

// ---- A cached EXPLAIN outlived the schema it was prepared against ----------------------------
// SQLite lists an EXPLAIN's program without checking the schema, so the statement cache served a
// stale program after DDL, pointing at freed schema objects (the fuzzer's segfault). Like any
// EXPLAIN, it describes the schema its connection last loaded: a plain statement loads it first.

test('EXPLAIN after DDL lists the program for the new schema, on readers, workers and the writer', async () => {
  const { pool } = await table('explain-after-ddl', { maxReaders: 1, maxWorkers: 1 })
  const columnsRead = async (run) => (await run('EXPLAIN SELECT * FROM t')).filter((op) => op.opcode === 'Column').length
  const lanes = [
    (sql) => pool.read(sql),
    (sql) => pool.executeInWorker(sql),
    async (sql) => (await pool.write(sql)).rows,
  ]
  for (const run of lanes) assert.equal(await columnsRead(run), 1)
  for (let n = 2; n <= 12; n++) {
    const cols = Array.from({ length: n }, (_, i) => `c${i}`).join(', ')
    await pool.exec(`DROP TABLE t; CREATE TABLE t(id INTEGER PRIMARY KEY, ${cols})`)
    for (const run of lanes) {
      await run('SELECT count(*) FROM t')
      assert.equal(await columnsRead(run), n, `${n} columns`)
    }
  }
  await pool.close()
})
