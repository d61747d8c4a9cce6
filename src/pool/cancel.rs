//! Calling one job off (the pool side of a call's `AbortSignal`). A job called off while it waits
//! in its queue completes at once with `ABORTED` and never runs: it stays in the queue as an
//! empty husk until a thread reaches it and drops it. A read (reader or worker) called off while
//! it runs is interrupted on its own connection. A write that started is not stopped: undoing it
//! would roll back the other jobs of its group commit, so it runs to its end and resolves.
//!
//! Every transition happens under one lock, so an abort racing a job's start has one outcome:
//! either the job never runs, or it started and the abort is handled as for a running job.

use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, InterruptHandle};

use crate::error::{Error, Result};
use crate::pool::job::{Completion, Job, Output};
use crate::pool::lanes::Lane;
use crate::pool::Pool;

/// Where a call's job is.
enum Phase {
    /// The token was made; no job is bound to it yet.
    Unbound,
    /// The job waits in its queue; its completion is held here.
    Queued,
    /// The job runs; a read's handle interrupts its connection.
    Running(Option<InterruptHandle>),
    /// The job ran (a write may still run again when its group is replayed).
    Ran,
    /// Called off before the job started (or before it was submitted).
    Cancelled,
}

struct State {
    phase: Phase,
    /// The caller's completion while the job is queued or running.
    done: Option<Completion>,
    /// An abort interrupted the running job.
    interrupted: bool,
}

/// One call's cancel token, shared by the binding (which calls `cancel`) and the job.
pub struct Cancel {
    state: Mutex<State>,
}

/// How a job reports back: its completion, and the token that may call it off.
pub struct Reply {
    pub done: Completion,
    pub cancel: Option<Arc<Cancel>>,
}

impl From<Completion> for Reply {
    fn from(done: Completion) -> Reply {
        Reply { done, cancel: None }
    }
}

impl<F: FnOnce(Result<Output>) + Send + 'static> From<Box<F>> for Reply {
    fn from(done: Box<F>) -> Reply {
        Reply { done, cancel: None }
    }
}

impl Reply {
    pub fn new(done: Completion, cancel: Option<Arc<Cancel>>) -> Reply {
        Reply { done, cancel }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl Cancel {
    pub fn new() -> Arc<Cancel> {
        Arc::new(Cancel {
            state: Mutex::new(State {
                phase: Phase::Unbound,
                done: None,
                interrupted: false,
            }),
        })
    }

    /// Calls the job off: a queued job completes now with `ABORTED` (on the calling thread) and
    /// will not run; a running read is interrupted; a running or finished write is left alone.
    pub fn cancel(&self) {
        let done = {
            let mut state = lock(&self.state);
            match &state.phase {
                Phase::Unbound => {
                    state.phase = Phase::Cancelled;
                    None
                }
                Phase::Queued => {
                    state.phase = Phase::Cancelled;
                    state.done.take()
                }
                Phase::Running(Some(handle)) => {
                    // Under the lock: the job cannot finish meanwhile, so the interrupt lands on
                    // its own statements (SQLite forgets an interrupt that arrives between
                    // statements once the next one starts).
                    handle.interrupt();
                    state.interrupted = true;
                    None
                }
                Phase::Running(None) | Phase::Ran | Phase::Cancelled => None,
            }
        };
        if let Some(done) = done {
            done(Err(Error::Aborted { running: false }));
        }
    }

    /// Makes `job` answer to this token: its completion is held here (so an abort can complete
    /// it while it is queued) and its work checks in before running. Hands the completion back
    /// with the reason when the job must not be queued: the token was already cancelled, or it
    /// serves another job.
    fn bind(self: &Arc<Self>, mut job: Job, interruptible: bool) -> std::result::Result<Job, (Completion, Error)> {
        {
            let mut state = lock(&self.state);
            match state.phase {
                Phase::Unbound => {
                    state.phase = Phase::Queued;
                    let token = HandBack(Arc::clone(self));
                    let done = std::mem::replace(
                        &mut job.done,
                        Box::new(move |result| {
                            if let Some(done) = token.0.take_done() {
                                done(result)
                            }
                        }),
                    );
                    state.done = Some(done);
                }
                Phase::Cancelled => return Err((job.done, Error::Aborted { running: false })),
                _ => return Err((job.done, Error::invalid("an abort token serves one call only"))),
            }
        }
        let token = Arc::clone(self);
        let mut work = job.work;
        job.work = Box::new(move |conn: &Connection| {
            if !token.start(conn, interruptible) {
                return Err(Error::Aborted { running: false });
            }
            let running = Started(&token);
            let result = work(conn);
            match (result, running.finish()) {
                (
                    Err(Error::Sqlite {
                        code: "SQLITE_INTERRUPT",
                        ..
                    }),
                    true,
                ) => Err(Error::Aborted { running: true }),
                (result, _) => result,
            }
        });
        Ok(job)
    }

    /// The job is about to run: false when it was called off first.
    fn start(&self, conn: &Connection, interruptible: bool) -> bool {
        let mut state = lock(&self.state);
        match state.phase {
            Phase::Cancelled => false,
            _ => {
                state.phase = Phase::Running(interruptible.then(|| conn.get_interrupt_handle()));
                true
            }
        }
    }

    fn take_done(&self) -> Option<Completion> {
        lock(&self.state).done.take()
    }
}

/// The token as the job's completion holds it. A job dropped without being completed (its thread
/// died, its queue went away) would otherwise leave the caller's completion in the token, which
/// lives as long as the signal's listener: the promise would never settle, where a job without a
/// signal settles `POOL_CLOSED` when its completion is dropped. So dropping it settles the same.
struct HandBack(Arc<Cancel>);

impl Drop for HandBack {
    fn drop(&mut self) {
        if let Some(done) = self.0.take_done() {
            done(Err(Error::PoolClosed));
        }
    }
}

/// A started job; it has run once this is finished or dropped (a panic unwinding through it).
struct Started<'a>(&'a Cancel);

impl Started<'_> {
    /// Whether an abort interrupted the job.
    fn finish(self) -> bool {
        lock(&self.0.state).interrupted
    }
}

