//! An opened backend as the persistence core holds it: the storage the domain runs on, the
//! snapshot its payloads are made from, and how it is given back. SQLite's is a lease on the
//! process's shared pool of the file (`pool::shared::Lease`); PostgreSQL's a lease on the process's shared pool of the URL (`pg::lease::PgLease`).

use std::sync::Arc;

use crate::pool::job::Completion;
use crate::pool::shared::Lease;
use crate::pool::snapshot::PoolSnapshot;
use crate::store::seam::Storage;

pub trait Engine: Send + Sync {
    fn storage(self: Arc<Self>) -> Arc<dyn Storage>;
    /// The pool as this holder sees it (closed once given back).
    fn snapshot(&self) -> PoolSnapshot;
    /// Gives it back once the work queued before is done; then `done` runs.
    fn release(self: Arc<Self>, done: Completion);
    /// Environment teardown: gives it back at once.
    fn release_now(&self);
    /// The SQLite lease under it, for the raw `SQLiteConnectionPool` API.
    fn sqlite(self: Arc<Self>) -> Option<Arc<Lease>> {
        None
    }
}

impl Engine for Lease {
    fn storage(self: Arc<Self>) -> Arc<dyn Storage> {
        Arc::clone(self.pool()) as Arc<dyn Storage>
    }

    fn snapshot(&self) -> PoolSnapshot {
        self.pool().snapshot(self.is_closed())
    }

    fn release(self: Arc<Self>, done: Completion) {
        Lease::release(&self, done)
    }

    fn release_now(&self) {
        Lease::release_now(self)
    }

    fn sqlite(self: Arc<Self>) -> Option<Arc<Lease>> {
        Some(self)
    }
}

/// Opens the backend `path` names: a `postgres://` URL a PostgreSQL pool, anything else a lease
/// on the SQLite pool of that file.
pub fn open(path: &str, config: crate::config::PoolConfig) -> crate::error::Result<Arc<dyn Engine>> {
    if crate::pg::link::is_url(path) {
        return Ok(Arc::new(crate::pg::lease::PgLease::acquire(path, config)?));
    }
    Ok(Arc::new(Lease::acquire(path, config)?))
}
