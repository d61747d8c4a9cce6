//! Row objects built in one call. Setting properties one by one through N-API walks V8's slow
//! path for every key (lookup, map transition); a function whose body is the object literal
//! `{"id": a0, "name": a1, …}` allocates the object with its final hidden class at once. One such
//! "maker" is compiled per column set and kept for the pool's lifetime.
//!
//! Keys enter the generated source only as JSON string literals (every JSON string is a valid
//! JavaScript string literal), so a column name cannot inject code. Where a maker cannot be made
//! (`__proto__` among the keys, too many keys, code generation disabled with
//! `--disallow-code-generation-from-strings`), objects are built key by key as before.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::error::Result;
use crate::js::raw::{self, Env, JsValue, Reference};

/// Column sets remembered; past this, new shapes are built key by key.
const SHAPE_LIMIT: usize = 256;
/// Widest row built by a maker.
const MAX_KEYS: usize = 64;

pub(crate) struct Shapes {
    /// Keys joined by NUL → the maker (held strongly), or None when this shape is built key by key.
    makers: RefCell<HashMap<String, Option<Reference>>>,
    /// The lookup key being built, reused across calls.
    scratch: RefCell<String>,
}

impl Shapes {
    pub(crate) fn new() -> Shapes {
        Shapes {
            makers: RefCell::new(HashMap::new()),
            scratch: RefCell::new(String::new()),
        }
    }

    /// The maker for objects with exactly these keys in this order, if there is one.
    pub(crate) fn maker<'k>(&self, env: Env, keys: impl Iterator<Item = &'k str> + Clone) -> Result<Option<JsValue>> {
        let mut id = self.scratch.borrow_mut();
        id.clear();
        for k in keys.clone() {
            id.push_str(k);
            id.push('\0');
        }
        if let Some(found) = self.makers.borrow().get(id.as_str()) {
            return match found {
                Some(reference) => reference.get(env),
                None => Ok(None),
            };
        }
        if self.makers.borrow().len() >= SHAPE_LIMIT {
            return Ok(None);
        }
        let made = compile(env, keys);
        let reference = made.and_then(|f| Reference::strong(env, f).ok());
        let kept = reference.is_some();
        self.makers.borrow_mut().insert(id.clone(), reference);
        Ok(made.filter(|_| kept))
    }
}

/// `new Function("a0", …, "return {…}")`, or None (any exception it threw is cleared).
fn compile<'k>(env: Env, keys: impl Iterator<Item = &'k str>) -> Option<JsValue> {
    let mut params = Vec::new();
    let mut body = String::from("return {");
    for (i, key) in keys.enumerate() {
        if i >= MAX_KEYS || key == "__proto__" {
            return None;
        }
        let literal = serde_json::to_string(key).ok()?;
        body.push_str(&format!("{literal}:a{i},"));
        params.push(raw::string(env, &format!("a{i}")).ok()?);
    }
    body.push('}');
    params.push(raw::string(env, &body).ok()?);
    let attempt = || -> Result<JsValue> {
        let global = raw::global(env)?;
        let function = raw::get_named(env, global, "Function")?;
        raw::construct(env, function, &params)
    };
    match attempt() {
        Ok(f) => Some(f),
        Err(_) => {
            raw::take_exception(env);
            None
        }
    }
}

/// Calls a maker with one row's values.
pub(crate) fn make(env: Env, maker: JsValue, values: &[JsValue]) -> Result<JsValue> {
    raw::call(env, maker, values)
}
