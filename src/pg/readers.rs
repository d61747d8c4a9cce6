//! The read lanes on PostgreSQL: readers (`POOL_PG_POOL_SIZE` threads) take point reads, workers
//! (`POOL_MAX_WORKERS` threads) take lists that may read many rows, so a point read never waits
//! behind a scan. Each thread owns one connection (its statements limited by `statement_timeout`
//! = `queryTimeout`) and takes jobs from its lane's queue. A reader takes what is queued, up to
//! `PIPELINE` jobs, sends the queries among them back to back and reads the answers in order, one
//! round trip for the lot; a worker takes one job at a time, as a scan costs far more than a round
//! trip and the next one runs in parallel on another worker's connection. A read that meets a lost connection runs again once on a new one (reads change
//! nothing); if none can be opened it rejects `CONNECTION_LOST`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use crossbeam_channel::Receiver;

use crate::error::{Error, Result};
use crate::pg::errors::{convert, is_connection_loss};
use crate::pg::link::{row_set, Link};
use crate::pg::{Kind, PgJob, Shared};
use crate::pool::job::Output;
use crate::pool::lanes::Lane;
use crate::store::seam::Session;

/// Queued reads a reader takes at once.
const PIPELINE: usize = 32;

/// Jobs a thread of `lane` takes at once.
fn takes(lane: Lane) -> usize {
    if lane == Lane::Worker {
        1
    } else {
        PIPELINE
    }
}

/// One reader's or worker's connection and whether its last attempt to connect failed (counted
/// in its lane's `down`).
struct Reader<'s> {
    shared: &'s Shared,
    lane: Lane,
    link: Option<Link>,
    down: bool,
    role: String,
}

/// Serves read lane `lane` (`Lane::Read` or `Lane::Worker`) until its queue closes.
pub fn run(shared: &Shared, queue: Receiver<PgJob>, lane: Lane, index: usize) {
    let mut reader = Reader {
        shared,
        lane,
        link: None,
        down: false,
        role: format!("{} {index}", if lane == Lane::Worker { "worker" } else { "reader" }),
    };
    while let Ok(first) = queue.recv() {
        let mut taken = vec![first];
        while taken.len() < takes(lane) {
            match queue.try_recv() {
                Ok(job) => taken.push(job),
                Err(_) => break,
            }
        }
        shared.dequeued_from(lane, taken.len());
        let started = Instant::now();
        let mut queries = Vec::new();
        for job in taken {
            if let Some(late) = shared.too_late(&job) {
                shared.settle_read(lane, job, Err(late), None);
            } else if matches!(job.kind, Kind::Query(_)) {
                queries.push(job);
            } else {
                reader.one(job, started);
            }
        }
        reader.pipelined(queries, started);
    }
    if reader.down {
        shared.down(lane).fetch_sub(1, Relaxed);
    }
}

/// The connection, opened (again) when there is none, it broke, or it outlived its lifetime;
/// `down` says whether its last attempt failed (counted in lane `lane`'s `down`).
fn connected<'l>(
    shared: &Shared,
    lane: Lane,
    link: &'l mut Option<Link>,
    down: &mut bool,
    role: &str,
) -> Result<&'l Link> {
    if link.as_ref().is_some_and(|l| l.is_closed() || l.expired()) {
        *link = None;
    }
    if link.is_none() {
        match Link::open(&shared.settings, role) {
            Ok(l) => {
                *link = Some(l);
                if std::mem::replace(down, false) {
                    shared.down(lane).fetch_sub(1, Relaxed);
                }
                shared.recovered();
            }
            Err(e) => {
                if !std::mem::replace(down, true) {
                    shared.down(lane).fetch_add(1, Relaxed);
                }
                shared.stats.failed_connections.fetch_add(1, Relaxed);
                shared.note_outage(&e);
                return Err(e);
            }
        }
    }
    link.as_ref()
        .ok_or_else(|| Error::Internal("no read connection".into()))
}

