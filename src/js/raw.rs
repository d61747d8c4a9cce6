//! Thin checked wrappers over the N-API calls the binding makes on the main thread.
//!
//! Safety for every function here: `env` must be the live environment of the current call or
//! callback and every `napi_value` must come from it within the current handle scope. All callers
//! are napi entry points or the settler's `call_js`, which run on the JavaScript thread with such
//! an env.

use std::cell::RefCell;
use std::ffi::c_char;
use std::ptr;

use napi::sys::{self, napi_env, napi_value};

use crate::error::Error;

pub(crate) type Env = napi_env;
pub(crate) type JsValue = napi_value;

/// A failed N-API call: the JavaScript engine refused something (usually a pending exception).
pub(crate) fn check(status: sys::napi_status, what: &str) -> Result<(), Error> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(Error::Internal(format!("N-API call failed ({what}, status {status})")))
    }
}

/// Runs an N-API call that writes its result through `&mut $slot` and returns that result. The
/// caller writes the call's `unsafe` block itself, so each call carries its own SAFETY note.
macro_rules! out {
    ($what:literal, |$slot:ident| $call:expr) => {{
        let mut $slot = ptr::null_mut();
        check($call, $what).map(|()| $slot)
    }};
}

pub(crate) fn type_of(env: Env, v: JsValue) -> Result<i32, Error> {
    let mut t = 0;
    // SAFETY: `env` and `v` meet the module contract; `t` is a local the call only writes.
    check(unsafe { sys::napi_typeof(env, v, &mut t) }, "typeof")?;
    Ok(t)
}

pub(crate) fn null(env: Env) -> Result<JsValue, Error> {
    // SAFETY: `env` meets the module contract; the one pointer passed is the local out slot.
    out!("get_null", |r| unsafe { sys::napi_get_null(env, &mut r) })
}

pub(crate) fn undefined(env: Env) -> Result<JsValue, Error> {
    // SAFETY: `env` meets the module contract; `r` is a local out slot, nothing else is read.
    out!("get_undefined", |r| unsafe { sys::napi_get_undefined(env, &mut r) })
}

pub(crate) fn boolean(env: Env, b: bool) -> Result<JsValue, Error> {
    // SAFETY: `env` meets the module contract; `b` is passed by value, `r` is a local out slot.
    out!("get_boolean", |r| unsafe { sys::napi_get_boolean(env, b, &mut r) })
}

pub(crate) fn number(env: Env, n: f64) -> Result<JsValue, Error> {
    // SAFETY: `env` meets the module contract; any f64 is accepted, `r` is a local out slot.
    out!("create_double", |r| unsafe { sys::napi_create_double(env, n, &mut r) })
}

pub(crate) fn bigint(env: Env, n: i64) -> Result<JsValue, Error> {
    // SAFETY: `env` meets the module contract; any i64 is accepted, `r` is a local out slot.
    out!("create_bigint", |r| unsafe {
        sys::napi_create_bigint_int64(env, n, &mut r)
    })
}

pub(crate) fn string(env: Env, s: &str) -> Result<JsValue, Error> {
    // SAFETY: `env` meets the module contract; `s` is valid UTF-8 readable for the explicit
    // length passed (no NUL terminator needed), and N-API copies it before returning.
    out!("create_string", |r| unsafe {
        sys::napi_create_string_utf8(env, s.as_ptr().cast::<c_char>(), s.len() as isize, &mut r)
    })
}

pub(crate) fn buffer(env: Env, bytes: &[u8]) -> Result<JsValue, Error> {
    let mut data = ptr::null_mut();
    // SAFETY: `env` meets the module contract; N-API copies `bytes.len()` bytes from the borrowed
    // slice during the call, and `data` and `r` are local out slots.
    out!("create_buffer", |r| unsafe {
        sys::napi_create_buffer_copy(env, bytes.len(), bytes.as_ptr().cast(), &mut data, &mut r)
    })
}

pub(crate) fn object(env: Env) -> Result<JsValue, Error> {
    // SAFETY: `env` meets the module contract; the new object's handle lands in the local `r`.
    out!("create_object", |r| unsafe { sys::napi_create_object(env, &mut r) })
}

pub(crate) fn array(env: Env, len: usize) -> Result<JsValue, Error> {
    // SAFETY: `env` meets the module contract; `len` is only a length hint, `r` a local out slot.
    out!("create_array", |r| unsafe {
        sys::napi_create_array_with_length(env, len, &mut r)
    })
}

