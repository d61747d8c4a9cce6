//! One PostgreSQL pool per server URL per process, as SQLite has one per file: every
//! `SwarmPersistencePooled` opened on the same URL leases the same [`PgPool`], so their writes
//! are committed in call order by one writer (two objects creating the same id resolve as on
//! SQLite: the first call wins). The first opener's options configure it; the last lease given
//! back closes it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::config::PoolConfig;
use crate::engine::Engine;
use crate::error::Result;
use crate::pg::tls;
use crate::pg::PgPool;
use crate::pool::job::{Completion, Output};
use crate::pool::snapshot::PoolSnapshot;
use crate::store::seam::Storage;

struct Entry {
    pool: Arc<PgPool>,
    leases: usize,
}

static OPEN: Mutex<Option<HashMap<String, Entry>>> = Mutex::new(None);

fn with_open<T>(f: impl FnOnce(&mut HashMap<String, Entry>) -> T) -> T {
    let mut open = OPEN.lock().unwrap_or_else(|p| p.into_inner());
    f(open.get_or_insert_with(HashMap::new))
}

/// One user's hold on a shared PostgreSQL pool.
pub struct PgLease {
    pool: Arc<PgPool>,
    key: String,
    released: AtomicBool,
}

impl PgLease {
    pub fn acquire(url: &str, config: PoolConfig) -> Result<PgLease> {
        // However the URL is spelled (postgres:// or postgresql://, parameters in any order),
        // the same server, database, user and settings are one key; the TLS parameters
        // tokio-postgres does not parse are part of it as given.
        let parsed = tls::split_url(url.trim())
            .ok()
            .and_then(|(rest, tls)| Some((rest.parse::<tokio_postgres::Config>().ok()?, tls)));
        let key = match parsed {
            Some((parsed, tls)) => format!("{parsed:?} {tls:?}"),
            None => url.trim().to_string(),
        };
        with_open(|open| {
            if let Some(entry) = open.get_mut(&key) {
                if !entry.pool.is_closed() {
                    entry.leases += 1;
                    return Ok(PgLease {
                        pool: Arc::clone(&entry.pool),
                        key: key.clone(),
                        released: AtomicBool::new(false),
                    });
                }
            }
            let pool = PgPool::open(url, config)?;
            open.insert(
                key.clone(),
                Entry {
                    pool: Arc::clone(&pool),
                    leases: 1,
                },
            );
            Ok(PgLease {
                pool,
                key,
                released: AtomicBool::new(false),
            })
        })
    }

    /// True when this was the last lease of its pool.
    fn give_back(&self) -> bool {
        with_open(|open| match open.get_mut(&self.key) {
            Some(entry) if Arc::ptr_eq(&entry.pool, &self.pool) => {
                entry.leases -= 1;
                if entry.leases == 0 {
                    open.remove(&self.key);
                    true
                } else {
                    false
                }
            }
            _ => true,
        })
    }

    fn give(&self, done: Completion) {
        if self.released.swap(true, Ordering::AcqRel) {
            return done(Ok(Output::Done));
        }
        if self.give_back() {
            self.pool.close(done);
        } else {
            // Resolves once the writes queued before it are committed, whatever they met.
            let barrier: crate::store::seam::Work = Box::new(|_| Ok(Output::Done));
            self.pool.barrier(barrier, Box::new(move |_| done(Ok(Output::Done))));
        }
    }
}

impl Engine for PgLease {
    fn storage(self: Arc<Self>) -> Arc<dyn Storage> {
        Arc::clone(&self.pool) as Arc<dyn Storage>
    }

    fn snapshot(&self) -> PoolSnapshot {
        let mut snapshot = self.pool.snapshot();
        if self.released.load(Ordering::Acquire) {
            snapshot.closed = true;
            snapshot.healthy = false;
        }
        snapshot
    }

    fn release(self: Arc<Self>, done: Completion) {
        self.give(done);
    }

    fn release_now(&self) {
        if !self.released.swap(true, Ordering::AcqRel) && self.give_back() {
            self.pool.release_now();
        }
    }
}

impl Drop for PgLease {
    /// A lease dropped without `release` (its JavaScript object collected) still gives back.
    fn drop(&mut self) {
        self.give(Box::new(|_| {}));
    }
}
