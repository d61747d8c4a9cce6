//! The writer thread: owns the only read-write connection and commits every queued write in one
//! `BEGIN IMMEDIATE … COMMIT` (group commit), each job inside its own SAVEPOINT so a failing job
//! fails alone. A job's completion runs only after COMMIT returned.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{never, select, Receiver};
use rusqlite::Connection;

use crate::error::{Error, Result};
use crate::pool::job::{Completion, Job, Output};
use crate::pool::thread::{check, recover, spawn_named, Lane, Ping, PingReply, ThreadContext};
use crate::sqlite::deadline::Deadline;
use crate::sqlite::open::open_writer;

/// How often an idle writer looks at the WAL.
const MAINTENANCE_TICK: Duration = Duration::from_millis(500);
/// Commits between two looks at the WAL size under constant load.
const COMMITS_PER_WAL_CHECK: u64 = 64;

pub struct WriterThread {
    pub jobs: Receiver<Job>,
    pub pings: Receiver<Ping>,
    pub deadline: Arc<Deadline>,
    pub conn: Connection,
    /// A fault was seen and no fresh connection could be opened yet.
    pub broken: bool,
}

/// A settled-but-not-yet-announced job of the current group.
struct Finished {
    done: Completion,
    queued_at: Instant,
    result: Result<Output>,
}

impl WriterThread {
    pub fn spawn(self, ctx: Arc<ThreadContext>) -> Result<JoinHandle<()>> {
        spawn_named("sp-writer".into(), move || self.run(&ctx))
    }

    fn run(mut self, ctx: &ThreadContext) {
        let mut pings = self.pings.clone();
        let mut commits_since_check = 0u64;
        let mut dirty = false;
        loop {
            select! {
                recv(self.jobs) -> msg => match msg {
                    Ok(first) => {
                        let mut batch = Vec::with_capacity(64);
                        batch.push(first);
                        batch.extend(self.jobs.try_iter().take(ctx.config.max_batch - 1));
                        commits_since_check += self.process(ctx, batch);
                        dirty = true;
                        if commits_since_check >= COMMITS_PER_WAL_CHECK {
                            commits_since_check = 0;
                            self.watch_wal(ctx, false);
                        }
                    }
                    Err(_) => break,
                },
                recv(pings) -> msg => match msg {
                    Ok(ping) => self.answer(ctx, ping),
                    Err(_) => pings = never(),
                },
                default(MAINTENANCE_TICK) => {
                    if dirty {
                        self.watch_wal(ctx, true);
                        dirty = false;
                    }
                }
            }
        }
        // Leave a small WAL behind for whoever opens the file next.
        let _ = self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    }

    /// Runs a drained batch in order: runs of ordinary jobs share a transaction, jobs that must
    /// run alone run between them. Returns the number of commits made.
    fn process(&mut self, ctx: &ThreadContext, batch: Vec<Job>) -> u64 {
        if ctx.db.moved() {
            for job in batch {
                ctx.lane(Lane::Write).failed.fetch_add(1, Ordering::Relaxed);
                ctx.stats.count_error("SQLITE_READONLY_DBMOVED");
                (job.done)(Err(moved_error(ctx)));
            }
            return 0;
        }
        let mut commits = 0;
        let mut group = Vec::with_capacity(batch.len());
        for job in batch {
            if job.alone {
                commits += self.run_group(ctx, std::mem::take(&mut group));
                self.run_alone(ctx, job);
                commits += 1;
            } else {
                group.push(job);
            }
        }
        commits + self.run_group(ctx, group)
    }

    fn run_group(&mut self, ctx: &ThreadContext, jobs: Vec<Job>) -> u64 {
        if jobs.is_empty() {
            return 0;
        }
        let started = Instant::now();
        let busy = &ctx.stats.write.busy;
        busy.fetch_add(jobs.len(), Ordering::Relaxed);
        let count = jobs.len();
        let mut finished: Vec<Finished> = Vec::with_capacity(count);
        let mut tx_start = 0;
        let mut in_tx = false;
        let mut broken = false;
        let mut commits = 0;
        for job in jobs {
            let job = match ctx.admit(Lane::Write, job) {
                Ok(job) => job,
                Err((job, err)) => {
                    finished.push(Finished {
                        done: job.done,
                        queued_at: job.queued_at,
                        result: Err(err),
                    });
                    continue;
                }
            };
            if !in_tx {
                if let Err(err) = exec(&self.conn, "BEGIN IMMEDIATE") {
                    finished.push(Finished {
                        done: job.done,
                        queued_at: job.queued_at,
                        result: Err(err),
                    });
                    continue;
                }
                in_tx = true;
                tx_start = finished.len();
            }
            let result = match exec(&self.conn, "SAVEPOINT job") {
                Err(err) => Err(err),
                Ok(()) => {
                    let (result, job_broke) = ctx.run(&self.conn, &self.deadline, job.work);
                    broken |= job_broke;
                    self.end_savepoint(result, &mut finished, tx_start, &mut in_tx)
                }
            };
            finished.push(Finished {
                done: job.done,
                queued_at: job.queued_at,
                result,
            });
        }
        if in_tx {
            if let Err(err) = exec(&self.conn, "COMMIT") {
                let _ = exec(&self.conn, "ROLLBACK");
                fail_since(&mut finished, tx_start, &err);
            } else {
                commits += 1;
            }
        }
        if commits > 0 {
            ctx.stats.commits.fetch_add(commits, Ordering::Relaxed);
            ctx.stats.batch_sizes.record_value(count as u64);
            ctx.stats.largest_batch.fetch_max(count as u64, Ordering::Relaxed);
        }
        busy.fetch_sub(count, Ordering::Relaxed);
        if broken {
            recover(ctx, &mut self.conn, &self.deadline, &mut self.broken, open_writer);
        }
        let exec_time = started.elapsed();
        for f in finished {
            ctx.account(Lane::Write, f.queued_at, exec_time, &f.result);
            (f.done)(f.result);
        }
        commits
    }

