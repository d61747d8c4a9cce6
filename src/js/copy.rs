//! `copyToPostgres(from, to, options)`: the binding of `pg::copy`, run on a thread of its own
//! so the event loop stays free; the promise settles with the copy's report.

use napi::bindgen_prelude::{JsValue as _, Unknown};
use napi::sys::ValueType as T;
use napi::Env;
use napi_derive::napi;

use crate::error::{Error, Result};
use crate::js::inputs;
use crate::js::promise::JsPromise;
use crate::js::raw;
use crate::js::settle::Settler;
use crate::pg::copy::{copy, CopyOptions};
use crate::pool::job::Output;

// Called only from JavaScript: test builds leave out napi's registration of free functions.
#[cfg_attr(test, allow(dead_code))]
fn options(env: napi::sys::napi_env, v: Option<Unknown>) -> Result<CopyOptions> {
    let mut options = CopyOptions {
        merge: false,
        batch: 500,
        progress: None,
    };
    let Some(v) = v.map(|v| v.raw()) else {
        return Ok(options);
    };
    match raw::type_of(env, v)? {
        T::napi_undefined | T::napi_null => return Ok(options),
        T::napi_object => {}
        _ => return Err(Error::invalid("options must be an object")),
    }
    let flag = |name: &str| -> Result<bool> {
        let value = raw::get_named(env, v, name)?;
        match raw::type_of(env, value)? {
            T::napi_undefined | T::napi_null => Ok(false),
            T::napi_boolean => raw::get_bool(env, value),
            _ => Err(Error::invalid(format!("options.{name} must be a boolean"))),
        }
    };
    options.merge = flag("merge")?;
    if flag("progress")? {
        options.progress = Some(CopyOptions::stderr_progress());
    }
    if let Some(n) = inputs::opt_number(env, Some(raw::get_named(env, v, "batchSize")?), "options.batchSize")? {
        if !(1.0..=10_000.0).contains(&n) || n.fract() != 0.0 {
            return Err(Error::invalid(
                "options.batchSize must be a whole number from 1 to 10000",
            ));
        }
        options.batch = n as usize;
    }
    Ok(options)
}

/// Copies the SQLite database `from` into the PostgreSQL database `to` and verifies it.
#[napi(
    ts_args_type = "from: string, to: string, options?: CopyOptions",
    ts_return_type = "Promise<CopyReport>"
)]
#[cfg_attr(test, allow(dead_code))]
pub fn copy_to_postgres(
    env: Env,
    from: Unknown,
    to: Unknown,
    options_value: Option<Unknown>,
) -> napi::Result<JsPromise> {
    let e = env.raw();
    let settler = Settler::new(e, Default::default()).map_err(|err| raw::throw(e, &err))?;
    let (done, promise) = settler.promise().map_err(|err| raw::throw(e, &err))?;
    let input = inputs::strings2(e, from.raw(), "from", to.raw(), "to").and_then(|(from, to)| {
        if !crate::pg::link::is_url(&to) {
            return Err(Error::invalid("to must be a postgres:// or postgresql:// URL"));
        }
        Ok((from, to, options(e, options_value)?))
    });
    match input {
        Err(err) => done(Err(raw::absorb(e, err))),
        Ok((from, to, options)) => {
            let spawned = std::thread::Builder::new()
                .name("sp-copy".into())
                .spawn(move || done(copy(&from, &to, &options).map(Output::Json)));
            if let Err(err) = spawned {
                return Err(raw::throw(e, &Error::Internal(format!("cannot start the copy: {err}"))));
            }
        }
    }
    Ok(JsPromise(promise))
}
