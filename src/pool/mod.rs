//! The engine: one writer thread, `maxReaders` reader threads, `maxWorkers` worker threads and a
//! health thread, fed through bounded queues. Pure Rust; the JavaScript binding only submits jobs
//! and turns completions into settled promises.
//!
//! Blocking rules: `submit` never blocks (a full queue is an error); `close` returns at once and
//! completes from its own thread once every queued job has run; only `shutdown_now` waits, and it
//! refuses queued jobs first.

pub mod backup;
pub mod cancel;
pub mod context;
pub mod cursor;
pub mod doorbell;
pub mod events;
pub mod health;
pub mod job;
pub mod lanes;
pub mod periodic;
pub mod pragma;
mod priority;
pub mod readers;
pub mod registry;
pub mod repair;
pub mod script;
pub mod session;
pub mod shared;
pub mod snapshot;
pub mod sql;
pub mod stats;
pub mod wal;
pub mod workers;
pub mod writer;

use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, unbounded, Sender, TrySendError};

use crate::config::PoolConfig;
use crate::error::{Error, Result};
use crate::sqlite::deadline::Deadline;
use crate::sqlite::guard::Role;
use crate::sqlite::open::DbPath;
use backup::BackupScheduler;
use context::ThreadContext;
use health::{HealthMonitor, HealthState, Probe};
use job::{Completion, Job, Output};
use lanes::Lane;
use readers::ReaderThread;
use repair::{Connector, Slot, SqliteConnector};
use stats::Stats;
use wal::{ReadGate, WalControl};
use workers::Workers;
use writer::WriterThread;

/// The queues of the reader and writer threads (workers queue in their thread pool).
struct Senders {
    read: Sender<Job>,
    write: Sender<Job>,
}

enum Lifecycle {
    Open,
    Closing(Vec<Completion>),
    Closed,
}

pub struct Pool {
    ctx: Arc<ThreadContext>,
    /// The queues' sending ends; taken at close, so the queues are freed once the threads end.
    senders: RwLock<Option<Senders>>,
    workers: Arc<Workers>,
    lifecycle: Mutex<Lifecycle>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    health: Arc<HealthState>,
    /// Dropping these senders stops the health and backup threads.
    health_stop: Mutex<Option<Sender<()>>>,
    health_requests: Mutex<Option<Sender<Completion>>>,
    health_thread: Mutex<Option<JoinHandle<()>>>,
    backup_stop: Mutex<Option<Sender<()>>>,
    backup_thread: Mutex<Option<JoinHandle<()>>>,
    /// Dropped when the pool stops taking work, which ends open iterations (`ctx.closing`).
    closing: Mutex<Option<Sender<()>>>,
    deadlines: Vec<Arc<Deadline>>,
}

impl Pool {
    /// Opens every connection (so a bad path or a corrupt file fails here) and starts the threads.
    pub fn open(path: &str, config: PoolConfig) -> Result<Arc<Pool>> {
        Pool::open_with(path, config, Arc::new(SqliteConnector))
    }

    /// As `open`, with connections made and checked by `connector` (tests inject faults so).
    pub fn open_with(path: &str, config: PoolConfig, connector: Arc<dyn Connector>) -> Result<Arc<Pool>> {
        let db = DbPath::resolve(path)?;
        // Registered before the file is opened, so a backup can never rename a copy over it.
        registry::remember(&db.path)?;
        let opened = db.clone();
        Pool::start(db, config, connector).inspect_err(|_| {
            registry::forget(&opened.path);
            opened.remove_if_ephemeral()
        })
    }

