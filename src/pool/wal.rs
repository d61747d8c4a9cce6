//! Keeping the WAL bounded under sustained load (sqlite.org/wal.html, "Avoiding Excessively
//! Large WAL Files"). A checkpoint may copy pages back only up to the oldest snapshot a reader
//! holds, and the WAL restarts from its beginning only when no reader uses it; with reads never
//! pausing, neither happens and the WAL grows without bound (checkpoint starvation). We own
//! every reader, so we coordinate:
//!
//! - PASSIVE checkpoints run from the writer's WAL hook every `passive_step` pages, under load
//!   as well as idle (this replaces SQLite's auto-checkpoint, so every checkpoint is counted);
//! - past half of `walLimit`, the writer closes the [`ReadGate`]: readers finish the batch they are in,
//!   queued reads wait, and once no reader holds a snapshot a TRUNCATE checkpoint resets the WAL;
//!   the gate then opens. The wait is bounded;
//! - a worker query pinning an old snapshot delays the reset (`pool_health.wal.over_limit` says
//!   so); meanwhile new worker queries wait at the gate (bounded), so the running ones drain, and
//!   the last to leave wakes the writer, which resets the WAL at once. Point reads never wait for
//!   a worker. Past twice the limit the writer also pauses (at most 100 ms between commits) for
//!   that end, so the WAL stays bounded while a worker query runs.
//! - an open iteration (`iterate()`, `pool/cursor.rs`) holds its snapshot for as long as its
//!   consumer pulls, on a reader: it enters as a worker query does ([`ReadGate::enter_long`]).
//!   Counted as a reader it would make every reset attempt wait the whole drain (250 ms, with
//!   point reads held at the gate and nothing committed) and fail; counted so, it costs point
//!   reads nothing, a new iteration waits at most a second while the WAL is owed a reset, and
//!   its end wakes the writer. It is not bounded in time (the consumer may pull for as long as it
//!   likes), so past twice the limit the writer paces its commits until it ends.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use rusqlite::Connection;

use crate::error::Result;
use crate::pool::lanes::Lane;
use crate::pool::stats::Stats;
use crate::sqlite::guard;

/// Longest the writer waits for readers to leave their read transactions. Readers finish a batch
/// of point reads in about a millisecond, but on a starved CPU much later; while the writer waits
/// nothing is committed, so the WAL does not grow meanwhile.
const DRAIN_WAIT: Duration = Duration::from_millis(250);
/// Longest a reader waits at a closed gate; the writer opens it well before, this is a backstop.
const HOLD_LIMIT: Duration = Duration::from_millis(500);
/// Longest a new worker query waits while older ones keep the WAL from being reset.
const WORKER_HOLD_LIMIT: Duration = Duration::from_secs(1);
/// After a reset could not complete, the writer waits this long before closing the gate again
/// (unless the snapshot holder leaves first and wakes it).
const RETRY_AFTER: Duration = Duration::from_millis(50);
/// Longest the writer pauses between commits while a worker query holds a WAL past twice its limit.
const THROTTLE: Duration = Duration::from_millis(100);
/// SQLite's own auto-checkpoint interval, in pages; we checkpoint at least this often.
const AUTO_CHECKPOINT_PAGES: u64 = 1000;

