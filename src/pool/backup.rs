//! Online backups: a consistent copy of the database made with SQLite's backup API from a
//! read-only connection while the writer keeps committing, checked with `integrity_check`
//! before it counts; and the thread that takes them on a schedule and keeps the newest few.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use crate::clock::{iso8601, unix_ms};
use crate::error::{Error, Result};
use crate::pool::context::ThreadContext;
use crate::pool::job::{Completion, Job, Output, Work};
use crate::pool::lanes::Lane;
use crate::pool::periodic::{every, spawn_named};
use crate::pool::snapshot::BackupSnapshot;
use crate::pool::{registry, Pool};
use crate::sqlite::open::open_reader;

/// What a finished backup made.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupInfo {
    pub path: PathBuf,
    pub pages: u64,
    pub bytes: u64,
    pub duration: Duration,
    /// Unix milliseconds when the copy's snapshot was taken.
    pub started_ms: u64,
}

/// Backup counters for the stats payloads.
#[derive(Debug, Default)]
pub struct BackupStats {
    pub completed: AtomicU64,
    pub failed: AtomicU64,
    last: Mutex<Option<BackupInfo>>,
    last_error: Mutex<Option<String>>,
}

impl BackupStats {
    pub fn record(&self, result: &Result<BackupInfo>) {
        match result {
            Ok(info) => {
                self.completed.fetch_add(1, Relaxed);
                *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(info.clone());
            }
            Err(e) => {
                self.failed.fetch_add(1, Relaxed);
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!("{}: {e}", e.code()));
            }
        }
    }

    pub fn snapshot(&self, scheduled: bool) -> BackupSnapshot {
        BackupSnapshot {
            scheduled,
            completed: self.completed.load(Relaxed),
            failed: self.failed.load(Relaxed),
            last: self.last.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            last_error: self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }
}

/// Copies the database `source` reads into `dest`: one backup step holds one read snapshot, so
/// the copy is exactly the committed state when it began, whatever the writer does meanwhile. The
/// copy is written to a file created exclusively beside `dest`, passes `PRAGMA integrity_check`,
/// and only then takes its name. A destination that is an open database of this process (or its
/// WAL or shared-memory file) is refused.
pub fn backup_to(source: &Connection, dest: &Path) -> Result<BackupInfo> {
    let claim = claim(dest)?;
    copy_claimed(source, dest, &claim)
}

/// Makes `dest`'s folder and claims the name: from here until the claim drops, opening a
/// database at `dest` is refused, so nothing acknowledged there can be replaced by the copy.
fn claim(dest: &Path) -> Result<registry::Claim> {
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::invalid(format!("cannot create the backup directory {}: {e}", dir.display())))?;
    }
    if dest.is_dir() {
        return Err(Error::invalid(format!(
            "the backup destination {} is a folder; name a file",
            dest.display()
        )));
    }
    registry::Claim::new(dest)
}

/// The copy into `dest`, whose name `claim` holds.
fn copy_claimed(source: &Connection, dest: &Path, claim: &registry::Claim) -> Result<BackupInfo> {
    let Some(name) = dest.file_name() else {
        return Err(Error::invalid(format!(
            "the backup destination {} names no file",
            dest.display()
        )));
    };
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    remove_orphans(&dir);
    let (partial, _file) = create_partial(&dir, &name.to_string_lossy())?;
    let started = Instant::now();
    let started_ms = unix_ms();
    let copied = copy_checked(source, &partial);
    let pages = match copied {
        Ok(pages) => pages,
        Err(e) => {
            remove_partial(&partial);
            return Err(e);
        }
    };
    if let Err(e) = claim.finish(&partial, dest) {
        remove_partial(&partial);
        return Err(e);
    }
    let bytes = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
    Ok(BackupInfo {
        path: dest.to_path_buf(),
        pages,
        bytes,
        duration: started.elapsed(),
        started_ms,
    })
}

/// Marks the name of a backup in progress: `.<dest name>.sp-backup-<pid>-<n>.tmp`.
const PARTIAL_TAG: &str = ".sp-backup-";

/// Creates the partial file exclusively (never opening one planted at the name).
fn create_partial(dir: &Path, name: &str) -> Result<(PathBuf, std::fs::File)> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    for _ in 0..16 {
        let n = NEXT.fetch_add(1, Relaxed);
        let partial = dir.join(format!(".{name}{PARTIAL_TAG}{}-{n}.tmp", std::process::id()));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&partial) {
            Ok(file) => return Ok((partial, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(Error::invalid(format!(
                    "cannot create a file for the backup in {}: {e}",
                    dir.display()
                )))
            }
        }
    }
    Err(Error::invalid(format!(
        "no free name for a backup file in {}",
        dir.display()
    )))
}

fn remove_partial(partial: &Path) {
    let _ = std::fs::remove_file(partial);
    let mut journal = partial.as_os_str().to_owned();
    journal.push("-journal");
    let _ = std::fs::remove_file(journal);
}

