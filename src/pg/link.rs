//! One connection to PostgreSQL, owned by one lane thread with its own single-threaded runtime
//! (the lanes stay plain threads, as on SQLite; the runtime drives the connection only while the
//! thread waits on it). Statements are prepared once and cached, or, for poolers in transaction
//! mode (PgBouncer), sent unnamed with their types each time. It is the seam's `Session` too.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures_util::Stream;
use tokio::runtime::Runtime;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row, Statement};

use crate::config::PoolConfig;
use crate::error::{Error, Result};
use crate::pg::dialect::POSTGRES;
use crate::pg::errors::{convert, is_stale_plan, Fault};
use crate::pg::tls::{self, Tls};
use crate::pg::values::{declared_type, numbered, Cell, Param};
use crate::pool::job::WriteResult;
use crate::sqlite::{RowSet, Value};
use crate::store::seam::{Dialect, Session};

/// Where the server is and how each connection behaves.
#[derive(Clone)]
pub struct Settings {
    pub server: tokio_postgres::Config,
    /// libpq's sslmode and sslrootcert, from the options or the URL.
    pub tls: Tls,
    pub connect_timeout: Duration,
    pub max_lifetime: Duration,
    pub prepared: bool,
    pub query_timeout: Duration,
    /// Connections open now, over every link made from these settings (the pool's payloads).
    pub open: Arc<AtomicUsize>,
}

/// How much longer than the query timeout a request may go unanswered before the connection is
/// taken for lost (the server's statement_timeout answers within the timeout when it can).
const STALL_MARGIN: Duration = Duration::from_secs(1);

/// `postgres://` or `postgresql://`: the database is on a PostgreSQL server.
pub fn is_url(path: &str) -> bool {
    let lower = path.trim_start().to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// Hides the password of a URL for messages and payloads.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user_info = &url[scheme + 3..at];
            let user = user_info.split(':').next().unwrap_or("");
            format!(
                "{}{user}{}@{}",
                &url[..scheme + 3],
                if user_info.contains(':') { ":***" } else { "" },
                &url[at + 1..]
            )
        }
        _ => url.to_string(),
    }
}

impl Settings {
    pub fn new(url: &str, config: &PoolConfig) -> Result<Settings> {
        // tokio-postgres parses the rest: it knows neither the verify modes nor sslrootcert.
        let (rest, from_url) = tls::split_url(url.trim())?;
        let mut server: tokio_postgres::Config = rest
            .parse()
            .map_err(|e| Error::config("POOL_DB_URL", format!("{} is not a PostgreSQL URL: {e}", redacted(url))))?;
        let tls = Tls::new(config, from_url)?;
        server.ssl_mode(tls.negotiation());
        Ok(Settings {
            server,
            tls,
            connect_timeout: config.pg_connect_timeout,
            max_lifetime: config.pg_max_lifetime,
            prepared: config.pg_prepared_statements,
            query_timeout: config.query_timeout,
            open: Arc::default(),
        })
    }
}

pub struct Link {
    runtime: Runtime,
    /// Dropped by hand, before the runtime, so the connection task can say goodbye.
    client: ManuallyDrop<Client>,
    /// The connection task, run to its end when the link is dropped.
    connection: Option<tokio::task::JoinHandle<()>>,
    statements: RefCell<HashMap<String, Statement>>,
    prepared: bool,
    query_timeout: Duration,
    opened: Instant,
    max_lifetime: Duration,
    last_rowid: std::cell::Cell<i64>,
    open: Arc<AtomicUsize>,
    /// A request went unanswered past the stall limit.
    stalled: std::cell::Cell<bool>,
}

/// A statement already on the wire whose rows and count of changed rows are read later.
pub type PendingRows<'a> =
    Pin<Box<dyn Future<Output = std::result::Result<(Vec<Row>, u64), tokio_postgres::Error>> + 'a>>;

