//! Keeping each pool thread's connection usable: how connections are opened and checked (the
//! [`Connector`], which tests replace to inject faults), and replacing a connection that broke.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use rusqlite::Connection;

use crate::config::PoolConfig;
use crate::error::{Error, Result};
use crate::pool::context::ThreadContext;
use crate::pool::events::PoolEvent;
use crate::pool::wal::install_hook;
use crate::sqlite::deadline::Deadline;
use crate::sqlite::guard::Role;
use crate::sqlite::open::{open_reader, open_writer, DbPath};

/// How the pool opens and checks its connections.
pub trait Connector: Send + Sync {
    fn open(&self, role: Role, db: &DbPath, config: &PoolConfig) -> Result<Connection>;

    /// True when the connection answers a trivial query.
    fn probe(&self, conn: &Connection) -> bool {
        conn.prepare_cached("SELECT count(*) FROM sqlite_schema")
            .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)))
            .is_ok()
    }
}

/// The real thing: SQLite connections configured as `sqlite::open` says.
pub struct SqliteConnector;

impl Connector for SqliteConnector {
    fn open(&self, role: Role, db: &DbPath, config: &PoolConfig) -> Result<Connection> {
        match role {
            Role::Writer => open_writer(db, config),
            Role::Reader => open_reader(db, config),
        }
    }
}

/// A pool thread's connection with what keeps it usable: its deadline, whether it broke and
/// could not be replaced yet, and which kind of connection it is.
pub struct Slot {
    pub conn: Connection,
    pub deadline: Arc<Deadline>,
    /// A fault was seen and no fresh connection could be opened yet.
    pub broken: bool,
    role: Role,
}

impl Slot {
    /// Opens a connection for `role`: the writer's with our checkpointing in place of SQLite's.
    pub fn open(ctx: &ThreadContext, role: Role) -> Result<Slot> {
        let deadline = Deadline::new();
        let conn = Slot::connect(ctx, role, &deadline)?;
        Ok(Slot {
            conn,
            deadline,
            broken: false,
            role,
        })
    }

    /// Takes a connection opened before the context existed (the writer's, which creates the file).
    pub fn adopt(ctx: &ThreadContext, role: Role, conn: Connection) -> Result<Slot> {
        let deadline = Deadline::new();
        let conn = Slot::prepare(ctx, role, &deadline, conn)?;
        Ok(Slot {
            conn,
            deadline,
            broken: false,
            role,
        })
    }

    fn connect(ctx: &ThreadContext, role: Role, deadline: &Arc<Deadline>) -> Result<Connection> {
        let conn = ctx.connector.open(role, &ctx.db, &ctx.config)?;
        Slot::prepare(ctx, role, deadline, conn)
    }

    fn prepare(ctx: &ThreadContext, role: Role, deadline: &Arc<Deadline>, mut conn: Connection) -> Result<Connection> {
        if role == Role::Writer {
            install_hook(&mut conn, Arc::clone(&ctx.stats), ctx.config.wal_limit)?;
        }
        deadline.install(&mut conn)?;
        Ok(conn)
    }

    /// After a fault (panic, I/O error, corruption, a failed probe): counts the failure once and
    /// opens a fresh connection. While none can be opened `broken` stays set, the old connection
    /// stays in place, and every health check retries.
    pub fn recover(&mut self, ctx: &ThreadContext) {
        if !self.broken {
            ctx.stats.failed_connections.fetch_add(1, Ordering::Relaxed);
        }
        match Slot::connect(ctx, self.role, &self.deadline) {
            Ok(fresh) => {
                self.conn = fresh;
                self.broken = false;
            }
            Err(_) => self.broken = true,
        }
    }

    /// Answers a health probe: a broken connection, or one failing the probe, is replaced first.
    /// False while it cannot be repaired.
    pub fn check(&mut self, ctx: &ThreadContext) -> bool {
        if !self.broken && ctx.connector.probe(&self.conn) {
            return true;
        }
        self.recover(ctx);
        !self.broken && ctx.connector.probe(&self.conn)
    }
}

/// A worker job broke its connection: the worker's users hear it failed, "exited" (its
/// connection was dropped), and was replaced once a fresh connection is in place.
pub fn report_worker_fault(ctx: &ThreadContext, err: &Error, replaced: bool) {
    ctx.listeners.emit(PoolEvent::WorkerError(err.clone()));
    ctx.listeners.emit(PoolEvent::WorkerExit(1));
    if replaced {
        ctx.listeners.emit(PoolEvent::WorkerReplaced);
    }
}
