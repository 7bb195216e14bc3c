//! REST for the cases service (../shared/API.md, Cases): the legal calendar and the public
//! deadline calculator; filing cases and their lifecycle.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use yiwang_kit::Error;
use yiwang_proto::cases::v1 as pb;

use crate::AppState;
use crate::extract::{
    ApiJson, Ctx, OptionalJson, Params, period_bound, request_id, rfc3339, upstream,
};
use crate::middleware::IdempotencyKey;

type ApiResult<T> = Result<T, Error>;

#[derive(Serialize, ToSchema)]
pub struct Deadline {
    /// RFC 3339 with the Asia/Shanghai offset, e.g. `2024-02-21T17:30:00+08:00`.
    pub deadline: String,
    /// False when a year the count passed through has no official arrangement loaded yet.
    pub calendar_complete: bool,
    /// Years counted Monday to Friday because their arrangement is not loaded.
    pub assumed_years: Vec<i32>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarDay {
    /// `YYYY-MM-DD`
    pub date: String,
    /// `holiday` or `workday` (a make-up working day on a weekend)
    pub kind: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct CalendarYear {
    pub year: i32,
    /// False: no arrangement loaded; the year counts Monday to Friday only.
    pub loaded: bool,
    pub days: Vec<CalendarDay>,
    pub updated_at: Option<String>,
    pub updated_by: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarYearInput {
    pub days: Vec<CalendarDay>,
}

fn year_from(r: pb::CalendarYear) -> CalendarYear {
    CalendarYear {
        year: r.year,
        loaded: r.loaded,
        days: r
            .days
            .into_iter()
            .map(|d| CalendarDay {
                date: d.date,
                kind: d.kind,
                name: d.name,
            })
            .collect(),
        updated_at: r.updated_at.and_then(|t| {
            chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        }),
        updated_by: r.updated_by,
    }
}

fn parse_year(year: &str) -> ApiResult<i32> {
    year.parse()
        .map_err(|_| Error::invalid("year", "must be a year, e.g. 2025"))
}

#[utoipa::path(get, path = "/v1/calendar/deadline", tag = "cases",
    description = "The deadline of a limit counted from an instant on the legal working-day calendar \
        (Asia/Shanghai): what the app shows as 预计办结时间. The start day is not counted; working-day \
        limits end at close of office; a natural-day limit ending on a rest day moves to the next working day.",
    params(
        ("from" = Option<String>, Query, description = "RFC 3339 start (default: now)"),
        ("value" = u32, Query, description = "the limit"),
        ("unit" = String, Query, description = "working_days | natural_days | working_hours | same_day"),
    ),
    responses((status = 200, body = Deadline), (status = 400, body = crate::openapi::ErrorBody)))]
pub async fn deadline(State(s): State<AppState>, ctx: Ctx, p: Params) -> ApiResult<Json<Deadline>> {
    let from = match p.0.get("from").map(|v| v.trim()) {
        None | Some("") => chrono::Utc::now(),
        Some(v) => chrono::DateTime::parse_from_rfc3339(v)
            .map_err(|_| {
                Error::invalid(
                    "from",
                    "must be an RFC 3339 timestamp, e.g. 2024-02-08T10:00:00+08:00",
                )
            })?
            .to_utc(),
    };
    if !p.0.contains_key("value") {
        return Err(Error::invalid("value", "is required"));
    }
    let value = p.u32("value")?;
    let unit = p.str("unit");
    if unit.is_empty() {
        return Err(Error::invalid("unit", "is required"));
    }
    let r = s
        .cases
        .clone()
        .compute_deadline(ctx.grpc(pb::ComputeDeadlineRequest {
            from: Some(yiwang_kit::to_timestamp(from)),
            value,
            unit,
        }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(Deadline {
        deadline: r.deadline_local,
        calendar_complete: r.calendar_complete,
        assumed_years: r.assumed_years,
    }))
}

#[utoipa::path(get, path = "/v1/calendar/{year}", tag = "cases",
    description = "One year's official arrangement of holidays and make-up working days.",
    params(("year" = i32, Path)),
    responses((status = 200, body = CalendarYear), (status = 400, body = crate::openapi::ErrorBody)))]
pub async fn get_year(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(year): Path<String>,
) -> ApiResult<Json<CalendarYear>> {
    let year = parse_year(&year)?;
    let r = s
        .cases
        .clone()
        .get_calendar_year(ctx.grpc(pb::GetCalendarYearRequest { year }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(year_from(r)))
}

#[utoipa::path(put, path = "/v1/calendar/{year}", tag = "cases",
    description = "Replaces one year's arrangement (role `admin`). Every listed date must be in the year; \
        a `workday` must fall on a Saturday or Sunday. Audited; all replicas use it at once.",
    params(("year" = i32, Path)),
    request_body = CalendarYearInput,
    security(("bearer" = [])),
    responses((status = 200, body = CalendarYear), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody)))]
pub async fn put_year(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(year): Path<String>,
    ApiJson(body): ApiJson<CalendarYearInput>,
) -> ApiResult<Json<CalendarYear>> {
    let year = parse_year(&year)?;
    let r = s
        .cases
        .clone()
        .set_calendar_year(
            ctx.grpc(pb::SetCalendarYearRequest {
                year,
                days: body
                    .days
                    .into_iter()
                    .map(|d| pb::CalendarDay {
                        date: d.date,
                        kind: d.kind,
                        name: d.name,
                    })
                    .collect(),
            }),
        )
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(year_from(r)))
}

// ---------------------------------------------------------------------------------------------
// Case handling (办件): filing, reading and the lifecycle actions.

