// SwarmPersistencePooled: every method, the original's defects fixed, its files opened, and the
// MCP payloads checked key by key. Every test of the persistence API runs once per backend
// (SQLite, and PostgreSQL when POOL_TEST_PG_URL is set); what only one backend has is tested there.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { addon, dbPath, rejectsWith } from './helpers.mjs'
import { backend as named, eachBackend } from './backends.mjs'
import { originalSchema, originalRows } from './fixtures.mjs'

const { SwarmPersistencePooled, SQLiteConnectionPool } = addon
const postgres = named('postgres')

async function fresh(backend, options = {}) {
  const p = new SwarmPersistencePooled(backend.location('persist'), { maxReaders: 2, maxWorkers: 1, ...options })
  await p.initialize()
  return p
}

async function withSwarm(backend) {
  const p = await fresh(backend)
  await p.createSwarm({ id: 's1', name: 'Alpha', topology: 'mesh', maxAgents: 4, strategy: 'adaptive', metadata: { team: 'x' } })
  await p.createAgent({ id: 'a1', swarmId: 's1', name: 'Ada', type: 'coder', capabilities: ['rust', 'js'], neuralConfig: { l: 3 } })
  return p
}

/** The single row of a query's result. */
async function one(backend, p, sql) {
  const rows = await backend.sql(p, sql)
  assert.equal(rows.length, 1, sql)
  return rows[0]
}

test('[sqlite] initialize is idempotent, shared, and automatic', async () => {
  const p = new SwarmPersistencePooled(dbPath('init'))
  assert.equal(p.isHealthy(), false)
  assert.equal(p.pool, null)
  assert.equal(p.getPoolStats(), null)
  await Promise.all([p.initialize(), p.initialize(), p.initialize()])
  await p.initialize()
  assert.equal(p.isHealthy(), true)
  assert.ok(p.pool instanceof SQLiteConnectionPool)
  assert.equal(p.pool, p.pool, 'one pool object, not a new one per access')
  const version = await p.pool.get('PRAGMA user_version')
  assert.equal(version.user_version, 2)
  await p.close()
  const lazy = new SwarmPersistencePooled(dbPath('lazy'))
  assert.deepEqual(await lazy.getActiveSwarms(), [])
  await lazy.close()
})

test('[sqlite] a failed initialize can be retried', async () => {
  const p = new SwarmPersistencePooled('/proc/forbidden/x.db')
  await assert.rejects(p.initialize(), (e) => typeof e.code === 'string' && e.code.startsWith('SQLITE_CANTOPEN'))
  await assert.rejects(p.initialize(), (e) => e.code.startsWith('SQLITE_CANTOPEN'))
  await p.close()
  await rejectsWith(p.initialize(), 'POOL_CLOSED')
})

test('[postgres] initialize is idempotent, shared, and automatic; there is no raw pool', { skip: postgres.skip }, async () => {
  const p = new SwarmPersistencePooled(postgres.location('init'))
  assert.equal(p.isHealthy(), false)
  assert.equal(p.pool, null)
  assert.equal(p.getPoolStats(), null)
  await Promise.all([p.initialize(), p.initialize(), p.initialize()])
  await p.initialize()
  assert.equal(p.isHealthy(), true)
  assert.equal(p.pool, null, 'PostgreSQL has no SQLiteConnectionPool under it')
  assert.equal(typeof p.getPoolStats().totalWrites, 'number')
  // swarm_schema.version plays user_version, in one row.
  assert.deepEqual(await postgres.sql(p, 'SELECT version FROM swarm_schema'), [{ version: 2 }])
  await p.close()
  const lazy = new SwarmPersistencePooled(postgres.location('lazy'))
  assert.deepEqual(await lazy.getActiveSwarms(), [])
  await lazy.close()
})

