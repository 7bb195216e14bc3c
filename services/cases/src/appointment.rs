//! Appointments (预约): slots with a capacity per item, hall and date, booked and cancelled
//! without ever overbooking. The place is taken by a conditional UPDATE of the slot's counter
//! (`booked < capacity`) in the booking's transaction, so of fifty bookings for the last place
//! exactly one gets it and the others are told the slot is full.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use sqlx::{PgPool, Row};
use uuid::Uuid;
use yiwang_kit::{Error, Result};

/// A booking is on the next working day (the inbox reminds the booker).
pub const REMINDER: &str = "cases.appointment.reminder";

#[derive(Debug, Clone)]
pub struct SlotRow {
    pub id: Uuid,
    pub item_code: String,
    pub department: String,
    pub hall: String,
    pub date: NaiveDate,
    pub start_time: NaiveTime,
    pub end_time: NaiveTime,
    pub capacity: i32,
    pub booked: i32,
    pub rest_day: bool,
}

#[derive(Debug, Clone)]
pub struct AppointmentRow {
    pub id: Uuid,
    pub slot: SlotRow,
    pub state: String,
    pub booked_by: String,
    pub created_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub helper: String,
    pub helper_kind: String,
}

const SLOT_COLUMNS: &str = "s.id, s.item_code, s.department, s.hall, s.date, s.start_time, s.end_time, s.capacity, s.booked, s.rest_day";

fn slot_from_row(r: &sqlx::postgres::PgRow) -> Result<SlotRow> {
    Ok(SlotRow {
        id: r.try_get("id")?,
        item_code: r.try_get("item_code")?,
        department: r.try_get("department")?,
        hall: r.try_get("hall")?,
        date: r.try_get("date")?,
        start_time: r.try_get("start_time")?,
        end_time: r.try_get("end_time")?,
        capacity: r.try_get("capacity")?,
        booked: r.try_get("booked")?,
        rest_day: r.try_get("rest_day")?,
    })
}

pub struct NewSlot {
    pub item_code: String,
    pub department: String,
    pub hall: String,
    pub date: NaiveDate,
    pub start_time: NaiveTime,
    pub end_time: NaiveTime,
    pub capacity: i32,
    pub rest_day: bool,
    pub created_by: String,
}

pub async fn create_slot(pool: &PgPool, s: NewSlot) -> Result<SlotRow> {
    let id = Uuid::now_v7();
    let inserted = sqlx::query(
        "INSERT INTO appointment_slots (id, item_code, department, hall, date, start_time, end_time, capacity, rest_day, created_by)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) ON CONFLICT (item_code, hall, date, start_time) DO NOTHING",
    )
    .bind(id)
    .bind(&s.item_code)
    .bind(&s.department)
    .bind(&s.hall)
    .bind(s.date)
    .bind(s.start_time)
    .bind(s.end_time)
    .bind(s.capacity)
    .bind(s.rest_day)
    .bind(&s.created_by)
    .execute(pool)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(Error::already_exists(
            "SLOT_EXISTS",
            format!(
                "item {} already has a slot in {} on {} at {}",
                s.item_code,
                s.hall,
                s.date,
                s.start_time.format("%H:%M")
            ),
        ));
    }
    get_slot(pool, id).await
}

pub async fn get_slot(pool: &PgPool, id: Uuid) -> Result<SlotRow> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {SLOT_COLUMNS} FROM appointment_slots s WHERE s.id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| {
        Error::not_found(
            "SLOT_NOT_FOUND",
            format!("appointment slot {id} does not exist"),
        )
    })?;
    slot_from_row(&row)
}

pub async fn list_slots(pool: &PgPool, item_code: &str, date: NaiveDate) -> Result<Vec<SlotRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {SLOT_COLUMNS} FROM appointment_slots s WHERE s.item_code = $1 AND s.date = $2 ORDER BY s.start_time, s.hall"
    )))
    .bind(item_code)
    .bind(date)
    .fetch_all(pool)
    .await?;
    rows.iter().map(slot_from_row).collect()
}

pub async fn get_appointment(pool: &PgPool, id: Uuid) -> Result<AppointmentRow> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT a.id AS appointment_id, a.state, a.booked_by, a.created_at, a.cancelled_at, a.helper, a.helper_kind, {SLOT_COLUMNS}
         FROM appointments a JOIN appointment_slots s ON s.id = a.slot_id WHERE a.id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| appointment_not_found(id))?;
    appointment_from_row(&row)
}

