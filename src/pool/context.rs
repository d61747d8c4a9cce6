//! What every pool thread shares: the database, the configuration, the counters, the abort flag,
//! how connections are made, and the way a job is run on a connection (deadline, panic capture,
//! bookkeeping).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::config::PoolConfig;
use crate::error::{Error, Result};
use crate::pool::backup::BackupStats;
use crate::pool::events::Listeners;
use crate::pool::job::{Job, Output, Work};
use crate::pool::lanes::Lane;
use crate::pool::repair::Connector;
use crate::pool::stats::{LaneStats, Stats};
use crate::pool::wal::ReadGate;
use crate::sqlite::deadline::Deadline;
use crate::sqlite::open::DbPath;
use crate::sqlite::statements;

pub struct ThreadContext {
    pub db: DbPath,
    pub config: PoolConfig,
    pub stats: Arc<Stats>,
    /// Set when the pool must stop at once (environment teardown): queued jobs are refused.
    pub abort: AtomicBool,
    /// Disconnected once the pool stops taking work: open iterations end at once instead of
    /// waiting for their consumers.
    pub closing: crossbeam_channel::Receiver<()>,
    pub backups: BackupStats,
    /// Admission of read transactions, which the writer closes for a moment to reset the WAL.
    pub gate: Arc<ReadGate>,
    /// The database is in the process's registry of open files (until `release_files`).
    pub registered: AtomicBool,
    pub listeners: Listeners,
    /// How connections are opened and checked (tests inject faults through it).
    pub connector: Arc<dyn Connector>,
    /// Wakes parked readers as queued reads need them.
    pub doorbell: crate::pool::doorbell::Doorbell,
}

impl ThreadContext {
    pub fn lane(&self, lane: Lane) -> &LaneStats {
        match lane {
            Lane::Read => &self.stats.read,
            Lane::Write => &self.stats.write,
            Lane::Worker => &self.stats.worker,
        }
    }

    pub fn aborted(&self) -> bool {
        self.abort.load(Ordering::Acquire)
    }

    /// Refuses a job that must not start: the pool is aborting, or it waited past
    /// `acquireTimeout`. Returns the job back when it may run.
    pub fn admit(&self, lane: Lane, job: Job) -> std::result::Result<Job, (Job, Error)> {
        let waited = job.queued_at.elapsed();
        if self.aborted() {
            return Err((job, Error::PoolClosed));
        }
        if waited > self.config.acquire_timeout {
            self.stats.timeouts.fetch_add(1, Ordering::Relaxed);
            return Err((
                job,
                Error::PoolTimeout {
                    waited,
                    limit: self.config.acquire_timeout,
                },
            ));
        }
        self.lane(lane).wait.record(waited);
        Ok(job)
    }

    /// Completes a job refused at admission, counting it in `lane`.
    pub fn refuse(&self, lane: Lane, job: Job, err: Error) {
        self.stats.count_error(err.code());
        self.lane(lane).failed.fetch_add(1, Ordering::Relaxed);
        (job.done)(Err(err))
    }

    /// Records a finished job in the lane's counters.
    pub fn account(&self, lane: Lane, queued_at: Instant, exec: Duration, result: &Result<Output>) {
        let stats = self.lane(lane);
        stats.exec.record(exec);
        stats.total.record(queued_at.elapsed());
        match result {
            Ok(_) => stats.completed.fetch_add(1, Ordering::Relaxed),
            Err(e) => {
                self.stats.count_error(e.code());
                stats.failed.fetch_add(1, Ordering::Relaxed)
            }
        };
    }

    /// Runs `work` under the query deadline, turning a panic into `INTERNAL_ERROR` and an
    /// interrupt into `QUERY_TIMEOUT` (or `POOL_CLOSED` when aborting). The flag says whether the
    /// connection must be replaced.
    pub fn run(&self, conn: &Connection, deadline: &Deadline, work: &mut Work) -> (Result<Output>, bool) {
        self.guarded(deadline, || work(conn))
    }

    /// As [`run`](Self::run), for any step of work on a connection (a cursor's chunk).
    pub fn guarded<T>(&self, deadline: &Deadline, step: impl FnOnce() -> Result<T>) -> (Result<T>, bool) {
        deadline.arm(self.config.query_timeout);
        let outcome = catch_unwind(AssertUnwindSafe(step));
        let expired = deadline.expired();
        deadline.disarm();
        let (hits, misses) = statements::take();
        if hits + misses > 0 {
            self.stats.statement_hits.fetch_add(hits, Ordering::Relaxed);
            self.stats.statement_misses.fetch_add(misses, Ordering::Relaxed);
        }
        match outcome {
            Ok(Err(Error::Sqlite {
                code: "SQLITE_INTERRUPT",
                ..
            })) if self.aborted() => (Err(Error::PoolClosed), false),
            Ok(Err(Error::Sqlite {
                code: "SQLITE_INTERRUPT",
                ..
            })) if expired => {
                self.stats.timeouts.fetch_add(1, Ordering::Relaxed);
                let timeout = Error::QueryTimeout {
                    limit: self.config.query_timeout,
                };
                (Err(timeout), false)
            }
            Ok(result) => {
                let broken = matches!(&result, Err(e) if e.is_connection_fault());
                (result, broken)
            }
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                let message = format!("internal error while running the job ({what}); its connection was replaced");
                (Err(Error::Internal(message)), true)
            }
        }
    }
}
