//! `:memory:` databases as private files. Readers on other connections must see the writer's
//! commits, so an in-memory database is a real file: created exclusively (mode 0600) in a fresh
//! folder only this user can enter (0700), so nothing can be planted at its name, and removed on
//! close and at process exit. A process killed by a signal runs no exit handler: the folders it
//! left are removed when the next process creates its first `:memory:` database.

use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};

use crate::error::{Error, Result};

/// Folders of the ephemeral databases still open in this process.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static AT_EXIT: Once = Once::new();

extern "C" {
    fn atexit(callback: extern "C" fn()) -> std::ffi::c_int;
}

extern "C" fn remove_all_at_exit() {
    let dirs = std::mem::take(&mut *LIVE.lock().unwrap_or_else(|p| p.into_inner()));
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Creates a private folder and an empty database file in it; returns the file's path.
pub fn create() -> Result<PathBuf> {
    let base = std::env::temp_dir();
    AT_EXIT.call_once(|| {
        // Once per process: folders of dead processes do not come back while this one runs.
        remove_orphans(&base);
        // SAFETY: `atexit` takes a plain function pointer with no arguments; the callback only
        // touches a static and the file system, both valid until the process ends (Node never
        // unloads an addon).
        unsafe { atexit(remove_all_at_exit) };
    });
    for attempt in 0..16u32 {
        let dir = base.join(format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            crate::store::unique_id("mem").replace('_', "-") + &attempt.to_string()
        ));
        match DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(cannot(&dir, e)),
        }
        let file = dir.join("memory.db");
        if let Err(e) = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&file) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(cannot(&file, e));
        }
        LIVE.lock().unwrap_or_else(|p| p.into_inner()).push(dir);
        return Ok(file);
    }
    Err(cannot(&base, "no free name"))
}

const PREFIX: &str = "swarm-persistence-";

/// Removes the folders of processes that no longer run.
fn remove_orphans(base: &Path) {
    if !process_table() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(base) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let ours = entry.path().join("memory.db").exists() || name.contains("-mem-");
        if ours && pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether `/proc` tells which processes run (Linux); elsewhere nothing is removed as orphaned.
pub fn process_table() -> bool {
    Path::new("/proc/self").exists()
}

/// Removes an ephemeral database's folder (the file, its WAL and shared-memory files).
pub fn remove(file: &Path) {
    let Some(dir) = file.parent() else { return };
    LIVE.lock().unwrap_or_else(|p| p.into_inner()).retain(|d| d != dir);
    let _ = std::fs::remove_dir_all(dir);
}

fn cannot(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::Sqlite {
        code: "SQLITE_CANTOPEN",
        message: format!(
            "cannot create the private file for :memory: at {}: {why}",
            path.display()
        ),
    }
}

#[cfg(test)]
mod test {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn private_and_removed() -> crate::Result<()> {
        let file = super::create()?;
        let dir = file.parent().expect("a folder");
        let mode = |p: &std::path::Path| {
            std::fs::metadata(p)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0)
        };
        assert_eq!(mode(dir), 0o700);
        assert_eq!(mode(&file), 0o600);
        super::remove(&file);
        assert!(!dir.exists());
        Ok(())
    }
}
