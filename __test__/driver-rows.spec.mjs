// The pool as a SQLite driver: rows returned by writes (RETURNING), raw rows with column
// metadata (`{ raw: true }`), and the per-call options object.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { addon, dbPath, rejectsWith } from './helpers.mjs'

const { SQLiteConnectionPool } = addon

const BIG = 2n ** 60n + 7n

async function open(options = {}) {
  const pool = new SQLiteConnectionPool(dbPath('rows'), { maxReaders: 2, maxWorkers: 1, ...options })
  await pool.write('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE, n REAL, b BLOB, i INTEGER)')
  await pool.write('CREATE TABLE u (id INTEGER PRIMARY KEY, t_id INTEGER, label VARCHAR(20))')
  return pool
}

/** One row of every kind of value: text, real, blob, an integer beyond 2^53, and NULLs. */
const kinds = ['txt', 2.5, Buffer.from([0, 1, 255]), BIG]

test('write() returns the rows of INSERT … RETURNING, equal to what a read returns', async () => {
  for (const safeIntegers of [false, true]) {
    const pool = await open({ safeIntegers })
    const written = await pool.write('INSERT INTO t (v, n, b, i) VALUES (?, ?, ?, ?) RETURNING *', kinds)
    assert.equal(written.changes, 1)
    assert.equal(written.rows.length, 1)
    const nulls = await pool.write("INSERT INTO t (v) VALUES ('nulls') RETURNING id, v, n, b, i")
    assert.deepEqual(nulls.rows, [{ id: 2, v: 'nulls', n: null, b: null, i: null }])
    const read = await pool.read('SELECT * FROM t ORDER BY id')
    assert.deepEqual([...written.rows, ...nulls.rows], read)
    assert.equal(typeof read[0].i, safeIntegers ? 'bigint' : 'number')
    if (safeIntegers) assert.equal(read[0].i, BIG)
    assert.ok(Buffer.isBuffer(written.rows[0].b))
    await pool.close()
  }
})

test('RETURNING keeps changes right; rows is absent when the statement returns no columns', async () => {
  const pool = await open()
  const plain = await pool.write("INSERT INTO t (v) VALUES ('a'), ('b'), ('c')")
  assert.deepEqual(plain, { changes: 3, lastInsertRowid: 3 })
  assert.ok(!('rows' in plain))
  const updated = await pool.write('UPDATE t SET n = id * 1.5 RETURNING id, n')
  assert.equal(updated.changes, 3)
  assert.deepEqual(
    updated.rows.sort((x, y) => x.id - y.id),
    [{ id: 1, n: 1.5 }, { id: 2, n: 3 }, { id: 3, n: 4.5 }],
  )
  const none = await pool.write('DELETE FROM t WHERE id = 99 RETURNING id')
  assert.deepEqual(none, { changes: 0, lastInsertRowid: 3, rows: [] })
  const deleted = await pool.write('DELETE FROM t WHERE id = 2 RETURNING v')
  assert.deepEqual(deleted, { changes: 1, lastInsertRowid: 3, rows: [{ v: 'b' }] })
  // A query sent as a write returns its rows and changes nothing.
  const selected = await pool.write('SELECT count(*) AS n FROM t')
  assert.deepEqual(selected, { changes: 0, lastInsertRowid: 3, rows: [{ n: 2 }] })
  await pool.close()
})

test('RETURNING in an UPSERT returns the updated row; DO NOTHING returns none', async () => {
  const pool = await open()
  await pool.write("INSERT INTO t (v, n) VALUES ('k', 1)")
  const upsert = 'INSERT INTO t (v, n) VALUES (?, ?) ON CONFLICT (v) DO UPDATE SET n = n + excluded.n RETURNING id, v, n'
  const first = await pool.write(upsert, ['k', 10])
  assert.deepEqual(first.rows, [{ id: 1, v: 'k', n: 11 }])
  assert.equal(first.changes, 1)
  const fresh = await pool.write(upsert, ['new', 5])
  assert.deepEqual(fresh.rows, [{ id: 2, v: 'new', n: 5 }])
  assert.equal(fresh.lastInsertRowid, 2)
  const nothing = await pool.write("INSERT INTO t (v) VALUES ('k') ON CONFLICT DO NOTHING RETURNING id")
  assert.deepEqual(nothing.rows, [])
  assert.equal(nothing.changes, 0)
  assert.deepEqual(await pool.read('SELECT id, v, n FROM t ORDER BY id'), [...first.rows, ...fresh.rows])
  await pool.close()
})

