//! Result rows as plain data: column names once, values flat, row by row.

use rusqlite::Statement;

use crate::error::Result;
use crate::sqlite::Value;

/// What a JSON-text column reads as when it is NULL or empty (the original's
/// `JSON.parse(x || '{}')`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Object,
    Array,
    Null,
}

/// One column of a domain table, and how it reads back: as stored, or as JSON text parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub json: Option<Missing>,
}

/// A table's columns, in order.
pub type JsonColumns = &'static [Column];

/// Domain rows: the values as stored, which of the columns hold JSON text (parsed by the binding
/// with the JavaScript engine's own `JSON.parse`, so any value `JSON.stringify` wrote comes back
/// exactly), and whether the caller wants only the first row (or null).
#[derive(Debug, Clone, PartialEq)]
pub struct Records {
    pub rows: RowSet,
    pub json: JsonColumns,
    pub first: bool,
}

impl Records {
    /// How column `i` is read back: Some(missing) for a JSON column.
    pub fn json_kinds(&self) -> Vec<Option<Missing>> {
        self.rows
            .columns
            .iter()
            .map(|c| self.json.iter().find(|col| col.name == c).and_then(|col| col.json))
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RowSet {
    pub columns: Vec<String>,
    /// `columns.len()` values per row, rows one after another.
    pub values: Vec<Value>,
}

impl RowSet {
    pub fn row_count(&self) -> usize {
        self.values.len().checked_div(self.columns.len()).unwrap_or(0)
    }

    pub fn rows(&self) -> impl Iterator<Item = &[Value]> {
        self.values.chunks(self.columns.len().max(1))
    }

    /// Runs a statement whose parameters are bound, collecting at most `limit` rows.
    pub fn collect(stmt: &mut Statement<'_>, limit: usize) -> Result<RowSet> {
        let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
        let width = columns.len();
        let mut values = Vec::new();
        let mut rows = stmt.raw_query();
        let mut taken = 0;
        while taken < limit {
            let Some(row) = rows.next()? else { break };
            for i in 0..width {
                values.push(Value::from_ref(row.get_ref(i)?));
            }
            taken += 1;
        }
        Ok(RowSet { columns, values })
    }
}
