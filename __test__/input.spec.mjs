// Hostile and extreme input: huge values, injection through every string field of the
// persistence API (on every backend), BigInt bounds.
import test from 'node:test'
import assert from 'node:assert/strict'
import { addon, dbPath, rejectsWith } from './helpers.mjs'
import { eachBackend } from './backends.mjs'

const { SQLiteConnectionPool, SwarmPersistencePooled } = addon

const HOSTILE = [
  "'); DROP TABLE agents; --",
  '" OR 1=1 --',
  "x'; DELETE FROM swarms WHERE '1'='1",
  'Robert\u0000Tables',
  '💥 ünïcødé \u202e',
  '%_\\',
]

test('100 MB strings and blobs round-trip', async () => {
  const pool = new SQLiteConnectionPool(dbPath('huge'), { maxReaders: 1, maxWorkers: 1 })
  await pool.write('CREATE TABLE big(id INTEGER PRIMARY KEY, s TEXT, b BLOB)')
  const size = 100 * 1024 * 1024
  const text = 'é'.repeat(size / 2) // 100 MB of UTF-8
  const blob = Buffer.alloc(size, 7)
  blob[size - 1] = 9
  await pool.write('INSERT INTO big(id, s, b) VALUES (1, ?, ?)', [text, blob])
  const row = await pool.get('SELECT length(s) AS chars, s, b FROM big WHERE id = 1')
  assert.equal(row.chars, size / 2)
  assert.ok(row.s === text)
  assert.ok(Buffer.isBuffer(row.b) && row.b.equals(blob))
  await pool.close()
})

test('64-bit integers keep their value or are refused', async () => {
  const pool = new SQLiteConnectionPool(dbPath('bigint'), { maxReaders: 1, maxWorkers: 1, safeIntegers: true })
  await pool.write('CREATE TABLE n(v INTEGER)')
  const max = 2n ** 63n - 1n
  const min = -(2n ** 63n)
  await pool.write('INSERT INTO n VALUES (?), (?)', [max, min])
  assert.deepEqual((await pool.read('SELECT v FROM n ORDER BY v')).map((r) => r.v), [min, max])
  await rejectsWith(pool.write('INSERT INTO n VALUES (?)', [max + 1n]), 'INVALID_ARGUMENT')
  await rejectsWith(pool.write('INSERT INTO n VALUES (?)', [min - 1n]), 'INVALID_ARGUMENT')
  assert.equal((await pool.get('SELECT count(*) AS c FROM n')).c, 2, 'small integers stay numbers')
  await pool.close()
})

eachBackend('injection through every string field of the persistence API is stored as data', async (backend) => {
  const p = new SwarmPersistencePooled(backend.location('inject'))
  await p.initialize()
  for (const [i, evil] of HOSTILE.entries()) {
    const swarmId = `${evil}-swarm-${i}`
    const agentId = `${evil}-agent-${i}`
    if (backend.name === 'postgres' && evil.includes('\u0000')) {
      // PostgreSQL text cannot hold NUL: refused with a code, nothing written (README).
      await rejectsWith(p.createSwarm({ id: swarmId, name: evil, topology: evil, maxAgents: 3 }), 'INVALID_ARGUMENT', /NUL/)
      await rejectsWith(p.storeMemory('no-agent', evil, { evil }), 'INVALID_ARGUMENT', /NUL/)
      assert.ok(!(await p.getActiveSwarms()).some((s) => s.id === swarmId))
      continue
    }
    await p.createSwarm({ id: swarmId, name: evil, topology: evil, maxAgents: 3, strategy: evil, metadata: { evil } })
    await p.createAgent({ id: agentId, swarmId, name: evil, type: evil, capabilities: [evil], neuralConfig: { evil } })
    await p.updateAgentStatus(agentId, evil)
    await p.createTask({ id: `${evil}-task-${i}`, swarmId, description: evil, priority: evil, status: evil, assignedAgents: [agentId] })
    await p.updateTask(`${evil}-task-${i}`, { status: evil, result: { evil }, error: evil })
    await p.storeMemory(agentId, evil, { evil })
    const net = await p.storeNeuralNetwork({ agentId, architecture: { evil }, weights: [1], trainingData: { evil } })
    await p.updateNeuralNetwork(net.id, { performance_metrics: { evil } })
    await p.recordMetric(evil, agentId, evil, 1)
    await p.logEvent(swarmId, evil, { evil })

    const agent = await p.getAgent(agentId)
    assert.equal(agent.name, evil)
    assert.equal(agent.status, evil)
    assert.deepEqual(agent.capabilities, [evil])
    assert.equal((await p.getSwarmAgents(swarmId, evil))[0].id, agentId)
    const task = await p.getTask(`${evil}-task-${i}`)
    assert.equal(task.description, evil)
    assert.equal(task.error, evil)
    assert.equal((await p.getSwarmTasks(swarmId, evil)).length, 1)
    assert.deepEqual((await p.getMemory(agentId, evil)).value, { evil })
    assert.equal((await p.getMetrics(evil, agentId, evil)).length, 1)
    assert.equal((await p.getSwarmEvents(swarmId))[0].event_type, evil)
    await p.deleteMemory(agentId, evil)
    assert.equal(await p.getMemory(agentId, evil), null)
  }
  const [counts] = await backend.sql(p, `SELECT (SELECT count(*) FROM swarms) AS s, (SELECT count(*) FROM agents) AS a,
    (SELECT count(*) FROM tasks) AS t, (SELECT count(*) FROM neural_networks) AS n`)
  const stored = backend.name === 'postgres' ? HOSTILE.filter((evil) => !evil.includes('\u0000')).length : HOSTILE.length
  assert.deepEqual(counts, { s: stored, a: stored, t: stored, n: stored })
  await p.close()
})
