//! Validated inputs of the persistence operations. JSON-valued fields hold the text the caller's
//! value serialises to (`JSON.stringify`), exactly as the original stored them.

use crate::error::{Error, Result};
use crate::sqlite::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct NewSwarm {
    pub id: String,
    pub name: String,
    pub topology: String,
    pub max_agents: i64,
    pub strategy: Option<String>,
    pub metadata: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewAgent {
    pub id: String,
    pub swarm_id: Option<String>,
    pub name: String,
    pub kind: String,
    pub capabilities: String,
    pub neural_config: String,
    pub metrics: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    pub id: String,
    pub swarm_id: Option<String>,
    pub description: Option<String>,
    pub priority: String,
    pub status: String,
    pub assigned_agents: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewNetwork {
    pub agent_id: String,
    pub architecture: String,
    pub weights: Option<String>,
    pub training_data: String,
    pub performance_metrics: String,
}

/// How a field's value is stored: as the SQL value itself, or as JSON text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    Plain,
    Json,
}

/// A column a caller may update, with the spellings it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub column: &'static str,
    pub camel: &'static str,
    pub storage: Storage,
}

pub const TASK_FIELDS: &[Field] = &[
    Field {
        column: "description",
        camel: "description",
        storage: Storage::Plain,
    },
    Field {
        column: "priority",
        camel: "priority",
        storage: Storage::Plain,
    },
    Field {
        column: "status",
        camel: "status",
        storage: Storage::Plain,
    },
    Field {
        column: "assigned_agents",
        camel: "assignedAgents",
        storage: Storage::Json,
    },
    Field {
        column: "result",
        camel: "result",
        storage: Storage::Json,
    },
    Field {
        column: "error",
        camel: "error",
        storage: Storage::Plain,
    },
    Field {
        column: "completed_at",
        camel: "completedAt",
        storage: Storage::Plain,
    },
    Field {
        column: "execution_time_ms",
        camel: "executionTimeMs",
        storage: Storage::Plain,
    },
];

pub const NETWORK_FIELDS: &[Field] = &[
    Field {
        column: "architecture",
        camel: "architecture",
        storage: Storage::Json,
    },
    Field {
        column: "weights",
        camel: "weights",
        storage: Storage::Json,
    },
    Field {
        column: "training_data",
        camel: "trainingData",
        storage: Storage::Json,
    },
    Field {
        column: "performance_metrics",
        camel: "performanceMetrics",
        storage: Storage::Json,
    },
];

/// Finds the field a caller's key names; anything else is refused, so no caller-supplied text
/// ever becomes part of the SQL.
pub fn field(fields: &'static [Field], key: &str, what: &str) -> Result<&'static Field> {
    fields
        .iter()
        .find(|f| f.column == key || f.camel == key)
        .ok_or_else(|| {
            let known: Vec<&str> = fields.iter().map(|f| f.camel).collect();
            Error::invalid(format!("{what}: unknown field \"{key}\" (known: {})", known.join(", ")))
        })
}

/// A validated update: column names come only from the field tables above.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub sets: Vec<(&'static str, Value)>,
}

impl Update {
    pub fn new(sets: Vec<(&'static str, Value)>, what: &str) -> Result<Update> {
        if sets.is_empty() {
            return Err(Error::invalid(format!("{what}: no fields to update")));
        }
        for (i, (column, _)) in sets.iter().enumerate() {
            if sets[..i].iter().any(|(c, _)| c == column) {
                return Err(Error::invalid(format!("{what}: field {column} given twice")));
            }
        }
        Ok(Update { sets })
    }

    pub fn set_clause(&self) -> String {
        self.sets
            .iter()
            .map(|(c, _)| format!("{c} = ?"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn accepts_both_spellings_and_refuses_injection() {
        assert_eq!(
            field(TASK_FIELDS, "assignedAgents", "t").map(|f| f.column),
            Ok("assigned_agents")
        );
        assert_eq!(
            field(TASK_FIELDS, "assigned_agents", "t").map(|f| f.column),
            Ok("assigned_agents")
        );
        let err = field(TASK_FIELDS, "status = 'x'; DROP TABLE tasks; --", "updateTask").expect_err("refused");
        assert_eq!(err.code(), "INVALID_ARGUMENT");
        assert!(Update::new(vec![], "t").is_err());
        assert!(Update::new(vec![("status", Value::Null), ("status", Value::Null)], "t").is_err());
    }
}
