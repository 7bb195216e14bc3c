//! The alerts service's two hand-written REST routes (every other alerts route is generated):
//! the platform's batch feed `POST /v1/alerts` (a JSON array, each event rejected on its own
//! with its position) and the plain-text blocklist `GET /v1/blocklist.txt` for firewalls.

use axum::Json;
use axum::extract::FromRequest;
use axum::extract::State;
use serde::Serialize;
use serde_json::Value;
use yiwang_kit::Error;
use yiwang_proto::alerts::v1 as pb;

use crate::AppState;
use crate::extract::{ApiJson, Ctx, upstream};

type ApiResult<T> = Result<T, Error>;

#[derive(Serialize)]
pub struct Rejection {
    /// Position of the event in the posted array.
    pub index: u32,
    pub source_ref: String,
    /// e.g. `events[3].src_ip`
    pub field: String,
    pub reason: String,
}

#[derive(Serialize)]
pub struct IngestResult {
    /// New events stored.
    pub accepted: u32,
    /// Already stored (same source and source_ref).
    pub duplicate: u32,
    pub rejected: u32,
    pub rejections: Vec<Rejection>,
}

const FIELDS: [&str; 12] = [
    "source",
    "source_ref",
    "occurred_at",
    "src_ip",
    "src_port",
    "dst_ip",
    "dst_port",
    "category",
    "severity",
    "rule",
    "kill_chain_phase",
    "raw",
];

/// Reads one element of the posted array; a malformed one is rejected on its own.
fn event_from_json(index: usize, v: &Value) -> Result<pb::SecurityEvent, Rejection> {
    let source_ref = v["source_ref"].as_str().unwrap_or_default().to_string();
    let reject = |field: &str, reason: &str| Rejection {
        index: index as u32,
        source_ref: source_ref.chars().take(128).collect(),
        field: format!(
            "events[{index}]{}{field}",
            if field.is_empty() { "" } else { "." }
        ),
        reason: reason.to_string(),
    };
    let Some(obj) = v.as_object() else {
        return Err(reject("", "must be a JSON object"));
    };
    if let Some(unknown) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(reject(unknown, "is not a field of an event"));
    }
    let text = |field: &str| -> Result<String, Rejection> {
        match obj.get(field) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(reject(field, "must be a string")),
        }
    };
    let port = |field: &str| -> Result<u32, Rejection> {
        match obj.get(field) {
            None | Some(Value::Null) => Ok(0),
            Some(p) => p
                .as_u64()
                .filter(|p| *p <= 65_535)
                .map(|p| p as u32)
                .ok_or_else(|| reject(field, "must be a port number (0 to 65535)")),
        }
    };
    let occurred_at = text("occurred_at")?;
    let occurred_at = chrono::DateTime::parse_from_rfc3339(occurred_at.trim())
        .map_err(|_| reject("occurred_at", "must be an RFC 3339 timestamp"))?;
    Ok(pb::SecurityEvent {
        source: text("source")?,
        source_ref: text("source_ref")?,
        occurred_at: Some(prost_types::Timestamp {
            seconds: occurred_at.timestamp(),
            nanos: occurred_at.timestamp_subsec_nanos() as i32,
        }),
        src_ip: text("src_ip")?,
        src_port: port("src_port")?,
        dst_ip: text("dst_ip")?,
        dst_port: port("dst_port")?,
        category: text("category")?,
        severity: text("severity")?,
        rule: text("rule")?,
        kill_chain_phase: text("kill_chain_phase")?,
        raw_json: match obj.get("raw") {
            None | Some(Value::Null) => String::new(),
            Some(raw) => raw.to_string(),
        },
    })
}

pub async fn ingest(
    State(s): State<AppState>,
    ctx: Ctx,
    req: axum::extract::Request,
) -> ApiResult<Json<IngestResult>> {
    // Who may call before the body is read (as the generated routes do).
    ctx.caller.require_any_role(&[
        yiwang_kit::auth::roles::SECOPS,
        yiwang_kit::auth::roles::SYSTEM,
    ])?;
    let ApiJson(events) = ApiJson::<Vec<Value>>::from_request(req, &()).await?;
    if events.len() > 10_000 {
        return Err(Error::invalid(
            "body",
            format!(
                "carries at most 10000 events per call (this one {})",
                events.len()
            ),
        ));
    }
    let mut rejections = Vec::new();
    let mut sent = Vec::with_capacity(events.len());
    // Position in the posted array of each event sent on.
    let mut origin = Vec::with_capacity(events.len());
    for (i, v) in events.iter().enumerate() {
        match event_from_json(i, v) {
            Ok(e) => {
                sent.push(e);
                origin.push(i);
            }
            Err(r) => rejections.push(r),
        }
    }
    let ack = s
        .alerts
        .clone()
        .ingest_events(ctx.grpc(pb::EventBatch {
            batch_id: String::new(),
            events: sent,
        }))
        .await
        .map_err(upstream)?
        .into_inner();
    for r in ack.rejections {
        let at = origin
            .get(r.index as usize)
            .copied()
            .unwrap_or(r.index as usize);
        let prefix = format!("events[{}]", r.index);
        rejections.push(Rejection {
            index: at as u32,
            source_ref: r.source_ref,
            field: r.field.replacen(&prefix, &format!("events[{at}]"), 1),
            reason: r.reason,
        });
    }
    rejections.sort_by_key(|r| r.index);
    Ok(Json(IngestResult {
        accepted: ack.accepted,
        duplicate: ack.duplicate,
        rejected: rejections.len() as u32,
        rejections,
    }))
}

async fn active_blocks(s: &AppState, ctx: &Ctx) -> ApiResult<Vec<pb::BlockEntry>> {
    Ok(s.alerts
        .clone()
        .list_blocks(ctx.grpc(pb::ListBlocksRequest::default()))
        .await
        .map_err(upstream)?
        .into_inner()
        .entries)
}

pub async fn blocklist_text(
    State(s): State<AppState>,
    ctx: Ctx,
) -> ApiResult<([(http::header::HeaderName, &'static str); 1], String)> {
    let entries = active_blocks(&s, &ctx).await?;
    let mut text = String::with_capacity(entries.len() * 20);
    for e in entries {
        text.push_str(&e.cidr);
        text.push('\n');
    }
    Ok((
        [(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    ))
}
