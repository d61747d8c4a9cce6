//! The writer lane on PostgreSQL: one connection, queued writes committed in groups. A group is
//! one transaction with a SAVEPOINT per job, pipelined: BEGIN, each SAVEPOINT and each RELEASE go
//! on the wire without waiting for their answers, so a group of single-statement jobs costs one
//! round trip per job plus the COMMIT. A failing job is rolled back to its savepoint and fails
//! alone; the others commit.
//!
//! The trap: after a failed statement PostgreSQL refuses the rest of the transaction, and a later
//! COMMIT answers success while it rolls back. So every answer is read before the COMMIT, and
//! when any of them failed, or a job's ROLLBACK TO SAVEPOINT did, the group is rolled back and
//! the jobs not yet answered run again in a new transaction. A connection lost before the COMMIT
//! was sent is replaced and the group replayed; lost after, the outcome is unknown and the jobs
//! reject `CONNECTION_LOST` saying so: never acknowledged and lost.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use crossbeam_channel::Receiver;

use crate::error::{Error, Result};
use crate::pg::errors::{convert, is_connection_loss};
use crate::pg::link::{Link, Pending};
use crate::pg::schema;
use crate::pg::{Kind, PgJob, Shared};
use crate::pool::job::Output;

/// Groups replayed at most this many times before their jobs reject.
const MAX_ATTEMPTS: usize = 4;

enum Attempt {
    Committed(Vec<(PgJob, Output)>),
    /// The transaction was rolled back whole; these jobs run again.
    Replay(Vec<PgJob>),
    /// The connection broke; `committing` when the COMMIT was already sent.
    Lost {
        jobs: Vec<PgJob>,
        committing: bool,
    },
}

pub fn run(shared: &Shared, queue: Receiver<PgJob>) {
    let mut link: Option<Link> = None;
    while let Ok(first) = queue.recv() {
        shared.dequeued(1);
        let mut group = vec![first];
        while group.len() < shared.config.max_batch {
            match queue.try_recv() {
                Ok(job) => {
                    shared.dequeued(1);
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        let mut batched = Vec::with_capacity(group.len());
        for job in group {
            if let Some(late) = shared.too_late(&job) {
                shared.settle_write(job, Err(late));
            } else if matches!(job.kind, Kind::Batched(_)) {
                batched.push(job);
            } else {
                // Jobs that run alone keep their place: what was queued before them commits first.
                commit(shared, &mut link, std::mem::take(&mut batched));
                alone(shared, &mut link, job);
            }
        }
        commit(shared, &mut link, batched);
    }
    shared.writer_up.store(false, Relaxed);
}

/// The connection, opened (again) when there is none, it broke, or it outlived its lifetime.
fn connected<'l>(shared: &Shared, link: &'l mut Option<Link>) -> Result<&'l Link> {
    if link.as_ref().is_some_and(|l| l.is_closed() || l.expired()) {
        *link = None;
    }
    if link.is_none() {
        shared.writer_up.store(false, Relaxed);
        match Link::open(&shared.settings, "writer") {
            Ok(l) => {
                *link = Some(l);
                shared.writer_up.store(true, Relaxed);
                shared.recovered();
            }
            Err(e) => {
                shared.stats.failed_connections.fetch_add(1, Relaxed);
                shared.note_outage(&e);
                return Err(e);
            }
        }
    }
    link.as_ref()
        .ok_or_else(|| Error::Internal("no writer connection".into()))
}

/// Migrations and other work that must not share a transaction.
fn alone(shared: &Shared, link: &mut Option<Link>, mut job: PgJob) {
    let started = Instant::now();
    let result = connected(shared, link).and_then(|l| match &mut job.kind {
        Kind::Migrate => schema::migrate(l).map(|v| Output::Json(v.into())),
        Kind::Alone(work) | Kind::Batched(work) => guarded(|| work(l)),
    });
    if matches!(result, Err(Error::ConnectionLost(_))) {
        *link = None;
    }
    shared.stats.write.exec.record(started.elapsed());
    shared.settle_write(job, result);
}

fn guarded(work: impl FnOnce() -> Result<Output>) -> Result<Output> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|_| {
        Err(Error::Internal(
            "a write job panicked; its transaction was rolled back".into(),
        ))
    })
}

