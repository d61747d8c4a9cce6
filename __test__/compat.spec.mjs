// Compatibility with ruv-swarm's JavaScript `SQLiteConnectionPool` and `SwarmPersistencePooled`,
// written from the original's documented and observed behaviour and exercised the way its own
// callers (index-enhanced.js, mcp-tools-enhanced.js) and its own pool tests use them. The
// SwarmPersistencePooled tests run once per backend (SQLite, and PostgreSQL when configured).
import test from 'node:test'
import assert from 'node:assert/strict'
import { EventEmitter, once } from 'node:events'
import { spawnSync } from 'node:child_process'
import { addon, dbPath, rejectsWith } from './helpers.mjs'
import { eachBackend } from './backends.mjs'

const { SQLiteConnectionPool, SwarmPersistencePooled } = addon
const entry = JSON.stringify(new URL('../lib/index.js', import.meta.url).pathname)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

const ORIGINAL_STATS = {
  totalReads: 'number',
  totalWrites: 'number',
  totalWorkerTasks: 'number',
  failedConnections: 'number',
  averageReadTime: 'number',
  averageWriteTime: 'number',
  activeConnections: 'number',
  availableReaders: 'number',
  availableWorkers: 'number',
  readQueueLength: 'number',
  writeQueueLength: 'number',
  workerQueueLength: 'number',
  isHealthy: 'boolean',
  lastHealthCheck: 'number',
}

test('the pool is an EventEmitter whose ready events reach listeners attached after new', async () => {
  const pool = new SQLiteConnectionPool(dbPath('events'), { maxReaders: 3, maxWorkers: 2 })
  assert.ok(pool instanceof EventEmitter)
  const heard = []
  for (const name of ['write-connection-ready', 'reader-connection-ready', 'worker-ready', 'ready']) {
    pool.on(name, (...args) => heard.push([name, ...args]))
  }
  await once(pool, 'ready')
  assert.deepEqual(heard, [
    ['write-connection-ready'],
    ['reader-connection-ready', 0],
    ['reader-connection-ready', 1],
    ['reader-connection-ready', 2],
    ['worker-ready', 0],
    ['worker-ready', 1],
    ['ready'],
  ])
  await pool.close()
})

test("getStats() has every key of the original, with the original's types and meaning", async () => {
  const before = Date.now()
  const pool = new SQLiteConnectionPool(dbPath('stats-keys'), { maxReaders: 4, maxWorkers: 2 })
  await once(pool, 'ready')
  const stats = pool.getStats()
  for (const [key, type] of Object.entries(ORIGINAL_STATS)) assert.equal(typeof stats[key], type, key)
  assert.equal(stats.activeConnections, 1, 'the writer counts')
  assert.equal(stats.availableReaders, 4)
  assert.equal(stats.availableWorkers, 2)
  assert.equal(stats.isHealthy, true)
  assert.ok(stats.lastHealthCheck >= before - 1000 && stats.lastHealthCheck <= Date.now(), 'epoch milliseconds')
  await pool.write('CREATE TABLE t(x)')
  await Promise.all(Array.from({ length: 10 }, (_, i) => pool.write('INSERT INTO t VALUES (?)', [i])))
  await Promise.all(Array.from({ length: 5 }, () => pool.read('SELECT * FROM t')))
  await pool.executeInWorker('SELECT count(*) AS n FROM t')
  const after = pool.getStats()
  assert.equal(after.totalWrites, 11)
  assert.equal(after.totalReads, 5)
  assert.equal(after.totalWorkerTasks, 1)
  assert.ok(after.averageWriteTime > 0 && after.averageReadTime > 0)
  await pool.close()
})

