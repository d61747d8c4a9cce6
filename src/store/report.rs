//! The `pool_stats` and `persistence_stats` MCP payloads (and `pool_health` before the pool
//! exists), from the pool's counters and the persistence layer's own.

use std::sync::atomic::Ordering::Relaxed;

use serde_json::{json, Value as Json};

use crate::pool::health::unix_ms;
use crate::pool::report::iso8601;
use crate::pool::Pool;
use crate::store::OpStats;

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 10_000.0 / whole as f64).round() / 100.0
    }
}

/// `pool_health` when no pool is open yet (before `initialize`): unhealthy, nothing available.
pub fn health_without_pool() -> Json {
    json!({
        "healthy": false,
        "pool_status": {
            "total_connections": 0, "active_connections": 0, "available_readers": 0, "available_workers": 0,
            "queue_lengths": { "read_queue": 0, "write_queue": 0, "worker_queue": 0 },
        },
        "last_health_check": null,
        "timestamp": iso8601(unix_ms()),
    })
}

pub fn pool_stats(pool: Option<&Pool>, ops: &OpStats) -> Json {
    let (total, errors) = (ops.operations.load(Relaxed), ops.errors.load(Relaxed));
    let (metrics, healthy, last_check) = match pool {
        Some(p) => (
            p.pool_metrics(),
            p.is_healthy(),
            Json::String(iso8601(p.health().last_check_ms.load(Relaxed))),
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
            "total_errors": errors,
            "average_response_time": ops.average_ms(),
            "error_rate": format!("{:.2}%", percent(errors, total)),
        },
        "health_status": { "healthy": healthy, "last_check": last_check },
        "timestamp": iso8601(unix_ms()),
    })
}

pub fn persistence_stats(pool: Option<&Pool>, ops: &OpStats) -> Json {
    let (total, errors) = (ops.operations.load(Relaxed), ops.errors.load(Relaxed));
    let occupancy = pool.map(Pool::occupancy);
    json!({
        "persistence_layer": "SwarmPersistencePooled",
        "connection_pool": "enabled",
        "statistics": {
            "total_operations": total,
            "total_errors": errors,
            "average_response_time_ms": ops.average_ms(),
            "error_rate_percent": percent(errors, total),
            "success_rate_percent": if total == 0 { 100.0 } else { 100.0 - percent(errors, total) },
        },
        "pool_health": {
            "healthy": occupancy.is_some_and(|o| o.healthy),
            "total_connections": occupancy.map_or(0, |o| o.total_connections),
            "active_connections": occupancy.map_or(0, |o| o.active_connections),
            "available_readers": occupancy.map_or(0, |o| o.available_readers),
            "available_workers": occupancy.map_or(0, |o| o.available_workers),
        },
        "timestamp": iso8601(unix_ms()),
    })
}

#[cfg(test)]
mod test {
    use super::*;

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
