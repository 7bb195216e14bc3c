//! The legal calendar RPCs: deadlines computed on it, and its years read and set; the calendar itself is `calendar`, its SQL `store`.

use std::sync::Arc;

use chrono::{NaiveDate, SecondsFormat};
use tonic::{Request, Response, Status};
use yiwang_kit::auth::roles;
use yiwang_kit::{Caller, Error, from_timestamp, to_timestamp};
use yiwang_proto::cases::v1 as pb;

use crate::api::*;
use crate::calendar::{
    Calendar, CalendarError, DayEntry, DayKind, EntryProblem, Limit, Position, SHANGHAI, Unit,
};
use crate::store;

type Reply<T> = Result<Response<T>, Status>;

pub(crate) async fn compute_deadline(
    api: &CasesApi,
    req: Request<pb::ComputeDeadlineRequest>,
) -> Reply<pb::Deadline> {
    let r = req.into_inner();
    let from = match r.from.as_ref() {
        Some(t) => from_timestamp("from", t)?,
        None => chrono::Utc::now(),
    };
    let value = r
        .value
        .ok_or_else(|| Error::invalid("value", "is required"))?;
    {
        use chrono::Datelike;
        if !YEARS.contains(&from.with_timezone(&SHANGHAI).year()) {
            return Err(Error::invalid(
                "from",
                format!("must be in the years {} to {}", YEARS.start(), YEARS.end()),
            )
            .into());
        }
    }
    let unit = Unit::parse(&r.unit).ok_or_else(|| {
        Error::invalid(
            "unit",
            "must be working_days, natural_days, working_hours or same_day",
        )
    })?;
    let d = api
        .calendar()
        .deadline(from, Limit::new(value, unit))
        .map_err(compute_error)?;
    Ok(Response::new(pb::Deadline {
        deadline_time: Some(to_timestamp(d.at.to_utc())),
        deadline: d
            .at
            .with_timezone(&SHANGHAI)
            .to_rfc3339_opts(SecondsFormat::Secs, false),
        calendar_complete: d.calendar_complete(),
        assumed_years: d.assumed_years,
    }))
}

pub(crate) async fn get_calendar_year(
    api: &CasesApi,
    req: Request<pb::GetCalendarYearRequest>,
) -> Reply<pb::CalendarYear> {
    let year = req.get_ref().year;
    check_year(year)?;
    let meta = store::year_meta(&api.pool, year).await?;
    Ok(Response::new(year_to_pb(year, &api.calendar(), meta)))
}

pub(crate) async fn set_calendar_year(
    api: &CasesApi,
    req: Request<pb::SetCalendarYearRequest>,
) -> Reply<pb::CalendarYear> {
    let caller = Caller::of(&req);
    caller.require_any_role(&[roles::ADMIN])?;
    let r = req.into_inner();
    check_year(r.year)?;
    if r.days.is_empty() {
        return Err(Error::invalid(
            "days",
            "must list the year's holidays and make-up working days",
        )
        .into());
    }
    let mut v = yiwang_kit::Violations::new();
    let mut entries = Vec::with_capacity(r.days.len());
    for (i, d) in r.days.iter().enumerate() {
        let date = NaiveDate::parse_from_str(&d.date, "%Y-%m-%d");
        if date.is_err() {
            v.add(format!("days[{i}].date"), "must be a date YYYY-MM-DD");
        }
        let kind = DayKind::parse(&d.kind);
        if kind.is_none() {
            v.add(format!("days[{i}].kind"), "must be holiday or workday");
        }
        if d.name.chars().count() > 50 {
            v.add(format!("days[{i}].name"), "must be at most 50 characters");
        }
        if let (Ok(date), Some(kind)) = (date, kind) {
            entries.push(DayEntry {
                date,
                kind,
                name: d.name.trim().to_string(),
            });
        }
    }
    v.into_result()?;
    // Validate on a copy: the live calendar changes only once the database has the year.
    let mut next = Calendar::clone(&api.calendar());
    let before = next.year(r.year).unwrap_or_default().to_vec();
    next.set_year(r.year, entries).map_err(|e| match e {
        CalendarError::InvalidEntry {
            at: Position::Entry(i),
            problem,
        } => {
            let field = match problem {
                EntryProblem::UnknownKind(_) => format!("days[{i}].kind"),
                _ => format!("days[{i}].date"),
            };
            Error::invalid(field, problem.to_string())
        }
        other => Error::invalid("days", other.to_string()),
    })?;
    let days = next.year(r.year).unwrap_or_default().to_vec();
    store::replace_year(&api.pool, &caller, r.year, &days, &before).await?;
    // Reload rather than swap in `next`: another administrator may have set another year
    // meanwhile, and the database has both.
    let fresh = store::load_calendar(&api.pool)
        .await
        .map_err(Error::internal)?;
    let fresh = Arc::new(fresh);
    *api.calendar.write().unwrap_or_else(|e| e.into_inner()) = fresh.clone();
    tracing::info!(year = r.year, days = days.len(), actor = %caller.sub, "calendar year replaced");
    let meta = store::year_meta(&api.pool, r.year).await?;
    Ok(Response::new(year_to_pb(r.year, &fresh, meta)))
}

/// Years a calendar can be asked about or set (well inside what the arithmetic supports).
const YEARS: std::ops::RangeInclusive<i32> = 1950..=2200;

fn check_year(year: i32) -> Result<(), Error> {
    if YEARS.contains(&year) {
        Ok(())
    } else {
        Err(Error::invalid(
            "year",
            format!("must be between {} and {}", YEARS.start(), YEARS.end()),
        ))
    }
}

fn year_to_pb(year: i32, cal: &Calendar, meta: Option<store::YearMeta>) -> pb::CalendarYear {
    pb::CalendarYear {
        year,
        loaded: cal.is_year_loaded(year),
        days: cal
            .year(year)
            .unwrap_or_default()
            .iter()
            .map(|d| pb::CalendarDay {
                date: d.date.to_string(),
                kind: d.kind.as_str().to_string(),
                name: d.name.clone(),
            })
            .collect(),
        updated_at: meta.as_ref().map(|m| to_timestamp(m.updated_at)),
        updated_by: meta.map(|m| m.updated_by).unwrap_or_default(),
    }
}
