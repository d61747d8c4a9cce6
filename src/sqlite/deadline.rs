//! A per-connection deadline checked from SQLite's progress handler, so a runaway statement is
//! interrupted (`QUERY_TIMEOUT`) and the connection stays usable for the next job.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::error::Result;

/// SQLite virtual-machine steps between two deadline checks: a clock read every ~thousand steps
/// costs well under 1% and still stops a runaway query within microseconds of its deadline.
const STEPS_PER_CHECK: i32 = 1_000;

#[derive(Debug)]
pub struct Deadline {
    epoch: Instant,
    /// Microseconds after `epoch` past which the running statement is interrupted; 0 = none.
    at_micros: AtomicU64,
}

impl Deadline {
    pub fn new() -> Arc<Deadline> {
        Arc::new(Deadline {
            epoch: Instant::now(),
            at_micros: AtomicU64::new(0),
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

    pub fn install(self: &Arc<Self>, conn: &mut Connection) -> Result<()> {
        let deadline = Arc::clone(self);
        conn.progress_handler(STEPS_PER_CHECK, Some(move || deadline.expired()))?;
        Ok(())
    }
}
