//! Query results as JSON objects keyed by column (snake_case, as the original returned them), with
//! the JSON-text columns parsed back into values.

use rusqlite::{Connection, ToSql};
use serde_json::{Map, Value as Json};

use crate::error::Result;
use crate::pool::job::WriteResult;
use crate::sqlite::{RowSet, Value};
use crate::store::inputs::Update;

/// What a JSON column reads as when it is NULL or empty (the original's `JSON.parse(x || '{}')`).
#[derive(Debug, Clone, Copy)]
pub enum Missing {
    Object,
    Array,
    Null,
}

pub type JsonColumns = &'static [(&'static str, Missing)];

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

pub fn to_json(rows: &RowSet, json: JsonColumns) -> Vec<Json> {
    let kinds: Vec<Option<Missing>> = rows
        .columns
        .iter()
        .map(|c| json.iter().find(|(name, _)| name == c).map(|(_, m)| *m))
        .collect();
    rows.rows()
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
        .collect()
}

pub fn query(conn: &Connection, sql: &str, params: &[&dyn ToSql], json: JsonColumns) -> Result<Vec<Json>> {
    let mut stmt = conn.prepare_cached(sql)?;
    for (i, p) in params.iter().enumerate() {
        stmt.raw_bind_parameter(i + 1, *p)?;
    }
    Ok(to_json(&RowSet::collect(&mut stmt, usize::MAX)?, json))
}

pub fn execute(conn: &Connection, sql: &str, params: &[&dyn ToSql]) -> Result<WriteResult> {
    let mut stmt = conn.prepare_cached(sql)?;
    let changes = stmt.execute(params)? as u64;
    Ok(WriteResult {
        changes,
        last_insert_rowid: conn.last_insert_rowid(),
    })
}

pub fn write_json(w: WriteResult) -> Json {
    serde_json::json!({ "changes": w.changes, "lastInsertRowid": w.last_insert_rowid })
}

/// `UPDATE <table> SET <validated columns>[, <also>] WHERE id = ?`; `table` and `also` are
/// constants of this crate, the columns come from `Update`'s fixed tables.
pub fn update(
    conn: &Connection,
    table: &'static str,
    update: &Update,
    also: &'static str,
    id: &str,
) -> Result<WriteResult> {
    let sql = format!("UPDATE {table} SET {}{also} WHERE id = ?", update.set_clause());
    let mut params: Vec<&dyn ToSql> = update.sets.iter().map(|(_, v)| v as &dyn ToSql).collect();
    params.push(&id);
    execute(conn, &sql, &params)
}
