//! The worker lane on `threadpool`: heavy read-only queries (`executeInWorker`) and backups run
//! on `maxWorkers` named threads at the lowest CPU priority, so they never delay point reads.
//! Each job checks out one of `maxWorkers` read-only connections (one is free but for a moment
//! the health thread may hold one to probe it, since at most that many jobs run at once) with
//! its own deadline, so a runaway query is
//! interrupted and the connection stays usable; a job that breaks its connection (panic, I/O
//! error) fails alone and the connection is replaced. The health thread probes idle connections
//! itself and counts one busy for longer than a check interval as a stuck worker.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use threadpool::ThreadPool;

use crate::clock::unix_ms;
use crate::error::Result;
use crate::pool::context::ThreadContext;
use crate::pool::job::Job;
use crate::pool::lanes::Lane;
use crate::pool::periodic::spawn_named;
use crate::pool::repair::{report_worker_fault, Slot};
use crate::sqlite::guard::Role;

/// One worker connection, and since when a job holds it (0: idle).
struct Connection {
    slot: Mutex<Slot>,
    busy_since_ms: AtomicU64,
}

struct Shared {
    connections: Vec<Connection>,
    /// Indexes of the connections no job holds.
    free: Mutex<Vec<usize>>,
    /// Signalled when a connection goes back to `free`.
    returned: Condvar,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct Workers {
    /// None once closed: no more jobs are taken.
    threads: Mutex<Option<ThreadPool>>,
    shared: Arc<Shared>,
}

/// A connection checked out for one job; back in the free list when dropped.
struct Checkout<'a> {
    shared: &'a Shared,
    index: usize,
}

impl Drop for Checkout<'_> {
    fn drop(&mut self) {
        self.shared.connections[self.index]
            .busy_since_ms
            .store(0, Ordering::Relaxed);
        locked(&self.shared.free).push(self.index);
        self.shared.returned.notify_one();
    }
}

impl Shared {
    /// A free connection; a job may wait a moment while the health thread probes one.
    fn checkout(&self) -> Checkout<'_> {
        let mut free = locked(&self.free);
        loop {
            if let Some(index) = free.pop() {
                return Checkout { shared: self, index };
            }
            free = self.returned.wait(free).unwrap_or_else(|p| p.into_inner());
        }
    }
}

impl Workers {
    /// Opens every worker connection (so a bad file fails here) and starts the threads.
    pub fn open(ctx: &ThreadContext) -> Result<Workers> {
        let count = ctx.config.max_workers;
        let connections = (0..count)
            .map(|_| {
                Ok(Connection {
                    slot: Mutex::new(Slot::open(ctx, Role::Reader)?),
                    busy_since_ms: AtomicU64::new(0),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let threads = threadpool::Builder::new()
            .num_threads(count)
            .thread_name("sp-worker".into())
            .build();
        Ok(Workers {
            threads: Mutex::new(Some(threads)),
            shared: Arc::new(Shared {
                connections,
                free: Mutex::new((0..count).rev().collect()),
                returned: Condvar::new(),
            }),
        })
    }

    /// The deadlines of every worker connection (to interrupt them all at teardown).
    pub fn deadlines(&self) -> Vec<Arc<crate::sqlite::deadline::Deadline>> {
        self.shared
            .connections
            .iter()
            .map(|c| Arc::clone(&locked(&c.slot).deadline))
            .collect()
    }

    /// Jobs waiting for a worker thread.
    pub fn queued(&self) -> usize {
        locked(&self.threads).as_ref().map_or(0, ThreadPool::queued_count)
    }

    /// Queues `job`, or hands it back when the lane is closed.
    pub fn submit(&self, ctx: &Arc<ThreadContext>, job: Job) -> std::result::Result<(), Job> {
        let threads = locked(&self.threads);
        let Some(threads) = threads.as_ref() else {
            return Err(job);
        };
        let (ctx, shared) = (Arc::clone(ctx), Arc::clone(&self.shared));
        threads.execute(move || run(&ctx, &shared, job));
        Ok(())
    }

    /// Takes no more jobs and waits for the queued ones to finish.
    pub fn close(&self) {
        let threads = locked(&self.threads).take();
        if let Some(threads) = threads {
            threads.join();
        }
    }

    /// How many workers answer: an idle one whose connection passes a probe (a broken one is
    /// repaired first), or a busy one whose job started less than `within` ago. Probes run on a
    /// thread of their own, so a connection that hangs cannot stall the health thread: what has
    /// not answered within `within` does not count.
    pub fn check(&self, ctx: &Arc<ThreadContext>, within: Duration) -> usize {
        let now = unix_ms();
        let mut answering = 0;
        let mut idle = Vec::new();
        for (index, connection) in self.shared.connections.iter().enumerate() {
            let taken = {
                let mut free = locked(&self.shared.free);
                free.iter().position(|i| *i == index).map(|at| free.swap_remove(at))
            };
            match taken {
                Some(index) => idle.push(index),
                None => {
                    let since = connection.busy_since_ms.load(Ordering::Relaxed);
                    answering += usize::from(since == 0 || now.saturating_sub(since) < within.as_millis() as u64);
                }
            }
        }
        if idle.is_empty() {
            return answering;
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        let (ctx, shared) = (Arc::clone(ctx), Arc::clone(&self.shared));
        let probing = spawn_named("sp-worker-check".into(), move || {
            for index in idle {
                let checkout = Checkout { shared: &shared, index };
                let _pass = ctx.gate.enter(Lane::Worker);
                let ok = locked(&shared.connections[index].slot).check(&ctx);
                drop(checkout);
                if tx.send(ok).is_err() {
                    return;
                }
            }
        });
        if probing.is_err() {
            return answering;
        }
        let until = Instant::now() + within;
        while let Ok(ok) = rx.recv_deadline(until) {
            answering += usize::from(ok);
        }
        answering
    }
}

/// Runs one job on a pool thread, on a connection checked out for it.
fn run(ctx: &ThreadContext, shared: &Shared, job: Job) {
    lower_priority_once();
    let job = match ctx.admit(Lane::Worker, job) {
        Ok(job) => job,
        Err((job, err)) => return ctx.refuse(Lane::Worker, job, err),
    };
    let checkout = shared.checkout();
    let connection = &shared.connections[checkout.index];
    connection.busy_since_ms.store(unix_ms().max(1), Ordering::Relaxed);
    let _pass = ctx.gate.enter(Lane::Worker);
    let mut slot = locked(&connection.slot);
    let busy = &ctx.lane(Lane::Worker).busy;
    busy.fetch_add(1, Ordering::Relaxed);
    let started = Instant::now();
    let mut job = job;
    let (result, broken) = ctx.run(&slot.conn, &slot.deadline, &mut job.work);
    busy.fetch_sub(1, Ordering::Relaxed);
    ctx.account(Lane::Worker, job.queued_at, started.elapsed(), &result);
    if broken {
        slot.recover(ctx);
        if let Err(err) = &result {
            report_worker_fault(ctx, err, !slot.broken);
        }
    }
    drop(slot);
    drop(_pass);
    drop(checkout);
    (job.done)(result);
}

/// Worker threads run at the lowest CPU priority; a pool thread does it on its first job.
fn lower_priority_once() {
    thread_local! {
        static LOWERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    if !LOWERED.with(|l| l.replace(true)) {
        crate::pool::priority::lower_current_thread();
    }
}