/// Removes partial backups left in `dir` by processes that no longer run (a backup killed
/// mid-copy leaves its file behind).
fn remove_orphans(dir: &Path) {
    if !crate::sqlite::ephemeral::process_table() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = orphan_pid(&name) else { continue };
        if pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The process id in a partial backup's name (or its journal's), if it is one.
fn orphan_pid(name: &str) -> Option<u32> {
    let name = name.strip_suffix("-journal").unwrap_or(name);
    let rest = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let tagged = &rest[rest.rfind(PARTIAL_TAG)? + PARTIAL_TAG.len()..];
    tagged.split('-').next()?.parse().ok()
}

fn copy_checked(source: &Connection, partial: &Path) -> Result<u64> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut copy = Connection::open_with_flags(partial, flags)?;
    let pages = {
        let backup = Backup::new(source, &mut copy)?;
        match backup.step(-1)? {
            StepResult::Done => backup.progress().pagecount as u64,
            other => {
                return Err(Error::Sqlite {
                    code: "SQLITE_BUSY",
                    message: format!("the backup could not complete ({other:?})"),
                })
            }
        }
    };
    // The copy keeps the source's WAL flag; a backup is one self-contained file.
    copy.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))?;
    let verdict: String = copy.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if verdict != "ok" {
        return Err(Error::Sqlite {
            code: "SQLITE_CORRUPT",
            message: format!("the backup failed its integrity check: {verdict}"),
        });
    }
    Ok(pages)
}

impl Pool {
    /// Backs up to `dest` on a worker (queued like any heavy job, never blocking writes); the
    /// result is `backup_to`'s summary as JSON. The destination is claimed now, not when a worker
    /// starts the copy: a database opened at `dest` after this call could otherwise acknowledge
    /// writes that the copy, finishing later, replaces.
    pub fn backup(&self, dest: PathBuf, done: Completion) {
        let claimed = match claim(&dest) {
            Ok(c) => c,
            Err(e) => {
                self.ctx.backups.record(&Err(e.clone()));
                return self.reject(Lane::Worker, e, done);
            }
        };
        let ctx = Arc::clone(&self.ctx);
        // Released as the copy ends, before the job's completion runs: a caller told the backup
        // finished may open the copy at once (a claim kept in the closure would live until the
        // worker drops the job, after the completion).
        let mut claimed = Some(claimed);
        let work: Work = Box::new(move |conn| {
            let claim = claimed
                .take()
                .ok_or_else(|| Error::Internal("a backup job ran twice".into()))?;
            let made = copy_claimed(conn, &dest, &claim);
            drop(claim);
            ctx.backups.record(&made);
            made.map(Output::Backup)
        });
        self.submit(Lane::Worker, Job::new(work, done));
    }
}

/// The scheduled backups: every `backupInterval`, a copy named `<db>-<UTC time>.db` in
/// `backupDir`, keeping the newest `backupKeep`.
pub struct BackupScheduler {
    pub ctx: Arc<ThreadContext>,
    pub stop: Receiver<()>,
}

impl BackupScheduler {
    pub fn spawn(self) -> Result<JoinHandle<()>> {
        spawn_named("sp-backup".into(), move || self.run())
    }

    fn run(self) {
        let config = &self.ctx.config;
        let mut source = None;
        every(&self.stop, config.backup_interval, || {
            let result = match source.take() {
                Some(conn) => Ok(conn),
                None => open_reader(&self.ctx.db, config),
            }
            .and_then(|conn| {
                let dest = config.backup_dir.join(backup_name(&self.ctx.db.path, unix_ms()));
                let made = backup_to(&conn, &dest);
                source = Some(conn);
                made
            });
            if result.is_ok() {
                let _ = rotate(&config.backup_dir, &stem(&self.ctx.db.path), config.backup_keep);
            }
            self.ctx.backups.record(&result);
            true
        });
    }
}

fn stem(db: &Path) -> String {
    db.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "db".into())
}

/// `swarm-20261124T101500123Z.db`: names sort by time.
pub fn backup_name(db: &Path, unix_ms: u64) -> String {
    let stamp: String = iso8601(unix_ms)
        .chars()
        .filter(|c| !matches!(c, '-' | ':' | '.'))
        .collect();
    format!("{}-{stamp}.db", stem(db))
}

/// Deletes all but the newest `keep` scheduled backups of `stem` in `dir`.
pub fn rotate(dir: &Path, stem: &str, keep: usize) -> std::io::Result<usize> {
    let prefix = format!("{stem}-");
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix) && n.ends_with("Z.db"))
        .collect();
    names.sort();
    let excess = names.len().saturating_sub(keep);
    for name in &names[..excess] {
        std::fs::remove_file(dir.join(name))?;
    }
    Ok(excess)
}
