//! Streaming a query's rows (`pool.iterate()`): one reader keeps one statement, and with it one
//! read snapshot, while its consumer pulls; each request gets the next `batch` rows, so memory
//! holds the chunk being consumed and at most one being made, whatever the query returns.
//!
//! Who holds what, and what lets go:
//! - The reader that takes the iteration holds its statement and a long pass through the read
//!   gate. Resetting the statement ends the read transaction; that happens after the last row
//!   (read one row ahead, so the end is known with the last chunk), on a statement error, when
//!   the consumer closes the iterator (`break`, `return()`, a throw in the loop body), when its
//!   handle is dropped, when the pool closes, and when the consumer has not pulled for
//!   `queryTimeout`.
//! - Every `next()` of the consumer is a pull and restarts the idle clock; the reader waits for
//!   the next request with a bounded wait on that clock, so it is never held longer than the
//!   consumer holds the iterator. The reader lets go before the end is published: a consumer
//!   that learns the iteration ended (`QUERY_TIMEOUT`, `POOL_CLOSED`, a closed iterator) finds
//!   the reader already free.
//! - For the WAL an iteration is a long snapshot, like a worker query
//!   ([`ReadGate::enter_long`](crate::pool::wal::ReadGate::enter_long)): the writer never waits
//!   for it and point reads never pause for it; a reset owed meanwhile happens as soon as it
//!   ends, and past twice `walLimit` the writer paces its commits.
//! - Each chunk runs under the query deadline like any statement, and a reader serving an
//!   iteration still answers health pings.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{never, select, unbounded, Receiver, Sender, TryRecvError};
use rusqlite::{Connection, Rows};

use crate::error::{Error, Result};
use crate::pool::context::ThreadContext;
use crate::pool::health::Ping;
use crate::pool::job::{Completion, Job, Output};
use crate::pool::lanes::Lane;
use crate::pool::repair::Slot;
use crate::pool::sql::{check_text, prepare_read};
use crate::pool::Pool;
use crate::sqlite::deadline::Deadline;
use crate::sqlite::guard;
use crate::sqlite::{Params, RowSet, Value};

/// Rows per chunk when the caller does not say.
pub const DEFAULT_BATCH: usize = 256;
/// Most rows per chunk: bigger chunks save little and cost memory on both sides.
pub const MAX_BATCH: usize = 10_000;

/// `last_pull` once the iteration ended.
const ENDED: u64 = u64::MAX;

/// The chunk size for `requested` (the caller's `batchSize`, if any).
pub fn batch_size(requested: Option<f64>) -> Result<usize> {
    match requested {
        None => Ok(DEFAULT_BATCH),
        Some(n) if n.fract() == 0.0 && (1.0..=MAX_BATCH as f64).contains(&n) => Ok(n as usize),
        Some(n) => Err(Error::invalid(format!(
            "batchSize must be an integer from 1 to {MAX_BATCH}, not {n}"
        ))),
    }
}

/// What a consumer asks of the reader serving its iteration.
pub enum Request {
    /// The next chunk: rows, or none once every row was delivered.
    Next(Completion),
    /// The consumer is done (`why` None), or its pool object closed (`why` POOL_CLOSED, which
    /// later requests get); `done` runs once the reader let go.
    Close { why: Option<Error>, done: Completion },
}

impl Request {
    fn answer(self, why: &Option<Error>) {
        match self {
            Request::Next(done) => done(match why {
                Some(e) => Err(e.clone()),
                None => Ok(Output::Rows(RowSet::default())),
            }),
            Request::Close { done, .. } => done(Ok(Output::Done)),
        }
    }
}

enum Phase {
    /// Waiting for a reader.
    Queued,
    Serving,
    /// Its pool object closed: pulls fail with this at once, before the reader let go.
    Closing(Error),
    /// What later requests get: an error, or (None) no more rows.
    Ended(Option<Error>),
}

/// What the consumer's side and the reader share.
struct State {
    epoch: Instant,
    /// Microseconds after `epoch` of the consumer's last pull (or of the last chunk handed
    /// over); `ENDED` once the iteration ended.
    last_pull: AtomicU64,
    /// The consumer closed the iterator: a chunk being read stops early.
    abandoned: AtomicBool,
    /// Held by the reader from its decision to end until the end is published.
    phase: Mutex<Phase>,
}

