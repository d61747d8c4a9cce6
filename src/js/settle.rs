//! Settling promises from pool threads. Each pool has one threadsafe function; pool threads push
//! finished results onto a shared queue and wake the JavaScript thread at most once per batch,
//! where `call_js` resolves every queued deferred. The threadsafe function is referenced only
//! while promises are pending, so an idle pool never keeps Node alive.

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::ptr;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use napi::sys::{self, napi_deferred, napi_threadsafe_function};

use crate::error::{Error, Result};
use crate::js::convert::{output_to_js, IntegerMode, Names};
use crate::js::events::{self, Announce, Targets};
use crate::js::raw::{self, Env, HandleScope, JsValue};
use crate::pool::events::{EventSink, PoolEvent};
use crate::pool::job::{Completion, Output};
use crate::pool::shared::Lease;

/// Longest one drain converts results before yielding to the event loop.
const DRAIN_BUDGET: Duration = Duration::from_millis(4);

enum Settled {
    /// A promise's outcome.
    Promise { slot: u32, result: Result<Output> },
    /// A pool event for one of this settler's emitter objects.
    Event { target: u32, event: PoolEvent },
}

struct Queue {
    ready: Vec<Settled>,
    /// A wake-up of the JavaScript thread is on its way.
    scheduled: bool,
    /// The threadsafe function exists; false once Node finalized it (release or teardown).
    alive: bool,
}

struct Shared {
    queue: Mutex<Queue>,
}

/// The pool-thread side: where completions put their results. Sending it across threads is
/// sound because N-API documents `napi_call_threadsafe_function` and
/// `napi_release_threadsafe_function` as callable from any thread, and every use of the handle is
/// made under `queue`'s lock while `alive` is true, i.e. before Node's finalizer ran.
struct Notifier {
    shared: Arc<Shared>,
    tsfn: napi_threadsafe_function,
}

// SAFETY: see the type's documentation; the raw handle is only used as N-API allows from any thread.
unsafe impl Send for Notifier {}
// SAFETY: as above; all uses are serialised by `shared.queue`.
unsafe impl Sync for Notifier {}

impl Notifier {
    fn push(&self, settled: Settled) {
        let mut q = self.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
        q.ready.push(settled);
        if !q.scheduled && q.alive {
            // SAFETY: `alive` under the lock means Node has not finalized the function.
            let status = unsafe {
                sys::napi_call_threadsafe_function(
                    self.tsfn,
                    ptr::null_mut(),
                    sys::ThreadsafeFunctionCallMode::nonblocking,
                )
            };
            q.scheduled = status == sys::Status::napi_ok;
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        let q = self.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
        if q.alive {
            // SAFETY: not finalized yet (checked under the lock); this is our one acquired thread.
            unsafe { sys::napi_release_threadsafe_function(self.tsfn, sys::ThreadsafeFunctionReleaseMode::release) };
        }
    }
}

/// The JavaScript-thread side, owned by the threadsafe function (freed in its finalizer) and
/// shared with the binding objects; only ever touched on the JavaScript thread.
/// A promise waiting to be settled, and the emitter and events that announce its outcome.
type Pending = (napi_deferred, Option<(u32, Announce)>);

struct MainSide {
    env: Env,
    tsfn: Cell<napi_threadsafe_function>,
    shared: Arc<Shared>,
    deferreds: RefCell<Vec<Option<Pending>>>,
    targets: Targets,
    free: RefCell<Vec<u32>>,
    pending: Cell<usize>,
    mode: IntegerMode,
    names: Names,
}

impl MainSide {
    /// Settles one item; true when it was a promise.
    fn settle(&self, env: Env, settled: Settled) -> bool {
        let (slot, result) = match settled {
            Settled::Promise { slot, result } => (slot, result),
            Settled::Event { target, event } => {
                let _scope = HandleScope::open(env);
                self.targets.pool_event(env, target, &event);
                return false;
            }
        };
        let Some((deferred, announce)) = self
            .deferreds
            .borrow_mut()
            .get_mut(slot as usize)
            .and_then(Option::take)
        else {
            return false;
        };
        self.free.borrow_mut().push(slot);
        let _scope = HandleScope::open(env);
        let value = match &result {
            Ok(out) => output_to_js(env, out, self.mode, &self.names).map_err(|e| (e, true)),
            Err(e) => Err((e.clone(), false)),
        };
        if let Some((target, announce)) = announce {
            match (&value, announce) {
                (
                    Ok(_),
                    Announce {
                        on_success: Some(name), ..
                    },
                ) => self.targets.emit(env, target, name, &[]),
                (
                    Err((e, _)),
                    Announce {
                        on_failure: Some(name), ..
                    },
                ) => {
                    if let Ok(err) = events::error(env, e) {
                        self.targets.emit(env, target, name, &[err]);
                    }
                }
                _ => {}
            }
        }
        // SAFETY: `deferred` came from napi_create_promise in this env and is settled exactly once
        // (it was taken out of its slot above).
        unsafe {
            match value {
                Ok(v) => sys::napi_resolve_deferred(env, deferred, v),
                Err((e, _)) => match raw::error(env, e.code(), &e.to_string()) {
                    Ok(err) => sys::napi_reject_deferred(env, deferred, err),
                    Err(_) => sys::napi_reject_deferred(env, deferred, raw::undefined(env).unwrap_or(ptr::null_mut())),
                },
            };
        }
        true
    }

