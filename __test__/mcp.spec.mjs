// The MCP tools, called directly and through the official SDK client over a stdio server process.
import test from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js'
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js'
import { addon, dbPath, require, throwsWith } from './helpers.mjs'

// ajv is not a dependency of this package: it comes with @modelcontextprotocol/sdk (which validates
// structuredContent with it), and the MCP Inspector compiles output schemas with it too.
const Ajv = require('ajv')
const Ajv2020 = require('ajv/dist/2020')

const { SwarmPersistencePooled } = addon
const { mcpTools } = require('../mcp')
const root = fileURLToPath(new URL('..', import.meta.url))
const cli = join(root, 'bin', 'swarm-persistence.js')

const READ = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false }
const OVERWRITE = { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false }
const APPEND = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false }

/** Every tool and the annotations true to what it does. */
const ANNOTATIONS = {
  pool_health: READ, pool_stats: READ, persistence_stats: READ, swarm_list: READ,
  agent_create: APPEND, agent_get: READ, agent_list: READ, agent_update_status: OVERWRITE,
  memory_get: READ, memory_list: READ, memory_store: OVERWRITE, memory_delete: OVERWRITE,
  task_create: APPEND, task_get: READ, task_list: READ, task_update: OVERWRITE,
  metric_record: APPEND, metrics_get: READ, event_log: APPEND, events_recent: READ,
}
const TOOL_NAMES = Object.keys(ANNOTATIONS).sort()

/** For every tool, arguments it must refuse with INVALID_ARGUMENT, and the field the message names. */
const BAD_INPUT = {
  pool_health: [{ extra: 1 }, /extra/],
  pool_stats: [{ extra: 1 }, /extra/],
  persistence_stats: [{ verbose: true }, /verbose/],
  swarm_list: [{ status: 'active' }, /status/],
  agent_create: [{ swarmId: 's1', name: 'n' }, /type/],
  agent_get: [{ agentId: '' }, /agentId/],
  agent_list: [{ swarmId: 5 }, /swarmId/],
  agent_update_status: [{ agentId: 'a1' }, /status/],
  memory_get: [{ agentId: 'a1' }, /key/],
  memory_list: [{}, /agentId/],
  memory_store: [{ agentId: 'a1', key: 'k', value: 1, ttlSecs: 1.5 }, /ttlSecs/],
  memory_delete: [{ agentId: 'a1', key: '' }, /key/],
  task_create: [{ swarmId: 's1', description: 'd', assignedAgents: 'a1' }, /assignedAgents/],
  task_get: [{ taskId: null }, /taskId/],
  task_list: [{ swarmId: 's1', status: '' }, /status/],
  task_update: [{ taskId: 't1', executionTimeMs: -1 }, /executionTimeMs/],
  // Only integers are coerced from strings; a number field wants a JSON number.
  metric_record: [{ entityType: 'agent', entityId: 'a1', metricName: 'm', metricValue: '3' }, /metricValue/],
  metrics_get: [{ entityType: 'agent' }, /entityId/],
  event_log: [{ swarmId: 's1' }, /eventType/],
  events_recent: [{ swarmId: 's1', limit: 'ten' }, /limit/],
}

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

/** The JSON a tool result carries as text, and whether it is an error. */
function parse(result) {
  assert.equal(result.content.length, 1)
  assert.equal(result.content[0].type, 'text')
  return { error: result.isError === true, value: JSON.parse(result.content[0].text) }
}

function expectError(result, code) {
  const { error, value } = parse(result)
  assert.ok(error, `expected an error result, got ${JSON.stringify(value)}`)
  // Errors carry no structuredContent: clients would check it against the outputSchema.
  assert.equal(result.structuredContent, undefined)
  assert.equal(value.error.code, code, value.error.message)
  return value.error.message
}

/** Compiles every output schema as strict Ajv does (draft-07, as the Inspector, and 2020-12, MCP's dialect). */
function outputValidators(tools) {
  const validators = {}
  for (const Validator of [Ajv, Ajv2020]) {
    const ajv = new Validator({ strict: true, allErrors: true })
    for (const tool of tools) {
      ajv.compile(tool.inputSchema)
      ;(validators[tool.name] ??= []).push(ajv.compile(tool.outputSchema))
    }
  }
  return validators
}

