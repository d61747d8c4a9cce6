//! The three kinds of work a pool runs, each on its own threads and queue.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Point reads and short queries, on the reader threads.
    Read,
    /// Every write, on the one writer thread.
    Write,
    /// Heavy read-only queries and backups, on the worker threads.
    Worker,
}

impl Lane {
    pub fn name(self) -> &'static str {
        match self {
            Lane::Read => "read",
            Lane::Write => "write",
            Lane::Worker => "worker",
        }
    }
}