fn commit(shared: &Shared, link: &mut Option<Link>, mut jobs: Vec<PgJob>) {
    let started = Instant::now();
    for _ in 0..MAX_ATTEMPTS {
        if jobs.is_empty() {
            return;
        }
        let l = match connected(shared, link) {
            Ok(l) => l,
            Err(e) => {
                for job in jobs {
                    shared.settle_write(job, Err(e.clone()));
                }
                return;
            }
        };
        shared.stats.write.busy.store(jobs.len(), Relaxed);
        let attempt = attempt(shared, l, jobs);
        shared.stats.write.busy.store(0, Relaxed);
        match attempt {
            Attempt::Committed(done) => {
                let n = done.len() as u64;
                if n > 0 {
                    shared.stats.commits.fetch_add(1, Relaxed);
                    shared.stats.batch_sizes.record_value(n);
                    shared.stats.largest_batch.fetch_max(n, Relaxed);
                    shared.stats.write_outcome(true, None);
                }
                shared.stats.write.exec.record(started.elapsed());
                for (job, output) in done {
                    shared.settle_write(job, Ok(output));
                }
                return;
            }
            Attempt::Replay(again) => {
                shared.stats.replayed.fetch_add(again.len() as u64, Relaxed);
                jobs = again;
            }
            Attempt::Lost { jobs: lost, committing } => {
                *link = None;
                shared.writer_up.store(false, Relaxed);
                shared.stats.failed_connections.fetch_add(1, Relaxed);
                if committing {
                    let e = Error::ConnectionLost(
                        "the connection to PostgreSQL was lost while committing; the write may or may not have been committed".into(),
                    );
                    shared.note_outage(&e);
                    for job in lost {
                        shared.settle_write(job, Err(e.clone()));
                    }
                    return;
                }
                shared.stats.replayed.fetch_add(lost.len() as u64, Relaxed);
                jobs = lost;
            }
        }
    }
    let e = Error::ConnectionLost(format!(
        "gave up after {MAX_ATTEMPTS} attempts to commit on PostgreSQL; the write did not happen"
    ));
    for job in jobs {
        shared.settle_write(job, Err(e.clone()));
    }
}

/// What the answers to the requests sent so far say about the transaction.
enum Checked {
    Fine,
    Lost,
    /// A job's SAVEPOINT or RELEASE was refused: that job (`owner`, an index into the jobs done)
    /// left the transaction failed by going on after a failed statement.
    Broken {
        owner: Option<usize>,
        why: String,
    },
}

fn check<'l>(shared: &Shared, link: &'l Link, pending: &mut Vec<(Option<usize>, Pending<'l>)>) -> Checked {
    let mut verdict = Checked::Fine;
    for (owner, answer) in pending.drain(..) {
        match (link.answer(answer), &verdict) {
            (Ok(()), _) | (Err(_), Checked::Lost | Checked::Broken { .. }) => {}
            (Err(e), Checked::Fine) if is_connection_loss(&e) => verdict = Checked::Lost,
            (Err(e), Checked::Fine) => {
                verdict = Checked::Broken {
                    owner,
                    why: format!(
                    "the job went on after a failed statement, which aborted its transaction; it was rolled back ({})",
                    convert(e, shared.settings.query_timeout)
                ),
                }
            }
        }
    }
    verdict
}