/// The caller's appointments, the coming ones first (then the past, newest first); at most 200.
pub async fn list_booked_by(pool: &PgPool, booked_by: &str) -> Result<Vec<AppointmentRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT a.id AS appointment_id, a.state, a.booked_by, a.created_at, a.cancelled_at, a.helper, a.helper_kind, {SLOT_COLUMNS}
         FROM appointments a JOIN appointment_slots s ON s.id = a.slot_id
         WHERE a.booked_by = $1
         ORDER BY (s.date < (now() AT TIME ZONE 'Asia/Shanghai')::date), 
                  CASE WHEN s.date >= (now() AT TIME ZONE 'Asia/Shanghai')::date THEN s.date END,
                  s.date DESC, s.start_time
         LIMIT 200"
    )))
    .bind(booked_by)
    .fetch_all(pool)
    .await?;
    rows.iter().map(appointment_from_row).collect()
}

fn appointment_from_row(row: &sqlx::postgres::PgRow) -> Result<AppointmentRow> {
    Ok(AppointmentRow {
        id: row.try_get("appointment_id")?,
        slot: slot_from_row(&row)?,
        state: row.try_get("state")?,
        booked_by: row.try_get("booked_by")?,
        created_at: row.try_get("created_at")?,
        cancelled_at: row.try_get("cancelled_at")?,
        helper: row.try_get("helper")?,
        helper_kind: row.try_get("helper_kind")?,
    })
}

pub fn appointment_not_found(id: Uuid) -> Error {
    Error::not_found(
        "APPOINTMENT_NOT_FOUND",
        format!("appointment {id} does not exist"),
    )
}

