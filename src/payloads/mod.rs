//! Every payload JavaScript and MCP clients see, built in one place from a [`PoolSnapshot`]
//! (and the persistence layer's operation counts): `getStats()`, `pool_health`, `pool_stats`,
//! `persistence_stats`, the `health-check` event, a backup's result, and Prometheus text.

mod prometheus;

use serde_json::{json, Value as Json};

use crate::clock::{iso8601, unix_ms};
use crate::pool::backup::BackupInfo;
use crate::pool::snapshot::{BackupSnapshot, LaneSnapshot, PoolSnapshot};
use crate::pool::stats::HistogramSnapshot;
use crate::store::OpStats;

pub use prometheus::{prometheus, prometheus_without_pool};

/// `getStats()` of the generic pool: ruv-swarm's keys with their meaning (`activeConnections`
/// counts the writer, `lastHealthCheck` is epoch ms), then ours.
pub fn get_stats(s: &PoolSnapshot) -> Json {
    json!({
        "totalReads": s.read.operations(),
        "totalWrites": s.write.operations(),
        "totalWorkerTasks": s.worker.operations(),
        "failedReads": s.read.failed,
        "failedWrites": s.write.failed,
        "failedWorkerTasks": s.worker.failed,
        "failedConnections": s.failed_connections,
        "averageReadTime": s.read.total.mean_ms(),
        "averageWriteTime": s.write.total.mean_ms(),
        "averageWorkerTime": s.worker.total.mean_ms(),
        "activeConnections": if s.closed { 0 } else { 1 + s.read.busy },
        "totalConnections": s.total_connections(),
        "availableReaders": s.available_readers(),
        "availableWorkers": s.available_workers(),
        "readQueueLength": s.read.queued,
        "writeQueueLength": s.write.queued,
        "workerQueueLength": s.worker.queued,
        "queueLengths": { "read": s.read.queued, "write": s.write.queued, "worker": s.worker.queued },
        "commits": s.commits,
        "averageBatchSize": s.average_batch_size(),
        "largestBatch": s.largest_batch,
        "timeouts": s.timeouts,
        "errors": errors(s),
        "latencyMs": latencies(s),
        "walBytes": s.wal.bytes,
        "checkpoints": s.wal.checkpoints,
        "statementCache": statement_cache(s),
        "backups": backups(&s.backups),
        "isHealthy": s.healthy,
        "lastHealthCheck": s.last_health_check_ms,
        "closed": s.closed,
    })
}

/// The `pool_health` MCP payload; `None` before the pool exists (unhealthy, nothing available).
pub fn pool_health(snapshot: Option<&PoolSnapshot>) -> Json {
    let Some(s) = snapshot else {
        return json!({
            "healthy": false,
            "pool_status": {
                "total_connections": 0, "active_connections": 0, "available_readers": 0, "available_workers": 0,
                "queue_lengths": { "read_queue": 0, "write_queue": 0, "worker_queue": 0 },
            },
            "last_health_check": null,
            "timestamp": iso8601(unix_ms()),
        });
    };
    let mut payload = json!({
        "healthy": s.healthy,
        "pool_status": {
            "total_connections": s.total_connections(),
            "active_connections": s.active_connections(),
            "available_readers": s.available_readers(),
            "available_workers": s.available_workers(),
            "queue_lengths": queue_lengths(s),
        },
        "last_health_check": iso8601(s.last_health_check_ms),
        "wal": wal(s),
        "writes": {
            "failing": s.writes.failing,
            "consecutive_failures": s.writes.consecutive_failures,
            "last_failure": s.writes.last_failure,
            "replayed": s.writes.replayed,
        },
        "timestamp": iso8601(unix_ms()),
    });
    if let (Some(server), Json::Object(map)) = (&s.server, &mut payload) {
        map.insert(
            "server".into(),
            json!({
                "backend": "postgres",
                "url": server.server,
                "connections_open": server.connections_open,
                "writer_connected": server.writer_connected,
                "failed_connections": s.failed_connections,
                "outage": server.outage,
            }),
        );
    }
    payload
}

/// The `pool_stats` MCP payload.
pub fn pool_stats(snapshot: Option<&PoolSnapshot>, ops: &OpStats) -> Json {
    let (total, failed) = ops.counts();
    let (metrics, healthy, last_check) = match snapshot {
        Some(s) => (
            pool_metrics(s),
            s.healthy,
            Json::String(iso8601(s.last_health_check_ms)),
        ),
        None => (
            json!({
                "total_reads": 0, "total_writes": 0, "total_worker_tasks": 0, "failed_connections": 0,
                "average_read_time": 0.0, "average_write_time": 0.0, "active_connections": 0,
                "available_readers": 0, "available_workers": 0,
                "queue_lengths": { "read_queue": 0, "write_queue": 0, "worker_queue": 0 },
            }),
            false,
            Json::Null,
        ),
    };
    json!({
        "pool_metrics": metrics,
        "persistence_metrics": {
            "total_operations": total,
            "total_errors": failed,
            "average_response_time": ops.average_ms(),
            "error_rate": format!("{:.2}%", percent(failed, total)),
        },
        "health_status": { "healthy": healthy, "last_check": last_check },
        "timestamp": iso8601(unix_ms()),
    })
}

