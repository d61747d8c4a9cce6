// Red-team findings against the performance work: readers parked on a doorbell (woken only as
// queued work needs), the writer spinning after a commit, row makers that parse JSON columns, the
// key cache held as a JavaScript array, and arguments stringified with the JSON.stringify kept at
// pool creation. Assertions are on values read back and on which promise settles first; the only
// time limits are generous hang guards.
import test from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { addon, dbPath, slowCount } from './helpers.mjs'

const { SQLiteConnectionPool, SwarmPersistencePooled } = addon
const entry = JSON.stringify(new URL('../lib/index.js', import.meta.url).pathname)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** `promise`, or a rejection naming `what` if it has not settled within 10 s (a lost wake-up). */
function settles(promise, what) {
  let timer
  const hang = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hang: ${what} did not settle within 10 s`)), 10_000)
  })
  return Promise.race([promise, hang]).finally(() => clearTimeout(timer))
}

async function table(name, options) {
  const pool = new SQLiteConnectionPool(dbPath(name), options)
  await pool.write('CREATE TABLE t(id INTEGER PRIMARY KEY, v)')
  await pool.write('INSERT INTO t(v) VALUES (10), (20), (30)')
  return pool
}

async function swarm(name) {
  const p = new SwarmPersistencePooled(dbPath(name), { maxReaders: 1, maxWorkers: 1 })
  await p.initialize()
  await p.createSwarm({ id: 's', name: 'S', topology: 'mesh', maxAgents: 50, strategy: 'x' })
  return p
}

// ---- The key cache: property names kept as elements of a JavaScript array -------------------
// The cache stored each name with `set_element` (an ordinary assignment) and read it back with
// `get_element`. An accessor for an index on Array.prototype or Object.prototype (a polyfill,
// instrumentation, a frozen prototype with an index property) takes the assignment, and every
// later lookup of that name returns what the accessor returns: argument objects are read by the
// wrong field name. Before the cache held an array, names were made afresh and this could not
// happen. Run in a child: such an accessor breaks node:test's own arrays.

test('an index accessor on Object.prototype does not change which argument fields are read', () => {
  const script = `
    const { SwarmPersistencePooled } = require(${entry})
    const path = require('node:path').join(require('node:fs').mkdtempSync(require('node:os').tmpdir() + '/rt17-'), 'a.db')
    ;(async () => {
      const p = new SwarmPersistencePooled(path, { maxReaders: 1, maxWorkers: 1 })
      await p.initialize()
      Object.defineProperty(Object.prototype, '0', { configurable: true, get() { return 'name' }, set() {} })
      // Outcomes kept in a string: the accessor takes element 0 of every array JavaScript fills.
      let outcomes = ''
      for (const id of ['s1', 's2', 's3']) {
        outcomes += await p.createSwarm({ id, name: 'N-' + id, topology: 'mesh', maxAgents: 7, strategy: 'x' })
          .then(() => 'ok;', (e) => e.code + ': ' + e.message + ';')
      }
      delete Object.prototype['0']
      const rows = await p.pool.read('SELECT id, name, max_agents FROM swarms ORDER BY id')
      await p.close()
      process.stdout.write(JSON.stringify({ outcomes, rows }))
    })()
  `
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 })
  assert.equal(child.status, 0, child.stderr)
  const { outcomes, rows } = JSON.parse(child.stdout)
  assert.equal(outcomes, 'ok;ok;ok;')
  assert.deepEqual(rows, [
    { id: 's1', name: 'N-s1', max_agents: 7 },
    { id: 's2', name: 'N-s2', max_agents: 7 },
    { id: 's3', name: 'N-s3', max_agents: 7 },
  ])
})

// ---- JSON.stringify kept at pool creation: only some arguments used it ----------------------
// createAgent / createSwarm / createTask stringified their JSON fields with the JSON.stringify
// kept when the pool was made, but storeMemory's value, logEvent's data, a network's
// architecture and weights, and every update*() field still called the global JSON.stringify as
// it is at the call: after code replaces it, some JSON columns of one pool get the replacement's
// text and others do not.

test('every argument stored as JSON uses the JSON.stringify kept when the pool was made', async () => {
  const p = await swarm('kept-stringify')
  await p.createAgent({ id: 'a', swarmId: 's', name: 'n', type: 't' })
  await p.createTask({ id: 'task', swarmId: 's', description: 'd' })
  const real = JSON.stringify
  let pending
  JSON.stringify = () => '"replaced"'
  try {
    pending = [
      p.createAgent({ id: 'b', swarmId: 's', name: 'n', type: 't', capabilities: ['c'] }),
      p.storeMemory('a', 'k', { v: 1 }),
      p.logEvent('s', 'e', { v: 2 }),
      p.storeNeuralNetwork({ id: 'nn', agentId: 'a', architecture: { layers: [3] }, weights: [1, 2] }),
    ]
  } finally {
    JSON.stringify = real
  }
  await Promise.all(pending)
  const nn = (await p.getAgentNeuralNetworks('a'))[0]
  JSON.stringify = () => '"replaced"'
  try {
    pending = [
      p.updateNeuralNetwork(nn.id, { weights: [3] }),
      p.updateTask('task', { result: { r: 1 } }),
    ]
  } finally {
    JSON.stringify = real
  }
  await Promise.all(pending)
  assert.deepEqual((await p.getAgent('b')).capabilities, ['c'])
  assert.deepEqual((await p.getMemory('a', 'k')).value, { v: 1 })
  const [event] = await p.pool.read("SELECT event_data FROM events WHERE event_type = 'e'")
  assert.equal(event.event_data, '{"v":2}')
  const [net] = await p.pool.read('SELECT architecture, weights FROM neural_networks')
  assert.deepEqual(net, { architecture: '{"layers":[3]}', weights: '[3]' })
  const [task] = await p.pool.read("SELECT result FROM tasks WHERE id = 'task'")
  assert.equal(task.result, '{"r":1}')
  await p.close()
})

// ---- What held -------------------------------------------------------------------------------

test('JSON columns read back the same through the row maker and without code generation', () => {
  // The maker's P() against the per-column path it replaced (the one used when code cannot be
  // generated): empty, NULL, not JSON, numbers and blobs in JSON columns, __proto__ keys, deep JSON.
  const script = `
    const { SwarmPersistencePooled } = require(${entry})
    const { inspect } = require('node:util')
    const path = require('node:path').join(require('node:fs').mkdtempSync(require('node:os').tmpdir() + '/rt17-'), 'a.db')
    ;(async () => {
      const p = new SwarmPersistencePooled(path, { maxReaders: 1, maxWorkers: 1 })
      await p.initialize()
      await p.createSwarm({ id: 's', name: 'S', topology: 'mesh', maxAgents: 50, strategy: 'x' })
      const values = ['NULL', "''", "' '", "'not json'", "'{\\"__proto__\\":{\\"x\\":1}}'", "'\\"str\\"'", '123', '1.5',
        "X'00FF'", "'[1,2'", "'null'", "'12345678901234567890'", "'[' || replace(hex(zeroblob(5000)), '00', '[') || ']'"]
      for (const [i, v] of values.entries()) {
        await p.pool.write('INSERT INTO agents(id, swarm_id, name, type, status, capabilities, neural_config, metrics) ' +
          "VALUES ('a" + i + "', 's', 'n', 't', 'idle', " + v + ', ' + v + ', ' + v + ')')
      }
      JSON.parse = () => 'replaced after the pool was made'
      const out = []
      for (const [i] of values.entries()) {
        const a = await p.getAgent('a' + i)
        out.push([a.capabilities, a.neural_config, a.metrics].map((x) => [typeof x, Object.getPrototypeOf(x ?? {}) === Object.prototype, inspect(x, { depth: 2 }).slice(0, 60)]))
      }
      out.push((await p.getSwarmAgents('s')).map((a) => inspect(a.capabilities, { depth: 1 }).slice(0, 40)))
      await p.close()
      process.stdout.write(JSON.stringify(out))
    })()
  `
  const run = (flags) => spawnSync(process.execPath, [...flags, '-e', script], { encoding: 'utf8', timeout: 30_000 })
  const made = run([])
  const fallback = run(['--disallow-code-generation-from-strings'])
  assert.equal(made.status, 0, made.stderr)
  assert.equal(fallback.status, 0, fallback.stderr)
  assert.deepEqual(JSON.parse(made.stdout), JSON.parse(fallback.stdout))
  const rows = JSON.parse(made.stdout)
  assert.deepEqual(rows[0][0], ['object', false, '[]'], 'NULL capabilities: []')
  assert.deepEqual(rows[3][0], ['string', false, "'not json'"], 'not JSON: the text itself')
  assert.deepEqual(rows[4][0][2], "{ ['__proto__']: { x: 1 } }", '__proto__ stays an own key')
})

test('a read never waits behind a long read or an open iteration while another reader is parked', async () => {
  for (const maxReaders of [2, 3, 8]) {
    const pool = await table(`doorbell-${maxReaders}`, { maxReaders, maxWorkers: 1, queryTimeout: 60_000 })
    await sleep(100) // every reader parks
    const order = []
    const iteration = pool.iterate('SELECT v FROM t ORDER BY id', [], { batchSize: 1 })[Symbol.asyncIterator]()
    assert.deepEqual((await iteration.next()).value, { v: 10 })
    const long = pool.read(slowCount(20_000_000)).then((r) => { order.push('long'); return r })
    await sleep(50)
    const quick = pool.read('SELECT sum(v) AS s FROM t').then((r) => { order.push('quick'); return r })
    assert.deepEqual(await settles(quick, 'quick read'), [{ s: 60 }])
    if (maxReaders > 2) assert.equal(order[0], 'quick', `maxReaders ${maxReaders}: the quick read waited behind the long one`)
    assert.deepEqual(await settles(long, 'long read'), [{ n: 20_000_000 }])
    await iteration.return()
    await settles(pool.close(), 'close')
  }
})

test('bursts and pauses of every length: no read is left waiting on a parked reader', async () => {
  for (const maxReaders of [1, 2, 4]) {
    const pool = await table(`bursts-${maxReaders}`, { maxReaders, maxWorkers: 1 })
    for (let round = 0; round < 1500; round++) {
      const burst = []
      for (let i = 0; i <= round % 7; i++) {
        burst.push(pool.read('SELECT v FROM t WHERE id = ?', [1 + (i % 3)]))
        if (i % 3 === 2) await null
      }
      if (round % 100 === 0) burst.push(pool.write('UPDATE t SET v = v WHERE id = 1'))
      const got = await settles(Promise.all(burst), `round ${round} of maxReaders ${maxReaders}`)
      assert.equal(got.length, burst.length)
      const pause = round % 4
      if (pause === 1) await sleep(1)
      else if (pause === 2) await new Promise((r) => setImmediate(r))
      else if (pause === 3) await sleep(0)
    }
    await settles(pool.close(), 'close')
  }
})

test('an idle pool burns no CPU, and a process with parked readers exits without close()', () => {
  const script = `
    const { SQLiteConnectionPool } = require(${entry})
    const { readFileSync, mkdtempSync } = require('node:fs')
    const dir = mkdtempSync(require('node:os').tmpdir() + '/rt17-')
    const ticks = () => { const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' '); return +f[11] + +f[12] }
    ;(async () => {
      const pools = []
      for (const n of [1, 4, 64]) {
        const p = new SQLiteConnectionPool(dir + '/p' + n + '.db', { maxReaders: n, maxWorkers: 1 })
        await p.write('CREATE TABLE t(v)')
        await Promise.all(Array.from({ length: 300 }, () => p.read('SELECT count(*) FROM t')))
        pools.push(p)
      }
      await new Promise((r) => setTimeout(r, 300))
      const before = ticks()
      await new Promise((r) => setTimeout(r, 2000))
      const idle = ticks() - before
      const after = await Promise.all(pools.map((p) => p.read('SELECT 1 AS one')))
      process.stdout.write(JSON.stringify({ idle, after }))
    })()
  `
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 })
  assert.equal(child.status, 0, `exit: ${child.status} ${child.signal} ${child.stderr}`)
  const { idle, after } = JSON.parse(child.stdout)
  assert.deepEqual(after, [[{ one: 1 }], [{ one: 1 }], [{ one: 1 }]])
  // Clock ticks (1/100 s) over 2 s: one spinning thread alone would show ~200.
  assert.ok(idle < 50, `an idle process used ${idle} ticks of CPU in 2 s`)
})

test('close() while readers are parked or spinning drains every queued read', async () => {
  for (const maxReaders of [1, 2, 64]) {
    for (let round = 0; round < 20; round++) {
      const pool = await table(`close-parked-${maxReaders}`, { maxReaders, maxWorkers: 1 })
      if (round % 2) await sleep(5)
      const reads = Array.from({ length: round * 3 }, (_, i) => pool.read('SELECT v FROM t WHERE id = ?', [1 + (i % 3)]))
      const closed = pool.close()
      const got = await settles(Promise.all(reads), `reads queued before close (maxReaders ${maxReaders})`)
      assert.equal(got.flat().length, reads.length)
      await settles(closed, 'close')
    }
  }
})

test('many keys: JSON objects with thousands of distinct keys round-trip past the key cache', async () => {
  const p = await swarm('many-keys')
  const capabilities = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`k${i}`, i]))
  Object.assign(capabilities, { '0': 'zero', '1e3': 'e', constructor: 'c', ['__proto__']: 'p' })
  await p.createAgent({ id: 'a', swarmId: 's', name: 'n', type: 't', capabilities })
  for (let round = 0; round < 2; round++) {
    const got = (await p.getAgent('a')).capabilities
    assert.equal(Object.keys(got).length, 3003)
    assert.equal(got.k2999, 2999)
    assert.equal(got['0'], 'zero')
    assert.equal(got['1e3'], 'e')
    assert.equal(got.constructor, 'c')
  }
  const cols = Array.from({ length: 1200 }, (_, i) => `${i} AS "c${i}"`).join(', ')
  for (let round = 0; round < 2; round++) {
    const [row] = await p.pool.read(`SELECT ${cols}, 1 AS "__proto__"`)
    assert.equal(Object.keys(row).length, 1201)
    assert.equal(row.c1199, 1199)
    assert.ok(Object.hasOwn(row, '__proto__'))
  }
  await p.close()
})

// ---- Result arrays and objects under prototype setters ---------------------------------------
// Result arrays were made with a length and filled with `set_element`, an assignment: with a
// setter for index 0 on Object.prototype the first row went to the setter and the array read
// back the getter's value. Objects the pool makes (write results, raw columns) were filled the
// same way, so a setter named `changes` or `rows` emptied them, and the AbortSignal call's
// internal pair lost its token (the call threw synchronously). Elements and properties are now
// defined. Run in a child, like the test above.

test('setters for indexes and names on Object.prototype take nothing from results', () => {
  const script = `
    const { SQLiteConnectionPool } = require(${entry})
    const path = require('node:path').join(require('node:fs').mkdtempSync(require('node:os').tmpdir() + '/rt17b-'), 'a.db')
    ;(async () => {
      const pool = new SQLiteConnectionPool(path, { maxReaders: 1, maxWorkers: 1 })
      await pool.write('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)')
      await pool.transaction(Array.from({ length: 20_000 }, (_, i) => ({ sql: 'INSERT INTO t (v) VALUES (?)', params: ['r' + i] })))
      const keys = ['0', '1', '8192', 'changes', 'lastInsertRowid', 'rows', 'columns', 'name', 'table']
      for (const k of keys) Object.defineProperty(Object.prototype, k, { configurable: true, get() { return 'POLLUTED' }, set() {} })
      const few = await pool.read('SELECT id, v FROM t ORDER BY id LIMIT 2')
      const all = await pool.read('SELECT id, v FROM t ORDER BY id')
      const raw = await pool.read('SELECT id, v FROM t ORDER BY id LIMIT 2', [], { raw: true })
      const write = await pool.write('INSERT INTO t (v) VALUES (?) RETURNING id, v', ['z'])
      const writes = await pool.transaction([{ sql: 'UPDATE t SET v = ? WHERE id = 1', params: ['y'] }])
      const counted = await pool.get('SELECT count(*) AS n FROM t', [], { signal: new AbortController().signal })
        .then((row) => row.n, (e) => 'rejected ' + e.code)
      for (const k of keys) delete Object.prototype[k]
      const own = (o, k) => Object.prototype.hasOwnProperty.call(o, k)
      const out = {
        few, allLength: all.length, allOwn: [0, 1, 8192, 19_999].every((i) => own(all, i)),
        all8192: all[8192], allLast: all[19_999], raw, write, writes, counted,
      }
      await pool.close()
      process.stdout.write(JSON.stringify(out))
    })().catch((e) => { console.error(e); process.exit(3) })
  `
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 })
  assert.equal(child.status, 0, child.stderr)
  const out = JSON.parse(child.stdout)
  assert.deepEqual(out.few, [{ id: 1, v: 'r0' }, { id: 2, v: 'r1' }])
  assert.equal(out.allLength, 20_000)
  assert.equal(out.allOwn, true)
  assert.deepEqual(out.all8192, { id: 8193, v: 'r8192' })
  assert.deepEqual(out.allLast, { id: 20_000, v: 'r19999' })
  assert.deepEqual(out.raw, {
    columns: [
      { name: 'id', table: 't', column: 'id', type: 'INTEGER' },
      { name: 'v', table: 't', column: 'v', type: 'TEXT' },
    ],
    rows: [[1, 'r0'], [2, 'r1']],
  })
  assert.deepEqual(out.write, { changes: 1, lastInsertRowid: 20_001, rows: [{ id: 20_001, v: 'z' }] })
  assert.deepEqual(out.writes, [{ changes: 1, lastInsertRowid: 20_001 }])
  assert.equal(out.counted, 20_001)
})
