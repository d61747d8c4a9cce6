// The MCP tools, called directly and through the official SDK client over a stdio server process.
import test from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js'
import { addon, dbPath, require, throwsWith } from './helpers.mjs'

const { SwarmPersistencePooled } = addon
const { mcpTools } = require('../mcp')
const cli = fileURLToPath(new URL('../bin/swarm-persistence.js', import.meta.url))

const TOOL_NAMES = ['pool_health', 'pool_stats', 'persistence_stats', 'swarm_list', 'agent_get', 'agent_list',
  'memory_get', 'memory_store', 'task_get', 'events_recent']

async function seeded(path) {
  const p = new SwarmPersistencePooled(path, { maxReaders: 2, maxWorkers: 1 })
  await p.initialize()
  await p.createSwarm({ id: 's1', name: 'alpha', topology: 'mesh', maxAgents: 4 })
  await p.createAgent({ id: 'a1', swarmId: 's1', name: 'coder', type: 'coder' })
  await p.createAgent({ id: 'a2', swarmId: 's1', name: 'tester', type: 'tester' })
  await p.updateAgentStatus('a2', 'busy')
  await p.createTask({ id: 't1', swarmId: 's1', description: 'write tests', assignedAgents: ['a1'] })
  for (let i = 0; i < 5; i++) await p.logEvent('s1', 'tick', { i })
  return p
}

/** The JSON a tool result carries, and whether it is an error. */
function parse(result) {
  assert.equal(result.content.length, 1)
  assert.equal(result.content[0].type, 'text')
  return { error: result.isError === true, value: JSON.parse(result.content[0].text) }
}

function expectError(result, code) {
  const { error, value } = parse(result)
  assert.ok(error, `expected an error result, got ${JSON.stringify(value)}`)
  assert.equal(value.error.code, code, value.error.message)
  return value.error.message
}

test('mcpTools refuses something that is not a persistence layer', () => {
  throwsWith(() => mcpTools({}), 'INVALID_ARGUMENT')
  throwsWith(() => mcpTools(null), 'INVALID_ARGUMENT')
})

test('handlers validate their input and turn every failure into an error result', async () => {
  const p = await seeded(dbPath('mcp-direct'))
  const tools = Object.fromEntries(mcpTools(p).map((t) => [t.name, t]))
  assert.deepEqual(Object.keys(tools).sort(), [...TOOL_NAMES].sort())
  for (const t of Object.values(tools)) {
    assert.equal(t.inputSchema.type, 'object')
    assert.equal(t.inputSchema.additionalProperties, false)
    assert.ok(t.description.length > 10)
  }
  assert.match(expectError(await tools.agent_get.handler({}), 'INVALID_ARGUMENT'), /agentId/)
  assert.match(expectError(await tools.agent_get.handler({ agentId: 7 }), 'INVALID_ARGUMENT'), /agentId/)
  assert.match(expectError(await tools.agent_get.handler({ agentId: 'a1', extra: 1 }), 'INVALID_ARGUMENT'), /extra/)
  assert.match(expectError(await tools.events_recent.handler({ swarmId: 's1', limit: 0 }), 'INVALID_ARGUMENT'), /limit/)
  assert.match(expectError(await tools.memory_store.handler({ agentId: 'a1', key: 'k', value: 1, ttlSecs: 1.5 }), 'INVALID_ARGUMENT'), /ttlSecs/)
  expectError(await tools.memory_store.handler({ agentId: 'a1', key: 'k' }), 'INVALID_ARGUMENT')
  expectError(await tools.agent_get.handler({ agentId: 'nobody' }), 'NOT_FOUND')
  expectError(await tools.memory_store.handler({ agentId: 'nobody', key: 'k', value: 1 }), 'SQLITE_CONSTRAINT_FOREIGNKEY')
  // Injection through a string argument is only data.
  expectError(await tools.agent_get.handler({ agentId: "a1' OR '1'='1" }), 'NOT_FOUND')
  assert.equal(parse(await tools.agent_list.handler({ swarmId: "s1' OR 1=1 --" })).value.length, 0)
  assert.equal((await p.getSwarmAgents('s1')).length, 2)

  const stored = parse(await tools.memory_store.handler({ agentId: 'a1', key: 'plan', value: { steps: [1, 2] }, ttlSecs: null }))
  assert.equal(stored.error, false)
  assert.equal(stored.value.changes, 1)
  assert.deepEqual(parse(await tools.memory_get.handler({ agentId: 'a1', key: 'plan' })).value.value, { steps: [1, 2] })
  await p.close()
  // A closed pool still reports itself, as unhealthy; calls that need it become POOL_CLOSED results.
  const closed = parse(await tools.pool_health.handler({}))
  assert.equal(closed.error, false)
  assert.equal(closed.value.healthy, false)
  expectError(await tools.agent_get.handler({ agentId: 'a1' }), 'POOL_CLOSED')
})

