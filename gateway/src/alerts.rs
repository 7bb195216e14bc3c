//! REST for the alerts service (../shared/API.md, Alerts): the platform's batch feed, incidents
//! and the asset register.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use yiwang_kit::Error;
use yiwang_proto::alerts::v1 as pb;

use crate::AppState;
use crate::extract::{
    ApiJson, Ctx, OptionalJson, Params, period_bound, request_id, rfc3339, upstream,
};
use crate::middleware::IdempotencyKey;

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
            first_seen: rfc3339(&i.first_seen),
            last_seen: rfc3339(&i.last_seen),
            state: i.state,
            unit_code: i.unit_code,
            system_name: i.system_name,
            asset_cidr: i.asset_cidr,
            false_positive_reason: i.false_positive_reason,
            create_time: rfc3339(&i.create_time),
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
            create_time: rfc3339(&a.create_time),
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

#[derive(Serialize, ToSchema)]
pub struct Notice {
    pub id: String,
    /// 处置函 number, e.g. `2026-0042`.
    pub number: String,
    pub incident_id: String,
    pub unit_code: String,
    pub severity: String,
    /// `issued`, `acknowledged`, `reported`, `verified` or `closed`
    pub state: String,
    pub note: String,
    /// RFC 3339 with the Asia/Shanghai offset: close of office on the last working day.
    pub deadline: String,
    pub overdue: bool,
    /// 1 once the notice went past its deadline unreported.
    pub escalation_level: u32,
    pub report: String,
    pub commitment_letter: String,
    pub report_time: Option<String>,
    pub verify_note: String,
    pub sent_back: u32,
    pub issued_by: String,
    pub issue_time: Option<String>,
    pub acknowledge_time: Option<String>,
    pub verify_time: Option<String>,
    pub close_time: Option<String>,
}

