//! Moving a SQLite database to PostgreSQL (`swarm-persistence migrate --from … --to …`): every
//! table, parents before children, in batches; then each table verified by its row count and a
//! checksum of its rows computed the same way on both sides. Safe to re-run: rows already there
//! are recognised by primary key, so an interrupted copy resumes and a finished one copies
//! nothing. A target holding different data (a row of the same key with other values, or rows
//! the source does not have) is refused unless `merge` is set; merging adds the missing rows and
//! keeps the target's version of conflicting ones, and says how many there were.
//!
//! The source is read in one read transaction, so a database in use is copied as of one moment.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use rusqlite::{Connection, OpenFlags};
use serde_json::{json, Value as Json};

use crate::config::PoolConfig;
use crate::error::{Error, Result};
use crate::pg::link::{redacted, Link, Settings};
use crate::pg::schema;
use crate::sqlite::JsonColumns;
use crate::sqlite::Value;
use crate::store::seam::Session;
use crate::store::tables::{AGENTS, EVENTS, MEMORY, METRICS, NETWORKS, SWARMS, TASKS, TASK_RESULTS};

/// Parents before children, so foreign keys hold as rows arrive.
const TABLES: &[(&str, JsonColumns)] = &[
    ("swarms", SWARMS),
    ("agents", AGENTS),
    ("tasks", TASKS),
    ("task_results", TASK_RESULTS),
    ("agent_memory", MEMORY),
    ("metrics", METRICS),
    ("neural_networks", NETWORKS),
    ("events", EVENTS),
];

/// Told `(table, rows done, rows in the table)` as the copy goes.
pub type Progress = Box<dyn Fn(&str, u64, u64) + Send>;

pub struct CopyOptions {
    pub merge: bool,
    /// Rows per INSERT.
    pub batch: usize,
    pub progress: Option<Progress>,
}

impl CopyOptions {
    /// Progress on stderr: a line per table at each tenth and at its end.
    pub fn stderr_progress() -> Progress {
        let last = std::sync::Mutex::new((String::new(), u64::MAX));
        Box::new(move |table, done, total| {
            let tenth = (done * 10).checked_div(total).unwrap_or(10);
            let Ok(mut last) = last.lock() else { return };
            if last.0 != table || last.1 != tenth {
                *last = (table.to_string(), tenth);
                eprintln!("migrate: {table}: {done}/{total} rows ({}%)", tenth * 10);
            }
        })
    }
}

/// One value as both sides compare it: numbers and text by their text (a number SQLite kept in a
/// text column arrives as text), NULL and blobs apart.
fn canonical(v: &Value, out: &mut impl Hasher) {
    match v {
        Value::Null => 0u8.hash(out),
        Value::Integer(i) => (1u8, i.to_string()).hash(out),
        Value::Real(f) => (1u8, f.to_string()).hash(out),
        Value::Text(s) => (1u8, s.as_str()).hash(out),
        Value::Blob(b) => (2u8, b.as_slice()).hash(out),
    }
}

fn row_hash(row: &[Value]) -> u64 {
    let mut h = DefaultHasher::new();
    for v in row {
        canonical(v, &mut h);
    }
    h.finish()
}

/// A table's checksum: the rows' hashes combined without regard to order.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
struct Digest {
    rows: u64,
    sum: u64,
}

impl Digest {
    fn add(&mut self, hash: u64) {
        self.rows += 1;
        self.sum = self.sum.wrapping_add(hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ hash);
    }
    fn hex(&self) -> String {
        format!("{:016x}", self.sum)
    }
}

fn source(path: &str) -> Result<Connection> {
    if !std::path::Path::new(path).is_file() {
        return Err(Error::invalid(format!("--from {path}: no such SQLite database file")));
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > crate::store::schema::CURRENT_VERSION {
        return Err(Error::invalid(format!(
            "--from {path}: schema version {version} is newer than this library's; upgrade swarm-persistence"
        )));
    }
    for (table, _) in TABLES {
        let found: i64 = conn.query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?",
            [table],
            |r| r.get(0),
        )?;
        if found == 0 {
            return Err(Error::invalid(format!(
                "--from {path}: no table {table}; is it a swarm-persistence database?"
            )));
        }
    }
    conn.execute_batch("BEGIN")?;
    Ok(conn)
}

