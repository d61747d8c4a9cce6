//! The PostgreSQL backend: the swarm domain's storage engine on a server that several hosts
//! share, in the SQLite engine's shape — one writer lane committing queued writes in groups
//! (writer.rs), a reader lane of connections for point reads and a worker lane of connections
//! for lists that may read many rows (readers.rs) — behind the same storage seam, so the domain,
//! payloads and binding are the SQLite backend's.

pub mod copy;
pub mod dialect;
pub mod errors;
pub mod lease;
pub mod link;
pub mod readers;
pub mod schema;
pub mod tls;
pub mod values;
pub mod writer;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{unbounded, Sender};

use crate::config::PoolConfig;
use crate::error::{Error, Result};
use crate::pool::job::{Completion, Output};
use crate::pool::lanes::Lane;
use crate::pool::snapshot::{
    BackupSnapshot, LaneSnapshot, PoolSnapshot, ServerState, WalSnapshot, WriteHealth, WRITE_FAILURES_UNHEALTHY,
};
use crate::pool::stats::Stats;
use crate::store::seam::{Dialect, Query, Statement, Storage, Work};
use link::Settings;

pub enum Kind {
    /// Domain work, in the writer's group transaction or on a reader.
    Batched(Work),
    /// One statement known in advance: pipelined with the others of its group.
    Statement(Statement),
    /// One query known in advance: pipelined with the others a reader takes.
    Query(Query),
    /// Work outside any transaction.
    Alone(Work),
    /// Creates or migrates the schema.
    Migrate,
}

pub struct PgJob {
    pub kind: Kind,
    pub done: Completion,
    pub queued: Instant,
}

/// What the lanes share: settings, counters, connection state.
pub struct Shared {
    pub settings: Settings,
    /// The server's URL without its password.
    pub url: String,
    pub config: PoolConfig,
    pub stats: Stats,
    /// The writer's last attempt to connect failed.
    pub writer_down: AtomicBool,
    /// Readers whose last attempt to connect failed. A reader that has not connected yet takes
    /// work (it connects for its first job), so it counts as answering, as an idle SQLite
    /// reader does.
    pub readers_down: AtomicUsize,
    /// Workers whose last attempt to connect failed, counted as readers are.
    pub workers_down: AtomicUsize,
    write_queued: AtomicUsize,
    read_queued: AtomicUsize,
    work_queued: AtomicUsize,
    /// The last connection failure, until a connection opens again.
    outage: Mutex<Option<String>>,
}

impl Shared {
    pub fn dequeued(&self, n: usize) {
        self.write_queued.fetch_sub(n, Relaxed);
    }

    fn queued(&self, lane: Lane) -> &AtomicUsize {
        match lane {
            Lane::Read => &self.read_queued,
            Lane::Write => &self.write_queued,
            Lane::Worker => &self.work_queued,
        }
    }

    pub fn dequeued_from(&self, lane: Lane, n: usize) {
        self.queued(lane).fetch_sub(n, Relaxed);
    }

    /// Connections of a read lane whose last attempt to connect failed.
    pub fn down(&self, lane: Lane) -> &AtomicUsize {
        match lane {
            Lane::Worker => &self.workers_down,
            _ => &self.readers_down,
        }
    }

    pub fn lane(&self, lane: Lane) -> &crate::pool::stats::LaneStats {
        match lane {
            Lane::Read => &self.stats.read,
            Lane::Write => &self.stats.write,
            Lane::Worker => &self.stats.worker,
        }
    }

    /// `POOL_TIMEOUT` for a job that waited longer than `acquireTimeout`.
    pub fn too_late(&self, job: &PgJob) -> Option<Error> {
        let waited = job.queued.elapsed();
        (waited > self.config.acquire_timeout).then_some(Error::PoolTimeout {
            waited,
            limit: self.config.acquire_timeout,
        })
    }

    /// A connection opened: the outage, if any, is over.
    pub fn recovered(&self) {
        if let Ok(mut o) = self.outage.lock() {
            o.take();
        }
    }

    pub fn note_outage(&self, err: &Error) {
        if let Ok(mut o) = self.outage.lock() {
            *o = Some(format!("{}: {err}", err.code()));
        }
    }

    fn count(&self, lane: &crate::pool::stats::LaneStats, job: &PgJob, result: &Result<Output>) {
        match result {
            Ok(_) => lane.completed.fetch_add(1, Relaxed),
            Err(e) => {
                self.stats.count_error(e.code());
                if matches!(e, Error::PoolTimeout { .. } | Error::QueryTimeout { .. }) {
                    self.stats.timeouts.fetch_add(1, Relaxed);
                }
                lane.failed.fetch_add(1, Relaxed)
            }
        };
        lane.total.record(job.queued.elapsed());
    }

