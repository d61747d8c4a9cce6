// The JSON Schemas of what the MCP tools return (their `outputSchema`), and the builders the input
// schemas share with them. Every schema has one `type` at most: a value that may be null is
// `anyOf: [schema, { type: 'null' }]`, never `type: [..., 'null']`, which form-based clients (the
// MCP Inspector) cannot render. Objects allow extra properties so new columns do not break clients.
'use strict'

const STRING = { type: 'string' }
const INTEGER = { type: 'integer' }
const NUMBER = { type: 'number' }
const BOOLEAN = { type: 'boolean' }

const nullable = (schema) => ({ anyOf: [schema, { type: 'null' }] })

/** Any JSON value, spelled as one branch per JSON type. */
const JSON_VALUE = {
  description: 'any JSON value',
  anyOf: [{ type: 'object' }, { type: 'array' }, { type: 'string' }, { type: 'number' }, { type: 'boolean' }, { type: 'null' }],
}

/** An object whose listed properties are all required except `optional` ones. */
const record = (properties, optional = []) => ({
  type: 'object',
  properties,
  required: Object.keys(properties).filter((name) => !optional.includes(name)),
})

// structuredContent must be an object, so a list travels under one named property.
const listOf = (name, row) => record({ [name]: { type: 'array', items: row } })

// Rows as the persistence layer returns them: snake_case columns, JSON columns parsed. Columns that
// SQL lets be NULL are nullable here too, since other programs may write the same file.
const TEXT = nullable(STRING)
const REAL = nullable(NUMBER)

const SWARM = record({
  id: STRING, name: STRING, topology: STRING, max_agents: NUMBER, strategy: TEXT, status: TEXT,
  created_at: TEXT, metadata: JSON_VALUE,
})
const AGENT = record({
  id: STRING, swarm_id: TEXT, name: STRING, type: STRING, status: TEXT, capabilities: JSON_VALUE,
  neural_config: JSON_VALUE, metrics: JSON_VALUE, created_at: TEXT,
})
const TASK = record({
  id: STRING, swarm_id: TEXT, description: TEXT, priority: TEXT, status: TEXT, assigned_agents: JSON_VALUE,
  result: JSON_VALUE, error: TEXT, created_at: TEXT, completed_at: TEXT, execution_time_ms: REAL,
})
const MEMORY = record({
  id: STRING, agent_id: STRING, key: STRING, value: JSON_VALUE, ttl_secs: REAL, expires_at: TEXT,
  created_at: TEXT, updated_at: TEXT,
})
const METRIC = record({
  id: STRING, entity_type: STRING, entity_id: STRING, metric_name: STRING, metric_value: REAL, timestamp: TEXT,
})
const EVENT = record({ id: INTEGER, swarm_id: TEXT, event_type: STRING, event_data: JSON_VALUE, timestamp: TEXT })

/** `{ changes, lastInsertRowid }` of a write; `id` too when the write created a row. */
const WRITE = record({ changes: INTEGER, lastInsertRowid: nullable(INTEGER) })
const CREATED = record({ id: STRING, changes: INTEGER, lastInsertRowid: nullable(INTEGER) })

const QUEUES = record({ read_queue: INTEGER, write_queue: INTEGER, worker_queue: INTEGER })
const WAL = record(
  {
    wal_bytes: INTEGER, wal_pages: INTEGER, wal_limit: INTEGER, over_limit: BOOLEAN, checkpoints: INTEGER,
    truncate_checkpoints: INTEGER, resets_deferred: INTEGER, writer_pauses: INTEGER,
  },
  ['writer_pauses'],
)
const WRITE_HEALTH = record({ failing: BOOLEAN, consecutive_failures: INTEGER, last_failure: TEXT, replayed: INTEGER })

const POOL_HEALTH = record(
  {
    healthy: BOOLEAN,
    pool_status: record({
      total_connections: INTEGER, active_connections: INTEGER, available_readers: INTEGER,
      available_workers: INTEGER, queue_lengths: QUEUES,
    }),
    last_health_check: TEXT,
    // Absent before the pool is open and after it closed.
    wal: WAL,
    writes: WRITE_HEALTH,
    // PostgreSQL only.
    server: record({
      backend: STRING, url: STRING, connections_open: INTEGER, writer_connected: BOOLEAN,
      failed_connections: INTEGER, outage: TEXT,
    }),
    timestamp: STRING,
  },
  ['wal', 'writes', 'server'],
)

const POOL_STATS = record({
  pool_metrics: record({
    total_reads: INTEGER, total_writes: INTEGER, total_worker_tasks: INTEGER, failed_connections: INTEGER,
    average_read_time: NUMBER, average_write_time: NUMBER, active_connections: INTEGER,
    available_readers: INTEGER, available_workers: INTEGER, queue_lengths: QUEUES,
  }),
  persistence_metrics: record({
    total_operations: INTEGER, total_errors: INTEGER, average_response_time: NUMBER, error_rate: STRING,
  }),
  health_status: record({ healthy: BOOLEAN, last_check: TEXT }),
  timestamp: STRING,
})

const PERSISTENCE_STATS = record({
  persistence_layer: STRING,
  connection_pool: STRING,
  statistics: record({
    total_operations: INTEGER, total_errors: INTEGER, average_response_time_ms: NUMBER,
    error_rate_percent: NUMBER, success_rate_percent: NUMBER,
  }),
  pool_health: record({
    healthy: BOOLEAN, total_connections: INTEGER, active_connections: INTEGER, available_readers: INTEGER,
    available_workers: INTEGER,
  }),
  timestamp: STRING,
})

const OUTPUT = {
  POOL_HEALTH, POOL_STATS, PERSISTENCE_STATS, SWARM, AGENT, TASK, MEMORY, METRIC, EVENT, WRITE, CREATED,
  SWARMS: listOf('swarms', SWARM),
  AGENTS: listOf('agents', AGENT),
  TASKS: listOf('tasks', TASK),
  ENTRIES: listOf('entries', MEMORY),
  METRICS: listOf('metrics', METRIC),
  EVENTS: listOf('events', EVENT),
}

module.exports = { OUTPUT, JSON_VALUE, nullable }
