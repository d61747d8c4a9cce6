//! The pool's state as JSON payloads: `getStats()` (camelCase) and the `pool_health` /
//! `pool_stats` shapes the MCP tools serve (snake_case), built from one snapshot.

use std::sync::atomic::Ordering::Relaxed;

use serde_json::{json, Map, Value};

use crate::pool::health::unix_ms;
use crate::pool::stats::{HistogramSnapshot, LaneStats};
use crate::pool::thread::Lane;
use crate::pool::Pool;

/// Consecutive commits failing for environment reasons before the pool reports itself unhealthy.
const WRITE_FAILURES_UNHEALTHY: u64 = 2;

/// Connection counts as the payloads report them; all zero once the pool is closed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Occupancy {
    pub total_connections: usize,
    pub active_connections: usize,
    pub available_readers: usize,
    pub available_workers: usize,
    pub healthy: bool,
}

impl Pool {
    pub fn occupancy(&self) -> Occupancy {
        self.occupancy_as(self.is_closed())
    }

    /// Occupancy as a user sees it: all zero when `closed` (its lease released, or the pool
    /// closed).
    pub fn occupancy_as(&self, closed: bool) -> Occupancy {
        if closed {
            return Occupancy {
                total_connections: 0,
                active_connections: 0,
                available_readers: 0,
                available_workers: 0,
                healthy: false,
            };
        }
        let s = self.stats();
        let h = self.health();
        let busy_read = s.read.busy.load(Relaxed);
        let busy_worker = s.worker.busy.load(Relaxed);
        let writer_busy = usize::from(s.write.busy.load(Relaxed) > 0);
        Occupancy {
            total_connections: 1 + self.config().max_readers + self.config().max_workers,
            active_connections: busy_read + busy_worker + writer_busy,
            available_readers: h.readers_answering.load(Relaxed).saturating_sub(busy_read),
            available_workers: h.workers_answering.load(Relaxed).saturating_sub(busy_worker),
            healthy: h.healthy.load(Relaxed) && !self.writes_failing() && !self.file_moved(),
        }
    }

    /// Writes failed for reasons of the environment on consecutive commits (disk full, read-only
    /// or locked file, I/O errors): degraded until a write commits again.
    pub fn writes_failing(&self) -> bool {
        self.stats().write_failure_streak.load(Relaxed) >= WRITE_FAILURES_UNHEALTHY
    }

    /// The WAL file's size now (0 once the pool is closed and the file gone).
    pub fn wal_bytes(&self) -> u64 {
        crate::pool::wal::wal_size(self.path())
    }

    pub fn is_healthy(&self) -> bool {
        self.occupancy().healthy
    }

    fn queue_lengths(&self) -> (usize, usize, usize) {
        (
            self.queue_len(Lane::Read),
            self.queue_len(Lane::Write),
            self.queue_len(Lane::Worker),
        )
    }

    fn wal(&self) -> Value {
        let s = self.stats();
        let bytes = self.wal_bytes();
        json!({
            "wal_bytes": bytes,
            "wal_pages": s.wal_pages.load(Relaxed),
            "wal_limit": self.config().wal_limit,
            "over_limit": bytes > self.config().wal_limit,
            "checkpoints": s.checkpoints.load(Relaxed),
            "truncate_checkpoints": s.truncate_checkpoints.load(Relaxed),
            "resets_deferred": s.wal_resets_deferred.load(Relaxed),
        })
    }

    fn writes(&self) -> Value {
        let s = self.stats();
        json!({
            "failing": self.writes_failing(),
            "consecutive_failures": s.write_failure_streak.load(Relaxed),
            "last_failure": s.last_write_failure(),
            "replayed": s.replayed.load(Relaxed),
        })
    }

    /// The `pool_health` payload.
    pub fn health_payload(&self) -> Value {
        self.health_payload_as(self.is_closed())
    }

    pub fn health_payload_as(&self, closed: bool) -> Value {
        let o = self.occupancy_as(closed);
        let (r, w, k) = self.queue_lengths();
        json!({
            "healthy": o.healthy,
            "pool_status": {
                "total_connections": o.total_connections,
                "active_connections": o.active_connections,
                "available_readers": o.available_readers,
                "available_workers": o.available_workers,
                "queue_lengths": { "read_queue": r, "write_queue": w, "worker_queue": k },
            },
            "last_health_check": iso8601(self.health().last_check_ms.load(Relaxed)),
            "wal": self.wal(),
            "writes": self.writes(),
            "timestamp": iso8601(unix_ms()),
        })
    }

