//! REST for the cases service (../shared/API.md, Cases). So far: the legal calendar and the
//! public deadline calculator.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use yiwang_kit::Error;
use yiwang_proto::cases::v1 as pb;

use crate::AppState;
use crate::extract::{ApiJson, Ctx, Params, upstream};

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