/// Defines `key` as an own, enumerable, writable data property: unlike assignment, this never
/// runs a setter, so a key named `__proto__` is a plain property and not the prototype.
pub(crate) fn define(env: Env, obj: JsValue, key: JsValue, value: JsValue) -> Result<(), Error> {
    let descriptor = sys::napi_property_descriptor {
        utf8name: ptr::null(),
        name: key,
        method: None,
        getter: None,
        setter: None,
        value,
        attributes: sys::PropertyAttributes::writable
            | sys::PropertyAttributes::enumerable
            | sys::PropertyAttributes::configurable,
        data: ptr::null_mut(),
    };
    // SAFETY: `env`, `obj` and the handles in `descriptor` meet the module contract; the count 1
    // matches the one descriptor, which outlives the call, and its null `utf8name` defers to `name`.
    check(
        unsafe { sys::napi_define_properties(env, obj, 1, &descriptor) },
        "define_properties",
    )
}

/// Defines element `index` of an array this crate made: an own element even if code put a setter
/// for that index on `Array.prototype` or `Object.prototype`, which an assignment would call.
pub(crate) fn define_element(env: Env, arr: JsValue, index: u32, value: JsValue) -> Result<(), Error> {
    define(env, arr, string(env, &index.to_string())?, value)
}

pub(crate) fn get_named(env: Env, obj: JsValue, key: &str) -> Result<JsValue, Error> {
    get(env, obj, string(env, key)?)
}

/// `obj[key]`, getters and proxies included.
pub(crate) fn get(env: Env, obj: JsValue, key: JsValue) -> Result<JsValue, Error> {
    // SAFETY: `obj` and `key` meet the module contract (handles of this scope); `r` is local.
    out!("get_property", |r| unsafe {
        sys::napi_get_property(env, obj, key, &mut r)
    })
}

pub(crate) fn get_element(env: Env, arr: JsValue, index: u32) -> Result<JsValue, Error> {
    // SAFETY: `env` and `arr` meet the module contract; the element's handle goes to the local `r`.
    out!("get_element", |r| unsafe {
        sys::napi_get_element(env, arr, index, &mut r)
    })
}

pub(crate) fn is_array(env: Env, v: JsValue) -> Result<bool, Error> {
    let mut b = false;
    // SAFETY: `env` and `v` meet the module contract; `b` is a local bool the call writes.
    check(unsafe { sys::napi_is_array(env, v, &mut b) }, "is_array")?;
    Ok(b)
}

pub(crate) fn array_len(env: Env, v: JsValue) -> Result<u32, Error> {
    let mut n = 0;
    // SAFETY: `env` and `v` meet the module contract; `n` is a local u32 the call writes.
    check(unsafe { sys::napi_get_array_length(env, v, &mut n) }, "array_length")?;
    Ok(n)
}

pub(crate) fn get_f64(env: Env, v: JsValue) -> Result<f64, Error> {
    let mut n = 0.0;
    // SAFETY: `env` and `v` meet the module contract; a non-number is a status, not a bad read.
    check(unsafe { sys::napi_get_value_double(env, v, &mut n) }, "get_double")?;
    Ok(n)
}

pub(crate) fn get_bool(env: Env, v: JsValue) -> Result<bool, Error> {
    let mut b = false;
    // SAFETY: `env` and `v` meet the module contract; a non-boolean is a status, not a bad read.
    check(unsafe { sys::napi_get_value_bool(env, v, &mut b) }, "get_bool")?;
    Ok(b)
}

/// A BigInt as i64, or None when it does not fit.
pub(crate) fn get_bigint(env: Env, v: JsValue) -> Result<Option<i64>, Error> {
    let (mut n, mut lossless) = (0i64, false);
    // SAFETY: `env` and `v` meet the module contract; `n` and `lossless` are locals it writes.
    check(
        unsafe { sys::napi_get_value_bigint_int64(env, v, &mut n, &mut lossless) },
        "get_bigint",
    )?;
    Ok(lossless.then_some(n))
}

pub(crate) fn get_string(env: Env, v: JsValue) -> Result<String, Error> {
    let mut len = 0usize;
    // SAFETY: `env` and `v` meet the module contract; a null buffer asks only for the length.
    check(
        unsafe { sys::napi_get_value_string_utf8(env, v, ptr::null_mut(), 0, &mut len) },
        "string_length",
    )?;
    let mut buf = vec![0u8; len + 1];
    let mut written = 0usize;
    // SAFETY: `buf` is writable for the `buf.len()` bytes passed, and N-API writes at most that
    // many (terminating NUL included); `env` and `v` meet the module contract.
    check(
        unsafe { sys::napi_get_value_string_utf8(env, v, buf.as_mut_ptr().cast(), buf.len(), &mut written) },
        "get_string",
    )?;
    buf.truncate(written);
    let text = String::from_utf8(buf).map_err(|e| Error::invalid(format!("string is not valid UTF-8: {e}")))?;
    // N-API turns a lone surrogate into U+FFFD silently, so two different keys could be stored
    // as one; where a U+FFFD appears, the UTF-16 original tells whether it was really there.
    if text.contains('\u{fffd}') {
        check_utf16(env, v)?;
    }
    Ok(text)
}