    /// The `pool_metrics` object of the `pool_stats` payload, with latency details added.
    pub fn pool_metrics(&self) -> Value {
        let o = self.occupancy();
        let s = self.stats();
        let (r, w, k) = self.queue_lengths();
        json!({
            "total_reads": ops(&s.read),
            "total_writes": ops(&s.write),
            "total_worker_tasks": ops(&s.worker),
            "failed_connections": s.failed_connections.load(Relaxed),
            "average_read_time": s.read.total.snapshot().mean_ms(),
            "average_write_time": s.write.total.snapshot().mean_ms(),
            "average_worker_time": s.worker.total.snapshot().mean_ms(),
            "active_connections": o.active_connections,
            "available_readers": o.available_readers,
            "available_workers": o.available_workers,
            "queue_lengths": { "read_queue": r, "write_queue": w, "worker_queue": k },
            "commits": s.commits.load(Relaxed),
            "average_batch_size": s.batch_sizes.snapshot().sum_us as f64 / (s.commits.load(Relaxed).max(1)) as f64,
            "timeouts": s.timeouts.load(Relaxed),
            "errors_by_code": errors(self),
            "latency_ms": {
                "read": latency(&s.read),
                "write": latency(&s.write),
                "worker": latency(&s.worker),
            },
            "wal": self.wal(),
            "backups": self.backups().to_json(self.config().enable_backup),
        })
    }

    /// `getStats()` of the generic pool, in camelCase.
    pub fn stats_payload(&self) -> Value {
        self.stats_payload_as(self.is_closed())
    }

    pub fn stats_payload_as(&self, closed: bool) -> Value {
        let o = self.occupancy_as(closed);
        let s = self.stats();
        let (r, w, k) = self.queue_lengths();
        let commits = s.commits.load(Relaxed);
        json!({
            "totalReads": ops(&s.read),
            "totalWrites": ops(&s.write),
            "totalWorkerTasks": ops(&s.worker),
            "failedReads": s.read.failed.load(Relaxed),
            "failedWrites": s.write.failed.load(Relaxed),
            "failedWorkerTasks": s.worker.failed.load(Relaxed),
            "failedConnections": s.failed_connections.load(Relaxed),
            "averageReadTime": s.read.total.snapshot().mean_ms(),
            "averageWriteTime": s.write.total.snapshot().mean_ms(),
            "averageWorkerTime": s.worker.total.snapshot().mean_ms(),
            // As ruv-swarm's pool counted it: the writer plus the readers busy now.
            "activeConnections": if closed { 0 } else { 1 + self.stats().read.busy.load(Relaxed) },
            "totalConnections": o.total_connections,
            "availableReaders": o.available_readers,
            "availableWorkers": o.available_workers,
            "readQueueLength": r,
            "writeQueueLength": w,
            "workerQueueLength": k,
            "queueLengths": { "read": r, "write": w, "worker": k },
            "commits": commits,
            "averageBatchSize": s.batch_sizes.snapshot().sum_us as f64 / commits.max(1) as f64,
            "largestBatch": s.largest_batch.load(Relaxed),
            "timeouts": s.timeouts.load(Relaxed),
            "errors": errors(self),
            "latencyMs": {
                "read": latency(&s.read),
                "write": latency(&s.write),
                "worker": latency(&s.worker),
            },
            "walBytes": self.wal_bytes(),
            "checkpoints": s.checkpoints.load(Relaxed),
            "backups": self.backups().to_json(self.config().enable_backup),
            "isHealthy": o.healthy,
            "lastHealthCheck": self.health().last_check_ms.load(Relaxed),
            "closed": closed,
        })
    }
}

fn ops(lane: &LaneStats) -> u64 {
    lane.completed.load(Relaxed) + lane.failed.load(Relaxed)
}

fn errors(pool: &Pool) -> Value {
    let map: Map<String, Value> = pool
        .stats()
        .errors_by_code()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into()))
        .collect();
    Value::Object(map)
}

fn quantiles(h: &HistogramSnapshot) -> Value {
    json!({
        "count": h.count,
        "mean": h.mean_ms(),
        "p50": h.quantile_ms(0.50),
        "p95": h.quantile_ms(0.95),
        "p99": h.quantile_ms(0.99),
        "max": h.max_us as f64 / 1000.0,
    })
}

fn latency(lane: &LaneStats) -> Value {
    json!({ "wait": quantiles(&lane.wait.snapshot()), "exec": quantiles(&lane.exec.snapshot()) })
}

/// `2026-11-24T01:02:03.456Z` for Unix milliseconds, in UTC.
pub fn iso8601(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian, 400-year eras).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        unix_ms % 1000
    )
}

#[cfg(test)]
mod test {
    use super::iso8601;

    #[test]
    fn formats_utc_timestamps() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(iso8601(1_795_827_723_456), "2026-11-28T01:02:03.456Z");
    }
}
