//! `PoolConfig` and `OPTIONS`, the one table of settings: each option's name, `POOL_*` variable,
//! accepted values, default and field. Defaults, then `POOL_*` environment variables over them,
//! then constructor options over those. A malformed or out-of-range value is an `INVALID_CONFIG`
//! error naming the variable or option; nothing falls back silently.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// How hard SQLite syncs on commit. NORMAL (the default) is safe against process crashes in WAL
/// mode; FULL also survives power loss, at the cost of an fsync per commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    Off,
    // Only the placeholder `PoolConfig::unset()` needs; the real default is in `OPTIONS`.
    #[default]
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

/// libpq's `sslmode` for PostgreSQL connections (`src/pg/tls.rs` says what each one checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgSslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl PgSslMode {
    /// Each mode by its libpq name, in order of what it demands.
    pub const ALL: [(&'static str, PgSslMode); 5] = [
        ("disable", PgSslMode::Disable),
        ("prefer", PgSslMode::Prefer),
        ("require", PgSslMode::Require),
        ("verify-ca", PgSslMode::VerifyCa),
        ("verify-full", PgSslMode::VerifyFull),
    ];

    /// The mode libpq calls `name` (any case), as a URL's `sslmode` gives it.
    pub fn from_name(name: &str) -> Option<PgSslMode> {
        Self::ALL
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.trim()))
            .map(|(_, mode)| *mode)
    }

    pub fn name(self) -> &'static str {
        match self {
            PgSslMode::Disable => "disable",
            PgSslMode::Prefer => "prefer",
            PgSslMode::Require => "require",
            PgSslMode::VerifyCa => "verify-ca",
            PgSslMode::VerifyFull => "verify-full",
        }
    }
}

