//! Request values as supervision reads them: times (protobuf timestamps, RFC 3339 strings),
//! ids, and the database's answer to a duplicate.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;
use yiwang_kit::{Error, Result};

/// A time given in a request: `None` when not given, a field error when out of range.
pub fn given_time(
    v: &mut yiwang_kit::Violations,
    field: &str,
    t: Option<&prost_types::Timestamp>,
) -> Option<DateTime<Utc>> {
    let t = t?;
    match yiwang_kit::from_timestamp(field, t) {
        Ok(t) => Some(t),
        Err(_) => {
            v.add(field, "is out of range");
            None
        }
    }
}

/// An RFC 3339 timestamp (or a `YYYY-MM-DD` date, as midnight UTC when `date_ok`).
pub fn parse_time(field: &str, s: &str, date_ok: bool) -> Result<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.to_utc());
    }
    if date_ok && let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    }
    Err(Error::invalid(
        field,
        "must be an RFC 3339 timestamp, e.g. 2026-11-27T10:00:00+08:00",
    ))
}

pub fn parse_uuid(field: &str, s: &str) -> Result<Uuid> {
    Uuid::parse_str(s.trim()).map_err(|_| Error::invalid(field, "must be an id (UUID)"))
}

/// Whether `e` is a unique violation (23505).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "23505")
}
