//! The gRPC API (yiwang.cases.v1.CasesService): proto ↔ domain conversion and authorisation.

use std::sync::{Arc, RwLock};

use chrono::{NaiveDate, SecondsFormat};
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use yiwang_kit::auth::roles;
use yiwang_kit::{Caller, Error, from_timestamp, to_timestamp};
use yiwang_proto::cases::v1 as pb;
use yiwang_proto::cases::v1::cases_service_server::CasesService;

use crate::calendar::{
    Calendar, CalendarError, DayEntry, DayKind, EntryProblem, Limit, Position, SHANGHAI, Unit,
};
use crate::store;

pub struct CasesApi {
    pub pool: PgPool,
    /// The legal calendar every deadline is computed on; replaced whole when a year changes.
    pub calendar: Arc<RwLock<Calendar>>,
}

type Reply<T> = Result<Response<T>, Status>;

impl CasesApi {
    fn calendar(&self) -> Calendar {
        self.calendar
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
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

/// A calendar error of a computation, with the request field it is about.
fn compute_error(e: CalendarError) -> Error {
    match e {
        CalendarError::LimitTooLarge { .. } => Error::invalid("value", e.to_string()),
        CalendarError::OutOfRange => Error::invalid("from", "is outside the supported dates"),
        CalendarError::ScanLimit(_) => Error::invalid("value", e.to_string()),
        other => Error::internal(other),
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

#[tonic::async_trait]
impl CasesService for CasesApi {
    async fn compute_deadline(
        &self,
        req: Request<pb::ComputeDeadlineRequest>,
    ) -> Reply<pb::Deadline> {
        let r = req.into_inner();
        let from = from_timestamp(
            "from",
            r.from
                .as_ref()
                .ok_or_else(|| Error::invalid("from", "is required"))?,
        )?;
        let unit = Unit::parse(&r.unit).ok_or_else(|| {
            Error::invalid(
                "unit",
                "must be working_days, natural_days, working_hours or same_day",
            )
        })?;
        let d = self
            .calendar()
            .deadline(from, Limit::new(r.value, unit))
            .map_err(compute_error)?;
        Ok(Response::new(pb::Deadline {
            deadline: Some(to_timestamp(d.at.to_utc())),
            deadline_local: d
                .at
                .with_timezone(&SHANGHAI)
                .to_rfc3339_opts(SecondsFormat::Secs, false),
            calendar_complete: d.calendar_complete(),
            assumed_years: d.assumed_years,
        }))
    }

    async fn get_calendar_year(
        &self,
        req: Request<pb::GetCalendarYearRequest>,
    ) -> Reply<pb::CalendarYear> {
        let year = req.get_ref().year;
        check_year(year)?;
        let meta = store::year_meta(&self.pool, year).await?;
        Ok(Response::new(year_to_pb(year, &self.calendar(), meta)))
    }

    async fn set_calendar_year(
        &self,
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
        let mut next = self.calendar();
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
        store::replace_year(&self.pool, &caller, r.year, &days, &before).await?;
        // Reload rather than swap in `next`: another administrator may have set another year
        // meanwhile, and the database has both.
        let fresh = store::load_calendar(&self.pool)
            .await
            .map_err(Error::internal)?;
        *self.calendar.write().unwrap_or_else(|e| e.into_inner()) = fresh.clone();
        tracing::info!(year = r.year, days = days.len(), actor = %caller.sub, "calendar year replaced");
        let meta = store::year_meta(&self.pool, r.year).await?;
        Ok(Response::new(year_to_pb(r.year, &fresh, meta)))
    }
}