test('lane errors, health checks and close are announced as the original announced them', async () => {
  const pool = new SQLiteConnectionPool(dbPath('lane-events'), { maxReaders: 1, maxWorkers: 1, healthCheckInterval: 30 })
  const heard = []
  for (const name of ['read-error', 'write-error', 'transaction-error', 'closed', 'health-check']) {
    pool.on(name, (arg) => heard.push([name, arg]))
  }
  await once(pool, 'ready')
  const readFailure = await pool.read('SELECT * FROM missing').catch((e) => e)
  const writeFailure = await pool.write('INSERT INTO missing VALUES (1)').catch((e) => e)
  const txFailure = await pool.transaction(['INSERT INTO missing VALUES (1)']).catch((e) => e)
  // Pool events never keep the process alive by themselves; this test waits for one on purpose.
  const keepAlive = setInterval(() => {}, 1000)
  const [check] = await once(pool, 'health-check')
  clearInterval(keepAlive)
  // As the original's public methods: initialize() is harmless, performHealthCheck() checks now.
  await pool.initialize()
  const checks = heard.filter(([n]) => n === 'health-check').length
  const before = pool.getStats().lastHealthCheck
  await pool.performHealthCheck()
  assert.ok(heard.filter(([n]) => n === 'health-check').length > checks, 'performHealthCheck emits health-check')
  assert.ok(pool.getStats().lastHealthCheck >= before)
  assert.deepEqual(Object.keys(check).sort(), ['duration', 'healthy', 'readers', 'stats', 'workers'])
  assert.equal(check.healthy, true)
  assert.equal(check.readers, 1)
  assert.equal(check.workers, 1)
  assert.equal(typeof check.stats.totalReads, 'number')
  await pool.close()
  const named = (name) => heard.filter(([n]) => n === name).map(([, arg]) => arg)
  assert.deepEqual(named('read-error'), [readFailure])
  assert.deepEqual(named('write-error'), [writeFailure])
  assert.deepEqual(named('transaction-error'), [txFailure])
  assert.equal(named('closed').length, 1)
  assert.equal(readFailure.code, 'SQLITE_ERROR')
})

test('no listener keeps the process alive, and an unhandled error event never comes', () => {
  const script = `
    const { SQLiteConnectionPool } = require(${entry})
    const pool = new SQLiteConnectionPool(${JSON.stringify(dbPath('alive'))}, { healthCheckInterval: 20 })
    for (const name of ['ready', 'health-check', 'health-check-error', 'closed']) pool.on(name, () => {})
    pool.once('ready', () => pool.read('SELECT * FROM nothing_here').catch(() => console.log('failed as expected')))`
  const started = Date.now()
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 })
  assert.equal(child.status, 0, child.stderr)
  assert.equal(child.stdout.trim(), 'failed as expected')
  assert.ok(Date.now() - started < 10_000, 'exited by itself')
})

test('transaction(fn) commits on resolve and returns its result; its reads see its writes', async () => {
  const pool = new SQLiteConnectionPool(dbPath('tx-commit'), { maxReaders: 2, maxWorkers: 1 })
  await pool.write('CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)')
  const result = await pool.transaction(async (tx) => {
    const w = await tx.write('INSERT INTO t(v) VALUES (?)', ['a'])
    const row = await tx.get('SELECT v FROM t WHERE id = ?', [w.lastInsertRowid])
    const all = await tx.read('SELECT count(*) AS n FROM t')
    return { row, n: all[0].n, changes: w.changes }
  })
  assert.deepEqual(result, { row: { v: 'a' }, n: 1, changes: 1 })
  assert.deepEqual(await pool.read('SELECT v FROM t'), [{ v: 'a' }])
  await pool.close()
})

test('transaction(fn) rolls back when fn throws, and rejects with its error', async () => {
  const pool = new SQLiteConnectionPool(dbPath('tx-rollback'), { maxReaders: 2, maxWorkers: 1 })
  await pool.write('CREATE TABLE t(v TEXT)')
  const mine = new Error('changed my mind')
  await assert.rejects(
    pool.transaction(async (tx) => {
      await tx.write("INSERT INTO t VALUES ('x')")
      assert.equal((await tx.get('SELECT count(*) AS n FROM t')).n, 1)
      throw mine
    }),
    (err) => err === mine,
  )
  assert.equal((await pool.get('SELECT count(*) AS n FROM t')).n, 0, 'nothing visible afterwards')
  // A failing statement inside does not end the transaction; the caller decides.
  const n = await pool.transaction(async (tx) => {
    await tx.write("INSERT INTO t VALUES ('kept')")
    await rejectsWith(tx.write('INSERT INTO missing VALUES (1)'), 'SQLITE_ERROR')
    for (const sql of ['COMMIT', ' ROLLBACK ', 'SAVEPOINT job', 'RELEASE job', ';COMMIT']) await rejectsWith(tx.write(sql), 'INVALID_ARGUMENT')
    await rejectsWith(tx.get('COMMIT'), 'INVALID_ARGUMENT')
    return (await tx.get('SELECT count(*) AS n FROM t')).n
  })
  assert.equal(n, 1)
  assert.equal((await pool.get('SELECT count(*) AS n FROM t')).n, 1)
  await pool.close()
})

