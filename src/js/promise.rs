//! A raw promise handle returned from a napi method as is.

use napi::bindgen_prelude::{ToNapiValue, TypeName};
use napi::{sys, ValueType};

pub struct JsPromise(pub sys::napi_value);

impl ToNapiValue for JsPromise {
    /// Returns the promise as it is.
    ///
    /// # Safety
    /// As the trait asks: `val.0` must be a live value of the env napi-rs is returning into, as
    /// the settler's promises are (made in the env and scope of the method that returns them).
    unsafe fn to_napi_value(_env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        Ok(val.0)
    }
}

impl TypeName for JsPromise {
    fn type_name() -> &'static str {
        "Promise"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}