impl Reader<'_> {
    /// A read run on its own, retried once on a new connection if the link broke.
    fn one(&mut self, mut job: PgJob, started: Instant) {
        let busy = &self.shared.lane(self.lane).busy;
        busy.fetch_add(1, Relaxed);
        let mut result = self.run(&mut job);
        if matches!(result, Err(Error::ConnectionLost(_))) {
            result = self.run(&mut job);
        }
        busy.fetch_sub(1, Relaxed);
        self.shared.settle_read(self.lane, job, result, Some(started));
    }

    fn run(&mut self, job: &mut PgJob) -> Result<Output> {
        let result = {
            let l = connected(self.shared, self.lane, &mut self.link, &mut self.down, &self.role)?;
            // Behind a transaction pooler each read is its own read-only transaction, carrying
            // the query timeout; BEGIN and COMMIT ride along with the read's own requests.
            let begin = l
                .per_transaction()
                .map(|set| l.send_owned(format!("BEGIN READ ONLY; {set}")));
            let mut result = catch_unwind(AssertUnwindSafe(|| match &mut job.kind {
                Kind::Batched(work) => work(l),
                Kind::Query(q) => (q.shape)(Session::query(l, &q.sql, &q.params)),
                _ => Err(Error::Internal("only reads reach a reader".into())),
            }))
            .unwrap_or_else(|_| {
                Err(Error::Internal(
                    "a read job panicked; its connection was replaced".into(),
                ))
            });
            if let Some(begin) = begin {
                let commit = l.send("COMMIT");
                let answers = [l.answer(begin), l.answer(commit)];
                if let (Ok(_), Some(Err(e))) = (&result, answers.into_iter().find(|a| a.is_err())) {
                    result = Err(convert(e, l.query_timeout()));
                }
            }
            result
        };
        if matches!(result, Err(Error::ConnectionLost(_) | Error::Internal(_))) {
            self.link = None;
        }
        result
    }

    /// Sends every query, then reads the answers in order. Behind a transaction pooler (each
    /// read its own transaction) they go one by one.
    fn pipelined(&mut self, queries: Vec<PgJob>, started: Instant) {
        if queries.len() <= 1 || !self.shared.settings.prepared {
            for job in queries {
                self.one(job, started);
            }
            return;
        }
        let (shared, lane) = (self.shared, self.lane);
        let answers: Vec<std::result::Result<_, Option<Error>>> = {
            let l = match connected(shared, lane, &mut self.link, &mut self.down, &self.role) {
                Ok(l) => l,
                Err(e) => {
                    for job in queries {
                        shared.settle_read(lane, job, Err(e.clone()), Some(started));
                    }
                    return;
                }
            };
            shared.lane(lane).busy.fetch_add(queries.len(), Relaxed);
            let timeout = l.query_timeout();
            let sent: Vec<_> = queries
                .iter()
                .map(|job| match &job.kind {
                    Kind::Query(q) => l.start(&q.sql, &q.params),
                    _ => Err(Error::Internal("only queries are pipelined".into())),
                })
                .collect();
            let answers = sent
                .into_iter()
                .map(|pending| match pending {
                    Ok(p) => l
                        .finish(p)
                        .map_err(|e| {
                            // A lost link, or a cached plan another host's DDL made stale (now
                            // forgotten): run again alone, on a fresh link.
                            (!is_connection_loss(&e) && !l.went_stale(&e)).then(|| convert(e, timeout))
                        })
                        .and_then(|(rows, _)| row_set(&rows).map_err(Some)),
                    Err(Error::ConnectionLost(_)) => Err(None),
                    Err(e) => Err(Some(e)),
                })
                .collect();
            shared.lane(lane).busy.fetch_sub(queries.len(), Relaxed);
            answers
        };
        let mut lost = Vec::new();
        for (mut job, answer) in queries.into_iter().zip(answers) {
            let rows = match answer {
                Err(None) => {
                    lost.push(job);
                    continue;
                }
                Err(Some(e)) => Err(e),
                Ok(rows) => Ok(rows),
            };
            let result = match &mut job.kind {
                Kind::Query(q) => (q.shape)(rows),
                _ => Err(Error::Internal("only queries are pipelined".into())),
            };
            shared.settle_read(lane, job, result, Some(started));
        }
        if !lost.is_empty() {
            // The link broke under them: each runs again, alone, on a new connection.
            self.link = None;
            for job in lost {
                self.one(job, started);
            }
        }
    }
}
