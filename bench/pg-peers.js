// The same operations on PostgreSQL for swarm-persistence and node-postgres, each on a fresh
// database of its own, with the operations peers.js defines for SQLite. Both use the tables
// swarm-persistence creates (SwarmPersistencePooled initializes every database first), and
// node-postgres sends the statements swarm-persistence sends.
'use strict'
const { SwarmPersistencePooled } = require('..')

const req = (m) => require(require.resolve(m, { paths: [__dirname] }))

// W4's heavy read: the latest 100 metrics of the one entity that has all 200,000 seeded rows.
// A domain read (getMetrics: a list, so on swarm-persistence's worker connections), and
// PostgreSQL reads every row of the entity to find the latest 100.
const ENTITY = ['swarm', 'bench']

// The statements swarm-persistence sends (src/store/*.rs) with `?` numbered as PostgreSQL's `$n`,
// and an INSERT returning what the addon adds to it (src/pg/link.rs: each row's rowid and whether
// the statement inserted it).
const NOW_MS = "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS')"
const RETURNING = ' RETURNING rowid, (xmax = 0)'
const INSERT_AGENT = `INSERT INTO agents (id, swarm_id, name, type, capabilities, neural_config, metrics) VALUES ($1, $2, $3, $4, $5, $6, $7)${RETURNING}`
const GET_AGENT = 'SELECT * FROM agents WHERE id = $1'
const UPDATE_STATUS = 'UPDATE agents SET status = $1 WHERE id = $2'
const UPSERT_MEMORY = `INSERT INTO agent_memory (id, agent_id, key, value, ttl_secs, expires_at, created_at, updated_at)
  VALUES ($1, $2, $3, $4, $5, $6, ${NOW_MS}, ${NOW_MS})
  ON CONFLICT(agent_id, key) DO UPDATE SET value = excluded.value, ttl_secs = excluded.ttl_secs,
    expires_at = excluded.expires_at, updated_at = excluded.updated_at${RETURNING}`
const LATEST_METRICS = 'SELECT * FROM metrics WHERE entity_type = $1 AND entity_id = $2 ORDER BY timestamp DESC, rowid DESC LIMIT 100'
// Seeding only (not measured): many rows per statement.
const SEED_METRICS = `INSERT INTO metrics (id, entity_type, entity_id, metric_name, metric_value)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[])`
const COUNT = (table) => `SELECT count(*)::int AS n FROM ${table}`

const agentRow = (id) => [id, 'bench', `agent ${id}`, 'coder', JSON.stringify(['rust', 'js']), JSON.stringify({ layers: [8, 4] }), JSON.stringify({})]
// A row as swarm-persistence answers it: JSON columns parsed, without PostgreSQL's rowid column.
const parseAgent = (row) => {
  if (!row) return null
  const { rowid, ...a } = row
  return { ...a, capabilities: JSON.parse(a.capabilities || '[]'), neural_config: JSON.parse(a.neural_config || '{}'), metrics: JSON.parse(a.metrics || '{}') }
}
const written = (r) => ({ changes: r.rowCount, lastInsertRowid: r.rows.length ? Number(r.rows[r.rows.length - 1].rowid) : 0 })

/**
 * A connection of the benchmark's own to a library's database, for what is not measured: row
 * counts for the checks, and VACUUM ANALYZE after seeding, so both libraries' heavy reads find the
 * table in the same state (statistics gathered, hint bits set).
 */
async function checker(url) {
  const { Client } = req('pg')
  const client = new Client({ connectionString: url })
  await client.connect()
  return {
    count: async (table) => (await client.query(COUNT(table))).rows[0].n,
    settle: async (table) => { await client.query(`VACUUM ANALYZE ${table}`) },
    close: () => client.end(),
  }
}

/** Creates the schema and the swarm the agents belong to, as swarm-persistence does it. */
async function initialized(url) {
  const p = new SwarmPersistencePooled(url)
  await p.initialize()
  await p.createSwarm({ id: 'bench', name: 'bench', topology: 'mesh', maxAgents: 1_000_000 })
  return p
}

