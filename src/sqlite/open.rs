//! Opening the writer's read-write connection and the read-only connections of readers and
//! workers, with the pragmas each needs.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::config::PoolConfig;
use crate::error::{Error, Result};
use crate::sqlite::guard::{self, Role};

const STATEMENT_CACHE: usize = 128;

/// Where the database lives. `:memory:` becomes a private temporary file so that readers on other
/// connections see the writer's commits; it is deleted when the pool closes.
#[derive(Debug, Clone)]
pub struct DbPath {
    pub path: PathBuf,
    pub ephemeral: bool,
    /// Device and inode of the database file and of its WAL when the writer opened them, to
    /// notice either being deleted or replaced.
    pub identity: Option<(u64, u64)>,
    pub wal_identity: Option<(u64, u64)>,
}

pub fn file_identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

impl DbPath {
    pub fn resolve(path: &str) -> Result<DbPath> {
        if path.is_empty() {
            return Err(Error::invalid(
                "the database path is empty; pass a file path or \":memory:\"",
            ));
        }
        if path.contains('\0') {
            return Err(Error::invalid("the database path contains a NUL character"));
        }
        if path == ":memory:" {
            return Ok(DbPath {
                path: super::ephemeral::create()?,
                ephemeral: true,
                identity: None,
                wal_identity: None,
            });
        }
        if path.starts_with("file:") {
            return Err(Error::invalid(
                "URI filenames are not supported; pass a plain file path",
            ));
        }
        // Absolute now: SQLite resolved the name when it opened, and every later look at the
        // file (identity, WAL size, a reopened connection) must find the same one after a chdir.
        let path = std::path::absolute(path).map_err(|e| cant_open(Path::new(path), e))?;
        Ok(DbPath {
            path,
            ephemeral: false,
            identity: None,
            wal_identity: None,
        })
    }

    /// Records which files the path names now; call once the writer has opened (created) them.
    pub fn pin(&mut self) {
        self.identity = file_identity(&self.path);
        self.wal_identity = file_identity(&crate::pool::wal::wal_path(&self.path));
    }

    /// True when the path no longer names the file the pool opened (deleted, or replaced by
    /// another file), or the WAL was deleted or replaced. SQLite in WAL mode would go on writing
    /// into the unlinked files, so every write acknowledged from then on would vanish.
    pub fn moved(&self) -> bool {
        (self.identity.is_some() && file_identity(&self.path) != self.identity)
            || (self.wal_identity.is_some()
                && file_identity(&crate::pool::wal::wal_path(&self.path)) != self.wal_identity)
    }

    /// Deletes an ephemeral database and its WAL files; a file database is left alone.
    pub fn remove_if_ephemeral(&self) {
        if self.ephemeral {
            super::ephemeral::remove(&self.path);
        }
    }
}

fn cant_open(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::Sqlite {
        code: "SQLITE_CANTOPEN",
        message: format!("cannot open database {}: {why}", path.display()),
    }
}

/// Opens (creating it and its directory if needed) the only read-write connection, in WAL mode.
pub fn open_writer(db: &DbPath, config: &PoolConfig) -> Result<Connection> {
    if let Some(dir) = db.path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| cant_open(&db.path, e))?;
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(&db.path, flags).map_err(|e| annotate(&db.path, e))?;
    conn.busy_timeout(config.busy_timeout)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(|e| annotate(&db.path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(cant_open(
            &db.path,
            format!("WAL mode is unavailable (journal_mode is {mode})"),
        ));
    }
    conn.pragma_update(None, "synchronous", config.synchronous.pragma_value())?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "journal_size_limit", config.wal_limit as i64)?;
    configure_common(&conn, config)?;
    let mut conn = conn;
    guard::install(&mut conn, Role::Writer)?;
    Ok(conn)
}

/// Opens a read-only connection for a reader or worker thread.
pub fn open_reader(db: &DbPath, config: &PoolConfig) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(&db.path, flags).map_err(|e| annotate(&db.path, e))?;
    conn.busy_timeout(config.busy_timeout)?;
    conn.pragma_update(None, "query_only", true)?;
    configure_common(&conn, config)?;
    let mut conn = conn;
    guard::install(&mut conn, Role::Reader)?;
    Ok(conn)
}

fn configure_common(conn: &Connection, config: &PoolConfig) -> Result<()> {
    conn.pragma_update(None, "cache_size", config.cache_size)?;
    conn.pragma_update(None, "mmap_size", config.mmap_size)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Reading the schema now turns a file that is not a database into an error at open.
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
        .map_err(|e| annotate(&db_name(conn), e))?;
    Ok(())
}

fn db_name(conn: &Connection) -> PathBuf {
    conn.path().map(PathBuf::from).unwrap_or_default()
}

/// Adds the path to SQLite's open errors, which otherwise do not say which file failed.
fn annotate(path: &Path, err: rusqlite::Error) -> Error {
    match Error::from(err) {
        Error::Sqlite { code, message } => Error::Sqlite {
            code,
            message: format!("{message} (database {})", path.display()),
        },
        other => other,
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn temp_db(name: &str) -> DbPath {
        let dir = crate::test_dir().join(format!("sp-open-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        DbPath {
            path: dir.join("nested").join("x.db"),
            ephemeral: false,
            identity: None,
            wal_identity: None,
        }
    }

    #[test]
    fn writer_creates_directory_and_uses_wal() -> Result<()> {
        let db = temp_db("wal");
        let conn = open_writer(&db, &PoolConfig::default())?;
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        assert_eq!(mode, "wal");
        let fk: i64 = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
        assert_eq!(fk, 1);
        Ok(())
    }

    #[test]
    fn reader_cannot_write() -> Result<()> {
        let db = temp_db("ro");
        let w = open_writer(&db, &PoolConfig::default())?;
        w.execute_batch("CREATE TABLE t(x)")?;
        let r = open_reader(&db, &PoolConfig::default())?;
        let err = r.execute("INSERT INTO t VALUES (1)", []).expect_err("read-only");
        assert!(Error::from(err).code().starts_with("SQLITE_READONLY"));
        Ok(())
    }

    #[test]
    fn garbage_file_is_a_clear_error() {
        let db = temp_db("garbage");
        std::fs::create_dir_all(db.path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&db.path, vec![7u8; 8192]).expect("write");
        let err = open_writer(&db, &PoolConfig::default()).expect_err("not a db");
        assert_eq!(err.code(), "SQLITE_NOTADB");
    }

    #[test]
    fn a_pinned_path_notices_deletion_and_replacement() -> Result<()> {
        let mut db = temp_db("moved");
        drop(open_writer(&db, &PoolConfig::default())?);
        assert!(!db.moved(), "an unpinned path never reports a move");
        db.pin();
        assert!(!db.moved());
        let copy = db.path.with_extension("copy");
        std::fs::copy(&db.path, &copy).expect("copy");
        std::fs::rename(&copy, &db.path).expect("replace");
        assert!(db.moved(), "replaced by another file");
        db.pin();
        std::fs::remove_file(&db.path).expect("delete");
        assert!(db.moved(), "deleted");
        Ok(())
    }
}
