// The same operations for each library, on the same schema, each on its own database file.
'use strict'
const { join } = require('node:path')
const { SwarmPersistencePooled } = require('..')

const req = (m) => require(require.resolve(m, { paths: [__dirname] }))

const SCHEMA = `
CREATE TABLE IF NOT EXISTS swarms (id TEXT PRIMARY KEY, name TEXT NOT NULL, topology TEXT NOT NULL, max_agents INTEGER NOT NULL,
  strategy TEXT, status TEXT DEFAULT 'active', created_at DATETIME DEFAULT CURRENT_TIMESTAMP, metadata TEXT);
CREATE TABLE IF NOT EXISTS agents (id TEXT PRIMARY KEY, swarm_id TEXT, name TEXT NOT NULL, type TEXT NOT NULL, status TEXT DEFAULT 'idle',
  capabilities TEXT, neural_config TEXT, metrics TEXT, created_at DATETIME DEFAULT CURRENT_TIMESTAMP, FOREIGN KEY (swarm_id) REFERENCES swarms(id));
CREATE TABLE IF NOT EXISTS agent_memory (id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT, ttl_secs INTEGER,
  expires_at DATETIME, created_at DATETIME DEFAULT CURRENT_TIMESTAMP, updated_at DATETIME DEFAULT CURRENT_TIMESTAMP,
  FOREIGN KEY (agent_id) REFERENCES agents(id), UNIQUE(agent_id, key));
CREATE TABLE IF NOT EXISTS metrics (id TEXT PRIMARY KEY, entity_type TEXT NOT NULL, entity_id TEXT NOT NULL, metric_name TEXT NOT NULL,
  metric_value REAL, timestamp DATETIME DEFAULT CURRENT_TIMESTAMP);
CREATE INDEX IF NOT EXISTS idx_agents_swarm ON agents(swarm_id);
CREATE INDEX IF NOT EXISTS idx_metrics_entity ON metrics(entity_type, entity_id);`

const INSERT_AGENT = 'INSERT INTO agents (id, swarm_id, name, type, capabilities, neural_config, metrics) VALUES (?, ?, ?, ?, ?, ?, ?)'
const GET_AGENT = 'SELECT * FROM agents WHERE id = ?'
const UPDATE_STATUS = 'UPDATE agents SET status = ? WHERE id = ?'
const UPSERT_MEMORY = `INSERT INTO agent_memory (id, agent_id, key, value, ttl_secs, expires_at, updated_at) VALUES (?, ?, ?, ?, NULL, NULL, CURRENT_TIMESTAMP)
  ON CONFLICT(agent_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`
const INSERT_METRIC = 'INSERT INTO metrics (id, entity_type, entity_id, metric_name, metric_value) VALUES (?, ?, ?, ?, ?)'
const AGGREGATE = `SELECT entity_id, metric_name, count(*) AS n, avg(metric_value) AS mean, max(metric_value) AS peak
  FROM metrics GROUP BY entity_id, metric_name ORDER BY n DESC LIMIT 10`
const COUNT = (table) => `SELECT count(*) AS n FROM ${table}`

const agentRow = (id) => [id, 'bench', `agent ${id}`, 'coder', JSON.stringify(['rust', 'js']), JSON.stringify({ layers: [8, 4] }), JSON.stringify({})]
const parseAgent = (a) => a && { ...a, capabilities: JSON.parse(a.capabilities || '[]'), neural_config: JSON.parse(a.neural_config || '{}'), metrics: JSON.parse(a.metrics || '{}') }

