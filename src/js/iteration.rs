//! An open iteration as JavaScript sees it: `{ next, pull, close }`, three functions the async
//! generator of `iterate()` (lib/index.js) calls. `next()` is a promise of the next chunk (an
//! array of rows, empty once all were delivered), `pull()` runs on every row the consumer takes
//! (it restarts the idle clock and throws once the iteration timed out or its pool closed), and
//! `close()` is a promise resolved once the reader let go. The functions own the iteration: once
//! the generator is collected, a reader still serving it lets go.

use std::rc::Rc;
use std::sync::Arc;

use napi::bindgen_prelude::{FunctionCallContext, JsValue as _};
use napi::Env;

use crate::error::{Error, Result};
use crate::js::promise::JsPromise;
use crate::js::raw::{self, JsValue};
use crate::js::settle::Settler;
use crate::pool::cursor::Handle;
use crate::pool::shared::Lease;

pub(crate) fn functions(env: &Env, handle: &Rc<Handle>, settler: &Settler, lease: &Arc<Lease>) -> Result<JsValue> {
    let made = |e: napi::Error| Error::Internal(format!("cannot make the iteration's functions: {e}"));
    let next = {
        let (handle, settler, lease) = (Rc::clone(handle), settler.clone(), Arc::clone(lease));
        env.create_function_from_closure::<(), JsPromise, _>("next", move |call: FunctionCallContext| {
            let (done, promise) = settler.promise().map_err(|e| raw::throw(call.env.raw(), &e))?;
            if lease.is_closed() {
                done(Err(Error::PoolClosed));
            } else {
                handle.next(done);
            }
            Ok(JsPromise(promise))
        })
        .map_err(made)?
    };
    let pull = {
        // A function of its own, holding only what it needs: a method call per row would cost
        // several times as much.
        let puller = handle.puller();
        env.create_function_from_closure::<(), (), _>("pull", move |call: FunctionCallContext| {
            puller.pull().map_err(|e| raw::throw(call.env.raw(), &e))
        })
        .map_err(made)?
    };
    let close = {
        let (handle, settler) = (Rc::clone(handle), settler.clone());
        env.create_function_from_closure::<(), JsPromise, _>("close", move |call: FunctionCallContext| {
            let (done, promise) = settler.promise().map_err(|e| raw::throw(call.env.raw(), &e))?;
            handle.close(None, done);
            Ok(JsPromise(promise))
        })
        .map_err(made)?
    };
    let e = env.raw();
    let object = raw::object(e)?;
    // Defined, not assigned: a setter of one of these names on Object.prototype would take it.
    raw::define(e, object, raw::string(e, "next")?, next.raw())?;
    raw::define(e, object, raw::string(e, "pull")?, pull.raw())?;
    raw::define(e, object, raw::string(e, "close")?, close.raw())?;
    Ok(object)
}
