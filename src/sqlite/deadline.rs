//! A per-connection deadline checked from SQLite's progress handler, so a runaway statement is
//! interrupted (`QUERY_TIMEOUT`) and the connection stays usable for the next job. The same
//! handler gives the thread a moment to look around while a long statement runs (`watch`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::error::Result;

/// SQLite virtual-machine steps between two deadline checks: a clock read every ~thousand steps
/// costs well under 1% and still stops a runaway query within microseconds of its deadline.
const STEPS_PER_CHECK: i32 = 1_000;

pub struct Deadline {
    epoch: Instant,
    /// Microseconds after `epoch` past which the running statement is interrupted; 0 = none.
    at_micros: AtomicU64,
    /// Called at each check as well (a reader hands queued work off from a long job).
    watcher: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

impl std::fmt::Debug for Deadline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deadline")
            .field("at_micros", &self.at_micros)
            .field("watched", &self.watcher.get().is_some())
            .finish()
    }
}

impl Deadline {
    pub fn new() -> Arc<Deadline> {
        Arc::new(Deadline {
            epoch: Instant::now(),
            at_micros: AtomicU64::new(0),
            watcher: OnceLock::new(),
        })
    }

    pub fn arm(&self, limit: Duration) {
        let at = self.epoch.elapsed() + limit;
        self.at_micros.store((at.as_micros() as u64).max(1), Ordering::Relaxed);
    }

    pub fn disarm(&self) {
        self.at_micros.store(0, Ordering::Relaxed);
    }

    /// Makes the running statement stop at its next check.
    pub fn expire_now(&self) {
        self.at_micros.store(1, Ordering::Relaxed);
    }

    pub fn expired(&self) -> bool {
        let at = self.at_micros.load(Ordering::Relaxed);
        at != 0 && self.epoch.elapsed().as_micros() as u64 >= at
    }

    /// Has `watcher` called at every check from now on, on this connection and any that
    /// replaces it; only the first watcher set is kept.
    pub fn watch(&self, watcher: impl Fn() + Send + Sync + 'static) {
        let _ = self.watcher.set(Box::new(watcher));
    }

    pub fn install(self: &Arc<Self>, conn: &mut Connection) -> Result<()> {
        let deadline = Arc::clone(self);
        let check = move || {
            if let Some(watcher) = deadline.watcher.get() {
                watcher();
            }
            deadline.expired()
        };
        conn.progress_handler(STEPS_PER_CHECK, Some(check))?;
        Ok(())
    }
}