/// Declares `PoolConfig` and `PoolConfig::unset()`, whose placeholder fields the defaults in
/// `OPTIONS` then overwrite, so that a new field is written in the struct alone.
macro_rules! pool_config {
    ($(#[$outer:meta])* pub struct PoolConfig { $($(#[$attr:meta])* pub $field:ident: $ty:ty,)* }) => {
        $(#[$outer])*
        pub struct PoolConfig {
            $($(#[$attr])* pub $field: $ty,)*
        }

        impl PoolConfig {
            fn unset() -> Self {
                PoolConfig {
                    $($field: Default::default(),)*
                }
            }
        }
    };
}

pool_config! {
    /// Every setting of a pool; each field is set by exactly one entry of `OPTIONS`.
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
        /// PostgreSQL: reader connections (the writer has one of its own).
        pub pg_pool_size: usize,
        /// PostgreSQL: how long opening a connection may take.
        pub pg_connect_timeout: Duration,
        /// PostgreSQL: a connection older than this is replaced before its next job.
        pub pg_max_lifetime: Duration,
        /// PostgreSQL: false sends every statement unnamed with its types (PgBouncer's
        /// transaction pooling), true prepares each once per connection.
        pub pg_prepared_statements: bool,
        /// PostgreSQL: libpq's sslmode; `None` leaves it to the URL's, else prefer.
        pub pg_ssl_mode: Option<PgSslMode>,
        /// PostgreSQL: a PEM file of the root certificates to trust; `None` leaves it to the
        /// URL's sslrootcert.
        pub pg_ssl_root_cert: Option<PathBuf>,
    }
}

impl Default for PoolConfig {
    /// Each option's default, from `OPTIONS`.
    fn default() -> Self {
        let mut config = PoolConfig::unset();
        for spec in OPTIONS {
            spec.kind.set_default(&mut config);
        }
        config
    }
}

/// One setting: its option name (camelCase, as JavaScript passes it), its variable, what it
/// accepts with its default and its field, and a line of documentation.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    pub option: &'static str,
    pub variable: &'static str,
    pub kind: Kind,
    pub doc: &'static str,
}

/// What an option accepts, its default and the setter storing it. The setter's argument is the
/// parsed type of its kind, so an entry cannot pair a parser with a field of another type.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A whole number in `min..=max`.
    Integer {
        min: i64,
        max: i64,
        default: i64,
        set: fn(&mut PoolConfig, i64),
    },
    /// Whole milliseconds in `min..=max` (`min` is never negative).
    Millis {
        min: i64,
        max: i64,
        default: i64,
        set: fn(&mut PoolConfig, Duration),
    },
    /// true/false, or as text true/false/1/0/yes/no/on/off.
    Boolean {
        default: bool,
        set: fn(&mut PoolConfig, bool),
    },
    /// Any text that is not blank.
    Text {
        default: &'static str,
        set: fn(&mut PoolConfig, &str),
    },
    /// One of the words, case-insensitively; each word has its own setter.
    Words {
        words: &'static [Word],
        default: &'static str,
    },
    /// One of the words, case-insensitively, or unset (the field stays `None`): something else
    /// decides then, as the URL does for PostgreSQL's TLS settings.
    OptionalWords { words: &'static [Word] },
    /// Any text that is not blank, or unset (the field stays `None`).
    OptionalText { set: fn(&mut PoolConfig, &str) },
}

/// A word of a `Kind::Words` option and the setter storing it.
pub type Word = (&'static str, fn(&mut PoolConfig));

/// The longest duration any millisecond option takes: a week.
const WEEK_MS: i64 = 7 * 24 * 3_600_000;

/// Every setting. Adding one = a field in `PoolConfig` and an entry here; the README table and
/// `PoolOptions` in src/js/types.d.ts are checked against this list by the tests below.
pub const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        option: "maxReaders",
        variable: "POOL_MAX_READERS",
        kind: Kind::Integer {
            min: 1,
            max: 256,
            default: 6,
            set: |c, v| c.max_readers = v as usize,
        },
        doc: "Reader connections, each on its own thread.",
    },
    OptionSpec {
        option: "maxWorkers",
        variable: "POOL_MAX_WORKERS",
        kind: Kind::Integer {
            min: 1,
            max: 256,
            default: 3,
            set: |c, v| c.max_workers = v as usize,
        },
        doc: "Worker connections for heavy queries, each on its own thread.",
    },
    OptionSpec {
        option: "mmapSize",
        variable: "POOL_MMAP_SIZE",
        kind: Kind::Integer {
            min: 0,
            max: 1 << 40,
            default: 268_435_456,
            set: |c, v| c.mmap_size = v,
        },
        doc: "Bytes of the database file each connection may memory-map (0 turns it off).",
    },
    OptionSpec {
        option: "cacheSize",
        variable: "POOL_CACHE_SIZE",
        kind: Kind::Integer {
            min: -(1 << 40),
            max: 1 << 40,
            default: -64_000,
            set: |c, v| c.cache_size = v,
        },
        doc: "SQLite cache_size per connection: pages when positive, KiB when negative.",
    },
    OptionSpec {
        option: "enableBackup",
        variable: "POOL_ENABLE_BACKUP",
        kind: Kind::Boolean {
            default: false,
            set: |c, v| c.enable_backup = v,
        },
        doc: "Whether the pool backs the database up every backupInterval.",
    },
    OptionSpec {
        option: "backupInterval",
        variable: "POOL_BACKUP_INTERVAL",
        kind: Kind::Millis {
            min: 1_000,
            max: WEEK_MS,
            default: 3_600_000,
            set: |c, v| c.backup_interval = v,
        },
        doc: "Milliseconds between periodic backups.",
    },
    OptionSpec {
        option: "backupDir",
        variable: "POOL_BACKUP_DIR",
        kind: Kind::Text {
            default: "./data/backups",
            set: |c, v| c.backup_dir = PathBuf::from(v),
        },
        doc: "Folder the periodic backups are written to.",
    },
    OptionSpec {
        option: "backupKeep",
        variable: "POOL_BACKUP_KEEP",
        kind: Kind::Integer {
            min: 1,
            max: 10_000,
            default: 5,
            set: |c, v| c.backup_keep = v as usize,
        },
        doc: "Periodic backups kept; older ones are removed.",
    },
    OptionSpec {
        option: "acquireTimeout",
        variable: "POOL_ACQUIRE_TIMEOUT",
        kind: Kind::Millis {
            min: 1,
            max: WEEK_MS,
            default: 30_000,
            set: |c, v| c.acquire_timeout = v,
        },
        doc: "Milliseconds a job may wait in its queue before POOL_TIMEOUT.",
    },
    OptionSpec {
        option: "healthCheckInterval",
        variable: "POOL_HEALTH_CHECK",
        kind: Kind::Millis {
            min: 10,
            max: WEEK_MS,
            default: 60_000,
            set: |c, v| c.health_check_interval = v,
        },
        doc: "Milliseconds between health checks of every connection.",
    },
    OptionSpec {
        option: "queryTimeout",
        variable: "POOL_QUERY_TIMEOUT",
        kind: Kind::Millis {
            min: 1,
            max: WEEK_MS,
            default: 30_000,
            set: |c, v| c.query_timeout = v,
        },
        doc: "Milliseconds a statement may run before it is interrupted with QUERY_TIMEOUT.",
    },
    OptionSpec {
        option: "busyTimeout",
        variable: "POOL_BUSY_TIMEOUT",
        kind: Kind::Millis {
            min: 0,
            max: WEEK_MS,
            default: 5_000,
            set: |c, v| c.busy_timeout = v,
        },
        doc: "Milliseconds SQLite waits on another process's lock before SQLITE_BUSY.",
    },
    OptionSpec {
        option: "maxQueue",
        variable: "POOL_MAX_QUEUE",
        kind: Kind::Integer {
            min: 1,
            max: 100_000_000,
            default: 200_000,
            set: |c, v| c.max_queue = v as usize,
        },
        doc: "Jobs each queue (read, write, worker) may hold before POOL_QUEUE_FULL.",
    },
    OptionSpec {
        option: "maxBatch",
        variable: "POOL_MAX_BATCH",
        kind: Kind::Integer {
            min: 1,
            max: 1_000_000,
            default: 4_096,
            set: |c, v| c.max_batch = v as usize,
        },
        doc: "Writes committed together in one transaction at most.",
    },
    OptionSpec {
        option: "walLimit",
        variable: "POOL_WAL_LIMIT",
        kind: Kind::Integer {
            min: 4096,
            max: 1 << 40,
            default: 64 * 1024 * 1024,
            set: |c, v| c.wal_limit = v as u64,
        },
        doc: "WAL bytes past which the writer runs a TRUNCATE checkpoint.",
    },
    OptionSpec {
        option: "synchronous",
        variable: "POOL_SYNCHRONOUS",
        kind: Kind::Words {
            words: &[
                ("OFF", |c| c.synchronous = Synchronous::Off),
                ("NORMAL", |c| c.synchronous = Synchronous::Normal),
                ("FULL", |c| c.synchronous = Synchronous::Full),
                ("EXTRA", |c| c.synchronous = Synchronous::Extra),
            ],
            default: "NORMAL",
        },
        doc: "How hard SQLite syncs on commit: NORMAL survives crashes in WAL mode, FULL power loss.",
    },
    OptionSpec {
        option: "pgPoolSize",
        variable: "POOL_PG_POOL_SIZE",
        kind: Kind::Integer {
            min: 1,
            max: 256,
            default: 4,
            set: |c, v| c.pg_pool_size = v as usize,
        },
        doc: "PostgreSQL: reader connections, each on its own thread (the writer has one more).",
    },
    OptionSpec {
        option: "pgConnectTimeout",
        variable: "POOL_PG_CONNECT_TIMEOUT",
        kind: Kind::Millis {
            min: 100,
            max: 600_000,
            default: 5_000,
            set: |c, v| c.pg_connect_timeout = v,
        },
        doc: "PostgreSQL: milliseconds opening a connection may take.",
    },
    OptionSpec {
        option: "pgMaxLifetime",
        variable: "POOL_PG_MAX_LIFETIME",
        kind: Kind::Millis {
            min: 1_000,
            max: WEEK_MS,
            default: 1_800_000,
            set: |c, v| c.pg_max_lifetime = v,
        },
        doc: "PostgreSQL: milliseconds after which a connection is replaced before its next job.",
    },
    OptionSpec {
        option: "pgPreparedStatements",
        variable: "POOL_PG_PREPARED_STATEMENTS",
        kind: Kind::Boolean {
            default: true,
            set: |c, v| c.pg_prepared_statements = v,
        },
        doc: "PostgreSQL: false sends statements unnamed, for PgBouncer's transaction pooling.",
    },
    OptionSpec {
        option: "pgSslMode",
        variable: "POOL_PG_SSL_MODE",
        kind: Kind::OptionalWords {
            words: &[
                ("disable", |c| c.pg_ssl_mode = Some(PgSslMode::Disable)),
                ("prefer", |c| c.pg_ssl_mode = Some(PgSslMode::Prefer)),
                ("require", |c| c.pg_ssl_mode = Some(PgSslMode::Require)),
                ("verify-ca", |c| c.pg_ssl_mode = Some(PgSslMode::VerifyCa)),
                ("verify-full", |c| c.pg_ssl_mode = Some(PgSslMode::VerifyFull)),
            ],
        },
        doc: "PostgreSQL: libpq's sslmode, over the URL's; unset, the URL's or prefer.",
    },
    OptionSpec {
        option: "pgSslRootCert",
        variable: "POOL_PG_SSL_ROOT_CERT",
        kind: Kind::OptionalText {
            set: |c, v| c.pg_ssl_root_cert = Some(PathBuf::from(v)),
        },
        doc: "PostgreSQL: PEM file of the root certificates to trust, over the URL's sslrootcert.",
    },
];

/// What `default_text` says of an option that is unset by default.
pub const UNSET: &str = "none";

impl Kind {
    fn set_default(self, config: &mut PoolConfig) {
        match self {
            Kind::Integer { default, set, .. } => set(config, default),
            Kind::Millis { default, set, .. } => set(config, millis(default)),
            Kind::Boolean { default, set } => set(config, default),
            Kind::Text { default, set } => set(config, default),
            Kind::Words { words, default } => {
                // `the_table_is_well_formed` checks that every default is one of its words.
                if let Some((_, set)) = words.iter().find(|(word, _)| *word == default) {
                    set(config)
                }
            }
            // `PoolConfig::unset()` left the field `None`.
            Kind::OptionalWords { .. } | Kind::OptionalText { .. } => {}
        }
    }

    /// The default as the README writes it: a number (milliseconds for durations) or a word.
    pub fn default_text(self) -> String {
        match self {
            Kind::Integer { default, .. } | Kind::Millis { default, .. } => default.to_string(),
            Kind::Boolean { default, .. } => default.to_string(),
            Kind::Text { default, .. } | Kind::Words { default, .. } => default.to_string(),
            Kind::OptionalWords { .. } | Kind::OptionalText { .. } => UNSET.to_string(),
        }
    }
}

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
        for spec in OPTIONS {
            if let Some(text) = lookup(spec.variable) {
                config.set(spec, spec.variable, RawValue::Text(text))?;
            }
        }
        Ok(config)
    }

    /// Applies one constructor option by its camelCase name; unknown names are ignored so an
    /// options object shared with other code still works.
    pub fn apply_option(&mut self, option: &str, value: RawValue) -> Result<()> {
        match OPTIONS.iter().find(|s| s.option == option) {
            Some(spec) => self.set(spec, spec.option, value),
            None => Ok(()),
        }
    }

    /// Parses `value` as `spec` says and stores it; errors name `name` (variable or option).
    fn set(&mut self, spec: &OptionSpec, name: &str, value: RawValue) -> Result<()> {
        match spec.kind {
            Kind::Integer { min, max, set, .. } => set(self, integer(name, &value, min, max)?),
            Kind::Millis { min, max, set, .. } => set(self, millis(integer(name, &value, min, max)?)),
            Kind::Boolean { set, .. } => set(self, boolean(name, &value)?),
            Kind::Text { set, .. } | Kind::OptionalText { set } => set(self, &text(name, &value)?),
            Kind::Words { words, .. } | Kind::OptionalWords { words } => one_of(name, &value, words)?(self),
        }
        Ok(())
    }
}

