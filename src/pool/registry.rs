//! The database files this process has open, and the backups it is writing, so that a backup
//! never renames a copy over a live database (its WAL or shared-memory file), however its
//! destination is spelled, and a database is never opened where a backup is about to land.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::sqlite::open::file_identity;

#[derive(Default)]
struct Files {
    open: Vec<PathBuf>,
    backups: Vec<PathBuf>,
}

static FILES: Mutex<Files> = Mutex::new(Files {
    open: Vec::new(),
    backups: Vec::new(),
});

fn files() -> MutexGuard<'static, Files> {
    FILES.lock().unwrap_or_else(|p| p.into_inner())
}

/// The path with symbolic links and `.`/`..` resolved; for a file that does not exist yet, its
/// folder's real path joined with its name.
pub fn real_path(path: &Path) -> Option<PathBuf> {
    if let Ok(real) = path.canonicalize() {
        return Some(real);
    }
    let name = path.file_name()?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Some(parent.canonicalize().ok()?.join(name))
}

/// Records a database about to be opened; refused while a backup is being written there.
pub fn remember(db: &Path) -> Result<()> {
    let Some(real) = real_path(db) else { return Ok(()) };
    let mut files = files();
    if files.backups.contains(&real) {
        return Err(Error::Sqlite {
            code: "SQLITE_CANTOPEN",
            message: format!(
                "cannot open database {}: a backup is being written to this path; open it once the backup finished",
                db.display()
            ),
        });
    }
    files.open.push(real);
    Ok(())
}

/// Forgets one `remember` of `db`.
pub fn forget(db: &Path) {
    if let Some(real) = real_path(db) {
        let mut files = files();
        if let Some(i) = files.open.iter().position(|p| *p == real) {
            files.open.swap_remove(i);
        }
    }
}

/// The open database (or its WAL or shared-memory file) that writing to `dest` would replace.
fn clash(files: &Files, dest: &Path) -> Option<PathBuf> {
    let dest_real = real_path(dest)?;
    let dest_id = file_identity(dest);
    for db in &files.open {
        for suffix in ["", "-wal", "-shm"] {
            let mut file = db.clone().into_os_string();
            file.push(suffix);
            let file = PathBuf::from(file);
            let same_inode = dest_id.is_some() && file_identity(&file) == dest_id;
            if file == dest_real || same_inode {
                return Some(file);
            }
        }
    }
    None
}

fn refused(dest: &Path, live: &Path) -> Error {
    Error::invalid(format!(
        "the backup destination {} is {}, which this process has open; choose another path",
        dest.display(),
        live.display()
    ))
}

/// A backup's claim on its destination: no database opens there until it is dropped.
pub struct Claim {
    real: PathBuf,
}

impl Claim {
    /// Claims `dest` for a backup, unless it is (or belongs to) an open database.
    pub fn new(dest: &Path) -> Result<Claim> {
        let real = real_path(dest)
            .ok_or_else(|| Error::invalid(format!("the backup destination {} has no folder", dest.display())))?;
        let mut files = files();
        if let Some(live) = clash(&files, dest) {
            return Err(refused(dest, &live));
        }
        files.backups.push(real.clone());
        Ok(Claim { real })
    }

    /// Renames the finished copy over `dest`, checking once more under the same lock that
    /// opening takes, so nothing opened `dest` in between.
    pub fn finish(&self, partial: &Path, dest: &Path) -> Result<()> {
        let files = files();
        if let Some(live) = clash(&files, dest) {
            return Err(refused(dest, &live));
        }
        std::fs::rename(partial, dest)
            .map_err(|e| Error::invalid(format!("cannot move the backup to {}: {e}", dest.display())))
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut files = files();
        if let Some(i) = files.backups.iter().position(|p| *p == self.real) {
            files.backups.swap_remove(i);
        }
    }
}
