//! What kind of statement a piece of SQL is, judged by its first keyword, so the writer knows
//! what may join a group-commit transaction.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    /// Runs inside the writer's batch transaction.
    Batched,
    /// Cannot run inside a transaction (VACUUM, ATTACH, PRAGMA …): runs alone, between batches.
    Alone,
    /// BEGIN / COMMIT / SAVEPOINT …: the pool owns transactions, so these are refused.
    TransactionControl,
}

/// The first keyword of `sql`, upper-cased, after white space and comments.
pub fn first_keyword(sql: &str) -> String {
    let bytes = sql.as_bytes();
    let mut i = 0;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes[i..].starts_with(b"--") {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if bytes[i..].starts_with(b"/*") {
            match sql[i + 2..].find("*/") {
                Some(end) => i += end + 4,
                None => return String::new(),
            }
        } else {
            break;
        }
    }
    sql[i..]
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_uppercase()
}

pub fn classify(sql: &str) -> StatementKind {
    match first_keyword(sql).as_str() {
        "BEGIN" | "COMMIT" | "END" | "ROLLBACK" | "SAVEPOINT" | "RELEASE" => StatementKind::TransactionControl,
        "VACUUM" | "ATTACH" | "DETACH" | "PRAGMA" => StatementKind::Alone,
        _ => StatementKind::Batched,
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn skips_comments_and_space() {
        assert_eq!(first_keyword("  -- hi\n /* x */ vacuum"), "VACUUM");
        assert_eq!(first_keyword("/* unterminated"), "");
        assert_eq!(first_keyword(""), "");
    }

    #[test]
    fn sorts_statements() {
        assert_eq!(classify("INSERT INTO t VALUES (1)"), StatementKind::Batched);
        assert_eq!(classify("with x as (select 1) select * from x"), StatementKind::Batched);
        assert_eq!(classify("VACUUM"), StatementKind::Alone);
        assert_eq!(classify("pragma journal_mode=wal"), StatementKind::Alone);
        assert_eq!(classify("begin immediate"), StatementKind::TransactionControl);
        assert_eq!(classify("Release sp"), StatementKind::TransactionControl);
    }
}
