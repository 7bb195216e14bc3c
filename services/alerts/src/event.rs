//! One security event as the platform reports it: validation (each event on its own, so a bad
//! one is rejected with its reason while the rest of its batch lands) and its fingerprint.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use yiwang_proto::alerts::v1 as pb;

pub const CATEGORIES: [&str; 3] = ["host_compromised", "attack_attempt", "potential_risk"];
pub const SEVERITIES: [&str; 3] = ["high", "medium", "low"];
/// The most events one batch (one stream message or one REST call) may carry.
pub const MAX_BATCH: usize = 10_000;
/// The largest raw record kept per event.
pub const MAX_RAW_BYTES: usize = 64 * 1024;

/// A validated event, ready to store.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Position in its batch.
    pub index: u32,
    pub source: String,
    pub source_ref: String,
    pub occurred_at: DateTime<Utc>,
    /// Checked to be an IPv4 or IPv6 address; PostgreSQL stores it as `inet`.
    pub src_ip: String,
    pub src_port: i32,
    pub dst_ip: String,
    pub dst_port: i32,
    pub category: &'static str,
    pub severity: &'static str,
    pub rule: String,
    pub kill_chain_phase: String,
    pub raw: String,
}

/// Why an event was not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub index: u32,
    pub source_ref: String,
    pub field: String,
    pub reason: String,
}

/// The window of `occurred_at` the service accepts: not older than the retention (its partition
/// would be dropped), not more than five minutes ahead of this clock (clock skew).
#[derive(Debug, Clone, Copy)]
pub struct Accepting {
    pub oldest: DateTime<Utc>,
    pub newest: DateTime<Utc>,
}

/// Severity rank: high 3, medium 2, low 1.
pub fn rank(severity: &str) -> u8 {
    match severity {
        "high" => 3,
        "medium" => 2,
        _ => 1,
    }
}

