//! `PoolConfig`: every default in one place, `POOL_*` environment variables over them, constructor
//! options over those. A malformed or out-of-range value is an `INVALID_CONFIG` error naming the
//! variable or option; nothing falls back silently.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// How hard SQLite syncs on commit. NORMAL (the default) is safe against process crashes in WAL
/// mode; FULL also survives power loss, at the cost of an fsync per commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    Off,
    Normal,
    Full,
    Extra,
}

impl Synchronous {
    pub fn pragma_value(self) -> &'static str {
        match self {
            Synchronous::Off => "OFF",
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
            Synchronous::Extra => "EXTRA",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PoolConfig {
    pub max_readers: usize,
    pub max_workers: usize,
    /// Bytes of the database file each connection may memory-map.
    pub mmap_size: i64,
    /// SQLite `cache_size`: pages when positive, KiB when negative.
    pub cache_size: i64,
    pub enable_backup: bool,
    pub backup_interval: Duration,
    pub backup_dir: PathBuf,
    pub backup_keep: usize,
    /// Longest a job may wait in its queue before it starts; past it, `POOL_TIMEOUT`.
    pub acquire_timeout: Duration,
    pub health_check_interval: Duration,
    /// Longest a single statement may run before it is interrupted with `QUERY_TIMEOUT`.
    pub query_timeout: Duration,
    /// How long SQLite waits on a lock held by another process before `SQLITE_BUSY`.
    pub busy_timeout: Duration,
    /// Jobs each queue (read, write, worker) may hold before `POOL_QUEUE_FULL`.
    pub max_queue: usize,
    /// Writes committed together in one transaction at most.
    pub max_batch: usize,
    /// WAL size in bytes past which the writer runs a TRUNCATE checkpoint.
    pub wal_limit: u64,
    pub synchronous: Synchronous,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_readers: 6,
            max_workers: 3,
            mmap_size: 268_435_456,
            cache_size: -64_000,
            enable_backup: false,
            backup_interval: Duration::from_millis(3_600_000),
            backup_dir: PathBuf::from("./data/backups"),
            backup_keep: 5,
            acquire_timeout: Duration::from_millis(30_000),
            health_check_interval: Duration::from_millis(60_000),
            query_timeout: Duration::from_millis(30_000),
            busy_timeout: Duration::from_millis(5_000),
            max_queue: 200_000,
            max_batch: 4_096,
            wal_limit: 64 * 1024 * 1024,
            synchronous: Synchronous::Normal,
        }
    }
}

/// One setting: its option name (camelCase, as JavaScript passes it) and its variable.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub option: &'static str,
    pub variable: &'static str,
}

pub const SETTINGS: &[Setting] = &[
    Setting {
        option: "maxReaders",
        variable: "POOL_MAX_READERS",
    },
    Setting {
        option: "maxWorkers",
        variable: "POOL_MAX_WORKERS",
    },
    Setting {
        option: "mmapSize",
        variable: "POOL_MMAP_SIZE",
    },
    Setting {
        option: "cacheSize",
        variable: "POOL_CACHE_SIZE",
    },
    Setting {
        option: "enableBackup",
        variable: "POOL_ENABLE_BACKUP",
    },
    Setting {
        option: "backupInterval",
        variable: "POOL_BACKUP_INTERVAL",
    },
    Setting {
        option: "backupDir",
        variable: "POOL_BACKUP_DIR",
    },
    Setting {
        option: "backupKeep",
        variable: "POOL_BACKUP_KEEP",
    },
    Setting {
        option: "acquireTimeout",
        variable: "POOL_ACQUIRE_TIMEOUT",
    },
    Setting {
        option: "healthCheckInterval",
        variable: "POOL_HEALTH_CHECK",
    },
    Setting {
        option: "queryTimeout",
        variable: "POOL_QUERY_TIMEOUT",
    },
    Setting {
        option: "busyTimeout",
        variable: "POOL_BUSY_TIMEOUT",
    },
    Setting {
        option: "maxQueue",
        variable: "POOL_MAX_QUEUE",
    },
    Setting {
        option: "maxBatch",
        variable: "POOL_MAX_BATCH",
    },
    Setting {
        option: "walLimit",
        variable: "POOL_WAL_LIMIT",
    },
    Setting {
        option: "synchronous",
        variable: "POOL_SYNCHRONOUS",
    },
];

/// A raw value from an environment variable or a constructor option.
#[derive(Debug, Clone, PartialEq)]
pub enum RawValue {
    Text(String),
    Number(f64),
    Bool(bool),
}