/// The applicant as filed.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicantInput {
    /// `person` or `legal_person`.
    pub kind: String,
    pub name: String,
    /// Resident ID (GB 11643) of a person.
    #[serde(default)]
    pub id_number: String,
    /// Unified social credit code (GB 32100) of a legal person.
    #[serde(default)]
    pub uscc: String,
    /// Mainland mobile number.
    pub phone: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseInput {
    /// The item's implementation code; the case is filed against its current published version.
    pub item_code: String,
    /// `online`, `mobile`, `window`, `self_service`, `cross_province` or `weekend_appointment`.
    pub channel: String,
    pub applicant: ApplicantInput,
    /// Names of the materials provided.
    #[serde(default)]
    pub materials: Vec<String>,
}

/// The applicant as the service shows it: `id_number` and `phone` are masked except to the
/// applicant and the handling department.
#[derive(Serialize, ToSchema)]
pub struct Applicant {
    pub kind: String,
    pub name: String,
    pub id_number: String,
    pub uscc: String,
    pub phone: String,
}

#[derive(Serialize, ToSchema)]
pub struct Case {
    pub id: String,
    /// Region code + Asia/Shanghai date + daily sequence, e.g. `340522-20240208-000017`.
    pub case_number: String,
    pub item_code: String,
    pub item_version: u32,
    pub item_name: String,
    /// Handling department (catalogue org unit code).
    pub department: String,
    pub task_type: String,
    pub channel: String,
    pub applicant: Applicant,
    pub materials: Vec<String>,
    /// Required materials of the item not among `materials`.
    pub missing_materials: Vec<String>,
    /// `received`, `accepted`, `not_accepted`, `correction`, `special_procedure`, `approved`,
    /// `approved_with_tolerance`, `denied`, `delivered`, `withdrawn` or `revoked`.
    pub state: String,
    /// The national model's code of the state (1..15; delivered: 16).
    pub state_code: u32,
    /// The promised limit the deadline counts.
    pub limit_value: u32,
    /// `working_days`, `natural_days`, `working_hours` or `same_day`.
    pub limit_unit: String,
    /// RFC 3339 with the Asia/Shanghai offset, e.g. `2024-02-21T17:30:00+08:00`. Set on
    /// acceptance; moved out by every clock stop.
    pub deadline: Option<String>,
    /// `none` (not accepted yet / finished), `running` or `stopped`.
    pub clock: String,
    /// `none`, `yellow` or `red`.
    pub warning: String,
    /// False when the deadline passes through a year whose holiday arrangement is not loaded.
    pub calendar_complete: bool,
    pub outcome_reason: String,
    /// `window`, `ems` or `electronic`.
    pub delivery_method: String,
    pub tracking_number: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub accepted_at: Option<String>,
    pub decided_at: Option<String>,
    pub filed_by: String,
    /// 帮办代办: who helps the applicant, and whether staff or volunteer.
    pub helper: String,
    pub helper_kind: String,
}

impl From<pb::Case> for Case {
    fn from(c: pb::Case) -> Self {
        let a = c.applicant.unwrap_or_default();
        let deadline = if !c.deadline_local.is_empty() {
            Some(c.deadline_local)
        } else {
            rfc3339(&c.deadline)
        };
        Case {
            id: c.id,
            case_number: c.case_number,
            item_code: c.item_code,
            item_version: c.item_version,
            item_name: c.item_name,
            department: c.department,
            task_type: c.task_type,
            channel: c.channel,
            applicant: Applicant {
                kind: a.kind,
                name: a.name,
                id_number: a.id_number,
                uscc: a.uscc,
                phone: a.phone,
            },
            materials: c.materials,
            missing_materials: c.missing_materials,
            state: c.state,
            state_code: c.state_code,
            limit_value: c.limit_value,
            limit_unit: c.limit_unit,
            deadline,
            clock: c.clock,
            warning: c.warning,
            calendar_complete: c.calendar_complete,
            outcome_reason: c.outcome_reason,
            delivery_method: c.delivery_method,
            tracking_number: c.tracking_number,
            created_at: rfc3339(&c.create_time),
            updated_at: rfc3339(&c.update_time),
            accepted_at: rfc3339(&c.accept_time),
            decided_at: rfc3339(&c.decide_time),
            filed_by: c.filed_by,
            helper: c.helper,
            helper_kind: c.helper_kind,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CaseList {
    pub cases: Vec<Case>,
    /// Empty on the last page.
    pub next_page_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct CaseTransition {
    pub time: Option<String>,
    pub actor: String,
    pub action: String,
    pub from_state: String,
    pub to_state: String,
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct CaseHistory {
    pub transitions: Vec<CaseTransition>,
}

/// `{"reason": "…"}`; the body may be omitted where no reason is required.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ReasonInput {
    /// Why (kept in the case history).
    #[serde(default)]
    pub reason: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideInput {
    /// `approved`, `approved_with_tolerance` or `denied`.
    pub outcome: String,
    /// Required to deny.
    #[serde(default)]
    pub reason: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliverInput {
    /// `window`, `ems` or `electronic`.
    pub method: String,
    /// The EMS tracking number; required for `ems`.
    #[serde(default)]
    pub tracking_number: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectionInput {
    /// The materials now provided (added to the case's).
    #[serde(default)]
    pub materials: Vec<String>,
    #[serde(default)]
    pub reason: String,
}

#[utoipa::path(post, path = "/v1/cases", tag = "cases", security(("bearer" = [])),
    description = "Files a case against the current published version of an item (citizen, enterprise, or a \
        clerk at a window). Send `Idempotency-Key` to make retries safe: a retry returns the first case.",
    request_body = CaseInput,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = Case), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody), (status = 409, body = crate::openapi::ErrorBody)))]
pub async fn file_case(
    State(s): State<AppState>,
    ctx: Ctx,
    key: Option<Extension<IdempotencyKey>>,
    ApiJson(c): ApiJson<CaseInput>,
) -> ApiResult<(StatusCode, Json<Case>)> {
    let req = pb::FileCaseRequest {
        item_code: c.item_code,
        channel: c.channel,
        applicant: Some(pb::Applicant {
            kind: c.applicant.kind,
            name: c.applicant.name,
            id_number: c.applicant.id_number,
            uscc: c.applicant.uscc,
            phone: c.applicant.phone,
        }),
        materials: c.materials,
        request_id: request_id(key),
    };
    let r = s
        .cases
        .clone()
        .file_case(ctx.grpc(req))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok((StatusCode::CREATED, Json(Case::from(r))))
}

#[utoipa::path(get, path = "/v1/cases", tag = "cases", security(("bearer" = [])),
    description = "Applicants: their own cases; staff: their department's.",
    params(("state" = Option<String>, Query, description = "filter by state, e.g. accepted"),
           ("page_size" = Option<i32>, Query), ("page_token" = Option<String>, Query)),
    responses((status = 200, body = CaseList), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody)))]