test('[postgres] a failed initialize (no server) can be retried', { skip: postgres.skip }, async () => {
  const p = new SwarmPersistencePooled('postgres://postgres@127.0.0.1:1/x')
  await rejectsWith(p.initialize(), 'CONNECTION_LOST')
  await rejectsWith(p.initialize(), 'CONNECTION_LOST')
  assert.equal(p.isHealthy(), false)
  await p.close()
  await rejectsWith(p.initialize(), 'POOL_CLOSED')
})

test('[postgres] a bad URL option value is INVALID_CONFIG', { skip: postgres.skip }, async () => {
  const url = new URL(postgres.location('bad-option'))
  url.searchParams.set('sslmode', 'sometimes')
  const p = new SwarmPersistencePooled(url.href)
  await rejectsWith(p.initialize(), 'INVALID_CONFIG', /POOL_DB_URL/)
  await rejectsWith(p.getActiveSwarms(), 'INVALID_CONFIG')
  await p.close()
})

test('[postgres] backup() is NOT_SUPPORTED and points to pg_dump; the database stays usable', { skip: postgres.skip }, async () => {
  const p = await withSwarm(postgres)
  await rejectsWith(p.backup(dbPath('pg-backup')), 'NOT_SUPPORTED', /pg_dump/)
  assert.equal((await p.getAgent('a1')).name, 'Ada')
  await p.close()
})

eachBackend('swarms: create, duplicate answer, active list', async (backend) => {
  const p = await fresh(backend)
  assert.deepEqual(await p.createSwarm({ id: 's1', name: 'A', topology: 'mesh', maxAgents: 3 }), { changes: 1, lastInsertRowid: 1 })
  assert.deepEqual(await p.createSwarm({ id: 's1', name: 'B', topology: 'star', maxAgents: 9 }), { id: 's1', changes: 0, lastInsertRowid: null })
  await p.createSwarm({ id: 's2', name: 'C', topology: 'ring', maxAgents: 2, metadata: { k: [1, 'two'] } })
  await backend.sql(p, "UPDATE swarms SET status = 'stopped' WHERE id = 's1'")
  const active = await p.getActiveSwarms()
  assert.equal(active.length, 1)
  assert.equal(active[0].id, 's2')
  assert.equal(active[0].max_agents, 2)
  assert.deepEqual(active[0].metadata, { k: [1, 'two'] })
  assert.match(active[0].created_at, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/)
  await p.close()
})

eachBackend('agents: create, get, status, filter, foreign key', async (backend) => {
  const p = await withSwarm(backend)
  await p.createAgent({ id: 'a2', swarmId: 's1', name: 'Bob', type: 'tester' })
  assert.deepEqual(await p.updateAgentStatus('a2', 'busy'), { changes: 1, lastInsertRowid: 2 })
  const a1 = await p.getAgent('a1')
  assert.deepEqual(
    { ...a1, created_at: undefined },
    { id: 'a1', swarm_id: 's1', name: 'Ada', type: 'coder', status: 'idle', capabilities: ['rust', 'js'],
      neural_config: { l: 3 }, metrics: {}, created_at: undefined },
  )
  assert.equal(await p.getAgent('nobody'), null)
  assert.deepEqual((await p.getSwarmAgents('s1')).map((a) => a.id).sort(), ['a1', 'a2'])
  assert.deepEqual((await p.getSwarmAgents('s1', 'all')).length, 2)
  assert.deepEqual((await p.getSwarmAgents('s1', 'busy')).map((a) => a.id), ['a2'])
  await rejectsWith(p.createAgent({ id: 'a3', swarmId: 'ghost', name: 'X', type: 'y' }), 'SQLITE_CONSTRAINT_FOREIGNKEY', /swarm "ghost" does not exist/)
  await rejectsWith(p.createAgent({ id: 'a1', swarmId: 's1', name: 'Dup', type: 'y' }), 'SQLITE_CONSTRAINT_PRIMARYKEY')
  assert.equal((await p.getSwarmAgents('s1')).length, 2)
  await p.close()
})

