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

/// Characters SQLite's tokenizer skips between statements: white space (with `\v`, which
/// SQLite counts as space), `;`, and a byte-order mark.
fn is_filler(c: char) -> bool {
    c.is_ascii_whitespace() || c == '\u{b}' || c == ';' || c == '\u{feff}'
}

/// `sql` from its first keyword on: white space, comments and empty statements skipped.
fn skip_filler(sql: &str) -> &str {
    let mut rest = sql;
    loop {
        rest = rest.trim_start_matches(is_filler);
        if let Some(comment) = rest.strip_prefix("--") {
            rest = comment.find('\n').map_or("", |end| &comment[end..]);
        } else if let Some(comment) = rest.strip_prefix("/*") {
            rest = comment.find("*/").map_or("", |end| &comment[end + 2..]);
        } else {
            return rest;
        }
    }
}

/// True when `sql` holds no statement at all: only white space, comments and semicolons.
pub fn is_blank(sql: &str) -> bool {
    skip_filler(sql).is_empty()
}

/// The first keyword of `sql`, upper-cased, after white space, comments and empty statements.
pub fn first_keyword(sql: &str) -> String {
    skip_filler(sql)
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
        assert_eq!(first_keyword(";\u{b}\u{feff} commit"), "COMMIT");
        assert!(is_blank(" -- only a comment"));
        assert!(is_blank("/* a */ ; ;"));
        assert!(!is_blank("/* a */ SELECT 1"));
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
