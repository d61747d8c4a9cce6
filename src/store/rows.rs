//! Query results as JSON objects keyed by column (snake_case, as the original returned them), with
//! the JSON-text columns parsed back into values.

use rusqlite::types::ToSqlOutput;
use rusqlite::ToSql;
use serde_json::{Map, Value as Json};

use crate::error::{Error, Result};
use crate::pool::job::WriteResult;
pub use crate::sqlite::{JsonColumns, Missing};
use crate::sqlite::{Records, Value};
use crate::store::inputs::Update;
use crate::store::seam::Session;

fn plain(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Integer(i) => Json::from(*i),
        Value::Real(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::Text(s) => Json::String(s.clone()),
        Value::Blob(b) => Json::Array(b.iter().map(|x| Json::from(*x)).collect()),
    }
}

fn parsed(v: &Value, missing: Missing) -> Json {
    let empty = || match missing {
        Missing::Object => Json::Object(Map::new()),
        Missing::Array => Json::Array(Vec::new()),
        Missing::Null => Json::Null,
    };
    match v {
        Value::Text(s) if !s.is_empty() => serde_json::from_str(s).unwrap_or_else(|_| Json::String(s.clone())),
        Value::Null | Value::Text(_) => empty(),
        other => plain(other),
    }
}

/// Records as JSON, JSON columns parsed: what the binding shows, for Rust callers and tests.
pub fn to_json(records: &Records) -> Json {
    let kinds = records.json_kinds();
    let rows = &records.rows;
    let all: Vec<Json> = rows
        .rows()
        .map(|row| {
            let map: Map<String, Json> = rows
                .columns
                .iter()
                .zip(row)
                .zip(&kinds)
                .map(|((c, v), kind)| (c.clone(), kind.map_or_else(|| plain(v), |m| parsed(v, m))))
                .collect();
            Json::Object(map)
        })
        .collect();
    if records.first {
        all.into_iter().next().unwrap_or(Json::Null)
    } else {
        Json::Array(all)
    }
}

/// Adds which parent is missing to a foreign-key failure, after SQLite's own text (callers
/// match on "FOREIGN KEY constraint failed").
pub fn missing_parent(err: Error, what: String) -> Error {
    match err {
        Error::Sqlite {
            code: "SQLITE_CONSTRAINT_FOREIGNKEY",
            message,
        } => Error::Sqlite {
            code: "SQLITE_CONSTRAINT_FOREIGNKEY",
            message: format!("{message} ({what})"),
        },
        other => other,
    }
}

/// The domain's parameters (anything `ToSql`) as the plain values the storage seam takes.
pub fn values(params: &[&dyn ToSql]) -> Result<Vec<Value>> {
    params
        .iter()
        .map(|p| {
            Ok(match p.to_sql()? {
                ToSqlOutput::Borrowed(v) => Value::from_ref(v),
                ToSqlOutput::Owned(v) => Value::from_ref((&v).into()),
                _ => return Err(Error::Internal("a parameter of an unsupported kind".into())),
            })
        })
        .collect()
}

/// Every row of a domain query, its JSON columns named.
pub fn query(s: &dyn Session, sql: &str, params: &[&dyn ToSql], json: JsonColumns) -> Result<Records> {
    Ok(Records {
        rows: s.query(sql, &values(params)?)?,
        json,
        first: false,
    })
}

/// The first row only (null when there is none).
pub fn first(mut records: Records) -> Records {
    let width = records.rows.columns.len();
    records.rows.values.truncate(width);
    records.first = true;
    records
}

pub fn execute(s: &dyn Session, sql: &str, params: &[&dyn ToSql]) -> Result<WriteResult> {
    s.execute(sql, &values(params)?)
}

pub fn write_json(w: WriteResult) -> Json {
    serde_json::json!({ "changes": w.changes, "lastInsertRowid": w.last_insert_rowid })
}

/// `UPDATE <table> SET <validated columns>[, <also>] WHERE id = ?` and the values it sets (the
/// id goes last); `table` and `also` are SQL of this crate, the columns come from `Update`'s
/// fixed tables.
pub fn update<'u>(table: &'static str, update: &'u Update, also: &str) -> (String, Vec<&'u dyn ToSql>) {
    let sql = format!("UPDATE {table} SET {}{also} WHERE id = ?", update.set_clause());
    (sql, update.sets.iter().map(|(_, v)| v as &dyn ToSql).collect())
}
