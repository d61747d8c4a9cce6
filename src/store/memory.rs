//! Agent memory: an upsert on (agent_id, key), expiry filtered in queries (reads never write),
//! and an explicit cleanup.

use crate::clock::{iso8601, unix_ms};
use crate::pool::job::Completion;
use crate::store::rows::{missing_parent, write_json};
use crate::store::seam::Dialect;
use crate::store::tables::MEMORY;
use crate::store::{unique_id, Store};

/// Longest TTL accepted: 100 years. Far larger ones would put the expiry past year 9999, where
/// the stored timestamp no longer compares as a date and the entry would vanish at once.
pub const MAX_TTL_SECS: f64 = 100.0 * 365.25 * 86_400.0;

/// storeMemory's statement in `dialect`: id, agent, key, value, TTL, expiry.
pub fn upsert_memory(dialect: &dyn Dialect) -> String {
    let now = dialect.now_ms();
    format!(
        "INSERT INTO agent_memory (id, agent_id, key, value, ttl_secs, expires_at, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, {now}, {now})
         ON CONFLICT(agent_id, key) DO UPDATE SET value = excluded.value, ttl_secs = excluded.ttl_secs,
           expires_at = excluded.expires_at, updated_at = excluded.updated_at"
    )
}

impl Store {
    /// Stores `value` (JSON text) under (agent, key): a new row, or the existing one updated in
    /// place, keeping its id and `created_at`. `ttl_secs` None or 0 means no expiry.
    pub fn store_memory(
        &self,
        agent_id: String,
        key: String,
        value: Option<String>,
        ttl_secs: Option<f64>,
        done: Completion,
    ) {
        let ttl = ttl_secs.filter(|t| *t > 0.0);
        let expires_at = ttl.map(|t| iso8601(unix_ms() + (t * 1000.0) as u64));
        let ttl_stored = ttl.map(|t| t.round() as i64);
        let id = unique_id("mem");
        let sql = upsert_memory(self.storage.dialect());
        let what = format!("storeMemory: agent \"{agent_id}\" does not exist");
        self.write_one(
            sql,
            &[&id, &agent_id, &key, &value, &ttl_stored, &expires_at],
            move |w| w.map(write_json).map_err(|e| missing_parent(e, what.clone())),
            done,
        );
    }

    pub fn get_memory(&self, agent_id: String, key: String, done: Completion) {
        let sql = format!(
            "SELECT * FROM agent_memory WHERE agent_id = ? AND key = ? AND {}",
            self.storage.dialect().memory_live()
        );
        self.read_one(sql, &[&agent_id, &key], MEMORY, true, done);
    }

    pub fn get_all_memory(&self, agent_id: String, done: Completion) {
        let sql = format!(
            "SELECT * FROM agent_memory WHERE agent_id = ? AND {} ORDER BY updated_at DESC, rowid DESC",
            self.storage.dialect().memory_live()
        );
        self.read_one(sql, &[&agent_id], MEMORY, false, done);
    }

    pub fn delete_memory(&self, agent_id: String, key: String, done: Completion) {
        self.write_one(
            "DELETE FROM agent_memory WHERE agent_id = ? AND key = ?".into(),
            &[&agent_id, &key],
            |w| w.map(write_json),
            done,
        );
    }

    pub fn cleanup_expired_memory(&self, done: Completion) {
        let sql = format!(
            "DELETE FROM agent_memory WHERE NOT {}",
            self.storage.dialect().memory_live()
        );
        self.write_one(sql, &[], |w| w.map(write_json), done);
    }
}