    fn start(mut db: DbPath, config: PoolConfig, connector: Arc<dyn Connector>) -> Result<Arc<Pool>> {
        // The writer creates the file, so its identity can be pinned before anyone else opens it.
        let writer_conn = connector.open(Role::Writer, &db, &config)?;
        db.pin();
        let (gate, wal_woken) = ReadGate::new();
        let (closing_tx, closing) = bounded(0);
        let ctx = Arc::new(ThreadContext {
            db,
            config: config.clone(),
            stats: Arc::new(Stats::default()),
            abort: Default::default(),
            closing,
            backups: Default::default(),
            gate: Arc::clone(&gate),
            // Set once every thread runs; until then a failure is undone by `open`.
            registered: std::sync::atomic::AtomicBool::new(false),
            listeners: Default::default(),
            connector,
            doorbell: doorbell::Doorbell::new(config.max_readers, doorbell::running_cap(config.max_readers)),
        });
        let writer_slot = Slot::adopt(&ctx, Role::Writer, writer_conn)?;
        let readers = (0..config.max_readers)
            .map(|_| Slot::open(&ctx, Role::Reader))
            .collect::<Result<Vec<_>>>()?;
        let workers = Arc::new(Workers::open(&ctx)?);
        // Unbounded, so memory is taken as jobs arrive; `submit` enforces `maxQueue`.
        let (read_tx, read_rx) = unbounded();
        let (write_tx, write_rx) = unbounded();
        let mut threads = Vec::new();
        let mut probes = Vec::new();
        let mut deadlines = vec![Arc::clone(&writer_slot.deadline)];
        deadlines.extend(workers.deadlines());

        let (ping_tx, ping_rx) = bounded(4);
        probes.push(Probe {
            lane: Lane::Write,
            pings: ping_tx,
        });
        let writer = WriterThread {
            jobs: write_rx.clone(),
            pings: ping_rx,
            slot: writer_slot,
            wal: WalControl::new(gate, wal_woken.clone()),
            wal_woken,
        };
        threads.push(writer.spawn(Arc::clone(&ctx))?);

        for (index, slot) in readers.into_iter().enumerate() {
            let (ping_tx, ping_rx) = bounded(4);
            deadlines.push(Arc::clone(&slot.deadline));
            probes.push(Probe {
                lane: Lane::Read,
                pings: ping_tx,
            });
            let reader = ReaderThread {
                index,
                jobs: read_rx.clone(),
                pings: ping_rx,
                slot,
            };
            threads.push(reader.spawn(Arc::clone(&ctx))?);
        }
        threads.push(readers::spawn_watch(read_rx.clone(), Arc::clone(&ctx))?);

        let health = HealthState::new(config.max_readers, config.max_workers);
        let (stop_tx, stop_rx) = bounded(1);
        let (request_tx, request_rx) = unbounded();
        let monitor = HealthMonitor {
            probes,
            ctx: Arc::clone(&ctx),
            workers: Arc::clone(&workers),
            state: Arc::clone(&health),
            interval: config.health_check_interval,
            stop: stop_rx,
            requests: request_rx,
        };
        let health_thread = monitor.spawn()?;
        let (backup_stop, backup_thread) = if config.enable_backup {
            let (tx, rx) = bounded(1);
            let scheduler = BackupScheduler {
                ctx: Arc::clone(&ctx),
                stop: rx,
            };
            (Some(tx), Some(scheduler.spawn()?))
        } else {
            (None, None)
        };
        ctx.registered.store(true, std::sync::atomic::Ordering::Release);
        Ok(Arc::new(Pool {
            ctx,
            senders: RwLock::new(Some(Senders {
                read: read_tx,
                write: write_tx,
            })),
            workers,
            lifecycle: Mutex::new(Lifecycle::Open),
            threads: Mutex::new(threads),
            health,
            health_stop: Mutex::new(Some(stop_tx)),
            health_requests: Mutex::new(Some(request_tx)),
            health_thread: Mutex::new(Some(health_thread)),
            backup_stop: Mutex::new(backup_stop),
            backup_thread: Mutex::new(backup_thread),
            closing: Mutex::new(Some(closing_tx)),
            deadlines,
        }))
    }

    pub fn config(&self) -> &PoolConfig {
        &self.ctx.config
    }

    pub fn path(&self) -> &std::path::Path {
        &self.ctx.db.path
    }

    pub fn stats(&self) -> &Stats {
        &self.ctx.stats
    }

    pub fn backups(&self) -> &backup::BackupStats {
        &self.ctx.backups
    }

    pub fn health(&self) -> &HealthState {
        &self.health
    }

    /// Runs a health check now (besides the periodic ones); `done` runs when it finished.
    pub fn check_health(&self, done: Completion) {
        let refused = match lock(&self.health_requests).as_ref() {
            Some(requests) => requests.send(done).err().map(|e| e.into_inner()),
            None => Some(done),
        };
        if let Some(done) = refused {
            done(Err(Error::PoolClosed));
        }
    }

    /// Delivers this pool's events to `sink` for as long as it lives.
    pub fn listen(&self, sink: &Arc<dyn events::EventSink>) {
        self.ctx.listeners.add(sink);
    }

    /// The database file or its WAL is no longer the one this pool opened.
    pub fn file_moved(&self) -> bool {
        self.ctx.db.moved()
    }

    pub fn is_closed(&self) -> bool {
        !matches!(*lock(&self.lifecycle), Lifecycle::Open)
    }

    pub fn queue_len(&self, lane: Lane) -> usize {
        let senders = self.senders.read().unwrap_or_else(|p| p.into_inner());
        match (senders.as_ref(), lane) {
            (None, _) => 0,
            (Some(s), Lane::Read) => s.read.len(),
            (Some(s), Lane::Write) => s.write.len(),
            (Some(_), Lane::Worker) => self.workers.queued(),
        }
    }