/// A request already on the wire whose answer is read later.
pub type Pending<'a> = Pin<Box<dyn Future<Output = std::result::Result<(), tokio_postgres::Error>> + 'a>>;

impl Link {
    /// Connects, within the connect timeout; `role` names the connection in `pg_stat_activity`.
    pub fn open(settings: &Settings, role: &str) -> Result<Link> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Internal(format!("cannot start a runtime for PostgreSQL: {e}")))?;
        let mut server = settings.server.clone();
        server
            .connect_timeout(settings.connect_timeout)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(15))
            .application_name(format!("swarm-persistence {role}"));
        if settings.prepared {
            server.options(format!("-c statement_timeout={}", settings.query_timeout.as_millis()));
        }
        // Behind a transaction pooler (PgBouncer refuses startup options, and a session setting
        // would not follow the next transaction to its server connection) the timeout is set in
        // each transaction instead: see `per_transaction`.
        let connecting =
            async { tokio::time::timeout(settings.connect_timeout, server.connect(settings.tls.connector())).await };
        let (client, connection) = match runtime.block_on(connecting) {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => {
                if let Some(refused) = settings.tls.failure(&e) {
                    return Err(refused);
                }
                return Err(match e.as_db_error() {
                    // The server refused who or what was asked for: fix the URL.
                    Some(db) if db.code().code().starts_with("28") || *db.code() == SqlState::INVALID_CATALOG_NAME => {
                        Error::config(
                            "POOL_DB_URL",
                            format!("PostgreSQL refused the connection: {}", db.message()),
                        )
                    }
                    // Starting up, shutting down, too many clients: it may take us later.
                    Some(db) => Error::ConnectionLost(format!(
                        "PostgreSQL cannot take a connection now: {} (SQLSTATE {})",
                        db.message(),
                        db.code().code()
                    )),
                    None => Error::ConnectionLost(format!("cannot connect to PostgreSQL: {e}")),
                });
            }
            Err(_) => {
                return Err(Error::ConnectionLost(format!(
                    "cannot connect to PostgreSQL within {} ms (POOL_PG_CONNECT_TIMEOUT)",
                    settings.connect_timeout.as_millis()
                )))
            }
        };
        // The connection task reads and writes the socket whenever this thread waits on the
        // runtime; it ends when the client is dropped or the server goes away.
        let connection = runtime.spawn(async move {
            let _ = connection.await;
        });
        Ok(Link {
            runtime,
            client: ManuallyDrop::new(client),
            connection: Some(connection),
            statements: RefCell::default(),
            prepared: settings.prepared,
            query_timeout: settings.query_timeout,
            opened: Instant::now(),
            max_lifetime: settings.max_lifetime,
            last_rowid: std::cell::Cell::new(0),
            stalled: std::cell::Cell::new(false),
            open: {
                settings.open.fetch_add(1, Ordering::Relaxed);
                Arc::clone(&settings.open)
            },
        })
    }

    /// Closed by the server or the network, or silent past the stall limit: to be replaced.
    pub fn is_closed(&self) -> bool {
        self.client.is_closed() || self.stalled.get()
    }

    /// Older than the maximum lifetime: to be replaced before its next job.
    pub fn expired(&self) -> bool {
        self.opened.elapsed() >= self.max_lifetime
    }

    /// Waits for `fut`, at most the query timeout and a margin (the server's statement_timeout
    /// answers first when it can): past it the link is taken for lost.
    fn bounded<T>(
        &self,
        fut: impl Future<Output = std::result::Result<T, tokio_postgres::Error>>,
    ) -> std::result::Result<T, Fault> {
        let limit = self.query_timeout + STALL_MARGIN;
        match self.runtime.block_on(async { tokio::time::timeout(limit, fut).await }) {
            Ok(answer) => answer.map_err(Fault::Pg),
            Err(_) => {
                self.stalled.set(true);
                Err(Fault::Stalled(limit))
            }
        }
    }

    fn wait<T>(&self, fut: impl Future<Output = std::result::Result<T, tokio_postgres::Error>>) -> Result<T> {
        self.bounded(fut).map_err(|e| convert(e, self.query_timeout))
    }

    /// Runs statements without parameters, waiting for the answer.
    pub fn batch(&self, sql: &str) -> Result<()> {
        self.wait(self.client.batch_execute(sql))
    }

    /// Puts `sql` on the wire now and returns its answer to read later: requests are answered in
    /// the order they were sent, so what follows it runs after it without waiting a round trip.
    pub fn send<'a>(&'a self, sql: &'a str) -> Pending<'a> {
        let mut pending: Pending<'a> = Box::pin(self.client.batch_execute(sql));
        // Polled once, the request is queued to the connection task; the answer is read later.
        if let Poll::Ready(done) = pending.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            return Box::pin(std::future::ready(done));
        }
        pending
    }

    /// Prepares `sql` now, once (nothing to do when statements are not prepared). Inside a
    /// transaction the server's refusal aborts it, as a failed statement does.
    pub fn prepare(&self, sql: &str) -> Result<()> {
        if self.prepared {
            self.statement(sql)?;
        }
        Ok(())
    }

    /// Whether `fault` says a cached plan no longer fits the schema (another host altered a
    /// table): only prepared statements have plans to go stale.
    pub fn went_stale(&self, fault: &Fault) -> bool {
        self.prepared && is_stale_plan(fault)
    }

    /// Whether `params` can be sent for `sql` (each value as the type the server expects), so a
    /// value PostgreSQL cannot take is refused before anything of its job goes on the wire.
    pub fn encodable(&self, sql: &str, params: &[Value]) -> Result<()> {
        let types: Vec<Type> = if self.prepared {
            self.statement(sql)?.params().to_vec()
        } else {
            params.iter().map(declared_type).collect()
        };
        let mut scratch = bytes::BytesMut::new();
        for (i, (value, ty)) in params.iter().zip(&types).enumerate() {
            if let Err(e) = Param(value).to_sql_checked(ty, &mut scratch) {
                return Err(Error::invalid(format!("parameter {}: {e}", i + 1)));
            }
            scratch.clear();
        }
        Ok(())
    }

    /// Lets the connection task write what was queued so far to the socket, so the server starts
    /// on the first requests of a long pipeline while the rest are still being encoded.
    pub fn flush(&self) {
        self.runtime.block_on(tokio::task::yield_now());
    }

    /// `send` for text made on the spot.
    pub fn send_owned(&self, sql: String) -> Pending<'_> {
        let mut pending: Pending<'_> = Box::pin(async move { self.client.batch_execute(&sql).await });
        if let Poll::Ready(done) = pending.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            return Box::pin(std::future::ready(done));
        }
        pending
    }

    /// The answer of a request sent earlier.
    pub fn answer(&self, pending: Pending<'_>) -> std::result::Result<(), Fault> {
        self.bounded(pending)
    }

    fn statement(&self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let prepared = self.wait(self.client.prepare(&numbered(sql)))?;
        self.statements.borrow_mut().insert(sql.to_string(), prepared.clone());
        Ok(prepared)
    }

    /// Puts one statement on the wire (preparing it first, once, unless statements are not
    /// prepared) and returns its answer to read later with `finish`: its rows and how many rows
    /// it changed.
    pub fn start<'a>(&'a self, sql: &str, params: &'a [Value]) -> Result<PendingRows<'a>> {
        let stmt = if self.prepared {
            Some(self.statement(sql)?)
        } else {
            None
        };
        // Only unprepared statements are sent as text, numbered for PostgreSQL.
        let text = if stmt.is_none() { numbered(sql) } else { String::new() };
        let client = &self.client;
        let mut pending: PendingRows<'a> = Box::pin(async move {
            let bound: Vec<Param<'_>> = params.iter().map(Param).collect();
            let stream = match &stmt {
                Some(stmt) => {
                    client
                        .query_raw(stmt, bound.iter().map(|p| p as &(dyn ToSql + Sync)))
                        .await?
                }
                None => {
                    let typed = bound.iter().map(|p| (p as &(dyn ToSql + Sync), declared_type(p.0)));
                    client.query_typed_raw(&text, typed).await?
                }
            };
            let mut stream = std::pin::pin!(stream);
            let mut rows = Vec::new();
            while let Some(row) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
                rows.push(row?);
            }
            Ok((rows, stream.rows_affected().unwrap_or(0)))
        });
        // Polled once, the statement is encoded and queued to the connection task.
        if let Poll::Ready(done) = pending.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            return Ok(Box::pin(std::future::ready(done)));
        }
        Ok(pending)
    }

    /// The answer of a statement started earlier.
    /// A cached plan that no longer fits the schema is forgotten, so the statement is prepared
    /// again the next time.
    pub fn finish(&self, pending: PendingRows<'_>) -> std::result::Result<(Vec<Row>, u64), Fault> {
        let answer = self.bounded(pending);
        if answer.as_ref().is_err_and(|e| self.went_stale(e)) {
            self.statements.borrow_mut().clear();
        }
        answer
    }

    /// Runs one statement: its rows and how many rows it changed. A statement whose cached plan
    /// went stale (another host altered a table) is prepared again and run once more; inside a
    /// failed transaction that second try fails too, with the transaction's error.
    fn run(&self, sql: &str, params: &[Value]) -> Result<(Vec<Row>, u64)> {
        let pending = self.start(sql, params)?;
        match self.finish(pending) {
            Err(fault) if self.went_stale(&fault) => {
                let again = self.start(sql, params)?;
                self.finish(again).map_err(|e| convert(e, self.query_timeout))
            }
            answer => answer.map_err(|e| convert(e, self.query_timeout)),
        }
    }

    pub fn query_timeout(&self) -> Duration {
        self.query_timeout
    }

    /// What starts each transaction behind a transaction pooler: the query timeout, which a
    /// direct connection gets once at startup instead.
    pub fn per_transaction(&self) -> Option<String> {
        (!self.prepared).then(|| format!("SET LOCAL statement_timeout = {}", self.query_timeout.as_millis()))
    }

    /// The rowid the next write that inserts nothing reports.
    pub fn last_insert_rowid(&self) -> i64 {
        self.last_rowid.get()
    }

    /// Forgets the rowids of inserts rolled back since `last_insert_rowid` said `rowid`, so a
    /// transaction run again reports what it would have the first time.
    pub fn rewind_last_insert_rowid(&self, rowid: i64) {
        self.last_rowid.set(rowid);
    }

    /// What a write sent `as_sent` did. `lastInsertRowid` is the connection's, as SQLite's
    /// last_insert_rowid is: the rowid of the last row an INSERT made on it, whatever statement
    /// ran since.
    pub fn written(&self, rows: &[Row], changes: u64) -> WriteResult {
        let made = rows
            .iter()
            .filter(|r| r.try_get::<_, bool>(1).unwrap_or(false))
            .filter_map(|r| r.try_get::<_, i64>(0).ok())
            .last();
        if let Some(rowid) = made {
            self.last_rowid.set(rowid);
        }
        WriteResult {
            changes,
            last_insert_rowid: self.last_rowid.get(),
            rows: None,
        }
    }
}

