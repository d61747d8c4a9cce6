// MCP tool definitions over a SwarmPersistencePooled: `{ name, description, inputSchema, handler }`.
// Handlers check their arguments, call the persistence layer, and always resolve to an MCP
// CallToolResult; a failure becomes `isError: true` carrying the error's code, never a throw.
'use strict'
const { checkArguments } = require('./schema')

const ID = { type: 'string', minLength: 1, maxLength: 1024 }
const object = (properties = {}, required = []) => ({ type: 'object', properties, required, additionalProperties: false })

const READ = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false }
const WRITE = { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false }

function notFound(what, id) {
  return Object.assign(new Error(`no ${what} with id ${JSON.stringify(id)}`), { code: 'NOT_FOUND' })
}

/** The tool table; `run` receives the persistence layer and checked arguments. */
const TOOLS = [
  {
    name: 'pool_health',
    description: 'Health of the SQLite connection pool: writer, readers and workers answering, queue lengths, WAL size.',
    inputSchema: object(),
    annotations: READ,
    run: (p) => p.poolHealth(),
  },
  {
    name: 'pool_stats',
    description: 'Pool metrics (reads, writes, worker tasks, latencies, queue lengths) and persistence-layer metrics.',
    inputSchema: object(),
    annotations: READ,
    run: (p) => p.poolStats(),
  },
  {
    name: 'persistence_stats',
    description: 'Operation counts, error rate and mean response time of the persistence layer, with pool health.',
    inputSchema: object(),
    annotations: READ,
    run: (p) => p.persistenceStats(),
  },
  {
    name: 'swarm_list',
    description: 'All active swarms.',
    inputSchema: object(),
    annotations: READ,
    run: (p) => p.getActiveSwarms(),
  },
  {
    name: 'agent_get',
    description: 'One agent by id.',
    inputSchema: object({ agentId: ID }, ['agentId']),
    annotations: READ,
    run: async (p, a) => (await p.getAgent(a.agentId)) ?? Promise.reject(notFound('agent', a.agentId)),
  },
  {
    name: 'agent_list',
    description: "The agents of a swarm, optionally only those with a given status (e.g. 'idle', 'busy').",
    inputSchema: object({ swarmId: ID, status: { type: 'string', minLength: 1, maxLength: 64 } }, ['swarmId']),
    annotations: READ,
    run: (p, a) => p.getSwarmAgents(a.swarmId, a.status),
  },
  {
    name: 'memory_get',
    description: "One unexpired memory entry of an agent by key; its value is the stored JSON.",
    inputSchema: object({ agentId: ID, key: ID }, ['agentId', 'key']),
    annotations: READ,
    run: async (p, a) => (await p.getMemory(a.agentId, a.key)) ?? Promise.reject(notFound('memory entry', `${a.agentId}/${a.key}`)),
  },
  {
    name: 'memory_store',
    description: 'Stores (or replaces) a JSON value under an agent and key, optionally expiring after ttlSecs seconds.',
    inputSchema: object(
      { agentId: ID, key: ID, value: { description: 'any JSON value' }, ttlSecs: { type: ['integer', 'null'], minimum: 1 } },
      ['agentId', 'key', 'value'],
    ),
    annotations: WRITE,
    run: (p, a) => p.storeMemory(a.agentId, a.key, a.value, a.ttlSecs ?? null),
  },
  {
    name: 'task_get',
    description: 'One task by id.',
    inputSchema: object({ taskId: ID }, ['taskId']),
    annotations: READ,
    run: async (p, a) => (await p.getTask(a.taskId)) ?? Promise.reject(notFound('task', a.taskId)),
  },
  {
    name: 'events_recent',
    description: 'The most recent events of a swarm, newest first.',
    inputSchema: object({ swarmId: ID, limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 } }, ['swarmId']),
    annotations: READ,
    run: (p, a) => p.getSwarmEvents(a.swarmId, a.limit ?? 50),
  },
]

// Rows may hold 64-bit integers as BigInt, which JSON cannot carry; they travel as decimal strings.
const toJson = (value) => JSON.stringify(value ?? null, (_, v) => (typeof v === 'bigint' ? v.toString() : v), 2)

function success(value) {
  return { content: [{ type: 'text', text: toJson(value) }] }
}

function failure(err) {
  const code = (err && typeof err.code === 'string' && err.code) || 'INTERNAL'
  const message = err instanceof Error ? err.message : String(err)
  return { isError: true, content: [{ type: 'text', text: toJson({ error: { code, message } }) }] }
}

/**
 * The MCP tools over `persistence` (a SwarmPersistencePooled). Each `handler(args)` resolves to an
 * MCP CallToolResult; it never rejects.
 */
function mcpTools(persistence) {
  if (!persistence || typeof persistence.poolHealth !== 'function' || typeof persistence.getAgent !== 'function') {
    throw Object.assign(new TypeError('mcpTools expects a SwarmPersistencePooled'), { code: 'INVALID_ARGUMENT' })
  }
  return TOOLS.map(({ name, description, inputSchema, annotations, run }) => ({
    name,
    description,
    inputSchema,
    annotations,
    handler: async (args) => {
      try {
        return success(await run(persistence, checkArguments(inputSchema, args)))
      } catch (err) {
        return failure(err)
      }
    },
  }))
}

module.exports = { mcpTools }
