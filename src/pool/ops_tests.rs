//! Operations, end to end: health repair, latency histograms, backups, metrics.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::backup::{backup_name, rotate};
use super::job::Output;
use super::lanes::Lane;
use super::repair::{Connector, SqliteConnector};
use super::sql::wait;
use super::tests::{close, count, open, small_config, temp_path, write};
use super::Pool;
use crate::config::PoolConfig;
use crate::error::{Error, Result};
use crate::sqlite::guard::Role;
use crate::sqlite::open::DbPath;
use crate::sqlite::{Params, Value};

/// Polls `cond` every 10 ms until it holds or `limit` passes.
fn eventually(limit: Duration, cond: impl Fn() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

fn integrity(path: &Path) -> Result<String> {
    let conn = Connection::open(path)?;
    Ok(conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
}

fn rows_up_to(path: &Path, id: i64) -> Result<i64> {
    let conn = Connection::open(path)?;
    Ok(conn.query_row("SELECT count(*) FROM t WHERE id <= ?", [id], |r| r.get(0))?)
}

fn insert(i: i64) -> Params {
    Params::Positional(vec![Value::Integer(i), Value::Text(format!("v{i}"))])
}

#[test]
fn a_broken_reader_is_unhealthy_until_replaced_then_reads_work() -> Result<()> {
    let config = PoolConfig {
        max_readers: 1,
        health_check_interval: Duration::from_millis(50),
        ..small_config()
    };
    let pool = open("broken-reader", config)?;
    write(&pool, "INSERT INTO t(id, v) VALUES (?, ?)", insert(1))?;
    let path = pool.path().to_path_buf();
    let hidden = path.with_extension("hidden");
    // With the file out of the way a replacement connection cannot open.
    std::fs::rename(&path, &hidden).expect("rename");
    // A job that panics marks the only reader's connection broken; it cannot be replaced yet.
    let err = wait(|d| pool.read_with(Lane::Read, Box::new(|_| panic!("test hook")), d)).expect_err("panic");
    assert_eq!(err.code(), "INTERNAL_ERROR");
    assert!(
        eventually(Duration::from_secs(5), || !pool.is_healthy()
            && pool.health().readers_answering.load(Relaxed) == 0),
        "never unhealthy"
    );
    assert!(pool.stats().failed_connections.load(Relaxed) >= 1);
    std::fs::rename(&hidden, &path).expect("rename back");
    assert!(
        eventually(Duration::from_secs(5), || pool.is_healthy()),
        "never healthy again"
    );
    assert_eq!(count(&pool)?, 1);
    close(&pool);
    Ok(())
}

#[test]
fn p99_of_injected_delays_lands_in_their_bucket() -> Result<()> {
    let pool = open("histogram", small_config())?;
    for i in 0..100 {
        let delay = if i % 40 == 39 { 30 } else { 0 };
        wait(|d| {
            pool.read_with(
                Lane::Worker,
                Box::new(move |_| {
                    std::thread::sleep(Duration::from_millis(delay));
                    Ok(Output::Done)
                }),
                d,
            )
        })?;
    }
    let exec = pool.stats().worker.exec.snapshot();
    assert_eq!(exec.count, 100);
    // Two of 100 jobs slept 30 ms, so the 99th percentile is at least that. (Upper bounds depend
    // on the machine's load; the bucket arithmetic is unit-tested in stats.rs.)
    let p99 = exec.quantile_ms(0.99);
    assert!(p99 >= 30.0, "p99 {p99}");
    assert!(exec.quantile_ms(0.50) <= p99);
    close(&pool);
    Ok(())
}

#[test]
fn a_backup_during_writes_holds_every_acknowledged_row() -> Result<()> {
    let pool = open("backup-live", small_config())?;
    for i in 1..=500 {
        write(&pool, "INSERT INTO t(id, v) VALUES (?, ?)", insert(i))?;
    }
    let acked = Arc::new(AtomicI64::new(500));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (pool, acked, stop) = (Arc::clone(&pool), Arc::clone(&acked), Arc::clone(&stop));
        std::thread::spawn(move || -> Result<()> {
            let mut i = 501;
            while !stop.load(Relaxed) {
                write(&pool, "INSERT INTO t(id, v) VALUES (?, ?)", insert(i))?;
                acked.store(i, Relaxed);
                i += 1;
            }
            Ok(())
        })
    };
    let dest = PathBuf::from(temp_path("backup-live-copy"));
    let mut copies = Vec::new();
    for n in 0..3 {
        let before = acked.load(Relaxed);
        let dest = dest.with_extension(format!("{n}.db"));
        let out = wait(|d| pool.backup(dest.clone(), d))?;
        assert!(matches!(out, Output::Backup(ref info) if info.path == dest && info.pages > 0));
        copies.push((dest, before));
    }
    stop.store(true, Relaxed);
    writer.join().expect("writer thread")?;
    for (path, before) in &copies {
        assert_eq!(integrity(path)?, "ok");
        assert_eq!(rows_up_to(path, *before)?, *before, "{}", path.display());
    }
    assert_eq!(pool.backups().completed.load(Relaxed), 3);
    assert!(crate::payloads::get_stats(&pool.snapshot(false))["backups"]["last"]["path"].is_string());
    close(&pool);
    Ok(())
}

#[test]
fn a_backup_claims_its_destination_when_asked_not_when_a_worker_starts_it() -> Result<()> {
    let pool = open("backup-claim", small_config())?;
    write(&pool, "INSERT INTO t(id, v) VALUES (?, ?)", insert(1))?;
    // The only worker is busy, so the backup waits in the queue.
    let (busy_done, busy) = crossbeam_channel::bounded(1);
    let slow =
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT count(*) AS n FROM c";
    pool.query(
        Lane::Worker,
        slow.into(),
        Params::None,
        super::sql::Fetch::All,
        crate::sqlite::Form::Objects,
        Box::new(move |r| {
            let _ = busy_done.send(r);
        }),
    );
    let dest = PathBuf::from(temp_path("backup-claim-copy"));
    let (copied_done, copied) = crossbeam_channel::bounded(1);
    pool.backup(
        dest.clone(),
        Box::new(move |r| {
            let _ = copied_done.send(r);
        }),
    );
    let err = Pool::open(&dest.display().to_string(), small_config())
        .err()
        .expect("refused while queued");
    assert_eq!(err.code(), "SQLITE_CANTOPEN");
    busy.recv().expect("the slow query answers")?;
    let out = copied.recv().expect("the backup answers")?;
    assert!(matches!(out, Output::Backup(ref info) if info.path == dest));
    assert_eq!(rows_up_to(&dest, 1)?, 1);
    // Once it is done, the copy opens like any database.
    let copy = Pool::open(&dest.display().to_string(), small_config())?;
    assert_eq!(count(&copy)?, 1);
    close(&copy);
    close(&pool);
    Ok(())
}

#[test]
fn a_backup_to_an_unwritable_place_fails_cleanly() -> Result<()> {
    let pool = open("backup-bad", small_config())?;
    let dir = PathBuf::from(temp_path("backup-bad-dir"));
    std::fs::write(&dir, b"a file, not a directory").expect("file");
    let err = wait(|d| pool.backup(dir.join("copy.db"), d)).expect_err("not a directory");
    assert_eq!(err.code(), "INVALID_ARGUMENT");
    assert_eq!(pool.backups().failed.load(Relaxed), 1);
    // The pool is unaffected.
    write(&pool, "INSERT INTO t(id, v) VALUES (?, ?)", insert(1))?;
    assert_eq!(count(&pool)?, 1);
    close(&pool);
    Ok(())
}

#[test]
fn scheduled_backups_rotate_and_pass_integrity_check() -> Result<()> {
    let dir = PathBuf::from(temp_path("scheduled")).with_extension("d");
    let _ = std::fs::remove_dir_all(&dir);
    let config = PoolConfig {
        enable_backup: true,
        backup_interval: Duration::from_millis(100),
        backup_dir: dir.clone(),
        backup_keep: 2,
        ..small_config()
    };
    let pool = open("scheduled", config)?;
    write(&pool, "INSERT INTO t(id, v) VALUES (?, ?)", insert(1))?;
    assert!(eventually(Duration::from_secs(10), || pool
        .backups()
        .completed
        .load(Relaxed)
        >= 4));
    close(&pool);
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("backup dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    for path in &names {
        assert_eq!(integrity(path)?, "ok");
        assert_eq!(rows_up_to(path, 1)?, 1);
    }
    Ok(())
}

#[test]
fn rotation_keeps_the_newest_of_its_own_files() -> Result<()> {
    let dir = PathBuf::from(temp_path("rotate")).with_extension("d");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let db = Path::new("/x/swarm.db");
    for ms in [1_000, 3_000, 2_000, 4_000] {
        std::fs::write(dir.join(backup_name(db, ms)), b"").expect("file");
    }
    std::fs::write(dir.join("other-19700101T000001000Z.db"), b"").expect("file");
    assert_eq!(backup_name(db, 1_000), "swarm-19700101T000001000Z.db");
    assert_eq!(rotate(&dir, "swarm", 2).expect("rotate"), 2);
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "other-19700101T000001000Z.db",
            "swarm-19700101T000003000Z.db",
            "swarm-19700101T000004000Z.db"
        ]
    );
    Ok(())
}