impl State {
    fn new() -> State {
        State {
            epoch: Instant::now(),
            last_pull: AtomicU64::new(0),
            abandoned: AtomicBool::new(false),
            phase: Mutex::new(Phase::Queued),
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    fn phase(&self) -> MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Restarts the idle clock; false once the iteration ended.
    fn touch(&self) -> bool {
        let now = self.now();
        self.last_pull
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |seen| {
                (seen != ENDED).then_some(now)
            })
            .is_ok()
    }

    /// Ends an iteration no reader took (refused at admission or submission).
    fn refuse(&self, requests: &Receiver<Request>, err: Error) {
        let why = Some(err);
        let pending: Vec<Request> = {
            let mut phase = self.phase();
            if matches!(*phase, Phase::Ended(_)) {
                return;
            }
            self.last_pull.store(ENDED, Ordering::Release);
            *phase = Phase::Ended(why.clone());
            requests.try_iter().collect()
        };
        for request in pending {
            request.answer(&why);
        }
    }
}

/// The consumer's side of an iteration.
pub struct Handle {
    requests: Sender<Request>,
    state: Arc<State>,
}

/// What the consumer calls on every pull; keeps only the shared state alive.
pub struct Puller {
    state: Arc<State>,
}

impl Puller {
    /// The consumer pulled a row (its `next()`): restarts the idle clock. Fails once the
    /// iteration timed out or its pool closed.
    pub fn pull(&self) -> Result<()> {
        if self.state.touch() {
            return Ok(());
        }
        match &*self.state.phase() {
            Phase::Ended(Some(e)) | Phase::Closing(e) => Err(e.clone()),
            _ => Ok(()),
        }
    }
}

impl Handle {
    /// The consumer's pulls, as a value of their own.
    pub fn puller(&self) -> Puller {
        Puller {
            state: Arc::clone(&self.state),
        }
    }

    /// As [`Puller::pull`].
    pub fn pull(&self) -> Result<()> {
        self.puller().pull()
    }

    /// Asks for the next chunk; `done` gets its rows (none once all were delivered) or the error
    /// that ended the iteration.
    pub fn next(&self, done: Completion) {
        self.state.touch();
        let answered = {
            let phase = self.state.phase();
            match &*phase {
                Phase::Ended(why) => Some((Request::Next(done), why.clone())),
                Phase::Closing(why) => Some((Request::Next(done), Some(why.clone()))),
                // Sent under the lock: a reader ending meanwhile finds it and answers it.
                _ => self
                    .requests
                    .send(Request::Next(done))
                    .err()
                    .map(|unsent| (unsent.into_inner(), Some(Error::PoolClosed))),
            }
        };
        if let Some((request, why)) = answered {
            request.answer(&why);
        }
    }

    /// Ends the iteration; `done` runs once the reader let go of it (at once if none had taken
    /// it yet). With `why`, later requests fail with it.
    pub fn close(&self, why: Option<Error>, done: Completion) {
        self.state.abandoned.store(true, Ordering::Relaxed);
        let answered = {
            let mut phase = self.state.phase();
            match &*phase {
                Phase::Queued => {
                    self.state.last_pull.store(ENDED, Ordering::Release);
                    *phase = Phase::Ended(why);
                    Some(done)
                }
                Phase::Serving | Phase::Closing(_) => {
                    if let Some(why) = &why {
                        self.state.last_pull.store(ENDED, Ordering::Release);
                        *phase = Phase::Closing(why.clone());
                    }
                    match self.requests.send(Request::Close { why, done }) {
                        Ok(()) => None,
                        Err(unsent) => match unsent.into_inner() {
                            Request::Close { done, .. } | Request::Next(done) => Some(done),
                        },
                    }
                }
                Phase::Ended(_) => Some(done),
            }
        };
        if let Some(done) = answered {
            done(Ok(Output::Done));
        }
    }
}

/// The reader's side of an iteration, carried to it in a [`Job`].
pub struct Cursor {
    sql: String,
    params: Params,
    batch: usize,
    requests: Receiver<Request>,
    state: Arc<State>,
}

/// How an iteration ended, held until it is published.
struct Exit<'s> {
    /// Locked from the decision to end, so no consumer sees the end before the reader let go.
    phase: MutexGuard<'s, Phase>,
    why: Option<Error>,
    /// The request being served when it ended, with its answer.
    reply: Option<(Completion, Result<Output>)>,
    /// The connection must be replaced.
    broken: bool,
}

