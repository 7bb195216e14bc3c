//! The small shared runtime of Yiwang: configuration, telemetry, errors, auth, database and
//! Redis connections, the event outbox, the gRPC server builder and page tokens. Services and
//! the gateway depend on it; it depends on none of them.

pub mod auth;
pub mod config;
pub mod crypto;
pub mod db;
pub mod demo_rng;
pub mod error;
pub mod files;
pub mod grpc;
pub mod ids;
pub mod nearcache;
pub mod net;
pub mod outbox;
pub mod page;
pub mod redis;
pub mod telemetry;

pub use auth::{Caller, JwtVerifier};
pub use config::Config;
pub use error::{Code, Error, Result, Violations};
pub use tokio_util::sync::CancellationToken;

/// A listener whose connections have TCP_NODELAY set. Without it, small gRPC (HTTP/2) frames
/// meet Nagle's algorithm and delayed ACKs and wait ~40 ms each (measured: GetItem p50 44 ms).
pub fn nodelay(
    listener: tokio::net::TcpListener,
) -> axum::serve::TapIo<tokio::net::TcpListener, fn(&mut tokio::net::TcpStream)> {
    use axum::serve::ListenerExt;
    fn set(tcp: &mut tokio::net::TcpStream) {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::trace!(error = %e, "cannot set TCP_NODELAY");
        }
    }
    listener.tap_io(set as fn(&mut tokio::net::TcpStream))
}

/// `part / whole` as a percentage rounded half up to two decimals (0 for an empty whole),
/// computed in integer hundredths so that e.g. 220 of 2,110 is exactly 10.43.
pub fn percent(part: i64, whole: i64) -> f64 {
    percent_hundredths(part, whole) as f64 / 100.0
}

/// [`percent`] in exact integer hundredths of a percent (basis points): 220 of 2,110 → 1043.
pub fn percent_hundredths(part: i64, whole: i64) -> i64 {
    if whole <= 0 {
        return 0;
    }
    ((part as i128 * 20_000 + whole as i128) / (2 * whole as i128)) as i64
}

/// Runs `task` every `period` until `shutdown` (the first run right away; a run that overruns
/// delays the next instead of bunching them up): the services' sweeps and upkeep loops.
pub async fn every<F, Fut>(period: std::time::Duration, shutdown: CancellationToken, mut task: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => task().await,
        }
    }
}

/// A sweeper: runs `pass` every `period` until `shutdown` ([`every`]). A pass that did something
/// is logged with `done` and its count, a failed one warned; each completed pass is stamped in
/// `yiwang_sweeper_last_run_timestamp_seconds{service, sweeper}`, so the operator's alert sees a
/// sweeper that has stopped running.
pub async fn sweep<F, Fut, N, E>(
    service: &'static str,
    sweeper: &'static str,
    done: &'static str,
    period: std::time::Duration,
    shutdown: CancellationToken,
    mut pass: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<N, E>>,
    N: TryInto<u64>,
    E: std::fmt::Display,
{
    // Stamped at the start too: a sweeper whose passes never complete is seen as stale once
    // the alert's threshold has passed, rather than never appearing at all.
    metrics::gauge!("yiwang_sweeper_last_run_timestamp_seconds", "service" => service, "sweeper" => sweeper)
        .set(chrono::Utc::now().timestamp() as f64);
    every(period, shutdown, || {
        let run = pass();
        async move {
            match run.await {
                Ok(n) => {
                    let n: u64 = n.try_into().unwrap_or(u64::MAX);
                    if n > 0 {
                        tracing::info!(service, sweeper, count = n, "{done}");
                    }
                    metrics::gauge!("yiwang_sweeper_last_run_timestamp_seconds", "service" => service, "sweeper" => sweeper)
                        .set(chrono::Utc::now().timestamp() as f64);
                }
                Err(e) => tracing::warn!(service, sweeper, error = %e, "sweeper pass failed; the next one retries"),
            }
        }
    })
    .await
}

/// Converts a `chrono` time to a protobuf timestamp.
pub fn to_timestamp(t: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// A JSON value as `google.protobuf.Value` (what a proto field holding free-form JSON carries;
/// REST shows it as the JSON itself).
/// An optional time as a protobuf timestamp (unset stays unset).
pub fn opt_timestamp(t: Option<chrono::DateTime<chrono::Utc>>) -> Option<prost_types::Timestamp> {
    t.map(to_timestamp)
}

pub fn to_proto_value(v: &serde_json::Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match v {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(*b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        serde_json::Value::String(s) => Kind::StringValue(s.clone()),
        serde_json::Value::Array(a) => Kind::ListValue(prost_types::ListValue {
            values: a.iter().map(to_proto_value).collect(),
        }),
        serde_json::Value::Object(o) => Kind::StructValue(prost_types::Struct {
            fields: o
                .iter()
                .map(|(k, v)| (k.clone(), to_proto_value(v)))
                .collect(),
        }),
    };
    prost_types::Value { kind: Some(kind) }
}

/// Converts a protobuf timestamp; out-of-range values are a field error.
pub fn from_timestamp(
    field: &str,
    t: &prost_types::Timestamp,
) -> Result<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32)
        .ok_or_else(|| Error::invalid(field, "is not a valid timestamp"))
}

#[cfg(test)]
mod tests {
    use super::percent;

    #[test]
    fn percentages_round_half_up_to_two_decimals() {
        assert_eq!(percent(6297, 10000), 62.97);
        assert_eq!(percent(1, 3), 33.33);
        assert_eq!(percent(2, 3), 66.67);
        assert_eq!(percent(1, 8), 12.5); // 12.5 exactly
        assert_eq!(percent(1, 800), 0.13); // 0.125 → 0.13 (half up)
        assert_eq!(percent(220, 2110), 10.43); // the reference county's budget cut
        assert_eq!(percent(5, 0), 0.0);
        assert_eq!(percent(7, 7), 100.0);
        assert_eq!(percent(i64::MAX, i64::MAX), 100.0);
    }
}
