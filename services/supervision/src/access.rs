//! Who may act for which department in supervision: the role sets and the department rule
//! (a supervisor for every department, officers and inspectors for their own).

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