/// The statement a write sends: an INSERT also returns each row's `rowid` and whether it was
/// inserted (an upsert that updated was not: `xmax` is 0 only for a row this statement made).
pub fn as_sent(sql: &str) -> std::borrow::Cow<'_, str> {
    let insert = sql
        .trim_start()
        .get(..6)
        .is_some_and(|w| w.eq_ignore_ascii_case("INSERT"));
    if insert {
        format!("{sql} RETURNING rowid, (xmax = 0)").into()
    } else {
        sql.into()
    }
}

impl Drop for Link {
    /// Ends the session properly: with the client gone the connection task sends Terminate and
    /// closes the socket (a pooler or the server would otherwise log an unexpected EOF).
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
        // Cached statements hold the client's channel open; they go first.
        self.statements.borrow_mut().clear();
        // SAFETY: `client` is dropped exactly once, here, and nothing uses it afterwards: `self`
        // is being dropped and the fields dropped after this body never touch it.
        unsafe { ManuallyDrop::drop(&mut self.client) };
        if let Some(connection) = self.connection.take() {
            let _ = self
                .runtime
                .block_on(async { tokio::time::timeout(Duration::from_millis(250), connection).await });
        }
    }
}

/// Rows as the SQLite backend shapes them. `rowid` is SQLite's hidden column, an explicit
/// identity column on PostgreSQL: `SELECT *` leaves it out, as SQLite's does.
pub fn row_set(rows: &[Row]) -> Result<RowSet> {
    let Some(first) = rows.first() else {
        return Ok(RowSet::default());
    };
    let keep: Vec<usize> = first
        .columns()
        .iter()
        .enumerate()
        .filter(|(_, c)| c.name() != "rowid")
        .map(|(i, _)| i)
        .collect();
    let columns = keep.iter().map(|&i| first.columns()[i].name().to_string()).collect();
    let mut values = Vec::with_capacity(rows.len() * keep.len());
    for row in rows {
        for &i in &keep {
            let Cell(v) = row
                .try_get(i)
                .map_err(|e| Error::Internal(format!("column {}: {e}", first.columns()[i].name())))?;
            values.push(v);
        }
    }
    Ok(RowSet {
        columns,
        values,
        described: None,
    })
}

