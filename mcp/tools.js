// MCP tool definitions over a SwarmPersistencePooled:
// `{ name, title, description, inputSchema, outputSchema, annotations, handler }`.
// Handlers check their arguments, call the persistence layer, and always resolve to an MCP
// CallToolResult; a failure becomes `isError: true` carrying the error's code, never a throw.
// This file needs no MCP SDK: library users can mount the tools on any server.
'use strict'
const { randomUUID } = require('node:crypto')
const { checkArguments } = require('./schema')
const { OUTPUT, JSON_VALUE, nullable } = require('./outputs')

/** A string schema; bounds and description only where given, so the schema has no undefined keys. */
const text = (description, minLength, maxLength) => ({
  type: 'string',
  ...(minLength === undefined ? {} : { minLength }),
  ...(maxLength === undefined ? {} : { maxLength }),
  ...(description === undefined ? {} : { description }),
})
const ID = (description) => text(description, 1, 1024)
const LABEL = (description) => text(description, 1, 256)
const object = (properties = {}, required = []) => ({ type: 'object', properties, required, additionalProperties: false })

// Hints per the MCP spec: what a call may change, and whether repeating it changes anything more.
const hints = (readOnlyHint, destructiveHint, idempotentHint) => ({ readOnlyHint, destructiveHint, idempotentHint, openWorldHint: false })
const READ = hints(true, false, true)
const OVERWRITE = hints(false, true, true) // replaces or deletes what is there; the same call again changes nothing more
const APPEND = hints(false, false, false) // adds a row each call

// The largest TTL storeMemory accepts (100 years).
const MAX_TTL_SECS = 3_155_760_000

function notFound(what, id) {
  return Object.assign(new Error(`no ${what} with id ${JSON.stringify(id)}`), { code: 'NOT_FOUND' })
}

/** The write's result, or NOT_FOUND when its UPDATE matched no row (SQLite counts matched rows). */
function updated(result, what, id) {
  if (result.changes === 0) throw notFound(what, id)
  return result
}

/** The row a getter found, or NOT_FOUND (getters resolve to null for a missing row). */
async function found(promise, what, id) {
  const row = await promise
  if (row === null) throw notFound(what, id)
  return row
}

