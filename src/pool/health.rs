//! The health thread: every `healthCheckInterval` it pings the writer, each reader and each
//! worker on their own control channels. A thread that does not answer within an interval (stuck
//! or dead) or whose connection cannot be repaired makes the pool unhealthy until it answers.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::clock::unix_ms;

use crossbeam_channel::{unbounded, Receiver, Sender};

use crate::error::{Error, Result};
use crate::pool::context::ThreadContext;
use crate::pool::events::PoolEvent;
use crate::pool::job::{Completion, Output};
use crate::pool::lanes::Lane;
use crate::pool::periodic::spawn_named;
use crate::pool::workers::Workers;

#[derive(Debug)]
pub struct HealthState {
    pub healthy: AtomicBool,
    /// Unix milliseconds of the last completed check (the pool's open counts as the first).
    pub last_check_ms: AtomicU64,
    pub checks: AtomicU64,
    pub readers_answering: AtomicUsize,
    pub workers_answering: AtomicUsize,
    pub writer_answering: AtomicBool,
}

impl HealthState {
    pub fn new(readers: usize, workers: usize) -> Arc<HealthState> {
        Arc::new(HealthState {
            healthy: AtomicBool::new(true),
            last_check_ms: AtomicU64::new(unix_ms()),
            checks: AtomicU64::new(0),
            readers_answering: AtomicUsize::new(readers),
            workers_answering: AtomicUsize::new(workers),
            writer_answering: AtomicBool::new(true),
        })
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

/// One pool thread's control channel, as the health thread sees it.
pub struct Probe {
    pub lane: Lane,
    pub pings: Sender<Ping>,
}

pub struct HealthMonitor {
    pub probes: Vec<Probe>,
    pub ctx: Arc<ThreadContext>,
    /// Workers are checked directly: their connections are not owned by threads to ping.
    pub workers: Arc<Workers>,
    pub state: Arc<HealthState>,
    pub interval: Duration,
    pub stop: Receiver<()>,
    /// Checks asked for now (`performHealthCheck()`), each told when its check is done.
    pub requests: Receiver<Completion>,
}

impl HealthMonitor {
    pub fn spawn(self) -> Result<JoinHandle<()>> {
        spawn_named("sp-health".into(), move || self.run())
    }

    fn run(&self) {
        let mut requests = self.requests.clone();
        loop {
            crossbeam_channel::select! {
                recv(self.stop) -> _ => return,
                recv(requests) -> msg => match msg {
                    Ok(done) => {
                        let running = self.check();
                        done(Ok(Output::Done));
                        if !running {
                            return;
                        }
                    }
                    Err(_) => requests = crossbeam_channel::never(),
                },
                default(self.interval) => if !self.check() { return },
            }
        }
    }

    /// Pings every thread and waits up to one interval for the answers. Returns false when told
    /// to stop meanwhile.
    pub fn check(&self) -> bool {
        let started = Instant::now();
        let (reply_tx, replies) = unbounded();
        let mut expected = 0;
        for probe in &self.probes {
            if probe
                .pings
                .try_send(Ping {
                    reply: reply_tx.clone(),
                })
                .is_ok()
            {
                expected += 1;
            }
        }
        drop(reply_tx);
        let until = Instant::now() + self.interval;
        // Workers first, while the pinged threads answer: idle connections are probed here, and
        // a job running longer than an interval counts as a stuck worker.
        let workers = self.workers.check(&self.ctx, self.interval);
        let (mut writer, mut readers, mut answered) = (false, 0, 0);
        while answered < expected {
            let left = until.saturating_duration_since(Instant::now());
            crossbeam_channel::select! {
                recv(replies) -> msg => match msg {
                    Ok(reply) => {
                        answered += 1;
                        if reply.ok {
                            match reply.lane {
                                Lane::Write => writer = true,
                                Lane::Read | Lane::Worker => readers += 1,
                            }
                        }
                    }
                    Err(_) => break,
                },
                recv(self.stop) -> _ => return false,
                default(left) => break,
            }
        }
        let total = |lane| self.probes.iter().filter(|p| p.lane == lane).count();
        let want_workers = self.ctx.config.max_workers;
        let healthy = writer && readers == total(Lane::Read) && workers == want_workers;
        let s = &self.state;
        s.writer_answering.store(writer, Ordering::Relaxed);
        s.readers_answering.store(readers, Ordering::Relaxed);
        s.workers_answering.store(workers, Ordering::Relaxed);
        s.healthy.store(healthy, Ordering::Release);
        s.last_check_ms.store(unix_ms(), Ordering::Relaxed);
        s.checks.fetch_add(1, Ordering::Relaxed);
        let listeners = &self.ctx.listeners;
        if !healthy {
            let want_readers = total(Lane::Read);
            listeners.emit(PoolEvent::HealthCheckError(Error::Internal(format!(
                "health check: writer {}, {readers} of {want_readers} readers and {workers} of {want_workers} workers answered",
                if writer { "answered" } else { "did not answer" }
            ))));
        }
        listeners.emit(PoolEvent::HealthCheck {
            duration: started.elapsed(),
            readers,
            workers,
        });
        true
    }
}
