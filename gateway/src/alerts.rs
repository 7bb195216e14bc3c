//! REST for the alerts service (../shared/API.md, Alerts): the platform's batch feed, incidents
//! and the asset register.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use yiwang_kit::Error;
use yiwang_proto::alerts::v1 as pb;

use crate::AppState;
use crate::extract::{ApiJson, Ctx, Params, upstream};

type ApiResult<T> = Result<T, Error>;

/// One event of the platform's feed.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct AlertInput {
    /// The reporting platform; with `source_ref` (its own event id) the idempotency key.
    source: String,
    source_ref: String,
    /// RFC 3339.
    occurred_at: String,
    src_ip: String,
    src_port: Option<u32>,
    dst_ip: String,
    dst_port: Option<u32>,
    /// `host_compromised`, `attack_attempt` or `potential_risk`.
    category: String,
    /// `high`, `medium` or `low`.
    severity: String,
    rule: String,
    kill_chain_phase: Option<String>,
    /// The platform's original record.
    raw: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct Rejection {
    /// Position of the event in the posted array.
    pub index: u32,
    pub source_ref: String,
    /// e.g. `events[3].src_ip`
    pub field: String,
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct IngestResult {
    /// New events stored.
    pub accepted: u32,
    /// Already stored (same source and source_ref).
    pub duplicate: u32,
    pub rejected: u32,
    pub rejections: Vec<Rejection>,
    pub incidents_opened: u32,
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

#[utoipa::path(post, path = "/v1/alerts", tag = "alerts", security(("bearer" = [])),
    description = "The platform's batch feed (secops or the platform's system token): a JSON array of at most \
        10,000 events. Idempotent on (source, source_ref): a replay adds nothing. Malformed events are rejected \
        one by one with the field and the reason; the rest are stored durably before the answer.",
    request_body = Vec<AlertInput>,
    responses((status = 200, body = IngestResult), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody),
        (status = 413, body = crate::openapi::ErrorBody)))]
