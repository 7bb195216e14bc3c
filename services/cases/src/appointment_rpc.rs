//! The appointment RPCs (预约): slots, bookings and cancellations, helpers; rules and SQL are in `appointment`.

use chrono::NaiveDate;
use tonic::{Request, Response, Status};
use uuid::Uuid;
use yiwang_kit::{Caller, Error};
use yiwang_proto::cases::v1 as pb;

use crate::api::*;
use crate::appointment::{self, NewSlot};
use crate::calendar::SHANGHAI;

type Reply<T> = Result<Response<T>, Status>;

pub(crate) async fn create_appointment_slot(
    api: &CasesApi,
    req: Request<pb::CreateAppointmentSlotRequest>,
) -> Reply<pb::AppointmentSlot> {
    let caller = Caller::of(&req);
    caller.require_any_role(STAFF_ROLES)?;
    let r = req.into_inner();
    let mut v = yiwang_kit::Violations::new();
    let date = NaiveDate::parse_from_str(&r.date, "%Y-%m-%d");
    if date.is_err() {
        v.add("date", "must be a date YYYY-MM-DD");
    }
    let time = |s: &str| chrono::NaiveTime::parse_from_str(s, "%H:%M");
    let (start, end) = (time(&r.start_time), time(&r.end_time));
    if start.is_err() {
        v.add("start_time", "must be a time HH:MM");
    }
    if end.is_err() {
        v.add("end_time", "must be a time HH:MM");
    }
    if let (Ok(a), Ok(b)) = (start, end)
        && a >= b
    {
        v.add("end_time", "must be after start_time");
    }
    if !(1..=1000).contains(&r.capacity) {
        v.add("capacity", "must be 1 to 1000");
    }
    let hall = r.hall.trim();
    if hall.is_empty() || hall.chars().count() > 100 {
        v.add("hall", "must be 1 to 100 characters");
    }
    if r.item_code.trim().is_empty() {
        v.add("item_code", "is required");
    } else {
        v.check(
            "item_code",
            yiwang_kit::ids::check_code(r.item_code.trim(), 8, 64),
        );
    }
    v.into_result()?;
    let (date, start, end) = (
        date.unwrap_or_default(),
        start.unwrap_or_default(),
        end.unwrap_or_default(),
    );
    let today = chrono::Utc::now().with_timezone(&SHANGHAI).date_naive();
    if date < today {
        return Err(Error::invalid("date", "must not be in the past").into());
    }
    let item = api.current_item(r.item_code.trim()).await?;
    if !is_staff_of(&caller, &item.department) {
        return Err(Error::permission_denied(format!(
            "only staff of {} open slots for item {}",
            item.department, item.code
        ))
        .into());
    }
    let rest_day = !api.calendar().is_working_day(date);
    if rest_day && !item.channels.iter().any(|c| c == "weekend_appointment") {
        return Err(Error::invalid(
            "date",
            format!(
                "{date} is a rest day, and item {} offers no weekend appointment",
                item.code
            ),
        )
        .into());
    }
    let slot = appointment::create_slot(
        &api.pool,
        NewSlot {
            item_code: item.code.clone(),
            department: item.department.clone(),
            hall: hall.to_string(),
            date,
            start_time: start,
            end_time: end,
            capacity: r.capacity as i32,
            rest_day,
            created_by: caller.sub.clone(),
        },
    )
    .await?;
    Ok(Response::new(slot_to_pb(&slot)))
}

pub(crate) async fn list_appointment_slots(
    api: &CasesApi,
    req: Request<pb::ListAppointmentSlotsRequest>,
) -> Reply<pb::ListAppointmentSlotsResponse> {
    let r = req.into_inner();
    if r.item_code.trim().is_empty() {
        return Err(Error::invalid("item_code", "is required").into());
    }
    yiwang_kit::ids::check_code(r.item_code.trim(), 8, 64)
        .map_err(|e| Error::invalid("item_code", e))?;
    let date = NaiveDate::parse_from_str(&r.date, "%Y-%m-%d")
        .map_err(|_| Error::invalid("date", "must be a date YYYY-MM-DD"))?;
    let slots = appointment::list_slots(&api.pool, r.item_code.trim(), date).await?;
    Ok(Response::new(pb::ListAppointmentSlotsResponse {
        slots: slots.iter().map(slot_to_pb).collect(),
    }))
}

pub(crate) async fn book_appointment(
    api: &CasesApi,
    req: Request<pb::BookAppointmentRequest>,
) -> Reply<pb::Appointment> {
    let caller = Caller::of(&req);
    caller.require_any_role(APPLICANT_ROLES)?;
    let r = req.into_inner();
    let slot = Uuid::parse_str(&r.slot_id)
        .map_err(|_| Error::invalid("slot_id", "must be a slot id (UUID)"))?;
    if r.request_id.len() > 255 {
        return Err(Error::invalid("request_id", "must be at most 255 characters").into());
    }
    let today = chrono::Utc::now().with_timezone(&SHANGHAI).date_naive();
    let a = appointment::book(&api.pool, slot, &caller.sub, &r.request_id, today).await?;
    Ok(Response::new(appointment_to_pb(&a)))
}

pub(crate) async fn cancel_appointment(
    api: &CasesApi,
    req: Request<pb::CancelAppointmentRequest>,
) -> Reply<pb::Appointment> {
    let caller = Caller::of(&req);
    caller.require_authenticated()?;
    let id = Uuid::parse_str(&req.get_ref().id)
        .map_err(|_| Error::invalid("id", "must be an appointment id (UUID)"))?;
    let a = appointment::cancel(&api.pool, id, &caller.sub, |booked_by, dept| {
        if booked_by == caller.sub || is_staff_of(&caller, dept) {
            Ok(())
        } else {
            Err(appointment::appointment_not_found(id))
        }
    })
    .await?;
    Ok(Response::new(appointment_to_pb(&a)))
}

pub(crate) async fn assign_appointment_helper(
    api: &CasesApi,
    req: Request<pb::AssignHelperRequest>,
) -> Reply<pb::Appointment> {
    let caller = Caller::of(&req);
    caller.require_authenticated()?;
    let r = req.into_inner();
    let id = Uuid::parse_str(&r.id)
        .map_err(|_| Error::invalid("id", "must be an appointment id (UUID)"))?;
    let (helper, kind, _) = check_helper(&r)?;
    let a = appointment::assign_helper(&api.pool, id, &helper, &kind, |dept| {
        if is_staff_of(&caller, dept) {
            Ok(())
        } else {
            Err(appointment::appointment_not_found(id))
        }
    })
    .await?;
    Ok(Response::new(appointment_to_pb(&a)))
}
