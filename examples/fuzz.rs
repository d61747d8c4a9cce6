//! A time-boxed fuzzer for the SQL-facing code: statement classification, parameter binding and
//! value round trips, and running random statements through the read and write paths. `cargo
//! fuzz` needs a nightly toolchain the CI machine does not have, so this drives the same targets
//! with a seeded generator on stable. `FUZZ_SECONDS` (default 60), `FUZZ_SEED` to replay a run.
//!
//! Properties: nothing panics; every failure is a typed error that is never `INTERNAL_ERROR`;
//! a bound value reads back unchanged; transaction control is always recognised as such.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::Connection;
use swarm_persistence::pool::job::Output;
use swarm_persistence::pool::sql::{run_query, run_statement, Fetch};
use swarm_persistence::sqlite::classify::{classify, first_keyword, StatementKind};
use swarm_persistence::sqlite::{Form, Params, Value};

/// xorshift64*: small, fast, reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

const FRAGMENTS: &[&str] = &[
    "SELECT",
    "INSERT INTO t(a, b) VALUES",
    "UPDATE t SET a =",
    "DELETE FROM t WHERE",
    "WITH c AS (SELECT 1)",
    "BEGIN",
    "begin immediate",
    "COMMIT",
    "END",
    "ROLLBACK",
    "SAVEPOINT s",
    "RELEASE s",
    "VACUUM",
    "PRAGMA user_version",
    "ATTACH ':memory:' AS x",
    "DETACH x",
    "CREATE TABLE IF NOT EXISTS u(x)",
    "DROP TABLE IF EXISTS u",
    "(",
    ")",
    ",",
    ";",
    "?",
    "?1",
    "?7",
    ":a",
    "@b",
    "$c",
    ":a",
    "*",
    "FROM t",
    "WHERE",
    "a",
    "b",
    "=",
    "1",
    "-9223372036854775808",
    "1e308",
    "'str''ing'",
    "x'00ff'",
    "NULL",
    "--comment\n",
    "/* c */",
    "/* open",
    "\n",
    "\t",
    "é",
    "🦀",
    "\0",
    "RETURNING *",
    "ORDER BY 1",
    "LIMIT",
    "GROUP BY a",
    "zeroblob(10)",
    "randomblob(4)",
    "count(*)",
    "json('[1]')",
    "ROLLBACK TO s",
    "REINDEX",
    "ANALYZE",
    "EXPLAIN",
    "EXPLAIN QUERY PLAN",
];

fn random_sql(rng: &mut Rng) -> String {
    let n = 1 + rng.below(8);
    let mut sql = String::new();
    for _ in 0..n {
        let fragment = *rng.pick(FRAGMENTS);
        sql.push_str(fragment);
        sql.push(' ');
    }
    if rng.below(10) == 0 {
        // Raw noise, including invalid UTF-8 replaced lossily.
        let bytes: Vec<u8> = (0..rng.below(40)).map(|_| rng.next() as u8).collect();
        sql.push_str(&String::from_utf8_lossy(&bytes));
    }
    sql
}

fn random_value(rng: &mut Rng) -> Value {
    match rng.below(9) {
        0 => Value::Null,
        1 => Value::Integer(rng.next() as i64),
        2 => Value::Integer(*rng.pick(&[0, 1, -1, i64::MIN, i64::MAX])),
        3 => Value::Real(f64::from_bits(rng.next())),
        4 => Value::Real(*rng.pick(&[0.0, -0.0, 1e308, -1e-308, f64::INFINITY, f64::NEG_INFINITY])),
        5 => Value::Text(String::new()),
        6 => Value::Text(
            (0..rng.below(64))
                .filter_map(|_| char::from_u32((rng.next() % 0x11_0000) as u32))
                .collect(),
        ),
        7 => Value::Blob((0..rng.below(64)).map(|_| rng.next() as u8).collect()),
        _ => Value::Blob(Vec::new()),
    }
}

fn random_params(rng: &mut Rng) -> Params {
    let n = rng.below(5);
    match rng.below(3) {
        0 => Params::None,
        1 => Params::Positional((0..n).map(|_| random_value(rng)).collect()),
        _ => Params::Named(
            (0..n)
                .map(|_| (rng.pick(&["a", "b", "c", "d", ""]).to_string(), random_value(rng)))
                .collect(),
        ),
    }
}

/// How SQLite stores a value: NaN becomes NULL, everything else is kept exactly.
fn stored(v: &Value) -> Value {
    match v {
        Value::Real(f) if f.is_nan() => Value::Null,
        other => other.clone(),
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Real(x), Value::Real(y)) => x.to_bits() == y.to_bits() || x == y,
        _ => a == b,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: u64 = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        });
    println!("fuzz: seed {seed}, {seconds} s (replay with FUZZ_SEED={seed})");
    let mut rng = Rng(seed);
    let conn = Connection::open_in_memory()?;
    conn.execute_batch("CREATE TABLE t(a, b)")?;
    let until = Instant::now() + Duration::from_secs(seconds);
    let (mut cases, mut errors, mut roundtrips) = (0u64, 0u64, 0u64);
    while Instant::now() < until {
        for _ in 0..256 {
            cases += 1;
            let sql = random_sql(&mut rng);
            let kind = classify(&sql);
            let keyword = first_keyword(&sql);
            if ["BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"].contains(&keyword.as_str()) {
                assert_eq!(kind, StatementKind::TransactionControl, "case {cases}: {sql:?}");
            }
            let params = random_params(&mut rng);
            let outcome = if kind == StatementKind::TransactionControl {
                None
            } else if rng.below(2) == 0 {
                Some(run_query(&conn, &sql, &params, Fetch::All, Form::Objects).map(|_| ()))
            } else {
                Some(run_statement(&conn, &sql, &params, Form::Objects).map(|_| ()))
            };
            if let Some(Err(e)) = outcome {
                errors += 1;
                assert_ne!(e.code(), "INTERNAL_ERROR", "case {cases}: {sql:?} {params:?}: {e}");
            }
            // Leave no transaction open for the next case.
            if !conn.is_autocommit() {
                conn.execute_batch("ROLLBACK")?;
            }

            // Round trip: SELECT ?1, ?2, … gives back what was bound.
            let values: Vec<Value> = (0..1 + rng.below(6)).map(|_| random_value(&mut rng)).collect();
            let select = format!(
                "SELECT {}",
                (1..=values.len())
                    .map(|i| format!("?{i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            match run_query(
                &conn,
                &select,
                &Params::Positional(values.clone()),
                Fetch::First,
                Form::Objects,
            )? {
                Output::Row(Some(rows)) => {
                    let got: Vec<Value> = rows.rows().next().map(|r| r.to_vec()).unwrap_or_default();
                    let want: Vec<Value> = values.iter().map(stored).collect();
                    assert!(
                        got.len() == want.len() && got.iter().zip(&want).all(|(a, b)| same(a, b)),
                        "case {cases}: bound {want:?}, read {got:?}"
                    );
                    roundtrips += 1;
                }
                other => panic!("case {cases}: {select} gave {other:?}"),
            }
        }
    }
    println!(
        "fuzz: {cases} statements, {errors} rejected with typed errors, {roundtrips} value round trips, 0 crashes"
    );
    Ok(())
}