/// Connections as usual, with faults switched on by the test: opens refused (a broken connection
/// cannot be replaced), probes failing (a connection found broken), probes hanging (a stuck
/// thread), and a page quota on the writer (a full disk).
#[derive(Default)]
struct Faulty {
    refuse_opens: AtomicBool,
    fail_probes: AtomicBool,
    hang_probes: AtomicBool,
    writer_pages: AtomicI64,
}

impl Connector for Faulty {
    fn open(&self, role: Role, db: &DbPath, config: &PoolConfig) -> Result<Connection> {
        if self.refuse_opens.load(Relaxed) {
            return Err(Error::Sqlite {
                code: "SQLITE_CANTOPEN",
                message: "injected: cannot open".into(),
            });
        }
        let conn = SqliteConnector.open(role, db, config)?;
        let pages = self.writer_pages.load(Relaxed);
        if role == Role::Writer && pages > 0 {
            crate::sqlite::guard::internal(|| conn.execute_batch(&format!("PRAGMA max_page_count = {pages}")))?;
        }
        Ok(conn)
    }

    fn probe(&self, conn: &Connection) -> bool {
        while self.hang_probes.load(Relaxed) {
            std::thread::sleep(Duration::from_millis(5));
        }
        !self.fail_probes.load(Relaxed) && SqliteConnector.probe(conn)
    }
}

