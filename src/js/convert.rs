//! JavaScript values to SQL values and parameters, and job results back to JavaScript, exactly
//! as design.md's value table says.

use std::cell::RefCell;
use std::collections::HashMap;

use napi::sys::ValueType as T;
use serde_json::Value as Json;

use crate::error::{Error, Result};
use crate::js::raw::{self, Env, JsValue};
use crate::js::shape::{self, Lists, Shapes};
use crate::payloads;
use crate::pool::job::{Output, WriteResult};
use crate::sqlite::{ColumnInfo, Missing, Params, Records, RowSet, Value};

/// Largest integer a JS number holds exactly.
const MAX_SAFE: i64 = (1 << 53) - 1;

/// Most parameters a statement can take (SQLite's SQLITE_MAX_VARIABLE_NUMBER); a longer array is
/// refused before any element is read, so a sparse `length = 2**32-1` array costs nothing.
const MAX_PARAMETERS: u32 = 32_766;

pub(crate) fn to_value(env: Env, v: JsValue, what: &dyn Fn() -> String) -> Result<Value> {
    Ok(match raw::type_of(env, v)? {
        T::napi_undefined | T::napi_null => Value::Null,
        T::napi_boolean => Value::Integer(i64::from(raw::get_bool(env, v)?)),
        T::napi_number => {
            let n = raw::get_f64(env, v)?;
            if !n.is_finite() {
                return Err(Error::invalid(format!("{}: {n} cannot be stored; SQLite has no NaN or Infinity", what())));
            }
            if n.fract() == 0.0 && n.abs() <= MAX_SAFE as f64 {
                Value::Integer(n as i64)
            } else {
                Value::Real(n)
            }
        }
        T::napi_bigint => match raw::get_bigint(env, v)? {
            Some(i) => Value::Integer(i),
            None => return Err(Error::invalid(format!("{}: BigInt is outside SQLite's 64-bit integer range", what()))),
        },
        T::napi_string => Value::Text(raw::get_string(env, v)?),
        T::napi_object => match raw::get_bytes(env, v)? {
            Some(bytes) => Value::Blob(bytes),
            None => {
                return Err(Error::invalid(format!(
                    "{}: objects are not SQL values (use a string, number, bigint, boolean, null or Buffer; JSON.stringify objects)",
                    what()
                )))
            }
        },
        other => {
            let kind = match other {
                T::napi_function => "a function",
                T::napi_symbol => "a symbol",
                _ => "this kind of value",
            };
            return Err(Error::invalid(format!("{}: {kind} is not an SQL value", what())));
        }
    })
}

/// `undefined`/`null` → none, an array → positional, a plain object → named, one primitive or
/// Buffer → a single positional parameter.
pub(crate) fn to_params(env: Env, v: Option<JsValue>) -> Result<Params> {
    let Some(v) = v else { return Ok(Params::None) };
    match raw::type_of(env, v)? {
        T::napi_undefined | T::napi_null => Ok(Params::None),
        T::napi_object if raw::is_array(env, v)? => {
            let n = raw::array_len(env, v)?;
            if n > MAX_PARAMETERS {
                return Err(Error::invalid(format!(
                    "params has {n} elements; a statement takes at most {MAX_PARAMETERS}"
                )));
            }
            let mut values = Vec::with_capacity(n as usize);
            for i in 0..n {
                let item = raw::get_element(env, v, i)?;
                values.push(to_value(env, item, &|| format!("parameter {i}"))?);
            }
            Ok(Params::Positional(values))
        }
        T::napi_object if raw::get_bytes(env, v)?.is_none() => {
            let mut pairs = Vec::new();
            for (key, item) in raw::own_keys(env, v)? {
                let value = to_value(env, item, &|| format!("parameter \"{key}\""))?;
                pairs.push((key, value));
            }
            Ok(Params::Named(pairs))
        }
        _ => Ok(Params::Positional(vec![to_value(env, v, &|| "parameter 0".into())?])),
    }
}

/// How integers beyond 2^53 come back: as lossy numbers (default) or as BigInt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct IntegerMode {
    pub bigint_beyond_safe: bool,
}

pub(crate) fn value_to_js(env: Env, v: &Value, mode: IntegerMode) -> Result<JsValue> {
    match v {
        Value::Null => raw::null(env),
        Value::Integer(i) if mode.bigint_beyond_safe && i.unsigned_abs() > MAX_SAFE as u64 => raw::bigint(env, *i),
        Value::Integer(i) => raw::number(env, *i as f64),
        Value::Real(f) => raw::number(env, *f),
        Value::Text(s) => raw::string(env, s),
        Value::Blob(b) => raw::buffer(env, b),
    }
}

