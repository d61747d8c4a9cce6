//! Reading a constructor's options object into a `PoolConfig` (over the `POOL_*` environment).

use napi::sys::ValueType as T;

use crate::config::{PoolConfig, RawValue, OPTIONS};
use crate::error::{Error, Result};
use crate::js::convert::IntegerMode;
use crate::js::raw::{self, Env, JsValue};

pub(crate) fn read_config(env: Env, options: Option<JsValue>) -> Result<(PoolConfig, IntegerMode)> {
    let mut config = PoolConfig::from_env()?;
    let mut mode = IntegerMode::default();
    let Some(options) = options else {
        return Ok((config, mode));
    };
    match raw::type_of(env, options)? {
        T::napi_undefined | T::napi_null => return Ok((config, mode)),
        T::napi_object => {}
        _ => return Err(Error::config("options", "must be an object")),
    }
    for setting in OPTIONS {
        let v = raw::get_named(env, options, setting.option)?;
        let value = match raw::type_of(env, v)? {
            T::napi_undefined | T::napi_null => continue,
            T::napi_number => RawValue::Number(raw::get_f64(env, v)?),
            T::napi_string => RawValue::Text(raw::get_string(env, v)?),
            T::napi_boolean => RawValue::Bool(raw::get_bool(env, v)?),
            _ => return Err(Error::config(setting.option, "must be a number, string or boolean")),
        };
        config.apply_option(setting.option, value)?;
    }
    let safe = raw::get_named(env, options, "safeIntegers")?;
    match raw::type_of(env, safe)? {
        T::napi_undefined | T::napi_null => {}
        T::napi_boolean => mode.bigint_beyond_safe = raw::get_bool(env, safe)?,
        _ => return Err(Error::config("safeIntegers", "must be a boolean")),
    }
    Ok((config, mode))
}
