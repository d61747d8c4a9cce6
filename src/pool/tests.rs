//! Engine behaviour, end to end on real files, without Node.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::unbounded;

use super::job::Output;
use super::lanes::Lane;
use super::sql::{wait, Fetch, Statement};
use super::Pool;
use crate::config::PoolConfig;
use crate::error::{Error, Result};
use crate::sqlite::{Form, Params, Value};

pub(super) fn temp_path(name: &str) -> String {
    let dir = crate::test_dir().join(format!("sp-pool-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{name}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path.display().to_string()
}

pub(super) fn small_config() -> PoolConfig {
    PoolConfig {
        max_readers: 2,
        max_workers: 1,
        ..PoolConfig::default()
    }
}

/// One reader (and the one worker of `small_config`).
pub(super) fn one_reader() -> PoolConfig {
    PoolConfig {
        max_readers: 1,
        ..small_config()
    }
}

pub(super) fn open(name: &str, config: PoolConfig) -> Result<Arc<Pool>> {
    let pool = Pool::open(&temp_path(name), config)?;
    write(
        &pool,
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT UNIQUE)",
        Params::None,
    )?;
    Ok(pool)
}

pub(super) fn write(pool: &Pool, sql: &str, params: Params) -> Result<Output> {
    wait(|done| pool.execute(sql.into(), params, Form::Objects, done))
}

/// A query on the readers, once it is answered.
pub(super) fn read(pool: &Pool, sql: &str, fetch: Fetch) -> Result<Output> {
    wait(|done| pool.query(Lane::Read, sql.into(), Params::None, fetch, Form::Objects, done))
}

pub(super) fn count(pool: &Pool) -> Result<i64> {
    match read(pool, "SELECT count(*) AS n FROM t", Fetch::First)? {
        Output::Row(Some(rows)) => match rows.values[0] {
            Value::Integer(n) => Ok(n),
            ref other => panic!("unexpected {other:?}"),
        },
        other => panic!("unexpected {other:?}"),
    }
}

pub(super) fn close(pool: &Arc<Pool>) {
    let _ = wait(|done| pool.close(done));
}

#[test]
fn group_commit_keeps_every_write_in_few_commits() -> Result<()> {
    let pool = open("group", small_config())?;
    let (tx, rx) = unbounded();
    for i in 0..10_000 {
        let tx = tx.clone();
        pool.execute(
            "INSERT INTO t(v) VALUES (?)".into(),
            Params::Positional(vec![Value::Text(format!("v{i}"))]),
            Form::Objects,
            Box::new(move |r| tx.send(r).expect("send")),
        );
    }
    for _ in 0..10_000 {
        rx.recv().expect("result")?;
    }
    assert_eq!(count(&pool)?, 10_000);
    let commits = pool.stats().commits.load(Relaxed);
    assert!(commits < 2_000, "{commits} commits for 10,000 writes");
    close(&pool);
    Ok(())
}

#[test]
fn a_failing_write_fails_alone() -> Result<()> {
    let pool = open("alone", small_config())?;
    write(&pool, "INSERT INTO t(v) VALUES ('dup')", Params::None)?;
    let (tx, rx) = unbounded();
    for v in ["a", "dup", "b"] {
        let tx = tx.clone();
        pool.execute(
            "INSERT INTO t(v) VALUES (?)".into(),
            Params::Positional(vec![v.into()]),
            Form::Objects,
            Box::new(move |r| tx.send((v, r)).expect("send")),
        );
    }
    for _ in 0..3 {
        let (v, r) = rx.recv().expect("result");
        match v {
            "dup" => assert_eq!(r.map(|_| ()).map_err(|e| e.code()), Err("SQLITE_CONSTRAINT_UNIQUE")),
            _ => assert!(r.is_ok()),
        }
    }
    assert_eq!(count(&pool)?, 3);
    close(&pool);
    Ok(())
}

#[test]
fn a_resolved_write_is_visible_to_the_next_read() -> Result<()> {
    let pool = open("ryw", small_config())?;
    for i in 0..200 {
        write(
            &pool,
            "INSERT INTO t(v) VALUES (?)",
            Params::Positional(vec![Value::Integer(i)]),
        )?;
        assert_eq!(count(&pool)?, i + 1);
    }
    close(&pool);
    Ok(())
}

#[test]
fn transaction_is_all_or_nothing() -> Result<()> {
    let pool = open("tx", small_config())?;
    let stmt = |v: &str| Statement {
        sql: "INSERT INTO t(v) VALUES (?)".into(),
        params: Params::Positional(vec![v.into()]),
    };
    let err =
        wait(|done| pool.transaction(vec![stmt("x"), stmt("y"), stmt("x")], Form::Objects, done)).expect_err("dup");
    assert_eq!(err.code(), "SQLITE_CONSTRAINT_UNIQUE");
    assert!(err.to_string().starts_with("UNIQUE constraint failed: t.v"), "{err}");
    assert!(err.to_string().ends_with("(statement 2)"), "{err}");
    assert_eq!(count(&pool)?, 0);
    let ok = wait(|done| pool.transaction(vec![stmt("x"), stmt("y")], Form::Objects, done))?;
    assert!(matches!(ok, Output::Writes(ref w) if w.len() == 2 && w[1].changes == 1));
    assert_eq!(count(&pool)?, 2);
    close(&pool);
    Ok(())
}

#[test]
fn writes_sent_to_readers_are_refused() -> Result<()> {
    let pool = open("ro", small_config())?;
    for lane in [Lane::Read, Lane::Worker] {
        let err = wait(|d| {
            pool.query(
                lane,
                "INSERT INTO t(v) VALUES ('z')".into(),
                Params::None,
                Fetch::All,
                Form::Objects,
                d,
            )
        })
        .expect_err("read-only");
        assert_eq!(err.code(), "READ_ONLY");
        let err =
            wait(|d| pool.query(lane, "BEGIN".into(), Params::None, Fetch::All, Form::Objects, d)).expect_err("begin");
        assert_eq!(err.code(), "READ_ONLY");
    }
    let err = write(&pool, "COMMIT", Params::None).expect_err("tx control");
    assert_eq!(err.code(), "INVALID_ARGUMENT");
    let err = write(&pool, "SELECT 1; SELECT 2", Params::None).expect_err("two statements");
    assert_eq!(err.code(), "INVALID_ARGUMENT");
    assert_eq!(count(&pool)?, 0);
    close(&pool);
    Ok(())
}

#[test]
fn vacuum_runs_alone_between_batches() -> Result<()> {
    let pool = open("vacuum", small_config())?;
    write(&pool, "INSERT INTO t(v) VALUES ('a')", Params::None)?;
    write(&pool, "VACUUM", Params::None)?;
    assert_eq!(count(&pool)?, 1);
    close(&pool);
    Ok(())
}

#[test]
fn a_job_waiting_past_acquire_timeout_times_out() -> Result<()> {
    let config = PoolConfig {
        max_readers: 1,
        acquire_timeout: Duration::from_millis(50),
        ..small_config()
    };
    let pool = open("acquire", config)?;
    let (tx, rx) = unbounded();
    let blocker = tx.clone();
    pool.read_with(
        Lane::Read,
        Box::new(|_| {
            std::thread::sleep(Duration::from_millis(200));
            Ok(Output::Done)
        }),
        Box::new(move |r| blocker.send(r).expect("send")),
    );
    pool.query(
        Lane::Read,
        "SELECT 1".into(),
        Params::None,
        Fetch::All,
        Form::Objects,
        Box::new(move |r| tx.send(r).expect("send")),
    );
    let first = rx.recv().expect("first");
    assert!(first.is_ok());
    let second = rx.recv().expect("second").expect_err("timed out");
    assert_eq!(second.code(), "POOL_TIMEOUT");
    close(&pool);
    Ok(())
}

#[test]
fn a_full_queue_refuses_more() -> Result<()> {
    let config = PoolConfig {
        max_readers: 1,
        max_queue: 2,
        ..small_config()
    };
    let pool = open("full", config)?;
    let (tx, rx) = unbounded();
    let mut codes = Vec::new();
    for _ in 0..10 {
        let tx = tx.clone();
        pool.read_with(
            Lane::Read,
            Box::new(|_| {
                std::thread::sleep(Duration::from_millis(20));
                Ok(Output::Done)
            }),
            Box::new(move |r| tx.send(r.map(|_| ()).map_err(|e| e.code())).expect("send")),
        );
    }
    for _ in 0..10 {
        codes.push(rx.recv().expect("result"));
    }
    assert!(codes.contains(&Err("POOL_QUEUE_FULL")));
    assert!(codes.contains(&Ok(())));
    close(&pool);
    Ok(())
}

#[test]
fn a_panicking_job_rejects_and_the_pool_keeps_working() -> Result<()> {
    let pool = open("panic", small_config())?;
    for lane in [Lane::Read, Lane::Write] {
        let work = Box::new(|_: &rusqlite::Connection| -> Result<Output> { panic!("injected") });
        let err = match lane {
            Lane::Write => wait(|d| pool.write_with(work, d)),
            _ => wait(|d| pool.read_with(lane, work, d)),
        }
        .expect_err("panic");
        assert_eq!(err.code(), "INTERNAL_ERROR");
        assert!(err.to_string().contains("injected"));
    }
    write(&pool, "INSERT INTO t(v) VALUES ('after')", Params::None)?;
    assert_eq!(count(&pool)?, 1);
    assert_eq!(pool.stats().failed_connections.load(Relaxed), 2);
    close(&pool);
    Ok(())
}

#[test]
fn a_runaway_query_is_interrupted_and_the_worker_recovers() -> Result<()> {
    let config = PoolConfig {
        query_timeout: Duration::from_millis(100),
        ..small_config()
    };
    let pool = open("runaway", config)?;
    let forever = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c";
    let err = wait(|d| pool.query(Lane::Worker, forever.into(), Params::None, Fetch::All, Form::Objects, d))
        .expect_err("timeout");
    assert_eq!(err.code(), "QUERY_TIMEOUT");
    let ok = wait(|d| {
        pool.query(
            Lane::Worker,
            "SELECT 42".into(),
            Params::None,
            Fetch::First,
            Form::Objects,
            d,
        )
    })?;
    assert!(matches!(ok, Output::Row(Some(ref r)) if r.values == vec![Value::Integer(42)]));
    close(&pool);
    Ok(())
}

#[test]
fn close_drains_then_refuses() -> Result<()> {
    let pool = open("close", small_config())?;
    let (tx, rx) = unbounded();
    for i in 0..1_000 {
        let tx = tx.clone();
        pool.execute(
            "INSERT INTO t(v) VALUES (?)".into(),
            Params::Positional(vec![Value::Integer(i)]),
            Form::Objects,
            Box::new(move |r: Result<Output>| tx.send(r.is_ok()).expect("send")),
        );
    }
    close(&pool);
    assert_eq!(rx.try_iter().filter(|ok| *ok).count(), 1_000);
    let err = write(&pool, "INSERT INTO t(v) VALUES ('late')", Params::None).expect_err("closed");
    assert_eq!(err, Error::PoolClosed);
    let reopened = Pool::open(pool.path().to_str().expect("utf-8"), small_config())?;
    assert_eq!(count(&reopened)?, 1_000);
    close(&reopened);
    Ok(())
}

#[test]
fn memory_databases_are_shared_with_readers_and_removed() -> Result<()> {
    let pool = Pool::open(":memory:", small_config())?;
    write(&pool, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)", Params::None)?;
    write(&pool, "INSERT INTO t(v) VALUES ('m')", Params::None)?;
    assert_eq!(count(&pool)?, 1);
    let path = pool.path().to_path_buf();
    close(&pool);
    assert!(!path.exists());
    Ok(())
}

#[test]
fn health_checks_every_thread() -> Result<()> {
    let config = PoolConfig {
        health_check_interval: Duration::from_millis(50),
        ..small_config()
    };
    let pool = open("health", config)?;
    let before = pool.health().checks.load(Relaxed);
    std::thread::sleep(Duration::from_millis(300));
    assert!(pool.health().checks.load(Relaxed) > before);
    assert!(pool.is_healthy());
    // A worker stuck for longer than two intervals makes the pool unhealthy, then healthy again.
    let (tx, rx) = unbounded();
    pool.read_with(
        Lane::Worker,
        Box::new(|_| {
            std::thread::sleep(Duration::from_millis(400));
            Ok(Output::Done)
        }),
        Box::new(move |r| tx.send(r.is_ok()).expect("send")),
    );
    std::thread::sleep(Duration::from_millis(250));
    assert!(!pool.is_healthy());
    assert!(rx.recv().expect("done"));
    std::thread::sleep(Duration::from_millis(300));
    assert!(pool.is_healthy());
    close(&pool);
    assert!(!pool.is_healthy());
    Ok(())
}

#[test]
fn a_job_rolling_back_its_whole_group_fails_alone() -> Result<()> {
    let pool = open("replay", small_config())?;
    write(&pool, "INSERT INTO t(v) VALUES ('taken')", Params::None)?;
    // Hold the writer so the next jobs queue up and run as one group.
    let (release, held) = crossbeam_channel::bounded::<()>(0);
    pool.write_with(
        Box::new(move |_| {
            let _ = held.recv();
            Ok(Output::Done)
        }),
        Box::new(|_| {}),
    );
    let (tx, rx) = unbounded();
    for i in 0..20 {
        let sql = if i == 10 {
            "INSERT OR ROLLBACK INTO t(v) VALUES ('taken')".to_string()
        } else {
            format!("INSERT INTO t(v) VALUES ('v{i}')")
        };
        let tx = tx.clone();
        pool.execute(
            sql,
            Params::None,
            Form::Objects,
            Box::new(move |r| tx.send((i, r)).expect("send")),
        );
    }
    drop(release);
    let mut failed: Vec<(i32, &'static str)> = (0..20)
        .filter_map(|_| match rx.recv().expect("settles") {
            (i, Err(e)) => Some((i, e.code())),
            _ => None,
        })
        .collect();
    failed.sort();
    assert_eq!(failed, vec![(10, "SQLITE_CONSTRAINT_UNIQUE")]);
    assert_eq!(count(&pool)?, 20, "the 19 innocent writes and the first row");
    assert!(pool.stats().replayed.load(Relaxed) > 0);
    close(&pool);
    Ok(())
}

#[test]
fn the_wal_is_reset_while_readers_never_pause() -> Result<()> {
    let limit = 64 * 1024;
    let config = PoolConfig {
        max_readers: 2,
        max_workers: 1,
        wal_limit: limit,
        ..PoolConfig::default()
    };
    let pool = open("wal-reset", config)?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (pool, stop) = (Arc::clone(&pool), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Relaxed) {
                    let _ = count(&pool);
                }
            })
        })
        .collect();
    let mut peak = 0;
    for i in 0..3000 {
        write(
            &pool,
            "INSERT INTO t(v) VALUES (?)",
            Params::Positional(vec![Value::Text(format!("{i:0>500}"))]),
        )?;
        peak = peak.max(crate::pool::wal::wal_size(pool.path()));
    }
    stop.store(true, Relaxed);
    for r in readers {
        let _ = r.join();
    }
    assert!(peak <= 3 * limit, "the WAL peaked at {peak} bytes");
    assert!(pool.stats().truncate_checkpoints.load(Relaxed) > 0);
    assert_eq!(count(&pool)?, 3000);
    close(&pool);
    Ok(())
}

