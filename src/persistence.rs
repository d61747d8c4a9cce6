//! The persistence core behind `SwarmPersistencePooled`, in plain Rust: where the database is,
//! the lifecycle (initialize once, concurrent callers share it, a failure can be retried, close
//! sticks), and the operation counts. The binding converts arguments and results around it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::config::PoolConfig;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::pool::job::{Completion, Output};
use crate::pool::snapshot::PoolSnapshot;
use crate::store::{OpStats, Store};

type Waiter = Box<dyn FnOnce(Result<Arc<Store>>) + Send>;

/// How the database is opened; the binding adds its environment teardown hook.
pub type Acquire<'a> = &'a mut dyn FnMut(&str, PoolConfig) -> Result<Arc<dyn Engine>>;

enum State {
    Idle,
    /// Opening; these run once the schema is ready (or initialization failed).
    Opening(Vec<Waiter>),
    Ready(Arc<Store>),
    Closed,
}

/// The default database: `POOL_DB_URL` (a PostgreSQL server), else `POOL_DB_PATH` (a file, or a
/// `postgres://` URL too), else `./data/swarm.db` under the working directory.
pub fn default_path() -> String {
    ["POOL_DB_URL", "POOL_DB_PATH"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|p| !p.trim().is_empty()))
        .unwrap_or_else(|| PathBuf::from(".").join("data").join("swarm.db").display().to_string())
}