test('writes issued during a transaction wait for it, then commit after it', async () => {
  const pool = new SQLiteConnectionPool(dbPath('tx-wait'), { maxReaders: 2, maxWorkers: 1 })
  await pool.write('CREATE TABLE t(seq INTEGER PRIMARY KEY AUTOINCREMENT, who TEXT)')
  let outside
  const order = []
  await pool.transaction(async (tx) => {
    await tx.write("INSERT INTO t(who) VALUES ('tx-1')")
    outside = Promise.all(Array.from({ length: 20 }, () => pool.write("INSERT INTO t(who) VALUES ('outside')").then(() => order.push('outside'))))
    await sleep(50)
    // Reads are not blocked by the open transaction, and do not see its writes yet.
    assert.equal((await pool.get('SELECT count(*) AS n FROM t')).n, 0)
    await tx.write("INSERT INTO t(who) VALUES ('tx-2')")
    order.push('tx')
  })
  await outside
  assert.equal(order[0], 'tx')
  const rows = await pool.read('SELECT who FROM t ORDER BY seq')
  assert.deepEqual(rows.slice(0, 2).map((r) => r.who), ['tx-1', 'tx-2'])
  assert.equal(rows.length, 22)
  await pool.close()
})

test('a transaction open longer than queryTimeout is rolled back; its later calls reject', async () => {
  const pool = new SQLiteConnectionPool(dbPath('tx-timeout'), { maxReaders: 1, maxWorkers: 1, queryTimeout: 200 })
  await pool.write('CREATE TABLE t(v)')
  let handle
  await rejectsWith(
    pool.transaction(async (tx) => {
      handle = tx
      await tx.write('INSERT INTO t VALUES (1)')
      await sleep(600)
    }),
    'QUERY_TIMEOUT',
  )
  await rejectsWith(handle.write('INSERT INTO t VALUES (2)'), 'INVALID_ARGUMENT', /ended/)
  assert.equal((await pool.get('SELECT count(*) AS n FROM t')).n, 0)
  // The writer is free again.
  await pool.write('INSERT INTO t VALUES (3)')
  assert.equal((await pool.get('SELECT count(*) AS n FROM t')).n, 1)
  await pool.close()
})

test("ruv-swarm's pool tests: concurrent reads, 2000 concurrent writes, worker aggregates", async () => {
  const pool = new SQLiteConnectionPool(dbPath('ha'), { maxReaders: 8, maxWorkers: 2 })
  await once(pool, 'ready')
  assert.ok(pool.getStats().isHealthy)
  await pool.write('CREATE TABLE test_data (id INTEGER PRIMARY KEY, value TEXT, timestamp DATETIME DEFAULT CURRENT_TIMESTAMP)')
  for (let i = 0; i < 1000; i++) await pool.write('INSERT INTO test_data (value) VALUES (?)', [`value-${i}`])
  const reads = await Promise.all(Array.from({ length: 20 }, () => pool.read('SELECT * FROM test_data WHERE id = ?', [1 + Math.floor(Math.random() * 1000)])))
  assert.ok(reads.every((rows) => Array.isArray(rows) && rows.length > 0))
  await pool.write('CREATE TABLE load_test (id INTEGER PRIMARY KEY AUTOINCREMENT, thread_id INTEGER, operation_id INTEGER, data TEXT)')
  await Promise.all(Array.from({ length: 2000 }, (_, i) => pool.write('INSERT INTO load_test (thread_id, operation_id, data) VALUES (?, ?, ?)', [i % 10, i, `d${i}`])))
  const rows = await pool.read('SELECT COUNT(*) as total FROM load_test')
  assert.strictEqual(rows[0].total, 2000)
  await pool.write('CREATE TABLE worker_test (id INTEGER PRIMARY KEY, category TEXT, value REAL)')
  for (let i = 0; i < 500; i++) await pool.write('INSERT INTO worker_test (category, value) VALUES (?, ?)', [`category-${i % 5}`, i])
  const aggregates = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      pool.executeInWorker(
        `
        SELECT category, COUNT(*) as count, AVG(value) as avg_value, MAX(value) as max_value, MIN(value) as min_value
        FROM worker_test WHERE category = ? GROUP BY category`,
        [`category-${i % 5}`],
      ),
    ),
  )
  assert.ok(aggregates.every((r) => Array.isArray(r) && r.length === 1 && r[0].count === 100))
  await pool.close()
})