/// The transaction is rolled back: the job that broke it fails, every other unanswered job runs
/// again.
fn broken(
    shared: &Shared,
    link: &Link,
    owner: Option<usize>,
    why: String,
    done: Vec<(PgJob, Output)>,
    unfinished: impl Iterator<Item = PgJob>,
) -> Attempt {
    let _ = link.batch("ROLLBACK");
    let mut again = Vec::with_capacity(done.len());
    for (i, (job, _)) in done.into_iter().enumerate() {
        if Some(i) == owner {
            shared.settle_write(job, Err(Error::Internal(why.clone())));
        } else {
            again.push(job);
        }
    }
    again.extend(unfinished);
    Attempt::Replay(again)
}

/// One try at committing `jobs` in one transaction.
fn attempt(shared: &Shared, link: &Link, jobs: Vec<PgJob>) -> Attempt {
    // Each request on the wire, with the job it was sent for (BEGIN has none).
    let mut pending = vec![(None, link.send("BEGIN"))];
    let mut done: Vec<(PgJob, Output)> = Vec::with_capacity(jobs.len());
    let mut rest = jobs.into_iter();
    while let Some(mut job) = rest.next() {
        let Kind::Batched(work) = &mut job.kind else {
            // Only batched jobs reach here; anything else fails rather than run in a transaction.
            let e = Error::Internal("a job that runs alone reached a group".into());
            shared.settle_write(job, Err(e));
            continue;
        };
        pending.push((Some(done.len()), link.send("SAVEPOINT job")));
        match guarded(|| work(link)) {
            Ok(output) => {
                pending.push((Some(done.len()), link.send("RELEASE SAVEPOINT job")));
                done.push((job, output));
            }
            Err(Error::ConnectionLost(_)) => return lost(done, job, rest, false),
            // Whether the failure is the job's own depends on the answers before it: after an
            // earlier job broke the transaction, every statement fails (SQLSTATE 25P02).
            Err(e) => match check(shared, link, &mut pending) {
                Checked::Lost => return lost(done, job, rest, false),
                Checked::Broken { owner, why } => {
                    return broken(shared, link, owner, why, done, std::iter::once(job).chain(rest))
                }
                Checked::Fine => match link.answer(link.send("ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job")) {
                    // Undone alone: its failure is its own, whatever happens to the group.
                    Ok(()) => shared.settle_write(job, Err(e)),
                    Err(rb) if is_connection_loss(&rb) => return lost(done, job, rest, false),
                    Err(_) => return replay(link, done, job, rest),
                },
            },
        }
    }
    // Every answer is read before the COMMIT, which would roll a failed transaction back quietly.
    match check(shared, link, &mut pending) {
        Checked::Fine => {}
        Checked::Lost => return lost_all(done, false),
        Checked::Broken { owner, why } => return broken(shared, link, owner, why, done, std::iter::empty()),
    }
    match link.answer(link.send("COMMIT")) {
        Ok(()) => Attempt::Committed(done),
        Err(e) if is_connection_loss(&e) => lost_all(done, true),
        Err(_) => {
            let _ = link.batch("ROLLBACK");
            Attempt::Replay(done.into_iter().map(|(j, _)| j).collect())
        }
    }
}

fn lost(done: Vec<(PgJob, Output)>, job: PgJob, rest: impl Iterator<Item = PgJob>, committing: bool) -> Attempt {
    let mut jobs: Vec<PgJob> = done.into_iter().map(|(j, _)| j).collect();
    jobs.push(job);
    jobs.extend(rest);
    Attempt::Lost { jobs, committing }
}

fn lost_all(done: Vec<(PgJob, Output)>, committing: bool) -> Attempt {
    Attempt::Lost {
        jobs: done.into_iter().map(|(j, _)| j).collect(),
        committing,
    }
}

fn replay(link: &Link, done: Vec<(PgJob, Output)>, job: PgJob, rest: impl Iterator<Item = PgJob>) -> Attempt {
    let _ = link.batch("ROLLBACK");
    let mut jobs: Vec<PgJob> = done.into_iter().map(|(j, _)| j).collect();
    jobs.push(job);
    jobs.extend(rest);
    Attempt::Replay(jobs)
}
