//! The writer thread: owns the only read-write connection and commits every queued write in one
//! `BEGIN IMMEDIATE … COMMIT` (group commit), each job inside its own SAVEPOINT so a failing job
//! fails alone. A job's completion runs only after COMMIT returned and the database file and its
//! WAL were found to be the ones the pool opened.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{never, select, Receiver};
use rusqlite::Connection;

use crate::error::{Error, Result};
use crate::pool::context::ThreadContext;
use crate::pool::doorbell;
use crate::pool::health::{Ping, PingReply};
use crate::pool::job::{Completion, Job, Output};
use crate::pool::lanes::Lane;
use crate::pool::periodic::spawn_named;
use crate::pool::repair::Slot;
use crate::pool::wal::WalControl;
use crate::sqlite::guard;

/// How often an idle writer looks at the WAL.
const MAINTENANCE_TICK: Duration = Duration::from_millis(500);

pub struct WriterThread {
    pub jobs: Receiver<Job>,
    pub pings: Receiver<Ping>,
    pub slot: Slot,
    pub wal: WalControl,
    /// A reader or worker that held the WAL back has left.
    pub wal_woken: Receiver<()>,
}

/// A settled-but-not-yet-announced job of the current group.
struct Finished {
    done: Completion,
    queued_at: Instant,
    /// How long the job itself ran (its last run, if it was replayed).
    exec: Duration,
    result: Result<Output>,
}

impl Finished {
    fn new(job: Job, result: Result<Output>) -> Finished {
        Finished::timed(job, Duration::ZERO, result)
    }

    fn timed(job: Job, exec: Duration, result: Result<Output>) -> Finished {
        Finished {
            done: job.done,
            queued_at: job.queued_at,
            exec,
            result,
        }
    }
}

/// What one group did, for the counters and the write path's health.
#[derive(Default)]
struct Outcome {
    commits: u64,
    /// A commit made some job's work durable.
    committed: bool,
    environment_failure: Option<Error>,
}

impl Outcome {
    fn saw(&mut self, result: &Result<Output>) {
        if let Err(e) = result {
            if e.is_environment_failure() && self.environment_failure.is_none() {
                self.environment_failure = Some(e.clone());
            }
        }
    }
}

impl WriterThread {
    pub fn spawn(self, ctx: Arc<ThreadContext>) -> Result<JoinHandle<()>> {
        spawn_named("sp-writer".into(), move || self.run(&ctx))
    }

    fn run(mut self, ctx: &ThreadContext) {
        let mut pings = self.pings.clone();
        let mut wal_woken = self.wal_woken.clone();
        let mut dirty = false;
        let mut committed = false;
        loop {
            if std::mem::take(&mut committed) {
                // The next writes of a burst usually arrive within microseconds of a commit, and
                // finding the writer awake spares their sender (the JavaScript thread) a wake-up.
                doorbell::spin(|| !self.jobs.is_empty());
            }
            select! {
                recv(self.jobs) -> msg => match msg {
                    Ok(first) => {
                        let mut batch = Vec::with_capacity(64);
                        batch.push(first);
                        batch.extend(self.jobs.try_iter().take(ctx.config.max_batch - 1));
                        self.process(ctx, batch);
                        self.maintain(ctx, false);
                        dirty = true;
                        committed = true;
                    }
                    Err(_) => break,
                },
                recv(pings) -> msg => match msg {
                    Ok(ping) => self.answer(ctx, ping),
                    Err(_) => pings = never(),
                },
                recv(wal_woken) -> msg => match msg {
                    Ok(()) => {
                        self.wal.woken();
                        dirty = !self.maintain(ctx, dirty);
                    }
                    Err(_) => wal_woken = never(),
                },
                default(MAINTENANCE_TICK) => {
                    if dirty {
                        dirty = !self.maintain(ctx, true);
                    }
                }
            }
        }
        // Leave a small WAL behind for whoever opens the file next.
        let _ = guard::internal(|| {
            self.slot
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        });
    }

    /// True when the WAL is within its limit (when `idle`: empty) afterwards.
    fn maintain(&mut self, ctx: &ThreadContext, idle: bool) -> bool {
        let limit = ctx.config.wal_limit;
        let after = self
            .wal
            .maintain(&self.slot.conn, &ctx.db.path, &ctx.stats, limit, idle);
        let _ = self.slot.conn.busy_timeout(ctx.config.busy_timeout);
        if idle {
            after == 0
        } else {
            after <= limit
        }
    }

