//! The physical limit the benchmark reports each workload against: what this machine does with
//! no JavaScript, no queues and no promises — rusqlite alone, on connections opened as the pool
//! opens them (same pragmas, schema and statements), each operation's result read out as the
//! pool reads it. `npm run bench` runs it beside the Node peers and prints each workload also as
//! a fraction of these rates.
//!
//! - insert: createAgent's INSERT, 10,000 rows in one transaction on one thread (W1's limit);
//! - read: getAgent's query by primary key on as many threads as cores, each with its own
//!   read-only connection and one read transaction (W2's, and the reads of W3 and W4);
//! - update: updateAgentStatus's UPDATE, 10,000 in one transaction (W3's writes);
//! - upsert: storeMemory's upsert over 1,000 keys × 10, in one transaction (W5's).
//!
//! `RAW_RUNS` runs (default 3) on a fresh database each; prints one JSON line of medians in
//! operations per second: `{"threads":2,"insert":…,"read":…,"update":…,"upsert":…}`.

use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::Instant;

use rusqlite::{params, Connection};
use swarm_persistence::pool::job::Output;
use swarm_persistence::pool::sql::{run_query, Fetch};
use swarm_persistence::sqlite::open::{open_reader, open_writer, DbPath};
use swarm_persistence::sqlite::{guard, Form, Params, Value};
use swarm_persistence::store::memory::upsert_memory;
use swarm_persistence::store::schema::migrate;
use swarm_persistence::store::sqlite::SQLITE;
use swarm_persistence::store::swarms::{GET_AGENT, INSERT_AGENT, UPDATE_AGENT_STATUS};
use swarm_persistence::{PoolConfig, Result};

const N: usize = 10_000;

/// Operations per second of `n` operations done in `f`.
fn rate(n: usize, f: impl FnOnce() -> Result<()>) -> Result<f64> {
    let started = Instant::now();
    f()?;
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// Transaction control, which the pool's connections accept only from the pool itself.
fn control(conn: &Connection, sql: &str) -> Result<()> {
    guard::internal(|| conn.execute_batch(sql))?;
    Ok(())
}

/// Runs `f` in one write transaction, as the writer runs a group.
fn in_transaction(conn: &Connection, f: impl FnOnce() -> Result<()>) -> Result<()> {
    control(conn, "BEGIN IMMEDIATE")?;
    f()?;
    control(conn, "COMMIT")
}

/// Whether the agent was found, its row read out by the pool's own query path (`run_query`, as
/// a reader runs getAgent): every column a `Value`, text copied.
fn read_row(conn: &Connection, id: &str) -> Result<bool> {
    let params = Params::Positional(vec![Value::Text(id.to_string())]);
    Ok(
        match run_query(conn, GET_AGENT, &params, Fetch::First, Form::Objects)? {
            Output::Row(row) => row.is_some_and(|r| r.row_count() > 0),
            Output::Rows(rows) => rows.row_count() > 0,
            _ => false,
        },
    )
}

struct Rates {
    insert: f64,
    read: f64,
    update: f64,
    upsert: f64,
}

fn one_run(dir: &Path, threads: usize) -> Result<Rates> {
    let config = PoolConfig::default();
    let db = DbPath::resolve(&dir.join("raw.db").to_string_lossy())?;
    let writer = open_writer(&db, &config)?;
    migrate(&writer)?;
    writer.execute(
        "INSERT INTO swarms (id, name, topology, max_agents) VALUES ('bench', 'bench', 'mesh', 1000000)",
        [],
    )?;

    let insert = rate(N, || {
        in_transaction(&writer, || {
            let mut stmt = writer.prepare_cached(INSERT_AGENT)?;
            for i in 0..N {
                let id = format!("a{i}");
                stmt.execute(params![
                    id,
                    "bench",
                    format!("agent {id}"),
                    "coder",
                    r#"["rust","js"]"#,
                    r#"{"layers":[8,4]}"#,
                    "{}"
                ])?;
            }
            Ok(())
        })
    })?;

    let update = rate(N, || {
        in_transaction(&writer, || {
            let mut stmt = writer.prepare_cached(UPDATE_AGENT_STATUS)?;
            for i in 0..N {
                let status = if i % 2 == 0 { "busy" } else { "idle" };
                stmt.execute(params![status, format!("a{}", (i * 7919) % N)])?;
            }
            Ok(())
        })
    })?;

    let upsert_sql = upsert_memory(&SQLITE);
    let upsert = rate(N, || {
        in_transaction(&writer, || {
            let mut stmt = writer.prepare_cached(&upsert_sql)?;
            for i in 0..N {
                let key = i % 1_000;
                stmt.execute(params![
                    format!("mem_{i}"),
                    format!("a{}", key % 100),
                    format!("k{key}"),
                    i.to_string(),
                    None::<i64>,
                    None::<String>
                ])?;
            }
            Ok(())
        })
    })?;

    // Readers open and warm before the clock starts, as the pool's are.
    let readers = (0..threads)
        .map(|_| open_reader(&db, &config))
        .collect::<Result<Vec<_>>>()?;
    let start = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = readers
        .into_iter()
        .enumerate()
        .map(|(t, conn)| {
            let start = Arc::clone(&start);
            std::thread::spawn(move || -> Result<usize> {
                read_row(&conn, "a0")?;
                start.wait();
                control(&conn, "BEGIN")?;
                let mut found = 0;
                for i in 0..N {
                    let id = format!("a{}", (i * 7919 + t * 104_729) % N);
                    found += usize::from(read_row(&conn, &id)?);
                }
                control(&conn, "COMMIT")?;
                Ok(found)
            })
        })
        .collect();
    start.wait();
    let started = Instant::now();
    let mut found = 0;
    for h in handles {
        found += h
            .join()
            .map_err(|_| swarm_persistence::Error::Internal("a reader thread panicked".into()))??;
    }
    let read = (threads * N) as f64 / started.elapsed().as_secs_f64();
    if found != threads * N {
        return Err(swarm_persistence::Error::Internal(format!(
            "read {found} rows, expected {}",
            threads * N
        )));
    }
    Ok(Rates {
        insert,
        read,
        update,
        upsert,
    })
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let runs: usize = std::env::var("RAW_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut all = Vec::new();
    for r in 0..runs {
        let dir = std::env::temp_dir().join(format!("sp-raw-limit-{}-{r}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let result = std::fs::create_dir_all(&dir)
            .map_err(|e| swarm_persistence::Error::Internal(e.to_string()))
            .and_then(|()| one_run(&dir, threads));
        let _ = std::fs::remove_dir_all(&dir);
        match result {
            Ok(rates) => all.push(rates),
            Err(e) => {
                eprintln!("raw_limit: {} {e}", e.code());
                std::process::exit(1);
            }
        }
    }
    let of = |f: fn(&Rates) -> f64| median(all.iter().map(f).collect()).round();
    println!(
        "{{\"threads\":{threads},\"insert\":{},\"read\":{},\"update\":{},\"upsert\":{}}}",
        of(|r| r.insert),
        of(|r| r.read),
        of(|r| r.update),
        of(|r| r.upsert)
    );
}