eachBackend('tasks: create, update with both spellings, get, filter', async (backend) => {
  const p = await withSwarm(backend)
  await p.createTask({ id: 't1', swarmId: 's1', description: 'build', assignedAgents: ['a1'] })
  await p.createTask({ id: 't2', swarmId: 's1', description: 'test', priority: 'high', status: 'running' })
  let t1 = await p.getTask('t1')
  assert.equal(t1.priority, 'medium')
  assert.equal(t1.status, 'pending')
  assert.deepEqual(t1.assigned_agents, ['a1'])
  assert.equal(t1.result, null)
  const r = await p.updateTask('t1', { status: 'completed', result: { ok: true, n: 3 }, execution_time_ms: 42, completedAt: '2026-01-01 00:00:00' })
  assert.equal(r.changes, 1)
  t1 = await p.getTask('t1')
  assert.deepEqual([t1.status, t1.result, t1.execution_time_ms, t1.completed_at], ['completed', { ok: true, n: 3 }, 42, '2026-01-01 00:00:00'])
  await p.updateTask('t1', { assigned_agents: ['a1', 'a2'] })
  assert.deepEqual((await p.getTask('t1')).assigned_agents, ['a1', 'a2'])
  assert.equal(await p.getTask('nope'), null)
  assert.equal((await p.getSwarmTasks('s1')).length, 2)
  assert.deepEqual((await p.getSwarmTasks('s1', 'running')).map((t) => t.id), ['t2'])
  await p.close()
})

eachBackend('a fractional executionTimeMs (performance.now() arithmetic) is stored, and the writes queued with it commit', async (backend) => {
  const p = await withSwarm(backend)
  await p.createTask({ id: 't1', swarmId: 's1', description: 'timed' })
  const before = Array.from({ length: 20 }, (_, i) => p.storeMemory('a1', `b${i}`, i))
  const timed = p.updateTask('t1', { executionTimeMs: 12.5, status: 'completed' })
  const after = Array.from({ length: 20 }, (_, i) => p.storeMemory('a1', `c${i}`, i))
  const settled = await Promise.allSettled([...before, timed, ...after])
  assert.deepEqual(settled.filter((r) => r.status === 'rejected').map((r) => r.reason.code), [])
  const t1 = await p.getTask('t1')
  assert.deepEqual([t1.status, t1.execution_time_ms], ['completed', 12.5])
  assert.equal((await p.getAllMemory('a1')).length, 40)
  assert.equal(p.getPoolStats().failedConnections, 0, 'no connection was given up')
  await p.close()
})

eachBackend('updateTask and updateNeuralNetwork refuse unknown keys and injection, changing nothing', async (backend) => {
  const p = await withSwarm(backend)
  await p.createTask({ id: 't1', swarmId: 's1', description: 'keep' })
  const attacks = [
    { 'status = \'x\', description': 'pwned' },
    { "status = 'done' WHERE 1=1; DROP TABLE tasks; --": 1 },
    { id: 'other' },
    { swarm_id: 'ghost' },
    { status: 'ok', nonsense: 1 },
    {},
  ]
  for (const updates of attacks) await rejectsWith(p.updateTask('t1', updates), 'INVALID_ARGUMENT')
  const t = await p.getTask('t1')
  assert.deepEqual([t.status, t.description, t.swarm_id], ['pending', 'keep', 's1'])
  const { id } = await p.storeNeuralNetwork({ agentId: 'a1', architecture: { layers: [2, 1] }, weights: [0.5] })
  await rejectsWith(p.updateNeuralNetwork(id, { "weights = '1', agent_id": 'x' }), 'INVALID_ARGUMENT')
  await rejectsWith(p.updateNeuralNetwork(id, { agent_id: 'x' }), 'INVALID_ARGUMENT')
  assert.equal((await p.getAgentNeuralNetworks('a1'))[0].agent_id, 'a1')
  assert.equal((await one(backend, p, 'SELECT count(*) AS n FROM tasks')).n, 1)
  await p.close()
})