/// Refuses a string holding a lone surrogate (text that is not valid Unicode).
fn check_utf16(env: Env, v: JsValue) -> Result<(), Error> {
    let mut len = 0usize;
    // SAFETY: `env` and `v` meet the module contract; a null buffer asks only for the length.
    check(
        unsafe { sys::napi_get_value_string_utf16(env, v, ptr::null_mut(), 0, &mut len) },
        "string_length",
    )?;
    let mut units = vec![0u16; len + 1];
    let mut written = 0usize;
    // SAFETY: `units` is writable for the `units.len()` code units passed, the most N-API writes
    // (terminating NUL included); `env` and `v` meet the module contract.
    check(
        unsafe { sys::napi_get_value_string_utf16(env, v, units.as_mut_ptr(), units.len(), &mut written) },
        "get_string_utf16",
    )?;
    units.truncate(written);
    match char::decode_utf16(units.iter().copied()).find_map(|c| c.err()) {
        None => Ok(()),
        Some(e) => Err(Error::invalid(format!(
            "the string holds a lone surrogate (0x{:04X}), which is not valid Unicode text; store such data as a Buffer",
            e.unpaired_surrogate()
        ))),
    }
}

/// The bytes of a Buffer or Uint8Array, or None for an object that is no binary view at all.
/// Other typed arrays and DataViews are refused: their bytes depend on the machine's byte order
/// and would not come back as what was passed.
pub(crate) fn get_bytes(env: Env, v: JsValue) -> Result<Option<Vec<u8>>, Error> {
    let mut is_typed = false;
    // SAFETY: `env` and `v` meet the module contract; `is_typed` is a local bool the call writes.
    check(
        unsafe { sys::napi_is_typedarray(env, v, &mut is_typed) },
        "is_typedarray",
    )?;
    if is_typed {
        let (mut kind, mut len, mut data, mut ab, mut offset) = (0, 0usize, ptr::null_mut(), ptr::null_mut(), 0usize);
        // SAFETY: `v` is a typed array (checked above) of this scope; all five out slots are locals.
        check(
            unsafe { sys::napi_get_typedarray_info(env, v, &mut kind, &mut len, &mut data, &mut ab, &mut offset) },
            "typedarray_info",
        )?;
        if kind != sys::TypedarrayType::uint8_array {
            return Err(Error::invalid(
                "only a Buffer or Uint8Array is stored as a BLOB; convert other typed arrays with Buffer.from(array.buffer, array.byteOffset, array.byteLength)",
            ));
        }
        // SAFETY: for a Uint8Array N-API reports `len` bytes at `data` (offset applied) inside `v`'s
        // buffer, which this handle scope keeps alive; no JavaScript runs while they are copied.
        return Ok(Some(unsafe { copy_bytes(data.cast_const().cast(), len) }));
    }
    let mut is_view = false;
    // SAFETY: `env` and `v` meet the module contract; `is_view` is a local bool the call writes.
    check(unsafe { sys::napi_is_dataview(env, v, &mut is_view) }, "is_dataview")?;
    if is_view {
        return Err(Error::invalid(
            "a DataView is not stored as a BLOB; pass a Buffer or Uint8Array",
        ));
    }
    Ok(None)
}

/// Copies `len` bytes at `data` (nothing when `data` is null, as for a detached buffer).
///
/// # Safety
/// Unless `data` is null, it must point to `len` readable, initialized bytes that nothing
/// changes or frees during the call.
unsafe fn copy_bytes(data: *const u8, len: usize) -> Vec<u8> {
    if data.is_null() || len == 0 {
        return Vec::new();
    }
    // SAFETY: non-null here, and the caller promises `len` readable bytes at `data` that stay
    // untouched while they are copied.
    unsafe { std::slice::from_raw_parts(data, len) }.to_vec()
}

