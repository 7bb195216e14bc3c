//! Small helpers shared by the modules: times as protobuf timestamps, authorisation by department,
//! ids, the audit trail.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;
use yiwang_kit::auth::roles;
use yiwang_kit::{Caller, Error, Result};

/// County-level supervision office: acts for every department.
pub const SUPERVISOR: &[&str] = &[roles::SUPERVISOR];
/// Who manages a department's supervision data (with a matching `dept`), or a supervisor.
pub const MANAGERS: &[&str] = &[roles::SUPERVISOR, roles::OFFICER];
/// Staff who may read the registers and records.
pub const STAFF: &[&str] = &[
    roles::SUPERVISOR,
    roles::OFFICER,
    roles::INSPECTOR,
    roles::SYSTEM,
];

/// A time as the protos carry it.
pub fn ts(t: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(yiwang_kit::to_timestamp(t))
}

pub fn opt_ts(t: Option<DateTime<Utc>>) -> Option<prost_types::Timestamp> {
    t.map(yiwang_kit::to_timestamp)
}

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

/// Whether the caller may act for `department`: a supervisor (or admin) for any, an officer or
/// inspector only for their own (`roles_needed` says which of these roles count).
pub fn acts_for(caller: &Caller, department: &str, roles_needed: &[&str]) -> bool {
    if caller.has_any_role(SUPERVISOR) {
        return true;
    }
    caller.has_any_role(roles_needed) && caller.dept.as_deref() == Some(department)
}

pub fn require_acts_for(caller: &Caller, department: &str, roles_needed: &[&str]) -> Result<()> {
    caller.require_authenticated()?;
    if acts_for(caller, department, roles_needed) {
        Ok(())
    } else {
        Err(Error::permission_denied(format!(
            "only {} of department {department} (or a supervisor) may do this",
            roles_needed.join("/")
        )))
    }
}

/// The department a request acts for: the one given, or the caller's own.
pub fn department_of(caller: &Caller, given: &str) -> Result<String> {
    let given = given.trim();
    if given.chars().count() > 64 || given.chars().any(char::is_control) {
        // Department codes are short; anything else names no department.
        return Err(Error::invalid(
            "department",
            "must be a department code: at most 64 characters, no control characters",
        ));
    }
    if !given.is_empty() {
        return Ok(given.to_string());
    }
    caller
        .dept
        .clone()
        .filter(|d| !d.is_empty())
        .ok_or_else(|| {
            Error::invalid(
                "department",
                "is required (the caller's token names no department)",
            )
        })
}

/// Records a state change in the audit trail, in the change's transaction.
pub async fn audit<B: Serialize, A: Serialize>(
    tx: &mut Transaction<'_, Postgres>,
    actor: &str,
    action: &str,
    subject: &str,
    before: Option<&B>,
    after: Option<&A>,
) -> Result<()> {
    let before = before
        .map(serde_json::to_value)
        .transpose()
        .map_err(Error::internal)?;
    let after = after
        .map(serde_json::to_value)
        .transpose()
        .map_err(Error::internal)?;
    sqlx::query(
        "INSERT INTO audit (actor, action, subject, before, after) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(actor)
    .bind(action)
    .bind(subject)
    .bind(before)
    .bind(after)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Whether `e` is a unique violation (23505).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "23505")
}