test('100,000 rows from one RETURNING, as objects and raw', async () => {
  const pool = await open()
  const many = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000) '
  const objects = await pool.write(`INSERT INTO t (v, i) ${many} SELECT 'v' || x, x FROM c RETURNING id, i`)
  assert.equal(objects.changes, 100_000)
  assert.equal(objects.rows.length, 100_000)
  assert.deepEqual(objects.rows[99_999], { id: 100_000, i: 100_000 })
  const raw = await pool.write('UPDATE t SET n = i RETURNING id, n', [], { raw: true })
  assert.equal(raw.changes, 100_000)
  assert.equal(raw.rows.length, 100_000)
  assert.ok(raw.rows.every(([id, n]) => id === n))
  const { c } = await pool.get('SELECT count(*) AS c FROM t WHERE n = i')
  assert.equal(c, 100_000)
  await pool.close()
})

test('transaction([...]) results carry each statement’s RETURNING rows', async () => {
  const pool = await open()
  const results = await pool.transaction([
    { sql: 'INSERT INTO t (v, n, b, i) VALUES (?, ?, ?, ?) RETURNING *', params: kinds },
    "INSERT INTO t (v) VALUES ('plain')",
    { sql: 'INSERT INTO u (t_id, label) VALUES (?, ?) RETURNING t_id, label', params: [1, 'first'] },
  ])
  assert.equal(results.length, 3)
  assert.equal(results[0].changes, 1)
  assert.ok(!('rows' in results[1]))
  assert.deepEqual(results[0].rows, await pool.read('SELECT * FROM t WHERE id = 1'))
  assert.deepEqual(results[2].rows, [{ t_id: 1, label: 'first' }])
  const raw = await pool.transaction(['UPDATE t SET n = 7 WHERE id = 1 RETURNING id, n', 'DELETE FROM u'], { raw: true })
  assert.deepEqual(raw[0].rows, [[1, 7]])
  assert.deepEqual(raw[0].columns.map((c) => c.name), ['id', 'n'])
  assert.ok(!('columns' in raw[1]) && !('rows' in raw[1]))
  await pool.close()
})

test('the interactive transaction handle returns RETURNING rows, as objects and raw', async () => {
  const pool = await open({ safeIntegers: true })
  const seen = await pool.transaction(async (tx) => {
    const written = await tx.write('INSERT INTO t (v, n, b, i) VALUES (?, ?, ?, ?) RETURNING *', kinds)
    assert.deepEqual(written.rows, await tx.read('SELECT * FROM t'))
    const raw = await tx.write('UPDATE t SET v = ? RETURNING v, i', ['changed'], { raw: true })
    assert.deepEqual(raw.rows, [['changed', BIG]])
    assert.deepEqual(raw.columns[1], { name: 'i', table: 't', column: 'i', type: 'INTEGER' })
    const plain = await tx.write("INSERT INTO u (label) VALUES ('x')")
    assert.ok(!('rows' in plain))
    return written.rows
  })
  const after = await pool.read('SELECT * FROM t')
  assert.deepEqual(after, [{ ...seen[0], v: 'changed' }])
  await pool.close()
})

test('a failing RETURNING statement rejects with its code, commits nothing of its job, and the rest commit', async () => {
  const pool = await open()
  await pool.write("INSERT INTO t (v) VALUES ('taken')")
  const settled = await Promise.allSettled([
    pool.write("INSERT INTO t (v) VALUES ('a') RETURNING id"),
    // The first two rows insert, the third conflicts: the whole statement must leave no trace.
    pool.write("INSERT INTO t (v) VALUES ('x1'), ('x2'), ('taken') RETURNING id, v"),
    pool.transaction(["INSERT INTO t (v) VALUES ('y1') RETURNING id", "INSERT INTO t (v) VALUES ('taken') RETURNING id"]),
    pool.write("INSERT INTO t (v) VALUES ('b') RETURNING v"),
  ])
  assert.equal(settled[0].status, 'fulfilled')
  assert.equal(settled[3].status, 'fulfilled')
  assert.deepEqual(settled[3].value.rows, [{ v: 'b' }])
  for (const failed of [settled[1], settled[2]]) {
    assert.equal(failed.status, 'rejected')
    assert.equal(failed.reason.code, 'SQLITE_CONSTRAINT_UNIQUE')
  }
  const values = (await pool.read('SELECT v FROM t ORDER BY v')).map((r) => r.v)
  assert.deepEqual(values, ['a', 'b', 'taken'])
  await pool.close()
})

