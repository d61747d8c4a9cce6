//! Neural networks, metrics, events, and the periodic cleanup.

use std::sync::Arc;

use serde_json::json;

use crate::pool::job::{Completion, Output};
use crate::store::inputs::{NewNetwork, Update};
use crate::store::rows::{self, execute, missing_parent, write_json};
use crate::store::tables::{EVENTS, METRICS, NETWORKS};
use crate::store::{unique_id, Store};

impl Store {
    /// Stores a network under a fresh id; answers `{ id, changes, lastInsertRowid }` (the
    /// original dropped the id, leaving no way to update the row).
    pub fn store_neural_network(&self, n: NewNetwork, done: Completion) {
        let id = unique_id("nn");
        let what = format!("storeNeuralNetwork: agent \"{}\" does not exist", n.agent_id);
        let answer_id = id.clone();
        self.write_one(
            "INSERT INTO neural_networks (id, agent_id, architecture, weights, training_data, performance_metrics)
             VALUES (?, ?, ?, ?, ?, ?)"
                .into(),
            &[
                &id,
                &n.agent_id,
                &n.architecture,
                &n.weights,
                &n.training_data,
                &n.performance_metrics,
            ],
            move |w| {
                let w = w.map_err(|e| missing_parent(e, what.clone()))?;
                Ok(json!({ "id": answer_id, "changes": w.changes, "lastInsertRowid": w.last_insert_rowid }))
            },
            done,
        );
    }

    pub fn update_neural_network(&self, id: String, update: Update, done: Completion) {
        let also = format!(", updated_at = {}", self.storage.dialect().now_s());
        let (sql, mut params) = rows::update("neural_networks", &update, &also);
        params.push(&id);
        self.write_one(sql, &params, |w| w.map(write_json), done);
    }

    pub fn get_agent_neural_networks(&self, agent_id: String, done: Completion) {
        let sql = "SELECT * FROM neural_networks WHERE agent_id = ? ORDER BY rowid";
        self.read_one(sql.into(), &[&agent_id], NETWORKS, false, done);
    }

    pub fn record_metric(
        &self,
        entity_type: String,
        entity_id: String,
        name: String,
        value: Option<f64>,
        done: Completion,
    ) {
        let id = unique_id("metric");
        let answer_id = id.clone();
        self.write_one(
            "INSERT INTO metrics (id, entity_type, entity_id, metric_name, metric_value) VALUES (?, ?, ?, ?, ?)".into(),
            &[&id, &entity_type, &entity_id, &name, &value],
            move |w| {
                let w = w?;
                Ok(json!({ "id": answer_id, "changes": w.changes, "lastInsertRowid": w.last_insert_rowid }))
            },
            done,
        );
    }

    pub fn get_metrics(&self, entity_type: String, entity_id: String, name: Option<String>, done: Completion) {
        match &name {
            None => {
                let sql = "SELECT * FROM metrics WHERE entity_type = ? AND entity_id = ? ORDER BY timestamp DESC, rowid DESC LIMIT 100";
                self.read_one(sql.into(), &[&entity_type, &entity_id], METRICS, false, done)
            }
            Some(n) => {
                let sql = "SELECT * FROM metrics WHERE entity_type = ? AND entity_id = ? AND metric_name = ?
                     ORDER BY timestamp DESC, rowid DESC LIMIT 100";
                self.read_one(sql.into(), &[&entity_type, &entity_id, n], METRICS, false, done)
            }
        }
    }

    pub fn log_event(&self, swarm_id: Option<String>, event_type: String, data: Option<String>, done: Completion) {
        self.write_one(
            "INSERT INTO events (swarm_id, event_type, event_data) VALUES (?, ?, ?)".into(),
            &[&swarm_id, &event_type, &data],
            |w| w.map(write_json),
            done,
        );
    }

    pub fn get_swarm_events(&self, swarm_id: String, limit: i64, done: Completion) {
        let sql = "SELECT * FROM events WHERE swarm_id = ? ORDER BY timestamp DESC, id DESC LIMIT ?";
        self.read_one(sql.into(), &[&swarm_id, &limit], EVENTS, false, done);
    }

    pub fn cleanup(&self, done: Completion) {
        let storage = Arc::clone(&self.storage);
        let done = self.track(done);
        self.storage.write(
            Box::new(|s| {
                let dialect = s.dialect();
                let memory = execute(
                    s,
                    &format!("DELETE FROM agent_memory WHERE NOT {}", dialect.memory_live()),
                    &[],
                )?;
                let events = execute(
                    s,
                    &format!("DELETE FROM events WHERE {}", dialect.older_than("timestamp", 7)),
                    &[],
                )?;
                let metrics = execute(
                    s,
                    &format!("DELETE FROM metrics WHERE {}", dialect.older_than("timestamp", 30)),
                    &[],
                )?;
                Ok(Output::Json(json!({
                    "expiredMemory": memory.changes,
                    "oldEvents": events.changes,
                    "oldMetrics": metrics.changes,
                })))
            }),
            Box::new(move |deleted| match deleted {
                Err(e) => done(Err(e)),
                Ok(counts) => storage.write_alone(
                    Box::new(|s| s.compact().map(|()| Output::Done)),
                    Box::new(move |compacted| done(compacted.map(|_| counts))),
                ),
            }),
        );
    }
}