/// Own enumerable string keys of an object, like `Object.keys`.
pub(crate) fn own_keys(env: Env, obj: JsValue) -> Result<Vec<(String, JsValue)>, Error> {
    // SAFETY: `env` and `obj` meet the module contract; the mode, filter and conversion are valid
    // enum values, and the names array's handle lands in the local `r`.
    let keys = out!("property_names", |r| unsafe {
        sys::napi_get_all_property_names(
            env,
            obj,
            sys::KeyCollectionMode::own_only,
            sys::KeyFilter::enumerable | sys::KeyFilter::skip_symbols,
            sys::KeyConversion::numbers_to_strings,
            &mut r,
        )
    })?;
    let n = array_len(env, keys)?;
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        let key = get_element(env, keys, i)?;
        let name = get_string(env, key)?;
        // SAFETY: `key` came from the names array in this scope and `obj` meets the module contract.
        let value = out!("get_property", |r| unsafe {
            sys::napi_get_property(env, obj, key, &mut r)
        })?;
        out.push((name, value));
    }
    Ok(out)
}

/// `new Error(message)` with `code` set.
pub(crate) fn error(env: Env, code: &str, message: &str) -> Result<JsValue, Error> {
    let (c, m) = (string(env, code)?, string(env, message)?);
    // SAFETY: `c` and `m` are strings just made in this scope, as N-API requires; `r` is local.
    out!("create_error", |r| unsafe { sys::napi_create_error(env, c, m, &mut r) })
}

/// Throws an `Error` with `code`; napi-rs then sees the pending exception and adds nothing.
pub(crate) fn throw(env: Env, err: &Error) -> napi::Error {
    let err = absorb(env, err.clone());
    let err = &err;
    if let Ok(e) = error(env, err.code(), &err.to_string()) {
        // SAFETY: `e` is an Error just made in this env and scope; throwing only marks it pending.
        unsafe { sys::napi_throw(env, e) };
    }
    napi::Error::new(napi::Status::PendingException, err.to_string())
}

pub(crate) fn global(env: Env) -> Result<JsValue, Error> {
    // SAFETY: `env` meets the module contract; the global object's handle lands in the local `r`.
    out!("get_global", |r| unsafe { sys::napi_get_global(env, &mut r) })
}

/// `function(...args)` with `undefined` as `this`.
pub(crate) fn call(env: Env, function: JsValue, args: &[JsValue]) -> Result<JsValue, Error> {
    let this = undefined(env)?;
    // SAFETY: `this`, `function` and every handle in `args` belong to this scope (module
    // contract), and `args.len()` handles are readable at `args.as_ptr()` during the call.
    out!("call_function", |r| unsafe {
        sys::napi_call_function(env, this, function, args.len(), args.as_ptr(), &mut r)
    })
}

/// `new constructor(...args)`.
pub(crate) fn construct(env: Env, constructor: JsValue, args: &[JsValue]) -> Result<JsValue, Error> {
    // SAFETY: `constructor` and the `args.len()` handles readable at `args.as_ptr()` belong to
    // this scope (module contract); the new object's handle lands in the local `r`.
    out!("new_instance", |r| unsafe {
        sys::napi_new_instance(env, constructor, args.len(), args.as_ptr(), &mut r)
    })
}

/// When reading an argument ran JavaScript that threw (a getter, a Proxy trap, `toJSON`), the
/// exception is pending and `err` only says an N-API call failed: takes the exception and
/// returns `INVALID_ARGUMENT` with its message, so the caller sees a coded error instead.
pub(crate) fn absorb(env: Env, err: Error) -> Error {
    let Some(thrown) = take_exception(env) else { return err };
    let message = get_named(env, thrown, "message")
        .and_then(|m| get_string(env, m))
        .unwrap_or_else(|_| {
            take_exception(env);
            "a value that is not an Error".into()
        });
    Error::invalid(format!("reading an argument threw: {message}"))
}

/// Takes the pending exception, if any, and returns what was thrown.
pub(crate) fn take_exception(env: Env) -> Option<JsValue> {
    let mut pending = false;
    // SAFETY: `env` meets the module contract; `pending` is a local bool the call writes.
    unsafe { sys::napi_is_exception_pending(env, &mut pending) };
    if !pending {
        return None;
    }
    let mut thrown = ptr::null_mut();
    // SAFETY: `env` meets the module contract; the thrown value's handle lands in the local slot.
    unsafe { sys::napi_get_and_clear_last_exception(env, &mut thrown) };
    Some(thrown)
}

