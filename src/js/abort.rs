//! A call's `options.signal`, read into the pool's cancel token. For each call that has options
//! `lib/index.js` asks `__abortable` for the call's token and signal, listens to the signal
//! (calling `__abort(token)` when it fires, removing the listener when the call settles) and
//! passes the token to the native method as its last argument.
//!
//! Listening lives in JavaScript because the listener must be removed on the JavaScript thread
//! when the promise settles: `promise.finally` does that in one line, where doing it here would
//! mean keeping the signal and the listener referenced from every pending promise in the settler.

use std::sync::Arc;

use napi::bindgen_prelude::{External, JsValue as _, ToNapiValue, Unknown};
use napi::sys::ValueType as T;
use napi::Env;
use napi_derive::napi;

use crate::error::{Error, Result};
use crate::js::raw::{self, JsValue};
use crate::pool::cancel::Cancel;

/// What a native method receives: the call's cancel token, none (the options had no signal), or
/// why the signal was refused.
pub struct Token {
    cancel: Option<Arc<Cancel>>,
    refused: Option<Error>,
}

/// The cancel token a native method was given (`None` when the call has none), or the refusal
/// of its `options.signal`.
pub fn cancel_of(token: Option<&External<Token>>) -> Result<Option<Arc<Cancel>>> {
    match token {
        None => Ok(None),
        Some(token) => match &token.refused {
            Some(err) => Err(err.clone()),
            None => Ok(token.cancel.clone()),
        },
    }
}

/// `options.signal` when there is one: an object shaped like Node's AbortSignal (checked the way
/// Node's own APIs check it), and whether it has already aborted.
fn read_signal(env: raw::Env, options: Option<JsValue>) -> Result<Option<(JsValue, bool)>> {
    let Some(options) = options else { return Ok(None) };
    if raw::type_of(env, options)? != T::napi_object {
        return Ok(None);
    }
    let signal = raw::get_named(env, options, "signal")?;
    match raw::type_of(env, signal)? {
        T::napi_undefined => return Ok(None),
        T::napi_object => {}
        _ => return Err(not_a_signal()),
    }
    let aborted = raw::get_named(env, signal, "aborted")?;
    let listens = ["addEventListener", "removeEventListener"]
        .iter()
        .map(|name| Ok(raw::type_of(env, raw::get_named(env, signal, name)?)? == T::napi_function))
        .collect::<Result<Vec<bool>>>()?;
    if raw::type_of(env, aborted)? != T::napi_boolean || listens.contains(&false) {
        return Err(not_a_signal());
    }
    Ok(Some((signal, raw::get_bool(env, aborted)?)))
}

fn not_a_signal() -> Error {
    Error::invalid("options.signal must be an AbortSignal")
}

/// What `lib/index.js` needs for one call's options (not part of the typed API): undefined when
/// they hold no signal, else `[token, signal]`: the token the native method takes as its last
/// argument, and the AbortSignal to listen to (undefined when it was refused). Never throws: a
/// refused signal makes the call reject `INVALID_ARGUMENT`, and one already aborted makes it
/// reject `ABORTED` without being queued.
#[napi(js_name = "__abortable", skip_typescript)]
// Called only from JavaScript: test builds leave out napi's registration of free functions.
#[cfg_attr(test, allow(dead_code))]
pub fn abortable(env: Env, options: Option<Unknown>) -> napi::Result<Unknown<'static>> {
    let e = env.raw();
    let (token, signal) = match read_signal(e, options.map(|o| o.raw())) {
        Ok(None) => None,
        Ok(Some((signal, aborted))) => {
            let cancel = Cancel::new();
            if aborted {
                cancel.cancel();
            }
            let token = Token {
                cancel: Some(cancel),
                refused: None,
            };
            Some((token, Some(signal)))
        }
        Err(err) => {
            let token = Token {
                cancel: None,
                refused: Some(raw::absorb(e, err)),
            };
            Some((token, None))
        }
    }
    .unzip();
    let made = (|| {
        let Some(token) = token else { return raw::undefined(e) };
        // SAFETY: `e` is this call's env; the external's handle lands in this call's scope.
        let token = unsafe { <External<Token> as ToNapiValue>::to_napi_value(e, External::new(token)) }
            .map_err(|err| Error::Internal(err.to_string()))?;
        // Defined, not assigned: a setter for index 0 or 1 on a prototype would take the token.
        let pair = raw::array(e, 2)?;
        raw::define_element(e, pair, 0, token)?;
        let signal = signal.flatten().map_or_else(|| raw::undefined(e), Ok)?;
        raw::define_element(e, pair, 1, signal)?;
        Ok(pair)
    })();
    let value = made.map_err(|err| raw::throw(e, &err))?;
    // SAFETY: `value` was made in this call's env and scope, and napi-rs hands it to JavaScript
    // before that scope closes.
    Ok(unsafe { Unknown::from_raw_unchecked(e, value) })
}

/// The call's signal aborted: its job is called off (see `pool::cancel`).
#[napi(js_name = "__abort", skip_typescript)]
#[cfg_attr(test, allow(dead_code))]
pub fn abort(token: &External<Token>) {
    if let Some(cancel) = &token.cancel {
        cancel.cancel();
    }
}