/// One row as an object: through the column set's maker when it has one, else key by key.
fn row_to_js<'v>(
    env: Env,
    keys: &[JsValue],
    maker: Option<JsValue>,
    row: impl Iterator<Item = &'v Value>,
    mode: IntegerMode,
    buf: &mut Vec<JsValue>,
) -> Result<JsValue> {
    buf.clear();
    for value in row {
        buf.push(value_to_js(env, value, mode)?);
    }
    if let Some(maker) = maker {
        return shape::make(env, maker, buf);
    }
    let obj = raw::object(env)?;
    for (key, value) in keys.iter().zip(buf.iter()) {
        raw::define(env, obj, *key, *value)?;
    }
    Ok(obj)
}

/// The maker for this column set if there is one, else the column names as property keys.
fn row_shape(env: Env, rows: &RowSet, names: &Names) -> Result<(Vec<JsValue>, Option<JsValue>)> {
    let maker = names.shapes.maker(env, rows.columns.iter().map(String::as_str))?;
    if maker.is_some() {
        return Ok((Vec::new(), maker));
    }
    let keys = rows
        .columns
        .iter()
        .map(|c| names.keys.key(env, c))
        .collect::<Result<Vec<_>>>()?;
    Ok((keys, None))
}

fn rows_to_js(env: Env, rows: &RowSet, mode: IntegerMode, names: &Names) -> Result<JsValue> {
    let (keys, maker) = row_shape(env, rows, names)?;
    let mut buf = Vec::with_capacity(rows.columns.len());
    let objects = rows
        .rows()
        .map(|row| row_to_js(env, &keys, maker, row.iter(), mode, &mut buf))
        .collect::<Result<Vec<_>>>()?;
    names.lists.make(env, &objects)
}

/// Rows in the form they were collected in: objects, or `{ columns, rows }` (see `set_raw`).
fn row_set_to_js(env: Env, rows: &RowSet, mode: IntegerMode, names: &Names) -> Result<JsValue> {
    match &rows.described {
        Some(described) => {
            let obj = raw::object(env)?;
            set_raw(env, obj, rows, described, mode, names)?;
            Ok(obj)
        }
        None => rows_to_js(env, rows, mode, names),
    }
}

/// Sets `columns` (`[{ name, table, column, type }]`) and `rows` (arrays of values in column
/// order, so columns of the same name stay apart) on `target`.
fn set_raw(
    env: Env,
    target: JsValue,
    rows: &RowSet,
    described: &[ColumnInfo],
    mode: IntegerMode,
    names: &Names,
) -> Result<()> {
    let text_or_null = |s: &Option<String>| match s {
        Some(s) => raw::string(env, s),
        None => raw::null(env),
    };
    let mut columns = Vec::with_capacity(rows.columns.len());
    for (name, info) in rows.columns.iter().zip(described) {
        let column = raw::object(env)?;
        define_named(env, column, "name", raw::string(env, name)?, names)?;
        define_named(env, column, "table", text_or_null(&info.table)?, names)?;
        define_named(env, column, "column", text_or_null(&info.column)?, names)?;
        define_named(env, column, "type", text_or_null(&info.decl_type)?, names)?;
        columns.push(column);
    }
    let mut out = Vec::with_capacity(rows.row_count());
    let mut values = Vec::with_capacity(rows.columns.len());
    for row in rows.rows().take(rows.row_count()) {
        values.clear();
        for value in row {
            values.push(value_to_js(env, value, mode)?);
        }
        out.push(names.lists.make(env, &values)?);
    }
    define_named(env, target, "columns", names.lists.make(env, &columns)?, names)?;
    define_named(env, target, "rows", names.lists.make(env, &out)?, names)
}

/// Defines `key` on an object this module made: an own property even if code put a setter of
/// that name on `Object.prototype`, which an assignment would call instead.
fn define_named(env: Env, obj: JsValue, key: &str, value: JsValue, names: &Names) -> Result<()> {
    raw::define(env, obj, names.keys.key(env, key)?, value)
}

fn first_row_to_js(env: Env, rows: &RowSet, mode: IntegerMode, names: &Names) -> Result<JsValue> {
    let Some(row) = rows.rows().next() else {
        return raw::object(env);
    };
    let (keys, maker) = row_shape(env, rows, names)?;
    row_to_js(
        env,
        &keys,
        maker,
        row.iter(),
        mode,
        &mut Vec::with_capacity(rows.columns.len()),
    )
}