pub struct Persistence {
    path: String,
    /// The options over `POOL_*`; a bad value is reported by `initialize()` and every call, as
    /// ruv-swarm's pool reported it, so constructing at module scope never fails.
    config: Result<PoolConfig>,
    state: Arc<Mutex<State>>,
    /// Set by `close()`: an initialization still running then ends closed, whatever its outcome.
    closing: Arc<AtomicBool>,
    /// The opened backend: a hold on the shared pool of the file, or a PostgreSQL pool.
    lease: Arc<Mutex<Option<Arc<dyn Engine>>>>,
    ops: Arc<OpStats>,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Persistence {
    /// Opens nothing yet: the first operation (or `initialize`) does.
    pub fn new(path: Option<String>, config: Result<PoolConfig>) -> Persistence {
        Persistence {
            path: path.unwrap_or_else(default_path),
            config,
            state: Arc::new(Mutex::new(State::Idle)),
            closing: Arc::default(),
            lease: Arc::default(),
            ops: Arc::default(),
        }
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn ops(&self) -> &OpStats {
        &self.ops
    }

    /// The store, once initialized (and until closed).
    pub fn store(&self) -> Option<Arc<Store>> {
        match &*locked(&self.state) {
            State::Ready(store) => Some(Arc::clone(store)),
            _ => None,
        }
    }

    /// The opened backend, while the store is ready.
    pub fn lease(&self) -> Option<Arc<dyn Engine>> {
        self.store().and_then(|_| locked(&self.lease).clone())
    }

    /// One operation: bad input fails it (counted as a failed operation) without touching the
    /// database; otherwise `run` gets the store once it is ready, initializing it if needed.
    pub fn operate<I: Send + 'static>(
        &self,
        acquire: Acquire<'_>,
        input: Result<I>,
        run: impl FnOnce(&Store, I, Completion) + Send + 'static,
        done: Completion,
    ) {
        match input {
            Err(e) => {
                self.ops.operations.fetch_add(1, Ordering::Relaxed);
                self.ops.errors.fetch_add(1, Ordering::Relaxed);
                done(Err(e))
            }
            Ok(input) => self.with_store(
                acquire,
                Box::new(move |store| match store {
                    Ok(store) => run(&store, input, done),
                    Err(e) => done(Err(e)),
                }),
            ),
        }
    }

    /// Creates or migrates the schema once; concurrent callers share it.
    pub fn initialize(&self, acquire: Acquire<'_>, done: Completion) {
        self.operate(acquire, Ok(()), |_, (), done| done(Ok(Output::Done)), done)
    }

    /// Runs `waiter` with the store once it is ready, starting initialization if needed.
    fn with_store(&self, acquire: Acquire<'_>, waiter: Waiter) {
        let mut state = locked(&self.state);
        match &mut *state {
            State::Ready(store) => {
                let store = Arc::clone(store);
                drop(state);
                waiter(Ok(store))
            }
            State::Closed => {
                drop(state);
                waiter(Err(Error::PoolClosed))
            }
            State::Opening(waiters) => waiters.push(waiter),
            State::Idle => match self.config.clone().and_then(|config| acquire(&self.path, config)) {
                Err(e) => {
                    drop(state);
                    waiter(Err(e))
                }
                Ok(lease) => {
                    *state = State::Opening(vec![waiter]);
                    drop(state);
                    *locked(&self.lease) = Some(Arc::clone(&lease));
                    self.migrate(lease);
                }
            },
        }
    }

    fn migrate(&self, lease: Arc<dyn Engine>) {
        let storage = Arc::clone(&lease).storage();
        let store = Arc::new(Store::new(storage, Arc::clone(&self.ops)));
        let (state, closing, held) = (
            Arc::clone(&self.state),
            Arc::clone(&self.closing),
            Arc::clone(&self.lease),
        );
        let ready = Arc::clone(&store);
        store.migrate(Box::new(move |migrated| {
            let waiters = {
                let mut state = locked(&state);
                let waiters = match std::mem::replace(&mut *state, State::Idle) {
                    State::Opening(w) => w,
                    _ => Vec::new(),
                };
                if closing.load(Ordering::Acquire) {
                    *state = State::Closed;
                } else if migrated.is_ok() {
                    *state = State::Ready(Arc::clone(&ready));
                }
                waiters
            };
            if migrated.is_err() {
                // Given back, so a retry opens afresh.
                lease.release(Box::new(|_| {}));
                locked(&held).take();
            }
            for w in waiters {
                w(migrated.clone().map(|_| Arc::clone(&ready)));
            }
        }));
    }

    /// Finishes this object's queued work and gives its lease back; later calls fail with
    /// `POOL_CLOSED`. An initialization still running ends closed.
    pub fn close(&self, done: Completion) {
        self.closing.store(true, Ordering::Release);
        let lease = locked(&self.lease).clone();
        let mut state = locked(&self.state);
        match (std::mem::replace(&mut *state, State::Closed), lease) {
            (State::Ready(_), Some(lease)) => {
                drop(state);
                lease.release(done);
            }
            (State::Opening(mut waiters), Some(lease)) => {
                // After a failed initialization the lease was given back already and this just
                // resolves.
                waiters.push(Box::new(move |_| lease.release(done)));
                *state = State::Opening(waiters);
            }
            _ => {
                drop(state);
                done(Ok(Output::Done));
            }
        }
    }

    /// The pool as this object sees it, once initialized and until closed.
    pub fn snapshot(&self) -> Option<PoolSnapshot> {
        self.lease().map(|lease| lease.snapshot())
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::pool::sql::wait;

    fn temp_path(name: &str) -> String {
        let dir = crate::test_dir().join(format!("sp-core-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("db.sqlite").display().to_string()
    }

    fn small() -> PoolConfig {
        PoolConfig {
            max_readers: 1,
            max_workers: 1,
            ..PoolConfig::default()
        }
    }

    fn lease(path: &str, config: PoolConfig) -> Result<Arc<dyn Engine>> {
        crate::pool::shared::Lease::acquire(path, config).map(|l| Arc::new(l) as Arc<dyn Engine>)
    }

    #[test]
    fn concurrent_initializations_share_one_opening() -> Result<()> {
        let path = temp_path("share");
        let core = Persistence::new(Some(path.clone()), Ok(small()));
        let mut opened = 0;
        let (tx, rx) = crossbeam_channel::unbounded();
        for _ in 0..5 {
            let tx = tx.clone();
            core.initialize(
                &mut |p, c| {
                    opened += 1;
                    lease(p, c)
                },
                Box::new(move |r| tx.send(r.map(|_| ())).expect("send")),
            );
        }
        for _ in 0..5 {
            rx.recv().expect("settles")?;
        }
        assert_eq!(opened, 1, "one lease for five callers");
        assert!(core.store().is_some());
        assert!(core.lease().is_some());
        wait(|d| core.close(d))?;
        let _ = std::fs::remove_dir_all(std::path::Path::new(&path).parent().expect("dir"));
        Ok(())
    }

    #[test]
    fn a_failed_initialization_can_be_retried_and_close_sticks() -> Result<()> {
        let path = temp_path("retry");
        let core = Persistence::new(Some(path.clone()), Ok(small()));
        let refuse = |_: &str, _: PoolConfig| -> Result<Arc<dyn Engine>> { Err(Error::invalid("no disk today")) };
        let err = wait(|d| core.initialize(&mut { refuse }, d)).expect_err("refused");
        assert_eq!(err.code(), "INVALID_ARGUMENT");
        wait(|d| core.initialize(&mut lease, d))?;
        assert!(core.store().is_some(), "the retry opened it");
        wait(|d| core.close(d))?;
        let err = wait(|d| core.initialize(&mut lease, d)).expect_err("closed");
        assert_eq!(err.code(), "POOL_CLOSED");
        let _ = std::fs::remove_dir_all(std::path::Path::new(&path).parent().expect("dir"));
        Ok(())
    }

    #[test]
    fn close_during_a_failing_migration_sticks() -> Result<()> {
        let path = temp_path("newer");
        {
            let seed = crate::pool::shared::Lease::acquire(&path, small())?;
            wait(|d| {
                seed.pool().execute(
                    "PRAGMA user_version = 99".into(),
                    crate::sqlite::Params::None,
                    crate::sqlite::Form::Objects,
                    d,
                )
            })?;
            wait(|d| seed.release(d))?;
        }
        let core = Persistence::new(Some(path.clone()), Ok(small()));
        let (tx, rx) = crossbeam_channel::unbounded();
        core.initialize(&mut lease, Box::new(move |r| tx.send(r).expect("send")));
        wait(|d| core.close(d))?;
        let failed = rx.recv().expect("settles").expect_err("a newer schema");
        assert_eq!(failed.code(), "INVALID_ARGUMENT");
        let err = wait(|d| core.initialize(&mut lease, d)).expect_err("closed");
        assert_eq!(err.code(), "POOL_CLOSED");
        let _ = std::fs::remove_dir_all(std::path::Path::new(&path).parent().expect("dir"));
        Ok(())
    }

    #[test]
    fn bad_input_and_bad_config_count_as_failed_operations() -> Result<()> {
        let core = Persistence::new(
            Some(temp_path("config")),
            Err(Error::config("POOL_MAX_READERS", "nope")),
        );
        let err = wait(|d| core.initialize(&mut lease, d)).expect_err("config");
        assert_eq!(err.code(), "INVALID_CONFIG");
        let err = wait(|d| {
            core.operate(
                &mut lease,
                Err::<(), _>(Error::invalid("bad id")),
                |_, (), d| d(Ok(Output::Done)),
                d,
            )
        })
        .expect_err("input");
        assert_eq!(err.code(), "INVALID_ARGUMENT");
        assert_eq!(core.ops().counts(), (1, 1));
        Ok(())
    }
}