impl PoolConfig {
    /// Defaults, then `POOL_*` variables from the process environment.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Defaults, then variables found by `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut config = PoolConfig::default();
        for setting in SETTINGS {
            if let Some(text) = lookup(setting.variable) {
                config.set(setting, setting.variable, RawValue::Text(text))?;
            }
        }
        Ok(config)
    }

    /// Applies one constructor option by its camelCase name; unknown names are ignored so an
    /// options object shared with other code still works.
    pub fn apply_option(&mut self, option: &str, value: RawValue) -> Result<()> {
        match SETTINGS.iter().find(|s| s.option == option) {
            Some(setting) => self.set(setting, setting.option, value),
            None => Ok(()),
        }
    }

    fn set(&mut self, setting: &Setting, name: &str, value: RawValue) -> Result<()> {
        let int = |min: i64, max: i64| integer(name, &value, min, max);
        let millis = |min: i64| int(min, 7 * 24 * 3_600_000).map(|v| Duration::from_millis(v as u64));
        match setting.option {
            "maxReaders" => self.max_readers = int(1, 256)? as usize,
            "maxWorkers" => self.max_workers = int(1, 256)? as usize,
            "mmapSize" => self.mmap_size = int(0, 1 << 40)?,
            "cacheSize" => self.cache_size = int(-(1 << 40), 1 << 40)?,
            "enableBackup" => self.enable_backup = boolean(name, &value)?,
            "backupInterval" => self.backup_interval = millis(1_000)?,
            "backupDir" => self.backup_dir = PathBuf::from(text(name, &value)?),
            "backupKeep" => self.backup_keep = int(1, 10_000)? as usize,
            "acquireTimeout" => self.acquire_timeout = millis(1)?,
            "healthCheckInterval" => self.health_check_interval = millis(10)?,
            "queryTimeout" => self.query_timeout = millis(1)?,
            "busyTimeout" => self.busy_timeout = millis(0)?,
            "maxQueue" => self.max_queue = int(1, 100_000_000)? as usize,
            "maxBatch" => self.max_batch = int(1, 1_000_000)? as usize,
            "walLimit" => self.wal_limit = int(4096, 1 << 40)? as u64,
            "synchronous" => {
                self.synchronous = match text(name, &value)?.to_ascii_uppercase().as_str() {
                    "OFF" => Synchronous::Off,
                    "NORMAL" => Synchronous::Normal,
                    "FULL" => Synchronous::Full,
                    "EXTRA" => Synchronous::Extra,
                    other => {
                        return Err(Error::config(
                            name,
                            format!("\"{other}\" is not one of OFF, NORMAL, FULL, EXTRA"),
                        ))
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn integer(name: &str, value: &RawValue, min: i64, max: i64) -> Result<i64> {
    let parsed = match value {
        RawValue::Text(t) => t
            .trim()
            .parse::<i64>()
            .map_err(|_| Error::config(name, format!("\"{t}\" is not a whole number (expected {min}..={max})")))?,
        RawValue::Number(n) if n.fract() == 0.0 && n.is_finite() && n.abs() < 9.0e15 => *n as i64,
        RawValue::Number(n) => {
            return Err(Error::config(
                name,
                format!("{n} is not a whole number (expected {min}..={max})"),
            ))
        }
        RawValue::Bool(b) => {
            return Err(Error::config(
                name,
                format!("{b} is not a number (expected {min}..={max})"),
            ))
        }
    };
    if parsed < min || parsed > max {
        return Err(Error::config(
            name,
            format!("{parsed} is out of range (expected {min}..={max})"),
        ));
    }
    Ok(parsed)
}

fn boolean(name: &str, value: &RawValue) -> Result<bool> {
    match value {
        RawValue::Bool(b) => Ok(*b),
        RawValue::Text(t) => match t.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(Error::config(
                name,
                format!("\"{t}\" is not a boolean (true/false/1/0)"),
            )),
        },
        RawValue::Number(n) => Err(Error::config(name, format!("{n} is not a boolean (true/false)"))),
    }
}

fn text(name: &str, value: &RawValue) -> Result<String> {
    match value {
        RawValue::Text(t) if !t.trim().is_empty() => Ok(t.clone()),
        other => Err(Error::config(name, format!("{other:?} is not a non-empty string"))),
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use std::collections::HashMap;

    fn from_vars(vars: &[(&str, &str)]) -> Result<PoolConfig> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        PoolConfig::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_match_the_design_table() {
        let c = PoolConfig::default();
        assert_eq!((c.max_readers, c.max_workers), (6, 3));
        assert_eq!((c.mmap_size, c.cache_size), (268_435_456, -64_000));
        assert!(!c.enable_backup);
        assert_eq!(c.backup_interval, Duration::from_secs(3600));
        assert_eq!(c.acquire_timeout, Duration::from_secs(30));
        assert_eq!(c.health_check_interval, Duration::from_secs(60));
    }

    #[test]
    fn reads_variables() -> Result<()> {
        let c = from_vars(&[
            ("POOL_MAX_READERS", "2"),
            ("POOL_ENABLE_BACKUP", "true"),
            ("POOL_SYNCHRONOUS", "full"),
            ("POOL_ACQUIRE_TIMEOUT", "250"),
        ])?;
        assert_eq!(c.max_readers, 2);
        assert!(c.enable_backup);
        assert_eq!(c.synchronous, Synchronous::Full);
        assert_eq!(c.acquire_timeout, Duration::from_millis(250));
        Ok(())
    }

    #[test]
    fn bad_variables_name_themselves() {
        for bad in ["abc", "0", "-3", "1.5", ""] {
            let err = from_vars(&[("POOL_MAX_READERS", bad)]).expect_err(bad);
            assert_eq!(err.code(), "INVALID_CONFIG");
            assert!(err.to_string().contains("POOL_MAX_READERS"), "{err}");
        }
        let err = from_vars(&[("POOL_ENABLE_BACKUP", "maybe")]).expect_err("bool");
        assert!(err.to_string().contains("POOL_ENABLE_BACKUP"));
    }

    #[test]
    fn options_override_and_name_themselves() -> Result<()> {
        let mut c = from_vars(&[("POOL_MAX_READERS", "2")])?;
        c.apply_option("maxReaders", RawValue::Number(4.0))?;
        assert_eq!(c.max_readers, 4);
        c.apply_option("somethingElse", RawValue::Bool(true))?;
        let err = c.apply_option("maxWorkers", RawValue::Number(0.0)).expect_err("zero");
        assert!(err.to_string().contains("maxWorkers"), "{err}");
        Ok(())
    }
}