fn column_list(columns: JsonColumns) -> String {
    columns
        .iter()
        .map(|c| format!("\"{}\"", c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The target's rows of a table by primary key (`id`), as row hashes.
fn target_rows(link: &Link, table: &str, columns: JsonColumns) -> Result<HashMap<String, u64>> {
    let rows = link.query(&format!("SELECT {} FROM {table}", column_list(columns)), &[])?;
    Ok(rows.rows().map(|r| (key(&r[0]), row_hash(r))).collect())
}

fn key(v: &Value) -> String {
    match v {
        Value::Integer(i) => i.to_string(),
        Value::Text(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

struct TableReport {
    table: &'static str,
    source_rows: u64,
    copied: u64,
    already: u64,
    conflicts: u64,
    target_rows: u64,
    source_checksum: Digest,
    target_checksum: Digest,
    /// Source rows not in the target afterwards, or there with other values (beyond the
    /// conflicts a merge keeps): 0 when the copy is right.
    wrong: u64,
}

pub fn copy(from: &str, to: &str, options: &CopyOptions) -> Result<Json> {
    let src = source(from)?;
    // POOL_* variables apply as they would to a pool on `to`: POOL_PG_SSL_MODE above all.
    let settings = Settings::new(to, &PoolConfig::from_env()?)?;
    let link = Link::open(&settings, "migrate")?;
    schema::migrate(&link)?;
    // First every table is checked, so a refused target is refused before anything is written.
    let mut plans = Vec::new();
    for (table, columns) in TABLES {
        let existing = target_rows(&link, table, columns)?;
        let mut stmt = src.prepare(&format!("SELECT {} FROM {table}", column_list(columns)))?;
        let (mut conflicts, mut matched, mut source_rows) = (0u64, 0u64, 0u64);
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let values: Vec<Value> = (0..columns.len())
                .map(|i| row.get_ref(i).map(Value::from_ref))
                .collect::<rusqlite::Result<_>>()?;
            source_rows += 1;
            match existing.get(&key(&values[0])) {
                Some(h) if *h == row_hash(&values) => matched += 1,
                Some(_) => conflicts += 1,
                None => {}
            }
        }
        let extra = existing.len() as u64 - matched - conflicts;
        if !options.merge && (conflicts > 0 || extra > 0) {
            return Err(Error::invalid(format!(
                "{} already holds different data in {table} ({conflicts} rows differ from the source, {extra} rows are not in it); \
                 nothing was copied. Use an empty database, or --merge to add the missing rows and keep the target's",
                redacted(to)
            )));
        }
        plans.push((*table, *columns, existing, source_rows, conflicts));
    }
    let mut reports = Vec::new();
    for (table, columns, existing, source_rows, conflicts) in plans {
        reports.push(copy_table(
            &src,
            &link,
            table,
            columns,
            &existing,
            source_rows,
            conflicts,
            options,
        )?);
    }
    let verified = reports.iter().all(|r| {
        r.wrong == 0 && (options.merge || (r.target_rows == r.source_rows && r.source_checksum == r.target_checksum))
    });
    let tables: Vec<Json> = reports
        .iter()
        .map(|r| {
            json!({
                "table": r.table,
                "sourceRows": r.source_rows,
                "copied": r.copied,
                "alreadyThere": r.already,
                "conflicts": r.conflicts,
                "targetRows": r.target_rows,
                "sourceChecksum": r.source_checksum.hex(),
                "targetChecksum": r.target_checksum.hex(),
            })
        })
        .collect();
    if !verified {
        return Err(Error::Internal(format!(
            "the copy to {} did not verify: {}",
            redacted(to),
            serde_json::to_string(&tables).unwrap_or_default()
        )));
    }
    Ok(json!({ "from": from, "to": redacted(to), "merged": options.merge, "verified": true, "tables": tables }))
}

#[allow(clippy::too_many_arguments)]
fn copy_table(
    src: &Connection,
    link: &Link,
    table: &'static str,
    columns: JsonColumns,
    existing: &HashMap<String, u64>,
    source_rows: u64,
    conflicts: u64,
    options: &CopyOptions,
) -> Result<TableReport> {
    // The source's rowid goes along unless merging, so the order the domain reads in (and
    // events' ids) stays the same; merged rows get new ones after the target's.
    let keep_rowid = !options.merge;
    let mut names = column_list(columns);
    if keep_rowid {
        names.push_str(", rowid");
    }
    let width = columns.len() + usize::from(keep_rowid);
    if keep_rowid {
        // The identities move past the source's rowids (and event ids) before any row arrives,
        // so writes through the API during or after an interrupted copy never take one of them.
        let top: Option<i64> = src.query_row(&format!("SELECT max(rowid) FROM {table}"), [], |r| r.get(0))?;
        if let Some(top) = top {
            let mut identities = vec!["rowid"];
            if table == "events" {
                identities.push("id");
            }
            for column in identities {
                link.query(
                    &format!("SELECT setval(pg_get_serial_sequence('{table}', '{column}'), GREATEST(?, (SELECT coalesce(max({column}), 0) FROM {table})))::text"),
                    &[Value::Integer(top)],
                )?;
            }
        }
    }
    let mut stmt = src.prepare(&format!(
        "SELECT {}, rowid FROM {table} ORDER BY rowid",
        column_list(columns)
    ))?;
    let mut rows = stmt.query([])?;
    let mut report = TableReport {
        table,
        source_rows,
        copied: 0,
        already: 0,
        conflicts,
        target_rows: 0,
        source_checksum: Digest::default(),
        target_checksum: Digest::default(),
        wrong: 0,
    };
    let mut sources: Vec<(String, u64)> = Vec::with_capacity(source_rows as usize);
    let mut batch: Vec<Value> = Vec::new();
    let mut seen = 0u64;
    let flush = |batch: &mut Vec<Value>, copied: &mut u64| -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let one = format!("({})", vec!["?"; width].join(", "));
        let tuples = vec![one; batch.len() / width].join(", ");
        // Only a row of the same key is skipped; a clash of rowids is an error, never a row lost.
        let sql = format!("INSERT INTO {table} ({names}) VALUES {tuples} ON CONFLICT (id) DO NOTHING");
        *copied += link.execute(&sql, batch)?.changes;
        batch.clear();
        Ok(())
    };
    while let Some(row) = rows.next()? {
        let mut values: Vec<Value> = (0..=columns.len())
            .map(|i| row.get_ref(i).map(Value::from_ref))
            .collect::<rusqlite::Result<_>>()?;
        let rowid = values.pop().unwrap_or(Value::Null);
        let hash = row_hash(&values);
        report.source_checksum.add(hash);
        sources.push((key(&values[0]), hash));
        seen += 1;
        if existing.contains_key(&key(&values[0])) {
            report.already += 1;
        } else {
            batch.extend(values);
            if keep_rowid {
                batch.push(rowid);
            }
            // PostgreSQL takes at most 65,535 parameters per statement.
            if batch.len() >= (options.batch * width).min(60_000) {
                flush(&mut batch, &mut report.copied)?;
                if let Some(progress) = &options.progress {
                    progress(table, seen, source_rows);
                }
            }
        }
    }
    flush(&mut batch, &mut report.copied)?;
    report.already -= report.conflicts.min(report.already);
    if let Some(progress) = &options.progress {
        progress(table, seen, source_rows);
    }
    advance_identities(link, table)?;
    let after = target_rows(link, table, columns)?;
    for hash in after.values() {
        report.target_checksum.add(*hash);
    }
    report.target_rows = report.target_checksum.rows;
    let differing = sources.iter().filter(|(k, h)| after.get(k) != Some(h)).count() as u64;
    report.wrong = differing.saturating_sub(if options.merge { report.conflicts } else { 0 });
    Ok(report)
}

/// Moves a table's identities (rowid, and events' id) past the largest value in it, so the next
/// row the API writes takes the next number, as SQLite's would; an empty table starts at 1.
fn advance_identities(link: &Link, table: &str) -> Result<()> {
    let mut identities = vec!["rowid"];
    if table == "events" {
        identities.push("id");
    }
    for column in identities {
        link.query(
            &format!(
                "SELECT (CASE WHEN max({column}) IS NULL
                    THEN setval(pg_get_serial_sequence('{table}', '{column}'), 1, false)
                    ELSE setval(pg_get_serial_sequence('{table}', '{column}'), max({column})) END)::text
                 FROM {table}"
            ),
            &[],
        )?;
    }
    Ok(())
}
