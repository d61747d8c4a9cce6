//! `SQLiteConnectionPool`: the generic pool (name kept from ruv-swarm for drop-in use).

use std::sync::{Arc, Weak};

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{self, Rc};

use crossbeam_channel::Sender;

use napi::bindgen_prelude::{External, JsValue as _, This, Unknown};
use napi::sys::ValueType as T;
use napi::Env;
use napi_derive::napi;
use serde_json::Value as Json;

use crate::config::PoolConfig;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::js::abort::{cancel_of, Token};
use crate::js::call_options::CallOptions;
use crate::js::convert::{json_to_js, to_params, to_value};
use crate::js::events::Announce;
use crate::js::iteration;
use crate::js::options::read_config;
use crate::js::promise::JsPromise;
use crate::js::raw;
use crate::js::settle::Settler;
use crate::payloads;
use crate::pool::cancel::Reply;
use crate::pool::cursor::{batch_size, Handle};
use crate::pool::events::EventSink;
use crate::pool::job::Completion;
use crate::pool::job::Output;
use crate::pool::lanes::Lane;
use crate::pool::session::{Command, Ended, Kind};
use crate::pool::shared::Lease;
use crate::pool::snapshot::PoolSnapshot;
use crate::pool::sql::{Fetch, Statement};
use crate::pool::Pool;
use crate::sqlite::{Form, Params};

/// Leases the pool of `path` (opening it if this process has none) and makes sure environment
/// teardown (process exit, worker termination) gives the lease back, stopping the pool if it was
/// the last.
pub fn open_pool(env: &mut Env, path: &str, config: PoolConfig) -> Result<Arc<Lease>> {
    if crate::pg::link::is_url(path) {
        return Err(Error::NotSupported(
            "SQLiteConnectionPool runs SQL on SQLite files; for a PostgreSQL URL use SwarmPersistencePooled".into(),
        ));
    }
    let lease = Arc::new(Lease::acquire(path, config)?);
    released_at_teardown(env, Arc::clone(&lease) as Arc<dyn Engine>)?;
    Ok(lease)
}

/// Makes environment teardown (process exit, worker termination) give `engine` back at once.
pub fn released_at_teardown(env: &mut Env, engine: Arc<dyn Engine>) -> Result<()> {
    let weak: Weak<dyn Engine> = Arc::downgrade(&engine);
    env.add_env_cleanup_hook(weak, |weak| {
        if let Some(engine) = weak.upgrade() {
            engine.release_now();
        }
    })
    .map(|_| ())
    .map_err(|e| Error::Internal(e.to_string()))
}

pub fn sql_text(env: &Env, v: Unknown, what: &str) -> Result<String> {
    match raw::type_of(env.raw(), v.raw())? {
        T::napi_string => raw::get_string(env.raw(), v.raw()),
        _ => Err(Error::invalid(format!("{what} must be a string of SQL"))),
    }
}

/// The arguments of a call that runs one statement: `(sql, params?, options?)`.
fn call_input(
    env: &Env,
    sql: Unknown,
    params: Option<Unknown>,
    options: Option<Unknown>,
) -> Result<(String, Params, CallOptions)> {
    let sql = sql_text(env, sql, "sql")?;
    let params = to_params(env.raw(), params.map(|p| p.raw()))?;
    let options = CallOptions::read(env.raw(), options.map(|o| o.raw()))?;
    Ok((sql, params, options))
}

