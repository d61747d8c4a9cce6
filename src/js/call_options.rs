//! The options object a query or write call takes as its last argument
//! (`read(sql, params, { raw: true })`). Keys it does not know are ignored.

use napi::sys::ValueType as T;

use crate::error::{Error, Result};
use crate::js::raw::{self, Env, JsValue};
use crate::sqlite::Form;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct CallOptions {
    /// Rows as arrays beside a description of each column.
    pub raw: bool,
}

impl CallOptions {
    /// Absent, `undefined` or `null` is every default; anything but a plain object (an array, a
    /// function, a primitive) is refused, and so is a `raw` that is not a boolean. A getter or
    /// Proxy trap that throws fails the call with its exception.
    pub(crate) fn read(env: Env, options: Option<JsValue>) -> Result<CallOptions> {
        let Some(options) = options else {
            return Ok(CallOptions::default());
        };
        match raw::type_of(env, options)? {
            T::napi_undefined | T::napi_null => return Ok(CallOptions::default()),
            T::napi_object if !raw::is_array(env, options)? => {}
            _ => return Err(Error::invalid("options must be an object such as { raw: true }")),
        }
        let raw_rows = raw::get_named(env, options, "raw")?;
        let raw = match raw::type_of(env, raw_rows)? {
            T::napi_undefined | T::napi_null => false,
            T::napi_boolean => raw::get_bool(env, raw_rows)?,
            _ => return Err(Error::invalid("options.raw must be a boolean")),
        };
        Ok(CallOptions { raw })
    }

    pub(crate) fn form(&self) -> Form {
        if self.raw {
            Form::Raw
        } else {
            Form::Objects
        }
    }
}