    pub fn settle_write(&self, job: PgJob, result: Result<Output>) {
        self.count(&self.stats.write, &job, &result);
        (job.done)(result)
    }

    /// Settles a job of read lane `lane` (readers or workers).
    pub fn settle_read(&self, lane: Lane, job: PgJob, result: Result<Output>, started: Option<Instant>) {
        let stats = self.lane(lane);
        if let Some(started) = started {
            stats.wait.record(started.duration_since(job.queued));
            stats.exec.record(started.elapsed());
        }
        self.count(stats, &job, &result);
        (job.done)(result)
    }
}

/// Senders, cleared by close so the lanes finish what is queued and end.
struct Lanes {
    write: Sender<PgJob>,
    read: Sender<PgJob>,
    work: Sender<PgJob>,
}

impl Lanes {
    fn sender(&self, lane: Lane) -> &Sender<PgJob> {
        match lane {
            Lane::Read => &self.read,
            Lane::Write => &self.write,
            Lane::Worker => &self.work,
        }
    }
}

pub struct PgPool {
    shared: Arc<Shared>,
    lanes: Mutex<Option<Lanes>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    closed: AtomicBool,
}

impl PgPool {
    /// Starts the lanes; connections open on first use, off the caller's thread, so a server
    /// that cannot be reached fails `initialize()` (with `CONNECTION_LOST`), never blocks.
    pub fn open(url: &str, config: PoolConfig) -> Result<Arc<PgPool>> {
        let settings = Settings::new(url, &config)?;
        let shared = Arc::new(Shared {
            settings,
            url: link::redacted(url.trim()),
            config: config.clone(),
            stats: Stats::default(),
            writer_down: AtomicBool::new(false),
            readers_down: AtomicUsize::new(0),
            workers_down: AtomicUsize::new(0),
            write_queued: AtomicUsize::new(0),
            read_queued: AtomicUsize::new(0),
            work_queued: AtomicUsize::new(0),
            outage: Mutex::new(None),
        });
        let (write, write_queue) = unbounded();
        let (read, read_queue) = unbounded();
        let (work, work_queue) = unbounded();
        let mut threads = Vec::new();
        let spawn = |name: String, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name)
                .spawn(f)
                .map_err(|e| Error::Internal(format!("cannot start a PostgreSQL lane thread: {e}")))
        };
        let s = Arc::clone(&shared);
        threads.push(spawn(
            "sp-pg-writer".into(),
            Box::new(move || writer::run(&s, write_queue)),
        )?);
        for i in 0..config.pg_pool_size {
            let (s, q) = (Arc::clone(&shared), read_queue.clone());
            threads.push(spawn(
                format!("sp-pg-reader-{i}"),
                Box::new(move || readers::run(&s, q, Lane::Read, i)),
            )?);
        }
        for i in 0..config.max_workers {
            let (s, q) = (Arc::clone(&shared), work_queue.clone());
            threads.push(spawn(
                format!("sp-pg-worker-{i}"),
                Box::new(move || readers::run(&s, q, Lane::Worker, i)),
            )?);
        }
        Ok(Arc::new(PgPool {
            shared,
            lanes: Mutex::new(Some(Lanes { write, read, work })),
            threads: Mutex::new(threads),
            closed: AtomicBool::new(false),
        }))
    }

    /// Queues `work` on the writer whatever `maxQueue` says: a close waiting for the writes
    /// queued before it must not be refused for a full queue.
    pub fn barrier(&self, work: Work, done: Completion) {
        self.queue(Lane::Write, Kind::Batched(work), done, false);
    }

    pub fn submit(&self, lane: Lane, kind: Kind, done: Completion) {
        self.queue(lane, kind, done, true);
    }

    fn queue(&self, lane: Lane, kind: Kind, done: Completion, bounded: bool) {
        let job = PgJob {
            kind,
            done,
            queued: Instant::now(),
        };
        let sender = {
            let lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
            lanes.as_ref().map(|l| l.sender(lane).clone())
        };
        let Some(sender) = sender else {
            return (job.done)(Err(Error::PoolClosed));
        };
        let queued = self.shared.queued(lane);
        let capacity = self.shared.config.max_queue;
        if queued.fetch_add(1, Relaxed) >= capacity && bounded {
            queued.fetch_sub(1, Relaxed);
            let e = Error::QueueFull {
                queue: lane.name(),
                capacity,
            };
            self.shared.count(self.shared.lane(lane), &job, &Err(e.clone()));
            return (job.done)(Err(e));
        }
        if let Err(failed) = sender.send(job) {
            queued.fetch_sub(1, Relaxed);
            (failed.0.done)(Err(Error::PoolClosed));
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Relaxed)
    }

    /// Environment teardown: stops taking work at once; the lanes end as their queues drain.
    pub fn release_now(&self) {
        self.closed.store(true, Relaxed);
        self.lanes.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// Stops taking work; the lanes finish what is queued, then `done` runs (off this thread).
    pub fn close(self: &Arc<Self>, done: Completion) {
        self.release_now();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        // The joiner owns `done`; if it cannot start, the lanes still end by themselves once
        // their queues drain, and the dropped completion settles the close (POOL_CLOSED).
        let _ = std::thread::Builder::new().name("sp-pg-close".into()).spawn(move || {
            for t in threads {
                let _ = t.join();
            }
            done(Ok(Output::Done))
        });
    }

    pub fn snapshot(&self) -> PoolSnapshot {
        let s = &self.shared;
        let closed = self.is_closed();
        let writes_failing = s.stats.write_failure_streak.load(Relaxed) >= WRITE_FAILURES_UNHEALTHY;
        let outage = s.outage.lock().map(|o| o.clone()).unwrap_or(None);
        PoolSnapshot {
            closed,
            healthy: !closed && outage.is_none() && !writes_failing,
            max_readers: s.config.pg_pool_size,
            max_workers: s.config.max_workers,
            writer_answering: !closed && !s.writer_down.load(Relaxed),
            readers_answering: if closed {
                0
            } else {
                s.config.pg_pool_size.saturating_sub(s.readers_down.load(Relaxed))
            },
            workers_answering: if closed {
                0
            } else {
                s.config.max_workers.saturating_sub(s.workers_down.load(Relaxed))
            },
            last_health_check_ms: crate::clock::unix_ms(),
            read: LaneSnapshot::of(&s.stats.read, s.read_queued.load(Relaxed)),
            write: LaneSnapshot::of(&s.stats.write, s.write_queued.load(Relaxed)),
            worker: LaneSnapshot::of(&s.stats.worker, s.work_queued.load(Relaxed)),
            commits: s.stats.commits.load(Relaxed),
            batch_sizes: s.stats.batch_sizes.snapshot(),
            largest_batch: s.stats.largest_batch.load(Relaxed),
            failed_connections: s.stats.failed_connections.load(Relaxed),
            timeouts: s.stats.timeouts.load(Relaxed),
            errors: s.stats.errors_by_code(),
            wal: WalSnapshot {
                bytes: 0,
                pages: 0,
                limit: 0,
                checkpoints: 0,
                truncate_checkpoints: 0,
                resets_deferred: 0,
                throttled: 0,
            },
            writes: WriteHealth {
                failing: writes_failing || outage.is_some(),
                consecutive_failures: s.stats.write_failure_streak.load(Relaxed),
                last_failure: outage.clone().or_else(|| s.stats.last_write_failure()),
                replayed: s.stats.replayed.load(Relaxed),
            },
            backups: BackupSnapshot {
                scheduled: false,
                completed: 0,
                failed: 0,
                last: None,
                last_error: None,
            },
            statements: None,
            server: Some(ServerState {
                server: s.url.clone(),
                connections_open: s.settings.open.load(Relaxed),
                writer_connected: !s.writer_down.load(Relaxed),
                outage,
            }),
        }
    }
}

