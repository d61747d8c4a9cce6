//! The writer lane on PostgreSQL: one connection, queued writes committed in groups, each group
//! one transaction, pipelined: BEGIN and the requests after it go on the wire without waiting
//! for their answers where that is safe.
//!
//! Single statements known in advance (`Kind::Statement`, most domain writes) are first sent bare,
//! back to back, in slices of `FLUSH_EVERY`, at most `IN_FLIGHT` unanswered (what a failure makes
//! the server refuse and log is bounded by it): the server does only their work. A group of N of
//! them costs the BEGIN's round trip, N statements pipelined, and the COMMIT's round trip, with no
//! subtransaction; each statement still ends with its own Sync (tokio-postgres sends one per
//! request), so the server answers, and writes to the socket, statement by statement. When one
//! fails, PostgreSQL aborts the transaction and refuses the rest (25P02); answers come in order, so
//! the first failure is the guilty job: it fails alone with its own error, nothing was committed,
//! and the other jobs run again in a new transaction in which each statement has its own SAVEPOINT
//! and RELEASE, sent with it. There a failing statement is rolled back to its savepoint, fails
//! alone, and the statements after it are sent again, so a group with several failures costs one
//! attempt more, never one per failure. Work that needs its answers (`Kind::Batched`) always has a
//! savepoint and waits for each of its statements.
//!
//! The trap: after a failed statement a COMMIT answers success while it rolls back. So every
//! answer is read before the COMMIT is sent; when any failed (a statement the server refused to
//! prepare included), or a job's ROLLBACK TO SAVEPOINT did, the group is rolled back and the
//! jobs not settled run again. The COMMIT is not sent right after the last statement either:
//! it would be safe about failures (any failed answer before it means nothing was committed,
//! and the jobs are acknowledged only after every answer is read), but a connection lost after
//! it left could have committed or not, so a loss anywhere in the group would reject every job
//! `CONNECTION_LOST` "may or may not have been committed" instead of replaying them; and the
//! round trip it saves is one per group, of up to `maxBatch` statements.
//!
//! A connection lost before the COMMIT is sent is replaced and the group replayed; lost after,
//! the outcome is unknown and the jobs reject `CONNECTION_LOST` saying so: never acknowledged
//! and lost. A deadlock or serialization failure rolls the whole group back, to run again after
//! a pause.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use crossbeam_channel::Receiver;

use crate::error::{Error, Result};
use crate::pg::errors::{convert, is_connection_loss, is_in_failed_transaction, Fault};
use crate::pg::link::{as_sent, Link, Pending, PendingRows};
use crate::pg::schema;
use crate::pg::{Kind, PgJob, Shared};
use crate::pool::job::{Output, WriteResult};
use crate::sqlite::Value;
use crate::store::seam::Session;

/// A pipeline goes on the wire in slices of this many statements, so the server works on the
/// first while the rest are encoded.
const FLUSH_EVERY: usize = 64;
/// At most this many statements of a pipeline are unanswered at once: enough to keep the server
/// busy, few enough that after a failure it refuses (and logs) a bounded number of requests.
const IN_FLIGHT: usize = 256;

/// Groups replayed at most this many times before their jobs reject.
const MAX_ATTEMPTS: usize = 4;
/// Groups given up by the server for another transaction are tried this many times at most.
const MAX_CONTENDED: usize = 32;

/// PostgreSQL's "try again" failures (deadlock detected, serialization failure), which the
/// error mapping gives SQLite's code for a locked database.
fn is_contention(e: &Error) -> bool {
    e.code() == "SQLITE_BUSY"
}

enum Attempt {
    Committed(Vec<(PgJob, Output)>),
    /// The transaction was rolled back whole; these jobs run again.
    Replay(Vec<PgJob>),
    /// A statement sent without a savepoint failed and was settled; the transaction was rolled
    /// back and these jobs run again, with savepoints.
    Guilty(Vec<PgJob>),
    /// The server gave the transaction up to let another go first (a deadlock between hosts,
    /// a serialization failure): rolled back whole, these jobs run again after a pause.
    Contended {
        jobs: Vec<PgJob>,
        why: Error,
    },
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
            } else if matches!(job.kind, Kind::Batched(_) | Kind::Statement(_)) {
                batched.push(job);
            } else {
                // Jobs that run alone keep their place: what was queued before them commits first.
                commit(shared, &mut link, std::mem::take(&mut batched));
                alone(shared, &mut link, job);
            }
        }
        commit(shared, &mut link, batched);
    }
}