eachBackend('10,000 rapid storeMemory calls for one agent keep 10,000 rows', async (backend) => {
  const p = await withSwarm(backend)
  const results = await Promise.all(Array.from({ length: 10_000 }, (_, i) => p.storeMemory('a1', `key-${i}`, { i })))
  assert.ok(results.every((r) => r.changes === 1))
  const all = await p.getAllMemory('a1')
  assert.equal(all.length, 10_000)
  assert.equal(new Set(all.map((m) => m.id)).size, 10_000)
  assert.deepEqual((await p.getMemory('a1', 'key-9999')).value, { i: 9999 })
  await p.close()
})

eachBackend('storeMemory upserts: same id, created_at kept, updated_at advances', async (backend) => {
  const p = await withSwarm(backend)
  await p.storeMemory('a1', 'k', 'first')
  const before = await p.getMemory('a1', 'k')
  await new Promise((r) => setTimeout(r, 5))
  await p.storeMemory('a1', 'k', { second: true })
  const after = await p.getMemory('a1', 'k')
  assert.deepEqual(after.value, { second: true })
  assert.equal(after.id, before.id)
  assert.equal(after.created_at, before.created_at)
  assert.ok(after.updated_at > before.updated_at, `${after.updated_at} > ${before.updated_at}`)
  assert.equal((await p.getAllMemory('a1')).length, 1)
  await rejectsWith(p.storeMemory('ghost', 'k', 1), 'SQLITE_CONSTRAINT_FOREIGNKEY', /agent "ghost"/)
  await p.close()
})

eachBackend('memory reads filter expired entries without writing; cleanup deletes them', async (backend) => {
  const p = await withSwarm(backend)
  await p.storeMemory('a1', 'short', 'x', 1)
  await p.storeMemory('a1', 'long', 'y', 3600)
  await p.storeMemory('a1', 'forever', 'z')
  await new Promise((r) => setTimeout(r, 1_100))
  const writesBefore = p.getPoolStats().totalWrites
  assert.equal(await p.getMemory('a1', 'short'), null)
  assert.deepEqual((await p.getAllMemory('a1')).map((m) => m.key).sort(), ['forever', 'long'])
  assert.equal(p.getPoolStats().totalWrites, writesBefore, 'reads must not write')
  assert.equal((await one(backend, p, 'SELECT count(*) AS n FROM agent_memory')).n, 3)
  assert.equal((await p.cleanupExpiredMemory()).changes, 1)
  assert.equal((await one(backend, p, 'SELECT count(*) AS n FROM agent_memory')).n, 2)
  assert.equal((await p.deleteMemory('a1', 'long')).changes, 1)
  assert.equal(await p.getMemory('a1', 'long'), null)
  await p.close()
})