eachBackend("ruv-swarm's persistence test: swarm, 50 agents, memory, mixed calls, stats", async (backend) => {
  const p = new SwarmPersistencePooled(backend.location('persist'), { maxReaders: 6, maxWorkers: 3 })
  await p.initialize()
  await p.createSwarm({ id: 'swarm-1', name: 'Test Swarm', topology: 'mesh', maxAgents: 10, strategy: 'balanced' })
  await Promise.all(Array.from({ length: 50 }, (_, i) => p.createAgent({ id: `agent-${i}`, swarmId: 'swarm-1', name: `Agent ${i}`, type: 'researcher', capabilities: ['research'] })))
  await Promise.all(Array.from({ length: 50 }, (_, i) => p.storeMemory(`agent-${i}`, 'test-key', { value: i, timestamp: Date.now() })))
  await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? p.updateAgentStatus(`agent-${i % 50}`, 'busy') : p.getAgent(`agent-${i % 50}`))))
  const pool = p.getPoolStats()
  for (const key of ['totalReads', 'totalWrites', 'isHealthy', 'activeConnections']) assert.ok(key in pool, key)
  const stats = p.getPersistenceStats()
  assert.equal(stats.totalErrors, 0)
  assert.equal(stats.totalOperations, 1 + 50 + 50 + 100)
  assert.equal(typeof stats.averageResponseTime.toFixed(2), 'string')
  assert.equal(p.isHealthy(), true)
  assert.equal((await p.getSwarmAgents('swarm-1')).length, 50)
  await p.close()
})

eachBackend('the MCP payloads ruv-swarm builds from getPoolStats() have real queue lengths', async (backend) => {
  // Two readers on either backend (PostgreSQL sizes its reader lane with pgPoolSize), one worker.
  const p = new SwarmPersistencePooled(backend.location('mcp-style'), { maxReaders: 2, maxWorkers: 1, pgPoolSize: 2 })
  await p.initialize()
  // What mcp-tools-enhanced.js's pool_health and pool_stats read, key by key.
  const ps = p.getPoolStats()
  const poolHealth = {
    healthy: p.isHealthy(),
    pool_status: {
      total_connections: ps.activeConnections + ps.availableReaders,
      active_connections: ps.activeConnections,
      available_readers: ps.availableReaders,
      available_workers: ps.availableWorkers,
      queue_lengths: { read_queue: ps.readQueueLength, write_queue: ps.writeQueueLength, worker_queue: ps.workerQueueLength },
    },
    last_health_check: ps.lastHealthCheck,
  }
  assert.deepEqual(poolHealth.pool_status, {
    total_connections: 3,
    active_connections: 1,
    available_readers: 2,
    available_workers: 1,
    queue_lengths: { read_queue: 0, write_queue: 0, worker_queue: 0 },
  })
  assert.equal(typeof poolHealth.last_health_check, 'number')
  const metrics = [ps.totalReads, ps.totalWrites, ps.totalWorkerTasks, ps.failedConnections, ps.averageReadTime, ps.averageWriteTime]
  assert.ok(metrics.every((v) => typeof v === 'number'))
  await p.close()
})