/// The chunk size from `iterate()`'s options: `{ batchSize }`, nothing else.
fn iterate_batch(env: &Env, options: Option<Unknown>) -> Result<usize> {
    let (e, Some(options)) = (env.raw(), options.map(|o| o.raw())) else {
        return batch_size(None);
    };
    match raw::type_of(e, options)? {
        T::napi_undefined | T::napi_null => return batch_size(None),
        T::napi_object if !raw::is_array(e, options)? => {}
        _ => {
            return Err(Error::invalid(
                "iterate() options must be an object such as { batchSize: 256 }",
            ))
        }
    }
    let mut batch = None;
    for (key, value) in raw::own_keys(e, options)? {
        match (key.as_str(), raw::type_of(e, value)?) {
            ("batchSize", T::napi_undefined) => {}
            ("batchSize", T::napi_number) => batch = Some(raw::get_f64(e, value)?),
            ("batchSize", _) => return Err(Error::invalid("batchSize must be a number")),
            (other, _) => {
                return Err(Error::invalid(format!(
                    "iterate() takes only the option batchSize, not {other}"
                )))
            }
        }
    }
    batch_size(batch)
}

fn session_over() -> Error {
    Error::invalid("the transaction has ended; start another with transaction()")
}

fn statements(env: &Env, list: Unknown) -> Result<Vec<Statement>> {
    let (e, v) = (env.raw(), list.raw());
    if !raw::is_array(e, v)? {
        return Err(Error::invalid(
            "transaction() takes an array of { sql, params } objects",
        ));
    }
    let n = raw::array_len(e, v)?;
    // The length is the caller's to set (a sparse array may claim 2**32-1): reserve little.
    let mut out = Vec::with_capacity((n as usize).min(256));
    for i in 0..n {
        let item = raw::get_element(e, v, i)?;
        let (sql, params) = match raw::type_of(e, item)? {
            T::napi_string => (item, None),
            T::napi_object => (
                raw::get_named(e, item, "sql")?,
                Some(raw::get_named(e, item, "params")?),
            ),
            _ => {
                return Err(Error::invalid(format!(
                    "statement {i} must be {{ sql, params }} or a string"
                )))
            }
        };
        if raw::type_of(e, sql)? != T::napi_string {
            return Err(Error::invalid(format!("statement {i}: sql must be a string")));
        }
        out.push(Statement {
            sql: raw::get_string(e, sql)?,
            params: to_params(e, params)?,
        });
    }
    Ok(out)
}

pub fn backup_path(env: &Env, dest: Unknown) -> Result<std::path::PathBuf> {
    match raw::type_of(env.raw(), dest.raw())? {
        T::napi_string => {
            let path = raw::get_string(env.raw(), dest.raw())?;
            if path.is_empty() || path == ":memory:" {
                return Err(Error::invalid("destPath must be a file path"));
            }
            Ok(path.into())
        }
        _ => Err(Error::invalid("destPath must be a file path string")),
    }
}

pub fn json_value(env: &Env, v: &Json) -> napi::Result<Unknown<'static>> {
    let value = json_to_js(env.raw(), v, None, None, None).map_err(|e| raw::throw(env.raw(), &e))?;
    // SAFETY: `value` was made in this call's env and scope, and napi-rs returns it to JavaScript
    // before the scope closes, so the `'static` lifetime is never relied on beyond that.
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), value) })
}

#[napi(js_name = "SQLiteConnectionPool")]
pub struct SqliteConnectionPool {
    lease: Arc<Lease>,
    settler: Settler,
    /// Set by `__attach`: this object's index as an emitter and the sink of the pool's events.
    emitter: RefCell<Option<(u32, Arc<dyn EventSink>)>>,
    /// Open interactive transactions, by id: where their statements go, and why one ended.
    sessions: RefCell<HashMap<u32, (Sender<Command>, Ended)>>,
    next_session: Cell<u32>,
    /// The iterations this object opened (owned by their JavaScript functions), to end at close.
    iterations: RefCell<Vec<rc::Weak<Handle>>>,
}

impl SqliteConnectionPool {
    /// The generic pool object over a lease another binding object already holds.
    pub fn wrap(lease: Arc<Lease>, settler: Settler) -> Self {
        SqliteConnectionPool {
            lease,
            settler,
            emitter: RefCell::new(None),
            sessions: RefCell::new(HashMap::new()),
            next_session: Cell::new(0),
            iterations: RefCell::new(Vec::new()),
        }
    }