#[test]
fn returning_rows_reach_each_job_and_a_failing_one_fails_alone() -> Result<()> {
    let pool = open("returning", small_config())?;
    write(&pool, "INSERT INTO t(v) VALUES ('taken')", Params::None)?;
    let (tx, rx) = unbounded();
    let sqls = [
        "INSERT INTO t(v) VALUES ('a') RETURNING v",
        "INSERT INTO t(v) VALUES ('x'), ('taken') RETURNING v",
        "INSERT INTO t(v) VALUES ('b') RETURNING id, v",
    ];
    for (i, sql) in sqls.iter().enumerate() {
        let tx = tx.clone();
        let form = if i == 2 { Form::Raw } else { Form::Objects };
        pool.execute(
            (*sql).into(),
            Params::None,
            form,
            Box::new(move |r| tx.send((i, r)).expect("send")),
        );
    }
    let mut results: Vec<_> = (0..3).map(|_| rx.recv().expect("settles")).collect();
    results.sort_by_key(|(i, _)| *i);
    let rows = |r: &Result<Output>| match r {
        Ok(Output::Write(w)) => w.rows.clone().expect("rows"),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(rows(&results[0].1).values, [Value::Text("a".into())]);
    assert!(matches!(&results[1].1, Err(e) if e.code() == "SQLITE_CONSTRAINT_UNIQUE"));
    let raw = rows(&results[2].1);
    assert_eq!(raw.values[1], Value::Text("b".into()));
    assert_eq!(raw.described.map(|d| d.len()), Some(2));
    assert_eq!(count(&pool)?, 3);
    let batch = wait(|done| {
        pool.transaction(
            vec![Statement {
                sql: "UPDATE t SET v = v || '!' WHERE v = 'a' RETURNING v".into(),
                params: Params::None,
            }],
            Form::Objects,
            done,
        )
    })?;
    match batch {
        Output::Writes(w) => assert_eq!(
            w[0].rows.as_ref().map(|r| r.values.clone()),
            Some(vec![Value::Text("a!".into())])
        ),
        other => panic!("unexpected {other:?}"),
    }
    close(&pool);
    Ok(())
}
