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

/// How the caller wants rows: objects keyed by column name, or arrays beside a description of
/// each column (`{ raw: true }`), where columns of the same name stay apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Form {
    #[default]
    Objects,
    Raw,
}

/// Where a result column comes from, as SQLite reports it: the table and column it reads (None
/// for an expression) and the column's declared type (None when it has none).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ColumnInfo {
    pub table: Option<String>,
    pub column: Option<String>,
    pub decl_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RowSet {
    pub columns: Vec<String>,
    /// `columns.len()` values per row, rows one after another.
    pub values: Vec<Value>,
    /// One description per column, exactly when the rows were collected in `Form::Raw`.
    pub described: Option<Vec<ColumnInfo>>,
}

impl RowSet {
    pub fn row_count(&self) -> usize {
        self.values.len().checked_div(self.columns.len()).unwrap_or(0)
    }

    pub fn rows(&self) -> impl Iterator<Item = &[Value]> {
        self.values.chunks(self.columns.len().max(1))
    }

    pub fn form(&self) -> Form {
        match self.described {
            Some(_) => Form::Raw,
            None => Form::Objects,
        }
    }

    /// Runs a statement whose parameters are bound, collecting at most `limit` rows as objects.
    pub fn collect(stmt: &mut Statement<'_>, limit: usize) -> Result<RowSet> {
        RowSet::collect_as(stmt, limit, Form::Objects)
    }

    /// Runs a statement whose parameters are bound, collecting at most `limit` rows in `form`.
    pub fn collect_as(stmt: &mut Statement<'_>, limit: usize, form: Form) -> Result<RowSet> {
        let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
        let described = (form == Form::Raw).then(|| describe(stmt));
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
        Ok(RowSet {
            columns,
            values,
            described,
        })
    }
}

/// Each result column's origin table and column and its declared type.
fn describe(stmt: &Statement<'_>) -> Vec<ColumnInfo> {
    let owned = |s: Option<&str>| s.map(str::to_owned);
    stmt.columns_with_metadata()
        .zip(stmt.columns())
        .map(|(origin, declared)| ColumnInfo {
            table: owned(origin.table_name()),
            column: owned(origin.origin_name()),
            decl_type: owned(declared.decl_type()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::{ColumnInfo, Form, RowSet};
    use crate::error::Result;
    use crate::sqlite::Value;

    fn db() -> Result<Connection> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(
            "CREATE TABLE a(id INTEGER PRIMARY KEY, name VARCHAR(9));
             CREATE TABLE b(id INTEGER PRIMARY KEY, a_id INT, note);
             INSERT INTO a VALUES (1, 'x'), (2, 'y');
             INSERT INTO b VALUES (10, 1, 'n1'), (20, 2, NULL);",
        )?;
        Ok(conn)
    }

    fn info(table: Option<&str>, column: Option<&str>, decl_type: Option<&str>) -> ColumnInfo {
        ColumnInfo {
            table: table.map(Into::into),
            column: column.map(Into::into),
            decl_type: decl_type.map(Into::into),
        }
    }

    #[test]
    fn raw_rows_describe_each_column_and_keep_equal_names_apart() -> Result<()> {
        let conn = db()?;
        let mut stmt =
            conn.prepare("SELECT a.id, b.id, b.note AS n, a.name || '!' FROM a JOIN b ON b.a_id = a.id ORDER BY a.id")?;
        let rows = RowSet::collect_as(&mut stmt, usize::MAX, Form::Raw)?;
        assert_eq!(rows.form(), Form::Raw);
        assert_eq!(rows.columns, ["id", "id", "n", "a.name || '!'"]);
        assert_eq!(
            rows.described,
            Some(vec![
                info(Some("a"), Some("id"), Some("INTEGER")),
                info(Some("b"), Some("id"), Some("INTEGER")),
                // A column declared without a type has no declared type.
                info(Some("b"), Some("note"), None),
                info(None, None, None),
            ])
        );
        assert_eq!(rows.row_count(), 2);
        assert_eq!(
            rows.values[4..8],
            [
                Value::Integer(2),
                Value::Integer(20),
                Value::Null,
                Value::Text("y!".into())
            ]
        );
        Ok(())
    }

    #[test]
    fn object_rows_are_not_described_and_a_limit_stops_early() -> Result<()> {
        let conn = db()?;
        let mut stmt = conn.prepare("SELECT name FROM a ORDER BY id")?;
        let rows = RowSet::collect(&mut stmt, 1)?;
        assert_eq!(rows.form(), Form::Objects);
        assert_eq!(rows.described, None);
        assert_eq!(rows.values, [Value::Text("x".into())]);
        Ok(())
    }

    #[test]
    fn no_rows_still_describe_their_columns() -> Result<()> {
        let conn = db()?;
        let mut stmt = conn.prepare("SELECT name, 1 FROM a WHERE 0")?;
        let rows = RowSet::collect_as(&mut stmt, usize::MAX, Form::Raw)?;
        assert_eq!(rows.row_count(), 0);
        assert_eq!(
            rows.described,
            Some(vec![
                info(Some("a"), Some("name"), Some("VARCHAR(9)")),
                info(None, None, None)
            ])
        );
        Ok(())
    }

    #[test]
    fn returning_columns_are_described_by_their_table() -> Result<()> {
        let conn = db()?;
        let mut stmt = conn.prepare("INSERT INTO a(name) VALUES ('z') RETURNING id, name, id + 1 AS next")?;
        let rows = RowSet::collect_as(&mut stmt, usize::MAX, Form::Raw)?;
        assert_eq!(
            rows.values,
            [Value::Integer(3), Value::Text("z".into()), Value::Integer(4)]
        );
        assert_eq!(
            rows.described,
            Some(vec![
                info(Some("a"), Some("id"), Some("INTEGER")),
                info(Some("a"), Some("name"), Some("VARCHAR(9)")),
                info(None, None, None),
            ])
        );
        Ok(())
    }
}