pub async fn list_cases(
    State(s): State<AppState>,
    ctx: Ctx,
    p: Params,
) -> ApiResult<Json<CaseList>> {
    let req = pb::ListCasesRequest {
        state: p.str("state"),
        page_size: p.i32("page_size")?,
        page_token: p.str("page_token"),
    };
    let r = s
        .cases
        .clone()
        .list_cases(ctx.grpc(req))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(CaseList {
        cases: r.cases.into_iter().map(Case::from).collect(),
        next_page_token: r.next_page_token,
    }))
}

#[utoipa::path(get, path = "/v1/cases/{id}", tag = "cases", security(("bearer" = [])),
    description = "One case: to the applicant who filed it, or staff of the handling department.",
    params(("id" = String, Path)),
    responses((status = 200, body = Case), (status = 401, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn get_case(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<Case>> {
    let r = s
        .cases
        .clone()
        .get_case(ctx.grpc(pb::GetCaseRequest { id }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(Case::from(r)))
}

#[utoipa::path(get, path = "/v1/cases/{id}/history", tag = "cases", security(("bearer" = [])),
    description = "Every transition of the case: who, when, why, from → to.",
    params(("id" = String, Path)),
    responses((status = 200, body = CaseHistory), (status = 401, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn get_case_history(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<CaseHistory>> {
    let r = s
        .cases
        .clone()
        .get_case_history(ctx.grpc(pb::GetCaseRequest { id }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(CaseHistory {
        transitions: r
            .transitions
            .into_iter()
            .map(|t| CaseTransition {
                time: rfc3339(&t.time),
                actor: t.actor,
                action: t.action,
                from_state: t.from_state,
                to_state: t.to_state,
                reason: t.reason,
            })
            .collect(),
    }))
}

/// The lifecycle actions, one gRPC method each.
#[derive(Clone, Copy)]
enum Action {
    Accept,
    Reject,
    RequestCorrection,
    SubmitCorrection,
    StartSpecial,
    EndSpecial,
    Decide,
    Deliver,
    Withdraw,
    Revoke,
}

/// Runs one lifecycle action on case `id`.
async fn act(
    s: AppState,
    ctx: Ctx,
    action: Action,
    req: pb::CaseActionRequest,
) -> ApiResult<Json<Case>> {
    let req = ctx.grpc(req);
    let mut c = s.cases.clone();
    let r = match action {
        Action::Accept => c.accept_case(req).await,
        Action::Reject => c.reject_case(req).await,
        Action::RequestCorrection => c.request_correction(req).await,
        Action::SubmitCorrection => c.submit_correction(req).await,
        Action::StartSpecial => c.start_special_procedure(req).await,
        Action::EndSpecial => c.end_special_procedure(req).await,
        Action::Decide => c.decide_case(req).await,
        Action::Deliver => c.deliver_case(req).await,
        Action::Withdraw => c.withdraw_case(req).await,
        Action::Revoke => c.revoke_case(req).await,
    };
    let r = r.map_err(|status| {
        let mut e = upstream(status);
        if matches!(action, Action::Deliver) {
            // The REST body calls the service's `delivery_method` `method`.
            for v in &mut e.violations {
                if v.field == "delivery_method" {
                    v.field = "method".to_string();
                }
            }
            if let Some(rest) = e.message.strip_prefix("delivery_method") {
                e.message = format!("method{rest}");
            }
        }
        e
    })?;
    Ok(Json(Case::from(r.into_inner())))
}

/// A `{"reason"}` action.
async fn act_with_reason(
    s: AppState,
    ctx: Ctx,
    action: Action,
    id: String,
    reason: String,
) -> ApiResult<Json<Case>> {
    act(
        s,
        ctx,
        action,
        pb::CaseActionRequest {
            id,
            reason,
            ..Default::default()
        },
    )
    .await
}

#[utoipa::path(post, path = "/v1/cases/{id}/accept", tag = "cases", security(("bearer" = [])),
    description = "受理 (handling department): received → accepted; starts the clock and sets `deadline`. \
        The body is optional.",
    params(("id" = String, Path)),
    request_body(content = Option<ReasonInput>),
    responses((status = 200, body = Case), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody), (status = 409, body = crate::openapi::ErrorBody)))]
pub async fn accept_case(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    OptionalJson(b): OptionalJson<ReasonInput>,
) -> ApiResult<Json<Case>> {
    act_with_reason(s, ctx, Action::Accept, id, b.reason).await
}

#[utoipa::path(post, path = "/v1/cases/{id}/reject", tag = "cases", security(("bearer" = [])),
    description = "不予受理 (handling department): → not_accepted. `reason` is required.",
    params(("id" = String, Path)),
    request_body = ReasonInput,
    responses((status = 200, body = Case), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody), (status = 409, body = crate::openapi::ErrorBody)))]
pub async fn reject_case(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    OptionalJson(b): OptionalJson<ReasonInput>,
) -> ApiResult<Json<Case>> {
    act_with_reason(s, ctx, Action::Reject, id, b.reason).await
}

#[utoipa::path(post, path = "/v1/cases/{id}/request-correction", tag = "cases", security(("bearer" = [])),
    description = "补正 (handling department): asks the applicant for missing or corrected materials \
        (→ correction). `reason` (what is needed) is required.",
    params(("id" = String, Path)),
    request_body = ReasonInput,
    responses((status = 200, body = Case), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody), (status = 409, body = crate::openapi::ErrorBody)))]
