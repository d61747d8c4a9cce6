//! Starting pool threads, and the loop of a thread that acts every interval until told to stop.

use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::error::{Error, Result};

/// Starts a named pool thread; failing to start one is an `INTERNAL_ERROR`, not a panic.
pub fn spawn_named(name: String, run: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(run)
        .map_err(|e| Error::Internal(format!("cannot start the {name} thread: {e}")))
}

/// Calls `tick` every `interval` until `stop` says so (a message or a closed channel) or `tick`
/// returns false.
pub fn every(stop: &Receiver<()>, interval: Duration, mut tick: impl FnMut() -> bool) {
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(interval) {
        if !tick() {
            return;
        }
    }
}