/// Calls `JSON.stringify(value)`; Ok(None) when it yields undefined, Err with the thrown
/// message (cycles, BigInt) when it throws.
/// `stringify(value)` with `stringify` the given function (a `JSON.stringify` kept earlier), or
/// else the global `JSON.stringify` as it is now.
pub(crate) fn json_stringify(env: Env, value: JsValue, stringify: Option<JsValue>) -> Result<Option<String>, String> {
    let attempt = || -> Result<JsValue, Error> {
        let stringify = match stringify {
            Some(f) => f,
            None => get_named(env, get_named(env, global(env)?, "JSON")?, "stringify")?,
        };
        // JSON.stringify does not read its `this`.
        call(env, stringify, &[value])
    };
    match attempt() {
        Ok(text) => match type_of(env, text) {
            Ok(sys::ValueType::napi_string) => get_string(env, text).map(Some).map_err(|e| e.to_string()),
            _ => Ok(None),
        },
        Err(e) => {
            let Some(thrown) = take_exception(env) else {
                return Err(e.to_string());
            };
            let message = get_named(env, thrown, "message").and_then(|m| get_string(env, m));
            Err(message.unwrap_or_else(|_| "JSON.stringify threw".into()))
        }
    }
}

/// A handle scope closed on drop, so converting many results does not pile up handles.
pub(crate) struct HandleScope {
    env: Env,
    scope: sys::napi_handle_scope,
}

impl HandleScope {
    pub(crate) fn open(env: Env) -> HandleScope {
        let mut scope = ptr::null_mut();
        // SAFETY: `env` meets the module contract; the scope handle lands in the local `scope`.
        unsafe { sys::napi_open_handle_scope(env, &mut scope) };
        HandleScope { env, scope }
    }
}

impl Drop for HandleScope {
    fn drop(&mut self) {
        if !self.scope.is_null() {
            // SAFETY: opened by `open` in this env; guards are locals, so scopes close innermost first.
            unsafe { sys::napi_close_handle_scope(self.env, self.scope) };
        }
    }
}

/// A reference to one JavaScript value that outlives handle scopes: a strong one keeps the value
/// alive, a weak one lets it be collected. It is deleted on drop with the env it was made in, so
/// it must be dropped on the JavaScript thread while that env lives; its holders (the settler's
/// caches and emitters, the binding objects) are only dropped there, by their finalizers.
pub(crate) struct Reference {
    env: Env,
    raw: sys::napi_ref,
}

impl Reference {
    /// A reference that keeps `value` alive until it is dropped.
    pub(crate) fn strong(env: Env, value: JsValue) -> Result<Reference, Error> {
        Reference::new(env, value, 1)
    }

    /// A reference that does not keep `value` alive; `get` gives None once it was collected.
    pub(crate) fn weak(env: Env, value: JsValue) -> Result<Reference, Error> {
        Reference::new(env, value, 0)
    }

    fn new(env: Env, value: JsValue, count: u32) -> Result<Reference, Error> {
        // SAFETY: `env` and `value` meet the module contract; `r` is a local out slot, and the
        // reference it receives is deleted exactly once, in Drop.
        let raw = out!("create_reference", |r| unsafe {
            sys::napi_create_reference(env, value, count, &mut r)
        })?;
        Ok(Reference { env, raw })
    }

    /// The value in the current handle scope: None once a weak reference's value was collected,
    /// Err when N-API refused the call.
    pub(crate) fn get(&self, env: Env) -> Result<Option<JsValue>, Error> {
        // SAFETY: `self.raw` was made in this env by `new` and is only deleted when `self` drops;
        // `env` is the current call's (module contract), so the handle lands in its scope.
        let value = out!("get_reference_value", |r| unsafe {
            sys::napi_get_reference_value(env, self.raw, &mut r)
        })?;
        Ok((!value.is_null()).then_some(value))
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        // SAFETY: `raw` was made in `self.env` and this is its one deletion; the type's contract
        // puts this drop on the JavaScript thread while that env lives.
        unsafe { sys::napi_delete_reference(self.env, self.raw) };
    }
}

/// One JavaScript value kept alive by a strong [`Reference`] until this is dropped, or nothing.
pub(crate) struct Held {
    reference: RefCell<Option<Reference>>,
}

impl Held {
    pub(crate) fn new() -> Held {
        Held {
            reference: RefCell::new(None),
        }
    }

    pub(crate) fn get(&self, env: Env) -> Option<JsValue> {
        self.reference.borrow().as_ref()?.get(env).ok().flatten()
    }

    /// Keeps `value`; if it cannot be referenced, later `get`s return None and callers remake it.
    pub(crate) fn set(&self, env: Env, value: JsValue) {
        // Deleted first so that at most one reference exists at a time.
        drop(self.reference.take());
        *self.reference.borrow_mut() = Reference::strong(env, value).ok();
    }
}