    /// Completes a job refused before it was queued (bad input, closed, full), counting it once
    /// in the lane it was meant for.
    pub fn reject(&self, lane: Lane, err: Error, done: Completion) {
        let stats = self.ctx.lane(lane);
        stats.failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.ctx.stats.count_error(err.code());
        done(Err(err))
    }

    /// Queues a job; never blocks. A job that cannot be queued completes at once with
    /// `POOL_CLOSED` or `POOL_QUEUE_FULL`.
    pub fn submit(&self, lane: Lane, job: Job) {
        let refused = {
            let senders = self.senders.read().unwrap_or_else(|p| p.into_inner());
            let full = || Error::QueueFull {
                queue: lane.name(),
                capacity: self.ctx.config.max_queue,
            };
            let queued = match (senders.as_ref(), lane) {
                (None, _) => Err(job),
                (Some(_), Lane::Worker) if self.workers.queued() >= self.ctx.config.max_queue => {
                    return self.reject(lane, full(), job.done)
                }
                (Some(_), Lane::Worker) => self.workers.submit(&self.ctx, job),
                (Some(s), _) => {
                    let tx = if lane == Lane::Read { &s.read } else { &s.write };
                    if tx.len() >= self.ctx.config.max_queue {
                        return self.reject(lane, full(), job.done);
                    }
                    let sent = tx.try_send(job).map_err(|e| match e {
                        TrySendError::Full(job) | TrySendError::Disconnected(job) => job,
                    });
                    if sent.is_ok() && lane == Lane::Read {
                        self.ctx.doorbell.queued();
                    }
                    sent
                }
            };
            queued.err().map(|job| (Error::PoolClosed, job.done))
        };
        if let Some((err, done)) = refused {
            self.reject(lane, err, done);
        }
    }

    /// Stops taking work, lets every queued and running job finish, checkpoints the WAL and joins
    /// the threads; `done` runs after that, on a closer thread. Safe to call more than once.
    pub fn close(self: &Arc<Self>, done: Completion) {
        {
            let mut state = lock(&self.lifecycle);
            match &mut *state {
                Lifecycle::Closed => return done(Ok(Output::Done)),
                Lifecycle::Closing(waiters) => return waiters.push(done),
                Lifecycle::Open => *state = Lifecycle::Closing(vec![done]),
            }
        }
        self.stop_taking_work();
        let pool = Arc::clone(self);
        if periodic::spawn_named("sp-closer".into(), move || pool.finish_close()).is_err() {
            self.finish_close();
        }
    }

    /// Environment teardown: refuse what is queued, interrupt what runs, join every thread.
    pub fn shutdown_now(&self) {
        self.ctx.abort.store(true, std::sync::atomic::Ordering::Release);
        for deadline in &self.deadlines {
            deadline.expire_now();
        }
        {
            let mut state = lock(&self.lifecycle);
            if let Lifecycle::Open = *state {
                *state = Lifecycle::Closing(Vec::new());
            }
        }
        self.stop_taking_work();
        self.finish_close();
    }

    fn stop_taking_work(&self) {
        self.senders.write().unwrap_or_else(|p| p.into_inner()).take();
        lock(&self.health_stop).take();
        lock(&self.health_requests).take();
        lock(&self.backup_stop).take();
        lock(&self.closing).take();
    }

    fn finish_close(&self) {
        for helper in [&self.health_thread, &self.backup_thread] {
            if let Some(h) = lock(helper).take() {
                let _ = h.join();
            }
        }
        let threads = std::mem::take(&mut *lock(&self.threads));
        for t in threads {
            let _ = t.join();
        }
        self.workers.close();
        self.ctx.release_files();
        let waiters = match std::mem::replace(&mut *lock(&self.lifecycle), Lifecycle::Closed) {
            Lifecycle::Closing(waiters) => waiters,
            _ => Vec::new(),
        };
        for done in waiters {
            done(Ok(Output::Done));
        }
    }
}

impl Drop for Pool {
    /// A pool dropped without `close` stops taking work; its threads finish what is queued and
    /// exit by themselves.
    fn drop(&mut self) {
        self.stop_taking_work();
    }
}

impl ThreadContext {
    /// Once the threads are gone: the files are no longer this process's to protect, and an
    /// ephemeral database is deleted. Runs once, from `close` or from the last drop.
    fn release_files(&self) {
        if self.registered.swap(false, std::sync::atomic::Ordering::AcqRel) {
            registry::forget(&self.db.path);
            self.db.remove_if_ephemeral();
        }
    }
}

impl Drop for ThreadContext {
    fn drop(&mut self) {
        self.release_files();
    }
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it: every value kept under
/// these locks stays consistent between statements.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod batch_tests;
#[cfg(test)]
mod ops_tests;
#[cfg(test)]
mod tests;
