//! `SwarmPersistencePooled`: ruv-swarm's persistence API on the engine, same method names,
//! argument shapes and result shapes. Every method initializes on first use, as the original did.

use napi::bindgen_prelude::{JavaScriptClassExt, JsValue as _, Unknown};
use napi::Env;
use napi_derive::napi;

use crate::error::{Error, Result};
use crate::js::inputs;
use crate::js::options::read_config;
use std::sync::Arc;

use crate::js::pool_class::{backup_path, json_value, released_at_teardown, SqliteConnectionPool};
use crate::js::promise::JsPromise;
use crate::js::raw;
use crate::js::settle::Settler;
use crate::payloads;
use crate::persistence::Persistence;
use crate::pool::job::{Completion, Output};
use crate::store::inputs::{NETWORK_FIELDS, TASK_FIELDS};
use crate::store::memory::MAX_TTL_SECS;
use crate::store::Store;

#[napi(js_name = "SwarmPersistencePooled")]
pub struct SwarmPersistencePooled {
    core: Persistence,
    settler: Settler,
    pool_object: raw::Held,
}

#[napi]
impl SwarmPersistencePooled {
    /// Reads the options (over `POOL_*`); opens nothing until `initialize()` or the first call.
    #[napi(constructor, ts_args_type = "dbPath?: string | null, options?: PoolOptions")]
    pub fn new(env: Env, db_path: Option<Unknown>, options: Option<Unknown>) -> napi::Result<Self> {
        let made = (|| {
            let path = inputs::opt_string(env.raw(), db_path.map(|p| p.raw()), "dbPath")?;
            let (config, mode) = match read_config(env.raw(), options.map(|o| o.raw())) {
                Ok((config, mode)) => (Ok(config), mode),
                Err(e) => (Err(raw::absorb(env.raw(), e)), Default::default()),
            };
            Ok(SwarmPersistencePooled {
                core: Persistence::new(path, config),
                settler: Settler::new(env.raw(), mode)?,
                pool_object: raw::Held::new(),
            })
        })();
        made.map_err(|e: Error| raw::throw(env.raw(), &e))
    }