    fn adjust_pending(&self, delta: isize) {
        let before = self.pending.get();
        let after = before.saturating_add_signed(delta);
        self.pending.set(after);
        // SAFETY: called on the JavaScript thread with the env the function was created in.
        unsafe {
            if before == 0 && after > 0 {
                sys::napi_ref_threadsafe_function(self.env, self.tsfn.get());
            } else if before > 0 && after == 0 {
                sys::napi_unref_threadsafe_function(self.env, self.tsfn.get());
            }
        }
    }
}

/// The threadsafe function's `call_js`: settles what pool threads queued.
///
/// # Safety
/// Only Node calls this, on the JavaScript thread, with that thread's `env` (null while the
/// function is torn down with the environment) and the `context` given in `Settler::new`.
unsafe extern "C" fn call_js(env: Env, _callback: JsValue, context: *mut c_void, _data: *mut c_void) {
    if env.is_null() || context.is_null() {
        return; // the function is being torn down with the environment
    }
    // SAFETY: `context` is the `Rc<MainSide>` leaked in `Settler::new`, freed only in `finalize`,
    // which Node runs after the last `call_js`; we are on the JavaScript thread in `env`.
    unsafe { drain(env, context as *const MainSide) };
}

/// Settles everything ready, then yields: the next drain runs from an async work item queued on
/// libuv, which completes on a later turn of the event loop, after timers and I/O had theirs.
/// Without this, Node's dispatcher calls `call_js` back to back for as long as pool threads keep
/// finishing work, and a busy pool would starve the event loop. No JavaScript global is involved
/// (a fake `setImmediate` installed by a test framework must not stall the pool).
/// `scheduled` stays true until a drain finds nothing new, so pool threads do not wake us twice.
///
/// # Safety
/// `main_ptr` must point to a live `MainSide` held by a strong count that outlives this call
/// (the threadsafe function's context, or the one a pending resume holds), and `env` must be the
/// environment of the current callback on the JavaScript thread.
unsafe fn drain(env: Env, main_ptr: *const MainSide) {
    // SAFETY: guaranteed alive by the caller (see above).
    let main = unsafe { &*main_ptr };
    let items = std::mem::take(&mut main.shared.queue.lock().unwrap_or_else(|p| p.into_inner()).ready);
    let started = Instant::now();
    let mut items = items.into_iter();
    let mut count = 0;
    for item in items.by_ref() {
        count += usize::from(main.settle(env, item));
        if started.elapsed() >= DRAIN_BUDGET {
            break;
        }
    }
    let rest: Vec<Settled> = items.collect();
    if !rest.is_empty() {
        // Out of budget: the rest goes first in the next drain.
        let mut q = main.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
        let newer = std::mem::replace(&mut q.ready, rest);
        q.ready.extend(newer);
    }
    main.adjust_pending(-(count as isize));
    // SAFETY: `env` and `main_ptr` are this function's own, bound by the same contract.
    if unsafe { schedule_resume(env, main_ptr) }.is_err() {
        // Cannot yield (environment shutting down): hand the next wake-up back to pool threads.
        let mut q = main.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
        q.scheduled = false;
        if !q.ready.is_empty() && q.alive {
            // SAFETY: on the JavaScript thread with the function not finalized (`alive`).
            unsafe {
                sys::napi_call_threadsafe_function(
                    main.tsfn.get(),
                    ptr::null_mut(),
                    sys::ThreadsafeFunctionCallMode::nonblocking,
                )
            };
            q.scheduled = true;
        }
    }
}

/// A pending resume: the async work item and the strong count on `MainSide` it holds.
struct Resume {
    main: *const MainSide,
    work: sys::napi_async_work,
}

/// Queues a no-op async work item whose completion (on the JavaScript thread, a later loop
/// turn, inside Node's callback scope so promise reactions run after it) drains again.
///
/// # Safety
/// As for [`drain`].
unsafe fn schedule_resume(env: Env, main_ptr: *const MainSide) -> Result<()> {
    let name = raw::string(env, "swarmPersistenceSettle")?;
    let resume = Box::into_raw(Box::new(Resume {
        main: main_ptr,
        work: ptr::null_mut(),
    }));
    // SAFETY: valid env and callbacks; `resume` stays allocated until `resume_complete` frees
    // it, or until the failure branches below do when Node will never call it.
    let created = unsafe {
        sys::napi_create_async_work(
            env,
            ptr::null_mut(),
            name,
            Some(resume_execute),
            Some(resume_complete),
            resume.cast(),
            &mut (*resume).work,
        )
    };
    if created != sys::Status::napi_ok {
        // SAFETY: not handed to Node; reclaimed here once.
        drop(unsafe { Box::from_raw(resume) });
        return Err(Error::Internal("cannot create the resume work".into()));
    }
    // SAFETY: `main_ptr` is alive (caller's contract); this count is dropped in `resume_complete`.
    unsafe { Rc::increment_strong_count(main_ptr) };
    // SAFETY: a work item just created in this env.
    if unsafe { sys::napi_queue_async_work(env, (*resume).work) } != sys::Status::napi_ok {
        // SAFETY: the work never runs, so its memory and count are ours to release.
        unsafe {
            let resume = Box::from_raw(resume);
            sys::napi_delete_async_work(env, resume.work);
            Rc::decrement_strong_count(resume.main);
        }
        return Err(Error::Internal("cannot queue the resume work".into()));
    }
    Ok(())
}

/// Runs on a libuv pool thread; there is nothing to do there, the hop itself is the point.
///
/// # Safety
/// None needed: it touches neither argument; it is `unsafe` only to fit N-API's callback type.
unsafe extern "C" fn resume_execute(_env: Env, _data: *mut c_void) {}

/// Frees a finished resume and drains again if results arrived meanwhile.
///
/// # Safety
/// Only Node calls this, once per work item queued by `schedule_resume`, on the JavaScript
/// thread: `data` is that item's `Resume`, whose strong count keeps its `MainSide` alive.
unsafe extern "C" fn resume_complete(env: Env, status: sys::napi_status, data: *mut c_void) {
    // SAFETY: `data` is the `Resume` leaked in `schedule_resume`; Node calls this once.
    let resume = unsafe { Box::from_raw(data.cast::<Resume>()) };
    // SAFETY: the work item is complete, so it may be deleted.
    unsafe { sys::napi_delete_async_work(env, resume.work) };
    let main_ptr = resume.main;
    if status == sys::Status::napi_ok && !env.is_null() {
        // SAFETY: the strong count this resume holds keeps `MainSide` alive.
        let main = unsafe { &*main_ptr };
        let more = {
            let mut q = main.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
            if q.ready.is_empty() {
                q.scheduled = false;
            }
            !q.ready.is_empty()
        };
        if more {
            // SAFETY: on the JavaScript thread in this callback's env, `main_ptr` alive.
            unsafe { drain(env, main_ptr) };
        }
    }
    // SAFETY: the count taken in `schedule_resume` for this resume.
    unsafe { Rc::decrement_strong_count(main_ptr) };
}

/// Frees the JavaScript-thread side once Node is done with the threadsafe function.
///
/// # Safety
/// Only Node calls this, once per threadsafe function, after its last `call_js`: `data` is the
/// `Rc::into_raw` pointer made in `Settler::new`, whose count this takes back.
unsafe extern "C" fn finalize(_env: Env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the pointer from `Rc::into_raw` in `Settler::new`, finalized once.
    let main = unsafe { Rc::from_raw(data as *const MainSide) };
    main.shared.queue.lock().unwrap_or_else(|p| p.into_inner()).alive = false;
}

/// Makes promises whose completions may run on any thread.
#[derive(Clone)]
pub struct Settler {
    main: Rc<MainSide>,
    notifier: Arc<Notifier>,
}

impl Settler {
    /// What result conversion keeps (property-name strings, `JSON.parse` and `stringify`),
    /// which reading arguments uses too.
    pub(crate) fn names(&self) -> &Names {
        &self.main.names
    }