/// The setter of the word `value` is.
fn one_of(name: &str, value: &RawValue, words: &[Word]) -> Result<fn(&mut PoolConfig)> {
    let word = text(name, value)?.to_ascii_uppercase();
    match words.iter().find(|(w, _)| w.eq_ignore_ascii_case(&word)) {
        Some((_, set)) => Ok(*set),
        None => {
            let all: Vec<&str> = words.iter().map(|(w, _)| *w).collect();
            Err(Error::config(
                name,
                format!("\"{word}\" is not one of {}", all.join(", ")),
            ))
        }
    }
}

/// Milliseconds already checked against a range whose `min` is not negative.
fn millis(ms: i64) -> Duration {
    Duration::from_millis(ms as u64)
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
    use std::collections::{BTreeMap, HashMap, HashSet};

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
    fn defaults_are_the_former_literals() {
        // The struct literal `Default` returned before the defaults moved into `OPTIONS`.
        #[allow(clippy::needless_update, reason = "so later fields need no edit here")]
        let before = PoolConfig {
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
            ..PoolConfig::default()
        };
        assert_eq!(PoolConfig::default(), before);
    }

    #[test]
    fn the_table_is_well_formed() {
        let mut options = HashSet::new();
        let mut variables = HashSet::new();
        for spec in OPTIONS {
            let name = spec.option;
            assert!(options.insert(name), "{name} twice");
            assert!(variables.insert(spec.variable), "{} twice", spec.variable);
            assert!(
                name.starts_with(|c: char| c.is_ascii_lowercase()) && name.chars().all(|c| c.is_ascii_alphanumeric()),
                "{name} is not camelCase"
            );
            assert!(spec.variable.starts_with("POOL_"), "{}", spec.variable);
            assert!(
                !spec.doc.is_empty() && !spec.doc.contains('\n'),
                "{name}: doc must be one line"
            );
            match spec.kind {
                Kind::Integer { min, max, default, .. } => assert!(min <= default && default <= max, "{name}"),
                Kind::Millis { min, max, default, .. } => {
                    assert!(0 <= min && min <= default && default <= max, "{name}")
                }
                Kind::Boolean { .. } => {}
                Kind::Text { default, .. } => assert!(!default.trim().is_empty(), "{name}"),
                Kind::Words { words, default } => {
                    assert!(
                        words.iter().any(|(w, _)| *w == default),
                        "{name}: {default} is not a word"
                    );
                    let distinct: HashSet<String> = words.iter().map(|(w, _)| w.to_ascii_uppercase()).collect();
                    assert_eq!(distinct.len(), words.len(), "{name}: words differ only in case");
                }
                Kind::OptionalWords { words } => {
                    assert!(!words.iter().any(|(w, _)| w.eq_ignore_ascii_case(UNSET)), "{name}");
                    let distinct: HashSet<String> = words.iter().map(|(w, _)| w.to_ascii_uppercase()).collect();
                    assert_eq!(distinct.len(), words.len(), "{name}: words differ only in case");
                }
                Kind::OptionalText { .. } => {}
            }
        }
    }

    #[test]
    fn every_default_passes_its_own_parser() -> Result<()> {
        let defaults = PoolConfig::default();
        // An option unset by default has no value to parse back.
        let set_by_default = OPTIONS
            .iter()
            .filter(|s| !matches!(s.kind, Kind::OptionalWords { .. } | Kind::OptionalText { .. }));
        for spec in set_by_default {
            let text = spec.kind.default_text();
            let mut c = PoolConfig::default();
            c.apply_option(spec.option, RawValue::Text(text.clone()))?;
            assert_eq!(c, defaults, "{} = {text}", spec.option);
            assert_eq!(
                from_vars(&[(spec.variable, &text)])?,
                defaults,
                "{} = {text}",
                spec.variable
            );
        }
        Ok(())
    }

    /// `field: value` for each field of the pretty `Debug` form: the struct's fields without
    /// listing them by hand, so a field no option sets is noticed. A value spread over lines
    /// (`Some(` … `)`) is joined.
    fn fields(config: &PoolConfig) -> BTreeMap<String, String> {
        let mut fields = BTreeMap::new();
        let mut last: Option<String> = None;
        for line in format!("{config:#?}")
            .lines()
            .filter_map(|line| line.strip_prefix("    "))
        {
            match (line.starts_with(' '), line.split_once(": "), &last) {
                (false, Some((field, value)), _) => {
                    fields.insert(field.to_string(), value.to_string());
                    last = Some(field.to_string());
                }
                (true, _, Some(field)) => {
                    if let Some(value) = fields.get_mut(field) {
                        value.push_str(line.trim());
                    }
                }
                _ => last = None,
            }
        }
        fields
    }

    /// Valid values unlike the default, as an environment variable would give them.
    fn other_values(kind: Kind) -> Vec<String> {
        let bound = |min: i64, max: i64, default: i64| if default != min { min } else { max };
        match kind {
            Kind::Integer { min, max, default, .. } | Kind::Millis { min, max, default, .. } => {
                vec![bound(min, max, default).to_string()]
            }
            Kind::Boolean { default, .. } => vec![(!default).to_string()],
            Kind::Text { default, .. } => vec![format!("{default}-elsewhere")],
            Kind::Words { words, default } => words
                .iter()
                .map(|(w, _)| w.to_string())
                .filter(|w| w != default)
                .collect(),
            Kind::OptionalWords { words } => words.iter().map(|(w, _)| w.to_string()).collect(),
            Kind::OptionalText { .. } => vec!["elsewhere".to_string()],
        }
    }

    #[test]
    fn every_option_sets_exactly_its_own_field() -> Result<()> {
        let defaults = fields(&PoolConfig::default());
        let mut owner: BTreeMap<String, &str> = BTreeMap::new();
        for spec in OPTIONS {
            let values = other_values(spec.kind);
            assert!(!values.is_empty(), "{} has a single value", spec.option);
            let mut seen = HashSet::new();
            for value in values {
                let mut c = PoolConfig::default();
                c.apply_option(spec.option, RawValue::Text(value.clone()))?;
                let now = fields(&c);
                let changed: Vec<&String> = now.keys().filter(|f| now.get(*f) != defaults.get(*f)).collect();
                assert_eq!(changed.len(), 1, "{} = {value} changed {changed:?}", spec.option);
                assert!(
                    seen.insert(now[changed[0]].clone()),
                    "{} = {value} repeats a value",
                    spec.option
                );
                let previous = owner.insert(changed[0].clone(), spec.option);
                assert!(
                    previous.is_none() || previous == Some(spec.option),
                    "{} and {previous:?} share {}",
                    spec.option,
                    changed[0]
                );
            }
        }
        let unowned: Vec<&String> = defaults.keys().filter(|f| !owner.contains_key(*f)).collect();
        assert!(unowned.is_empty(), "no option sets {unowned:?}");
        Ok(())
    }

    #[test]
    fn synchronous_takes_its_pragma_values_in_any_case() -> Result<()> {
        for s in [
            Synchronous::Off,
            Synchronous::Normal,
            Synchronous::Full,
            Synchronous::Extra,
        ] {
            let word = s.pragma_value();
            assert_eq!(from_vars(&[("POOL_SYNCHRONOUS", word)])?.synchronous, s);
            let mut c = PoolConfig::default();
            c.apply_option("synchronous", RawValue::Text(word.to_ascii_lowercase()))?;
            assert_eq!(c.synchronous, s);
        }
        let err = from_vars(&[("POOL_SYNCHRONOUS", "sometimes")]).expect_err("not a word");
        assert_eq!(
            err.to_string(),
            "invalid POOL_SYNCHRONOUS: \"SOMETIMES\" is not one of OFF, NORMAL, FULL, EXTRA"
        );
        Ok(())
    }

    #[test]
    fn errors_read_as_before() -> Result<()> {
        let message = |vars: &[(&str, &str)]| from_vars(vars).map(|_| String::new()).unwrap_or_else(|e| e.to_string());
        assert_eq!(
            message(&[("POOL_MAX_READERS", "0")]),
            "invalid POOL_MAX_READERS: 0 is out of range (expected 1..=256)"
        );
        assert_eq!(
            message(&[("POOL_BACKUP_INTERVAL", "999")]),
            "invalid POOL_BACKUP_INTERVAL: 999 is out of range (expected 1000..=604800000)"
        );
        assert_eq!(
            message(&[("POOL_ENABLE_BACKUP", "maybe")]),
            "invalid POOL_ENABLE_BACKUP: \"maybe\" is not a boolean (true/false/1/0)"
        );
        assert_eq!(
            message(&[("POOL_BACKUP_DIR", " ")]),
            "invalid POOL_BACKUP_DIR: Text(\" \") is not a non-empty string"
        );
        for (text, on) in [
            ("true", true),
            ("1", true),
            ("yes", true),
            ("ON", true),
            ("false", false),
            ("0", false),
            ("no", false),
            ("off", false),
        ] {
            assert_eq!(from_vars(&[("POOL_ENABLE_BACKUP", text)])?.enable_backup, on, "{text}");
        }
        let mut c = PoolConfig::default();
        let err = c
            .apply_option("busyTimeout", RawValue::Number(-1.0))
            .expect_err("negative");
        assert_eq!(
            err.to_string(),
            "invalid busyTimeout: -1 is out of range (expected 0..=604800000)"
        );
        Ok(())
    }

    /// The first word of a cell: "30000 (ms)" and "268435456 (see below)" give the number.
    fn leading_word(cell: &str) -> &str {
        cell.split_whitespace().next().unwrap_or("")
    }

    #[test]
    fn readme_configuration_table_matches_the_options() {
        let readme = include_str!("../README.md");
        let section = readme
            .split("\n### Configuration\n")
            .nth(1)
            .expect("README.md has a ### Configuration section");
        let rows: Vec<Vec<String>> = section
            .lines()
            .take_while(|line| !line.starts_with('#'))
            .filter(|line| line.starts_with('|'))
            .map(|line| {
                line.trim()
                    .trim_matches('|')
                    .split('|')
                    .map(|cell| cell.trim().replace('`', ""))
                    .collect()
            })
            .collect();
        assert_eq!(
            rows.first().map(Vec::as_slice),
            Some(&["option", "variable", "default"].map(String::from)[..])
        );
        // "(path)" rows document variables of the classes, not pool options.
        let options: Vec<&Vec<String>> = rows.iter().skip(2).filter(|cells| !cells[0].starts_with('(')).collect();
        let documented: BTreeMap<String, (String, String)> = options
            .iter()
            .map(|cells| {
                (
                    cells[0].clone(),
                    (cells[1].clone(), leading_word(&cells[2]).to_string()),
                )
            })
            .collect();
        let expected: BTreeMap<String, (String, String)> = OPTIONS
            .iter()
            .map(|s| (s.option.to_string(), (s.variable.to_string(), s.kind.default_text())))
            .collect();
        assert_eq!(documented.len(), options.len(), "README.md lists an option twice");
        assert_eq!(
            documented, expected,
            "README.md's configuration table drifted from OPTIONS"
        );
    }

    /// The TypeScript type of an option's value.
    fn ts_type(kind: Kind) -> String {
        match kind {
            Kind::Integer { .. } | Kind::Millis { .. } => "number".to_string(),
            Kind::Boolean { .. } => "boolean".to_string(),
            Kind::Text { .. } | Kind::OptionalText { .. } => "string".to_string(),
            Kind::Words { words, .. } | Kind::OptionalWords { words } => words
                .iter()
                .map(|(w, _)| format!("'{w}'"))
                .collect::<Vec<_>>()
                .join(" | "),
        }
    }

    #[test]
    fn types_pool_options_match_the_options() {
        let types = include_str!("js/types.d.ts");
        let body = types
            .split("export interface PoolOptions {")
            .nth(1)
            .and_then(|rest| rest.split("\n}").next())
            .expect("types.d.ts declares PoolOptions");
        let declared: BTreeMap<String, String> = body
            .lines()
            .map(str::trim)
            .filter(|line| {
                !line.is_empty() && !line.starts_with("/*") && !line.starts_with('*') && !line.starts_with("//")
            })
            .map(|line| {
                let (name, ty) = line.split_once(':').unwrap_or((line, ""));
                (name.trim().trim_end_matches('?').to_string(), ty.trim().to_string())
            })
            .collect();
        let mut expected: BTreeMap<String, String> = OPTIONS
            .iter()
            .map(|s| (s.option.to_string(), ts_type(s.kind)))
            .collect();
        // A binding option (how integers come back), not a pool setting.
        expected.insert("safeIntegers".to_string(), "boolean".to_string());
        assert_eq!(
            declared, expected,
            "PoolOptions in src/js/types.d.ts drifted from OPTIONS"
        );
    }

    #[test]
    fn the_ssl_mode_is_unset_until_given_and_takes_libpq_words_only() -> Result<()> {
        assert_eq!(PoolConfig::default().pg_ssl_mode, None);
        assert_eq!(PoolConfig::default().pg_ssl_root_cert, None);
        for (word, mode) in PgSslMode::ALL {
            assert_eq!(from_vars(&[("POOL_PG_SSL_MODE", word)])?.pg_ssl_mode, Some(mode));
            assert_eq!(PgSslMode::from_name(&word.to_ascii_uppercase()), Some(mode));
            assert_eq!(mode.name(), word);
            let mut c = PoolConfig::default();
            c.apply_option("pgSslMode", RawValue::Text(word.to_ascii_uppercase()))?;
            assert_eq!(c.pg_ssl_mode, Some(mode));
        }
        for bad in ["allow", "verify_full", "on", ""] {
            let err = from_vars(&[("POOL_PG_SSL_MODE", bad)]).expect_err(bad);
            assert_eq!(err.code(), "INVALID_CONFIG");
            assert!(err.to_string().starts_with("invalid POOL_PG_SSL_MODE: "), "{err}");
        }
        let mut c = PoolConfig::default();
        let err = c
            .apply_option("pgSslMode", RawValue::Bool(true))
            .expect_err("a boolean");
        assert!(err.to_string().starts_with("invalid pgSslMode: "), "{err}");
        assert_eq!(PgSslMode::from_name("allow"), None);
        Ok(())
    }

    #[test]
    fn the_root_certificate_is_a_path_that_is_not_blank() -> Result<()> {
        let c = from_vars(&[("POOL_PG_SSL_ROOT_CERT", "/etc/ca.pem")])?;
        assert_eq!(c.pg_ssl_root_cert, Some(PathBuf::from("/etc/ca.pem")));
        let err = from_vars(&[("POOL_PG_SSL_ROOT_CERT", " ")]).expect_err("blank");
        assert!(err.to_string().starts_with("invalid POOL_PG_SSL_ROOT_CERT: "), "{err}");
        let mut c = PoolConfig::default();
        let err = c
            .apply_option("pgSslRootCert", RawValue::Number(1.0))
            .expect_err("a number");
        assert!(err.to_string().starts_with("invalid pgSslRootCert: "), "{err}");
        Ok(())
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
