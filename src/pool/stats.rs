//! Lock-free counters and latency histograms the pool threads update and `snapshot()` reads.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use crate::error::Error;

/// Upper bounds of the histogram buckets in microseconds: 8 µs doubling up to ~67 s, then +Inf.
pub const BUCKET_BOUNDS_US: [u64; 24] = {
    let mut b = [0u64; 24];
    let mut i = 0;
    while i < 24 {
        b[i] = 8 << i;
        i += 1;
    }
    b
};

#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; 25],
    count: AtomicU64,
    sum_us: AtomicU64,
    max_us: AtomicU64,
}

impl Histogram {
    pub fn record(&self, d: Duration) {
        self.record_value(d.as_micros().min(u64::MAX as u128) as u64);
    }

    /// Records a plain number (used for batch sizes, with the same buckets).
    pub fn record_value(&self, us: u64) {
        let idx = BUCKET_BOUNDS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(BUCKET_BOUNDS_US.len());
        self.buckets[idx].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
        self.max_us.fetch_max(us, Relaxed);
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            buckets: std::array::from_fn(|i| self.buckets[i].load(Relaxed)),
            count: self.count.load(Relaxed),
            sum_us: self.sum_us.load(Relaxed),
            max_us: self.max_us.load(Relaxed),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// Counts per bucket (not cumulative); the last is everything above the last bound.
    pub buckets: [u64; 25],
    pub count: u64,
    pub sum_us: u64,
    pub max_us: u64,
}

impl HistogramSnapshot {
    pub fn mean_ms(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum_us as f64 / self.count as f64 / 1000.0
        }
    }

    /// The upper bound (ms) of the bucket holding quantile `q`; capped by the observed maximum.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let rank = ((q * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let bound = BUCKET_BOUNDS_US.get(i).copied().unwrap_or(self.max_us);
                return bound.min(self.max_us) as f64 / 1000.0;
            }
        }
        self.max_us as f64 / 1000.0
    }
}

/// What one kind of job (read, write, worker) has done.
#[derive(Debug, Default)]
pub struct LaneStats {
    pub completed: AtomicU64,
    pub failed: AtomicU64,
    /// Jobs running right now.
    pub busy: AtomicUsize,
    /// Time from queueing to start.
    pub wait: Histogram,
    /// Time from start to result (for writes: to COMMIT).
    pub exec: Histogram,
    /// Time from queueing to result.
    pub total: Histogram,
}

#[derive(Debug, Default)]
pub struct Stats {
    pub read: LaneStats,
    pub write: LaneStats,
    pub worker: LaneStats,
    pub commits: AtomicU64,
    pub batch_sizes: Histogram,
    pub largest_batch: AtomicU64,
    pub failed_connections: AtomicU64,
    /// Jobs that timed out: waiting for a connection (`POOL_TIMEOUT`) or running
    /// (`QUERY_TIMEOUT`).
    pub timeouts: AtomicU64,
    pub checkpoints: AtomicU64,
    pub truncate_checkpoints: AtomicU64,
    /// Pages in the WAL after the last commit (SQLite's count, from the WAL hook).
    pub wal_pages: AtomicU64,
    /// Times the WAL was over its limit and could not be reset at once (a snapshot held it).
    pub wal_resets_deferred: AtomicU64,
    /// Pauses of the writer while a worker query held the WAL past twice its limit.
    pub wal_throttled: AtomicU64,
    /// Jobs run again because a later job of their transaction rolled it back whole.
    pub replayed: AtomicU64,
    /// Commits in a row whose writes all failed for a reason of the environment (disk full, I/O
    /// error, read-only or locked file); 0 after any successful commit.
    pub write_failure_streak: AtomicU64,
    /// Statements found prepared in a connection's statement cache, and those compiled.
    pub statement_hits: AtomicU64,
    pub statement_misses: AtomicU64,
    last_write_failure: Mutex<Option<String>>,
    errors: Mutex<BTreeMap<&'static str, u64>>,
}

impl Stats {
    pub fn count_error(&self, code: &'static str) {
        if let Ok(mut map) = self.errors.lock() {
            *map.entry(code).or_default() += 1;
        }
    }

    /// Records how a commit went for the write path's health.
    pub fn write_outcome(&self, committed: bool, environment_failure: Option<&Error>) {
        if committed {
            self.write_failure_streak.store(0, Relaxed);
        } else if let Some(err) = environment_failure {
            self.write_failure_streak.fetch_add(1, Relaxed);
            if let Ok(mut last) = self.last_write_failure.lock() {
                *last = Some(format!("{}: {err}", err.code()));
            }
        }
    }

    pub fn last_write_failure(&self) -> Option<String> {
        self.last_write_failure.lock().ok().and_then(|l| l.clone())
    }

    pub fn errors_by_code(&self) -> BTreeMap<&'static str, u64> {
        self.errors.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn quantiles_fall_in_the_right_bucket() {
        let h = Histogram::default();
        for _ in 0..98 {
            h.record(Duration::from_micros(100));
        }
        h.record(Duration::from_millis(20));
        h.record(Duration::from_millis(20));
        let s = h.snapshot();
        assert_eq!(s.count, 100);
        assert_eq!(s.quantile_ms(0.5), 0.128);
        assert!(
            (16.384..=20.0).contains(&s.quantile_ms(0.99)),
            "{}",
            s.quantile_ms(0.99)
        );
        assert!((s.mean_ms() - (98.0 * 0.1 + 40.0) / 100.0).abs() < 1e-9);
        assert_eq!(s.max_us, 20_000);
    }
}