impl Exit<'_> {
    fn publish(self, requests: &Receiver<Request>) {
        let Exit {
            mut phase, why, reply, ..
        } = self;
        *phase = Phase::Ended(why.clone());
        let pending: Vec<Request> = requests.try_iter().collect();
        drop(phase);
        if let Some((done, result)) = reply {
            done(result);
        }
        for request in pending {
            request.answer(&why);
        }
    }
}

impl Cursor {
    fn exit(&self, why: Option<Error>, reply: Option<(Completion, Result<Output>)>) -> Exit<'_> {
        let phase = self.state.phase();
        self.state.last_pull.store(ENDED, Ordering::Release);
        Exit {
            phase,
            why,
            reply,
            broken: false,
        }
    }

    /// Serves requests until the iteration ends; the statement is reset when this returns.
    /// `exec` sums the time spent reading rows.
    fn stream<'s>(
        &'s self,
        ctx: &ThreadContext,
        conn: &Connection,
        deadline: &Deadline,
        pings: &mut Receiver<Ping>,
        answer: &dyn Fn(Ping, bool),
        exec: &mut Duration,
    ) -> Exit<'s> {
        let mut stmt = match prepare_read(conn, &self.sql, &self.params) {
            Ok(stmt) => stmt,
            Err(e) => return self.exit(Some(e), None),
        };
        let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
        let mut rows = stmt.raw_query();
        // The row read past the last chunk, which opens the next.
        let mut ahead: Option<Vec<Value>> = None;
        // An error met reading ahead: the next request gets it.
        let mut failed: Option<Error> = None;
        let idle = ctx.config.query_timeout;
        loop {
            if ctx.aborted() || matches!(ctx.closing.try_recv(), Err(TryRecvError::Disconnected)) {
                return self.exit(Some(Error::PoolClosed), None);
            }
            let seen = self.state.last_pull.load(Ordering::Acquire);
            let since = Duration::from_micros(self.state.now().saturating_sub(seen));
            let mut pings_gone = false;
            select! {
                recv(self.requests) -> msg => match msg {
                    Ok(Request::Next(done)) => {
                        if let Some(e) = failed.take() {
                            return self.exit(Some(e.clone()), Some((done, Err(e))));
                        }
                        let mut values = ahead.take().unwrap_or_default();
                        let started = Instant::now();
                        let (more, broken) =
                            ctx.guarded(deadline, || self.fill(&mut rows, columns.len(), &mut values, &mut ahead));
                        *exec += started.elapsed();
                        let chunk = Output::Rows(RowSet {
                            columns: columns.clone(),
                            values,
                            described: None,
                        });
                        match more {
                            Ok(Read::More) => {
                                self.state.touch();
                                done(Ok(chunk));
                            }
                            Ok(Read::Failed(e)) => {
                                self.state.touch();
                                failed = Some(e);
                                done(Ok(chunk));
                            }
                            Ok(Read::Done) => return self.exit(None, Some((done, Ok(chunk)))),
                            Err(e) => {
                                let mut exit = self.exit(Some(e.clone()), Some((done, Err(e))));
                                exit.broken = broken;
                                return exit;
                            }
                        }
                    }
                    Ok(Request::Close { why, done }) => return self.exit(why, Some((done, Ok(Output::Done)))),
                    // The consumer's handle is gone.
                    Err(_) => return self.exit(None, None),
                },
                recv(pings) -> msg => match msg {
                    Ok(ping) => answer(ping, ctx.connector.probe(conn)),
                    Err(_) => pings_gone = true,
                },
                recv(ctx.closing) -> _ => return self.exit(Some(Error::PoolClosed), None),
                default(idle.saturating_sub(since)) => {
                    let phase = self.state.phase();
                    // ENDED here: the pool object is closing, and its request is on its way.
                    let expired = seen != ENDED
                        && self
                            .state
                            .last_pull
                            .compare_exchange(seen, ENDED, Ordering::AcqRel, Ordering::Acquire)
                            .is_ok();
                    if expired {
                        ctx.stats.timeouts.fetch_add(1, Ordering::Relaxed);
                        return Exit {
                            phase,
                            why: Some(Error::IterationIdle { limit: idle }),
                            reply: None,
                            broken: false,
                        };
                    }
                    // Pulled meanwhile: wait on from the new pull.
                }
            }
            if pings_gone {
                *pings = never();
            }
        }
    }

    /// Reads up to `batch` rows into `values` (which may hold the row read ahead), then one more
    /// into `ahead`. Errors met before the chunk is full fail it; one met reading ahead is kept
    /// for the next request.
    fn fill(
        &self,
        rows: &mut Rows<'_>,
        width: usize,
        values: &mut Vec<Value>,
        ahead: &mut Option<Vec<Value>>,
    ) -> Result<Read> {
        let mut count = usize::from(!values.is_empty());
        while count < self.batch {
            if self.state.abandoned.load(Ordering::Relaxed) {
                return Ok(Read::More);
            }
            let Some(row) = rows.next()? else {
                return Ok(Read::Done);
            };
            for i in 0..width {
                values.push(Value::from_ref(row.get_ref(i)?));
            }
            count += 1;
        }
        let next = match rows.next() {
            Ok(Some(row)) => (0..width)
                .map(|i| row.get_ref(i).map(Value::from_ref))
                .collect::<rusqlite::Result<Vec<_>>>(),
            Ok(None) => return Ok(Read::Done),
            Err(e) => Err(e),
        };
        match next {
            Ok(row) => {
                *ahead = Some(row);
                Ok(Read::More)
            }
            // An interrupt is the chunk's deadline: the chunk itself failed.
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted) => Err(e.into()),
            Err(e) => Ok(Read::Failed(e.into())),
        }
    }
}