/** A successful result's structuredContent, checked against the tool's outputSchema and equal to its text. */
function structured(validators, name, result) {
  const { error, value } = parse(result)
  assert.equal(error, false, `${name}: ${JSON.stringify(value)}`)
  assert.deepEqual(result.structuredContent, value, `${name}: the text is the structuredContent's JSON`)
  for (const validate of validators[name]) {
    assert.ok(validate(result.structuredContent), `${name}: ${JSON.stringify(validate.errors)}`)
  }
  return result.structuredContent
}

/** Every `type` keyword in a schema and its subschemas (properties, items, anyOf). */
function typesIn(schema, found = []) {
  if ('type' in schema) found.push(schema.type)
  for (const sub of [...Object.values(schema.properties ?? {}), ...(schema.items ? [schema.items] : []), ...(schema.anyOf ?? [])]) typesIn(sub, found)
  return found
}

test('mcpTools refuses something that is not a persistence layer', () => {
  throwsWith(() => mcpTools({}), 'INVALID_ARGUMENT')
  throwsWith(() => mcpTools(null), 'INVALID_ARGUMENT')
})

test('every tool declares strict input and output schemas, one type per schema, and true annotations', () => {
  const tools = mcpTools(new SwarmPersistencePooled(dbPath('mcp-schemas')))
  assert.deepEqual(tools.map((t) => t.name).sort(), TOOL_NAMES)
  outputValidators(tools)
  for (const t of tools) {
    assert.ok(t.description.length > 10, t.name)
    assert.ok(t.title, t.name)
    assert.equal(t.inputSchema.type, 'object')
    assert.equal(t.inputSchema.additionalProperties, false)
    assert.equal(t.outputSchema.type, 'object', `${t.name}: structuredContent is an object`)
    for (const type of [...typesIn(t.inputSchema), ...typesIn(t.outputSchema)]) {
      assert.equal(typeof type, 'string', `${t.name}: a type must not be an array (the Inspector cannot render it)`)
    }
    assert.deepEqual(t.annotations, ANNOTATIONS[t.name], t.name)
  }
  const store = tools.find((t) => t.name === 'memory_store')
  assert.ok(store.inputSchema.properties.value.anyOf, 'memory values are typed: any JSON value, one branch per type')
})

