//! One engine per database file per process. Every `SQLiteConnectionPool` and
//! `SwarmPersistencePooled` opened on the same file (by real path, however spelled) leases the
//! same [`Pool`], so their writes are committed in call order on one writer and never
//! `SQLITE_BUSY` each other; the pool closes when the last lease is released. The first opener's
//! options configure it. `:memory:` databases are private to their opener.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::config::PoolConfig;
use crate::error::Result;
use crate::pool::job::{Completion, Job, Output};
use crate::pool::lanes::Lane;
use crate::pool::registry::real_path;
use crate::pool::Pool;

struct Entry {
    pool: Arc<Pool>,
    leases: usize,
}

static OPEN: Mutex<Option<HashMap<PathBuf, Entry>>> = Mutex::new(None);

fn with_open<T>(f: impl FnOnce(&mut HashMap<PathBuf, Entry>) -> T) -> T {
    let mut open = OPEN.lock().unwrap_or_else(|p| p.into_inner());
    f(open.get_or_insert_with(HashMap::new))
}

/// One user's hold on a shared pool.
pub struct Lease {
    pool: Arc<Pool>,
    key: Option<PathBuf>,
    released: AtomicBool,
}

impl Lease {
    /// Leases the pool open on `path`, opening it with `config` if there is none.
    pub fn acquire(path: &str, config: PoolConfig) -> Result<Lease> {
        if path == ":memory:" {
            return Ok(Lease {
                pool: Pool::open(path, config)?,
                key: None,
                released: AtomicBool::new(false),
            });
        }
        if let Some(dir) = std::path::Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            // The folder must exist for the path to have a real path; opening would create it.
            let _ = std::fs::create_dir_all(dir);
        }
        let key = real_path(std::path::Path::new(path));
        with_open(|open| {
            if let Some(entry) = key.as_ref().and_then(|k| open.get_mut(k)) {
                // An engine whose file was deleted or replaced is not handed out again: opening
                // anew is how a user recovers.
                if !entry.pool.is_closed() && !entry.pool.file_moved() {
                    entry.leases += 1;
                    return Ok(Lease {
                        pool: Arc::clone(&entry.pool),
                        key: key.clone(),
                        released: AtomicBool::new(false),
                    });
                }
            }
            // Opened under the lock, so two first users of a file cannot open two engines.
            let pool = Pool::open(path, config)?;
            if let Some(k) = &key {
                open.insert(
                    k.clone(),
                    Entry {
                        pool: Arc::clone(&pool),
                        leases: 1,
                    },
                );
            }
            Ok(Lease {
                pool,
                key,
                released: AtomicBool::new(false),
            })
        })
    }

    pub fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }

    /// True once this lease was released or the pool itself closed.
    pub fn is_closed(&self) -> bool {
        self.released.load(Ordering::Acquire) || self.pool.is_closed()
    }

    /// Gives the lease back. The last lease closes the pool (finishing every queued job first);
    /// otherwise `done` runs once the writes queued before this call are committed, so this
    /// user's work is durable when its close resolves. Later calls just resolve.
    pub fn release(&self, done: Completion) {
        if self.released.swap(true, Ordering::AcqRel) {
            return done(Ok(Output::Done));
        }
        if self.give_back() {
            self.pool.close(done);
        } else {
            // Whatever the barrier meets (a moved file refuses every write), this close succeeds.
            let barrier = Job::new(
                Box::new(|_| Ok(Output::Done)),
                Box::new(move |_| done(Ok(Output::Done))),
            );
            self.pool.submit(Lane::Write, barrier);
        }
    }

    /// Environment teardown: gives the lease back, and stops the pool at once if it was the last.
    pub fn release_now(&self) {
        if !self.released.swap(true, Ordering::AcqRel) && self.give_back() {
            self.pool.shutdown_now();
        }
    }

    /// True when this was the last lease of its pool.
    fn give_back(&self) -> bool {
        let Some(key) = &self.key else { return true };
        with_open(|open| match open.get_mut(key) {
            Some(entry) if Arc::ptr_eq(&entry.pool, &self.pool) => {
                entry.leases -= 1;
                if entry.leases == 0 {
                    open.remove(key);
                    true
                } else {
                    false
                }
            }
            _ => true,
        })
    }
}

impl Drop for Lease {
    /// A lease dropped without `release` (its JavaScript object collected) still gives back.
    fn drop(&mut self) {
        self.release(Box::new(|_| {}));
    }
}