impl Session for Link {
    /// An INSERT reports the new row's `rowid` as SQLite's last_insert_rowid does.
    fn execute(&self, sql: &str, params: &[Value]) -> Result<WriteResult> {
        let (rows, changes) = self.run(&as_sent(sql), params)?;
        Ok(self.written(&rows, changes))
    }

    fn query(&self, sql: &str, params: &[Value]) -> Result<RowSet> {
        row_set(&self.run(sql, params)?.0)
    }

    /// PostgreSQL's autovacuum gives space back on its own; nothing to do.
    fn compact(&self) -> Result<()> {
        Ok(())
    }

    fn dialect(&self) -> &'static dyn Dialect {
        &POSTGRES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sslmode_of_libpq_is_taken_from_the_url() -> Result<()> {
        use tokio_postgres::config::SslMode;
        let config = PoolConfig::default();
        let negotiated = |url: &str| Settings::new(url, &config).map(|s| s.server.get_ssl_mode());
        assert_eq!(negotiated("postgres://u@h/db")?, SslMode::Prefer);
        assert_eq!(negotiated("postgres://u@h/db?sslmode=disable")?, SslMode::Disable);
        assert_eq!(negotiated("postgres://u@h/db?sslmode=require")?, SslMode::Require);
        // The verify modes are require plus our own checks of the certificate.
        let verified = Settings::new("postgres://u@h/db?sslmode=verify-ca&connect_timeout=2", &config);
        match verified {
            Ok(s) => assert_eq!(s.server.get_ssl_mode(), SslMode::Require),
            // A system without a store of roots says so instead.
            Err(e) => assert!(e.to_string().contains("the system's store has none"), "{e}"),
        }
        let unknown = Settings::new("postgres://u@h/db?sslcert=/x.pem", &config)
            .err()
            .map(|e| e.code());
        assert_eq!(unknown, Some("INVALID_CONFIG"));
        Ok(())
    }

    #[test]
    fn urls_are_recognised_and_passwords_hidden() {
        assert!(is_url("postgres://u@h/db") && is_url("PostgreSQL://h/db") && !is_url("./data/swarm.db"));
        assert_eq!(redacted("postgres://u:secret@h:5/db"), "postgres://u:***@h:5/db");
        assert_eq!(redacted("postgres://h/db"), "postgres://h/db");
    }
}