/** swarm-persistence through the SwarmPersistencePooled API (what users call). */
async function swarmPersistence(dir) {
  const p = new SwarmPersistencePooled(join(dir, 'swarm-persistence.db'))
  await p.initialize()
  await p.createSwarm({ id: 'bench', name: 'bench', topology: 'mesh', maxAgents: 1_000_000 })
  return {
    name: 'swarm-persistence',
    createAgent: (id) => p.createAgent({ id, swarmId: 'bench', name: `agent ${id}`, type: 'coder', capabilities: ['rust', 'js'], neuralConfig: { layers: [8, 4] } }),
    getAgent: (id) => p.getAgent(id),
    updateStatus: (id, s) => p.updateAgentStatus(id, s),
    upsertMemory: (agent, key, value) => p.storeMemory(agent, key, value),
    seedMetrics: async (rows) => {
      for (let i = 0; i < rows.length; i += 5_000) {
        await p.pool.transaction(rows.slice(i, i + 5_000).map((r) => ({ sql: INSERT_METRIC, params: r })))
      }
    },
    aggregate: () => p.pool.executeInWorker(AGGREGATE),
    count: async (table) => (await p.pool.get(COUNT(table))).n,
    close: () => p.close(),
  }
}

/** better-sqlite3: synchronous, one connection, each statement autocommitted. */
async function betterSqlite3(dir) {
  const Database = req('better-sqlite3')
  const db = new Database(join(dir, 'better-sqlite3.db'))
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.pragma('foreign_keys = ON')
  db.exec(SCHEMA)
  db.prepare("INSERT INTO swarms (id, name, topology, max_agents) VALUES ('bench', 'bench', 'mesh', 1000000)").run()
  const ins = db.prepare(INSERT_AGENT)
  const get = db.prepare(GET_AGENT)
  const upd = db.prepare(UPDATE_STATUS)
  const ups = db.prepare(UPSERT_MEMORY)
  const met = db.prepare(INSERT_METRIC)
  const agg = db.prepare(AGGREGATE)
  let n = 0
  return {
    name: 'better-sqlite3',
    createAgent: async (id) => ins.run(agentRow(id)),
    getAgent: async (id) => parseAgent(get.get(id)),
    updateStatus: async (id, s) => upd.run(s, id),
    upsertMemory: async (agent, key, value) => ups.run(`mem_${++n}`, agent, key, JSON.stringify(value)),
    seedMetrics: async (rows) => db.transaction(() => rows.forEach((r) => met.run(r)))(),
    aggregate: async () => agg.all(),
    count: async (table) => db.prepare(COUNT(table)).get().n,
    close: async () => db.close(),
  }
}

/** node-sqlite3: asynchronous, one connection, libuv's thread pool. */
async function nodeSqlite3(dir) {
  const sqlite3 = req('sqlite3')
  const db = new sqlite3.Database(join(dir, 'node-sqlite3.db'))
  const run = (sql, params = []) => new Promise((ok, fail) => db.run(sql, params, function done(err) { err ? fail(err) : ok(this) }))
  const get = (sql, params = []) => new Promise((ok, fail) => db.get(sql, params, (err, row) => (err ? fail(err) : ok(row))))
  const all = (sql, params = []) => new Promise((ok, fail) => db.all(sql, params, (err, rows) => (err ? fail(err) : ok(rows))))
  await run('PRAGMA journal_mode = WAL')
  await run('PRAGMA synchronous = NORMAL')
  await run('PRAGMA foreign_keys = ON')
  await new Promise((ok, fail) => db.exec(SCHEMA, (err) => (err ? fail(err) : ok())))
  await run("INSERT INTO swarms (id, name, topology, max_agents) VALUES ('bench', 'bench', 'mesh', 1000000)")
  let n = 0
  return {
    name: 'node-sqlite3',
    createAgent: (id) => run(INSERT_AGENT, agentRow(id)),
    getAgent: async (id) => parseAgent(await get(GET_AGENT, [id])),
    updateStatus: (id, s) => run(UPDATE_STATUS, [s, id]),
    upsertMemory: (agent, key, value) => run(UPSERT_MEMORY, [`mem_${++n}`, agent, key, JSON.stringify(value)]),
    seedMetrics: async (rows) => {
      await run('BEGIN')
      for (const r of rows) await run(INSERT_METRIC, r)
      await run('COMMIT')
    },
    aggregate: () => all(AGGREGATE),
    count: async (table) => (await get(COUNT(table))).n,
    close: () => new Promise((ok) => db.close(ok)),
  }
}

module.exports = { peers: [swarmPersistence, betterSqlite3, nodeSqlite3] }