/// The path of the WAL file of the database at `db`.
pub fn wal_path(db: &Path) -> PathBuf {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

/// The WAL file's size as it is now (0 when it does not exist).
pub fn wal_size(db: &Path) -> u64 {
    std::fs::metadata(wal_path(db)).map(|m| m.len()).unwrap_or(0)
}

#[derive(Debug, Default)]
struct Inside {
    closed: bool,
    /// New worker queries wait: running ones hold the WAL back.
    hold_workers: bool,
    readers: usize,
    workers: usize,
}

/// Admission of read transactions on readers and workers, which the writer can close for a
/// moment so a checkpoint can reset the WAL.
#[derive(Debug)]
pub struct ReadGate {
    inside: Mutex<Inside>,
    changed: Condvar,
    /// Set while a reset is owed: the last reader or worker to leave wakes the writer.
    owed: AtomicBool,
    wake: Sender<()>,
}

/// Held by a reader or worker while its read transaction is open.
pub struct Pass<'g> {
    gate: &'g ReadGate,
    lane: Lane,
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        let mut inside = self.gate.lock();
        match self.lane {
            Lane::Worker => inside.workers = inside.workers.saturating_sub(1),
            _ => inside.readers = inside.readers.saturating_sub(1),
        }
        let last_worker = self.lane == Lane::Worker && inside.workers == 0;
        if inside.closed {
            self.gate.changed.notify_all();
        }
        drop(inside);
        if last_worker && self.gate.owed.load(Ordering::Relaxed) {
            let _ = self.gate.wake.try_send(());
        }
    }
}

/// The gate closed with every reader out; it opens when this is dropped.
pub struct Closed<'g> {
    gate: &'g ReadGate,
}

impl Drop for Closed<'_> {
    fn drop(&mut self) {
        self.gate.lock().closed = false;
        self.gate.changed.notify_all();
    }
}

