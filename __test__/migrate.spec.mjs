// `swarm-persistence migrate`: a SQLite database written by the main job, copied into
// PostgreSQL, verified, and read back through the API identical on both backends; re-runs copy
// nothing; a target with different data is refused unless --merge.
import test from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { addon, dbPath, rejectsWith } from './helpers.mjs'
import { backend } from './backends.mjs'

const { SwarmPersistencePooled, copyToPostgres } = addon
const cli = fileURLToPath(new URL('../bin/swarm-persistence.js', import.meta.url))
const postgres = backend('postgres')
const skip = postgres.skip
const database = (label) => postgres.location(label)

function run(args) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, POOL_DB_URL: '' } })
}

/** Everything the API reads, for every swarm and agent. */
async function everything(p) {
  const swarms = await p.getActiveSwarms()
  const out = { swarms, agents: {}, tasks: {}, events: {}, memory: {}, metrics: {}, networks: {} }
  for (const s of swarms) {
    out.agents[s.id] = await p.getSwarmAgents(s.id)
    out.tasks[s.id] = await p.getSwarmTasks(s.id)
    out.events[s.id] = await p.getSwarmEvents(s.id, 1_000_000)
    for (const a of out.agents[s.id]) {
      out.memory[a.id] = await p.getAllMemory(a.id)
      out.metrics[a.id] = await p.getMetrics('agent', a.id)
      out.networks[a.id] = await p.getAgentNeuralNetworks(a.id)
    }
  }
  return out
}

test('a database written by the main job is copied, verified, and reads back identical on PostgreSQL', { skip }, async () => {
  const file = dbPath('migrate-source')
  const job = run(['run', '--db', file, '--agents', '20', '--duration', '1'])
  assert.equal(job.status, 0, job.stderr)
  const sqlite = new SwarmPersistencePooled(file)
  // The main job writes no neural networks; one makes that table part of the round trip.
  const [swarm] = await sqlite.getActiveSwarms()
  const [agent] = await sqlite.getSwarmAgents(swarm.id)
  await sqlite.storeNeuralNetwork({ agentId: agent.id, architecture: { layers: [3, 2] }, weights: [0.5, -1], trainingData: { n: 1 }, performanceMetrics: { acc: 0.9 } })
  const before = await everything(sqlite)
  await sqlite.close()
  assert.ok(before.swarms.length >= 1 && Object.values(before.events)[0].length > 0, 'the main job wrote data')

  const url = database('roundtrip')
  const copied = run(['migrate', '--from', file, '--to', url, '--json'])
  assert.equal(copied.status, 0, copied.stderr)
  const report = JSON.parse(copied.stdout)
  assert.equal(report.verified, true)
  assert.deepEqual(report.tables.map((t) => t.table), ['swarms', 'agents', 'tasks', 'task_results', 'agent_memory', 'metrics', 'neural_networks', 'events'])
  for (const t of report.tables) {
    assert.equal(t.targetRows, t.sourceRows, t.table)
    assert.equal(t.copied, t.sourceRows, t.table)
    assert.equal(t.targetChecksum, t.sourceChecksum, t.table)
  }
  assert.match(copied.stderr, /migrate: events: \d+\/\d+ rows \(100%\)/, 'progress is shown')

  const pg = new SwarmPersistencePooled(url)
  assert.deepEqual(await everything(pg), before, 'the API reads the same rows, in the same order')
  await pg.close()

  // Re-running copies nothing and verifies again.
  const again = run(['migrate', '--from', file, '--to', url, '--json'])
  assert.equal(again.status, 0, again.stderr)
  for (const t of JSON.parse(again.stdout).tables) {
    assert.equal(t.copied, 0, t.table)
    assert.equal(t.alreadyThere, t.sourceRows, t.table)
  }
})

test('a target holding different data is refused unless merging, which keeps the target’s rows', { skip }, async () => {
  const file = dbPath('migrate-conflict')
  const source = new SwarmPersistencePooled(file)
  await source.createSwarm({ id: 's1', name: 'from sqlite', topology: 'mesh', maxAgents: 3 })
  await source.createSwarm({ id: 's2', name: 'only in sqlite', topology: 'star', maxAgents: 2 })
  await source.close()
  const url = database('conflict')
  const target = new SwarmPersistencePooled(url)
  await target.createSwarm({ id: 's1', name: 'already in postgres', topology: 'ring', maxAgents: 9 })

  const refused = run(['migrate', '--from', file, '--to', url])
  assert.equal(refused.status, 2, refused.stderr)
  assert.match(refused.stderr, /INVALID_ARGUMENT: .*already holds different data in swarms \(1 rows differ.*--merge/)
  assert.deepEqual((await target.getActiveSwarms()).map((s) => s.name), ['already in postgres'], 'nothing was copied')

  const merged = await copyToPostgres(file, url, { merge: true })
  const swarms = merged.tables.find((t) => t.table === 'swarms')
  assert.deepEqual([swarms.copied, swarms.conflicts, swarms.targetRows], [1, 1, 2])
  const names = (await target.getActiveSwarms()).map((s) => s.name).sort()
  assert.deepEqual(names, ['already in postgres', 'only in sqlite'])
  await target.close()
})

test('bad arguments are INVALID_ARGUMENT before anything is touched', async () => {
  await rejectsWith(copyToPostgres(dbPath('nope'), 'postgres://127.0.0.1:1/x'), 'INVALID_ARGUMENT', /no such SQLite database file/)
  await rejectsWith(copyToPostgres(dbPath('nope'), './not-a-url.db'), 'INVALID_ARGUMENT', /postgres:\/\//)
  await rejectsWith(copyToPostgres(dbPath('nope'), 'postgres://h/x', { merge: 'yes' }), 'INVALID_ARGUMENT', /merge/)
  await rejectsWith(copyToPostgres(dbPath('nope'), 'postgres://h/x', { batchSize: 0 }), 'INVALID_ARGUMENT', /batchSize/)
  await rejectsWith(copyToPostgres(42, 'postgres://h/x'), 'INVALID_ARGUMENT', /from/)
  const missing = run(['migrate', '--from', dbPath('nope')])
  assert.equal(missing.status, 2)
  assert.match(missing.stderr, /--to <postgres:\/\/ URL> is required/)
})
