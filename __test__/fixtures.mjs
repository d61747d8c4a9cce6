// A database file laid out exactly as ruv-swarm's JavaScript SwarmPersistencePooled created it
// (its eight tables and indexes, user_version 0), with rows written the way it wrote them.
export const originalSchema = `
CREATE TABLE swarms (id TEXT PRIMARY KEY, name TEXT NOT NULL, topology TEXT NOT NULL, max_agents INTEGER NOT NULL,
  strategy TEXT, status TEXT DEFAULT 'active', created_at DATETIME DEFAULT CURRENT_TIMESTAMP, metadata TEXT);
CREATE TABLE agents (id TEXT PRIMARY KEY, swarm_id TEXT, name TEXT NOT NULL, type TEXT NOT NULL, status TEXT DEFAULT 'idle',
  capabilities TEXT, neural_config TEXT, metrics TEXT, created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
  FOREIGN KEY (swarm_id) REFERENCES swarms(id));
CREATE TABLE tasks (id TEXT PRIMARY KEY, swarm_id TEXT, description TEXT, priority TEXT DEFAULT 'medium',
  status TEXT DEFAULT 'pending', assigned_agents TEXT, result TEXT, error TEXT, created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
  completed_at DATETIME, execution_time_ms INTEGER, FOREIGN KEY (swarm_id) REFERENCES swarms(id));
CREATE TABLE task_results (id TEXT PRIMARY KEY, task_id TEXT NOT NULL, agent_id TEXT NOT NULL, output TEXT, metrics TEXT,
  created_at DATETIME DEFAULT CURRENT_TIMESTAMP, FOREIGN KEY (task_id) REFERENCES tasks(id), FOREIGN KEY (agent_id) REFERENCES agents(id));
CREATE TABLE agent_memory (id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT, ttl_secs INTEGER,
  expires_at DATETIME, created_at DATETIME DEFAULT CURRENT_TIMESTAMP, updated_at DATETIME DEFAULT CURRENT_TIMESTAMP,
  FOREIGN KEY (agent_id) REFERENCES agents(id), UNIQUE(agent_id, key));
CREATE TABLE metrics (id TEXT PRIMARY KEY, entity_type TEXT NOT NULL, entity_id TEXT NOT NULL, metric_name TEXT NOT NULL,
  metric_value REAL, timestamp DATETIME DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE neural_networks (id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, architecture TEXT NOT NULL, weights TEXT,
  training_data TEXT, performance_metrics TEXT, created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
  updated_at DATETIME DEFAULT CURRENT_TIMESTAMP, FOREIGN KEY (agent_id) REFERENCES agents(id));
CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, swarm_id TEXT, event_type TEXT NOT NULL, event_data TEXT,
  timestamp DATETIME DEFAULT CURRENT_TIMESTAMP);
CREATE INDEX idx_agents_swarm ON agents(swarm_id);
CREATE INDEX idx_tasks_swarm ON tasks(swarm_id);
CREATE INDEX idx_task_results_task ON task_results(task_id);
CREATE INDEX idx_task_results_agent ON task_results(agent_id);
CREATE INDEX idx_agent_memory_agent ON agent_memory(agent_id);
CREATE INDEX idx_metrics_entity ON metrics(entity_type, entity_id);
CREATE INDEX idx_events_swarm ON events(swarm_id);
CREATE INDEX idx_events_timestamp ON events(timestamp);
`

const future = new Date(Date.now() + 3_600_000).toISOString()
const past = new Date(Date.now() - 3_600_000).toISOString()

/** Statements the original would have run for one swarm with an agent, a task, memory and more. */
export const originalRows = [
  ["INSERT INTO swarms (id, name, topology, max_agents, strategy, metadata) VALUES (?, ?, ?, ?, ?, ?)",
    ['old-swarm', 'Legacy', 'mesh', 8, 'balanced', JSON.stringify({ region: 'eu' })]],
  ["INSERT INTO agents (id, swarm_id, name, type, capabilities, neural_config, metrics) VALUES (?, ?, ?, ?, ?, ?, ?)",
    ['old-agent', 'old-swarm', 'Veteran', 'researcher', JSON.stringify(['search']), JSON.stringify({ layers: 2 }), JSON.stringify({})]],
  ["INSERT INTO tasks (id, swarm_id, description, priority, status, assigned_agents) VALUES (?, ?, ?, ?, ?, ?)",
    ['old-task', 'old-swarm', 'migrate', 'high', 'pending', JSON.stringify(['old-agent'])]],
  ["INSERT INTO agent_memory (id, agent_id, key, value, ttl_secs, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
    ['mem_old-agent_1', 'old-agent', 'live', JSON.stringify({ v: 1 }), 3600, future]],
  ["INSERT INTO agent_memory (id, agent_id, key, value, ttl_secs, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
    ['mem_old-agent_2', 'old-agent', 'stale', JSON.stringify('gone'), 1, past]],
  ["INSERT INTO events (swarm_id, event_type, event_data) VALUES (?, ?, ?)",
    ['old-swarm', 'spawned', JSON.stringify({ by: 'js' })]],
]
