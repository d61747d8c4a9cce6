//! One plain picture of a pool at a moment: every counter, gauge and histogram the payloads
//! (getStats, pool_health, pool_stats, Prometheus, events) are made from. The engine renders no
//! JSON; `crate::payloads` does, from this.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;

use crate::pool::backup::BackupInfo;
use crate::pool::lanes::Lane;
use crate::pool::stats::{HistogramSnapshot, LaneStats};
use crate::pool::Pool;

#[derive(Debug, Clone, PartialEq)]
pub struct LaneSnapshot {
    pub completed: u64,
    pub failed: u64,
    /// Jobs running now.
    pub busy: usize,
    /// Jobs waiting in the queue now.
    pub queued: usize,
    pub wait: HistogramSnapshot,
    pub exec: HistogramSnapshot,
    pub total: HistogramSnapshot,
}

impl LaneSnapshot {
    pub(crate) fn of(stats: &LaneStats, queued: usize) -> LaneSnapshot {
        LaneSnapshot {
            completed: stats.completed.load(Relaxed),
            failed: stats.failed.load(Relaxed),
            busy: stats.busy.load(Relaxed),
            queued,
            wait: stats.wait.snapshot(),
            exec: stats.exec.snapshot(),
            total: stats.total.snapshot(),
        }
    }

