// Red-team findings against results built in one call (`Lists`, src/js/shape.rs) and objects the
// pool defines instead of assigning. Each hostile change to a prototype or a global runs in a
// child process: it would break node:test's own objects. Assertions are on values read back.
import test from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'

const entry = JSON.stringify(new URL('../lib/index.js', import.meta.url).pathname)

/** Runs `body` (an async function body with `pool` open on 20 000 rows of `t`) in a child; its
 * return value comes back parsed. */
function child(body, flags = []) {
  const script = `
    const { SQLiteConnectionPool } = require(${entry})
    const fs = require('node:fs')
    const path = require('node:path').join(fs.mkdtempSync(require('node:os').tmpdir() + '/rtlists-'), 'a.db')
    ;(async () => {
      const pool = new SQLiteConnectionPool(path, { maxReaders: 1, maxWorkers: 1 })
      await pool.write('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)')
      await pool.write("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000) INSERT INTO t (v) SELECT 'r' || i FROM c")
      const own = (o, k) => Object.prototype.hasOwnProperty.call(o, k)
      const out = await (async () => { ${body} })()
      await pool.close()
      fs.writeSync(1, JSON.stringify(out))
    })().catch((e) => { console.error(e); process.exit(3) })
  `
  const run = spawnSync(process.execPath, [...flags, '-e', script], { encoding: 'utf8', timeout: 60_000 })
  assert.equal(run.status, 0, run.stderr)
  return JSON.parse(run.stdout)
}

// Past 8192 rows the chunks were joined with `Array.prototype.flat`, which makes its result with
// `chunks.constructor[Symbol.species]` as it is when it runs: a species given to Array after the
// pool was made got every result of 8193 rows or more as whatever that constructor made (here a
// plain object without a length), while results of 8192 rows or fewer stayed arrays.
test('results past 8192 rows stay arrays when Array is given a species after the pool was made', () => {
  const out = child(`
    class Other { constructor() { return { other: true } } }
    Object.defineProperty(Array, Symbol.species, { configurable: true, get: () => Other })
    const sizes = [8191, 8192, 8193, 16384, 16385, 20000]
    const result = {}
    for (const n of sizes) {
      const rows = await pool.read('SELECT id, v FROM t ORDER BY id LIMIT ?', [n])
      const raw = await pool.read('SELECT id FROM t ORDER BY id LIMIT ?', [n], { raw: true })
      result[n] = [Array.isArray(rows), rows.length, rows[n - 1].id, Array.isArray(raw.rows), raw.rows.length, raw.rows[n - 1][0]]
    }
    return result
  `)
  for (const n of [8191, 8192, 8193, 16384, 16385, 20000]) {
    assert.deepEqual(out[n], [true, n, n, true, n, n], `${n} rows`)
  }
})

// Without code generation the one-call helpers cannot be made, and results were filled with
// `napi_set_element`, an assignment: a setter for an index on Object.prototype took the element.
test('with code generation disabled, setters for indexes on Object.prototype take no elements from results', () => {
  const out = child(
    `
    for (const k of ['0', '1', '8192']) {
      Object.defineProperty(Object.prototype, k, { configurable: true, get() { return 'POLLUTED' }, set() {} })
    }
    const few = await pool.read('SELECT id, v FROM t ORDER BY id LIMIT 2')
    const all = await pool.read('SELECT id FROM t ORDER BY id')
    const raw = await pool.read('SELECT id, v FROM t ORDER BY id LIMIT 2', [], { raw: true })
    const writes = await pool.transaction([{ sql: 'UPDATE t SET v = ? WHERE id = 1', params: ['r1'] }])
    const stats = pool.getStats()
    for (const k of ['0', '1', '8192']) delete Object.prototype[k]
    return {
      few, allOwn: [own(all, 0), own(all, 8192), all.length, all[8192].id],
      raw, rawOwn: [own(raw.rows, 0), own(raw.rows[0], 1), own(raw.columns, 0)],
      writes, latencies: Object.values(stats).filter(Array.isArray).every((a) => a.every((_, i) => own(a, i))),
    }
  `,
    ['--disallow-code-generation-from-strings'],
  )
  assert.deepEqual(out.few, [{ id: 1, v: 'r1' }, { id: 2, v: 'r2' }])
  assert.deepEqual(out.allOwn, [true, true, 20_000, 8193])
  assert.deepEqual(out.raw.rows, [[1, 'r1'], [2, 'r2']])
  assert.deepEqual(out.rawOwn, [true, true, true])
  assert.deepEqual(out.writes.map((w) => w.changes), [1])
  assert.equal(out.latencies, true)
})

// The handle iterate() drives (`next`, `pull`, `close`) was filled by assignment: a setter of one
// of those names on Object.prototype took the function and the loop threw an untyped TypeError
// ("iteration.pull is not a function").
test('iterate() reads every row when Object.prototype has setters named next, pull and close', () => {
  const out = child(`
    for (const k of ['next', 'pull', 'close']) {
      Object.defineProperty(Object.prototype, k, { configurable: true, get() { return undefined }, set() {} })
    }
    let count = 0
    let last
    let error = null
    try {
      for await (const row of pool.iterate('SELECT id, v FROM t ORDER BY id')) { count++; last = row }
    } catch (e) { error = String(e.code) + ' ' + e.message }
    for (const k of ['next', 'pull', 'close']) delete Object.prototype[k]
    return { count, last, error }
  `)
  assert.deepEqual(out, { count: 20_000, last: { id: 20_000, v: 'r20000' }, error: null })
})