    /// Keeps a job's work (RELEASE) or undoes it alone (ROLLBACK TO). When SQLite itself rolled
    /// back the whole transaction (disk full, I/O error), the jobs before it in this transaction
    /// are lost too and fail with the same error.
    fn end_savepoint(
        &self,
        result: Result<Output>,
        finished: &mut [Finished],
        tx_start: usize,
        in_tx: &mut bool,
    ) -> Result<Output> {
        if self.conn.is_autocommit() {
            *in_tx = false;
            let err = match &result {
                Err(e) => e.clone(),
                Ok(_) => Error::Internal("the transaction ended inside a job".into()),
            };
            fail_since(finished, tx_start, &err);
            return Err(err);
        }
        match result {
            Ok(out) => exec(&self.conn, "RELEASE job").map(|()| out),
            Err(err) => {
                let undone = exec(&self.conn, "ROLLBACK TO job").and_then(|()| exec(&self.conn, "RELEASE job"));
                if let Err(fatal) = undone {
                    let _ = exec(&self.conn, "ROLLBACK");
                    *in_tx = false;
                    fail_since(finished, tx_start, &fatal);
                }
                Err(err)
            }
        }
    }

    fn run_alone(&mut self, ctx: &ThreadContext, job: Job) {
        let job = match ctx.admit(Lane::Write, job) {
            Ok(job) => job,
            Err((job, err)) => {
                ctx.account(Lane::Write, job.queued_at, Duration::ZERO, &Err(err.clone()));
                return (job.done)(Err(err));
            }
        };
        ctx.stats.write.busy.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let (result, broken) = ctx.run(&self.conn, &self.deadline, job.work);
        if !self.conn.is_autocommit() {
            let _ = exec(&self.conn, "ROLLBACK");
        }
        ctx.stats.write.busy.fetch_sub(1, Ordering::Relaxed);
        if broken {
            recover(ctx, &mut self.conn, &self.deadline, &mut self.broken, open_writer);
        }
        ctx.account(Lane::Write, job.queued_at, started.elapsed(), &result);
        (job.done)(result);
    }

    /// Records the WAL size; when it passed the limit, tries a TRUNCATE checkpoint without waiting
    /// on readers (it succeeds once no reader holds an old snapshot). An idle writer also runs a
    /// PASSIVE checkpoint so the WAL does not sit full.
    fn watch_wal(&mut self, ctx: &ThreadContext, idle: bool) {
        let mut wal = ctx.db.path.clone().into_os_string();
        wal.push("-wal");
        let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        ctx.stats.wal_bytes.store(size, Ordering::Relaxed);
        let mode = if size > ctx.config.wal_limit {
            "TRUNCATE"
        } else if idle && size > 0 {
            "PASSIVE"
        } else {
            return;
        };
        let _ = self.conn.busy_timeout(Duration::ZERO);
        let busy: i64 = self
            .conn
            .query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| r.get(0))
            .unwrap_or(1);
        let _ = self.conn.busy_timeout(ctx.config.busy_timeout);
        if busy == 0 {
            ctx.stats.checkpoints.fetch_add(1, Ordering::Relaxed);
            if mode == "TRUNCATE" {
                ctx.stats.truncate_checkpoints.fetch_add(1, Ordering::Relaxed);
            }
        }
        let after = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        ctx.stats.wal_bytes.store(after, Ordering::Relaxed);
    }

    fn answer(&mut self, ctx: &ThreadContext, ping: Ping) {
        // A moved file is not repaired by reopening: that would start an empty database.
        let ok = !ctx.db.moved() && check(ctx, &mut self.conn, &self.deadline, &mut self.broken, open_writer);
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
            "the database file {} was deleted or replaced while open; writes are refused so none is acknowledged into a lost file; close the pool and open it again",
            ctx.db.path.display()
        ),
    }
}

fn exec(conn: &Connection, sql: &str) -> Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Turns every success of the current transaction into `err`: their work did not commit.
fn fail_since(finished: &mut [Finished], tx_start: usize, err: &Error) {
    for f in finished.iter_mut().skip(tx_start) {
        if f.result.is_ok() {
            f.result = Err(err.clone());
        }
    }
}