/// What reading a chunk found after its rows.
enum Read {
    More,
    Done,
    /// Reading ahead failed: the chunk is whole, the next request gets this.
    Failed(Error),
}

/// Serves the iteration `job` opens on a reader's connection until it ends: the consumer's
/// requests, and the health pings the reader would answer meanwhile (`answer`).
pub fn serve(ctx: &ThreadContext, job: Job, slot: &mut Slot, pings: &mut Receiver<Ping>, answer: &dyn Fn(Ping, bool)) {
    let mut job = match ctx.admit(Lane::Read, job) {
        Ok(job) => job,
        Err((job, err)) => return ctx.refuse(Lane::Read, job, err),
    };
    let Some(cursor) = job.cursor.take() else {
        return (job.done)(Err(Error::Internal("an iteration job without its cursor".into())));
    };
    {
        let mut phase = cursor.state.phase();
        if !matches!(*phase, Phase::Queued) {
            // Closed before a reader took it.
            return (job.done)(Ok(Output::Done));
        }
        *phase = Phase::Serving;
    }
    let busy = &ctx.lane(Lane::Read).busy;
    busy.fetch_add(1, Ordering::Relaxed);
    let pass = ctx.gate.enter_long();
    // The idle clock starts once the snapshot can be taken, after any wait at the gate.
    cursor.state.touch();
    let mut exec = Duration::ZERO;
    let exit = cursor.stream(ctx, &slot.conn, &slot.deadline, pings, answer, &mut exec);
    // The statement is reset, so the snapshot is released; a read-only statement cannot leave a
    // transaction open, but if one were, it must not outlive the iteration.
    if !slot.conn.is_autocommit() {
        let _ = guard::internal(|| slot.conn.execute_batch("ROLLBACK"));
    }
    drop(pass);
    busy.fetch_sub(1, Ordering::Relaxed);
    let outcome = match &exit.why {
        Some(e) => Err(e.clone()),
        None => Ok(Output::Done),
    };
    ctx.account(Lane::Read, job.queued_at, exec, &outcome);
    let broken = exit.broken;
    exit.publish(&cursor.requests);
    if broken {
        slot.recover(ctx);
    }
    (job.done)(Ok(Output::Done));
}

