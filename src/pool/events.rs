//! What the pool tells its users as it happens, outside any call: health checks, and worker
//! connections that failed and were replaced. Sinks are held weakly, so a user that went away
//! stops receiving; the binding turns these into EventEmitter events.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::error::Error;

#[derive(Debug, Clone)]
pub enum PoolEvent {
    /// A periodic health check finished.
    HealthCheck {
        duration: Duration,
        readers: usize,
        workers: usize,
    },
    /// A health check found a connection it could not repair.
    HealthCheckError(Error),
    /// A job on a worker failed its connection (panic, I/O error, corruption).
    WorkerError(Error),
    /// That worker's connection was dropped (the closest equivalent of a worker thread exiting).
    WorkerExit(i32),
    /// The worker has a fresh connection.
    WorkerReplaced,
}

pub trait EventSink: Send + Sync {
    fn deliver(&self, event: &PoolEvent);
}

#[derive(Default)]
pub struct Listeners {
    sinks: Mutex<Vec<Weak<dyn EventSink>>>,
}

impl Listeners {
    pub fn add(&self, sink: &Arc<dyn EventSink>) {
        let mut sinks = self.sinks.lock().unwrap_or_else(|p| p.into_inner());
        sinks.retain(|s| s.strong_count() > 0);
        sinks.push(Arc::downgrade(sink));
    }

    pub fn emit(&self, event: PoolEvent) {
        let sinks: Vec<Arc<dyn EventSink>> = {
            let mut sinks = self.sinks.lock().unwrap_or_else(|p| p.into_inner());
            sinks.retain(|s| s.strong_count() > 0);
            sinks.iter().filter_map(Weak::upgrade).collect()
        };
        for sink in sinks {
            sink.deliver(&event);
        }
    }
}

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listeners").finish_non_exhaustive()
    }
}
