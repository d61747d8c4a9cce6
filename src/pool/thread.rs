//! What every pool thread shares: the database, the configuration, the counters, the abort flag,
//! and the way a job is run on a connection (deadline, panic capture, bookkeeping).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use rusqlite::Connection;

use crate::config::PoolConfig;
use crate::error::{Error, Result};
use crate::pool::backup::BackupStats;
use crate::pool::events::{Listeners, PoolEvent};
use crate::pool::job::{Job, Output, Work};
use crate::pool::stats::{LaneStats, Stats};
use crate::pool::wal::ReadGate;
use crate::sqlite::deadline::Deadline;
use crate::sqlite::open::DbPath;

/// Starts a named pool thread; failing to start one is an `INTERNAL_ERROR`, not a panic.
pub fn spawn_named(name: String, run: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(run)
        .map_err(|e| Error::Internal(format!("cannot start the {name} thread: {e}")))
}

/// Calls `tick` every `interval` until `stop` says so (a message or a closed channel) or `tick`
/// returns false.
pub fn every(stop: &Receiver<()>, interval: Duration, mut tick: impl FnMut() -> bool) {
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(interval) {
        if !tick() {
            return;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Read,
    Write,
    Worker,
}

impl Lane {
    pub fn name(self) -> &'static str {
        match self {
            Lane::Read => "read",
            Lane::Write => "write",
            Lane::Worker => "worker",
        }
    }
}

/// A health probe sent on a thread's own control channel; the answer goes to `reply`, never
/// through a job's completion, so it cannot be mistaken for a query's result.
pub struct Ping {
    pub reply: Sender<PingReply>,
}

#[derive(Debug, Clone, Copy)]
pub struct PingReply {
    pub lane: Lane,
    pub index: usize,
    pub ok: bool,
}

pub struct ThreadContext {
    pub db: DbPath,
    pub config: PoolConfig,
    pub stats: Arc<Stats>,
    /// Set when the pool must stop at once (environment teardown): queued jobs are refused.
    pub abort: AtomicBool,
    pub backups: BackupStats,
    /// Admission of read transactions, which the writer closes for a moment to reset the WAL.
    pub gate: Arc<ReadGate>,
    /// The database is in the process's registry of open files (until `release_files`).
    pub registered: AtomicBool,
    pub listeners: Listeners,
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
        deadline.arm(self.config.query_timeout);
        let outcome = catch_unwind(AssertUnwindSafe(|| work(conn)));
        let expired = deadline.expired();
        deadline.disarm();
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

/// After a fault (panic, I/O error, corruption, a failed probe): counts the failure once and opens
/// a fresh connection. While none can be opened `broken` stays set, the old connection stays in
/// place, and every health check retries.
pub fn recover(
    ctx: &ThreadContext,
    conn: &mut Connection,
    deadline: &Arc<Deadline>,
    broken: &mut bool,
    open: &dyn Fn(&ThreadContext) -> Result<Connection>,
) {
    if !*broken {
        ctx.stats.failed_connections.fetch_add(1, Ordering::Relaxed);
    }
    match open(ctx).and_then(|mut fresh| {
        deadline.install(&mut fresh)?;
        Ok(fresh)
    }) {
        Ok(fresh) => {
            *conn = fresh;
            *broken = false;
        }
        Err(_) => *broken = true,
    }
}

/// A worker job broke its connection: the worker's users hear it failed, "exited" (its
/// connection was dropped), and was replaced once a fresh connection is in place.
pub fn report_worker_fault(ctx: &ThreadContext, err: &Error, replaced: bool) {
    ctx.listeners.emit(PoolEvent::WorkerError(err.clone()));
    ctx.listeners.emit(PoolEvent::WorkerExit(1));
    if replaced {
        ctx.listeners.emit(PoolEvent::WorkerReplaced);
    }
}

/// Answers a health probe: a trivial query on the thread's own connection; a broken connection,
/// or one failing the query, is replaced first. False while it cannot be repaired.
pub fn check(
    ctx: &ThreadContext,
    conn: &mut Connection,
    deadline: &Arc<Deadline>,
    broken: &mut bool,
    open: &dyn Fn(&ThreadContext) -> Result<Connection>,
) -> bool {
    if !*broken && probe(conn) {
        return true;
    }
    recover(ctx, conn, deadline, broken, open);
    !*broken && probe(conn)
}

fn probe(conn: &Connection) -> bool {
    conn.prepare_cached("SELECT count(*) FROM sqlite_schema")
        .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)))
        .is_ok()
}