/// Domain rows: JSON columns parsed with the engine's `JSON.parse` (exact for anything
/// `JSON.stringify` wrote; a stored text that is not JSON comes back as that text), the rest as
/// plain values.
fn records_to_js(env: Env, records: &Records, mode: IntegerMode, names: &Names) -> Result<JsValue> {
    let rows = &records.rows;
    let kinds = records.json_kinds();
    // A maker that parses the JSON columns itself, or failing that one that only builds the
    // object (the columns parsed here, one call each), or neither.
    let parsing = match names.json_parse.get(env) {
        Some(parse) => names.shapes.record_maker(env, &rows.columns, &kinds, parse)?,
        None => None,
    };
    let (keys, maker) = match parsing {
        Some(maker) => (Vec::new(), Some(maker)),
        None => row_shape(env, rows, names)?,
    };
    let mut buf = Vec::with_capacity(rows.columns.len());
    let mut make_row = |row: &[Value]| -> Result<JsValue> {
        buf.clear();
        for (value, kind) in row.iter().zip(&kinds) {
            buf.push(match kind {
                Some(missing) if parsing.is_none() => json_column_to_js(env, value, *missing, mode, names)?,
                _ => value_to_js(env, value, mode)?,
            });
        }
        match maker {
            Some(maker) => shape::make(env, maker, &buf),
            None => {
                let obj = raw::object(env)?;
                for (key, value) in keys.iter().zip(buf.iter()) {
                    raw::define(env, obj, *key, *value)?;
                }
                Ok(obj)
            }
        }
    };
    if records.first {
        return match rows.rows().next() {
            Some(row) if rows.row_count() > 0 => make_row(row),
            _ => raw::null(env),
        };
    }
    let objects = rows.rows().map(&mut make_row).collect::<Result<Vec<_>>>()?;
    names.lists.make(env, &objects)
}

fn json_column_to_js(env: Env, value: &Value, missing: Missing, mode: IntegerMode, names: &Names) -> Result<JsValue> {
    match value {
        Value::Text(text) if !text.is_empty() => {
            let source = raw::string(env, text)?;
            match names.json_parse.get(env).map(|parse| raw::call(env, parse, &[source])) {
                Some(Ok(parsed)) => Ok(parsed),
                _ => {
                    raw::take_exception(env);
                    Ok(source)
                }
            }
        }
        Value::Null | Value::Text(_) => match missing {
            Missing::Object => raw::object(env),
            Missing::Array => raw::array(env, 0),
            Missing::Null => raw::null(env),
        },
        other => value_to_js(env, other, mode),
    }
}

/// `{ changes, lastInsertRowid }`, with the statement's `rows` when it returns columns (and
/// their `columns` for raw rows); a rowid beyond 2^53 is a BigInt with `safeIntegers`.
fn write_to_js(env: Env, w: &WriteResult, mode: IntegerMode, names: &Names) -> Result<JsValue> {
    let obj = raw::object(env)?;
    define_named(env, obj, "changes", raw::number(env, w.changes as f64)?, names)?;
    let rowid = value_to_js(env, &Value::Integer(w.last_insert_rowid), mode)?;
    define_named(env, obj, "lastInsertRowid", rowid, names)?;
    if let Some(rows) = &w.rows {
        match &rows.described {
            Some(described) => set_raw(env, obj, rows, described, mode, names)?,
            None => define_named(env, obj, "rows", rows_to_js(env, rows, mode, names)?, names)?,
        }
    }
    Ok(obj)
}

