//! A pool snapshot in the Prometheus text exposition format (version 0.0.4), ready to serve from
//! a `/metrics` handler.

use std::fmt::Write;

use crate::pool::snapshot::{LaneSnapshot, PoolSnapshot};
use crate::pool::stats::{HistogramSnapshot, BUCKET_BOUNDS_US};

/// Which of a lane's latency histograms a family exposes.
type PickHistogram = fn(&LaneSnapshot) -> &HistogramSnapshot;

/// Builds one exposition; every family gets `# HELP` and `# TYPE` before its samples.
struct Exposition(String);

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {}", number(value));
    }

    fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    /// A histogram with `scale` converting the recorded unit (µs, or plain counts) to the exposed one.
    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &HistogramSnapshot, scale: f64) {
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0u64;
        for (i, bound) in BUCKET_BOUNDS_US.iter().enumerate() {
            cumulative += h.buckets[i];
            let le = number(*bound as f64 * scale);
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            self.sample(&bucket, &with_le, cumulative as f64);
        }
        // Buckets and count are read one by one while threads record; the exposition stays
        // consistent by deriving the count from the buckets.
        cumulative += h.buckets[BUCKET_BOUNDS_US.len()];
        let mut inf = labels.to_vec();
        inf.push(("le", "+Inf"));
        self.sample(&bucket, &inf, cumulative as f64);
        self.sample(&format!("{name}_sum"), labels, h.sum_us as f64 * scale);
        self.sample(&format!("{name}_count"), labels, cumulative as f64);
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// Metric names start with `swarm_pool_`, per-lane series carry `pool_type="read|write|worker"`,
/// latencies are in seconds.
pub fn prometheus(s: &PoolSnapshot) -> String {
    let mut out = Exposition(String::with_capacity(16 * 1024));
    out.family(
        "swarm_pool_operations_total",
        "counter",
        "Jobs finished, by kind and outcome.",
    );
    for (lane, l) in s.lanes() {
        out.sample(
            "swarm_pool_operations_total",
            &[("pool_type", lane.name()), ("result", "ok")],
            l.completed as f64,
        );
        out.sample(
            "swarm_pool_operations_total",
            &[("pool_type", lane.name()), ("result", "error")],
            l.failed as f64,
        );
    }
    out.family("swarm_pool_errors_total", "counter", "Failed jobs by error code.");
    for (code, n) in &s.errors {
        out.sample("swarm_pool_errors_total", &[("code", code)], *n as f64);
    }
    let latencies: [(&str, &str, PickHistogram); 2] = [
        (
            "swarm_pool_queue_wait_seconds",
            "Time jobs waited in their queue before starting.",
            |l| &l.wait,
        ),
        (
            "swarm_pool_exec_seconds",
            "Time jobs ran (writes: until their COMMIT returned).",
            |l| &l.exec,
        ),
    ];
    for (name, help, which) in latencies {
        out.family(name, "histogram", help);
        for (lane, l) in s.lanes() {
            out.histogram(name, &[("pool_type", lane.name())], which(l), 1e-6);
        }
    }
    out.family("swarm_pool_queue_length", "gauge", "Jobs waiting in each queue.");
    for (lane, l) in s.lanes() {
        out.sample(
            "swarm_pool_queue_length",
            &[("pool_type", lane.name())],
            l.queued as f64,
        );
    }
    out.family("swarm_pool_busy_connections", "gauge", "Connections running a job now.");
    for (lane, l) in s.lanes() {
        out.sample(
            "swarm_pool_busy_connections",
            &[("pool_type", lane.name())],
            l.busy as f64,
        );
    }
    out.single(
        "swarm_pool_connections",
        "gauge",
        "Open connections (writer, readers, workers).",
        s.total_connections() as f64,
    );
    out.single(
        "swarm_pool_healthy",
        "gauge",
        "1 when the last health check reached every thread and writes commit.",
        f64::from(u8::from(s.healthy)),
    );
    out.single(
        "swarm_pool_commits_total",
        "counter",
        "Group commits made by the writer.",
        s.commits as f64,
    );
    out.family("swarm_pool_commit_batch_size", "histogram", "Writes per group commit.");
    out.histogram("swarm_pool_commit_batch_size", &[], &s.batch_sizes, 1.0);
    out.single(
        "swarm_pool_failed_connections_total",
        "counter",
        "Connections replaced after a fault.",
        s.failed_connections as f64,
    );
    out.single(
        "swarm_pool_timeouts_total",
        "counter",
        "Jobs that waited past acquireTimeout or ran past queryTimeout.",
        s.timeouts as f64,
    );
    out.single(
        "swarm_pool_wal_bytes",
        "gauge",
        "Size of the write-ahead log file.",
        s.wal.bytes as f64,
    );
    out.single(
        "swarm_pool_wal_limit_bytes",
        "gauge",
        "WAL size that triggers a TRUNCATE checkpoint.",
        s.wal.limit as f64,
    );
    out.family(
        "swarm_pool_checkpoints_total",
        "counter",
        "Completed WAL checkpoints by mode.",
    );
    let truncate = s.wal.truncate_checkpoints;
    out.sample(
        "swarm_pool_checkpoints_total",
        &[("mode", "passive")],
        s.wal.checkpoints.saturating_sub(truncate) as f64,
    );
    out.sample("swarm_pool_checkpoints_total", &[("mode", "truncate")], truncate as f64);
    if let Some(cache) = &s.statements {
        out.family(
            "swarm_pool_statement_cache_total",
            "counter",
            "Statements found prepared in the connections' caches (hit) or compiled (miss).",
        );
        out.sample(
            "swarm_pool_statement_cache_total",
            &[("result", "hit")],
            cache.hits as f64,
        );
        out.sample(
            "swarm_pool_statement_cache_total",
            &[("result", "miss")],
            cache.misses as f64,
        );
    }
    out.family("swarm_pool_backups_total", "counter", "Backups made, by outcome.");
    out.sample(
        "swarm_pool_backups_total",
        &[("result", "ok")],
        s.backups.completed as f64,
    );
    out.sample(
        "swarm_pool_backups_total",
        &[("result", "error")],
        s.backups.failed as f64,
    );
    out.0
}

/// Before a persistence object opened its pool: only `swarm_pool_healthy 0`.
pub fn prometheus_without_pool() -> String {
    let mut out = Exposition(String::new());
    out.single(
        "swarm_pool_healthy",
        "gauge",
        "1 when the last health check reached every thread and writes commit.",
        0.0,
    );
    out.0
}