    /// Every job of this kind, finished either way.
    pub fn operations(&self) -> u64 {
        self.completed + self.failed
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct WalSnapshot {
    /// The WAL file's size as it is now.
    pub bytes: u64,
    /// Pages in the WAL after the last commit.
    pub pages: u64,
    pub limit: u64,
    pub checkpoints: u64,
    pub truncate_checkpoints: u64,
    pub resets_deferred: u64,
    pub throttled: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatementCache {
    pub hits: u64,
    pub misses: u64,
}

impl StatementCache {
    /// The share of statements found prepared, from 0 to 1; None before any statement ran.
    pub fn hit_rate(&self) -> Option<f64> {
        let all = self.hits + self.misses;
        (all > 0).then(|| self.hits as f64 / all as f64)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct WriteHealth {
    pub failing: bool,
    pub consecutive_failures: u64,
    pub last_failure: Option<String>,
    pub replayed: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BackupSnapshot {
    pub scheduled: bool,
    pub completed: u64,
    pub failed: u64,
    pub last: Option<BackupInfo>,
    pub last_error: Option<String>,
}

/// A database server's side of the picture (PostgreSQL): where it is and how the links to it are.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerState {
    /// The URL without its password.
    pub server: String,
    /// Connections open now (writer and readers).
    pub connections_open: usize,
    /// Whether the writer's last attempt to connect succeeded.
    pub writer_connected: bool,
    /// The last connection failure, while it lasts.
    pub outage: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PoolSnapshot {
    /// Seen by a user whose lease was released, or after the pool closed: connections and
    /// health read as zero and false.
    pub closed: bool,
    pub healthy: bool,
    pub max_readers: usize,
    pub max_workers: usize,
    pub writer_answering: bool,
    pub readers_answering: usize,
    pub workers_answering: usize,
    /// Unix milliseconds of the last completed health check.
    pub last_health_check_ms: u64,
    pub read: LaneSnapshot,
    pub write: LaneSnapshot,
    pub worker: LaneSnapshot,
    pub commits: u64,
    pub batch_sizes: HistogramSnapshot,
    pub largest_batch: u64,
    pub failed_connections: u64,
    pub timeouts: u64,
    pub errors: BTreeMap<&'static str, u64>,
    pub wal: WalSnapshot,
    pub writes: WriteHealth,
    pub backups: BackupSnapshot,
    /// Statements found in the connections' statement caches and those compiled (SQLite only).
    pub statements: Option<StatementCache>,
    /// Present for a server backend.
    pub server: Option<ServerState>,
}

impl PoolSnapshot {
    pub fn lanes(&self) -> [(Lane, &LaneSnapshot); 3] {
        [
            (Lane::Read, &self.read),
            (Lane::Write, &self.write),
            (Lane::Worker, &self.worker),
        ]
    }

    /// Writer, readers and workers; none once closed.
    pub fn total_connections(&self) -> usize {
        if self.closed {
            0
        } else {
            1 + self.max_readers + self.max_workers
        }
    }

    /// Connections running a job now (the writer counted once however many jobs it commits).
    pub fn active_connections(&self) -> usize {
        if self.closed {
            0
        } else {
            self.read.busy + self.worker.busy + usize::from(self.write.busy > 0)
        }
    }

    pub fn available_readers(&self) -> usize {
        if self.closed {
            0
        } else {
            self.readers_answering.saturating_sub(self.read.busy)
        }
    }

    pub fn available_workers(&self) -> usize {
        if self.closed {
            0
        } else {
            self.workers_answering.saturating_sub(self.worker.busy)
        }
    }

    /// The mean number of writes per group commit.
    pub fn average_batch_size(&self) -> f64 {
        self.batch_sizes.sum_us as f64 / self.commits.max(1) as f64
    }
}

/// Consecutive commits failing for environment reasons before the pool reports itself unhealthy.
pub(crate) const WRITE_FAILURES_UNHEALTHY: u64 = 2;

impl Pool {
    /// Writes failed for reasons of the environment on consecutive commits (disk full, read-only
    /// or locked file, I/O errors): degraded until a write commits again.
    pub fn writes_failing(&self) -> bool {
        self.stats().write_failure_streak.load(Relaxed) >= WRITE_FAILURES_UNHEALTHY
    }

    /// True while every thread answered the last health check, writes commit, and the file is
    /// the one the pool opened.
    pub fn is_healthy(&self) -> bool {
        !self.is_closed() && self.health().healthy.load(Relaxed) && !self.writes_failing() && !self.file_moved()
    }

    /// The pool now, as a user sees it: `closed` when that user's lease was released.
    pub fn snapshot(&self, closed: bool) -> PoolSnapshot {
        let closed = closed || self.is_closed();
        let s = self.stats();
        let h = self.health();
        let config = self.config();
        let backups = self.backups();
        PoolSnapshot {
            closed,
            healthy: !closed && self.is_healthy(),
            max_readers: config.max_readers,
            max_workers: config.max_workers,
            writer_answering: h.writer_answering.load(Relaxed),
            readers_answering: h.readers_answering.load(Relaxed),
            workers_answering: h.workers_answering.load(Relaxed),
            last_health_check_ms: h.last_check_ms.load(Relaxed),
            read: LaneSnapshot::of(&s.read, self.queue_len(Lane::Read)),
            write: LaneSnapshot::of(&s.write, self.queue_len(Lane::Write)),
            worker: LaneSnapshot::of(&s.worker, self.queue_len(Lane::Worker)),
            commits: s.commits.load(Relaxed),
            batch_sizes: s.batch_sizes.snapshot(),
            largest_batch: s.largest_batch.load(Relaxed),
            failed_connections: s.failed_connections.load(Relaxed),
            timeouts: s.timeouts.load(Relaxed),
            errors: s.errors_by_code(),
            wal: WalSnapshot {
                bytes: crate::pool::wal::wal_size(self.path()),
                pages: s.wal_pages.load(Relaxed),
                limit: config.wal_limit,
                checkpoints: s.checkpoints.load(Relaxed),
                truncate_checkpoints: s.truncate_checkpoints.load(Relaxed),
                resets_deferred: s.wal_resets_deferred.load(Relaxed),
                throttled: s.wal_throttled.load(Relaxed),
            },
            writes: WriteHealth {
                failing: self.writes_failing(),
                consecutive_failures: s.write_failure_streak.load(Relaxed),
                last_failure: s.last_write_failure(),
                replayed: s.replayed.load(Relaxed),
            },
            backups: backups.snapshot(config.enable_backup),
            statements: Some(StatementCache {
                hits: s.statement_hits.load(Relaxed),
                misses: s.statement_misses.load(Relaxed),
            }),
            server: None,
        }
    }
}
