//! Result rows as plain data: column names once, values flat, row by row.

use rusqlite::Statement;

use crate::error::Result;
use crate::sqlite::Value;

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