impl Pool {
    /// Opens an iteration of a read-only query's rows, `batch` at a time, on a reader (queued
    /// like any read). The handle asks for chunks; errors reach its first request.
    pub fn iterate(&self, sql: String, params: Params, batch: usize) -> Result<Handle> {
        let checked = check_text(&sql).and_then(|()| {
            if (1..=MAX_BATCH).contains(&batch) {
                Ok(())
            } else {
                Err(Error::invalid(format!(
                    "batchSize must be an integer from 1 to {MAX_BATCH}, not {batch}"
                )))
            }
        });
        if let Err(e) = checked {
            self.reject(Lane::Read, e.clone(), Box::new(|_| {}));
            return Err(e);
        }
        let (tx, rx) = unbounded();
        let state = Arc::new(State::new());
        let refused: Completion = {
            let (state, rx) = (Arc::clone(&state), rx.clone());
            Box::new(move |result| {
                if let Err(e) = result {
                    state.refuse(&rx, e);
                }
            })
        };
        let work = Box::new(|_: &Connection| Err(Error::Internal("an iteration runs only on a reader".into())));
        let mut job = Job::new(work, refused);
        job.alone = true;
        job.cursor = Some(Box::new(Cursor {
            sql,
            params,
            batch,
            requests: rx,
            state: Arc::clone(&state),
        }));
        self.submit(Lane::Read, job);
        Ok(Handle { requests: tx, state })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PoolConfig;
    use crate::pool::sql::{wait, Fetch};
    use crate::pool::tests::{one_reader, open, read, small_config, write};

    fn next(handle: &Handle) -> Result<RowSet> {
        match wait(|done| handle.next(done))? {
            Output::Rows(rows) => Ok(rows),
            other => Err(Error::Internal(format!("not rows: {other:?}"))),
        }
    }

    fn close(handle: &Handle) -> Result<()> {
        wait(|done| handle.close(None, done)).map(|_| ())
    }

    fn ids(rows: &RowSet) -> Vec<i64> {
        rows.rows()
            .map(|r| match r[0] {
                Value::Integer(i) => i,
                _ => -1,
            })
            .collect()
    }

    fn fill(pool: &Pool, n: usize) -> Result<()> {
        let sql = format!(
            "INSERT INTO t(id, v) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n}) SELECT x, 'v' || x FROM c"
        );
        write(pool, &sql, Params::None).map(|_| ())
    }

    /// Pool `name` with `rows` rows in `t`, and an iteration of their ids in chunks of `batch`
    /// that has taken its first chunk.
    fn iterating(name: &str, config: PoolConfig, rows: usize, batch: usize) -> Result<(Arc<Pool>, Handle)> {
        let pool = open(name, config)?;
        fill(&pool, rows)?;
        let handle = pool.iterate("SELECT id FROM t".into(), Params::None, batch)?;
        next(&handle)?;
        Ok((pool, handle))
    }

    #[test]
    fn chunks_hold_every_row_once_in_order() -> Result<()> {
        let pool = open("cursor-chunks", small_config())?;
        fill(&pool, 10)?;
        let handle = pool.iterate("SELECT id, v FROM t ORDER BY id".into(), Params::None, 4)?;
        let (a, b, c, d) = (next(&handle)?, next(&handle)?, next(&handle)?, next(&handle)?);
        assert_eq!(ids(&a), vec![1, 2, 3, 4]);
        assert_eq!(ids(&b), vec![5, 6, 7, 8]);
        assert_eq!(ids(&c), vec![9, 10]);
        assert_eq!(d.row_count(), 0, "after the last chunk: no rows");
        assert_eq!(a.columns, vec!["id".to_string(), "v".to_string()]);
        let all = read(&pool, "SELECT id, v FROM t ORDER BY id", Fetch::All)?;
        let Output::Rows(all) = all else { unreachable!() };
        let streamed: Vec<Value> = [a, b, c].into_iter().flat_map(|r| r.values).collect();
        assert_eq!(streamed, all.values);
        Ok(())
    }

    #[test]
    fn the_reader_lets_go_with_the_last_row() -> Result<()> {
        // 8 rows in chunks of 4: reading ahead finds the end with the second chunk.
        let (pool, handle) = iterating("cursor-last", small_config(), 8, 4)?;
        next(&handle)?;
        assert_eq!(pool.stats().read.busy.load(Ordering::Relaxed), 0);
        assert_eq!(pool.ctx.gate.workers_inside(), 0);
        assert_eq!(next(&handle)?.row_count(), 0);
        Ok(())
    }

    #[test]
    fn one_snapshot_for_the_whole_iteration() -> Result<()> {
        let pool = open("cursor-snapshot", small_config())?;
        fill(&pool, 6)?;
        let handle = pool.iterate("SELECT id FROM t ORDER BY id".into(), Params::None, 2)?;
        assert_eq!(ids(&next(&handle)?), vec![1, 2]);
        write(&pool, "DELETE FROM t", Params::None)?;
        fill(&pool, 2)?;
        assert_eq!(ids(&next(&handle)?), vec![3, 4]);
        assert_eq!(ids(&next(&handle)?), vec![5, 6]);
        Ok(())
    }

    #[test]
    fn closing_frees_the_reader_for_other_reads() -> Result<()> {
        let (pool, handle) = iterating("cursor-close", one_reader(), 100, 10)?;
        assert_eq!(pool.stats().read.busy.load(Ordering::Relaxed), 1);
        close(&handle)?;
        assert_eq!(
            pool.stats().read.busy.load(Ordering::Relaxed),
            0,
            "free once close resolved"
        );
        let n = read(&pool, "SELECT count(*) FROM t", Fetch::First)?;
        assert!(matches!(n, Output::Row(Some(_))));
        assert_eq!(next(&handle)?.row_count(), 0, "a closed iteration has no more rows");
        Ok(())
    }

    #[test]
    fn an_idle_consumer_loses_its_iteration_and_the_reader_is_free_at_once() -> Result<()> {
        let config = PoolConfig {
            max_readers: 1,
            query_timeout: Duration::from_millis(100),
            ..small_config()
        };
        let (pool, handle) = iterating("cursor-idle", config, 100, 10)?;
        // Pulls keep it alive past the timeout...
        for _ in 0..4 {
            std::thread::sleep(Duration::from_millis(40));
            handle.pull()?;
        }
        assert_eq!(next(&handle)?.row_count(), 10);
        // ... and no pull for longer ends it, without any call from the consumer.
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(pool.stats().read.busy.load(Ordering::Relaxed), 0);
        assert_eq!(handle.pull().map_err(|e| e.code()), Err("QUERY_TIMEOUT"));
        assert_eq!(next(&handle).map_err(|e| e.code()).err(), Some("QUERY_TIMEOUT"));
        Ok(())
    }

    #[test]
    fn an_error_mid_stream_fails_the_request_that_meets_it() -> Result<()> {
        let pool = open("cursor-error", small_config())?;
        fill(&pool, 10)?;
        // abs(-9223372036854775808) overflows at the row with id 7.
        let sql = "SELECT id, abs(CASE WHEN id = 7 THEN -9223372036854775807 - 1 ELSE id END) AS a FROM t ORDER BY id";
        let handle = pool.iterate(sql.into(), Params::None, 3)?;
        assert_eq!(ids(&next(&handle)?), vec![1, 2, 3]);
        assert_eq!(
            ids(&next(&handle)?),
            vec![4, 5, 6],
            "the error is met reading ahead, after a whole chunk"
        );
        let err = next(&handle).expect_err("row 7 fails");
        assert_eq!(err.code(), "SQLITE_ERROR", "{err}");
        assert_eq!(next(&handle).expect_err("ended").code(), "SQLITE_ERROR");
        assert_eq!(pool.stats().read.busy.load(Ordering::Relaxed), 0);
        Ok(())
    }

    #[test]
    fn writes_and_bad_sizes_are_refused() -> Result<()> {
        let pool = open("cursor-refused", small_config())?;
        let handle = pool.iterate("DELETE FROM t".into(), Params::None, 10)?;
        assert_eq!(next(&handle).expect_err("a write").code(), "READ_ONLY");
        for bad in [0, MAX_BATCH + 1] {
            let refused = pool
                .iterate("SELECT 1".into(), Params::None, bad)
                .err()
                .map(|e| e.code());
            assert_eq!(refused, Some("INVALID_ARGUMENT"));
        }
        assert_eq!(batch_size(None)?, DEFAULT_BATCH);
        for bad in [0.0, -1.0, 1.5, f64::NAN, f64::INFINITY, (MAX_BATCH + 1) as f64] {
            assert_eq!(batch_size(Some(bad)).map_err(|e| e.code()), Err("INVALID_ARGUMENT"));
        }
        Ok(())
    }

    #[test]
    fn closing_the_pool_ends_open_iterations() -> Result<()> {
        let (pool, handle) = iterating("cursor-pool-close", small_config(), 100, 10)?;
        let started = Instant::now();
        wait(|done| pool.close(done))?;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "close waited for the consumer"
        );
        assert_eq!(next(&handle).expect_err("closed").code(), "POOL_CLOSED");
        assert_eq!(handle.pull().map_err(|e| e.code()), Err("POOL_CLOSED"));
        Ok(())
    }