pub async fn ingest(
    State(s): State<AppState>,
    ctx: Ctx,
    ApiJson(events): ApiJson<Vec<Value>>,
) -> ApiResult<Json<IngestResult>> {
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
        incidents_opened: ack.incidents_opened,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct Incident {
    pub id: String,
    pub fingerprint: String,
    pub category: String,
    pub rule: String,
    /// The affected asset (the compromised host, or the target).
    pub asset_ip: String,
    pub peer_ip: String,
    pub severity: String,
    pub event_count: u64,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    /// `open` or `false_positive`
    pub state: String,
    /// Owning unit by the most specific covering asset range; empty while unattributed.
    pub unit_code: String,
    pub system_name: String,
    pub asset_cidr: String,
    pub false_positive_reason: String,
    pub create_time: Option<String>,
}

fn time(t: Option<prost_types::Timestamp>) -> Option<String> {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

impl From<pb::Incident> for Incident {
    fn from(i: pb::Incident) -> Self {
        Incident {
            id: i.id,
            fingerprint: i.fingerprint,
            category: i.category,
            rule: i.rule,
            asset_ip: i.asset_ip,
            peer_ip: i.peer_ip,
            severity: i.severity,
            event_count: i.event_count,
            first_seen: time(i.first_seen),
            last_seen: time(i.last_seen),
            state: i.state,
            unit_code: i.unit_code,
            system_name: i.system_name,
            asset_cidr: i.asset_cidr,
            false_positive_reason: i.false_positive_reason,
            create_time: time(i.create_time),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct IncidentList {
    pub incidents: Vec<Incident>,
    pub next_page_token: String,
}

#[utoipa::path(get, path = "/v1/incidents", tag = "alerts", security(("bearer" = [])),
    description = "Incidents, newest first: every one for secops, the unit's own for its staff (officer with the \
        unit as dept). `unattributed=true` (secops): the queue of incidents no asset range covers yet.",
    params(("state" = Option<String>, Query), ("severity" = Option<String>, Query),
        ("category" = Option<String>, Query), ("unit_code" = Option<String>, Query),
        ("unattributed" = Option<bool>, Query),
        ("page_size" = Option<i32>, Query), ("page_token" = Option<String>, Query)),
    responses((status = 200, body = IncidentList), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody)))]
pub async fn list_incidents(
    State(s): State<AppState>,
    ctx: Ctx,
    p: Params,
) -> ApiResult<Json<IncidentList>> {
    let r = s
        .alerts
        .clone()
        .list_incidents(ctx.grpc(pb::ListIncidentsRequest {
            state: p.str("state"),
            severity: p.str("severity"),
            category: p.str("category"),
            unit_code: p.str("unit_code"),
            unattributed: p.bool("unattributed")?.unwrap_or(false),
            page_size: p.i32("page_size")?,
            page_token: p.str("page_token"),
        }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(IncidentList {
        incidents: r.incidents.into_iter().map(Incident::from).collect(),
        next_page_token: r.next_page_token,
    }))
}

#[utoipa::path(get, path = "/v1/incidents/{id}", tag = "alerts", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Incident), (status = 401, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn get_incident(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<Incident>> {
    let r = s
        .alerts
        .clone()
        .get_incident(ctx.grpc(pb::GetIncidentRequest { id }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(r.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonInput {
    pub reason: String,
}

#[utoipa::path(post, path = "/v1/incidents/{id}/false-positive", tag = "alerts", security(("bearer" = [])),
    description = "Closes an open incident as a false positive, with the reason (secops).",
    params(("id" = String, Path)), request_body = ReasonInput,
    responses((status = 200, body = Incident), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn false_positive(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ReasonInput>,
) -> ApiResult<Json<Incident>> {
    let r = s
        .alerts
        .clone()
        .mark_false_positive(ctx.grpc(pb::IncidentActionRequest {
            id,
            reason: b.reason,
        }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(r.into()))
}

#[derive(Serialize, ToSchema)]
pub struct Asset {
    pub id: String,
    /// CIDR (IPv4 or IPv6).
    pub cidr: String,
    /// The owning unit (catalogue org unit code).
    pub unit_code: String,
    pub system_name: String,
    pub note: String,
    pub create_time: Option<String>,
    /// On registration: waiting incidents this range took over.
    pub incidents_attributed: u32,
}

impl From<pb::Asset> for Asset {
    fn from(a: pb::Asset) -> Self {
        Asset {
            id: a.id,
            cidr: a.cidr,
            unit_code: a.unit_code,
            system_name: a.system_name,
            note: a.note,
            create_time: time(a.create_time),
            incidents_attributed: a.incidents_attributed,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AssetList {
    pub assets: Vec<Asset>,
    pub next_page_token: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssetInput {
    pub cidr: String,
    pub unit_code: String,
    pub system_name: String,
    #[serde(default)]
    pub note: String,
}

#[utoipa::path(post, path = "/v1/assets", tag = "alerts", security(("bearer" = [])),
    description = "Registers a CIDR range (IPv4 or IPv6, host bits zero) of a unit's system (secops). Waiting \
        unattributed incidents it covers are attributed at once.",
    request_body = AssetInput,
    responses((status = 201, body = Asset), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 409, body = crate::openapi::ErrorBody)))]
pub async fn create_asset(
    State(s): State<AppState>,
    ctx: Ctx,
    ApiJson(b): ApiJson<AssetInput>,
) -> ApiResult<(axum::http::StatusCode, Json<Asset>)> {
    let r = s
        .alerts
        .clone()
        .create_asset(ctx.grpc(pb::CreateAssetRequest {
            cidr: b.cidr,
            unit_code: b.unit_code,
            system_name: b.system_name,
            note: b.note,
        }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok((axum::http::StatusCode::CREATED, Json(r.into())))
}

#[utoipa::path(get, path = "/v1/assets", tag = "alerts", security(("bearer" = [])),
    description = "The asset register (secops: all; a unit's staff: their own). `covering=<address>`: the ranges \
        covering that address, most specific first.",
    params(("unit_code" = Option<String>, Query), ("covering" = Option<String>, Query),
        ("page_size" = Option<i32>, Query), ("page_token" = Option<String>, Query)),
    responses((status = 200, body = AssetList), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody)))]
pub async fn list_assets(
    State(s): State<AppState>,
    ctx: Ctx,
    p: Params,
) -> ApiResult<Json<AssetList>> {
    let r = s
        .alerts
        .clone()
        .list_assets(ctx.grpc(pb::ListAssetsRequest {
            unit_code: p.str("unit_code"),
            covering: p.str("covering"),
            page_size: p.i32("page_size")?,
            page_token: p.str("page_token"),
        }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(AssetList {
        assets: r.assets.into_iter().map(Asset::from).collect(),
        next_page_token: r.next_page_token,
    }))
}

#[utoipa::path(delete, path = "/v1/assets/{id}", tag = "alerts", security(("bearer" = [])),
    description = "Removes a range (secops). Incidents it attributed keep that attribution.",
    params(("id" = String, Path)),
    responses((status = 200, body = Asset), (status = 403, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn delete_asset(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<Asset>> {
    let r = s
        .alerts
        .clone()
        .delete_asset(ctx.grpc(pb::DeleteAssetRequest { id }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(r.into()))
}