test('inside an interactive transaction a failing RETURNING statement undoes itself only', async () => {
  const pool = await open()
  await pool.write("INSERT INTO t (v) VALUES ('taken')")
  await pool.transaction(async (tx) => {
    await tx.write("INSERT INTO t (v) VALUES ('kept') RETURNING id")
    await rejectsWith(tx.write("INSERT INTO t (v) VALUES ('gone'), ('taken') RETURNING id"), 'SQLITE_CONSTRAINT_UNIQUE')
  })
  assert.deepEqual((await pool.read('SELECT v FROM t ORDER BY v')).map((r) => r.v), ['kept', 'taken'])
  await pool.close()
})

test('raw rows keep columns of the same name apart and describe each column', async () => {
  const pool = await open()
  await pool.write("INSERT INTO t (id, v) VALUES (1, 'one'), (2, 'two')")
  await pool.write("INSERT INTO u (id, t_id, label) VALUES (10, 1, 'a'), (20, 2, 'b')")
  const sql = 'SELECT t.id, u.id, u.label AS name, t.v || u.label AS joined, 42 AS answer FROM t JOIN u ON u.t_id = t.id ORDER BY t.id'
  const columns = [
    { name: 'id', table: 't', column: 'id', type: 'INTEGER' },
    { name: 'id', table: 'u', column: 'id', type: 'INTEGER' },
    { name: 'name', table: 'u', column: 'label', type: 'VARCHAR(20)' },
    { name: 'joined', table: null, column: null, type: null },
    { name: 'answer', table: null, column: null, type: null },
  ]
  const rows = [[1, 10, 'a', 'onea', 42], [2, 20, 'b', 'twob', 42]]
  assert.deepEqual(await pool.read(sql, [], { raw: true }), { columns, rows })
  assert.deepEqual(await pool.executeInWorker(sql, undefined, { raw: true }), { columns, rows })
  assert.deepEqual(await pool.get(sql, null, { raw: true }), { columns, rows: [rows[0]] })
  assert.deepEqual(await pool.get(`${sql} LIMIT 0`, [], { raw: true }), { columns, rows: [] })
  // As objects the duplicate name collapses: the reason raw exists.
  assert.equal(Object.keys((await pool.read(sql))[0]).length, 4)
  const inside = await pool.transaction(async (tx) => ({
    read: await tx.read(sql, [], { raw: true }),
    get: await tx.get(sql, [], { raw: true }),
    none: await tx.get('SELECT id FROM t WHERE id = ?', [99], { raw: true }),
  }))
  assert.deepEqual(inside.read, { columns, rows })
  assert.deepEqual(inside.get, { columns, rows: [rows[0]] })
  assert.deepEqual(inside.none, { columns: [{ name: 'id', table: 't', column: 'id', type: 'INTEGER' }], rows: [] })
  await pool.close()
})

test('raw write results: columns and rows for RETURNING, neither for a plain write', async () => {
  const pool = await open({ safeIntegers: true })
  const written = await pool.write('INSERT INTO t (v, n, b, i) VALUES (?, ?, ?, ?) RETURNING id, v, n, b, i, i + 1 AS next', kinds, { raw: true })
  assert.equal(written.changes, 1)
  assert.equal(written.lastInsertRowid, 1)
  assert.deepEqual(written.columns, [
    { name: 'id', table: 't', column: 'id', type: 'INTEGER' },
    { name: 'v', table: 't', column: 'v', type: 'TEXT' },
    { name: 'n', table: 't', column: 'n', type: 'REAL' },
    { name: 'b', table: 't', column: 'b', type: 'BLOB' },
    { name: 'i', table: 't', column: 'i', type: 'INTEGER' },
    { name: 'next', table: null, column: null, type: null },
  ])
  const [row] = written.rows
  assert.deepEqual(row.slice(0, 5), (await pool.read('SELECT id, v, n, b, i FROM t', [], { raw: true })).rows[0])
  assert.equal(row[5], BIG + 1n)
  const plain = await pool.write("INSERT INTO u (label) VALUES ('x')", [], { raw: true })
  assert.deepEqual(plain, { changes: 1, lastInsertRowid: 1 })
  await pool.close()
})