impl ReadGate {
    /// A gate and the channel on which the writer hears that an owed reset may now succeed.
    pub fn new() -> (Arc<ReadGate>, Receiver<()>) {
        let (wake, woken) = crossbeam_channel::bounded(1);
        let gate = ReadGate {
            inside: Mutex::new(Inside::default()),
            changed: Condvar::new(),
            owed: AtomicBool::new(false),
            wake,
        };
        (Arc::new(gate), woken)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inside> {
        self.inside.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits while the gate is closed (bounded), then counts the caller in.
    pub fn enter(&self, lane: Lane) -> Pass<'_> {
        let mut inside = self.lock();
        let worker = lane == Lane::Worker;
        let until = Instant::now() + if worker { WORKER_HOLD_LIMIT } else { HOLD_LIMIT };
        while inside.closed || (worker && inside.hold_workers) {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            inside = self
                .changed
                .wait_timeout(inside, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        match lane {
            Lane::Worker => inside.workers += 1,
            _ => inside.readers += 1,
        }
        Pass { gate: self, lane }
    }

    /// Counts the caller in as a long snapshot (a worker query, an open iteration): the writer
    /// does not wait for it to reset the WAL, but holds new ones back while it is owed a reset.
    pub fn enter_long(&self) -> Pass<'_> {
        self.enter(Lane::Worker)
    }

    /// Closes the gate and waits (at most `DRAIN_WAIT`) for every reader to leave. Workers are
    /// not waited for: their queries may run long, and they only matter if they started before
    /// the WAL was last fully copied back. None (and the gate open again) if readers stayed.
    pub fn close(&self) -> Option<Closed<'_>> {
        let mut inside = self.lock();
        inside.closed = true;
        let until = Instant::now() + DRAIN_WAIT;
        while inside.readers > 0 {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                inside.closed = false;
                drop(inside);
                self.changed.notify_all();
                return None;
            }
            inside = self
                .changed
                .wait_timeout(inside, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        Some(Closed { gate: self })
    }

    pub fn workers_inside(&self) -> usize {
        self.lock().workers
    }

    fn hold_workers(&self, hold: bool) {
        let mut inside = self.lock();
        if inside.hold_workers != hold {
            inside.hold_workers = hold;
            if !hold {
                self.changed.notify_all();
            }
        }
    }
}

/// The writer's side: when to checkpoint and how.
pub struct WalControl {
    pub gate: Arc<ReadGate>,
    retry_at: Option<Instant>,
    /// Hears that the worker queries holding the WAL back have ended.
    woken: Receiver<()>,
}

impl WalControl {
    pub fn new(gate: Arc<ReadGate>, woken: Receiver<()>) -> WalControl {
        WalControl {
            gate,
            retry_at: None,
            woken,
        }
    }

    /// After a commit (or when idle): resets the WAL once it passed half of `limit` (or, when
    /// `idle`, whenever it holds anything). Returns the WAL's size afterwards.
    pub fn maintain(&mut self, conn: &Connection, db: &Path, stats: &Stats, limit: u64, idle: bool) -> u64 {
        let size = wal_size(db);
        // From half the limit on, so that a reset that must wait for a worker query still
        // happens before the WAL is far past the limit.
        let wanted = size > limit / 2 || (idle && size > 0);
        if !wanted {
            self.settled();
            return size;
        }
        if size > 2 * limit && self.gate.owed.load(Ordering::Relaxed) && self.gate.workers_inside() > 0 {
            // Far past the limit and only the end of a worker query can shrink it: the writer
            // waits a little for that before committing more (a bounded pause; with group commit
            // the writes queued meanwhile commit together, writing each page once).
            stats.wal_throttled.fetch_add(1, Ordering::Relaxed);
            if self.woken.recv_timeout(THROTTLE).is_ok() {
                self.retry_at = None;
            }
        }
        if self.retry_at.is_some_and(|at| Instant::now() < at) {
            return size;
        }
        if self.gate.owed.load(Ordering::Relaxed) && self.gate.workers_inside() > 0 {
            // Still pinned by the same worker queries: their end wakes us.
            return size;
        }
        let reset = match self.gate.close() {
            Some(_closed) => truncate(conn, stats),
            None => false,
        };
        if reset {
            self.settled();
        } else {
            stats.wal_resets_deferred.fetch_add(1, Ordering::Relaxed);
            self.retry_at = Some(Instant::now() + RETRY_AFTER);
            self.gate.owed.store(true, Ordering::Relaxed);
            if self.gate.workers_inside() > 0 {
                self.gate.hold_workers(true);
            }
        }
        if reset {
            0
        } else {
            wal_size(db)
        }
    }

    fn settled(&mut self) {
        self.retry_at = None;
        self.gate.owed.store(false, Ordering::Relaxed);
        self.gate.hold_workers(false);
    }

    /// The snapshot holder left: the next `maintain` may try at once.
    pub fn woken(&mut self) {
        self.retry_at = None;
    }
}

/// `PRAGMA wal_checkpoint(TRUNCATE)` without waiting on anyone (the gate already emptied our
/// readers; a worker or another process still holding a snapshot makes it report busy).
fn truncate(conn: &Connection, stats: &Stats) -> bool {
    let run = || -> Result<bool> {
        conn.busy_timeout(Duration::ZERO)?;
        let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        Ok(busy == 0)
    };
    let done = guard::internal(run).unwrap_or(false);
    if done {
        stats.checkpoints.fetch_add(1, Ordering::Relaxed);
        stats.truncate_checkpoints.fetch_add(1, Ordering::Relaxed);
    }
    done
}

/// Replaces SQLite's auto-checkpoint with our own on `conn` (the writer's): a PASSIVE checkpoint
/// every `step` pages written to the WAL, counted in `stats`. SQLite calls the hook on the
/// writer's thread right after each commit.
pub fn install_hook(conn: &mut Connection, stats: Arc<Stats>, limit: u64) -> Result<()> {
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let step = (limit / 4 / page_size.max(512) as u64).clamp(16, AUTO_CHECKPOINT_PAGES);
    let mut next_at = step;
    let mut last = 0u64;
    conn.wal_hook(Some(
        move |wal: &mut rusqlite::hooks::Wal, pages: std::os::raw::c_int| {
            let pages = pages.max(0) as u64;
            if pages < last {
                // The WAL restarted from its beginning.
                next_at = step;
            }
            last = pages;
            stats.wal_pages.store(pages, Ordering::Relaxed);
            if pages >= next_at {
                next_at = pages + step;
                if wal.checkpoint_v2(rusqlite::wal::CheckpointMode::PASSIVE).is_ok() {
                    stats.checkpoints.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(())
        },
    ))?;
    Ok(())
}