test('the tool definitions need no MCP SDK', () => {
  for (const file of ['tools.js', 'schema.js', 'outputs.js', 'index.js']) {
    assert.doesNotMatch(readFileSync(join(root, 'mcp', file), 'utf8'), /require\(['"]@modelcontextprotocol/, file)
  }
  assert.doesNotMatch(readFileSync(join(root, 'mcp', 'server.js'), 'utf8'), /require\(['"]@modelcontextprotocol/, 'server.js loads it through sdk.js')
})

/** This package's runtime files, copied where no node_modules (so no SDK) can be found. */
function withoutSdk(t) {
  const dir = mkdtempSync(join(tmpdir(), 'sp-nosdk-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  for (const file of ['package.json', 'index.js', ...readdirSync(join(root, 'lib')).map((f) => `lib/${f}`), 'bin/swarm-persistence.js', ...readdirSync(join(root, 'mcp')).map((f) => `mcp/${f}`)]) {
    mkdirSync(dirname(join(dir, file)), { recursive: true })
    copyFileSync(join(root, file), join(dir, file))
  }
  for (const file of readdirSync(root).filter((f) => f.endsWith('.node'))) symlinkSync(join(root, file), join(dir, file))
  try {
    require.resolve('@modelcontextprotocol/sdk/server/index.js', { paths: [dir] })
    return null
  } catch {
    return dir
  }
}

test('without the SDK, mcpTools works and `swarm-persistence mcp` says how to install it', async (t) => {
  const dir = withoutSdk(t)
  if (!dir) return t.skip('the SDK is installed above the temporary directory')
  const db = join(dir, 'data', 'swarm.db')
  const tools = spawnSync(process.execPath, ['-e', `
    const { mcpTools } = require(${JSON.stringify(join(dir, 'mcp'))})
    const { SwarmPersistencePooled } = require(${JSON.stringify(join(dir, 'lib', 'index.js'))})
    const p = new SwarmPersistencePooled(${JSON.stringify(db)})
    p.initialize()
      .then(() => mcpTools(p).find((t) => t.name === 'pool_health').handler({}))
      .then((r) => { console.log(JSON.stringify(r.structuredContent.healthy)); return p.close() })
  `], { encoding: 'utf8' })
  assert.equal(tools.status, 0, tools.stderr)
  assert.equal(tools.stdout.trim(), 'true')
  rmSync(join(dir, 'data'), { recursive: true, force: true })

  const run = spawnSync(process.execPath, [join(dir, 'bin', 'swarm-persistence.js'), 'mcp', '--db', db], { encoding: 'utf8', input: '' })
  assert.notEqual(run.status, 0)
  assert.equal(run.stdout, '', 'nothing on the protocol stream')
  const lines = run.stderr.trim().split('\n')
  assert.equal(lines.length, 1, run.stderr)
  assert.match(lines[0], /npm install @modelcontextprotocol\/sdk/)
  assert.match(lines[0], /npx -y -p @modelcontextprotocol\/sdk -p swarm-persistence swarm-persistence mcp --db PATH/)
  assert.equal(existsSync(db), false, 'no database is opened without the SDK')
})

test('handlers validate their input and turn every failure into an error result', async () => {
  const p = await seeded(dbPath('mcp-direct'))
  const tools = Object.fromEntries(mcpTools(p).map((t) => [t.name, t]))
  const validators = outputValidators(Object.values(tools))
  assert.deepEqual(Object.keys(BAD_INPUT).sort(), TOOL_NAMES)
  for (const [name, [args, field]] of Object.entries(BAD_INPUT)) {
    assert.match(expectError(await tools[name].handler(args), 'INVALID_ARGUMENT'), field, name)
  }
  assert.match(expectError(await tools.agent_get.handler({ agentId: 7 }), 'INVALID_ARGUMENT'), /agentId/)
  assert.match(expectError(await tools.events_recent.handler({ swarmId: 's1', limit: 0 }), 'INVALID_ARGUMENT'), /limit/)
  expectError(await tools.memory_store.handler({ agentId: 'a1', key: 'k' }), 'INVALID_ARGUMENT')
  expectError(await tools.agent_get.handler({ agentId: 'nobody' }), 'NOT_FOUND')
  expectError(await tools.memory_store.handler({ agentId: 'nobody', key: 'k', value: 1 }), 'SQLITE_CONSTRAINT_FOREIGNKEY')
  // Injection through a string argument is only data.
  expectError(await tools.agent_get.handler({ agentId: "a1' OR '1'='1" }), 'NOT_FOUND')
  assert.deepEqual(structured(validators, 'agent_list', await tools.agent_list.handler({ swarmId: "s1' OR 1=1 --" })).agents, [])
  assert.equal((await p.getSwarmAgents('s1')).length, 2)

  const stored = structured(validators, 'memory_store', await tools.memory_store.handler({ agentId: 'a1', key: 'plan', value: { steps: [1, 2] }, ttlSecs: null }))
  assert.equal(stored.changes, 1)
  assert.deepEqual(structured(validators, 'memory_get', await tools.memory_get.handler({ agentId: 'a1', key: 'plan' })).value, { steps: [1, 2] })
  await p.close()
  // A closed pool still reports itself, as unhealthy; calls that need it become POOL_CLOSED results.
  assert.equal(structured(validators, 'pool_health', await tools.pool_health.handler({})).healthy, false)
  structured(validators, 'pool_stats', await tools.pool_stats.handler())
  structured(validators, 'persistence_stats', await tools.persistence_stats.handler())
  expectError(await tools.agent_get.handler({ agentId: 'a1' }), 'POOL_CLOSED')
})

test('integer arguments may come as digit strings, as form-based clients send them', async () => {
  const p = await seeded(dbPath('mcp-coerce'))
  const tools = Object.fromEntries(mcpTools(p).map((t) => [t.name, t]))
  assert.equal(parse(await tools.events_recent.handler({ swarmId: 's1', limit: '2' })).value.events.length, 2)
  assert.equal(parse(await tools.memory_store.handler({ agentId: 'a1', key: 'k', value: 'v', ttlSecs: '42' })).error, false)
  assert.equal((await p.getMemory('a1', 'k')).ttl_secs, 42)
  assert.equal(parse(await tools.task_update.handler({ taskId: 't1', executionTimeMs: '1500' })).error, false)
  assert.equal((await p.getTask('t1')).execution_time_ms, 1500)
  // Anything but digits (with an optional minus) stays refused, and the bounds still apply.
  for (const limit of ['4.2', '1e3', ' 3', '', '0x10', 'ten']) {
    assert.match(expectError(await tools.events_recent.handler({ swarmId: 's1', limit }), 'INVALID_ARGUMENT'), /limit must be a whole number/, limit)
  }
  assert.match(expectError(await tools.events_recent.handler({ swarmId: 's1', limit: '0' }), 'INVALID_ARGUMENT'), /limit must be ≥ 1/)
  assert.match(expectError(await tools.memory_store.handler({ agentId: 'a1', key: 'k', value: 1, ttlSecs: '99999999999999999999' }), 'INVALID_ARGUMENT'), /ttlSecs/)
  await p.close()
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
  // The same file, read by the library in this process, is what the tools must agree with.
  const lib = new SwarmPersistencePooled(path, { maxReaders: 1, maxWorkers: 1 })
  await lib.initialize()
  t.after(() => lib.close())

  const { tools } = await client.listTools()
  assert.deepEqual(tools.map((x) => x.name).sort(), TOOL_NAMES)
  for (const tool of tools) {
    assert.equal(tool.inputSchema.type, 'object', tool.name)
    assert.equal(tool.outputSchema.type, 'object', tool.name)
    assert.deepEqual(tool.annotations, ANNOTATIONS[tool.name], tool.name)
  }
  assert.deepEqual(tools.find((x) => x.name === 'memory_store').inputSchema.required, ['agentId', 'key', 'value'])
  const validators = outputValidators(tools)
  const called = new Set()
  const call = async (name, args = {}) => {
    called.add(name)
    return structured(validators, name, await client.callTool({ name, arguments: args }))
  }
  const raw = (name, args) => client.callTool({ name, arguments: args })

  const health = await call('pool_health')
  assert.equal(health.healthy, true)
  for (const k of ['total_connections', 'active_connections', 'available_readers', 'available_workers', 'queue_lengths']) {
    assert.ok(Object.hasOwn(health.pool_status, k), k)
  }
  const stats = await call('pool_stats')
  for (const k of ['pool_metrics', 'persistence_metrics', 'health_status', 'timestamp']) assert.ok(Object.hasOwn(stats, k), k)
  assert.equal((await call('persistence_stats')).persistence_layer, 'SwarmPersistencePooled')
  assert.deepEqual((await call('swarm_list')).swarms, await lib.getActiveSwarms())

  // Agents.
  assert.deepEqual(await call('agent_get', { agentId: 'a1' }), await lib.getAgent('a1'))
  assert.deepEqual((await call('agent_list', { swarmId: 's1' })).agents, await lib.getSwarmAgents('s1'))
  assert.deepEqual((await call('agent_list', { swarmId: 's1', status: 'busy' })).agents.map((a) => a.id), ['a2'])
  const made = await call('agent_create', { agentId: 'a3', swarmId: 's1', name: 'reviewer', type: 'reviewer', capabilities: ['review'] })
  assert.deepEqual({ id: made.id, changes: made.changes }, { id: 'a3', changes: 1 })
  const a3 = await lib.getAgent('a3')
  assert.deepEqual([a3.swarm_id, a3.name, a3.type, a3.status, a3.capabilities], ['s1', 'reviewer', 'reviewer', 'idle', ['review']])
  expectError(await raw('agent_create', { agentId: 'a3', swarmId: 's1', name: 'again', type: 'reviewer' }), 'SQLITE_CONSTRAINT_PRIMARYKEY')
  const unnamed = await call('agent_create', { swarmId: 's1', name: 'helper', type: 'coder' })
  assert.match(unnamed.id, /^agent-/)
  assert.equal((await lib.getAgent(unnamed.id)).name, 'helper')
  assert.equal((await call('agent_update_status', { agentId: 'a3', status: 'busy' })).changes, 1)
  assert.equal((await lib.getAgent('a3')).status, 'busy')
  expectError(await raw('agent_update_status', { agentId: 'nobody', status: 'busy' }), 'NOT_FOUND')

  // Memory.
  const value = { plan: ['read', 'write'], n: 3, nested: { ok: true } }
  assert.equal((await call('memory_store', { agentId: 'a1', key: 'ctx', value, ttlSecs: 3600 })).changes, 1)
  assert.deepEqual((await lib.getMemory('a1', 'ctx')).value, value)
  assert.deepEqual(await call('memory_get', { agentId: 'a1', key: 'ctx' }), await lib.getMemory('a1', 'ctx'))
  await call('memory_store', { agentId: 'a1', key: 'note', value: 'short-lived', ttlSecs: '120' })
  assert.equal((await lib.getMemory('a1', 'note')).ttl_secs, 120)
  const { entries } = await call('memory_list', { agentId: 'a1' })
  assert.deepEqual(entries, await lib.getAllMemory('a1'))
  assert.deepEqual(entries.map((e) => e.key).sort(), ['ctx', 'note'])
  assert.equal((await call('memory_delete', { agentId: 'a1', key: 'note' })).changes, 1)
  assert.equal((await call('memory_delete', { agentId: 'a1', key: 'note' })).changes, 0, 'deleting again changes nothing more')
  assert.equal(await lib.getMemory('a1', 'note'), null)
  expectError(await raw('memory_get', { agentId: 'a1', key: 'note' }), 'NOT_FOUND')

  // Tasks.
  assert.deepEqual(await call('task_get', { taskId: 't1' }), await lib.getTask('t1'))
  const task = await call('task_create', { taskId: 't2', swarmId: 's1', description: 'review', priority: 'high', assignedAgents: ['a1', 'a2'] })
  assert.deepEqual({ id: task.id, changes: task.changes }, { id: 't2', changes: 1 })
  const t2 = await lib.getTask('t2')
  assert.deepEqual([t2.swarm_id, t2.description, t2.priority, t2.status, t2.assigned_agents], ['s1', 'review', 'high', 'pending', ['a1', 'a2']])
  expectError(await raw('task_create', { taskId: 't2', swarmId: 's1', description: 'review' }), 'SQLITE_CONSTRAINT_PRIMARYKEY')
  assert.match((await call('task_create', { swarmId: 's1', description: 'later' })).id, /^task-/)
  assert.deepEqual((await call('task_list', { swarmId: 's1' })).tasks, await lib.getSwarmTasks('s1'))
  const done = { taskId: 't2', status: 'completed', result: { ok: true }, executionTimeMs: 42, completedAt: '2025-01-31 12:00:00' }
  assert.equal((await call('task_update', done)).changes, 1)
  const t2done = await lib.getTask('t2')
  assert.deepEqual([t2done.status, t2done.result, t2done.execution_time_ms, t2done.completed_at], ['completed', { ok: true }, 42, '2025-01-31 12:00:00'])
  assert.deepEqual((await call('task_list', { swarmId: 's1', status: 'completed' })).tasks.map((x) => x.id), ['t2'])
  expectError(await raw('task_update', { taskId: 'missing', status: 'completed' }), 'NOT_FOUND')
  assert.match(expectError(await raw('task_update', { taskId: 't2' }), 'INVALID_ARGUMENT'), /no fields/)
  expectError(await raw('task_get', { taskId: 'missing' }), 'NOT_FOUND')

  // Metrics and events.
  const metric = await call('metric_record', { entityType: 'agent', entityId: 'a1', metricName: 'tasks_completed', metricValue: 3 })
  assert.equal(metric.changes, 1)
  const { metrics } = await call('metrics_get', { entityType: 'agent', entityId: 'a1', metricName: 'tasks_completed' })
  assert.deepEqual(metrics, await lib.getMetrics('agent', 'a1', 'tasks_completed'))
  assert.deepEqual(metrics.map((m) => [m.id, m.metric_value]), [[metric.id, 3]])
  assert.deepEqual((await call('metrics_get', { entityType: 'agent', entityId: 'a1' })).metrics, await lib.getMetrics('agent', 'a1'))
  assert.equal((await call('event_log', { swarmId: 's1', eventType: 'note', eventData: { text: 'hi' } })).changes, 1)
  const { events } = await call('events_recent', { swarmId: 's1', limit: 3 })
  assert.deepEqual(events, await lib.getSwarmEvents('s1', 3))
  assert.deepEqual(events.map((e) => e.event_type === 'note' ? e.event_data : e.event_data.i), [{ text: 'hi' }, 4, 3])
  assert.equal((await call('events_recent', { swarmId: 's1', limit: '2' })).events.length, 2, 'an integer as a string')
  assert.deepEqual([...called].sort(), TOOL_NAMES)

  // Bad input: an error result the model can read, for every tool.
  for (const [name, [args, field]] of Object.entries(BAD_INPUT)) {
    assert.match(expectError(await raw(name, args), 'INVALID_ARGUMENT'), field, name)
  }
  await assert.rejects(raw('no_such_tool', {}), (err) => err.code === -32602)

  await client.close()
  assert.match(stderr, /MCP server closed/)
  // The server closed its pool cleanly: the write it acknowledged is in the file.
  assert.deepEqual((await lib.getMemory('a1', 'ctx')).value, value)
})

test('2,000 pipelined calls then stdin EOF: every call is answered before the server exits', async () => {
  const path = dbPath('mcp-burst')
  await (await seeded(path)).close()
  const child = spawn(process.execPath, [cli, 'mcp', '--db', path], { stdio: ['pipe', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk) => { stderr += chunk })
  const exited = once(child, 'exit')
  const responses = []
  let initialized
  const handshake = new Promise((resolve) => { initialized = resolve })
  createInterface({ input: child.stdout }).on('line', (line) => {
    const message = JSON.parse(line)
    if (message.id === 0) initialized(message)
    else responses.push(message)
  })
  const send = (message) => `${JSON.stringify({ jsonrpc: '2.0', ...message })}\n`

  child.stdin.write(send({ id: 0, method: 'initialize', params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'burst', version: '1.0.0' } } }))
  assert.equal((await handshake).result.serverInfo.name, 'swarm-persistence')
  let burst = send({ method: 'notifications/initialized' })
  const N = 2000
  for (let id = 1; id <= N; id++) {
    burst += send({ id, method: 'tools/call', params: { name: 'memory_store', arguments: { agentId: 'a1', key: `k${id}`, value: { id } } } })
  }
  // All of it in one write, then EOF at once: the server must not drop what it already read.
  child.stdin.end(burst)
  const [code] = await exited
  assert.equal(code, 0, stderr)
  assert.match(stderr, /MCP server closed/)

  assert.equal(responses.length, N, stderr)
  assert.deepEqual(responses.map((r) => r.id).sort((a, b) => a - b), Array.from({ length: N }, (_, i) => i + 1))
  for (const r of responses) {
    assert.equal(r.error, undefined, JSON.stringify(r.error))
    assert.notEqual(r.result.isError, true, r.result.content?.[0]?.text)
    assert.equal(r.result.structuredContent.changes, 1)
  }
  const after = new SwarmPersistencePooled(path)
  await after.initialize()
  const rows = await after.getAllMemory('a1')
  assert.equal(rows.length, N)
  assert.deepEqual((await after.getMemory('a1', `k${N}`)).value, { id: N })
  await after.close()
})