/// A JSON value as JavaScript. With `shapes`, objects at the top (or directly in a top-level
/// array) are rows or payloads of a fixed shape and are built through makers; nested values,
/// which hold arbitrary user keys, are built key by key, each key defined as `JSON.parse` would
/// (an own property, `__proto__` included, whatever setters `Object.prototype` has). With
/// `lists`, arrays are built in one call with their elements defined too.
pub(crate) fn json_to_js(
    env: Env,
    v: &Json,
    keys: Option<&KeyCache>,
    shapes: Option<&Shapes>,
    lists: Option<&Lists>,
) -> Result<JsValue> {
    match v {
        Json::Null => raw::null(env),
        Json::Bool(b) => raw::boolean(env, *b),
        Json::Number(n) => raw::number(env, n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => raw::string(env, s),
        Json::Array(items) => {
            let values = items
                .iter()
                .map(|item| json_to_js(env, item, keys, shapes, lists))
                .collect::<Result<Vec<_>>>()?;
            match lists {
                Some(lists) => lists.make(env, &values),
                None => shape::define_all(env, &values),
            }
        }
        Json::Object(map) => {
            if let Some(maker) = shapes
                .map(|s| s.maker(env, map.keys().map(String::as_str)))
                .transpose()?
                .flatten()
            {
                let values = map
                    .values()
                    .map(|item| json_to_js(env, item, keys, None, lists))
                    .collect::<Result<Vec<_>>>()?;
                return shape::make(env, maker, &values);
            }
            let obj = raw::object(env)?;
            for (k, item) in map {
                let key = match keys {
                    Some(cache) => cache.key(env, k)?,
                    None => raw::string(env, k)?,
                };
                let value = json_to_js(env, item, keys, None, lists)?;
                raw::define(env, obj, key, value)?;
            }
            Ok(obj)
        }
    }
}

/// What result conversion keeps across results: property-name strings and row makers.
pub(crate) struct Names {
    pub keys: KeyCache,
    pub shapes: Shapes,
    /// `JSON.parse` as it was when the pool was made, so code that replaces it later cannot
    /// change how rows read back.
    pub json_parse: raw::Held,
    /// `JSON.stringify` as it was when the pool was made, for arguments stored as JSON text.
    pub json_stringify: raw::Held,
    pub lists: Lists,
}

impl Names {
    pub(crate) fn new(env: Env) -> Names {
        let (json_parse, json_stringify) = (raw::Held::new(), raw::Held::new());
        if let Ok(json) = raw::global(env).and_then(|g| raw::get_named(env, g, "JSON")) {
            if let Ok(parse) = raw::get_named(env, json, "parse") {
                json_parse.set(env, parse);
            }
            if let Ok(stringify) = raw::get_named(env, json, "stringify") {
                json_stringify.set(env, stringify);
            }
        }
        Names {
            keys: KeyCache::new(),
            shapes: Shapes::new(),
            json_parse,
            json_stringify,
            lists: Lists::new(env),
        }
    }
}

/// Property names kept as JavaScript strings across results (up to `KEY_CACHE_LIMIT`), so the
/// same names are not created and internalized again for every object of every result. N-API
/// before version 10 references objects only, so the strings are the elements of one array the
/// cache holds, and `names` maps each name to its index.
pub(crate) struct KeyCache {
    names: RefCell<HashMap<String, u32>>,
    strings: raw::Held,
}

const KEY_CACHE_LIMIT: usize = 1024;

impl KeyCache {
    pub(crate) fn new() -> KeyCache {
        KeyCache {
            names: RefCell::new(HashMap::new()),
            strings: raw::Held::new(),
        }
    }

    pub(crate) fn key(&self, env: Env, name: &str) -> Result<JsValue> {
        let index = self.names.borrow().get(name).copied();
        let strings = self.strings.get(env);
        if let (Some(index), Some(strings)) = (index, strings) {
            return raw::get_element(env, strings, index);
        }
        let value = raw::string(env, name)?;
        let mut names = self.names.borrow_mut();
        let strings = match strings {
            Some(strings) => strings,
            None => {
                // First use, or the array could not be held: start over with a new one.
                names.clear();
                let strings = raw::array(env, 0)?;
                self.strings.set(env, strings);
                strings
            }
        };
        let next = names.len() as u32;
        // Defined, not assigned: an accessor for this index on Array.prototype or Object.prototype
        // would take an assignment, and every later lookup would return what its getter returns.
        if names.len() < KEY_CACHE_LIMIT && raw::define_element(env, strings, next, value).is_ok() {
            names.insert(name.to_owned(), next);
        }
        Ok(value)
    }
}

pub(crate) fn output_to_js(env: Env, out: &Output, mode: IntegerMode, names: &Names) -> Result<JsValue> {
    match out {
        Output::Rows(rows) => row_set_to_js(env, rows, mode, names),
        Output::Row(Some(rows)) => first_row_to_js(env, rows, mode, names),
        Output::Row(None) => raw::null(env),
        Output::Write(w) => write_to_js(env, w, mode, names),
        Output::Writes(ws) => {
            let results = ws
                .iter()
                .map(|w| write_to_js(env, w, mode, names))
                .collect::<Result<Vec<_>>>()?;
            names.lists.make(env, &results)
        }
        Output::Records(records) => records_to_js(env, records, mode, names),
        Output::Json(v) => json_to_js(env, v, Some(&names.keys), Some(&names.shapes), Some(&names.lists)),
        Output::Backup(info) => json_to_js(
            env,
            &payloads::backup_result(info),
            Some(&names.keys),
            None,
            Some(&names.lists),
        ),
        Output::Done => raw::undefined(env),
    }
}
