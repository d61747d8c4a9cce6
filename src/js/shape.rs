//! Row objects built in one call. Setting properties one by one through N-API walks V8's slow
//! path for every key (lookup, map transition); a function whose body is the object literal
//! `{"id": a0, "name": a1, …}` allocates the object with its final hidden class at once. One such
//! "maker" is compiled per column set and kept for the pool's lifetime.
//!
//! A domain row's maker also parses its JSON columns (`P(a5, 1)`: the text parsed with the
//! `JSON.parse` the pool was made with, the column's default when it is NULL or empty, the text
//! itself when it is not JSON), so a row costs one call into JavaScript instead of one per JSON
//! column besides.
//!
//! Keys enter the generated source only as JSON string literals (every JSON string is a valid
//! JavaScript string literal), so a column name cannot inject code. Where a maker cannot be made
//! (`__proto__` among the keys, too many keys, code generation disabled with
//! `--disallow-code-generation-from-strings`), objects are built key by key as before.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::js::raw::{self, Env, JsValue, Reference};
use crate::sqlite::rows::Missing;

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
        self.find_or_make(env, keys.clone().map(|k| (k, None)), None)
    }

    /// The maker for domain rows with these columns, `kinds` saying which are JSON text to parse
    /// with `parse` (and their default when NULL or empty), if there is one.
    pub(crate) fn record_maker(
        &self,
        env: Env,
        columns: &[String],
        kinds: &[Option<Missing>],
        parse: JsValue,
    ) -> Result<Option<JsValue>> {
        let props = columns.iter().map(String::as_str).zip(kinds.iter().copied());
        self.find_or_make(env, props, Some(parse))
    }

    fn find_or_make<'k>(
        &self,
        env: Env,
        props: impl Iterator<Item = (&'k str, Option<Missing>)> + Clone,
        parse: Option<JsValue>,
    ) -> Result<Option<JsValue>> {
        let mut id = self.scratch.borrow_mut();
        id.clear();
        for (k, json) in props.clone() {
            id.push_str(k);
            id.push(match json {
                None => '\0',
                Some(Missing::Object) => '\u{1}',
                Some(Missing::Array) => '\u{2}',
                Some(Missing::Null) => '\u{3}',
            });
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
        let made = compile(env, props, parse);
        let reference = made.and_then(|f| Reference::strong(env, f).ok());
        let kept = reference.is_some();
        self.makers.borrow_mut().insert(id.clone(), reference);
        Ok(made.filter(|_| kept))
    }
}

/// What a JSON column reads back as: its text parsed; NULL or empty text, the column's default
/// (`m`: 0 `{}`, 1 `[]`, 2 null); text that is not JSON, that text; anything else as it is.
const PARSE_HELPER: &str = "const P = (s, m) => {
  if (typeof s === 'string' && s !== '') { try { return parse(s) } catch { return s } }
  return s === null || s === '' ? (m === 0 ? {} : m === 1 ? [] : null) : s
};";