/// Books a place. `today` (Asia/Shanghai) refuses slots in the past.
pub async fn book(
    pool: &PgPool,
    slot_id: Uuid,
    booked_by: &str,
    request_id: &str,
    today: NaiveDate,
) -> Result<AppointmentRow> {
    if !request_id.is_empty() {
        let existing: Option<Uuid> = sqlx::query_scalar(
            "SELECT id FROM appointments WHERE booked_by = $1 AND request_id = $2",
        )
        .bind(booked_by)
        .bind(request_id)
        .fetch_optional(pool)
        .await?;
        if let Some(id) = existing {
            return get_appointment(pool, id).await;
        }
    }
    let slot = get_slot(pool, slot_id).await?;
    if slot.date < today {
        return Err(Error::failed_precondition(
            "SLOT_PAST",
            format!("the slot on {} is in the past", slot.date),
        ));
    }
    let id = Uuid::now_v7();
    let mut tx = pool.begin().await?;
    let taken = sqlx::query(
        "UPDATE appointment_slots SET booked = booked + 1 WHERE id = $1 AND booked < capacity",
    )
    .bind(slot_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if taken == 0 {
        return Err(Error::failed_precondition(
            "SLOT_FULL",
            format!(
                "the slot {} {}–{} in {} is fully booked",
                slot.date,
                slot.start_time.format("%H:%M"),
                slot.end_time.format("%H:%M"),
                slot.hall
            ),
        ));
    }
    let inserted = sqlx::query(
        "INSERT INTO appointments (id, slot_id, state, booked_by, request_id) VALUES ($1, $2, 'booked', $3, $4)
         ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(slot_id)
    .bind(booked_by)
    .bind(request_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        // Rolling back returns the place taken above.
        drop(tx);
        if !request_id.is_empty() {
            let first: Option<Uuid> = sqlx::query_scalar(
                "SELECT id FROM appointments WHERE booked_by = $1 AND request_id = $2",
            )
            .bind(booked_by)
            .bind(request_id)
            .fetch_optional(pool)
            .await?;
            if let Some(first) = first {
                return get_appointment(pool, first).await;
            }
        }
        return Err(Error::already_exists(
            "ALREADY_BOOKED",
            "you already have a booking in this slot (or this request_id was used)",
        ));
    }
    tx.commit().await?;
    get_appointment(pool, id).await
}

/// Cancels a booking and frees its place; `may_cancel` checks the caller on the locked row.
pub async fn cancel(
    pool: &PgPool,
    id: Uuid,
    actor: &str,
    may_cancel: impl FnOnce(&str, &str) -> Result<()>,
) -> Result<AppointmentRow> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query(
        "SELECT a.state, a.booked_by, a.slot_id, s.department FROM appointments a
         JOIN appointment_slots s ON s.id = a.slot_id WHERE a.id = $1 FOR UPDATE OF a",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| appointment_not_found(id))?;
    let state: String = row.try_get("state")?;
    let booked_by: String = row.try_get("booked_by")?;
    let slot_id: Uuid = row.try_get("slot_id")?;
    let department: String = row.try_get("department")?;
    may_cancel(&booked_by, &department)?;
    if state != "booked" {
        return Err(Error::failed_precondition(
            "APPOINTMENT_STATE",
            format!("appointment {id} is already {state}"),
        ));
    }
    sqlx::query(
        "UPDATE appointments SET state = 'cancelled', cancelled_at = now(), cancelled_by = $2 WHERE id = $1",
    )
    .bind(id)
    .bind(actor)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE appointment_slots SET booked = booked - 1 WHERE id = $1")
        .bind(slot_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    get_appointment(pool, id).await
}

/// Assigns a helper (帮办代办) to a booked appointment; `may` gets the slot's department.
pub async fn assign_helper(
    pool: &PgPool,
    id: Uuid,
    helper: &str,
    kind: &str,
    may: impl FnOnce(&str) -> Result<()>,
) -> Result<AppointmentRow> {
    let a = get_appointment(pool, id).await?;
    may(&a.slot.department)?;
    let n = sqlx::query(
        "UPDATE appointments SET helper = $2, helper_kind = $3 WHERE id = $1 AND state = 'booked'",
    )
    .bind(id)
    .bind(helper)
    .bind(kind)
    .execute(pool)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(Error::failed_precondition(
            "APPOINTMENT_STATE",
            format!(
                "appointment {id} is {}; only a booked one gets a helper",
                a.state
            ),
        ));
    }
    get_appointment(pool, id).await
}

/// Reminds the booker the working day before (预约提醒): each booking whose date has no working
/// day left before it (booked the day before, or over a weekend or holiday, is reminded at
/// once), once (`cases.appointment.reminder`; the inbox tells the booker).
pub async fn remind(pool: &PgPool, calendar: &crate::calendar::Calendar) -> Result<usize> {
    let today = Utc::now()
        .with_timezone(&crate::calendar::SHANGHAI)
        .date_naive();
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(
        "SELECT a.id, a.booked_by, s.item_code, s.department, s.hall, s.date, s.start_time, s.end_time
           FROM appointments a JOIN appointment_slots s ON s.id = a.slot_id
          WHERE a.state = 'booked' AND a.reminded_at IS NULL
            AND s.date > $1 AND s.date <= $1 + 20
          ORDER BY s.date LIMIT 2000
          FOR UPDATE OF a SKIP LOCKED",
    )
    .bind(today)
    .fetch_all(&mut *tx)
    .await?;
    let mut reminded: Vec<Uuid> = Vec::new();
    for r in &rows {
        let date: NaiveDate = r.try_get("date")?;
        let working_day_between = today
            .iter_days()
            .skip(1)
            .take_while(|d| *d < date)
            .any(|d| calendar.is_working_day(d));
        if working_day_between {
            continue;
        }
        let id: Uuid = r.try_get("id")?;
        let start: NaiveTime = r.try_get("start_time")?;
        let end: NaiveTime = r.try_get("end_time")?;
        yiwang_kit::outbox::enqueue(
            &mut tx,
            REMINDER,
            &serde_json::json!({
                "appointment_id": id,
                "booked_by": r.try_get::<String, _>("booked_by")?,
                "item_code": r.try_get::<String, _>("item_code")?,
                "department": r.try_get::<String, _>("department")?,
                "hall": r.try_get::<String, _>("hall")?,
                "date": date.to_string(),
                "start_time": start.format("%H:%M").to_string(),
                "end_time": end.format("%H:%M").to_string(),
            }),
        )
        .await?;
        reminded.push(id);
    }
    sqlx::query("UPDATE appointments SET reminded_at = now() WHERE id = ANY($1)")
        .bind(&reminded)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(reminded.len())
}