fn one_of(value: &str, set: &[&'static str]) -> Option<&'static str> {
    set.iter().copied().find(|s| *s == value)
}

fn valid_text(value: &str, max: usize) -> bool {
    let v = value.trim();
    !v.is_empty() && v.chars().count() <= max && !v.chars().any(char::is_control)
}

/// The string without surrounding white space, reusing its buffer when there is none.
fn trimmed(value: String) -> String {
    if value.trim().len() == value.len() {
        value
    } else {
        value.trim().to_string()
    }
}

/// Checks one event; `index` is its position in the batch (named in the rejection's field).
/// Takes the event by value so its strings move into the stored event without copies (the
/// ingest path handles every event of a province's feed).
pub fn validate(index: u32, e: pb::SecurityEvent, window: Accepting) -> Result<NewEvent, Rejected> {
    let reject = |field: &str, reason: String| Rejected {
        index,
        source_ref: e.source_ref.chars().take(128).collect(),
        field: format!("events[{index}].{field}"),
        reason,
    };
    if !valid_text(&e.source, 64) {
        return Err(reject(
            "source",
            "is required, at most 64 characters".into(),
        ));
    }
    if !valid_text(&e.source_ref, 128) {
        return Err(reject(
            "source_ref",
            "is required, at most 128 characters".into(),
        ));
    }
    let occurred_at = e
        .occurred_at
        .and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos.try_into().unwrap_or(u32::MAX)))
        .ok_or_else(|| reject("occurred_at", "is required (a valid timestamp)".into()))?;
    if occurred_at < window.oldest {
        return Err(reject(
            "occurred_at",
            format!(
                "is older than the retention period (events from {} on are kept)",
                window.oldest.format("%Y-%m-%d")
            ),
        ));
    }
    if occurred_at > window.newest {
        return Err(reject(
            "occurred_at",
            "is in the future (more than 5 minutes ahead of the service's clock)".into(),
        ));
    }
    for (field, v) in [("src_ip", &e.src_ip), ("dst_ip", &e.dst_ip)] {
        if v.trim().parse::<IpAddr>().is_err() {
            return Err(reject(
                field,
                format!("{v:?} is not an IPv4 or IPv6 address"),
            ));
        }
    }
    for (field, v) in [("src_port", e.src_port), ("dst_port", e.dst_port)] {
        if v > 65_535 {
            return Err(reject(field, format!("{v} is not a port (0 to 65535)")));
        }
    }
    let category = one_of(&e.category, &CATEGORIES).ok_or_else(|| {
        reject(
            "category",
            "must be host_compromised, attack_attempt or potential_risk".into(),
        )
    })?;
    let severity = one_of(&e.severity, &SEVERITIES)
        .ok_or_else(|| reject("severity", "must be high, medium or low".into()))?;
    if !valid_text(&e.rule, 200) {
        return Err(reject("rule", "is required, at most 200 characters".into()));
    }
    if !e.kill_chain_phase.trim().is_empty() && !valid_text(&e.kill_chain_phase, 64) {
        return Err(reject(
            "kill_chain_phase",
            "must be at most 64 characters".into(),
        ));
    }
    let raw_empty = e.raw_json.trim().is_empty();
    if !raw_empty {
        if e.raw_json.len() > MAX_RAW_BYTES {
            return Err(reject(
                "raw_json",
                format!("must be at most {MAX_RAW_BYTES} bytes"),
            ));
        }
        // Checked for syntax only, without building a document.
        if let Err(err) = serde_json::from_str::<serde::de::IgnoredAny>(&e.raw_json) {
            return Err(reject("raw_json", format!("is not JSON: {err}")));
        }
        // PostgreSQL's jsonb refuses \u0000; say so here rather than fail the batch.
        if e.raw_json.contains("\\u0000") {
            return Err(reject("raw_json", "must not contain \\u0000".into()));
        }
    }
    Ok(NewEvent {
        index,
        source: trimmed(e.source),
        source_ref: trimmed(e.source_ref),
        occurred_at,
        src_ip: trimmed(e.src_ip),
        src_port: e.src_port as i32,
        dst_ip: trimmed(e.dst_ip),
        dst_port: e.dst_port as i32,
        category,
        severity,
        rule: trimmed(e.rule),
        kill_chain_phase: trimmed(e.kill_chain_phase),
        raw: if raw_empty {
            "{}".to_string()
        } else {
            e.raw_json
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window() -> Accepting {
        Accepting {
            oldest: Utc::now() - chrono::Duration::days(365),
            newest: Utc::now() + chrono::Duration::minutes(5),
        }
    }

    fn event() -> pb::SecurityEvent {
        pb::SecurityEvent {
            source: "ahsoc".into(),
            source_ref: "e-1".into(),
            occurred_at: Some(prost_types::Timestamp {
                seconds: Utc::now().timestamp() - 60,
                nanos: 0,
            }),
            src_ip: "10.8.1.20".into(),
            src_port: 51000,
            dst_ip: "203.0.113.9".into(),
            dst_port: 443,
            category: "host_compromised".into(),
            severity: "high".into(),
            rule: "C2 beacon".into(),
            kill_chain_phase: "command_and_control".into(),
            raw_json: r#"{"k":1}"#.into(),
        }
    }

    #[test]
    fn a_good_event_passes() {
        let e = validate(0, event(), window()).unwrap();
        assert_eq!(
            (e.src_ip.to_string(), e.category, e.severity, e.raw.as_str()),
            (
                "10.8.1.20".to_string(),
                "host_compromised",
                "high",
                r#"{"k":1}"#
            )
        );
    }

    #[test]
    fn each_fault_is_named() {
        type Spoil = fn(&mut pb::SecurityEvent);
        let cases: [(Spoil, &str); 8] = [
            (|e| e.source.clear(), "events[7].source"),
            (|e| e.src_ip = "10.0.0.256".into(), "events[7].src_ip"),
            (|e| e.dst_port = 70_000, "events[7].dst_port"),
            (|e| e.category = "virus".into(), "events[7].category"),
            (|e| e.severity = "critical".into(), "events[7].severity"),
            (|e| e.raw_json = "{".into(), "events[7].raw_json"),
            (|e| e.occurred_at = None, "events[7].occurred_at"),
            (
                |e| {
                    e.occurred_at = Some(prost_types::Timestamp {
                        seconds: Utc::now().timestamp() + 3600,
                        nanos: 0,
                    })
                },
                "events[7].occurred_at",
            ),
        ];
        for (spoil, field) in cases {
            let mut e = event();
            spoil(&mut e);
            let r = validate(7, e, window()).unwrap_err();
            assert_eq!(r.field, field, "{r:?}");
        }
    }
}