/** swarm-persistence through the SwarmPersistencePooled API on a PostgreSQL URL, default options. */
async function swarmPersistence(url) {
  const p = await initialized(url)
  const check = await checker(url)
  return {
    name: 'swarm-persistence',
    // Its reader and worker connections (all idle now), for the report.
    lanes: { readers: p.getPoolStats().availableReaders, workers: p.getPoolStats().availableWorkers },
    createAgent: (id) => p.createAgent({ id, swarmId: 'bench', name: `agent ${id}`, type: 'coder', capabilities: ['rust', 'js'], neuralConfig: { layers: [8, 4] } }),
    getAgent: (id) => p.getAgent(id),
    updateStatus: (id, s) => p.updateAgentStatus(id, s),
    upsertMemory: (agent, key, value) => p.storeMemory(agent, key, value),
    seedMetrics: async (rows) => {
      // recordMetric for each row, 1,000 in flight; it makes its own ids.
      let next = 0
      const lane = async () => {
        while (next < rows.length) {
          const [, type, entity, name, value] = rows[next++]
          await p.recordMetric(type, entity, name, value)
        }
      }
      await Promise.all(Array.from({ length: 1_000 }, lane))
      await check.settle('metrics')
    },
    aggregate: () => p.getMetrics(...ENTITY),
    count: check.count,
    close: async () => {
      await p.close()
      await check.close()
    },
  }
}

/**
 * node-postgres: a pg.Pool of its default size (10), each call autocommitted, each statement
 * prepared once per connection (a named query), rows shaped as swarm-persistence shapes them.
 */
async function nodePostgres(url) {
  await (await initialized(url)).close()
  const { Pool } = req('pg')
  const pool = new Pool({ connectionString: url })
  // An idle connection that the server ends (a restart, an administrator) is replaced by the pool;
  // unheard, its error would end the process. Said, as it would slow this run down.
  pool.on('error', (e) => console.error(`pg.Pool: an idle connection failed: ${e.message}`))
  // pool.end() resolves before its connections have said goodbye: closing waits for them too, so
  // dropping the database right after ends none of them.
  let open = 0
  pool.on('connect', () => open++)
  pool.on('remove', () => open--)
  const check = await checker(url)
  const query = (name, text, values) => pool.query({ name, text, values })
  let n = 0
  return {
    name: 'pg.Pool',
    createAgent: async (id) => written(await query('insert_agent', INSERT_AGENT, agentRow(id))),
    getAgent: async (id) => parseAgent((await query('get_agent', GET_AGENT, [id])).rows[0]),
    updateStatus: async (id, s) => written(await query('update_status', UPDATE_STATUS, [s, id])),
    upsertMemory: async (agent, key, value) => written(await query('upsert_memory', UPSERT_MEMORY, [`mem_${++n}`, agent, key, JSON.stringify(value), null, null])),
    seedMetrics: async (rows) => {
      for (let i = 0; i < rows.length; i += 10_000) {
        const chunk = rows.slice(i, i + 10_000)
        await pool.query(SEED_METRICS, [0, 1, 2, 3, 4].map((c) => chunk.map((r) => r[c])))
      }
      await check.settle('metrics')
    },
    aggregate: async () => (await query('latest_metrics', LATEST_METRICS, ENTITY)).rows,
    count: check.count,
    close: async () => {
      const gone = new Promise((resolve) => (open === 0 ? resolve() : pool.on('remove', () => open === 0 && resolve())))
      await pool.end()
      await gone
      await check.close()
    },
  }
}

/** W4's seeded rows: 200,000 metrics of one entity, four names. */
const metricRows = () => Array.from({ length: 200_000 }, (_, i) => [`m${i}`, ...ENTITY, ['cpu', 'mem', 'io', 'net'][i % 4], i % 997])

module.exports = { peers: [swarmPersistence, nodePostgres], metricRows }