impl Drop for Started<'_> {
    fn drop(&mut self) {
        // The handle goes with the phase, so no abort can reach this connection afterwards.
        lock(&self.0.state).phase = Phase::Ran;
    }
}

impl Pool {
    /// Queues `job`, answering to `cancel` when the call has one: a token already cancelled
    /// rejects the job with `ABORTED` without queueing it. Reads and worker queries can be
    /// interrupted while they run; writes cannot.
    pub(crate) fn submit_cancellable(&self, lane: Lane, job: Job, cancel: Option<Arc<Cancel>>) {
        let Some(token) = cancel else {
            return self.submit(lane, job);
        };
        match token.bind(job, lane != Lane::Write) {
            Ok(job) => self.submit(lane, job),
            Err((done, err)) => self.reject(lane, err, done),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn is_aborted(result: &Result<Output>) -> bool {
        matches!(result, Err(Error::Aborted { .. }))
    }

    fn counting() -> (Completion, Arc<Mutex<Vec<Result<Output>>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        (Box::new(move |r| sink.lock().expect("lock").push(r)), seen)
    }

    fn job(runs: &Arc<AtomicUsize>, done: Completion) -> Job {
        let runs = Arc::clone(runs);
        Job::new(
            Box::new(move |_| {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok(Output::Done)
            }),
            done,
        )
    }

    #[test]
    fn a_queued_job_called_off_completes_at_once_and_never_runs() -> Result<()> {
        let conn = Connection::open_in_memory()?;
        let runs = Arc::new(AtomicUsize::new(0));
        let (done, seen) = counting();
        let token = Cancel::new();
        let mut job = token.bind(job(&runs, done), true).map_err(|(_, e)| e)?;
        token.cancel();
        assert_eq!(seen.lock().expect("lock").len(), 1);
        assert!(is_aborted(&seen.lock().expect("lock")[0]));
        // The husk reached later does nothing and settles nothing more.
        let result = (job.work)(&conn);
        (job.done)(result);
        assert_eq!(runs.load(Ordering::SeqCst), 0);
        assert_eq!(seen.lock().expect("lock").len(), 1);
        Ok(())
    }

    #[test]
    fn an_abort_after_the_job_ran_changes_nothing() -> Result<()> {
        let conn = Connection::open_in_memory()?;
        let runs = Arc::new(AtomicUsize::new(0));
        let (done, seen) = counting();
        let token = Cancel::new();
        let mut job = token.bind(job(&runs, done), true).map_err(|(_, e)| e)?;
        let result = (job.work)(&conn);
        token.cancel();
        (job.done)(result);
        token.cancel();
        let seen = seen.lock().expect("lock");
        assert_eq!((runs.load(Ordering::SeqCst), seen.len()), (1, 1));
        assert!(matches!(seen[0], Ok(Output::Done)));
        Ok(())
    }

    #[test]
    fn a_job_dropped_without_completing_settles_pool_closed_not_never() -> Result<()> {
        let runs = Arc::new(AtomicUsize::new(0));
        let (done, seen) = counting();
        let token = Cancel::new();
        let job = token.bind(job(&runs, done), true).map_err(|(_, e)| e)?;
        // Its thread died, or its queue was dropped: the token (held by the signal's listener)
        // outlives the job.
        drop(job);
        {
            let seen = seen.lock().expect("lock");
            assert_eq!(seen.len(), 1);
            assert_eq!(seen[0].as_ref().err().map(Error::code), Some("POOL_CLOSED"));
        }
        token.cancel();
        assert_eq!(seen.lock().expect("lock").len(), 1, "settled once");
        assert_eq!(runs.load(Ordering::SeqCst), 0);
        Ok(())
    }

    #[test]
    fn a_token_serves_one_job_and_a_cancelled_one_none() {
        let runs = Arc::new(AtomicUsize::new(0));
        let token = Cancel::new();
        let first = token.bind(job(&runs, Box::new(|_| {})), false);
        assert!(first.is_ok());
        let second = token.bind(job(&runs, Box::new(|_| {})), false);
        assert_eq!(second.err().map(|(_, e)| e.code()), Some("INVALID_ARGUMENT"));
        let cancelled = Cancel::new();
        cancelled.cancel();
        let refused = cancelled.bind(job(&runs, Box::new(|_| {})), false);
        assert_eq!(refused.err().map(|(_, e)| e.code()), Some("ABORTED"));
    }

    #[test]
    fn a_running_read_is_interrupted_and_the_connection_serves_the_next_one() -> Result<()> {
        let conn = Connection::open_in_memory()?;
        let token = Cancel::new();
        let stopper = Arc::clone(&token);
        let forever = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c";
        let (done, seen) = counting();
        let work: crate::pool::job::Work = Box::new(move |conn: &Connection| {
            // The abort arrives while the statement runs, from another thread.
            let stopper = Arc::clone(&stopper);
            let aborter = std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(50));
                stopper.cancel();
            });
            let r = conn.query_row(forever, [], |_| Ok(())).map_err(Error::from);
            let _ = aborter.join();
            r.map(|()| Output::Done)
        });
        let mut job = token.bind(Job::new(work, done), true).map_err(|(_, e)| e)?;
        let result = (job.work)(&conn);
        assert_eq!(result.as_ref().err().map(Error::code), Some("ABORTED"));
        (job.done)(result);
        assert_eq!(seen.lock().expect("lock").len(), 1);
        // A late abort finds the job ran and leaves the connection alone.
        token.cancel();
        let n: i64 = conn.query_row("SELECT 40 + 2", [], |r| r.get(0))?;
        assert_eq!(n, 42);
        Ok(())
    }

    #[test]
    fn a_running_write_is_not_interrupted() -> Result<()> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch("CREATE TABLE t(x)")?;
        let token = Cancel::new();
        let stopper = Arc::clone(&token);
        let work: crate::pool::job::Work = Box::new(move |conn: &Connection| {
            stopper.cancel();
            conn.execute("INSERT INTO t VALUES (1)", [])?;
            Ok(Output::Done)
        });
        let mut job = token
            .bind(Job::new(work, Box::new(|_| {})), false)
            .map_err(|(_, e)| e)?;
        assert!((job.work)(&conn).is_ok());
        let n: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
        assert_eq!(n, 1);
        Ok(())
    }

    #[test]
    fn a_write_called_off_behind_a_long_one_rejects_at_once_and_never_runs() -> Result<()> {
        use crate::pool::tests::{count, open, small_config};
        use crate::sqlite::Params;
        use std::time::Duration;

        let pool = open("cancel-queued", small_config())?;
        let (started, is_started) = crossbeam_channel::bounded(1);
        let (release, released) = crossbeam_channel::bounded::<()>(1);
        pool.write_with(
            Box::new(move |_| {
                let _ = started.send(());
                let _ = released.recv_timeout(Duration::from_secs(10));
                Ok(Output::Done)
            }),
            Box::new(|_| {}),
        );
        is_started
            .recv_timeout(Duration::from_secs(10))
            .map_err(|e| Error::Internal(e.to_string()))?;
        let token = Cancel::new();
        let (tx, rx) = crossbeam_channel::unbounded();
        let done: Completion = Box::new(move |r| {
            let _ = tx.send(r);
        });
        pool.execute(
            "INSERT INTO t(v) VALUES ('never')".into(),
            Params::None,
            crate::sqlite::Form::Objects,
            Reply::new(done, Some(Arc::clone(&token))),
        );
        token.cancel();
        // Settled while the writer is still held by the long job.
        let aborted = rx
            .recv_timeout(Duration::from_secs(1))
            .map_err(|e| Error::Internal(e.to_string()))?;
        assert_eq!(aborted.map_err(|e| e.code()), Err("ABORTED"));
        let _ = release.send(());
        crate::pool::tests::write(&pool, "INSERT INTO t(v) VALUES ('after')", Params::None)?;
        assert_eq!(count(&pool)?, 1);
        assert!(rx.try_recv().is_err(), "the husk settles nothing more");
        Ok(())
    }
}
