//! Values between the crate's SQLite-shaped `Value` and PostgreSQL's typed wire format: a
//! parameter is encoded as the type the server inferred for it (a whole number bound where a
//! `double precision` is expected is sent as one, as SQLite's affinity would store it), and a
//! result column of any type the schema uses reads back as the `Value` SQLite would give.

use std::error::Error as StdError;

use bytes::BytesMut;
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};

use crate::sqlite::Value;

type Failure = Box<dyn StdError + Sync + Send>;

/// A parameter bound by reference.
#[derive(Debug)]
pub struct Param<'a>(pub &'a Value);

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Integer(_) => "an integer",
        Value::Real(_) => "a number",
        Value::Text(_) => "text",
        Value::Blob(_) => "a blob",
    }
}

fn is_text(ty: &Type) -> bool {
    [Type::TEXT, Type::VARCHAR, Type::BPCHAR, Type::NAME, Type::UNKNOWN].contains(ty)
}

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Failure> {
        match (self.0, ty) {
            (Value::Null, _) => Ok(IsNull::Yes),
            (Value::Integer(i), t) if *t == Type::INT8 => i.to_sql(ty, out),
            (Value::Integer(i), t) if *t == Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
            (Value::Integer(i), t) if *t == Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
            (Value::Integer(i), t) if *t == Type::FLOAT8 => (*i as f64).to_sql(ty, out),
            (Value::Integer(i), t) if *t == Type::BOOL => (*i != 0).to_sql(ty, out),
            (Value::Integer(i), t) if is_text(t) => i.to_string().to_sql(ty, out),
            (Value::Real(f), t) if *t == Type::FLOAT8 => f.to_sql(ty, out),
            (Value::Real(f), t) if *t == Type::FLOAT4 => (*f as f32).to_sql(ty, out),
            (Value::Real(f), t) if is_text(t) => f.to_string().to_sql(ty, out),
            (Value::Text(s), _) if s.contains('\0') => Err(
                "PostgreSQL text cannot hold the NUL character (U+0000); remove it or store the value as JSON".into(),
            ),
            (Value::Text(s), t) if is_text(t) => s.as_str().to_sql(ty, out),
            (Value::Blob(b), t) if *t == Type::BYTEA => b.as_slice().to_sql(ty, out),
            (v, t) => Err(format!("cannot bind {} where PostgreSQL expects {t}", kind(v)).into()),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// The type a parameter is declared as when statements are not prepared (PgBouncer's transaction
/// pooling): what its value is; NULL as `unknown`, which the server resolves from its context.
pub fn declared_type(v: &Value) -> Type {
    match v {
        Value::Null => Type::UNKNOWN,
        Value::Integer(_) => Type::INT8,
        Value::Real(_) => Type::FLOAT8,
        Value::Text(_) => Type::TEXT,
        Value::Blob(_) => Type::BYTEA,
    }
}

/// One result cell.
pub struct Cell(pub Value);

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Failure> {
        let v = match ty {
            t if *t == Type::INT8 => Value::Integer(i64::from_sql(ty, raw)?),
            t if *t == Type::INT4 => Value::Integer(i32::from_sql(ty, raw)?.into()),
            t if *t == Type::INT2 => Value::Integer(i16::from_sql(ty, raw)?.into()),
            t if *t == Type::OID => Value::Integer(u32::from_sql(ty, raw)?.into()),
            t if *t == Type::BOOL => Value::Integer(bool::from_sql(ty, raw)?.into()),
            t if *t == Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            t if *t == Type::FLOAT4 => Value::Real(f32::from_sql(ty, raw)?.into()),
            t if *t == Type::BYTEA => Value::Blob(raw.to_vec()),
            t if is_text(t) => Value::Text(String::from_sql(ty, raw)?),
            t => {
                return Err(format!(
                    "a result column of type {t} has no SQLite equivalent; cast it (e.g. ::text or ::float8)"
                )
                .into())
            }
        };
        Ok(Cell(v))
    }

    fn from_sql_null(_: &Type) -> Result<Self, Failure> {
        Ok(Cell(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// `?` placeholders as PostgreSQL's `$1, $2, …`, outside quoted text and comments.
pub fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '?' => {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            }
            '\'' | '"' => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == '\n' {
                        break;
                    }
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_quotes_and_comments() {
        assert_eq!(
            numbered("SELECT ? , '?' , \"a?\" -- ?\n , ?"),
            "SELECT $1 , '?' , \"a?\" -- ?\n , $2"
        );
        assert_eq!(numbered("x = 'it''s ?' AND y = ?"), "x = 'it''s ?' AND y = $1");
    }

    #[test]
    fn values_refuse_types_they_cannot_become() {
        let mut out = BytesMut::new();
        assert!(Param(&Value::Text("x".into())).to_sql(&Type::INT8, &mut out).is_err());
        assert!(Param(&Value::Integer(1 << 40)).to_sql(&Type::INT4, &mut out).is_err());
        assert!(Param(&Value::Integer(7)).to_sql(&Type::FLOAT8, &mut out).is_ok());
        assert!(Param(&Value::Null).to_sql(&Type::BYTEA, &mut out).is_ok());
    }
}