fn faulty_pool(name: &str, faults: &Arc<Faulty>) -> Result<Arc<Pool>> {
    let config = PoolConfig {
        health_check_interval: Duration::from_millis(30),
        ..small_config()
    };
    let connector: Arc<dyn Connector> = Arc::clone(faults) as Arc<dyn Connector>;
    let pool = Pool::open_with(&temp_path(name), config, connector)?;
    write(&pool, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)", Params::None)?;
    Ok(pool)
}

#[test]
fn an_injected_broken_connection_is_replaced_or_reported() -> Result<()> {
    let faults = Arc::new(Faulty::default());
    let pool = faulty_pool("inject-broken", &faults)?;
    // Found broken and replaced at once: healthy, with the replacement counted.
    faults.fail_probes.store(true, Relaxed);
    assert!(eventually(Duration::from_secs(5), || pool
        .stats()
        .failed_connections
        .load(Relaxed)
        >= 1));
    // Found broken and not replaceable: unhealthy until opening works again.
    faults.refuse_opens.store(true, Relaxed);
    assert!(
        eventually(Duration::from_secs(5), || !pool.is_healthy()),
        "never unhealthy"
    );
    faults.refuse_opens.store(false, Relaxed);
    faults.fail_probes.store(false, Relaxed);
    assert!(
        eventually(Duration::from_secs(5), || pool.is_healthy()),
        "never healthy again"
    );
    write(&pool, "INSERT INTO t(v) VALUES ('after')", Params::None)?;
    assert_eq!(count(&pool)?, 1);
    close(&pool);
    Ok(())
}

#[test]
fn an_injected_full_disk_fails_writes_then_health() -> Result<()> {
    let faults = Arc::new(Faulty::default());
    faults.writer_pages.store(8, Relaxed);
    let pool = faulty_pool("inject-full", &faults)?;
    let mut full = 0;
    for i in 0..50 {
        let blob = Params::Positional(vec![Value::Text("x".repeat(3000 + i))]);
        if let Err(e) = write(&pool, "INSERT INTO t(v) VALUES (?)", blob) {
            assert_eq!(e.code(), "SQLITE_FULL");
            full += 1;
        }
    }
    assert!(full >= 2, "{full} writes failed");
    assert!(
        !pool.is_healthy(),
        "consecutive full-disk failures make the pool unhealthy"
    );
    assert!(pool.snapshot(false).writes.failing);
    close(&pool);
    Ok(())
}

#[test]
fn an_injected_stuck_thread_makes_the_pool_unhealthy_until_it_answers() -> Result<()> {
    let faults = Arc::new(Faulty::default());
    let pool = faulty_pool("inject-stuck", &faults)?;
    assert!(eventually(Duration::from_secs(5), || pool.is_healthy()));
    faults.hang_probes.store(true, Relaxed);
    assert!(
        eventually(Duration::from_secs(5), || !pool.is_healthy()),
        "a hanging probe never counted"
    );
    faults.hang_probes.store(false, Relaxed);
    assert!(
        eventually(Duration::from_secs(5), || pool.is_healthy()),
        "never healthy again"
    );
    close(&pool);
    Ok(())
}
