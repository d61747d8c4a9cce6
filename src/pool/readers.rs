//! Reader threads: each owns a read-only connection and pulls point reads from the readers'
//! shared queue, serving those queued behind the first in one read transaction. A reader never
//! blocks on the queue itself: with nothing queued it spins briefly (if no other reader is
//! looking), then parks on the doorbell (doorbell.rs), rung when a job is queued, no reader
//! is looking for work and no running reader will take it soon.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{never, select, Receiver, TryRecvError};

use crate::error::Result;
use crate::pool::context::ThreadContext;
use crate::pool::cursor;
use crate::pool::doorbell;
use crate::pool::health::{Ping, PingReply};
use crate::pool::job::Job;
use crate::pool::lanes::Lane;
use crate::pool::periodic::spawn_named;
use crate::pool::repair::Slot;
use crate::sqlite::guard;

/// Most point reads one read transaction serves.
const READ_BATCH: usize = 64;

pub struct ReaderThread {
    pub index: usize,
    pub jobs: Receiver<Job>,
    pub pings: Receiver<Ping>,
    pub slot: Slot,
}

/// Starts the doorbell's watch (`Doorbell::watch`) over the readers' queue `jobs`: it ends when
/// the pool stops taking work.
pub fn spawn_watch(jobs: Receiver<Job>, ctx: Arc<ThreadContext>) -> Result<JoinHandle<()>> {
    spawn_named("sp-read-watch".into(), move || {
        ctx.doorbell.watch(|| !jobs.is_empty(), &ctx.closing)
    })
}

impl ReaderThread {
    pub fn spawn(self, ctx: Arc<ThreadContext>) -> Result<JoinHandle<()>> {
        let name = format!("sp-read-{}", self.index);
        spawn_named(name, move || self.run(&ctx))
    }

    fn run(mut self, ctx: &ThreadContext) {
        let mut pings = self.pings.clone();
        let bell = &ctx.doorbell;
        let index = self.index;
        loop {
            match self.jobs.try_recv() {
                Ok(job) => {
                    bell.taking(index);
                    if !self.jobs.is_empty() {
                        bell.queued();
                    }
                    self.take(ctx, job, &mut pings);
                    bell.looking(index);
                    continue;
                }
                // Closed and drained.
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {}
            }
            if let Ok(ping) = pings.try_recv() {
                self.answer(ctx, ping);
                continue;
            }
            if bell.may_spin() && doorbell::spin(|| !self.jobs.is_empty()) {
                continue;
            }
            bell.parking();
            if !self.jobs.is_empty() {
                bell.looking(index);
                continue;
            }
            select! {
                recv(bell.bell()) -> rung => if rung.is_ok() { bell.answered() },
                recv(pings) -> msg => match msg {
                    Ok(ping) => self.answer(ctx, ping),
                    Err(_) => pings = never(),
                },
                // Disconnected once the pool stops taking work: the loop then drains the queue
                // and ends (`closing` never carries a message).
                recv(ctx.closing) -> _ => {},
            }
            bell.looking(index);
        }
    }

    /// Runs `job` (with the point reads queued behind it), or serves the iteration it opens.
    fn take(&mut self, ctx: &ThreadContext, job: Job, pings: &mut Receiver<Ping>) {
        let mut next = Some(job);
        while let Some(job) = next.take() {
            if job.cursor.is_some() {
                let index = self.index;
                let answer = move |ping: Ping, ok: bool| {
                    let _ = ping.reply.send(PingReply {
                        lane: Lane::Read,
                        index,
                        ok,
                    });
                };
                // Away from the queue until the consumer is done: queued work wakes another.
                ctx.doorbell.away(index);
                if !self.jobs.is_empty() {
                    ctx.doorbell.queued();
                }
                // Holds its own pass through the gate, as a long snapshot.
                cursor::serve(ctx, job, &mut self.slot, pings, &answer);
                ctx.doorbell.started(index);
            } else {
                let _pass = ctx.gate.enter(Lane::Read);
                if job.alone {
                    self.execute(ctx, job);
                } else {
                    next = self.execute_batch(ctx, job);
                }
            }
        }
    }

    /// Runs `first` and the point reads queued behind it (up to `READ_BATCH`) in one read
    /// transaction: SQLite then takes its file and WAL locks (a few `fcntl` calls, a third of a
    /// reader's time on point reads) once per batch instead of once per query. Every job in the
    /// batch was queued before the snapshot is taken, so each still sees every write that had
    /// resolved before it was submitted. Returns the job that must run alone, if one ended the
    /// batch.
    fn execute_batch(&mut self, ctx: &ThreadContext, first: Job) -> Option<Job> {
        let mut batch = Vec::with_capacity(READ_BATCH);
        batch.push(first);
        let mut alone = None;
        while batch.len() < READ_BATCH {
            match self.jobs.try_recv() {
                Ok(job) if job.alone => {
                    alone = Some(job);
                    break;
                }
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // More than this batch is waiting: another reader takes the rest meanwhile.
        if !self.jobs.is_empty() {
            ctx.doorbell.queued();
        }
        if batch.len() > 1 {
            // If BEGIN fails the jobs simply run in autocommit mode, each its own transaction.
            let _ = guard::internal(|| self.slot.conn.prepare_cached("BEGIN").and_then(|mut s| s.execute([])));
        }
        for job in batch {
            self.execute(ctx, job);
        }
        if !self.slot.conn.is_autocommit() {
            // A read transaction: ending it only releases the snapshot; it cannot lose data.
            let _ = guard::internal(|| self.slot.conn.prepare_cached("COMMIT").and_then(|mut s| s.execute([])));
        }
        alone
    }

    fn execute(&mut self, ctx: &ThreadContext, job: Job) {
        ctx.doorbell.started(self.index);
        let job = match ctx.admit(Lane::Read, job) {
            Ok(job) => job,
            Err((job, err)) => return ctx.refuse(Lane::Read, job, err),
        };
        let busy = &ctx.lane(Lane::Read).busy;
        busy.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let mut job = job;
        let (result, broken) = ctx.run(&self.slot.conn, &self.slot.deadline, &mut job.work);
        busy.fetch_sub(1, Ordering::Relaxed);
        ctx.account(Lane::Read, job.queued_at, started.elapsed(), &result);
        if broken {
            self.slot.recover(ctx);
        }
        (job.done)(result);
    }

    fn answer(&mut self, ctx: &ThreadContext, ping: Ping) {
        let ok = {
            let _pass = ctx.gate.enter(Lane::Read);
            self.slot.check(ctx)
        };
        let _ = ping.reply.send(PingReply {
            lane: Lane::Read,
            index: self.index,
            ok,
        });
    }
}
