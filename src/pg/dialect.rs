//! The domain's engine-specific SQL on PostgreSQL. Timestamps are text in SQLite's formats (so
//! rows read back byte-identical on both backends and copy across unchanged); they are compared
//! as `timestamp`, in UTC: both the original's ISO `…T…Z` and SQLite's `YYYY-MM-DD HH:MM:SS`
//! parse, and a trailing `Z` is UTC, which is what the comparison is in.

use crate::store::seam::Dialect;

pub struct Postgres;

pub static POSTGRES: Postgres = Postgres;

/// Now in UTC as SQLite's `CURRENT_TIMESTAMP` writes it; the schema's defaults use it too.
pub const NOW_S: &str = "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')";

impl Dialect for Postgres {
    fn now_ms(&self) -> &'static str {
        "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS')"
    }

    fn now_s(&self) -> &'static str {
        NOW_S
    }

    fn memory_live(&self) -> &'static str {
        "(expires_at IS NULL OR expires_at::timestamp > (now() AT TIME ZONE 'UTC'))"
    }

    fn older_than(&self, column: &str, days: u32) -> String {
        format!("{column}::timestamp < (now() AT TIME ZONE 'UTC') - interval '{days} days'")
    }
}