impl Storage for PgPool {
    fn write(&self, work: Work, done: Completion) {
        self.submit(Lane::Write, Kind::Batched(work), done);
    }

    fn write_statement(&self, statement: Statement, done: Completion) {
        self.submit(Lane::Write, Kind::Statement(statement), done);
    }

    fn dialect(&self) -> &'static dyn Dialect {
        &dialect::POSTGRES
    }

    fn write_alone(&self, work: Work, done: Completion) {
        self.submit(Lane::Write, Kind::Alone(work), done);
    }

    fn read(&self, work: Work, done: Completion) {
        self.submit(Lane::Read, Kind::Batched(work), done);
    }

    /// A list that may read many rows goes to a worker connection, so point reads never wait
    /// behind it.
    fn read_query(&self, query: Query, done: Completion) {
        let lane = if query.scan { Lane::Worker } else { Lane::Read };
        self.submit(lane, Kind::Query(query), done);
    }

    fn migrate(&self, done: Completion) {
        self.submit(Lane::Write, Kind::Migrate, done);
    }

    fn backup(&self, _dest: std::path::PathBuf, done: Completion) {
        done(Err(Error::NotSupported(
            "backup() copies SQLite files; on PostgreSQL use pg_dump (e.g. pg_dump -Fc \"$POOL_DB_URL\" > swarm.dump)"
                .into(),
        )))
    }
}

#[cfg(test)]
mod tests;