test('options: absent, null, undefined, { raw: false } and unknown keys give objects', async () => {
  const pool = await open()
  await pool.write("INSERT INTO t (v) VALUES ('a')")
  for (const options of [undefined, null, {}, { raw: false }, { raw: undefined }, { other: 1 }, Object.create(null)]) {
    assert.deepEqual(await pool.read('SELECT v FROM t', [], options), [{ v: 'a' }])
    assert.deepEqual(await pool.get('SELECT v FROM t', [], options), { v: 'a' })
  }
  assert.deepEqual(await pool.read('SELECT v FROM t', [], { raw: true, other: 1 }), {
    columns: [{ name: 'v', table: 't', column: 'v', type: 'TEXT' }],
    rows: [['a']],
  })
  // A Proxy answering `raw` is read through its trap, once.
  let reads = 0
  const proxy = new Proxy({}, { get: (_, key) => (key === 'raw' ? (reads++, true) : undefined) })
  assert.deepEqual((await pool.read('SELECT v FROM t', [], proxy)).rows, [['a']])
  assert.equal(reads, 1)
  await pool.close()
})

test('bad options reject with INVALID_ARGUMENT on every call, never throw, and run nothing', async () => {
  const pool = await open()
  const bad = [
    'yes',
    1,
    true,
    [],
    [true],
    () => ({ raw: true }),
    Symbol('raw'),
    { raw: 'yes' },
    { raw: 1 },
    { raw: {} },
    { get raw() { throw new Error('getter threw') } },
    new Proxy({}, { get() { throw new Error('trap threw') } }),
    (() => { const { proxy, revoke } = Proxy.revocable({}, {}); revoke(); return proxy })(),
  ]
  const calls = [
    (o) => pool.read('SELECT 1', [], o),
    (o) => pool.get('SELECT 1', [], o),
    (o) => pool.executeInWorker('SELECT 1', [], o),
    (o) => pool.write("INSERT INTO t (v) VALUES ('never')", [], o),
    (o) => pool.transaction(["INSERT INTO t (v) VALUES ('never')"], o),
  ]
  for (const call of calls) {
    for (const options of bad) {
      let promise
      assert.doesNotThrow(() => { promise = call(options) })
      await rejectsWith(promise, 'INVALID_ARGUMENT')
    }
  }
  await pool.transaction(async (tx) => {
    for (const options of bad) {
      await rejectsWith(tx.read('SELECT 1', [], options), 'INVALID_ARGUMENT')
      await rejectsWith(tx.get('SELECT 1', [], options), 'INVALID_ARGUMENT')
      await rejectsWith(tx.write("INSERT INTO t (v) VALUES ('never')", [], options), 'INVALID_ARGUMENT')
    }
  })
  await rejectsWith(pool.read('SELECT 1', [], { raw: 'yes' }), 'INVALID_ARGUMENT', /options\.raw must be a boolean/)
  await rejectsWith(pool.read('SELECT 1', [], 'yes'), 'INVALID_ARGUMENT', /options must be an object/)
  await rejectsWith(pool.read('SELECT 1', [], { get raw() { throw new Error('getter threw') } }), 'INVALID_ARGUMENT', /getter threw/)
  assert.deepEqual(await pool.read("SELECT * FROM t WHERE v = 'never'"), [])
  await pool.close()
})

test('a getter on options may call the pool again while it is read', async () => {
  const pool = await open()
  let inner
  const options = { get raw() { inner = pool.write("INSERT INTO t (v) VALUES ('inner') RETURNING v"); return true } }
  const outer = await pool.write("INSERT INTO t (v) VALUES ('outer') RETURNING v", [], options)
  assert.deepEqual(outer.rows, [['outer']])
  assert.deepEqual((await inner).rows, [{ v: 'inner' }])
  const inside = await pool.transaction(async (tx) => {
    let nested
    const result = await tx.write("INSERT INTO t (v) VALUES ('tx') RETURNING v", [], {
      get raw() { nested = tx.read('SELECT count(*) AS n FROM t'); return false },
    })
    return [result.rows, await nested]
  })
  assert.deepEqual(inside[0], [{ v: 'tx' }])
  assert.equal(inside[1][0].n, 2)
  assert.equal((await pool.get('SELECT count(*) AS n FROM t')).n, 3)
  await pool.close()
})