    /// The pool as this object sees it (closed once its lease was given back).
    fn snapshot(&self) -> PoolSnapshot {
        self.pool().snapshot(self.lease.is_closed())
    }

    fn announce(&self, announce: Announce) -> Option<(u32, Announce)> {
        self.emitter.borrow().as_ref().map(|(target, _)| (*target, announce))
    }

    fn pool(&self) -> &Pool {
        self.lease.pool()
    }
}

#[napi]
impl SqliteConnectionPool {
    /// Opens the database (creating it and its directory), the writer, readers and workers.
    /// Throws `INVALID_CONFIG` for a bad option or `POOL_*` variable, a SQLite error for a file
    /// that cannot be opened.
    #[napi(constructor, ts_args_type = "path: string, options?: PoolOptions")]
    pub fn new(mut env: Env, path: Unknown, options: Option<Unknown>) -> napi::Result<Self> {
        let opened = sql_text(&env, path, "path")
            .map_err(|_| Error::invalid("path must be a file path string or \":memory:\""))
            .and_then(|p| {
                let (config, mode) = read_config(env.raw(), options.map(|o| o.raw()))?;
                let settler = Settler::new(env.raw(), mode)?;
                Ok((open_pool(&mut env, &p, config)?, settler))
            });
        match opened {
            Ok((lease, settler)) => Ok(SqliteConnectionPool::wrap(lease, settler)),
            Err(e) => Err(raw::throw(env.raw(), &e)),
        }
    }

    // The calls below take their options last; `lib/index.js` reads their `signal` (through
    // `js::abort`) and passes its token as the hidden `abort` argument.