pub async fn request_correction(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    OptionalJson(b): OptionalJson<ReasonInput>,
) -> ApiResult<Json<Case>> {
    act_with_reason(s, ctx, Action::RequestCorrection, id, b.reason).await
}

#[utoipa::path(post, path = "/v1/cases/{id}/submit-correction", tag = "cases", security(("bearer" = [])),
    description = "The applicant provides the requested materials (added to the case's); the case \
        returns to the handling department.",
    params(("id" = String, Path)),
    request_body = CorrectionInput,
    responses((status = 200, body = Case), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody), (status = 409, body = crate::openapi::ErrorBody)))]
pub async fn submit_correction(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<CorrectionInput>,
) -> ApiResult<Json<Case>> {
    let req = pb::CaseActionRequest {
        id,
        reason: b.reason,
        materials: b.materials,
        ..Default::default()
    };
    act(s, ctx, Action::SubmitCorrection, req).await
}

#[utoipa::path(post, path = "/v1/cases/{id}/start-special", tag = "cases", security(("bearer" = [])),
    description = "特别程序 (handling department, e.g. hearing, inspection, expert review): \
        → special_procedure. `reason` is required.",
    params(("id" = String, Path)),
    request_body = ReasonInput,
    responses((status = 200, body = Case), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody), (status = 409, body = crate::openapi::ErrorBody)))]
pub async fn start_special(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    OptionalJson(b): OptionalJson<ReasonInput>,
) -> ApiResult<Json<Case>> {
    act_with_reason(s, ctx, Action::StartSpecial, id, b.reason).await
}

#[utoipa::path(post, path = "/v1/cases/{id}/end-special", tag = "cases", security(("bearer" = [])),
    description = "Ends the special procedure (handling department); `deadline` moves out by the time \
        the clock stopped. The body is optional.",
    params(("id" = String, Path)),
    request_body(content = Option<ReasonInput>),
    responses((status = 200, body = Case), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody), (status = 409, body = crate::openapi::ErrorBody)))]
pub async fn end_special(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    OptionalJson(b): OptionalJson<ReasonInput>,
) -> ApiResult<Json<Case>> {
    act_with_reason(s, ctx, Action::EndSpecial, id, b.reason).await
}

#[utoipa::path(post, path = "/v1/cases/{id}/decide", tag = "cases", security(("bearer" = [])),
    description = "办结 (handling department): → approved, approved_with_tolerance or denied. \
        `reason` is required to deny.",
    params(("id" = String, Path)),
    request_body = DecideInput,
    responses((status = 200, body = Case), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody), (status = 409, body = crate::openapi::ErrorBody)))]
pub async fn decide_case(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<DecideInput>,
) -> ApiResult<Json<Case>> {
    let req = pb::CaseActionRequest {
        id,
        reason: b.reason,
        outcome: b.outcome,
        ..Default::default()
    };
    act(s, ctx, Action::Decide, req).await
}

#[utoipa::path(post, path = "/v1/cases/{id}/deliver", tag = "cases", security(("bearer" = [])),
    description = "送达 (handling department): → delivered, at the window, by EMS (with \
        `tracking_number`) or electronically.",
    params(("id" = String, Path)),
    request_body = DeliverInput,
    responses((status = 200, body = Case), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody), (status = 409, body = crate::openapi::ErrorBody)))]
pub async fn deliver_case(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<DeliverInput>,
) -> ApiResult<Json<Case>> {
    let req = pb::CaseActionRequest {
        id,
        delivery_method: b.method,
        tracking_number: b.tracking_number,
        ..Default::default()
    };
    act(s, ctx, Action::Deliver, req).await
}

#[utoipa::path(post, path = "/v1/cases/{id}/withdraw", tag = "cases", security(("bearer" = [])),
    description = "撤回 (the applicant): → withdrawn. The body is optional.",
    params(("id" = String, Path)),
    request_body(content = Option<ReasonInput>),
    responses((status = 200, body = Case), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody), (status = 409, body = crate::openapi::ErrorBody)))]
pub async fn withdraw_case(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    OptionalJson(b): OptionalJson<ReasonInput>,
) -> ApiResult<Json<Case>> {
    act_with_reason(s, ctx, Action::Withdraw, id, b.reason).await
}

#[utoipa::path(post, path = "/v1/cases/{id}/revoke", tag = "cases", security(("bearer" = [])),
    description = "撤销 (handling department): → revoked. `reason` is required.",
    params(("id" = String, Path)),
    request_body = ReasonInput,
    responses((status = 200, body = Case), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody), (status = 409, body = crate::openapi::ErrorBody)))]
pub async fn revoke_case(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    OptionalJson(b): OptionalJson<ReasonInput>,
) -> ApiResult<Json<Case>> {
    act_with_reason(s, ctx, Action::Revoke, id, b.reason).await
}

// ---------------------------------------------------------------------------------------------
// 好差评: evaluations, and the rectifications 差评 open.

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluationInput {
    /// 5 非常满意, 4 满意, 3 基本满意, 2 不满意, 1 非常不满意
    pub level: u32,
    /// Optional ratings 1..5 by dimension, e.g. `{"attitude": 5, "efficiency": 4}`.
    #[serde(default)]
    pub dimensions: std::collections::HashMap<String, u32>,
    #[serde(default)]
    pub comment: String,
}