/** The tool table; `run` receives the persistence layer and checked arguments. */
const TOOLS = [
  {
    name: 'pool_health',
    title: 'Pool health',
    description: 'Health of the SQLite connection pool: writer, readers and workers answering, queue lengths, WAL size.',
    inputSchema: object(),
    outputSchema: OUTPUT.POOL_HEALTH,
    annotations: READ,
    run: (p) => p.poolHealth(),
  },
  {
    name: 'pool_stats',
    title: 'Pool statistics',
    description: 'Pool metrics (reads, writes, worker tasks, latencies, queue lengths) and persistence-layer metrics.',
    inputSchema: object(),
    outputSchema: OUTPUT.POOL_STATS,
    annotations: READ,
    run: (p) => p.poolStats(),
  },
  {
    name: 'persistence_stats',
    title: 'Persistence statistics',
    description: 'Operation counts, error rate and mean response time of the persistence layer, with pool health.',
    inputSchema: object(),
    outputSchema: OUTPUT.PERSISTENCE_STATS,
    annotations: READ,
    run: (p) => p.persistenceStats(),
  },
  {
    name: 'swarm_list',
    title: 'List swarms',
    description: 'All active swarms, as { swarms: [...] }.',
    inputSchema: object(),
    outputSchema: OUTPUT.SWARMS,
    annotations: READ,
    run: async (p) => ({ swarms: await p.getActiveSwarms() }),
  },
  {
    name: 'agent_create',
    title: 'Create agent',
    description: 'Registers an agent in a swarm (status idle). Without agentId a new id is made; returns { id, changes, lastInsertRowid }. An existing id fails with SQLITE_CONSTRAINT_PRIMARYKEY.',
    inputSchema: object(
      {
        agentId: ID('the new agent\'s id; omitted: a random one'),
        swarmId: ID('the swarm it joins'),
        name: LABEL('display name'),
        type: LABEL("its role, e.g. 'coder', 'researcher'"),
        capabilities: { type: 'array', items: LABEL('a capability'), description: 'what it can do' },
      },
      ['swarmId', 'name', 'type'],
    ),
    outputSchema: OUTPUT.CREATED,
    annotations: APPEND,
    run: async (p, a) => {
      const id = a.agentId ?? `agent-${randomUUID()}`
      return { id, ...(await p.createAgent({ id, swarmId: a.swarmId, name: a.name, type: a.type, capabilities: a.capabilities })) }
    },
  },
  {
    name: 'agent_get',
    title: 'Get agent',
    description: 'One agent by id.',
    inputSchema: object({ agentId: ID('the agent\'s id') }, ['agentId']),
    outputSchema: OUTPUT.AGENT,
    annotations: READ,
    run: (p, a) => found(p.getAgent(a.agentId), 'agent', a.agentId),
  },
  {
    name: 'agent_list',
    title: 'List agents',
    description: "The agents of a swarm, optionally only those with a given status (e.g. 'idle', 'busy'), as { agents: [...] }.",
    inputSchema: object({ swarmId: ID('the swarm\'s id'), status: text('only agents with this status', 1, 64) }, ['swarmId']),
    outputSchema: OUTPUT.AGENTS,
    annotations: READ,
    run: async (p, a) => ({ agents: await p.getSwarmAgents(a.swarmId, a.status) }),
  },
  {
    name: 'agent_update_status',
    title: 'Set agent status',
    description: "Sets an agent's status (e.g. 'idle', 'busy'); returns { changes, lastInsertRowid }, or NOT_FOUND for an unknown agent.",
    inputSchema: object({ agentId: ID('the agent\'s id'), status: text('the new status', 1, 64) }, ['agentId', 'status']),
    outputSchema: OUTPUT.WRITE,
    annotations: OVERWRITE,
    run: async (p, a) => updated(await p.updateAgentStatus(a.agentId, a.status), 'agent', a.agentId),
  },
  {
    name: 'memory_get',
    title: 'Get memory entry',
    description: 'One unexpired memory entry of an agent by key; its value is the stored JSON.',
    inputSchema: object({ agentId: ID('the agent\'s id'), key: ID('the entry\'s key') }, ['agentId', 'key']),
    outputSchema: OUTPUT.MEMORY,
    annotations: READ,
    run: (p, a) => found(p.getMemory(a.agentId, a.key), 'memory entry', `${a.agentId}/${a.key}`),
  },
  {
    name: 'memory_list',
    title: 'List memory entries',
    description: 'Every unexpired memory entry of an agent, as { entries: [...] }.',
    inputSchema: object({ agentId: ID('the agent\'s id') }, ['agentId']),
    outputSchema: OUTPUT.ENTRIES,
    annotations: READ,
    run: async (p, a) => ({ entries: await p.getAllMemory(a.agentId) }),
  },
  {
    name: 'memory_store',
    title: 'Store memory entry',
    description: 'Stores (or replaces) a JSON value under an agent and key, optionally expiring after ttlSecs seconds; returns { changes, lastInsertRowid }.',
    inputSchema: object(
      {
        agentId: ID('the agent\'s id'),
        key: ID('the entry\'s key'),
        value: { ...JSON_VALUE, description: 'the value to store: any JSON value' },
        ttlSecs: { ...nullable({ type: 'integer', minimum: 1, maximum: MAX_TTL_SECS }), description: 'seconds until it expires; omitted or null: never' },
      },
      ['agentId', 'key', 'value'],
    ),
    outputSchema: OUTPUT.WRITE,
    annotations: OVERWRITE,
    run: (p, a) => p.storeMemory(a.agentId, a.key, a.value, a.ttlSecs ?? null),
  },
  {
    name: 'memory_delete',
    title: 'Delete memory entry',
    description: 'Deletes an agent\'s memory entry by key; returns { changes, lastInsertRowid } (changes 0: there was none).',
    inputSchema: object({ agentId: ID('the agent\'s id'), key: ID('the entry\'s key') }, ['agentId', 'key']),
    outputSchema: OUTPUT.WRITE,
    annotations: OVERWRITE,
    run: (p, a) => p.deleteMemory(a.agentId, a.key),
  },
  {
    name: 'task_create',
    title: 'Create task',
    description: 'Creates a task in a swarm. Without taskId a new id is made; returns { id, changes, lastInsertRowid }. An existing id fails with SQLITE_CONSTRAINT_PRIMARYKEY.',
    inputSchema: object(
      {
        taskId: ID('the new task\'s id; omitted: a random one'),
        swarmId: ID('the swarm it belongs to'),
        description: text('what is to be done'),
        priority: { ...text('e.g. low, medium, high, critical', 1, 64), default: 'medium' },
        status: { ...text('e.g. pending, in_progress, completed, failed', 1, 64), default: 'pending' },
        assignedAgents: { type: 'array', items: ID('an agent\'s id'), description: 'the agents working on it' },
      },
      ['swarmId', 'description'],
    ),
    outputSchema: OUTPUT.CREATED,
    annotations: APPEND,
    run: async (p, a) => {
      const id = a.taskId ?? `task-${randomUUID()}`
      const task = { id, swarmId: a.swarmId, description: a.description, priority: a.priority, status: a.status, assignedAgents: a.assignedAgents }
      return { id, ...(await p.createTask(task)) }
    },
  },
  {
    name: 'task_get',
    title: 'Get task',
    description: 'One task by id.',
    inputSchema: object({ taskId: ID('the task\'s id') }, ['taskId']),
    outputSchema: OUTPUT.TASK,
    annotations: READ,
    run: (p, a) => found(p.getTask(a.taskId), 'task', a.taskId),
  },
  {
    name: 'task_list',
    title: 'List tasks',
    description: 'The tasks of a swarm, optionally only those with a given status, as { tasks: [...] }.',
    inputSchema: object({ swarmId: ID('the swarm\'s id'), status: text('only tasks with this status', 1, 64) }, ['swarmId']),
    outputSchema: OUTPUT.TASKS,
    annotations: READ,
    run: async (p, a) => ({ tasks: await p.getSwarmTasks(a.swarmId, a.status ?? null) }),
  },
  {
    name: 'task_update',
    title: 'Update task',
    description: 'Changes the given fields of a task (at least one); returns { changes, lastInsertRowid }, or NOT_FOUND for an unknown task.',
    inputSchema: object(
      {
        taskId: ID('the task\'s id'),
        description: { ...nullable(text()), description: 'what is to be done' },
        priority: text('e.g. low, medium, high, critical', 1, 64),
        status: text('e.g. pending, in_progress, completed, failed', 1, 64),
        assignedAgents: { type: 'array', items: ID('an agent\'s id'), description: 'the agents working on it' },
        result: { ...JSON_VALUE, description: 'its outcome: any JSON value' },
        error: { ...nullable(text()), description: 'why it failed' },
        completedAt: { ...nullable(text(undefined, 1, 64)), description: "when it ended, e.g. '2025-01-31 12:00:00'" },
        executionTimeMs: { ...nullable({ type: 'integer', minimum: 0 }), description: 'how long it ran, in milliseconds' },
      },
      ['taskId'],
    ),
    outputSchema: OUTPUT.WRITE,
    annotations: OVERWRITE,
    run: async (p, { taskId, ...updates }) => updated(await p.updateTask(taskId, updates), 'task', taskId),
  },
  {
    name: 'metric_record',
    title: 'Record metric',
    description: "Records one value of a metric for an entity (e.g. entityType 'agent'); returns { id, changes, lastInsertRowid }.",
    inputSchema: object(
      {
        entityType: LABEL("what it measures, e.g. 'agent', 'swarm', 'task'"),
        entityId: ID('the entity\'s id'),
        metricName: LABEL("e.g. 'tasks_completed', 'latency_ms'"),
        metricValue: { type: 'number', description: 'the value' },
      },
      ['entityType', 'entityId', 'metricName', 'metricValue'],
    ),
    outputSchema: OUTPUT.CREATED,
    annotations: APPEND,
    run: (p, a) => p.recordMetric(a.entityType, a.entityId, a.metricName, a.metricValue),
  },
  {
    name: 'metrics_get',
    title: 'Get metrics',
    description: 'The newest 100 metric values of an entity, optionally of one metric, newest first, as { metrics: [...] }.',
    inputSchema: object(
      { entityType: LABEL('the entity\'s type'), entityId: ID('the entity\'s id'), metricName: LABEL('only this metric') },
      ['entityType', 'entityId'],
    ),
    outputSchema: OUTPUT.METRICS,
    annotations: READ,
    run: async (p, a) => ({ metrics: await p.getMetrics(a.entityType, a.entityId, a.metricName ?? null) }),
  },
  {
    name: 'event_log',
    title: 'Log event',
    description: "Appends an event to a swarm's log (read back by events_recent); returns { changes, lastInsertRowid }.",
    inputSchema: object(
      { swarmId: ID('the swarm\'s id'), eventType: LABEL("e.g. 'task_started'"), eventData: { ...JSON_VALUE, description: 'details: any JSON value' } },
      ['swarmId', 'eventType'],
    ),
    outputSchema: OUTPUT.WRITE,
    annotations: APPEND,
    run: (p, a) => p.logEvent(a.swarmId, a.eventType, a.eventData),
  },
  {
    name: 'events_recent',
    title: 'Recent events',
    description: 'The most recent events of a swarm, newest first, as { events: [...] }.',
    inputSchema: object({ swarmId: ID('the swarm\'s id'), limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50, description: 'how many' } }, ['swarmId']),
    outputSchema: OUTPUT.EVENTS,
    annotations: READ,
    run: async (p, a) => ({ events: await p.getSwarmEvents(a.swarmId, a.limit ?? 50) }),
  },
]

// Rows may hold 64-bit integers as BigInt, which JSON cannot carry; they travel as decimal strings.
const toJson = (value) => JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v), 2)

/** The payload as structuredContent, and as its JSON text for clients that read only `content`. */
function success(value) {
  const json = toJson(value)
  return { content: [{ type: 'text', text: json }], structuredContent: JSON.parse(json) }
}

/**
 * An error result: text only. The SDK client checks any structuredContent against outputSchema
 * even when isError is set, so an error object there would fail validation.
 */
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
  return TOOLS.map(({ run, ...tool }) => ({
    ...tool,
    handler: async (args) => {
      try {
        return success(await run(persistence, checkArguments(tool.inputSchema, args)))
      } catch (err) {
        return failure(err)
      }
    },
  }))
}

module.exports = { mcpTools }