test('the official MCP client lists and calls every tool of `swarm-persistence mcp`', async (t) => {
  const path = dbPath('mcp-stdio')
  await (await seeded(path)).close()
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [cli, 'mcp', '--db', path],
    env: getDefaultEnvironment(),
    stderr: 'pipe',
  })
  let stderr = ''
  transport.stderr.on('data', (chunk) => { stderr += chunk })
  const client = new Client({ name: 'spec', version: '1.0.0' })
  await client.connect(transport)
  t.after(() => client.close())

  const { tools } = await client.listTools()
  assert.deepEqual(tools.map((x) => x.name).sort(), [...TOOL_NAMES].sort())
  assert.deepEqual(tools.find((x) => x.name === 'memory_store').inputSchema.required, ['agentId', 'key', 'value'])
  const call = async (name, args = {}) => parse(await client.callTool({ name, arguments: args }))

  const health = await call('pool_health')
  assert.equal(health.error, false)
  for (const k of ['healthy', 'pool_status', 'last_health_check', 'timestamp']) assert.ok(Object.hasOwn(health.value, k), k)
  for (const k of ['total_connections', 'active_connections', 'available_readers', 'available_workers', 'queue_lengths']) {
    assert.ok(Object.hasOwn(health.value.pool_status, k), k)
  }
  assert.equal(health.value.healthy, true)
  const stats = (await call('pool_stats')).value
  for (const k of ['pool_metrics', 'persistence_metrics', 'health_status', 'timestamp']) assert.ok(Object.hasOwn(stats, k), k)
  const pstats = (await call('persistence_stats')).value
  assert.equal(pstats.persistence_layer, 'SwarmPersistencePooled')

  assert.deepEqual((await call('swarm_list')).value.map((s) => s.id), ['s1'])
  assert.equal((await call('agent_get', { agentId: 'a1' })).value.name, 'coder')
  assert.deepEqual((await call('agent_list', { swarmId: 's1' })).value.map((a) => a.id).sort(), ['a1', 'a2'])
  assert.deepEqual((await call('agent_list', { swarmId: 's1', status: 'busy' })).value.map((a) => a.id), ['a2'])
  assert.equal((await call('task_get', { taskId: 't1' })).value.description, 'write tests')
  const events = (await call('events_recent', { swarmId: 's1', limit: 3 })).value
  assert.deepEqual(events.map((e) => e.event_data.i), [4, 3, 2])

  const value = { plan: ['read', 'write'], n: 3, nested: { ok: true } }
  assert.equal((await call('memory_store', { agentId: 'a1', key: 'ctx', value, ttlSecs: 3600 })).error, false)
  const memory = await call('memory_get', { agentId: 'a1', key: 'ctx' })
  assert.equal(memory.error, false)
  assert.deepEqual(memory.value.value, value)

  assert.equal((await call('memory_get', { agentId: 'a1' })).error, true)
  const bad = await client.callTool({ name: 'agent_get', arguments: { agentId: '' } })
  expectError(bad, 'INVALID_ARGUMENT')
  expectError(await client.callTool({ name: 'task_get', arguments: { taskId: 'missing' } }), 'NOT_FOUND')
  await assert.rejects(client.callTool({ name: 'no_such_tool', arguments: {} }), (err) => err.code === -32602)

  await client.close()
  assert.match(stderr, /MCP server closed/)
  // The server closed its pool cleanly: the write it acknowledged is in the file.
  const after = new SwarmPersistencePooled(path)
  await after.initialize()
  assert.deepEqual((await after.getMemory('a1', 'ctx')).value, value)
  await after.close()
})