fn pool_metrics(s: &PoolSnapshot) -> Json {
    json!({
        "total_reads": s.read.operations(),
        "total_writes": s.write.operations(),
        "total_worker_tasks": s.worker.operations(),
        "failed_connections": s.failed_connections,
        "average_read_time": s.read.total.mean_ms(),
        "average_write_time": s.write.total.mean_ms(),
        "average_worker_time": s.worker.total.mean_ms(),
        "active_connections": s.active_connections(),
        "available_readers": s.available_readers(),
        "available_workers": s.available_workers(),
        "queue_lengths": queue_lengths(s),
        "commits": s.commits,
        "average_batch_size": s.average_batch_size(),
        "statement_cache": statement_cache(s),
        "timeouts": s.timeouts,
        "errors_by_code": errors(s),
        "latency_ms": latencies(s),
        "wal": wal(s),
        "backups": backups(&s.backups),
    })
}

/// The `persistence_stats` MCP payload.
pub fn persistence_stats(snapshot: Option<&PoolSnapshot>, ops: &OpStats) -> Json {
    let (total, failed) = ops.counts();
    json!({
        "persistence_layer": "SwarmPersistencePooled",
        "connection_pool": "enabled",
        "statistics": {
            "total_operations": total,
            "total_errors": failed,
            "average_response_time_ms": ops.average_ms(),
            "error_rate_percent": percent(failed, total),
            "success_rate_percent": if total == 0 { 100.0 } else { 100.0 - percent(failed, total) },
        },
        "pool_health": {
            "healthy": snapshot.is_some_and(|s| s.healthy),
            "total_connections": snapshot.map_or(0, PoolSnapshot::total_connections),
            "active_connections": snapshot.map_or(0, PoolSnapshot::active_connections),
            "available_readers": snapshot.map_or(0, PoolSnapshot::available_readers),
            "available_workers": snapshot.map_or(0, PoolSnapshot::available_workers),
        },
        "timestamp": iso8601(unix_ms()),
    })
}

/// `getPersistenceStats()`: the true mean, in ms.
pub fn persistence_counts(ops: &OpStats) -> Json {
    let (total, failed) = ops.counts();
    json!({ "totalOperations": total, "totalErrors": failed, "averageResponseTime": ops.average_ms() })
}

/// The `health-check` event's payload, as ruv-swarm's pool emitted it.
pub fn health_check(s: &PoolSnapshot, duration_ms: f64, readers: usize, workers: usize) -> Json {
    json!({ "healthy": s.healthy, "duration": duration_ms, "workers": workers, "readers": readers, "stats": get_stats(s) })
}

/// What `backup()` resolves to.
pub fn backup_result(info: &BackupInfo) -> Json {
    json!({
        "path": info.path.to_string_lossy(),
        "pages": info.pages,
        "bytes": info.bytes,
        "durationMs": info.duration.as_secs_f64() * 1000.0,
        "startedAt": iso8601(info.started_ms),
        "integrity": "ok",
    })
}

fn backups(b: &BackupSnapshot) -> Json {
    json!({
        "scheduled": b.scheduled,
        "completed": b.completed,
        "failed": b.failed,
        "last": b.last.as_ref().map(backup_result),
        "last_error": b.last_error,
    })
}

fn wal(s: &PoolSnapshot) -> Json {
    json!({
        "wal_bytes": s.wal.bytes,
        "wal_pages": s.wal.pages,
        "wal_limit": s.wal.limit,
        "over_limit": s.wal.bytes > s.wal.limit,
        "checkpoints": s.wal.checkpoints,
        "truncate_checkpoints": s.wal.truncate_checkpoints,
        "resets_deferred": s.wal.resets_deferred,
        "writer_pauses": s.wal.throttled,
    })
}

/// How often statements were found prepared in the SQLite connections' caches; null on
/// PostgreSQL, whose server keeps the plans.
fn statement_cache(s: &PoolSnapshot) -> Json {
    match &s.statements {
        Some(c) => json!({ "hits": c.hits, "misses": c.misses, "hit_rate": c.hit_rate() }),
        None => Json::Null,
    }
}

fn queue_lengths(s: &PoolSnapshot) -> Json {
    json!({ "read_queue": s.read.queued, "write_queue": s.write.queued, "worker_queue": s.worker.queued })
}

fn errors(s: &PoolSnapshot) -> Json {
    Json::Object(s.errors.iter().map(|(k, v)| (k.to_string(), (*v).into())).collect())
}

fn quantiles(h: &HistogramSnapshot) -> Json {
    json!({
        "count": h.count,
        "mean": h.mean_ms(),
        "p50": h.quantile_ms(0.50),
        "p95": h.quantile_ms(0.95),
        "p99": h.quantile_ms(0.99),
        "max": h.max_us as f64 / 1000.0,
    })
}

fn latency(lane: &LaneSnapshot) -> Json {
    json!({ "wait": quantiles(&lane.wait), "exec": quantiles(&lane.exec) })
}

fn latencies(s: &PoolSnapshot) -> Json {
    json!({ "read": latency(&s.read), "write": latency(&s.write), "worker": latency(&s.worker) })
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 10_000.0 / whole as f64).round() / 100.0
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use std::sync::atomic::Ordering::Relaxed;

    #[test]
    fn rates_and_means_are_exact() {
        let ops = OpStats::default();
        ops.operations.store(3, Relaxed);
        ops.errors.store(1, Relaxed);
        ops.total_us.store(1_500 + 3_000 + 4_500, Relaxed);
        let s = persistence_stats(None, &ops);
        assert_eq!(s["statistics"]["error_rate_percent"], 33.33);
        assert_eq!(s["statistics"]["success_rate_percent"], 66.67);
        assert_eq!(s["statistics"]["average_response_time_ms"], 3.0);
        assert_eq!(pool_stats(None, &ops)["persistence_metrics"]["error_rate"], "33.33%");
    }
}