/// The connection, opened (again) when there is none, it broke, or it outlived its lifetime.
fn connected<'l>(shared: &Shared, link: &'l mut Option<Link>) -> Result<&'l Link> {
    if link.as_ref().is_some_and(|l| l.is_closed() || l.expired()) {
        *link = None;
    }
    if link.is_none() {
        match Link::open(&shared.settings, "writer") {
            Ok(l) => {
                *link = Some(l);
                shared.writer_down.store(false, Relaxed);
                shared.recovered();
            }
            Err(e) => {
                shared.writer_down.store(true, Relaxed);
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
        Kind::Statement(st) => (st.finish)(Session::execute(l, &st.sql, &st.params)),
        Kind::Query(_) => Err(Error::Internal("a read reached the writer".into())),
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
    for job in &jobs {
        shared.stats.write.wait.record(started.duration_since(job.queued));
    }
    let (mut replays, mut contended) = (0, 0);
    let mut last_contention = None;
    // Statements go bare until a failure of the group's own jobs rolls a try back.
    let mut mode = Mode::Bare;
    while replays < MAX_ATTEMPTS && contended < MAX_CONTENDED {
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
        let rowid = l.last_insert_rowid();
        let attempt = attempt(shared, l, jobs, mode);
        if !matches!(attempt, Attempt::Committed(_)) {
            l.rewind_last_insert_rowid(rowid);
        }
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
                replays += 1;
                mode = Mode::Savepoints;
                shared.stats.replayed.fetch_add(again.len() as u64, Relaxed);
                jobs = again;
            }
            // Not counted as a try: it settled a job, and happens once per group at most, since
            // the next tries have savepoints.
            Attempt::Guilty(again) => {
                mode = Mode::Savepoints;
                shared.stats.replayed.fetch_add(again.len() as u64, Relaxed);
                jobs = again;
            }
            Attempt::Contended { jobs: again, why } => {
                contended += 1;
                shared.stats.replayed.fetch_add(again.len() as u64, Relaxed);
                // A pause that grows, and differs between writers, so the other transaction
                // finishes before this one takes its locks again.
                let jitter = (started.elapsed().subsec_nanos() % 7) as u64;
                std::thread::sleep(std::time::Duration::from_millis(
                    (contended as u64 * 5 + jitter).min(200),
                ));
                last_contention = Some(why);
                jobs = again;
            }
            Attempt::Lost { jobs: lost, committing } => {
                replays += 1;
                *link = None;
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
    let e = match last_contention {
        Some(why) if contended >= MAX_CONTENDED => why,
        _ => Error::ConnectionLost(format!(
            "gave up after {MAX_ATTEMPTS} attempts to commit on PostgreSQL; the write did not happen"
        )),
    };
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

/// One try at committing `jobs` in one transaction, their statements sent as `mode` says.
fn attempt(shared: &Shared, link: &Link, jobs: Vec<PgJob>, mode: Mode) -> Attempt {
    // Each request on the wire, with the job it was sent for (BEGIN has none).
    let mut pending = vec![(None, link.send("BEGIN"))];
    if let Some(set) = link.per_transaction() {
        pending.push((None, link.send_owned(set)));
    }
    let mut done: Vec<(PgJob, Output)> = Vec::with_capacity(jobs.len());
    let mut rest: VecDeque<PgJob> = jobs.into();
    while let Some(mut job) = rest.pop_front() {
        if matches!(job.kind, Kind::Statement(_)) {
            // This statement and the ones right after it go out together.
            let mut run = vec![job];
            while rest.front().is_some_and(|j| matches!(j.kind, Kind::Statement(_))) {
                run.extend(rest.pop_front());
            }
            match check(shared, link, &mut pending) {
                Checked::Fine => {}
                Checked::Lost => return lost(done, run.into_iter().chain(rest), false),
                Checked::Broken { owner, why } => {
                    return broken(shared, link, owner, why, done, run.into_iter().chain(rest))
                }
            }
            match pipeline(shared, link, run, mode) {
                Piped::Done(outputs) => done.extend(outputs),
                Piped::Lost(unanswered) => {
                    let unfinished: Vec<PgJob> = unanswered.into_iter().chain(rest).collect();
                    return lost(done, unfinished.into_iter(), false);
                }
                Piped::Broken(unanswered) => return replay(link, done, unanswered.into_iter().chain(rest)),
                Piped::Contended(unanswered, why) => {
                    return contended(link, done, unanswered.into_iter().chain(rest), why)
                }
                Piped::Guilty(unanswered) => {
                    let _ = link.batch("ROLLBACK");
                    let again = done.into_iter().map(|(j, _)| j).chain(unanswered).chain(rest);
                    return Attempt::Guilty(again.collect());
                }
            }
            continue;
        }
        let Kind::Batched(work) = &mut job.kind else {
            // Only batched jobs and statements reach here; anything else fails rather than run
            // in a transaction.
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
            Err(Error::ConnectionLost(_)) => return lost(done, std::iter::once(job).chain(rest), false),
            // Whether the failure is the job's own depends on the answers before it: after an
            // earlier job broke the transaction, every statement fails (SQLSTATE 25P02).
            Err(e) => match check(shared, link, &mut pending) {
                Checked::Lost => return lost(done, std::iter::once(job).chain(rest), false),
                Checked::Broken { owner, why } => {
                    return broken(shared, link, owner, why, done, std::iter::once(job).chain(rest))
                }
                Checked::Fine if is_contention(&e) => {
                    return contended(link, done, std::iter::once(job).chain(rest), e)
                }
                Checked::Fine => match link.answer(link.send("ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job")) {
                    // Undone alone: its failure is its own, whatever happens to the group.
                    Ok(()) => shared.settle_write(job, Err(e)),
                    Err(rb) if is_connection_loss(&rb) => return lost(done, std::iter::once(job).chain(rest), false),
                    Err(_) => return replay(link, done, std::iter::once(job).chain(rest)),
                },
            },
        }
    }
    // Every answer is read before the COMMIT, which would roll a failed transaction back quietly.
    match check(shared, link, &mut pending) {
        Checked::Fine => {}
        Checked::Lost => return lost(done, std::iter::empty(), false),
        Checked::Broken { owner, why } => return broken(shared, link, owner, why, done, std::iter::empty()),
    }
    match link.answer(link.send("COMMIT")) {
        Ok(()) => Attempt::Committed(done),
        Err(e) if is_connection_loss(&e) => lost(done, std::iter::empty(), true),
        Err(e) => match convert(e, shared.settings.query_timeout) {
            why if is_contention(&why) => contended(link, done, std::iter::empty(), why),
            _ => replay(link, done, std::iter::empty()),
        },
    }
}

/// How the statements of a run go on the wire.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Back to back and nothing else: the server does only the statements' work. A failure
    /// aborts the whole transaction, so the group runs again in `Savepoints`. Sound because the
    /// statements are the domain's own, none of them transaction control: until the COMMIT,
    /// nothing of the group is committed.
    Bare,
    /// Each between its own SAVEPOINT and RELEASE: a failure is undone alone and the
    /// transaction goes on.
    Savepoints,
}

enum Piped {
    /// Every statement answered; the ones that failed were rolled back alone and settled.
    Done(Vec<(PgJob, Output)>),
    /// The connection broke: these were not committed.
    Lost(Vec<PgJob>),
    /// A savepoint could not be rolled back to: the transaction runs again.
    Broken(Vec<PgJob>),
    /// The server gave the transaction up for another: it runs again after a pause.
    Contended(Vec<PgJob>, Error),
    /// A statement sent bare failed and was settled with its error; the transaction is
    /// aborted and these, not committed, run again with savepoints.
    Guilty(Vec<PgJob>),
}

/// Sends every statement of `run` without waiting, then reads the answers in order. Answers
/// come in the order of the statements, so the first failure is the guilty one: PostgreSQL
/// refuses everything after it (25P02). In `Mode::Savepoints` the transaction is rolled back to
/// the failing statement's savepoint, it fails alone, and the statements after it, not
/// acknowledged, are sent again. In `Mode::Bare` it fails alone too, and the transaction is
/// given up (`Piped::Guilty`).
fn pipeline(shared: &Shared, link: &Link, run: Vec<PgJob>, mode: Mode) -> Piped {
    let mut outputs: Vec<(PgJob, Output)> = Vec::with_capacity(run.len());
    // A job whose statement the server will not prepare, or whose values PostgreSQL cannot
    // take, fails here, before anything of it is sent.
    let mut left = VecDeque::with_capacity(run.len());
    let mut run = run.into_iter();
    while let Some(job) = run.next() {
        // Checked as sent (an INSERT with its RETURNING), the statement prepared once.
        let (prepared, encodable) = match &job.kind {
            Kind::Statement(st) => {
                let sql = as_sent(&st.sql);
                match link.prepare(&sql) {
                    Ok(()) => (Ok(()), link.encodable(&sql, &st.params)),
                    Err(e) => (Err(e), Ok(())),
                }
            }
            _ => (Ok(()), Ok(())),
        };
        match (prepared, encodable) {
            (Ok(()), Ok(())) => left.push_back(job),
            (Err(Error::ConnectionLost(_)), _) | (_, Err(Error::ConnectionLost(_))) => {
                left.push_back(job);
                return Piped::Lost(left.into_iter().chain(run).collect());
            }
            // The refusal aborted the transaction: a COMMIT now would quietly roll back what
            // was acknowledged before it, so the rest runs again without this job.
            (Err(e), _) => {
                fail(shared, job, e);
                return Piped::Broken(outputs.into_iter().map(|(j, _)| j).chain(left).chain(run).collect());
            }
            (Ok(()), Err(e)) => fail(shared, job, e),
        }
    }
    while !left.is_empty() {
        let read = {
            let sent: Vec<(String, &[Value])> = left
                .iter()
                .map(|j| match &j.kind {
                    Kind::Statement(st) => (as_sent(&st.sql).into_owned(), st.params.as_slice()),
                    _ => (String::new(), &[][..]),
                })
                .collect();
            let send = |i: usize| {
                let (sql, params) = &sent[i];
                let around = |verb: &str| (mode == Mode::Savepoints).then(|| link.send_owned(format!("{verb} s{i}")));
                let savepoint = around("SAVEPOINT");
                let statement = link.start(sql, params);
                let release = around("RELEASE SAVEPOINT");
                Wired {
                    savepoint,
                    statement,
                    release,
                }
            };
            // At most IN_FLIGHT statements unanswered: what a failure makes the server refuse.
            let mut wire = VecDeque::with_capacity(IN_FLIGHT.min(sent.len()));
            let mut read = Read {
                results: Vec::with_capacity(sent.len()),
                failure: Failure::None,
            };
            let mut next = 0;
            loop {
                while next < sent.len() && wire.len() < IN_FLIGHT {
                    wire.push_back(send(next));
                    next += 1;
                    if next % FLUSH_EVERY == 0 {
                        link.flush();
                    }
                }
                let Some(sent) = wire.pop_front() else { break };
                match answered(link, sent, read.results.len()) {
                    Ok(result) => read.results.push(result),
                    // What was sent after it only fails (25P02); the connection drops those
                    // answers unread, and what is sent next is answered after them.
                    Err(failure) => {
                        read.failure = failure;
                        break;
                    }
                }
            }
            read
        };
        for result in read.results {
            if let Some(job) = left.pop_front() {
                acknowledge(shared, job, result, &mut outputs);
            }
        }
        match read.failure {
            Failure::None => {}
            Failure::Lost => return Piped::Lost(unanswered(outputs, left)),
            Failure::Stale | Failure::Aborted => return Piped::Broken(unanswered(outputs, left)),
            Failure::At(_, error) if is_contention(&error) => {
                return Piped::Contended(unanswered(outputs, left), error)
            }
            Failure::At(_, error) if mode == Mode::Bare => {
                if let Some(job) = left.pop_front() {
                    fail(shared, job, error);
                }
                return Piped::Guilty(unanswered(outputs, left));
            }
            Failure::At(index, error) => {
                let undo = format!("ROLLBACK TO SAVEPOINT s{index}; RELEASE SAVEPOINT s{index}");
                match link.answer(link.send_owned(undo)) {
                    // Undone alone: its failure is its own; the ones after it go out again.
                    Ok(()) => {
                        if let Some(job) = left.pop_front() {
                            fail(shared, job, error);
                        }
                    }
                    Err(e) if is_connection_loss(&e) => return Piped::Lost(unanswered(outputs, left)),
                    Err(_) => return Piped::Broken(unanswered(outputs, left)),
                }
            }
        }
    }
    Piped::Done(outputs)
}

fn unanswered(outputs: Vec<(PgJob, Output)>, left: VecDeque<PgJob>) -> Vec<PgJob> {
    outputs.into_iter().map(|(j, _)| j).chain(left).collect()
}

/// A statement that succeeded: its output waits for the COMMIT.
fn acknowledge(shared: &Shared, mut job: PgJob, result: WriteResult, outputs: &mut Vec<(PgJob, Output)>) {
    let output = match &mut job.kind {
        Kind::Statement(st) => (st.finish)(Ok(result)),
        _ => Ok(Output::Write(result)),
    };
    match output {
        Ok(output) => outputs.push((job, output)),
        Err(e) => shared.settle_write(job, Err(e)),
    }
}

/// A statement that failed on its own, its work undone: it settles now.
fn fail(shared: &Shared, mut job: PgJob, error: Error) {
    let result = match &mut job.kind {
        Kind::Statement(st) => (st.finish)(Err(error)),
        _ => Err(error),
    };
    shared.settle_write(job, result);
}

enum Failure {
    None,
    Lost,
    /// Statement `i` (or its savepoint) failed with this error; nothing after it ran.
    At(usize, Error),
    /// A statement's cached plan went stale: the transaction runs again with fresh plans.
    Stale,
    /// The transaction had failed before this run (25P02 first): whatever broke it was
    /// settled already, and the run is not to blame.
    Aborted,
}

struct Read {
    /// The results of the statements before the failure (all of them without one).
    results: Vec<WriteResult>,
    failure: Failure,
}

/// One statement of a pipeline as sent: the answers to read, the statement's own, or why it
/// could not be sent; the SAVEPOINT and RELEASE around it in `Mode::Savepoints`.
struct Wired<'l> {
    savepoint: Option<Pending<'l>>,
    statement: Result<PendingRows<'l>>,
    release: Option<Pending<'l>>,
}

/// Why a request of a pipeline failed: the server's answer, or it was never sent.
enum Refusal {
    Answer(Fault),
    Unsent(Error),
}

/// The answers to statement `i` of a pipeline: what it wrote, or why it failed.
fn answered(link: &Link, sent: Wired<'_>, i: usize) -> std::result::Result<WriteResult, Failure> {
    let answer = |p: Option<Pending<'_>>| p.map_or(Ok(()), |p| link.answer(p).map_err(Refusal::Answer));
    let savepoint = answer(sent.savepoint);
    let statement = match sent.statement {
        Ok(pending) => link.finish(pending).map_err(Refusal::Answer),
        Err(e) => Err(Refusal::Unsent(e)),
    };
    let release = answer(sent.release);
    let first = match (savepoint, statement, release) {
        (Ok(()), Ok((rows, changes)), Ok(())) => return Ok(link.written(&rows, changes)),
        (Err(e), _, _) | (Ok(()), Err(e), _) | (Ok(()), Ok(_), Err(e)) => e,
    };
    Err(match first {
        Refusal::Unsent(Error::ConnectionLost(_)) => Failure::Lost,
        Refusal::Unsent(e) => Failure::At(i, e),
        Refusal::Answer(f) if is_connection_loss(&f) => Failure::Lost,
        // A cached plan made stale by another host's DDL: no fault of the statement's.
        Refusal::Answer(f) if link.went_stale(&f) => Failure::Stale,
        Refusal::Answer(f) if is_in_failed_transaction(&f) => Failure::Aborted,
        Refusal::Answer(f) => Failure::At(i, convert(f, link.query_timeout())),
    })
}

fn lost(done: Vec<(PgJob, Output)>, unfinished: impl Iterator<Item = PgJob>, committing: bool) -> Attempt {
    let jobs = done.into_iter().map(|(j, _)| j).chain(unfinished).collect();
    Attempt::Lost { jobs, committing }
}

fn replay(link: &Link, done: Vec<(PgJob, Output)>, unfinished: impl Iterator<Item = PgJob>) -> Attempt {
    let _ = link.batch("ROLLBACK");
    Attempt::Replay(done.into_iter().map(|(j, _)| j).chain(unfinished).collect())
}

fn contended(link: &Link, done: Vec<(PgJob, Output)>, unfinished: impl Iterator<Item = PgJob>, why: Error) -> Attempt {
    let _ = link.batch("ROLLBACK");
    Attempt::Contended {
        jobs: done.into_iter().map(|(j, _)| j).chain(unfinished).collect(),
        why,
    }
}