eachBackend('two instances on one database: an un-awaited write first wins, the second fails with UNIQUE, nothing crashes', (backend) => {
  // As ruv-swarm's RuvSwarm and EnhancedMCPTools each hold a SwarmPersistencePooled on one file.
  const script = `
    const { SwarmPersistencePooled } = require(${entry})
    const path = ${JSON.stringify(backend.location('two-instances'))}
    const a = new SwarmPersistencePooled(path, { maxReaders: 2, maxWorkers: 1 })
    const b = new SwarmPersistencePooled(path, { maxReaders: 2, maxWorkers: 1 })
    ;(async () => {
      await Promise.all([a.initialize(), b.initialize()])
      await a.createSwarm({ id: 's', name: 'n', topology: 'mesh', maxAgents: 100 })
      let unique = 0
      for (let i = 0; i < 50; i++) {
        a.createAgent({ id: 'agent-' + i, swarmId: 's', name: 'from-a', type: 't' })
        try {
          await b.createAgent({ id: 'agent-' + i, swarmId: 's', name: 'from-b', type: 't' })
        } catch (e) {
          if (e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' && /^UNIQUE constraint failed: agents.id/.test(e.message)) unique++
        }
      }
      const agents = await b.getSwarmAgents('s')
      console.log(JSON.stringify({ unique, total: agents.length, fromA: agents.filter((x) => x.name === 'from-a').length }))
      await a.close()
      await b.close()
    })()`
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 })
  assert.equal(child.status, 0, child.stderr)
  assert.deepEqual(JSON.parse(child.stdout), { unique: 50, total: 50, fromA: 50 })
})

eachBackend("SQLite's own message comes first, our context after it", async (backend) => {
  const p = new SwarmPersistencePooled(backend.location('messages'), { maxReaders: 1, maxWorkers: 1 })
  await p.createSwarm({ id: 's', name: 'n', topology: 'mesh', maxAgents: 1 })
  await p.createAgent({ id: 'a', swarmId: 's', name: 'n', type: 't' })
  await rejectsWith(p.createAgent({ id: 'a', swarmId: 's', name: 'n', type: 't' }), 'SQLITE_CONSTRAINT_PRIMARYKEY', /^UNIQUE constraint failed: agents\.id/)
  await rejectsWith(p.createAgent({ id: 'b', swarmId: 'nope', name: 'n', type: 't' }), 'SQLITE_CONSTRAINT_FOREIGNKEY', /^FOREIGN KEY constraint failed \(agent b: swarm "nope" does not exist\)/)
  await rejectsWith(p.storeMemory('ghost', 'k', 1), 'SQLITE_CONSTRAINT_FOREIGNKEY', /^FOREIGN KEY constraint failed/)
  await p.close()
})

test("[sqlite] a raw transaction's failure gives SQLite's message first, then the statement it was", async () => {
  const p = new SwarmPersistencePooled(dbPath('raw-messages'), { maxReaders: 1, maxWorkers: 1 })
  await p.initialize()
  await rejectsWith(p.pool.transaction(['INSERT INTO missing VALUES (1)']), 'SQLITE_ERROR', /^no such table: missing.*\(statement 0\)/)
  await p.close()
})

eachBackend('a bad POOL_* value surfaces at initialize() and each call, not at construction', (backend) => {
  const script = `
    const { SwarmPersistencePooled } = require(${entry})
    const p = new SwarmPersistencePooled(${JSON.stringify(backend.location('bad-env'))})
    Promise.allSettled([p.initialize(), p.getActiveSwarms()]).then((r) => console.log(JSON.stringify(r.map((x) => [x.status, x.reason.code, /POOL_MAX_READERS/.test(x.reason.message)]))))`
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, POOL_MAX_READERS: 'lots' } })
  assert.equal(child.status, 0, child.stderr)
  assert.deepEqual(JSON.parse(child.stdout), [['rejected', 'INVALID_CONFIG', true], ['rejected', 'INVALID_CONFIG', true]])
})
