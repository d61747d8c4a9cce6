//! Values crossing between callers and SQLite, and binding them to statements.

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Statement, ToSql};

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    pub fn from_ref(value: ValueRef<'_>) -> Value {
        match value {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Real(f) => Value::Real(f),
            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        }
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Integer(i)
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Real(f)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// Statement parameters: none, by position (`?`, `?NNN`), or by name (`:id`, `@id`, `$id`).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Params {
    #[default]
    None,
    Positional(Vec<Value>),
    Named(Vec<(String, Value)>),
}

impl Params {
    /// Binds every parameter of `stmt`; a missing, surplus or unknown parameter is an error, so a
    /// statement never runs with a silently NULL argument.
    pub fn bind(&self, stmt: &mut Statement<'_>) -> Result<()> {
        let count = stmt.parameter_count();
        match self {
            Params::None if count == 0 => Ok(()),
            Params::None => Err(Error::invalid(format!(
                "the statement takes {count} parameter(s) and none were given"
            ))),
            Params::Positional(values) => {
                if values.len() != count {
                    return Err(Error::invalid(format!(
                        "wrong number of parameters: {} given, the statement takes {count}",
                        values.len()
                    )));
                }
                for (i, value) in values.iter().enumerate() {
                    if let Some(name) = stmt.parameter_name(i + 1) {
                        if !name.starts_with('?') {
                            return Err(Error::invalid(format!(
                                "the statement uses named parameter {name}; pass an object such as {{ {}: … }}",
                                &name[1..]
                            )));
                        }
                    }
                    stmt.raw_bind_parameter(i + 1, value)?;
                }
                Ok(())
            }
            Params::Named(pairs) => {
                let mut used = vec![false; pairs.len()];
                for index in 1..=count {
                    let Some(name) = stmt.parameter_name(index) else {
                        return Err(Error::invalid(
                            "the statement uses positional parameters (?); pass an array",
                        ));
                    };
                    let key = &name[1..];
                    let Some(found) = pairs.iter().position(|(k, _)| k == key) else {
                        return Err(Error::invalid(format!(
                            "missing named parameter {name}: the object has no key \"{key}\""
                        )));
                    };
                    used[found] = true;
                    stmt.raw_bind_parameter(index, &pairs[found].1)?;
                }
                if let Some(unused) = used.iter().position(|u| !u) {
                    return Err(Error::invalid(format!(
                        "unknown named parameter \"{}\": the statement has no :{0}, @{0} or ${0}",
                        pairs[unused].0
                    )));
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use rusqlite::Connection;

    fn conn() -> Connection {
        Connection::open_in_memory().expect("memory db")
    }

    #[test]
    fn binds_positional_and_named() -> Result<()> {
        let db = conn();
        let mut stmt = db.prepare("SELECT ?, ?")?;
        Params::Positional(vec![Value::Integer(1), Value::from("a")]).bind(&mut stmt)?;
        let mut rows = stmt.raw_query();
        let row = rows.next()?.expect("a row");
        assert_eq!(row.get::<_, i64>(0)?, 1);
        assert_eq!(row.get::<_, String>(1)?, "a");
        drop(rows);
        let mut stmt = db.prepare("SELECT :a + @b + $c")?;
        Params::Named(vec![
            ("c".into(), Value::Integer(3)),
            ("a".into(), Value::Integer(1)),
            ("b".into(), Value::Integer(2)),
        ])
        .bind(&mut stmt)?;
        let total: i64 = stmt.raw_query().next()?.expect("row").get(0)?;
        assert_eq!(total, 6);
        Ok(())
    }

    #[test]
    fn refuses_wrong_counts_and_unknown_names() -> Result<()> {
        let db = conn();
        let mut stmt = db.prepare("SELECT ?, ?")?;
        let err = Params::Positional(vec![Value::Null]).bind(&mut stmt);
        assert_eq!(err.map_err(|e| e.code()), Err("INVALID_ARGUMENT"));
        let err = Params::None.bind(&mut stmt);
        assert_eq!(err.map_err(|e| e.code()), Err("INVALID_ARGUMENT"));
        let mut stmt = db.prepare("SELECT :a")?;
        let err = Params::Named(vec![("a".into(), Value::Null), ("zz".into(), Value::Null)])
            .bind(&mut stmt)
            .expect_err("unknown key");
        assert!(err.to_string().contains("zz"), "{err}");
        let err = Params::Named(vec![]).bind(&mut stmt).expect_err("missing");
        assert!(err.to_string().contains(":a"), "{err}");
        Ok(())
    }
}