    /// Runs a drained batch in order: runs of ordinary jobs share a transaction, jobs that must
    /// run alone run between them.
    /// A batch arriving after the file moved is refused without running: its writes would land
    /// in the unlinked file, where readers still holding it would see them. A move during the
    /// batch is caught by the check after COMMIT.
    fn process(&mut self, ctx: &ThreadContext, batch: Vec<Job>) {
        if ctx.db.moved() {
            for job in batch {
                let result = Err(moved_error(ctx));
                ctx.account(Lane::Write, job.queued_at, Duration::ZERO, &result);
                (job.done)(result);
            }
            return;
        }
        let mut group = Vec::with_capacity(batch.len());
        for job in batch {
            if job.alone {
                self.run_group(ctx, std::mem::take(&mut group));
                self.run_alone(ctx, job);
            } else {
                group.push(job);
            }
        }
        self.run_group(ctx, group);
    }

    fn control(&self, sql: &str) -> Result<()> {
        guard::internal(|| exec(&self.slot.conn, sql))
    }

    fn run_group(&mut self, ctx: &ThreadContext, jobs: Vec<Job>) {
        if jobs.is_empty() {
            return;
        }
        let count = jobs.len();
        let busy = &ctx.stats.write.busy;
        busy.fetch_add(count, Ordering::Relaxed);
        let mut finished: Vec<Finished> = Vec::with_capacity(count);
        let mut queue: VecDeque<Job> = VecDeque::with_capacity(count);
        for job in jobs {
            match ctx.admit(Lane::Write, job) {
                Ok(job) => queue.push_back(job),
                Err((job, err)) => finished.push(Finished::new(job, Err(err))),
            }
        }
        let mut outcome = Outcome::default();
        // Jobs run in the open transaction, with how long they ran and their results, until it
        // commits.
        let mut tentative: Vec<(Job, Duration, Result<Output>)> = Vec::new();
        let mut in_tx = false;
        let mut broken = false;
        // Replayed jobs still to run; once they all ran they are committed on their own.
        let mut replay_left = 0usize;
        let (mut replays, replay_budget) = (0usize, 4 * count);
        while let Some(mut job) = queue.pop_front() {
            let replayed = replay_left > 0;
            replay_left = replay_left.saturating_sub(1);
            if !in_tx {
                if let Err(err) = self.control("BEGIN IMMEDIATE") {
                    let result = Err(err);
                    outcome.saw(&result);
                    finished.push(Finished::new(job, result));
                    continue;
                }
                in_tx = true;
            }
            if let Err(err) = self.control("SAVEPOINT job") {
                self.give_up(job, err, &mut tentative, &mut finished, &mut outcome);
                in_tx = false;
                continue;
            }
            let ran = Instant::now();
            let (result, job_broke) = ctx.run(&self.slot.conn, &self.slot.deadline, &mut job.work);
            let ran = ran.elapsed();
            broken |= job_broke;
            outcome.saw(&result);
            if self.slot.conn.is_autocommit() {
                // The job ended the whole transaction (INSERT OR ROLLBACK, RAISE(ROLLBACK), or
                // SQLite rolling back on a full disk): it fails, and the work of the jobs before
                // it in this transaction is gone with it.
                in_tx = false;
                let result = match result {
                    Err(e) => Err(e),
                    Ok(_) => Err(Error::Internal(
                        "the transaction ended inside this job; its work was rolled back".into(),
                    )),
                };
                let mut innocents = Vec::new();
                for (other, other_ran, res) in tentative.drain(..) {
                    match res {
                        // Innocent jobs run again in a fresh transaction (a full disk included:
                        // the job that did not fit is out), within a budget, so a group cannot
                        // be replayed over and over.
                        Ok(_) if replays < replay_budget => {
                            replays += 1;
                            innocents.push(other)
                        }
                        Ok(_) => finished.push(Finished::timed(other, other_ran, result.clone())),
                        Err(e) => finished.push(Finished::timed(other, other_ran, Err(e))),
                    }
                }
                ctx.stats.replayed.fetch_add(innocents.len() as u64, Ordering::Relaxed);
                replay_left += innocents.len();
                for other in innocents.into_iter().rev() {
                    queue.push_front(other);
                }
                finished.push(Finished::timed(job, ran, result));
                continue;
            }
            let result = match result {
                Ok(out) => self.control("RELEASE job").map(|()| Ok(out)),
                Err(err) => self
                    .control("ROLLBACK TO job")
                    .and_then(|()| self.control("RELEASE job"))
                    .map(|()| Err(err)),
            };
            match result {
                Ok(result) => tentative.push((job, ran, result)),
                Err(fatal) => {
                    // The savepoint could not be kept or undone: nothing of this transaction
                    // can be trusted, so it is rolled back whole.
                    self.give_up(job, fatal, &mut tentative, &mut finished, &mut outcome);
                    in_tx = false;
                    continue;
                }
            }
            if replayed && replay_left == 0 {
                self.commit(ctx, &mut tentative, &mut finished, &mut outcome);
                in_tx = false;
            }
        }
        if in_tx {
            self.commit(ctx, &mut tentative, &mut finished, &mut outcome);
        }
        if outcome.commits > 0 {
            ctx.stats.commits.fetch_add(outcome.commits, Ordering::Relaxed);
            ctx.stats.batch_sizes.record_value(count as u64);
            ctx.stats.largest_batch.fetch_max(count as u64, Ordering::Relaxed);
        }
        ctx.stats
            .write_outcome(outcome.committed, outcome.environment_failure.as_ref());
        busy.fetch_sub(count, Ordering::Relaxed);
        if broken {
            self.slot.recover(ctx);
        }
        for f in finished {
            ctx.account(Lane::Write, f.queued_at, f.exec, &f.result);
            (f.done)(f.result);
        }
    }