eachBackend('neural networks, metrics and events round-trip', async (backend) => {
  const p = await withSwarm(backend)
  const nn = await p.storeNeuralNetwork({ agentId: 'a1', architecture: { layers: [4, 2] }, weights: [[0.1, 0.2]], trainingData: { epochs: 3 } })
  assert.match(nn.id, /^nn_/)
  assert.equal((await p.updateNeuralNetwork(nn.id, { weights: [[0.3]], performanceMetrics: { acc: 0.9 } })).changes, 1)
  const [net] = await p.getAgentNeuralNetworks('a1')
  assert.deepEqual([net.architecture, net.weights, net.training_data, net.performance_metrics], [{ layers: [4, 2] }, [[0.3]], { epochs: 3 }, { acc: 0.9 }])
  await rejectsWith(p.storeNeuralNetwork({ agentId: 'a1' }), 'INVALID_ARGUMENT', /architecture/)
  for (let i = 0; i < 120; i++) await p.recordMetric('agent', 'a1', i % 2 ? 'cpu' : 'mem', i)
  assert.equal((await p.getMetrics('agent', 'a1')).length, 100)
  const cpu = await p.getMetrics('agent', 'a1', 'cpu')
  assert.equal(cpu.length, 60)
  assert.equal(cpu[0].metric_value, 119)
  await rejectsWith(p.recordMetric('agent', 'a1', 'cpu', 'high'), 'INVALID_ARGUMENT', /metricValue/)
  await p.logEvent('s1', 'spawned', { agent: 'a1' })
  await p.logEvent('s1', 'finished', { ok: true })
  await p.logEvent('s2', 'other', null)
  const events = await p.getSwarmEvents('s1')
  assert.deepEqual(events.map((e) => e.event_type), ['finished', 'spawned'])
  assert.deepEqual(events[1].event_data, { agent: 'a1' })
  assert.equal((await p.getSwarmEvents('s1', 1)).length, 1)
  assert.deepEqual(await p.cleanup(), { expiredMemory: 0, oldEvents: 0, oldMetrics: 0 })
  await p.close()
})

eachBackend('cleanup removes old events and metrics, keeps recent ones', async (backend) => {
  const p = await withSwarm(backend)
  await p.logEvent('s1', 'recent', {})
  await p.recordMetric('agent', 'a1', 'cpu', 1)
  await backend.sql(p, `INSERT INTO events (swarm_id, event_type, timestamp) VALUES ('s1', 'old', ${backend.daysAgo(8)})`)
  await backend.sql(p, `INSERT INTO metrics (id, entity_type, entity_id, metric_name, timestamp) VALUES ('m-old', 'agent', 'a1', 'cpu', ${backend.daysAgo(31)})`)
  assert.deepEqual(await p.cleanup(), { expiredMemory: 0, oldEvents: 1, oldMetrics: 1 })
  assert.deepEqual((await p.getSwarmEvents('s1')).map((e) => e.event_type), ['recent'])
  assert.equal((await p.getMetrics('agent', 'a1')).length, 1)
  await p.close()
})

eachBackend('missing fields, wrong types and non-serialisable values are INVALID_ARGUMENT, nothing written', async (backend) => {
  const p = await withSwarm(backend)
  const cycle = {}
  cycle.self = cycle
  const refused = [
    [p.createSwarm({ name: 'no id', topology: 'mesh', maxAgents: 1 }), /swarm\.id/],
    [p.createSwarm({ id: 's9', name: 'n', topology: 'mesh' }), /maxAgents/],
    [p.createSwarm({ id: 's9', name: 'n', topology: 'mesh', maxAgents: 1, metadata: cycle }), /swarm\.metadata/],
    [p.createSwarm('not an object'), /swarm/],
    [p.createAgent({ id: 'a9', swarmId: 's1', type: 'x' }), /agent\.name/],
    [p.createAgent({ id: 'a9', swarmId: 's1', name: 'n', type: 'x', capabilities: [10n] }), /agent\.capabilities/],
    [p.createTask({ swarmId: 's1' }), /task\.id/],
    [p.storeMemory('a1', 'k', cycle), /value/],
    [p.storeMemory('a1', 'k', 1n), /value/],
    [p.storeMemory('a1', 42, 'v'), /key/],
    [p.storeMemory('a1', 'k', 'v', -5), /ttlSecs/],
    [p.getAgent(7), /id/],
    [p.logEvent('s1', undefined, {}), /eventType/],
    [p.getSwarmEvents('s1', 1.5), /limit/],
    [p.updateAgentStatus('a1'), /status/],
  ]
  for (const [promise, message] of refused) await rejectsWith(promise, 'INVALID_ARGUMENT', message)
  const counts = await one(backend, p, `SELECT (SELECT count(*) FROM swarms) AS s, (SELECT count(*) FROM agents) AS a,
    (SELECT count(*) FROM tasks) AS t, (SELECT count(*) FROM agent_memory) AS m, (SELECT count(*) FROM events) AS e`)
  assert.deepEqual(counts, { s: 1, a: 1, t: 0, m: 0, e: 0 })
  await p.close()
})