    /// All rows of a read-only query, run on a reader thread.
    #[napi(
        ts_generic_types = "T = Row",
        ts_args_type = "sql: string, params?: Params, options?: ObjectOptions",
        ts_return_type = "Promise<T[]>"
    )]
    pub fn read(
        &self,
        env: Env,
        sql: Unknown,
        params: Option<Unknown>,
        options: Option<Unknown>,
        abort: Option<&External<Token>>,
    ) -> napi::Result<JsPromise> {
        self.query(env, (Lane::Read, Fetch::All), sql, params, options, abort)
    }

    /// The first row of a read-only query, or null.
    #[napi(
        ts_generic_types = "T = Row",
        ts_args_type = "sql: string, params?: Params, options?: ObjectOptions",
        ts_return_type = "Promise<T | null>"
    )]
    pub fn get(
        &self,
        env: Env,
        sql: Unknown,
        params: Option<Unknown>,
        options: Option<Unknown>,
        abort: Option<&External<Token>>,
    ) -> napi::Result<JsPromise> {
        self.query(env, (Lane::Read, Fetch::First), sql, params, options, abort)
    }

    /// A heavy read-only query on a worker thread, so it never delays `read()`.
    #[napi(
        ts_generic_types = "T = Row",
        ts_args_type = "sql: string, params?: Params, options?: ObjectOptions",
        ts_return_type = "Promise<T[]>"
    )]
    pub fn execute_in_worker(
        &self,
        env: Env,
        sql: Unknown,
        params: Option<Unknown>,
        options: Option<Unknown>,
        abort: Option<&External<Token>>,
    ) -> napi::Result<JsPromise> {
        self.query(env, (Lane::Worker, Fetch::All), sql, params, options, abort)
    }

    /// A query `(lane, fetch)`: on the readers or the workers, all rows or the first.
    fn query(
        &self,
        env: Env,
        (lane, fetch): (Lane, Fetch),
        sql: Unknown,
        params: Option<Unknown>,
        options: Option<Unknown>,
        abort: Option<&External<Token>>,
    ) -> napi::Result<JsPromise> {
        let announce = (lane == Lane::Read).then(|| Announce::failure("read-error"));
        self.statement(
            &env,
            lane,
            announce,
            (sql, params, options, abort),
            move |pool, sql, params, form, reply| pool.query(lane, sql, params, fetch, form, reply),
        )
    }

    /// A call that runs one statement, `(sql, params?, options?)` and its abort token, submitted
    /// on `lane`: `run` hands the statement to the pool.
    fn statement(
        &self,
        env: &Env,
        lane: Lane,
        announce: Option<Announce>,
        (sql, params, options, abort): (Unknown, Option<Unknown>, Option<Unknown>, Option<&External<Token>>),
        run: impl FnOnce(&Pool, String, Params, Form, Reply),
    ) -> napi::Result<JsPromise> {
        let input = call_input(env, sql, params, options).and_then(|i| Ok((i, cancel_of(abort)?)));
        self.submit(
            env,
            lane,
            announce,
            input.map(|((sql, params, options), cancel)| {
                move |done| run(self.pool(), sql, params, options.form(), Reply::new(done, cancel))
            }),
        )
    }

    /// One write, committed (with whatever else is queued) before the promise resolves; the
    /// rows of a statement that returns columns (`RETURNING`) come with it.
    #[napi(
        ts_generic_types = "T = Row",
        ts_args_type = "sql: string, params?: Params, options?: ObjectOptions",
        ts_return_type = "Promise<WriteResult<T>>"
    )]
    pub fn write(
        &self,
        env: Env,
        sql: Unknown,
        params: Option<Unknown>,
        options: Option<Unknown>,
        abort: Option<&External<Token>>,
    ) -> napi::Result<JsPromise> {
        self.statement(
            &env,
            Lane::Write,
            Some(Announce::failure("write-error")),
            (sql, params, options, abort),
            |pool, sql, params, form, reply| pool.execute(sql, params, form, reply),
        )
    }

    /// Several statements, all committed or none.
    #[napi(
        ts_args_type = "statements: Array<Statement | string>, options?: ObjectOptions",
        ts_return_type = "Promise<WriteResult[]>"
    )]
    pub fn transaction(
        &self,
        env: Env,
        list: Unknown,
        options: Option<Unknown>,
        abort: Option<&External<Token>>,
    ) -> napi::Result<JsPromise> {
        let input = statements(&env, list).and_then(|list| {
            Ok((
                list,
                CallOptions::read(env.raw(), options.map(|o| o.raw()))?,
                cancel_of(abort)?,
            ))
        });
        self.submit(
            &env,
            Lane::Write,
            Some(Announce::failure("transaction-error")),
            input.map(|(list, options, cancel)| {
                move |done| self.pool().transaction(list, options.form(), Reply::new(done, cancel))
            }),
        )
    }

    /// A PRAGMA's rows. Without `value` (or with null), read on a reader (any PRAGMA the pool lets readers
    /// run); with one, set on the writer (`user_version`, `application_id`, `max_page_count`
    /// only) and read back there once committed.
    #[napi(
        ts_generic_types = "T = Row",
        ts_args_type = "name: string, value?: number | bigint | boolean | null, options?: ObjectOptions",
        ts_return_type = "Promise<T[]>"
    )]
    pub fn pragma(
        &self,
        env: Env,
        name: Unknown,
        value: Option<Unknown>,
        options: Option<Unknown>,
        abort: Option<&External<Token>>,
    ) -> napi::Result<JsPromise> {
        let e = env.raw();
        let input = sql_text(&env, name, "name").and_then(|name| {
            let value = value.map(|v| to_value(e, v.raw(), &|| "value".into())).transpose()?;
            let form = CallOptions::read(e, options.map(|o| o.raw()))?.form();
            Ok((name, value, form, cancel_of(abort)?))
        });
        let (lane, announce) = match input {
            Ok((_, Some(_), _, _)) => (Lane::Write, "write-error"),
            _ => (Lane::Read, "read-error"),
        };
        self.submit(
            &env,
            lane,
            Some(Announce::failure(announce)),
            input.map(|(name, value, form, cancel)| {
                move |done| self.pool().pragma(&name, value, form, Reply::new(done, cancel))
            }),
        )
    }

    /// Runs a script of several statements (a migration) on the writer as one transaction of
    /// its group commit: all of it or, when a statement fails, none of it.
    #[napi(
        ts_args_type = "script: string, options?: CallOptions",
        ts_return_type = "Promise<ExecResult>"
    )]
    pub fn exec(
        &self,
        env: Env,
        script: Unknown,
        options: Option<Unknown>,
        abort: Option<&External<Token>>,
    ) -> napi::Result<JsPromise> {
        let input = sql_text(&env, script, "script").and_then(|s| {
            CallOptions::read(env.raw(), options.map(|o| o.raw()))?;
            Ok((s, cancel_of(abort)?))
        });
        self.submit(
            &env,
            Lane::Write,
            Some(Announce::failure("write-error")),
            input.map(|(script, cancel)| move |done| self.pool().exec(script, Reply::new(done, cancel))),
        )
    }

    /// Finishes queued and running work, checkpoints the WAL, stops the threads. Later calls
    /// reject with `POOL_CLOSED`.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close(&self, env: Env) -> napi::Result<JsPromise> {
        let announce = self.announce(Announce {
            on_success: Some("closed"),
            on_failure: Some("close-error"),
        });
        let (done, promise) = self
            .settler
            .announced(announce)
            .map_err(|e| raw::throw(env.raw(), &e))?;
        // This object's iterations end with it, even while other users keep the pool open.
        let open: Vec<_> = self.iterations.borrow_mut().drain(..).collect();
        for iteration in open.iter().filter_map(rc::Weak::upgrade) {
            iteration.close(Some(Error::PoolClosed), Box::new(|_| {}));
        }
        Lease::release(&self.lease, done);
        Ok(JsPromise(promise))
    }

    /// Makes this object the emitter of its pool's events (`health-check`, `worker-replaced`, …)
    /// and of its calls' outcomes (`read-error`, `closed`, …). Called once by the JavaScript
    /// class that adds the EventEmitter surface.
    #[napi(js_name = "__attach", skip_typescript)]
    pub fn attach(&self, env: Env, this: This) -> napi::Result<()> {
        if self.emitter.borrow().is_some() {
            return Ok(());
        }
        let made = self
            .settler
            .emitter(this.object.raw(), &self.lease)
            .map_err(|e| raw::throw(env.raw(), &e))?;
        *self.emitter.borrow_mut() = Some(made);
        Ok(())
    }

    /// Opens an interactive transaction on the writer; resolves to its id once `BEGIN IMMEDIATE`
    /// ran. The JavaScript `transaction(fn)` drives it with `__run` and `__end`.
    /// `abort` is the token of `transaction(fn, options)`: a signal is refused there, since what
    /// an abort should undo in a transaction `fn` drives is `fn`'s to say (it throws to roll back).
    #[napi(js_name = "__begin", skip_typescript)]
    pub fn begin(&self, env: Env, abort: Option<&External<Token>>) -> napi::Result<JsPromise> {
        let refused = match cancel_of(abort) {
            Ok(None) => None,
            Ok(Some(_)) => Some(Error::invalid(
                "transaction(fn) takes no signal: throw inside fn to roll it back; signals apply to transaction([...])",
            )),
            Err(e) => Some(e),
        };
        if let Some(e) = refused {
            return self.submit(
                &env,
                Lane::Write,
                Some(Announce::failure("transaction-error")),
                Err::<fn(Completion), _>(e),
            );
        }
        let id = self.next_session.get();
        self.next_session.set(id.wrapping_add(1));
        let (commands, received) = crossbeam_channel::unbounded();
        let ended = Ended::default();
        self.sessions.borrow_mut().insert(id, (commands, ended.clone()));
        let started = move |done: Completion| {
            let started: Completion = Box::new(move |r| done(r.map(|_| Output::Json(id.into()))));
            self.pool().begin(received, ended, started)
        };
        self.submit(
            &env,
            Lane::Write,
            Some(Announce::failure("transaction-error")),
            Ok(started),
        )
    }

    /// Runs one statement in interactive transaction `id`: `kind` 0 = all rows, 1 = first row,
    /// 2 = a write's `{ changes, lastInsertRowid }` (and `rows` when it returns columns).
    #[napi(js_name = "__run", skip_typescript)]
    pub fn run_in(
        &self,
        env: Env,
        id: u32,
        kind: u32,
        sql: Unknown,
        params: Option<Unknown>,
        options: Option<Unknown>,
    ) -> napi::Result<JsPromise> {
        let kind = match kind {
            0 => Kind::Read,
            1 => Kind::Get,
            _ => Kind::Write,
        };
        let input = call_input(&env, sql, params, options).and_then(|(sql, params, options)| {
            let sessions = self.sessions.borrow();
            let (commands, ended) = sessions.get(&id).ok_or_else(session_over)?;
            Ok((commands.clone(), ended.clone(), sql, params, options.form()))
        });
        self.submit(
            &env,
            Lane::Write,
            None,
            input.map(|(commands, ended, sql, params, form)| {
                move |done: Completion| {
                    if let Err(crossbeam_channel::SendError(Command::Run { done, .. })) = commands.send(Command::Run {
                        kind,
                        form,
                        sql,
                        params,
                        done,
                    }) {
                        done(Err(ended.get().unwrap_or_else(session_over)))
                    }
                }
            }),
        )
    }

    /// Commits (`commit` true) or rolls back interactive transaction `id`.
    #[napi(js_name = "__end", skip_typescript)]
    pub fn end(&self, env: Env, id: u32, commit: bool) -> napi::Result<JsPromise> {
        let session = self.sessions.borrow_mut().remove(&id).ok_or_else(session_over);
        self.submit(
            &env,
            Lane::Write,
            None,
            session.map(|(commands, ended)| {
                move |done: Completion| {
                    if let Err(crossbeam_channel::SendError(Command::End { done, .. })) =
                        commands.send(Command::End { commit, done })
                    {
                        match ended.get() {
                            Some(why) if commit => done(Err(why)),
                            _ => done(Ok(Output::Done)),
                        }
                    }
                }
            }),
        )
    }

    /// Opens an iteration of a read-only query's rows on a reader: returns `{ next, pull, close }`
    /// (see `js/iteration.rs`), which the JavaScript `iterate()` drives. Bad input throws a coded
    /// error, which the async generator turns into its first rejection.
    #[napi(js_name = "__iterOpen", skip_typescript)]
    pub fn iter_open(
        &self,
        env: Env,
        sql: Unknown,
        params: Option<Unknown>,
        options: Option<Unknown>,
    ) -> napi::Result<Unknown<'static>> {
        let opened = sql_text(&env, sql, "sql")
            .and_then(|sql| Ok((sql, to_params(env.raw(), params.map(|p| p.raw()))?)))
            .and_then(|(sql, params)| Ok((sql, params, iterate_batch(&env, options)?)))
            .and_then(|(sql, params, batch)| {
                if self.lease.is_closed() {
                    return Err(Error::PoolClosed);
                }
                self.pool().iterate(sql, params, batch)
            })
            .map(Rc::new)
            .and_then(|handle| {
                let functions = iteration::functions(&env, &handle, &self.settler, &self.lease)?;
                let mut open = self.iterations.borrow_mut();
                open.retain(|h| h.strong_count() > 0);
                open.push(Rc::downgrade(&handle));
                Ok(functions)
            });
        let functions = opened.map_err(|e| raw::throw(env.raw(), &e))?;
        // SAFETY: `functions` was made in this call's env and scope, and napi-rs returns it to
        // JavaScript before the scope closes, so the `'static` lifetime is never relied on.
        Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), functions) })
    }

    /// The number of reader and worker threads, for the `reader-connection-ready` and
    /// `worker-ready` events.
    #[napi(js_name = "__threads", skip_typescript)]
    pub fn threads(&self) -> Vec<u32> {
        let config = self.pool().config();
        vec![config.max_readers as u32, config.max_workers as u32]
    }

    /// Resolves at once: the pool opened in its constructor. Kept because ruv-swarm's pool had
    /// a public `initialize()`; calling it again opens nothing new.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn initialize(&self, env: Env) -> napi::Result<JsPromise> {
        self.submit(&env, Lane::Read, None, Ok(|done: Completion| done(Ok(Output::Done))))
    }

    /// Checks every connection now (besides the periodic checks); resolves when done, after the
    /// `health-check` event.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn perform_health_check(&self, env: Env) -> napi::Result<JsPromise> {
        self.submit(
            &env,
            Lane::Read,
            None,
            Ok(|done: Completion| self.pool().check_health(done)),
        )
    }

    /// Resolves once the pool is open (it opens in the constructor, so at once).
    #[napi(getter, ts_return_type = "Promise<void>")]
    pub fn ready(&self, env: Env) -> napi::Result<JsPromise> {
        self.submit(
            &env,
            Lane::Read,
            None,
            Ok(|done: Completion| done(Ok(crate::pool::job::Output::Done))),
        )
    }

    #[napi(getter)]
    pub fn is_healthy(&self) -> bool {
        self.snapshot().healthy
    }

    #[napi(getter)]
    pub fn path(&self) -> String {
        self.pool().path().display().to_string()
    }

    /// Counters, queue lengths, averages and latency percentiles.
    #[napi(ts_return_type = "PoolStats")]
    pub fn get_stats(&self, env: Env) -> napi::Result<Unknown<'static>> {
        json_value(&env, &payloads::get_stats(&self.snapshot()))
    }

    /// The `pool_health` MCP payload.
    #[napi(ts_return_type = "PoolHealthPayload")]
    pub fn pool_health(&self, env: Env) -> napi::Result<Unknown<'static>> {
        json_value(&env, &payloads::pool_health(Some(&self.snapshot())))
    }

    /// The stats in Prometheus text exposition format.
    #[napi]
    pub fn metrics(&self) -> String {
        payloads::prometheus(&self.snapshot())
    }

    /// A consistent online copy of the database at `destPath`, made on a worker while writes go
    /// on; it passed `PRAGMA integrity_check` before the promise resolves.
    #[napi(ts_args_type = "destPath: string", ts_return_type = "Promise<BackupResult>")]
    pub fn backup(&self, env: Env, dest: Unknown) -> napi::Result<JsPromise> {
        let input = backup_path(&env, dest);
        self.submit(
            &env,
            Lane::Worker,
            None,
            input.map(|dest| move |done| self.pool().backup(dest, done)),
        )
    }

    /// A promise for one call: bad input (including a getter or Proxy that threw while it was
    /// read) rejects it, counted in `lane`; otherwise `run` queues the work.
    fn submit<F: FnOnce(Completion)>(
        &self,
        env: &Env,
        lane: Lane,
        announce: Option<Announce>,
        input: Result<F>,
    ) -> napi::Result<JsPromise> {
        let input = input.map_err(|e| raw::absorb(env.raw(), e));
        let announce = announce.and_then(|a| self.announce(a));
        let (done, promise) = self
            .settler
            .announced(announce)
            .map_err(|e| raw::throw(env.raw(), &e))?;
        match input {
            Ok(_) if self.lease.is_closed() => self.pool().reject(lane, crate::error::Error::PoolClosed, done),
            Ok(run) => run(done),
            Err(e) => self.pool().reject(lane, e, done),
        }
        Ok(JsPromise(promise))
    }
}
