//! Each domain table's columns, defined once: the order `SELECT *` returns them in, and which
//! hold JSON text (and what an empty one reads as). Tests hold the SQLite schema and the
//! TypeScript row types to exactly these lists.

use crate::sqlite::{Column, JsonColumns, Missing};

const fn plain(name: &'static str) -> Column {
    Column { name, json: None }
}

const fn json(name: &'static str, missing: Missing) -> Column {
    Column {
        name,
        json: Some(missing),
    }
}

pub const SWARMS: JsonColumns = &[
    plain("id"),
    plain("name"),
    plain("topology"),
    plain("max_agents"),
    plain("strategy"),
    plain("status"),
    plain("created_at"),
    json("metadata", Missing::Object),
];

pub const AGENTS: JsonColumns = &[
    plain("id"),
    plain("swarm_id"),
    plain("name"),
    plain("type"),
    plain("status"),
    json("capabilities", Missing::Array),
    json("neural_config", Missing::Object),
    json("metrics", Missing::Object),
    plain("created_at"),
];

pub const TASKS: JsonColumns = &[
    plain("id"),
    plain("swarm_id"),
    plain("description"),
    plain("priority"),
    plain("status"),
    json("assigned_agents", Missing::Array),
    json("result", Missing::Null),
    plain("error"),
    plain("created_at"),
    plain("completed_at"),
    plain("execution_time_ms"),
];

pub const MEMORY: JsonColumns = &[
    plain("id"),
    plain("agent_id"),
    plain("key"),
    json("value", Missing::Null),
    plain("ttl_secs"),
    plain("expires_at"),
    plain("created_at"),
    plain("updated_at"),
];

pub const METRICS: JsonColumns = &[
    plain("id"),
    plain("entity_type"),
    plain("entity_id"),
    plain("metric_name"),
    plain("metric_value"),
    plain("timestamp"),
];

pub const NETWORKS: JsonColumns = &[
    plain("id"),
    plain("agent_id"),
    json("architecture", Missing::Null),
    json("weights", Missing::Null),
    json("training_data", Missing::Object),
    json("performance_metrics", Missing::Object),
    plain("created_at"),
    plain("updated_at"),
];

pub const EVENTS: JsonColumns = &[
    plain("id"),
    plain("swarm_id"),
    plain("event_type"),
    json("event_data", Missing::Object),
    plain("timestamp"),
];

/// Written by ruv-swarm's task code; this library only creates it (and copies it).
pub const TASK_RESULTS: JsonColumns = &[
    plain("id"),
    plain("task_id"),
    plain("agent_id"),
    json("output", Missing::Null),
    json("metrics", Missing::Object),
    plain("created_at"),
];

/// Every table the domain reads, with the name of its TypeScript row type.
pub const ALL: &[(&str, &str, JsonColumns)] = &[
    ("swarms", "SwarmRow", SWARMS),
    ("agents", "AgentRow", AGENTS),
    ("tasks", "TaskRow", TASKS),
    ("agent_memory", "MemoryRow", MEMORY),
    ("metrics", "MetricRow", METRICS),
    ("neural_networks", "NeuralNetworkRow", NETWORKS),
    ("events", "EventRow", EVENTS),
];

#[cfg(test)]
mod test {
    use super::ALL;
    use crate::error::Result;

    fn names(columns: super::JsonColumns) -> Vec<&'static str> {
        columns.iter().map(|c| c.name).collect()
    }

    #[test]
    fn the_sqlite_schema_has_exactly_these_columns() -> Result<()> {
        let conn = rusqlite::Connection::open_in_memory()?;
        crate::store::schema::migrate(&conn)?;
        for (table, _, columns) in ALL {
            let mut stmt = conn.prepare(&format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid"))?;
            let actual: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            assert_eq!(actual, names(columns), "table {table}");
        }
        let mut stmt = conn.prepare("SELECT name FROM pragma_table_info('task_results') ORDER BY cid")?;
        let actual: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        assert_eq!(actual, names(super::TASK_RESULTS), "table task_results");
        Ok(())
    }

    #[test]
    fn the_typescript_row_types_have_exactly_these_columns() {
        let types = include_str!("../js/types.d.ts");
        for (table, interface, columns) in ALL {
            let start = types
                .find(&format!("export interface {interface} {{"))
                .unwrap_or_else(|| panic!("no interface {interface} for {table}"));
            let body = &types[start..];
            let body = &body[body.find('{').map_or(0, |i| i + 1)..body.find('}').unwrap_or(body.len())];
            let declared: Vec<&str> = body
                .split([';', '\n'])
                .filter_map(|field| field.split(':').next())
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .collect();
            assert_eq!(declared, names(columns), "interface {interface}");
        }
    }
}
