//! The database files this process has open, so a backup can refuse to write over any of them
//! (the live file, its WAL or shared-memory file), however its destination is spelled.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::sqlite::open::file_identity;

static OPEN: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn open_paths() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    OPEN.lock().unwrap_or_else(|p| p.into_inner())
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

/// Records an open database (by its real path) until `forget` is called with the same path.
pub fn remember(db: &Path) {
    if let Some(real) = real_path(db) {
        open_paths().push(real);
    }
}

pub fn forget(db: &Path) {
    if let Some(real) = real_path(db) {
        let mut open = open_paths();
        if let Some(i) = open.iter().position(|p| *p == real) {
            open.swap_remove(i);
        }
    }
}

/// The open database (or its WAL or shared-memory file) that writing to `dest` would replace.
pub fn clash(dest: &Path) -> Option<PathBuf> {
    let dest_real = real_path(dest)?;
    let dest_id = file_identity(dest);
    let open = open_paths();
    for db in open.iter() {
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
