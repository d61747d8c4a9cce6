//! The reader lane on PostgreSQL: `POOL_PG_POOL_SIZE` threads, each owning one connection, taking
//! read jobs from one queue. A read that meets a lost connection runs again once on a new one
//! (reads change nothing); if none can be opened it rejects `CONNECTION_LOST`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use crossbeam_channel::Receiver;

use crate::error::{Error, Result};
use crate::pg::link::Link;
use crate::pg::{Kind, PgJob, Shared};
use crate::pool::job::Output;

pub fn run(shared: &Shared, queue: Receiver<PgJob>, index: usize) {
    let mut link: Option<Link> = None;
    // Whether this reader's last attempt to connect failed (counted in `readers_down`).
    let mut down = false;
    let role = format!("reader {index}");
    while let Ok(mut job) = queue.recv() {
        shared.dequeued_read(1);
        if let Some(late) = shared.too_late(&job) {
            shared.settle_read(job, Err(late), None);
            continue;
        }
        let started = Instant::now();
        shared.stats.read.busy.fetch_add(1, Relaxed);
        let mut result = read(shared, &mut link, &mut down, &role, &mut job);
        if matches!(result, Err(Error::ConnectionLost(_))) {
            result = read(shared, &mut link, &mut down, &role, &mut job);
        }
        shared.stats.read.busy.fetch_sub(1, Relaxed);
        shared.settle_read(job, result, Some(started));
    }
    if down {
        shared.readers_down.fetch_sub(1, Relaxed);
    }
}

fn read(shared: &Shared, link: &mut Option<Link>, down: &mut bool, role: &str, job: &mut PgJob) -> Result<Output> {
    if link.as_ref().is_some_and(|l| l.is_closed() || l.expired()) {
        *link = None;
    }
    if link.is_none() {
        match Link::open(&shared.settings, role) {
            Ok(l) => {
                *link = Some(l);
                if std::mem::replace(down, false) {
                    shared.readers_down.fetch_sub(1, Relaxed);
                }
                shared.recovered();
            }
            Err(e) => {
                if !std::mem::replace(down, true) {
                    shared.readers_down.fetch_add(1, Relaxed);
                }
                shared.stats.failed_connections.fetch_add(1, Relaxed);
                shared.note_outage(&e);
                return Err(e);
            }
        }
    }
    let Some(l) = link.as_ref() else {
        return Err(Error::Internal("no reader connection".into()));
    };
    let Kind::Batched(work) = &mut job.kind else {
        return Err(Error::Internal("only reads reach a reader".into()));
    };
    let result = catch_unwind(AssertUnwindSafe(|| work(l))).unwrap_or_else(|_| {
        Err(Error::Internal(
            "a read job panicked; its connection was replaced".into(),
        ))
    });
    if matches!(result, Err(Error::ConnectionLost(_) | Error::Internal(_))) {
        *link = None;
    }
    result
}