test('[sqlite] a database written by the original opens, migrates, and reads back', async () => {
  const path = dbPath('original')
  const seed = new SQLiteConnectionPool(path)
  await seed.transaction(originalSchema.split(';').map((s) => s.trim()).filter(Boolean))
  for (const [sql, params] of originalRows) await seed.write(sql, params)
  assert.equal((await seed.get('PRAGMA user_version')).user_version, 0)
  await seed.close()

  const p = new SwarmPersistencePooled(path)
  await p.initialize()
  assert.equal((await p.pool.get('PRAGMA user_version')).user_version, 2)
  const [swarm] = await p.getActiveSwarms()
  assert.deepEqual([swarm.id, swarm.max_agents, swarm.strategy, swarm.metadata], ['old-swarm', 8, 'balanced', { region: 'eu' }])
  const agent = await p.getAgent('old-agent')
  assert.deepEqual([agent.capabilities, agent.neural_config, agent.status], [['search'], { layers: 2 }, 'idle'])
  assert.deepEqual((await p.getTask('old-task')).assigned_agents, ['old-agent'])
  assert.deepEqual((await p.getMemory('old-agent', 'live')).value, { v: 1 })
  assert.equal(await p.getMemory('old-agent', 'stale'), null, 'an ISO expires_at in the past is expired')
  assert.deepEqual((await p.getSwarmEvents('old-swarm'))[0].event_data, { by: 'js' })
  await p.storeMemory('old-agent', 'live', { v: 2 })
  assert.equal((await p.getMemory('old-agent', 'live')).id, 'mem_old-agent_1')
  await p.close()
})

function assertKeys(obj, keys, where) {
  for (const k of keys) assert.ok(Object.hasOwn(obj, k), `${where} lacks ${k}: ${JSON.stringify(obj)}`)
}

// Two readers on either backend (PostgreSQL sizes its reader lane with pgPoolSize), one worker.
const lanes = { maxReaders: 2, maxWorkers: 1, pgPoolSize: 2 }

function checkHealth(h, open, busy = false) {
  assertKeys(h, ['healthy', 'pool_status', 'last_health_check', 'timestamp'], 'pool_health')
  assertKeys(h.pool_status, ['total_connections', 'active_connections', 'available_readers', 'available_workers', 'queue_lengths'], 'pool_status')
  assertKeys(h.pool_status.queue_lengths, ['read_queue', 'write_queue', 'worker_queue'], 'queue_lengths')
  assert.equal(h.healthy, open)
  assert.ok(!Number.isNaN(Date.parse(h.timestamp)) && h.timestamp.endsWith('Z'))
  if (open) {
    assert.equal(h.pool_status.total_connections, 1 + 2 + 1)
    assert.equal(h.pool_status.available_workers, 1)
    const readers = h.pool_status.available_readers
    // Under load a reader may be mid-query, so fewer are free; idle, all of them answer.
    if (busy) assert.ok(readers >= 0 && readers <= 2, `available_readers ${readers}`)
    else assert.equal(readers, 2)
    assert.ok(!Number.isNaN(Date.parse(h.last_health_check)))
  } else {
    assert.equal(h.pool_status.total_connections, 0)
  }
}

function checkStats(s, open) {
  assertKeys(s, ['pool_metrics', 'persistence_metrics', 'health_status', 'timestamp'], 'pool_stats')
  assertKeys(s.pool_metrics, ['total_reads', 'total_writes', 'total_worker_tasks', 'failed_connections', 'average_read_time',
    'average_write_time', 'active_connections', 'available_readers', 'available_workers', 'queue_lengths'], 'pool_metrics')
  assertKeys(s.persistence_metrics, ['total_operations', 'total_errors', 'average_response_time', 'error_rate'], 'persistence_metrics')
  assertKeys(s.health_status, ['healthy', 'last_check'], 'health_status')
  assert.match(s.persistence_metrics.error_rate, /^\d+\.\d\d%$/)
  assert.equal(s.health_status.healthy, open)
}

