//! Swarms, agents and tasks.

use serde_json::json;

use crate::pool::job::Completion;
use crate::sqlite::JsonColumns;
use crate::store::inputs::{NewAgent, NewSwarm, NewTask, Update};
use crate::store::rows::{self, missing_parent, write_json};
use crate::store::tables::{AGENTS, SWARMS, TASKS};
use crate::store::Store;

/// createAgent's statement.
pub const INSERT_AGENT: &str =
    "INSERT INTO agents (id, swarm_id, name, type, capabilities, neural_config, metrics) VALUES (?, ?, ?, ?, ?, ?, ?)";
/// getAgent's query.
pub const GET_AGENT: &str = "SELECT * FROM agents WHERE id = ?";
/// updateAgentStatus's statement.
pub const UPDATE_AGENT_STATUS: &str = "UPDATE agents SET status = ? WHERE id = ?";

impl Store {
    /// Inserts a swarm; an existing id is left as it is and answered with
    /// `{ id, changes: 0, lastInsertRowid: null }`, as the original did.
    pub fn create_swarm(&self, s: NewSwarm, done: Completion) {
        let id = s.id.clone();
        self.write_one(
            "INSERT INTO swarms (id, name, topology, max_agents, strategy, metadata) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT(id) DO NOTHING"
                .into(),
            &[&s.id, &s.name, &s.topology, &s.max_agents, &s.strategy, &s.metadata],
            move |w| {
                let w = w?;
                Ok(if w.changes == 0 {
                    json!({ "id": id, "changes": 0, "lastInsertRowid": null })
                } else {
                    write_json(w)
                })
            },
            done,
        );
    }

    pub fn get_active_swarms(&self, done: Completion) {
        let sql = "SELECT * FROM swarms WHERE status = 'active' ORDER BY rowid";
        self.read_one(sql.into(), &[], SWARMS, false, done);
    }

    pub fn create_agent(&self, a: NewAgent, done: Completion) {
        let what = format!(
            "agent {}: swarm \"{}\" does not exist",
            a.id,
            a.swarm_id.as_deref().unwrap_or("")
        );
        self.write_one(
            INSERT_AGENT.into(),
            &[
                &a.id,
                &a.swarm_id,
                &a.name,
                &a.kind,
                &a.capabilities,
                &a.neural_config,
                &a.metrics,
            ],
            move |w| w.map(write_json).map_err(|e| missing_parent(e, what.clone())),
            done,
        );
    }

    pub fn update_agent_status(&self, agent_id: String, status: String, done: Completion) {
        self.write_one(
            UPDATE_AGENT_STATUS.into(),
            &[&status, &agent_id],
            |w| w.map(write_json),
            done,
        );
    }

    pub fn get_agent(&self, id: String, done: Completion) {
        self.read_one(GET_AGENT.into(), &[&id], AGENTS, true, done);
    }

    /// Agents of a swarm in the order they were created; `status` None means all. (The order is
    /// said, not left to the engine: PostgreSQL's heap order changes as rows are updated.)
    pub fn get_swarm_agents(&self, swarm_id: String, status: Option<String>, done: Completion) {
        self.of_swarm("agents", AGENTS, swarm_id, status, done);
    }

    /// The rows of `table` (a constant of this crate) that belong to a swarm, oldest first,
    /// optionally only those with `status`.
    fn of_swarm(
        &self,
        table: &'static str,
        json: JsonColumns,
        swarm_id: String,
        status: Option<String>,
        done: Completion,
    ) {
        match &status {
            None => {
                let sql = format!("SELECT * FROM {table} WHERE swarm_id = ? ORDER BY rowid");
                self.read_one(sql, &[&swarm_id], json, false, done)
            }
            Some(s) => {
                let sql = format!("SELECT * FROM {table} WHERE swarm_id = ? AND status = ? ORDER BY rowid");
                self.read_one(sql, &[&swarm_id, s], json, false, done)
            }
        }
    }

    pub fn create_task(&self, t: NewTask, done: Completion) {
        let what = format!(
            "task {}: swarm \"{}\" does not exist",
            t.id,
            t.swarm_id.as_deref().unwrap_or("")
        );
        self.write_one(
            "INSERT INTO tasks (id, swarm_id, description, priority, status, assigned_agents) VALUES (?, ?, ?, ?, ?, ?)".into(),
            &[&t.id, &t.swarm_id, &t.description, &t.priority, &t.status, &t.assigned_agents],
            move |w| w.map(write_json).map_err(|e| missing_parent(e, what.clone())),
            done,
        );
    }

    /// Updates known task fields only (`Update` holds column names from a fixed table).
    pub fn update_task(&self, task_id: String, update: Update, done: Completion) {
        let (sql, mut params) = rows::update("tasks", &update, "");
        params.push(&task_id);
        self.write_one(sql, &params, |w| w.map(write_json), done);
    }

    pub fn get_task(&self, id: String, done: Completion) {
        self.read_one("SELECT * FROM tasks WHERE id = ?".into(), &[&id], TASKS, true, done);
    }

    pub fn get_swarm_tasks(&self, swarm_id: String, status: Option<String>, done: Completion) {
        self.of_swarm("tasks", TASKS, swarm_id, status, done);
    }
}
