//! The swarm domain on the engine: the original's schema and operations, validated, with true
//! operation statistics. Pure Rust; the binding converts JavaScript arguments into `inputs`.

pub mod inputs;
pub mod memory;
pub mod records;
pub mod rows;
pub mod schema;
pub mod seam;
pub mod sqlite;
pub mod swarms;
pub mod tables;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value as Json;

use crate::error::Result;
use crate::pool::job::{Completion, Output, WriteResult};
use crate::sqlite::{JsonColumns, Records};
use seam::{Query, Statement, Storage};

/// Operation counts and the true mean duration (sum / count, not a running halving).
#[derive(Debug, Default)]
pub struct OpStats {
    pub operations: AtomicU64,
    pub errors: AtomicU64,
    pub total_us: AtomicU64,
}

impl OpStats {
    /// Operations and failed operations.
    pub fn counts(&self) -> (u64, u64) {
        (self.operations.load(Relaxed), self.errors.load(Relaxed))
    }

    pub fn average_ms(&self) -> f64 {
        let n = self.operations.load(Relaxed);
        if n == 0 {
            0.0
        } else {
            self.total_us.load(Relaxed) as f64 / n as f64 / 1000.0
        }
    }
}

/// The swarm domain over a storage engine.
pub struct Store {
    pub storage: Arc<dyn Storage>,
    pub ops: Arc<OpStats>,
}

impl Store {
    pub fn new(storage: Arc<dyn Storage>, ops: Arc<OpStats>) -> Store {
        Store { storage, ops }
    }

    /// Creates or migrates the schema; `done` runs once it is committed.
    pub fn migrate(&self, done: Completion) {
        self.storage.migrate(done);
    }

    /// Counts the operation and its duration when it completes.
    pub fn track(&self, done: Completion) -> Completion {
        let ops = Arc::clone(&self.ops);
        let started = Instant::now();
        Box::new(move |result: Result<Output>| {
            ops.operations.fetch_add(1, Relaxed);
            ops.total_us.fetch_add(started.elapsed().as_micros() as u64, Relaxed);
            if result.is_err() {
                ops.errors.fetch_add(1, Relaxed);
            }
            done(result)
        })
    }

    /// A write of one statement: `sql` with `params`, its result made the output by `finish`.
    fn write_one(
        &self,
        sql: String,
        params: &[&dyn rusqlite::ToSql],
        mut finish: impl FnMut(Result<WriteResult>) -> Result<Json> + Send + 'static,
        done: Completion,
    ) {
        let done = self.track(done);
        match rows::values(params) {
            Err(e) => done(Err(e)),
            Ok(params) => self.storage.write_statement(
                Statement {
                    sql,
                    params,
                    finish: Box::new(move |result| finish(result).map(Output::Json)),
                },
                done,
            ),
        }
    }

    /// A read of one query: its rows as records with JSON columns `json`, all of them or (with
    /// `first`) the first or null.
    fn read_one(&self, sql: String, params: &[&dyn rusqlite::ToSql], json: JsonColumns, first: bool, done: Completion) {
        let done = self.track(done);
        match rows::values(params) {
            Err(e) => done(Err(e)),
            Ok(params) => self.storage.read_query(
                Query {
                    sql,
                    params,
                    scan: !first,
                    shape: Box::new(move |result| {
                        let records = Records {
                            rows: result?,
                            json,
                            first: false,
                        };
                        Ok(Output::Records(if first { rows::first(records) } else { records }))
                    }),
                },
                done,
            ),
        }
    }

    /// A consistent copy of the database at `dest`.
    pub fn backup(&self, dest: std::path::PathBuf, done: Completion) {
        self.storage.backup(dest, done);
    }
}

/// A process-unique id: time, a per-process random part, and a counter, so two ids made in the
/// same millisecond never collide (the original's `Date.now()` ids did).
pub fn unique_id(prefix: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::OnceLock;
    static SEED: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.finish()
    });
    let ms = crate::clock::unix_ms();
    format!("{prefix}_{ms}_{:08x}_{}", seed as u32, NEXT.fetch_add(1, Relaxed))
}

#[cfg(test)]
mod tests;
