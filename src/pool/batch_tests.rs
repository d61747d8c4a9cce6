//! Readers serve queued point reads in one read transaction; each job still settles on its own.

use std::sync::atomic::Ordering::Relaxed;

use crossbeam_channel::{bounded, unbounded, Receiver};
use rusqlite::Connection;

use super::job::{Completion, Output};
use super::lanes::Lane;
use super::sql::{wait, Fetch};
use super::tests::{close, count, one_reader, open, write};
use super::Pool;
use crate::error::{Error, Result};
use crate::sqlite::{Form, Params, Value};

/// Occupies the only reader until the returned sender is dropped or sent to.
fn block_reader(pool: &Pool) -> (crossbeam_channel::Sender<()>, Receiver<Result<Output>>) {
    let (release, wait_release) = bounded::<()>(0);
    let (started_tx, started) = bounded::<()>(1);
    let (done_tx, done) = unbounded();
    pool.read_with(
        Lane::Read,
        Box::new(move |_| {
            let _ = started_tx.send(());
            let _ = wait_release.recv();
            Ok(Output::Done)
        }),
        Box::new(move |r| {
            let _ = done_tx.send(r);
        }),
    );
    started.recv().expect("the reader took the blocking job");
    (release, done)
}

fn collect(into: &crossbeam_channel::Sender<(usize, Result<Output>)>, i: usize) -> Completion {
    let tx = into.clone();
    Box::new(move |r| {
        let _ = tx.send((i, r));
    })
}

#[test]
fn queued_reads_share_one_transaction_and_settle_alone() -> Result<()> {
    let pool = open("batch", one_reader())?;
    for i in 0..10 {
        write(
            &pool,
            "INSERT INTO t(v) VALUES (?)",
            Params::Positional(vec![Value::Integer(i)]),
        )?;
    }
    let (release, first) = block_reader(&pool);
    let (tx, rx) = unbounded();
    // 0: a plain read; 1: sees a transaction open (batched); 2: fails; 3: succeeds;
    // 4: a PRAGMA, which runs alone, outside any transaction; 5: a read after it, alone in its
    // batch, so outside any transaction only if the PRAGMA ended the batch.
    pool.query(
        Lane::Read,
        "SELECT count(*) FROM t".into(),
        Params::None,
        Fetch::First,
        Form::Objects,
        collect(&tx, 0),
    );
    pool.read_with(
        Lane::Read,
        Box::new(|c: &Connection| Ok(Output::Json((!c.is_autocommit()).into()))),
        collect(&tx, 1),
    );
    pool.query(
        Lane::Read,
        "SELECT * FROM missing_table".into(),
        Params::None,
        Fetch::All,
        Form::Objects,
        collect(&tx, 2),
    );
    pool.query(
        Lane::Read,
        "SELECT 1".into(),
        Params::None,
        Fetch::First,
        Form::Objects,
        collect(&tx, 3),
    );
    pool.query(
        Lane::Read,
        "PRAGMA user_version".into(),
        Params::None,
        Fetch::First,
        Form::Objects,
        collect(&tx, 4),
    );
    pool.read_with(
        Lane::Read,
        Box::new(|c: &Connection| Ok(Output::Json(c.is_autocommit().into()))),
        collect(&tx, 5),
    );
    drop(release);
    assert!(matches!(first.recv(), Ok(Ok(Output::Done))));
    let mut results: Vec<(usize, Result<Output>)> = (0..6).map(|_| rx.recv().expect("every job settles")).collect();
    results.sort_by_key(|(i, _)| *i);
    assert!(matches!(&results[0].1, Ok(Output::Row(Some(r))) if r.values == vec![Value::Integer(10)]));
    assert!(
        matches!(&results[1].1, Ok(Output::Json(v)) if v == true),
        "batched reads run in a transaction"
    );
    assert!(matches!(
        &results[2].1,
        Err(Error::Sqlite {
            code: "SQLITE_ERROR",
            ..
        })
    ));
    assert!(matches!(&results[3].1, Ok(Output::Row(Some(_)))));
    assert!(matches!(&results[4].1, Ok(Output::Row(Some(_)))));
    assert!(
        matches!(&results[5].1, Ok(Output::Json(v)) if v == true),
        "the batch ended before the PRAGMA"
    );
    assert!(rx.try_recv().is_err(), "each job settled exactly once");
    // The reader holds no snapshot once its queue is empty: a TRUNCATE checkpoint completes.
    write(&pool, "INSERT INTO t(v) VALUES ('after')", Params::None)?;
    assert_eq!(count(&pool)?, 11);
    let busy = wait(|d| {
        pool.write_alone(
            Box::new(|c: &Connection| {
                let busy: i64 = crate::sqlite::guard::internal(|| {
                    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
                })?;
                Ok(Output::Json(busy.into()))
            }),
            d,
        )
    })?;
    assert!(
        matches!(busy, Output::Json(ref v) if v == 0),
        "checkpoint blocked: {busy:?}"
    );
    assert_eq!(
        pool.stats().read.completed.load(Relaxed) + pool.stats().read.failed.load(Relaxed),
        8,
        "the blocking job, six batched jobs and one count"
    );
    // A job that panics inside a batch settles alone; the reads queued behind it still run.
    let (release, first) = block_reader(&pool);
    pool.read_with(
        Lane::Read,
        Box::new(|_: &Connection| -> Result<Output> { panic!("injected") }),
        collect(&tx, 6),
    );
    pool.query(
        Lane::Read,
        "SELECT count(*) FROM t".into(),
        Params::None,
        Fetch::First,
        Form::Objects,
        collect(&tx, 7),
    );
    drop(release);
    assert!(first.recv().is_ok());
    let mut results: Vec<(usize, Result<Output>)> = (0..2).map(|_| rx.recv().expect("settles")).collect();
    results.sort_by_key(|(i, _)| *i);
    assert!(matches!(&results[0].1, Err(e) if e.code() == "INTERNAL_ERROR"));
    assert!(matches!(&results[1].1, Ok(Output::Row(Some(r))) if r.values == vec![Value::Integer(11)]));
    close(&pool);
    Ok(())
}

#[test]
fn a_batch_sees_every_write_resolved_before_its_reads_were_queued() -> Result<()> {
    let pool = open("batch-ryw", one_reader())?;
    let (release, first) = block_reader(&pool);
    let (tx, rx) = unbounded();
    // The reader is busy, so all these reads queue up and run as one batch; each was submitted
    // after the write before it resolved, so each must count at least that many rows.
    for i in 0..50i64 {
        write(
            &pool,
            "INSERT INTO t(v) VALUES (?)",
            Params::Positional(vec![Value::Integer(i)]),
        )?;
        pool.query(
            Lane::Read,
            "SELECT count(*) FROM t".into(),
            Params::None,
            Fetch::First,
            Form::Objects,
            collect(&tx, i as usize),
        );
    }
    drop(release);
    assert!(first.recv().is_ok());
    for _ in 0..50 {
        let (i, r) = rx.recv().expect("settles");
        match r? {
            Output::Row(Some(rows)) => assert_eq!(rows.values[0], Value::Integer(50), "read {i}"),
            other => panic!("unexpected {other:?}"),
        }
    }
    close(&pool);
    Ok(())
}