#[derive(Serialize, ToSchema)]
pub struct Evaluation {
    pub id: String,
    pub case_id: String,
    pub case_number: String,
    pub level: u32,
    pub dimensions: std::collections::HashMap<String, u32>,
    pub comment: String,
    pub created_at: Option<String>,
    /// Set for levels 1–2 (差评): the rectification the department must complete.
    pub rectification_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Rectification {
    pub id: String,
    pub case_id: String,
    pub case_number: String,
    pub department: String,
    pub level: u32,
    pub comment: String,
    /// open | completed | called_back
    pub state: String,
    /// RFC 3339 with the Asia/Shanghai offset.
    pub deadline: String,
    pub overdue: bool,
    pub completion_note: String,
    pub completed_at: Option<String>,
    pub callback_note: String,
    pub callback_satisfied: bool,
    pub called_back_at: Option<String>,
    pub created_at: Option<String>,
}

impl From<pb::Rectification> for Rectification {
    fn from(r: pb::Rectification) -> Self {
        Rectification {
            completed_at: rfc3339(&r.complete_time),
            called_back_at: rfc3339(&r.callback_time),
            created_at: rfc3339(&r.create_time),
            id: r.id,
            case_id: r.case_id,
            case_number: r.case_number,
            department: r.department,
            level: r.level,
            comment: r.comment,
            state: r.state,
            deadline: r.deadline_local,
            overdue: r.overdue,
            completion_note: r.completion_note,
            callback_note: r.callback_note,
            callback_satisfied: r.callback_satisfied,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RectificationList {
    pub rectifications: Vec<Rectification>,
    pub next_page_token: String,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RectificationInput {
    /// What was put right (complete) or what the applicant answered (callback).
    #[serde(default)]
    pub note: String,
    /// Callback only: whether the applicant is satisfied now.
    #[serde(default)]
    pub satisfied: bool,
}

#[utoipa::path(post, path = "/v1/cases/{id}/evaluation", tag = "cases", security(("bearer" = [])),
    description = "好差评 by the applicant, once per case after the decision. Levels 1–2 (差评) open a \
        rectification for the handling department with a working-day deadline.",
    params(("id" = String, Path)),
    request_body = EvaluationInput,
    responses((status = 201, body = Evaluation), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody), (status = 409, body = crate::openapi::ErrorBody)))]
pub async fn evaluate_case(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<EvaluationInput>,
) -> ApiResult<(axum::http::StatusCode, Json<Evaluation>)> {
    let r = s
        .cases
        .clone()
        .evaluate_case(ctx.grpc(pb::EvaluateCaseRequest {
            case_id: id,
            level: b.level,
            dimensions: b.dimensions,
            comment: b.comment,
        }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok((
        axum::http::StatusCode::CREATED,
        Json(Evaluation {
            created_at: rfc3339(&r.create_time),
            rectification_id: (!r.rectification_id.is_empty()).then_some(r.rectification_id),
            id: r.id,
            case_id: r.case_id,
            case_number: r.case_number,
            level: r.level,
            dimensions: r.dimensions,
            comment: r.comment,
        }),
    ))
}

#[utoipa::path(get, path = "/v1/rectifications", tag = "cases", security(("bearer" = [])),
    description = "Rectifications of 差评: the caller's department's (staff), or all (oversight).",
    params(
        ("state" = Option<String>, Query, description = "open | completed | called_back"),
        ("page_size" = Option<i32>, Query), ("page_token" = Option<String>, Query),
    ),
    responses((status = 200, body = RectificationList), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody)))]
pub async fn list_rectifications(
    State(s): State<AppState>,
    ctx: Ctx,
    p: Params,
) -> ApiResult<Json<RectificationList>> {
    let r = s
        .cases
        .clone()
        .list_rectifications(ctx.grpc(pb::ListRectificationsRequest {
            state: p.str("state"),
            page_size: p.i32("page_size")?,
            page_token: p.str("page_token"),
        }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(RectificationList {
        rectifications: r
            .rectifications
            .into_iter()
            .map(Rectification::from)
            .collect(),
        next_page_token: r.next_page_token,
    }))
}

async fn advance_rectification(
    s: AppState,
    ctx: Ctx,
    id: String,
    b: RectificationInput,
    callback: bool,
) -> ApiResult<Json<Rectification>> {
    let req = ctx.grpc(pb::RectificationActionRequest {
        id,
        note: b.note,
        satisfied: b.satisfied,
    });
    let mut client = s.cases.clone();
    let r = if callback {
        client.callback_rectification(req).await
    } else {
        client.complete_rectification(req).await
    }
    .map_err(upstream)?
    .into_inner();
    Ok(Json(Rectification::from(r)))
}

#[utoipa::path(post, path = "/v1/rectifications/{id}/complete", tag = "cases", security(("bearer" = [])),
    description = "The handling department reports what it put right: open → completed.",
    params(("id" = String, Path)),
    request_body = RectificationInput,
    responses((status = 200, body = Rectification), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn complete_rectification(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<RectificationInput>,
) -> ApiResult<Json<Rectification>> {
    advance_rectification(s, ctx, id, b, false).await
}

#[utoipa::path(post, path = "/v1/rectifications/{id}/callback", tag = "cases", security(("bearer" = [])),
    description = "The callback (回访) to the applicant after the rectification: completed → called_back.",
    params(("id" = String, Path)),
    request_body = RectificationInput,
    responses((status = 200, body = Rectification), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn callback_rectification(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<RectificationInput>,
) -> ApiResult<Json<Rectification>> {
    advance_rectification(s, ctx, id, b, true).await
}

// ---------------------------------------------------------------------------------------------
// Appointments.

#[derive(Serialize, ToSchema)]
pub struct AppointmentSlot {
    pub id: String,
    pub item_code: String,
    pub department: String,
    pub hall: String,
    /// `YYYY-MM-DD` (Asia/Shanghai)
    pub date: String,
    /// `HH:MM`
    pub start_time: String,
    pub end_time: String,
    pub capacity: u32,
    pub booked: u32,
    pub available: u32,
    /// A rest day or holiday of the legal calendar (weekend appointment).
    pub rest_day: bool,
}

impl From<pb::AppointmentSlot> for AppointmentSlot {
    fn from(s: pb::AppointmentSlot) -> Self {
        AppointmentSlot {
            id: s.id,
            item_code: s.item_code,
            department: s.department,
            hall: s.hall,
            date: s.date,
            start_time: s.start_time,
            end_time: s.end_time,
            capacity: s.capacity,
            booked: s.booked,
            available: s.available,
            rest_day: s.rest_day,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AppointmentSlotList {
    pub slots: Vec<AppointmentSlot>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentSlotInput {
    pub item_code: String,
    pub hall: String,
    /// `YYYY-MM-DD`
    pub date: String,
    /// `HH:MM`
    pub start_time: String,
    pub end_time: String,
    pub capacity: u32,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentInput {
    pub slot_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct Appointment {
    pub id: String,
    pub slot: Option<AppointmentSlot>,
    /// booked | cancelled
    pub state: String,
    pub booked_by: String,
    pub created_at: Option<String>,
    pub cancelled_at: Option<String>,
    pub helper: String,
    pub helper_kind: String,
}

impl From<pb::Appointment> for Appointment {
    fn from(a: pb::Appointment) -> Self {
        Appointment {
            created_at: rfc3339(&a.create_time),
            cancelled_at: rfc3339(&a.cancel_time),
            id: a.id,
            slot: a.slot.map(AppointmentSlot::from),
            state: a.state,
            booked_by: a.booked_by,
            helper: a.helper,
            helper_kind: a.helper_kind,
        }
    }
}

#[utoipa::path(get, path = "/v1/appointment-slots", tag = "cases",
    description = "The appointment slots of an item on a date with the places left (public).",
    params(("item_code" = String, Query), ("date" = String, Query, description = "YYYY-MM-DD")),
    responses((status = 200, body = AppointmentSlotList), (status = 400, body = crate::openapi::ErrorBody)))]
pub async fn list_slots(
    State(s): State<AppState>,
    ctx: Ctx,
    p: Params,
) -> ApiResult<Json<AppointmentSlotList>> {
    let r = s
        .cases
        .clone()
        .list_appointment_slots(ctx.grpc(pb::ListAppointmentSlotsRequest {
            item_code: p.str("item_code"),
            date: p.str("date"),
        }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(AppointmentSlotList {
        slots: r.slots.into_iter().map(AppointmentSlot::from).collect(),
    }))
}

#[utoipa::path(post, path = "/v1/appointment-slots", tag = "cases", security(("bearer" = [])),
    description = "Opens a slot (staff of the item's department). On a rest day only for items that offer \
        weekend appointment.",
    request_body = AppointmentSlotInput,
    responses((status = 201, body = AppointmentSlot), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody),
        (status = 409, body = crate::openapi::ErrorBody)))]
pub async fn create_slot(
    State(s): State<AppState>,
    ctx: Ctx,
    ApiJson(b): ApiJson<AppointmentSlotInput>,
) -> ApiResult<(axum::http::StatusCode, Json<AppointmentSlot>)> {
    let r = s
        .cases
        .clone()
        .create_appointment_slot(ctx.grpc(pb::CreateAppointmentSlotRequest {
            item_code: b.item_code,
            hall: b.hall,
            date: b.date,
            start_time: b.start_time,
            end_time: b.end_time,
            capacity: b.capacity,
        }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok((
        axum::http::StatusCode::CREATED,
        Json(AppointmentSlot::from(r)),
    ))
}

#[utoipa::path(post, path = "/v1/appointments", tag = "cases", security(("bearer" = [])),
    description = "Books a place in a slot (citizen, enterprise). A full slot is refused; one booking per \
        person per slot; `Idempotency-Key` makes a retry return the first booking.",
    request_body = AppointmentInput,
    responses((status = 201, body = Appointment), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody), (status = 409, body = crate::openapi::ErrorBody)))]
pub async fn book_appointment(
    State(s): State<AppState>,
    ctx: Ctx,
    key: Option<Extension<IdempotencyKey>>,
    ApiJson(b): ApiJson<AppointmentInput>,
) -> ApiResult<(axum::http::StatusCode, Json<Appointment>)> {
    let r = s
        .cases
        .clone()
        .book_appointment(ctx.grpc(pb::BookAppointmentRequest {
            slot_id: b.slot_id,
            request_id: request_id(key),
        }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok((axum::http::StatusCode::CREATED, Json(Appointment::from(r))))
}

#[utoipa::path(delete, path = "/v1/appointments/{id}", tag = "cases", security(("bearer" = [])),
    description = "Cancels a booking (the booker, or staff of the department) and frees the place.",
    params(("id" = String, Path)),
    responses((status = 200, body = Appointment), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn cancel_appointment(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<Appointment>> {
    let r = s
        .cases
        .clone()
        .cancel_appointment(ctx.grpc(pb::CancelAppointmentRequest { id }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(Appointment::from(r)))
}

// ---------------------------------------------------------------------------------------------
// Tickets: 涉企诉求, "办不成事" complaints, 网民留言.

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketInput {
    /// enterprise_request | complaint | web_message
    pub kind: String,
    pub subject: String,
    pub body: String,
}

#[derive(Serialize, ToSchema)]
pub struct Ticket {
    pub id: String,
    pub kind: String,
    pub subject: String,
    pub body: String,
    /// received | dispatched | replied | called_back | closed
    pub state: String,
    pub submitted_by: String,
    pub department: String,
    /// RFC 3339 with the Asia/Shanghai offset.
    pub reply_deadline: Option<String>,
    /// Not replied by the deadline, or replied after it.
    pub overdue: bool,
    pub reply: String,
    pub replied_at: Option<String>,
    pub callback_note: String,
    pub callback_satisfied: bool,
    pub created_at: Option<String>,
    pub dispatched_at: Option<String>,
    pub closed_at: Option<String>,
}

impl From<pb::Ticket> for Ticket {
    fn from(t: pb::Ticket) -> Self {
        Ticket {
            replied_at: rfc3339(&t.reply_time),
            created_at: rfc3339(&t.create_time),
            dispatched_at: rfc3339(&t.dispatch_time),
            closed_at: rfc3339(&t.close_time),
            reply_deadline: (!t.reply_deadline_local.is_empty()).then_some(t.reply_deadline_local),
            id: t.id,
            kind: t.kind,
            subject: t.subject,
            body: t.body,
            state: t.state,
            submitted_by: t.submitted_by,
            department: t.department,
            overdue: t.overdue,
            reply: t.reply,
            callback_note: t.callback_note,
            callback_satisfied: t.callback_satisfied,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TicketList {
    pub tickets: Vec<Ticket>,
    pub next_page_token: String,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct TicketActionInput {
    /// dispatch: the department (org unit code) that must answer.
    #[serde(default)]
    pub department: String,
    /// dispatch: its reply limit in working days.
    #[serde(default)]
    pub reply_working_days: u32,
    /// reply: the answer; callback / close: a note.
    #[serde(default)]
    pub text: String,
    /// callback: whether the submitter is satisfied.
    #[serde(default)]
    pub satisfied: bool,
}

#[utoipa::path(post, path = "/v1/tickets", tag = "cases", security(("bearer" = [])),
    description = "Submits an enterprise request (涉企诉求), a “办不成事” complaint or a website message \
        (citizen, enterprise). `Idempotency-Key` makes a retry return the first ticket.",
    request_body = TicketInput,
    responses((status = 201, body = Ticket), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody)))]
pub async fn create_ticket(
    State(s): State<AppState>,
    ctx: Ctx,
    key: Option<Extension<IdempotencyKey>>,
    ApiJson(b): ApiJson<TicketInput>,
) -> ApiResult<(axum::http::StatusCode, Json<Ticket>)> {
    let r = s
        .cases
        .clone()
        .create_ticket(ctx.grpc(pb::CreateTicketRequest {
            kind: b.kind,
            subject: b.subject,
            body: b.body,
            request_id: request_id(key),
        }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok((axum::http::StatusCode::CREATED, Json(Ticket::from(r))))
}

#[utoipa::path(get, path = "/v1/tickets", tag = "cases", security(("bearer" = [])),
    description = "Tickets: the caller's own (applicants), those dispatched to the caller's department \
        (staff), or all (supervisors).",
    params(("state" = Option<String>, Query), ("kind" = Option<String>, Query),
        ("page_size" = Option<i32>, Query), ("page_token" = Option<String>, Query)),
    responses((status = 200, body = TicketList), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody)))]
pub async fn list_tickets(
    State(s): State<AppState>,
    ctx: Ctx,
    p: Params,
) -> ApiResult<Json<TicketList>> {
    let r = s
        .cases
        .clone()
        .list_tickets(ctx.grpc(pb::ListTicketsRequest {
            state: p.str("state"),
            kind: p.str("kind"),
            page_size: p.i32("page_size")?,
            page_token: p.str("page_token"),
        }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(TicketList {
        tickets: r.tickets.into_iter().map(Ticket::from).collect(),
        next_page_token: r.next_page_token,
    }))
}

#[utoipa::path(get, path = "/v1/tickets/{id}", tag = "cases", security(("bearer" = [])),
    description = "One ticket: to its submitter, the department it was dispatched to, or supervisors.",
    params(("id" = String, Path)),
    responses((status = 200, body = Ticket), (status = 401, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn get_ticket(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<Ticket>> {
    let r = s
        .cases
        .clone()
        .get_ticket(ctx.grpc(pb::GetTicketRequest { id }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(Ticket::from(r)))
}

#[derive(Clone, Copy)]
enum TicketStep {
    Dispatch,
    Reply,
    Callback,
    Close,
}

async fn ticket_step(
    s: AppState,
    ctx: Ctx,
    id: String,
    b: TicketActionInput,
    step: TicketStep,
) -> ApiResult<Json<Ticket>> {
    let req = ctx.grpc(pb::TicketActionRequest {
        id,
        department: b.department,
        reply_working_days: b.reply_working_days,
        text: b.text,
        satisfied: b.satisfied,
    });
    let mut c = s.cases.clone();
    let r = match step {
        TicketStep::Dispatch => c.dispatch_ticket(req).await,
        TicketStep::Reply => c.reply_ticket(req).await,
        TicketStep::Callback => c.callback_ticket(req).await,
        TicketStep::Close => c.close_ticket(req).await,
    }
    .map_err(upstream)?
    .into_inner();
    Ok(Json(Ticket::from(r)))
}

#[utoipa::path(post, path = "/v1/tickets/{id}/dispatch", tag = "cases", security(("bearer" = [])),
    description = "Dispatches a received ticket to a department with a reply limit in working days (supervisor).",
    params(("id" = String, Path)), request_body = TicketActionInput,
    responses((status = 200, body = Ticket), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn dispatch_ticket(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    OptionalJson(b): OptionalJson<TicketActionInput>,
) -> ApiResult<Json<Ticket>> {
    ticket_step(s, ctx, id, b, TicketStep::Dispatch).await
}

#[utoipa::path(post, path = "/v1/tickets/{id}/reply", tag = "cases", security(("bearer" = [])),
    description = "The department's answer (`text`), by its staff.",
    params(("id" = String, Path)), request_body = TicketActionInput,
    responses((status = 200, body = Ticket), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn reply_ticket(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    OptionalJson(b): OptionalJson<TicketActionInput>,
) -> ApiResult<Json<Ticket>> {
    ticket_step(s, ctx, id, b, TicketStep::Reply).await
}

#[utoipa::path(post, path = "/v1/tickets/{id}/callback", tag = "cases", security(("bearer" = [])),
    description = "The callback to the submitter after the reply (supervisor): `text`, `satisfied`.",
    params(("id" = String, Path)), request_body = TicketActionInput,
    responses((status = 200, body = Ticket), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn callback_ticket(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    OptionalJson(b): OptionalJson<TicketActionInput>,
) -> ApiResult<Json<Ticket>> {
    ticket_step(s, ctx, id, b, TicketStep::Callback).await
}

#[utoipa::path(post, path = "/v1/tickets/{id}/close", tag = "cases", security(("bearer" = [])),
    description = "Closes a ticket after the callback (supervisor).",
    params(("id" = String, Path)), request_body = TicketActionInput,
    responses((status = 200, body = Ticket), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn close_ticket(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    OptionalJson(b): OptionalJson<TicketActionInput>,
) -> ApiResult<Json<Ticket>> {
    ticket_step(s, ctx, id, b, TicketStep::Close).await
}

// ---------------------------------------------------------------------------------------------
// Statistics.

#[derive(Serialize, ToSchema)]
pub struct ItemCount {
    pub item_code: String,
    pub item_name: String,
    pub count: u64,
}

/// Rates are percentages rounded half up to two decimals.
#[derive(Serialize, ToSchema)]
pub struct CaseStats {
    pub from: String,
    pub to: String,
    /// The department the figures are limited to ('' = the whole county).
    pub department: String,
    pub filed: u64,
    pub by_channel: std::collections::BTreeMap<String, u64>,
    pub by_department: std::collections::BTreeMap<String, u64>,
    pub by_state: std::collections::BTreeMap<String, u64>,
    pub top_items: Vec<ItemCount>,
    pub online_share: f64,
    pub decided: u64,
    pub on_time_rate: f64,
    pub avg_handling_working_days: f64,
    pub evaluations: u64,
    pub good_rate: f64,
    pub mean_level: f64,
    pub rectifications: u64,
    pub rectified_rate: f64,
    pub callback_rate: f64,
    pub tickets: u64,
    pub dispatch_rate: f64,
    pub reply_rate: f64,
    pub on_time_reply_rate: f64,
    pub closure_rate: f64,
}

/// `YYYY-MM-DD` (midnight, Asia/Shanghai) or an RFC 3339 instant.
#[utoipa::path(get, path = "/v1/cases/stats", tag = "cases", security(("bearer" = [])),
    description = "Case statistics over [from, to): volumes by channel, department, item and state; online \
        share; on-time rate; average handling time in working days; satisfaction; rectification and ticket \
        rates. Supervisors: the county; staff: their department.",
    params(("from" = String, Query, description = "YYYY-MM-DD (Asia/Shanghai) or RFC 3339"),
        ("to" = String, Query, description = "exclusive")),
    responses((status = 200, body = CaseStats), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody)))]
pub async fn case_stats(
    State(s): State<AppState>,
    ctx: Ctx,
    p: Params,
) -> ApiResult<Json<CaseStats>> {
    let (from, to) = (period_bound(&p, "from")?, period_bound(&p, "to")?);
    let r = s
        .cases
        .clone()
        .get_case_stats(ctx.grpc(pb::GetCaseStatsRequest {
            from: Some(yiwang_kit::to_timestamp(from)),
            to: Some(yiwang_kit::to_timestamp(to)),
        }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(CaseStats {
        from: from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        to: to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        department: r.department,
        filed: r.filed,
        by_channel: r.by_channel.into_iter().collect(),
        by_department: r.by_department.into_iter().collect(),
        by_state: r.by_state.into_iter().collect(),
        top_items: r
            .top_items
            .into_iter()
            .map(|i| ItemCount {
                item_code: i.item_code,
                item_name: i.item_name,
                count: i.count,
            })
            .collect(),
        online_share: r.online_share,
        decided: r.decided,
        on_time_rate: r.on_time_rate,
        avg_handling_working_days: r.avg_handling_working_days,
        evaluations: r.evaluations,
        good_rate: r.good_rate,
        mean_level: r.mean_level,
        rectifications: r.rectifications,
        rectified_rate: r.rectified_rate,
        callback_rate: r.callback_rate,
        tickets: r.tickets,
        dispatch_rate: r.dispatch_rate,
        reply_rate: r.reply_rate,
        on_time_reply_rate: r.on_time_reply_rate,
        closure_rate: r.closure_rate,
    }))
}

// ---------------------------------------------------------------------------------------------
// 帮办代办.

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HelperInput {
    /// The helper's name or account.
    pub helper: String,
    /// staff | volunteer
    pub helper_kind: String,
    #[serde(default)]
    pub note: String,
}

#[utoipa::path(post, path = "/v1/cases/{id}/assign-helper", tag = "cases", security(("bearer" = [])),
    description = "帮办代办: the handling department assigns a helper (staff or volunteer) to a case; \
        recorded in the case's history.",
    params(("id" = String, Path)), request_body = HelperInput,
    responses((status = 200, body = Case), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn assign_case_helper(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<HelperInput>,
) -> ApiResult<Json<Case>> {
    let r = s
        .cases
        .clone()
        .assign_case_helper(ctx.grpc(pb::AssignHelperRequest {
            id,
            helper: b.helper,
            helper_kind: b.helper_kind,
            note: b.note,
        }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(Case::from(r)))
}

#[utoipa::path(post, path = "/v1/appointments/{id}/assign-helper", tag = "cases", security(("bearer" = [])),
    description = "帮办代办 for a booked appointment (staff of the slot's department).",
    params(("id" = String, Path)), request_body = HelperInput,
    responses((status = 200, body = Appointment), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn assign_appointment_helper(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<HelperInput>,
) -> ApiResult<Json<Appointment>> {
    let r = s
        .cases
        .clone()
        .assign_appointment_helper(ctx.grpc(pb::AssignHelperRequest {
            id,
            helper: b.helper,
            helper_kind: b.helper_kind,
            note: b.note,
        }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(Appointment::from(r)))
}