    /// A promise for one operation of the core, which opens the pool on first use.
    fn op<I: Send + 'static>(
        &self,
        env: &mut Env,
        input: Result<I>,
        run: impl FnOnce(&Store, I, Completion) + Send + 'static,
    ) -> napi::Result<JsPromise> {
        let input = input.map_err(|e| raw::absorb(env.raw(), e));
        let (done, promise) = self.settler.promise().map_err(|e| raw::throw(env.raw(), &e))?;
        let mut open = |path: &str, config| {
            let engine = crate::engine::open(path, config)?;
            released_at_teardown(env, Arc::clone(&engine))?;
            Ok(engine)
        };
        self.core.operate(&mut open, input, run, done);
        Ok(JsPromise(promise))
    }

    /// Opens the pool and creates or migrates the schema. Idempotent; concurrent callers share
    /// one initialization; after a failure it can be called again.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn initialize(&self, mut env: Env) -> napi::Result<JsPromise> {
        self.op(&mut env, Ok(()), |_, (), done| done(Ok(Output::Done)))
    }

    #[napi(
        ts_args_type = "swarm: SwarmInput",
        ts_return_type = "Promise<WriteResult | { id: string; changes: 0; lastInsertRowid: null }>"
    )]
    pub fn create_swarm(&self, mut env: Env, swarm: Unknown) -> napi::Result<JsPromise> {
        let input = inputs::new_swarm(env.raw(), swarm.raw(), self.settler.names());
        self.op(&mut env, input, |s, i, d| s.create_swarm(i, d))
    }

    #[napi(ts_return_type = "Promise<SwarmRow[]>")]
    pub fn get_active_swarms(&self, mut env: Env) -> napi::Result<JsPromise> {
        self.op(&mut env, Ok(()), |s, (), d| s.get_active_swarms(d))
    }

    #[napi(ts_args_type = "agent: AgentInput", ts_return_type = "Promise<WriteResult>")]
    pub fn create_agent(&self, mut env: Env, agent: Unknown) -> napi::Result<JsPromise> {
        let input = inputs::new_agent(env.raw(), agent.raw(), self.settler.names());
        self.op(&mut env, input, |s, i, d| s.create_agent(i, d))
    }

    #[napi(
        ts_args_type = "agentId: string, status: string",
        ts_return_type = "Promise<WriteResult>"
    )]
    pub fn update_agent_status(&self, mut env: Env, agent_id: Unknown, status: Unknown) -> napi::Result<JsPromise> {
        let e = env.raw();
        let input = inputs::strings2(e, agent_id.raw(), "agentId", status.raw(), "status");
        self.op(&mut env, input, |s, (a, st), d| s.update_agent_status(a, st, d))
    }

    #[napi(ts_args_type = "id: string", ts_return_type = "Promise<AgentRow | null>")]
    pub fn get_agent(&self, mut env: Env, id: Unknown) -> napi::Result<JsPromise> {
        let input = inputs::string(env.raw(), id.raw(), "id");
        self.op(&mut env, input, |s, id, d| s.get_agent(id, d))
    }

    #[napi(
        ts_args_type = "swarmId: string, filter?: string",
        ts_return_type = "Promise<AgentRow[]>"
    )]
    pub fn get_swarm_agents(
        &self,
        mut env: Env,
        swarm_id: Unknown,
        filter: Option<Unknown>,
    ) -> napi::Result<JsPromise> {
        let e = env.raw();
        let input = inputs::string(e, swarm_id.raw(), "swarmId").and_then(|sid| {
            let f = inputs::opt_string(e, filter.map(|f| f.raw()), "filter")?.filter(|f| f != "all");
            Ok((sid, f))
        });
        self.op(&mut env, input, |s, (sid, f), d| s.get_swarm_agents(sid, f, d))
    }

    #[napi(ts_args_type = "task: TaskInput", ts_return_type = "Promise<WriteResult>")]
    pub fn create_task(&self, mut env: Env, task: Unknown) -> napi::Result<JsPromise> {
        let input = inputs::new_task(env.raw(), task.raw(), self.settler.names());
        self.op(&mut env, input, |s, i, d| s.create_task(i, d))
    }

    #[napi(
        ts_args_type = "taskId: string, updates: TaskUpdate",
        ts_return_type = "Promise<WriteResult>"
    )]
    pub fn update_task(&self, mut env: Env, task_id: Unknown, updates: Unknown) -> napi::Result<JsPromise> {
        let e = env.raw();
        let input = inputs::string(e, task_id.raw(), "taskId").and_then(|id| {
            Ok((
                id,
                inputs::update(e, updates.raw(), TASK_FIELDS, "updateTask", self.settler.names())?,
            ))
        });
        self.op(&mut env, input, |s, (id, u), d| s.update_task(id, u, d))
    }

    #[napi(ts_args_type = "id: string", ts_return_type = "Promise<TaskRow | null>")]
    pub fn get_task(&self, mut env: Env, id: Unknown) -> napi::Result<JsPromise> {
        let input = inputs::string(env.raw(), id.raw(), "id");
        self.op(&mut env, input, |s, id, d| s.get_task(id, d))
    }

    #[napi(
        ts_args_type = "swarmId: string, status?: string | null",
        ts_return_type = "Promise<TaskRow[]>"
    )]
    pub fn get_swarm_tasks(&self, mut env: Env, swarm_id: Unknown, status: Option<Unknown>) -> napi::Result<JsPromise> {
        let e = env.raw();
        let input = inputs::string(e, swarm_id.raw(), "swarmId")
            .and_then(|sid| Ok((sid, inputs::opt_string(e, status.map(|v| v.raw()), "status")?)));
        self.op(&mut env, input, |s, (sid, st), d| s.get_swarm_tasks(sid, st, d))
    }

    #[napi(
        ts_args_type = "agentId: string, key: string, value: unknown, ttlSecs?: number | null",
        ts_return_type = "Promise<WriteResult>"
    )]
    pub fn store_memory(
        &self,
        mut env: Env,
        agent_id: Unknown,
        key: Unknown,
        value: Unknown,
        ttl_secs: Option<Unknown>,
    ) -> napi::Result<JsPromise> {
        let e = env.raw();
        let input = (|| {
            let agent = inputs::string(e, agent_id.raw(), "agentId")?;
            let key = inputs::string(e, key.raw(), "key")?;
            // `null` is stored as JSON null; what JSON.stringify turns into nothing is refused.
            let value = inputs::json(e, value.raw(), "value", self.settler.names())?.ok_or_else(|| {
                Error::invalid(
                    "value cannot be stored as JSON (undefined, a function or a symbol); pass null to store null",
                )
            })?;
            let ttl = inputs::opt_number(e, ttl_secs.map(|t| t.raw()), "ttlSecs")?;
            if ttl.is_some_and(|t| !(0.0..=MAX_TTL_SECS).contains(&t)) {
                return Err(Error::invalid(format!(
                    "ttlSecs must be from 0 to {MAX_TTL_SECS} (100 years; 0 or null: never expires)"
                )));
            }
            Ok((agent, key, value, ttl))
        })();
        self.op(&mut env, input, |s, (a, k, v, t), d| {
            s.store_memory(a, k, Some(v), t, d)
        })
    }

    #[napi(
        ts_args_type = "agentId: string, key: string",
        ts_return_type = "Promise<MemoryRow | null>"
    )]
    pub fn get_memory(&self, mut env: Env, agent_id: Unknown, key: Unknown) -> napi::Result<JsPromise> {
        let e = env.raw();
        let input = inputs::strings2(e, agent_id.raw(), "agentId", key.raw(), "key");
        self.op(&mut env, input, |s, (a, k), d| s.get_memory(a, k, d))
    }

    #[napi(ts_args_type = "agentId: string", ts_return_type = "Promise<MemoryRow[]>")]
    pub fn get_all_memory(&self, mut env: Env, agent_id: Unknown) -> napi::Result<JsPromise> {
        let input = inputs::string(env.raw(), agent_id.raw(), "agentId");
        self.op(&mut env, input, |s, a, d| s.get_all_memory(a, d))
    }

    #[napi(
        ts_args_type = "agentId: string, key: string",
        ts_return_type = "Promise<WriteResult>"
    )]
    pub fn delete_memory(&self, mut env: Env, agent_id: Unknown, key: Unknown) -> napi::Result<JsPromise> {
        let e = env.raw();
        let input = inputs::strings2(e, agent_id.raw(), "agentId", key.raw(), "key");
        self.op(&mut env, input, |s, (a, k), d| s.delete_memory(a, k, d))
    }

    #[napi(ts_return_type = "Promise<WriteResult>")]
    pub fn cleanup_expired_memory(&self, mut env: Env) -> napi::Result<JsPromise> {
        self.op(&mut env, Ok(()), |s, (), d| s.cleanup_expired_memory(d))
    }

    #[napi(
        ts_args_type = "network: NeuralNetworkInput",
        ts_return_type = "Promise<WriteResult & { id: string }>"
    )]
    pub fn store_neural_network(&self, mut env: Env, network: Unknown) -> napi::Result<JsPromise> {
        let input = inputs::new_network(env.raw(), network.raw(), self.settler.names());
        self.op(&mut env, input, |s, n, d| s.store_neural_network(n, d))
    }

    #[napi(
        ts_args_type = "id: string, updates: NeuralNetworkUpdate",
        ts_return_type = "Promise<WriteResult>"
    )]
    pub fn update_neural_network(&self, mut env: Env, id: Unknown, updates: Unknown) -> napi::Result<JsPromise> {
        let e = env.raw();
        let input = inputs::string(e, id.raw(), "id").and_then(|id| {
            Ok((
                id,
                inputs::update(
                    e,
                    updates.raw(),
                    NETWORK_FIELDS,
                    "updateNeuralNetwork",
                    self.settler.names(),
                )?,
            ))
        });
        self.op(&mut env, input, |s, (id, u), d| s.update_neural_network(id, u, d))
    }

    #[napi(ts_args_type = "agentId: string", ts_return_type = "Promise<NeuralNetworkRow[]>")]
    pub fn get_agent_neural_networks(&self, mut env: Env, agent_id: Unknown) -> napi::Result<JsPromise> {
        let input = inputs::string(env.raw(), agent_id.raw(), "agentId");
        self.op(&mut env, input, |s, a, d| s.get_agent_neural_networks(a, d))
    }

    #[napi(
        ts_args_type = "entityType: string, entityId: string, metricName: string, metricValue: number | null",
        ts_return_type = "Promise<WriteResult & { id: string }>"
    )]
    pub fn record_metric(
        &self,
        mut env: Env,
        entity_type: Unknown,
        entity_id: Unknown,
        metric_name: Unknown,
        metric_value: Option<Unknown>,
    ) -> napi::Result<JsPromise> {
        let e = env.raw();
        let input = (|| {
            Ok((
                inputs::string(e, entity_type.raw(), "entityType")?,
                inputs::string(e, entity_id.raw(), "entityId")?,
                inputs::string(e, metric_name.raw(), "metricName")?,
                inputs::opt_number(e, metric_value.map(|v| v.raw()), "metricValue")?,
            ))
        })();
        self.op(&mut env, input, |s, (t, id, n, v), d| s.record_metric(t, id, n, v, d))
    }

    #[napi(
        ts_args_type = "entityType: string, entityId: string, metricName?: string | null",
        ts_return_type = "Promise<MetricRow[]>"
    )]
    pub fn get_metrics(
        &self,
        mut env: Env,
        entity_type: Unknown,
        entity_id: Unknown,
        metric_name: Option<Unknown>,
    ) -> napi::Result<JsPromise> {
        let e = env.raw();
        let input = (|| {
            Ok((
                inputs::string(e, entity_type.raw(), "entityType")?,
                inputs::string(e, entity_id.raw(), "entityId")?,
                inputs::opt_string(e, metric_name.map(|v| v.raw()), "metricName")?,
            ))
        })();
        self.op(&mut env, input, |s, (t, id, n), d| s.get_metrics(t, id, n, d))
    }

    #[napi(
        ts_args_type = "swarmId: string | null, eventType: string, eventData?: unknown",
        ts_return_type = "Promise<WriteResult>"
    )]
    pub fn log_event(
        &self,
        mut env: Env,
        swarm_id: Unknown,
        event_type: Unknown,
        event_data: Option<Unknown>,
    ) -> napi::Result<JsPromise> {
        let e = env.raw();
        let input = (|| {
            let data = match event_data {
                Some(v) => inputs::json(e, v.raw(), "eventData", self.settler.names())?,
                None => None,
            };
            Ok((
                inputs::opt_string(e, Some(swarm_id.raw()), "swarmId")?,
                inputs::string(e, event_type.raw(), "eventType")?,
                data,
            ))
        })();
        self.op(&mut env, input, |s, (sid, t, data), d| s.log_event(sid, t, data, d))
    }

    #[napi(
        ts_args_type = "swarmId: string, limit?: number",
        ts_return_type = "Promise<EventRow[]>"
    )]
    pub fn get_swarm_events(&self, mut env: Env, swarm_id: Unknown, limit: Option<Unknown>) -> napi::Result<JsPromise> {
        let e = env.raw();
        let input = (|| {
            let limit = inputs::opt_number(e, limit.map(|l| l.raw()), "limit")?.unwrap_or(100.0);
            if limit.fract() != 0.0 || !(0.0..=1_000_000.0).contains(&limit) {
                return Err(Error::invalid("limit must be a whole number from 0 to 1000000"));
            }
            Ok((inputs::string(e, swarm_id.raw(), "swarmId")?, limit as i64))
        })();
        self.op(&mut env, input, |s, (sid, l), d| s.get_swarm_events(sid, l, d))
    }

    /// Deletes expired memory, events older than 7 days and metrics older than 30, then VACUUMs.
    #[napi(ts_return_type = "Promise<CleanupResult>")]
    pub fn cleanup(&self, mut env: Env) -> napi::Result<JsPromise> {
        self.op(&mut env, Ok(()), |s, (), d| s.cleanup(d))
    }

    /// The pool's `getStats()`, or null before initialization.
    #[napi(ts_return_type = "PoolStats | null")]
    pub fn get_pool_stats(&self, env: Env) -> napi::Result<Unknown<'static>> {
        let stats = self
            .core
            .snapshot()
            .map_or(serde_json::Value::Null, |s| payloads::get_stats(&s));
        json_value(&env, &stats)
    }

    /// `{ totalOperations, totalErrors, averageResponseTime }` (a true mean, in ms).
    #[napi(ts_return_type = "PersistenceStats")]
    pub fn get_persistence_stats(&self, env: Env) -> napi::Result<Unknown<'static>> {
        json_value(&env, &payloads::persistence_counts(self.core.ops()))
    }

    #[napi]
    pub fn is_healthy(&self) -> bool {
        self.core.snapshot().is_some_and(|s| s.healthy)
    }

    /// The `pool_health` MCP payload.
    #[napi(ts_return_type = "PoolHealthPayload")]
    pub fn pool_health(&self, env: Env) -> napi::Result<Unknown<'static>> {
        json_value(&env, &payloads::pool_health(self.core.snapshot().as_ref()))
    }

    /// The `pool_stats` MCP payload.
    #[napi(ts_return_type = "PoolStatsPayload")]
    pub fn pool_stats(&self, env: Env) -> napi::Result<Unknown<'static>> {
        json_value(
            &env,
            &payloads::pool_stats(self.core.snapshot().as_ref(), self.core.ops()),
        )
    }

    /// The `persistence_stats` MCP payload.
    #[napi(ts_return_type = "PersistenceStatsPayload")]
    pub fn persistence_stats(&self, env: Env) -> napi::Result<Unknown<'static>> {
        json_value(
            &env,
            &payloads::persistence_stats(self.core.snapshot().as_ref(), self.core.ops()),
        )
    }

    /// The pool's stats in Prometheus text exposition format (before initialization: only
    /// `swarm_pool_healthy 0`).
    #[napi]
    pub fn metrics(&self) -> String {
        self.core
            .snapshot()
            .map_or_else(payloads::prometheus_without_pool, |s| payloads::prometheus(&s))
    }

    /// A consistent online copy of the database at `destPath` (see `SQLiteConnectionPool.backup`).
    #[napi(ts_args_type = "destPath: string", ts_return_type = "Promise<BackupResult>")]
    pub fn backup(&self, mut env: Env, dest: Unknown) -> napi::Result<JsPromise> {
        let input = backup_path(&env, dest);
        self.op(&mut env, input, |s, dest, d| s.backup(dest, d))
    }

    /// The generic pool under this object (`read`, `write`, `transaction`, `executeInWorker`), or
    /// null before initialization. Made once: `persistence.pool === persistence.pool`.
    #[napi(getter, ts_return_type = "SQLiteConnectionPool | null")]
    pub fn pool(&self, env: &Env) -> napi::Result<Option<Unknown<'static>>> {
        // PostgreSQL has no raw SQLite pool under it.
        let Some(lease) = self.core.lease().and_then(|engine| engine.sqlite()) else {
            return Ok(None);
        };
        let e = env.raw();
        let value = match self.pool_object.get(e) {
            Some(value) => value,
            None => {
                let made = SqliteConnectionPool::wrap(lease, self.settler.clone()).into_instance(env)?;
                self.pool_object.set(e, made.value);
                made.value
            }
        };
        // SAFETY: `value` is fresh from `into_instance` or the strong reference, in this getter's
        // env and scope, and napi-rs hands it to JavaScript before that scope closes.
        Ok(Some(unsafe { Unknown::from_raw_unchecked(e, value) }))
    }

    /// The database file in use.
    #[napi(getter)]
    pub fn db_path(&self) -> String {
        self.core.path().to_string()
    }

    /// Finishes queued work and closes the pool; later calls reject with `POOL_CLOSED`.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close(&self, env: Env) -> napi::Result<JsPromise> {
        let (done, promise) = self.settler.promise().map_err(|e| raw::throw(env.raw(), &e))?;
        self.core.close(done);
        Ok(JsPromise(promise))
    }
}