    pub(crate) fn new(env: Env, mode: IntegerMode) -> Result<Settler> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                ready: Vec::new(),
                scheduled: false,
                alive: true,
            }),
        });
        let name = raw::string(env, "swarm-persistence")?;
        let main = Rc::new(MainSide {
            env,
            tsfn: Cell::new(ptr::null_mut()),
            shared: Arc::clone(&shared),
            deferreds: RefCell::new(Vec::new()),
            targets: Targets::new(),
            free: RefCell::new(Vec::new()),
            pending: Cell::new(0),
            mode,
            names: Names::new(env),
        });
        let context = Rc::into_raw(Rc::clone(&main)) as *mut c_void;
        let mut tsfn = ptr::null_mut();
        // SAFETY: valid env; `context` stays alive until `finalize` reclaims it.
        let status = unsafe {
            sys::napi_create_threadsafe_function(
                env,
                ptr::null_mut(),
                ptr::null_mut(),
                name,
                0,
                1,
                context,
                Some(finalize),
                context,
                Some(call_js),
                &mut tsfn,
            )
        };
        if status != sys::Status::napi_ok {
            // SAFETY: creation failed, so Node will never call `finalize`; reclaim the leak here.
            drop(unsafe { Rc::from_raw(context as *const MainSide) });
            return Err(Error::Internal(format!(
                "cannot create the completion channel (status {status})"
            )));
        }
        main.tsfn.set(tsfn);
        // SAFETY: valid env and a just-created function. Unreferenced until a promise is pending.
        unsafe { sys::napi_unref_threadsafe_function(env, tsfn) };
        Ok(Settler {
            main,
            notifier: Arc::new(Notifier { shared, tsfn }),
        })
    }

    /// A new pending promise and the completion that settles it from any thread. A completion
    /// dropped without being called rejects its promise with `POOL_CLOSED`, so none hangs.
    pub(crate) fn promise(&self) -> Result<(Completion, JsValue)> {
        self.announced(None)
    }

    /// A promise whose outcome is also announced as an event on emitter `target`.
    pub(crate) fn announced(&self, announce: Option<(u32, Announce)>) -> Result<(Completion, JsValue)> {
        let env = self.main.env;
        let (mut deferred, mut promise) = (ptr::null_mut(), ptr::null_mut());
        // SAFETY: napi methods of objects made in the settler's env call this on its JavaScript
        // thread, so `env` is live; both out slots are locals.
        raw::check(
            unsafe { sys::napi_create_promise(env, &mut deferred, &mut promise) },
            "create_promise",
        )?;
        let slot = match self.main.free.borrow_mut().pop() {
            Some(slot) => {
                self.main.deferreds.borrow_mut()[slot as usize] = Some((deferred, announce));
                slot
            }
            None => {
                let mut d = self.main.deferreds.borrow_mut();
                d.push(Some((deferred, announce)));
                (d.len() - 1) as u32
            }
        };
        self.main.adjust_pending(1);
        let guard = Once {
            slot,
            notifier: Some(Arc::clone(&self.notifier)),
        };
        Ok((Box::new(move |result| guard.settle(result)), promise))
    }

    /// Makes `object` an emitter of this settler for the pool `lease` holds: returns its index
    /// and the sink that carries the pool's events to it (events flow while the sink lives).
    pub(crate) fn emitter(&self, object: JsValue, lease: &Arc<Lease>) -> Result<(u32, Arc<dyn EventSink>)> {
        let target = self.main.targets.add(self.main.env, object, lease)?;
        let sink: Arc<dyn EventSink> = Arc::new(EventPort {
            target,
            notifier: Arc::clone(&self.notifier),
        });
        lease.pool().listen(&sink);
        Ok((target, sink))
    }
}

/// Carries pool events from pool threads to one emitter object on the JavaScript thread.
struct EventPort {
    target: u32,
    notifier: Arc<Notifier>,
}

impl EventSink for EventPort {
    fn deliver(&self, event: &PoolEvent) {
        self.notifier.push(Settled::Event {
            target: self.target,
            event: event.clone(),
        });
    }
}

struct Once {
    slot: u32,
    notifier: Option<Arc<Notifier>>,
}

impl Once {
    fn settle(mut self, result: Result<Output>) {
        if let Some(n) = self.notifier.take() {
            n.push(Settled::Promise {
                slot: self.slot,
                result,
            });
        }
    }
}

impl Drop for Once {
    fn drop(&mut self) {
        if let Some(n) = self.notifier.take() {
            n.push(Settled::Promise {
                slot: self.slot,
                result: Err(Error::PoolClosed),
            });
        }
    }
}
