//! swarm-persistence: pooled SQLite persistence for Node.js.
//!
//! `pool` is the engine (writer, readers, workers, health), `store` the swarm domain on it,
//! `persistence` the lifecycle of a persistence object over both, `sqlite` the connection layer,
//! `config` the settings, and `js` the napi binding.

pub mod clock;
pub mod config;
pub mod error;
mod js;
pub mod payloads;
pub mod persistence;
pub mod pool;
pub mod sqlite;
pub mod store;

pub use config::PoolConfig;
pub use error::{Error, Result};

/// Rust allocations of the addon (not Node's) go to mimalloc: rows are built on pool threads and
/// freed on the JavaScript thread, which glibc malloc serves slowly (see bench/FINDINGS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