impl From<pb::Notice> for Notice {
    fn from(n: pb::Notice) -> Self {
        Notice {
            id: n.id,
            number: n.number,
            incident_id: n.incident_id,
            unit_code: n.unit_code,
            severity: n.severity,
            state: n.state,
            note: n.note,
            deadline: n.deadline_local,
            overdue: n.overdue,
            escalation_level: n.escalation_level,
            report: n.report,
            commitment_letter: n.commitment_letter,
            report_time: rfc3339(&n.report_time),
            verify_note: n.verify_note,
            sent_back: n.sent_back,
            issued_by: n.issued_by,
            issue_time: rfc3339(&n.issue_time),
            acknowledge_time: rfc3339(&n.acknowledge_time),
            verify_time: rfc3339(&n.verify_time),
            close_time: rfc3339(&n.close_time),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct NoticeList {
    pub notices: Vec<Notice>,
    pub next_page_token: String,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct NoticeInput {
    #[serde(default)]
    pub note: String,
}

#[utoipa::path(post, path = "/v1/incidents/{id}/notice", tag = "alerts", security(("bearer" = [])),
    description = "Issues the remediation notice (处置函) of an open, attributed incident to its owning unit \
        (secops), due in working days by severity on the legal calendar (default high 1, medium 3, low 10). \
        `Idempotency-Key` makes retries safe.",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = NoticeInput,
    responses((status = 201, body = Notice), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn issue_notice(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    key: Option<Extension<IdempotencyKey>>,
    OptionalJson(b): OptionalJson<NoticeInput>,
) -> ApiResult<(axum::http::StatusCode, Json<Notice>)> {
    let r = s
        .alerts
        .clone()
        .issue_notice(ctx.grpc(pb::IssueNoticeRequest {
            incident_id: id,
            note: b.note,
            request_id: request_id(key),
        }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok((axum::http::StatusCode::CREATED, Json(r.into())))
}

#[utoipa::path(get, path = "/v1/notices", tag = "alerts", security(("bearer" = [])),
    description = "Remediation notices, newest first: all for secops, the unit's own for its staff.",
    params(("state" = Option<String>, Query), ("unit_code" = Option<String>, Query),
        ("overdue" = Option<bool>, Query),
        ("page_size" = Option<i32>, Query), ("page_token" = Option<String>, Query)),
    responses((status = 200, body = NoticeList), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody)))]
pub async fn list_notices(
    State(s): State<AppState>,
    ctx: Ctx,
    p: Params,
) -> ApiResult<Json<NoticeList>> {
    let r = s
        .alerts
        .clone()
        .list_notices(ctx.grpc(pb::ListNoticesRequest {
            state: p.str("state"),
            unit_code: p.str("unit_code"),
            overdue: p.bool("overdue")?.unwrap_or(false),
            page_size: p.i32("page_size")?,
            page_token: p.str("page_token"),
        }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(NoticeList {
        notices: r.notices.into_iter().map(Notice::from).collect(),
        next_page_token: r.next_page_token,
    }))
}

#[utoipa::path(get, path = "/v1/notices/{id}", tag = "alerts", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Notice), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn get_notice(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<Notice>> {
    let r = s
        .alerts
        .clone()
        .get_notice(ctx.grpc(pb::GetNoticeRequest { id }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(r.into()))
}

/// The body of a notice step; each step reads the fields it needs.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct NoticeStepInput {
    /// report: the rectification report.
    #[serde(default)]
    pub report: String,
    /// report: the commitment letter (承诺书).
    #[serde(default)]
    pub commitment_letter: String,
    /// verify: whether the re-test (复测) passed; false sends the notice back to the unit.
    #[serde(default)]
    pub passed: bool,
    #[serde(default)]
    pub note: String,
}

async fn notice_step(
    s: AppState,
    ctx: Ctx,
    id: String,
    b: NoticeStepInput,
    step: &'static str,
) -> ApiResult<Json<Notice>> {
    let req = ctx.grpc(pb::NoticeActionRequest {
        id,
        report: b.report,
        commitment_letter: b.commitment_letter,
        passed: b.passed,
        note: b.note,
    });
    let mut client = s.alerts.clone();
    let r = match step {
        "acknowledge" => client.acknowledge_notice(req).await,
        "report" => client.report_notice(req).await,
        "verify" => client.verify_notice(req).await,
        _ => client.close_notice(req).await,
    }
    .map_err(upstream)?
    .into_inner();
    Ok(Json(r.into()))
}

#[utoipa::path(post, path = "/v1/notices/{id}/acknowledge", tag = "alerts", security(("bearer" = [])),
    description = "The owning unit acknowledges the notice (issued → acknowledged).",
    params(("id" = String, Path)),
    responses((status = 200, body = Notice), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn acknowledge_notice(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    OptionalJson(b): OptionalJson<NoticeStepInput>,
) -> ApiResult<Json<Notice>> {
    notice_step(s, ctx, id, b, "acknowledge").await
}

#[utoipa::path(post, path = "/v1/notices/{id}/report", tag = "alerts", security(("bearer" = [])),
    description = "The owning unit submits its rectification report and commitment letter (acknowledged → reported).",
    params(("id" = String, Path)), request_body = NoticeStepInput,
    responses((status = 200, body = Notice), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn report_notice(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<NoticeStepInput>,
) -> ApiResult<Json<Notice>> {
    notice_step(s, ctx, id, b, "report").await
}

#[utoipa::path(post, path = "/v1/notices/{id}/verify", tag = "alerts", security(("bearer" = [])),
    description = "Secops verify the rectification by re-test: `passed: true` → verified; `false` (with a note) \
        sends it back to the unit (→ acknowledged).",
    params(("id" = String, Path)), request_body = NoticeStepInput,
    responses((status = 200, body = Notice), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn verify_notice(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<NoticeStepInput>,
) -> ApiResult<Json<Notice>> {
    notice_step(s, ctx, id, b, "verify").await
}

#[utoipa::path(post, path = "/v1/notices/{id}/close", tag = "alerts", security(("bearer" = [])),
    description = "Secops close a verified notice; its incident is closed with it.",
    params(("id" = String, Path)),
    responses((status = 200, body = Notice), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn close_notice(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    OptionalJson(b): OptionalJson<NoticeStepInput>,
) -> ApiResult<Json<Notice>> {
    notice_step(s, ctx, id, b, "close").await
}

#[derive(Serialize, ToSchema)]
pub struct BlockEntry {
    pub id: String,
    pub cidr: String,
    pub reason: String,
    pub incident_id: String,
    pub expires_at: Option<String>,
    pub created_by: String,
    pub create_time: Option<String>,
    /// Added by the service itself (auto-block of a compromised host's peer).
    pub automatic: bool,
}

impl From<pb::BlockEntry> for BlockEntry {
    fn from(b: pb::BlockEntry) -> Self {
        BlockEntry {
            id: b.id,
            cidr: b.cidr,
            reason: b.reason,
            incident_id: b.incident_id,
            expires_at: rfc3339(&b.expire_time),
            created_by: b.created_by,
            create_time: rfc3339(&b.create_time),
            automatic: b.automatic,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Blocklist {
    pub entries: Vec<BlockEntry>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockInput {
    /// An address or a CIDR range.
    pub cidr: String,
    pub reason: String,
    #[serde(default)]
    pub incident_id: String,
    /// RFC 3339, in the future, at most a year ahead.
    pub expires_at: String,
}

#[utoipa::path(post, path = "/v1/blocklist", tag = "alerts", security(("bearer" = [])),
    description = "Blocks an address or range (secops), with a reason, an optional incident and an expiry. \
        Ranges overlapping the configured allow-list (the network's own gateways) are refused.",
    request_body = BlockInput,
    responses((status = 201, body = BlockEntry), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 409, body = crate::openapi::ErrorBody)))]
pub async fn create_block(
    State(s): State<AppState>,
    ctx: Ctx,
    ApiJson(b): ApiJson<BlockInput>,
) -> ApiResult<(axum::http::StatusCode, Json<BlockEntry>)> {
    let expires = chrono::DateTime::parse_from_rfc3339(b.expires_at.trim())
        .map_err(|_| Error::invalid("expires_at", "must be an RFC 3339 timestamp"))?;
    let r = s
        .alerts
        .clone()
        .create_block(ctx.grpc(pb::CreateBlockRequest {
            cidr: b.cidr,
            reason: b.reason,
            incident_id: b.incident_id,
            expire_time: Some(yiwang_kit::to_timestamp(expires.to_utc())),
        }))
        .await
        .map_err(|st| {
            let mut e = upstream(st);
            // The field is expires_at on REST.
            for v in e.violations.iter_mut().filter(|v| v.field == "expire_time") {
                v.field = "expires_at".into();
            }
            e
        })?
        .into_inner();
    Ok((axum::http::StatusCode::CREATED, Json(r.into())))
}

async fn active_blocks(s: &AppState, ctx: &Ctx) -> ApiResult<Vec<pb::BlockEntry>> {
    Ok(s.alerts
        .clone()
        .list_blocks(ctx.grpc(pb::ListBlocksRequest {}))
        .await
        .map_err(upstream)?
        .into_inner()
        .entries)
}

#[utoipa::path(get, path = "/v1/blocklist", tag = "alerts", security(("bearer" = [])),
    description = "The active blocklist as JSON (secops, or a firewall's system token); expired and lifted \
        entries are gone.",
    responses((status = 200, body = Blocklist), (status = 403, body = crate::openapi::ErrorBody)))]
pub async fn list_blocks(State(s): State<AppState>, ctx: Ctx) -> ApiResult<Json<Blocklist>> {
    let entries = active_blocks(&s, &ctx).await?;
    Ok(Json(Blocklist {
        entries: entries.into_iter().map(BlockEntry::from).collect(),
    }))
}

#[utoipa::path(get, path = "/v1/blocklist.txt", tag = "alerts", security(("bearer" = [])),
    description = "The active blocklist as plain text for firewalls: one CIDR per line.",
    responses((status = 200, content_type = "text/plain", body = String),
        (status = 403, body = crate::openapi::ErrorBody)))]
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

#[utoipa::path(delete, path = "/v1/blocklist/{id}", tag = "alerts", security(("bearer" = [])),
    description = "Lifts an entry before its expiry (secops).",
    params(("id" = String, Path)),
    responses((status = 200, body = BlockEntry), (status = 403, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn lift_block(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<BlockEntry>> {
    let r = s
        .alerts
        .clone()
        .lift_block(ctx.grpc(pb::LiftBlockRequest { id }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(r.into()))
}

#[derive(Serialize, ToSchema)]
pub struct Count {
    pub key: String,
    pub count: u64,
}

#[derive(Serialize, ToSchema)]
pub struct PeriodCounts {
    pub from_date: String,
    /// Exclusive.
    pub to_date: String,
    pub events: u64,
    pub events_by_severity: Vec<Count>,
    pub events_by_category: Vec<Count>,
    /// Owning unit (`""`: unattributed).
    pub events_by_unit: Vec<Count>,
    /// `YYYY-MM`
    pub events_by_month: Vec<Count>,
    pub incidents: u64,
    pub incidents_by_severity: Vec<Count>,
    pub incidents_by_category: Vec<Count>,
    pub incidents_by_unit: Vec<Count>,
    pub incidents_by_month: Vec<Count>,
    pub notices_issued: u64,
    /// Issued in the period and reported, or past their deadline.
    pub notices_due: u64,
    pub notices_on_time: u64,
    /// Percent, rounded half up to two decimals.
    pub on_time_rate: f64,
}

#[derive(Serialize, ToSchema)]
pub struct AlertStats {
    pub period: PeriodCounts,
    /// The same dates a year earlier.
    pub year_earlier: PeriodCounts,
}

fn period_from(p: pb::PeriodCounts) -> PeriodCounts {
    let c = |v: Vec<pb::Count>| {
        v.into_iter()
            .map(|c| Count {
                key: c.key,
                count: c.count,
            })
            .collect()
    };
    PeriodCounts {
        from_date: p.from_date,
        to_date: p.to_date,
        events: p.events,
        events_by_severity: c(p.events_by_severity),
        events_by_category: c(p.events_by_category),
        events_by_unit: c(p.events_by_unit),
        events_by_month: c(p.events_by_month),
        incidents: p.incidents,
        incidents_by_severity: c(p.incidents_by_severity),
        incidents_by_category: c(p.incidents_by_category),
        incidents_by_unit: c(p.incidents_by_unit),
        incidents_by_month: c(p.incidents_by_month),
        notices_issued: p.notices_issued,
        notices_due: p.notices_due,
        notices_on_time: p.notices_on_time,
        on_time_rate: p.on_time_rate,
    }
}

#[utoipa::path(get, path = "/v1/alerts/stats", tag = "alerts", security(("bearer" = [])),
    description = "Events and incidents by severity, category, unit and month over [from, to), the same dates a \
        year earlier, notices issued and the on-time rectification rate (secops).",
    params(("from" = String, Query, description = "YYYY-MM-DD (Asia/Shanghai) or RFC 3339"),
        ("to" = String, Query, description = "exclusive")),
    responses((status = 200, body = AlertStats), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody)))]
pub async fn stats(State(s): State<AppState>, ctx: Ctx, p: Params) -> ApiResult<Json<AlertStats>> {
    let (from, to) = (period_bound(&p, "from")?, period_bound(&p, "to")?);
    let r = s
        .alerts
        .clone()
        .get_alert_stats(ctx.grpc(pb::GetAlertStatsRequest {
            from: Some(yiwang_kit::to_timestamp(from)),
            to: Some(yiwang_kit::to_timestamp(to)),
        }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(AlertStats {
        period: period_from(r.period.unwrap_or_default()),
        year_earlier: period_from(r.year_earlier.unwrap_or_default()),
    }))
}