    /// COMMITs the open transaction and settles its jobs: their results stand only if COMMIT
    /// succeeded and the data went into the files the pool opened.
    fn commit(
        &self,
        ctx: &ThreadContext,
        tentative: &mut Vec<(Job, Duration, Result<Output>)>,
        finished: &mut Vec<Finished>,
        outcome: &mut Outcome,
    ) {
        let failure = match self.control("COMMIT") {
            Ok(()) => {
                outcome.commits += 1;
                if ctx.db.moved() {
                    Some(moved_error(ctx))
                } else {
                    outcome.committed |= tentative.iter().any(|(_, _, r)| r.is_ok());
                    None
                }
            }
            Err(err) => {
                let _ = self.control("ROLLBACK");
                outcome.saw(&Err(err.clone()));
                Some(err)
            }
        };
        for (job, ran, result) in tentative.drain(..) {
            let result = match (&failure, result) {
                (Some(err), Ok(_)) => Err(err.clone()),
                (_, result) => result,
            };
            finished.push(Finished::timed(job, ran, result));
        }
    }

    /// Rolls the open transaction back; `job` and every job that had succeeded in it fail with
    /// `err`.
    fn give_up(
        &self,
        job: Job,
        err: Error,
        tentative: &mut Vec<(Job, Duration, Result<Output>)>,
        finished: &mut Vec<Finished>,
        outcome: &mut Outcome,
    ) {
        self.abandon(tentative, finished, &err);
        let result = Err(err);
        outcome.saw(&result);
        finished.push(Finished::new(job, result));
    }

    /// Rolls the open transaction back; every job that had succeeded in it fails with `err`.
    fn abandon(&self, tentative: &mut Vec<(Job, Duration, Result<Output>)>, finished: &mut Vec<Finished>, err: &Error) {
        if !self.slot.conn.is_autocommit() {
            let _ = self.control("ROLLBACK");
        }
        for (job, ran, result) in tentative.drain(..) {
            finished.push(Finished::timed(job, ran, result.and_then(|_| Err(err.clone()))));
        }
    }

    fn run_alone(&mut self, ctx: &ThreadContext, job: Job) {
        let mut job = match ctx.admit(Lane::Write, job) {
            Ok(job) => job,
            Err((job, err)) => {
                let result = Err(err);
                ctx.account(Lane::Write, job.queued_at, Duration::ZERO, &result);
                return (job.done)(result);
            }
        };
        ctx.stats.write.busy.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let (mut result, broken) = ctx.run(&self.slot.conn, &self.slot.deadline, &mut job.work);
        if !self.slot.conn.is_autocommit() {
            let _ = self.control("ROLLBACK");
        }
        if result.is_ok() && ctx.db.moved() {
            result = Err(moved_error(ctx));
        }
        ctx.stats.commits.fetch_add(1, Ordering::Relaxed);
        ctx.stats.write_outcome(
            result.is_ok(),
            result.as_ref().err().filter(|e| e.is_environment_failure()),
        );
        ctx.stats.write.busy.fetch_sub(1, Ordering::Relaxed);
        if broken {
            self.slot.recover(ctx);
        }
        ctx.account(Lane::Write, job.queued_at, started.elapsed(), &result);
        (job.done)(result);
    }

    fn answer(&mut self, ctx: &ThreadContext, ping: Ping) {
        // A moved file is not repaired by reopening: that would start an empty database.
        let ok = !ctx.db.moved() && self.slot.check(ctx);
        let _ = ping.reply.send(PingReply {
            lane: Lane::Write,
            index: 0,
            ok,
        });
    }
}

fn moved_error(ctx: &ThreadContext) -> Error {
    Error::Sqlite {
        code: "SQLITE_READONLY_DBMOVED",
        message: format!(
            "the database file {} or its WAL was deleted or replaced while open; writes are refused so none is acknowledged into a lost file; close the pool and open it again",
            ctx.db.path.display()
        ),
    }
}

fn exec(conn: &Connection, sql: &str) -> Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}