/// The maker: `new Function("a0", …, "return {…}")`, or with `parse` a function made by
/// `new Function("parse", "const P = …; return function (a0, …) { return {…} }")(parse)`; None
/// when it cannot be made (any exception it threw is cleared).
fn compile<'k>(
    env: Env,
    props: impl Iterator<Item = (&'k str, Option<Missing>)>,
    parse: Option<JsValue>,
) -> Option<JsValue> {
    let mut names = Vec::new();
    let mut literal = String::from("{");
    for (i, (key, json)) in props.enumerate() {
        if i >= MAX_KEYS || key == "__proto__" {
            return None;
        }
        let key = serde_json::to_string(key).ok()?;
        let value = match json {
            None => format!("a{i}"),
            Some(missing) => {
                parse?;
                let m = match missing {
                    Missing::Object => 0,
                    Missing::Array => 1,
                    Missing::Null => 2,
                };
                format!("P(a{i}, {m})")
            }
        };
        literal.push_str(&format!("{key}:{value},"));
        names.push(format!("a{i}"));
    }
    literal.push('}');
    let attempt = || -> Result<JsValue> {
        let global = raw::global(env)?;
        let function = raw::get_named(env, global, "Function")?;
        match parse {
            None => {
                let mut params = names
                    .iter()
                    .map(|n| raw::string(env, n))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                params.push(raw::string(env, &format!("return {literal}"))?);
                Ok(raw::construct(env, function, &params)?)
            }
            Some(parse) => {
                let body = format!(
                    "{PARSE_HELPER}\nreturn function ({}) {{ return {literal} }}",
                    names.join(", ")
                );
                let outer = raw::construct(env, function, &[raw::string(env, "parse")?, raw::string(env, &body)?])?;
                Ok(raw::call(env, outer, &[parse])?)
            }
        }
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

/// Most elements passed to the list maker in one call: each is an argument on V8's stack.
const LIST_CHUNK: usize = 8192;

/// Result arrays built in one call: `(...items) => items` returns an array whose elements are its
/// own properties from the start. An array made with a length and filled element by element
/// (`napi_set_element`) assigns each one, and an assignment to an index the array does not have
/// yet runs a setter for that index on `Array.prototype` or `Object.prototype` if code defined one:
/// the element would be lost. Longer lists are made in chunks and joined with the
/// `Array.prototype.flat` the pool was made with (which defines each element too). Where the
/// helpers cannot be made (code generation disabled) or fail (out of stack), each element is
/// defined through N-API, slower but as safe.
pub(crate) struct Lists {
    /// `(...items) => items`.
    list: raw::Held,
    /// `(chunks) => apply(flat, chunks, [])`, with `Array.prototype.flat` and `Reflect.apply`
    /// as they were when it was made.
    join: raw::Held,
}

impl Lists {
    pub(crate) fn new(env: Env) -> Lists {
        let lists = Lists {
            list: raw::Held::new(),
            join: raw::Held::new(),
        };
        let made = (|| -> Result<()> {
            let global = raw::global(env)?;
            let function = raw::get_named(env, global, "Function")?;
            let list = raw::construct(
                env,
                function,
                &[raw::string(env, "...items")?, raw::string(env, "return items")?],
            )?;
            let array = raw::get_named(env, global, "Array")?;
            let prototype = raw::get_named(env, array, "prototype")?;
            let flat = raw::get_named(env, prototype, "flat")?;
            let reflect = raw::get_named(env, global, "Reflect")?;
            let apply = raw::get_named(env, reflect, "apply")?;
            let outer = raw::construct(
                env,
                function,
                &[
                    raw::string(env, "flat")?,
                    raw::string(env, "apply")?,
                    raw::string(env, "return (chunks) => apply(flat, chunks, [])")?,
                ],
            )?;
            let join = raw::call(env, outer, &[flat, apply])?;
            lists.list.set(env, list);
            lists.join.set(env, join);
            Ok(())
        })();
        if made.is_err() {
            raw::take_exception(env);
        }
        lists
    }

    /// An array of `items`, each an own element.
    pub(crate) fn make(&self, env: Env, items: &[JsValue]) -> Result<JsValue> {
        if let Some(list) = self.list.get(env) {
            let made = if items.len() <= LIST_CHUNK {
                raw::call(env, list, items)
            } else {
                self.joined(env, list, items)
            };
            match made {
                Ok(array) => return Ok(array),
                // Out of stack, or a helper that failed: assign the elements instead.
                Err(_) => {
                    raw::take_exception(env);
                }
            }
        }
        define_all(env, items)
    }

    fn joined(&self, env: Env, list: JsValue, items: &[JsValue]) -> Result<JsValue> {
        let join = self
            .join
            .get(env)
            .ok_or_else(|| Error::Internal("the list joiner could not be made".into()))?;
        let chunks = items
            .chunks(LIST_CHUNK)
            .map(|chunk| raw::call(env, list, chunk))
            .collect::<Result<Vec<_>>>()?;
        if chunks.len() > LIST_CHUNK {
            return Err(Error::Internal("too many rows for the list maker".into()));
        }
        let chunks = raw::call(env, list, &chunks)?;
        // `flat` makes its result with the constructor `chunks.constructor[Symbol.species]`
        // names, read when it runs: code that gave `Array` a species (or `Array.prototype` a
        // constructor) after the pool was made would get its own object back instead of an array.
        // An own `constructor` of undefined has `flat` make a plain array.
        raw::define(env, chunks, raw::string(env, "constructor")?, raw::undefined(env)?)?;
        raw::call(env, join, &[chunks])
    }
}

/// An array of `items` with each element defined one by one, for when the helpers cannot run.
pub(crate) fn define_all(env: Env, items: &[JsValue]) -> Result<JsValue> {
    let out = raw::array(env, items.len())?;
    for (i, item) in items.iter().enumerate() {
        raw::define_element(env, out, i as u32, *item)?;
    }
    Ok(out)
}
