//! The schema: version 1 is exactly the JavaScript original's eight tables and indexes (so its
//! files open unchanged); later versions are forward migrations, tracked in `user_version`.

use rusqlite::Connection;

use crate::error::{Error, Result};

const V1: &str = concat!(
    "
CREATE TABLE IF NOT EXISTS swarms (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  topology TEXT NOT NULL,
  max_agents INTEGER NOT NULL,
  strategy TEXT,
  status TEXT DEFAULT 'active',
  created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
  metadata TEXT
);
CREATE TABLE IF NOT EXISTS agents (
  id TEXT PRIMARY KEY,
  swarm_id TEXT,
  name TEXT NOT NULL,
  type TEXT NOT NULL,
  status TEXT DEFAULT 'idle',
  capabilities TEXT,
  neural_config TEXT,
  metrics TEXT,
  created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
  FOREIGN KEY (swarm_id) REFERENCES swarms(id)
);
CREATE TABLE IF NOT EXISTS tasks (
  id TEXT PRIMARY KEY,
  swarm_id TEXT,
  description TEXT,
  priority TEXT DEFAULT 'medium',
  status TEXT DEFAULT 'pending',
  assigned_agents TEXT,
  result TEXT,
  error TEXT,
  created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
  completed_at DATETIME,
  execution_time_ms INTEGER,
  FOREIGN KEY (swarm_id) REFERENCES swarms(id)
);
CREATE TABLE IF NOT EXISTS task_results (
  id TEXT PRIMARY KEY,
  task_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  output TEXT,
  metrics TEXT,
  created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
  FOREIGN KEY (task_id) REFERENCES tasks(id),
  FOREIGN KEY (agent_id) REFERENCES agents(id)
);
CREATE TABLE IF NOT EXISTS agent_memory (
  id TEXT PRIMARY KEY,
  agent_id TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT,
  ttl_secs INTEGER,
  expires_at DATETIME,
  created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
  updated_at DATETIME DEFAULT CURRENT_TIMESTAMP,
  FOREIGN KEY (agent_id) REFERENCES agents(id),
  UNIQUE(agent_id, key)
);
CREATE TABLE IF NOT EXISTS metrics (
  id TEXT PRIMARY KEY,
  entity_type TEXT NOT NULL,
  entity_id TEXT NOT NULL,
  metric_name TEXT NOT NULL,
  metric_value REAL,
  timestamp DATETIME DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS neural_networks (
  id TEXT PRIMARY KEY,
  agent_id TEXT NOT NULL,
  architecture TEXT NOT NULL,
  weights TEXT,
  training_data TEXT,
  performance_metrics TEXT,
  created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
  updated_at DATETIME DEFAULT CURRENT_TIMESTAMP,
  FOREIGN KEY (agent_id) REFERENCES agents(id)
);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  swarm_id TEXT,
  event_type TEXT NOT NULL,
  event_data TEXT,
  timestamp DATETIME DEFAULT CURRENT_TIMESTAMP
);
",
    v1_indexes!()
);

/// Version 1's indexes, the same SQL on every engine (PostgreSQL's schema uses them too).
#[macro_export]
#[doc(hidden)]
macro_rules! v1_indexes {
    () => {
        "
CREATE INDEX IF NOT EXISTS idx_agents_swarm ON agents(swarm_id);
CREATE INDEX IF NOT EXISTS idx_tasks_swarm ON tasks(swarm_id);
CREATE INDEX IF NOT EXISTS idx_task_results_task ON task_results(task_id);
CREATE INDEX IF NOT EXISTS idx_task_results_agent ON task_results(agent_id);
CREATE INDEX IF NOT EXISTS idx_agent_memory_agent ON agent_memory(agent_id);
CREATE INDEX IF NOT EXISTS idx_metrics_entity ON metrics(entity_type, entity_id);
CREATE INDEX IF NOT EXISTS idx_events_swarm ON events(swarm_id);
CREATE INDEX IF NOT EXISTS idx_events_timestamp ON events(timestamp);
    "
    };
}
pub use v1_indexes;

/// Version 2: indexes for the queries this library runs (metric lookups by name, newest first;
/// events of a swarm, newest first; neural networks by agent). The same SQL on every engine.
pub const V2: &str = "
CREATE INDEX IF NOT EXISTS idx_metrics_entity_name_time ON metrics(entity_type, entity_id, metric_name, timestamp);
CREATE INDEX IF NOT EXISTS idx_events_swarm_time ON events(swarm_id, timestamp);
CREATE INDEX IF NOT EXISTS idx_neural_networks_agent ON neural_networks(agent_id);
";

const MIGRATIONS: &[&str] = &[V1, V2];

pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// Why a schema version cannot be opened: newer than this library, or not one it ever wrote.
pub fn schema_refusal(version: i64) -> String {
    if version > CURRENT_VERSION {
        format!("the database schema is version {version}, newer than this library's {CURRENT_VERSION}; upgrade swarm-persistence")
    } else {
        format!("the database schema version {version} is not one this library ever wrote (0 to {CURRENT_VERSION})")
    }
}

/// Brings the schema up to `CURRENT_VERSION`, one version at a time. Runs inside the writer's
/// transaction, so a failed migration leaves the file as it was.
pub fn migrate(conn: &Connection) -> Result<i64> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if !(0..=CURRENT_VERSION).contains(&version) {
        return Err(Error::invalid(schema_refusal(version)));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        conn.execute_batch(sql)?;
        conn.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
    }
    Ok(CURRENT_VERSION)
}

/// The original JavaScript schema, for tests that build a file as the original wrote it.
pub fn original_ddl() -> &'static str {
    V1
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn migrates_fresh_and_original_files() -> Result<()> {
        let fresh = Connection::open_in_memory()?;
        assert_eq!(migrate(&fresh)?, CURRENT_VERSION);
        assert_eq!(migrate(&fresh)?, CURRENT_VERSION);
        let old = Connection::open_in_memory()?;
        old.execute_batch(original_ddl())?;
        old.execute(
            "INSERT INTO swarms (id, name, topology, max_agents) VALUES ('s', 'n', 'mesh', 3)",
            [],
        )?;
        migrate(&old)?;
        let v: i64 = old.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        assert_eq!(v, CURRENT_VERSION);
        let n: i64 = old.query_row("SELECT count(*) FROM swarms", [], |r| r.get(0))?;
        assert_eq!(n, 1);
        Ok(())
    }

    #[test]
    fn refuses_a_newer_schema() -> Result<()> {
        let db = Connection::open_in_memory()?;
        db.execute_batch("PRAGMA user_version = 99")?;
        assert_eq!(migrate(&db).map_err(|e| e.code()), Err("INVALID_ARGUMENT"));
        Ok(())
    }
}
