//! EventEmitter events on the JavaScript objects: which object hears what, and turning pool
//! events and promise outcomes into `emit(name, …)` calls. Objects are held weakly: an emitter
//! that was collected simply hears nothing.

use std::cell::RefCell;
use std::ptr;
use std::sync::Weak;

use napi::sys;

use crate::error::{Error, Result};
use crate::js::convert::json_to_js;
use crate::js::raw::{self, Env, JsValue, Reference};
use crate::payloads;
use crate::pool::events::PoolEvent;
use crate::pool::shared::Lease;

/// Events announced when a promise settles: e.g. `read-error` before a read rejects, `closed`
/// when `close()` resolves.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Announce {
    pub on_success: Option<&'static str>,
    pub on_failure: Option<&'static str>,
}

impl Announce {
    pub(crate) fn failure(event: &'static str) -> Announce {
        Announce {
            on_success: None,
            on_failure: Some(event),
        }
    }
}

struct Target {
    /// Weak, so an emitter nobody else holds can be collected.
    object: Reference,
    lease: Weak<Lease>,
}

/// The emitter objects of one settler, by index.
pub(crate) struct Targets {
    list: RefCell<Vec<Target>>,
}

impl Targets {
    pub(crate) fn new() -> Targets {
        Targets {
            list: RefCell::new(Vec::new()),
        }
    }

    /// Registers `object` (weakly) as an emitter for the pool `lease` holds; returns its index.
    pub(crate) fn add(&self, env: Env, object: JsValue, lease: &std::sync::Arc<Lease>) -> Result<u32> {
        let reference = Reference::weak(env, object)?;
        let mut list = self.list.borrow_mut();
        list.push(Target {
            object: reference,
            lease: std::sync::Arc::downgrade(lease),
        });
        Ok((list.len() - 1) as u32)
    }

    /// Calls `object.emit(name, ...args)` if the object is still alive. A listener that throws
    /// is reported as an uncaught exception, as Node does for listeners run from callbacks.
    pub(crate) fn emit(&self, env: Env, target: u32, name: &str, args: &[JsValue]) {
        let Some(object) = self.object(env, target) else { return };
        let attempt = || -> Result<()> {
            let emit = raw::get_named(env, object, "emit")?;
            if raw::type_of(env, emit)? != sys::ValueType::napi_function {
                return Ok(());
            }
            let mut all = Vec::with_capacity(args.len() + 1);
            all.push(raw::string(env, name)?);
            all.extend_from_slice(args);
            let mut ignored = ptr::null_mut();
            // SAFETY: `object`, `emit` (a function, checked above) and `all` belong to the settler's
            // current scope (see raw.rs), and `all.len()` handles are readable at `all.as_ptr()`.
            raw::check(
                unsafe { sys::napi_call_function(env, object, emit, all.len(), all.as_ptr(), &mut ignored) },
                "emit",
            )
        };
        if attempt().is_err() {
            if let Some(thrown) = raw::take_exception(env) {
                // SAFETY: `thrown` was just taken from this env's pending exception, so it is a live
                // handle of the current scope; Node reports it as uncaught and returns.
                unsafe { sys::napi_fatal_exception(env, thrown) };
            }
        }
    }

    fn object(&self, env: Env, target: u32) -> Option<JsValue> {
        self.list.borrow().get(target as usize)?.object.get(env).ok().flatten()
    }

    /// Emits a pool event on `target` as the original `SQLiteConnectionPool` named it.
    pub(crate) fn pool_event(&self, env: Env, target: u32, event: &PoolEvent) {
        let lease = self.list.borrow().get(target as usize).and_then(|t| t.lease.upgrade());
        let args: Result<(&str, Vec<JsValue>)> = (|| {
            Ok(match event {
                PoolEvent::HealthCheck {
                    duration,
                    readers,
                    workers,
                } => {
                    let Some(lease) = &lease else {
                        return Ok(("", Vec::new()));
                    };
                    let snapshot = lease.pool().snapshot(lease.is_closed());
                    let payload =
                        payloads::health_check(&snapshot, duration.as_secs_f64() * 1000.0, *readers, *workers);
                    ("health-check", vec![json_to_js(env, &payload, None, None, None)?])
                }
                PoolEvent::HealthCheckError(e) => ("health-check-error", vec![error(env, e)?]),
                PoolEvent::WorkerError(e) => ("worker-error", vec![error(env, e)?]),
                PoolEvent::WorkerExit(code) => ("worker-exit", vec![raw::number(env, f64::from(*code))?]),
                PoolEvent::WorkerReplaced => ("worker-replaced", Vec::new()),
            })
        })();
        if let Ok((name, args)) = args {
            if !name.is_empty() {
                self.emit(env, target, name, &args);
            }
        }
    }
}

/// An `Error` with `code`, as rejections carry.
pub(crate) fn error(env: Env, e: &Error) -> Result<JsValue> {
    raw::error(env, e.code(), &e.to_string())
}