function checkPersistence(s, open) {
  assertKeys(s, ['persistence_layer', 'connection_pool', 'statistics', 'pool_health', 'timestamp'], 'persistence_stats')
  assert.equal(s.persistence_layer, 'SwarmPersistencePooled')
  assert.equal(s.connection_pool, 'enabled')
  assertKeys(s.statistics, ['total_operations', 'total_errors', 'average_response_time_ms', 'error_rate_percent', 'success_rate_percent'], 'statistics')
  assertKeys(s.pool_health, ['healthy', 'total_connections', 'active_connections', 'available_readers', 'available_workers'], 'pool_health')
  assert.equal(s.pool_health.healthy, open)
  assert.ok(Math.abs(s.statistics.error_rate_percent + s.statistics.success_rate_percent - 100) < 1e-9)
}

eachBackend('MCP payloads have the documented keys before, during load, and after close', async (backend) => {
  const p = new SwarmPersistencePooled(backend.location('mcp'), lanes)
  checkHealth(p.poolHealth(), false)
  await p.initialize()
  await p.createSwarm({ id: 's', name: 'n', topology: 'mesh', maxAgents: 1 })
  await p.createAgent({ id: 'a', swarmId: 's', name: 'n', type: 't' })
  const load = Array.from({ length: 2_000 }, (_, i) => (i % 2 ? p.storeMemory('a', `k${i}`, i) : p.getMemory('a', `k${i - 1}`)))
  const during = [p.poolHealth(), p.poolStats(), p.persistenceStats()]
  await Promise.all(load)
  await rejectsWith(p.getAgent(''), 'INVALID_ARGUMENT')
  checkHealth(during[0], true, true)
  checkStats(during[1], true)
  checkPersistence(during[2], true)
  const stats = p.poolStats()
  checkStats(stats, true)
  assert.equal(stats.persistence_metrics.total_operations, 2_003)
  assert.equal(stats.persistence_metrics.total_errors, 1)
  assert.equal(stats.persistence_metrics.error_rate, '0.05%')
  assert.ok(stats.pool_metrics.total_writes >= 1_002 && stats.pool_metrics.total_reads >= 1_000)
  const ps = p.persistenceStats()
  checkPersistence(ps, true)
  assert.equal(ps.statistics.error_rate_percent, 0.05)
  const legacy = p.getPersistenceStats()
  assert.equal(legacy.totalOperations, 2_003)
  assert.ok(legacy.averageResponseTime > 0 && legacy.averageResponseTime < 10_000)
  await p.close()
  checkHealth(p.poolHealth(), false)
  checkStats(p.poolStats(), false)
  checkPersistence(p.persistenceStats(), false)
  await rejectsWith(p.getAgent('a'), 'POOL_CLOSED')
})

eachBackend('averages are true means over all operations', async (backend) => {
  const p = await withSwarm(backend)
  const before = p.getPersistenceStats()
  const sumBefore = before.averageResponseTime * before.totalOperations
  const timings = []
  for (let i = 0; i < 20; i++) {
    const t = process.hrtime.bigint()
    await p.getAgent('a1')
    timings.push(Number(process.hrtime.bigint() - t) / 1e6)
  }
  const after = p.getPersistenceStats()
  assert.equal(after.totalOperations, before.totalOperations + 20)
  const mean = (after.averageResponseTime * after.totalOperations - sumBefore) / 20
  const observed = timings.reduce((a, b) => a + b) / 20
  assert.ok(mean > 0 && mean <= observed, `native mean ${mean} ms should not exceed the observed ${observed} ms`)
  await p.close()
})