    #[test]
    fn the_wal_is_reset_once_an_iteration_ends() -> Result<()> {
        let config = PoolConfig {
            wal_limit: 64 * 1024,
            ..small_config()
        };
        let (pool, handle) = iterating("cursor-wal", config, 100, 10)?;
        let big = "x".repeat(4000);
        for _ in 0..100 {
            write(
                &pool,
                "INSERT INTO t(v) VALUES (? || random())",
                Params::Positional(vec![Value::Text(big.clone())]),
            )?;
        }
        let pinned = crate::pool::wal::wal_size(pool.path());
        assert!(
            pinned > 64 * 1024,
            "the snapshot kept the WAL from being reset ({pinned} bytes)"
        );
        close(&handle)?;
        let until = Instant::now() + Duration::from_secs(5);
        while crate::pool::wal::wal_size(pool.path()) > 64 * 1024 && Instant::now() < until {
            write(&pool, "INSERT INTO t(v) VALUES (random())", Params::None)?;
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            crate::pool::wal::wal_size(pool.path()) <= 64 * 1024,
            "reset once the iteration ended"
        );
        Ok(())
    }

    #[test]
    fn an_iteration_closed_while_queued_never_takes_a_reader() -> Result<()> {
        let (pool, first) = iterating("cursor-queued", one_reader(), 20, 5)?;
        let queued = pool.iterate("SELECT id FROM t".into(), Params::None, 5)?;
        let started = Instant::now();
        close(&queued)?;
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "closing a queued iteration waits for nothing"
        );
        assert_eq!(next(&queued)?.row_count(), 0);
        close(&first)?;
        let n = read(&pool, "SELECT 1", Fetch::First)?;
        assert!(matches!(n, Output::Row(Some(_))));
        assert_eq!(pool.stats().read.busy.load(Ordering::Relaxed), 0);
        Ok(())
    }

    #[test]
    fn closed_by_its_owner_pulls_fail_at_once() -> Result<()> {
        let (pool, handle) = iterating("cursor-owner", small_config(), 20, 5)?;
        handle.close(Some(Error::PoolClosed), Box::new(|_| {}));
        assert_eq!(handle.pull().map_err(|e| e.code()), Err("POOL_CLOSED"));
        assert_eq!(next(&handle).map_err(|e| e.code()).err(), Some("POOL_CLOSED"));
        let until = Instant::now() + Duration::from_secs(2);
        while pool.stats().read.busy.load(Ordering::Relaxed) > 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(pool.stats().read.busy.load(Ordering::Relaxed), 0);
        Ok(())
    }

    #[test]
    fn a_reader_serving_an_iteration_answers_health_checks() -> Result<()> {
        let pool = open("cursor-health", one_reader())?;
        fill(&pool, 20)?;
        let handle = pool.iterate("SELECT id FROM t ORDER BY id".into(), Params::None, 5)?;
        next(&handle)?;
        let started = Instant::now();
        wait(|done| pool.check_health(done))?;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(pool.health().readers_answering.load(Ordering::Relaxed), 1);
        assert!(pool.health().healthy.load(Ordering::Relaxed));
        assert_eq!(
            ids(&next(&handle)?),
            vec![6, 7, 8, 9, 10],
            "the iteration goes on after the ping"
        );
        Ok(())
    }
}
