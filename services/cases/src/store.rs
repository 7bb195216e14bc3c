//! The cases service's SQL: the calendar so far.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgPool, Row};
use yiwang_kit::{Caller, Result, outbox};

use crate::calendar::{self, Calendar, DayEntry, DayKind};

pub const CALENDAR_CHANGED: &str = "cases.calendar.changed";

/// Who changed a year, and when.
pub struct YearMeta {
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

/// Loads every stored year into a calendar.
pub async fn load_calendar(pool: &PgPool) -> anyhow::Result<Calendar> {
    let rows = sqlx::query("SELECT date, year, kind, name FROM calendar_days ORDER BY date")
        .fetch_all(pool)
        .await?;
    let years: Vec<i32> = sqlx::query_scalar("SELECT year FROM calendar_years ORDER BY year")
        .fetch_all(pool)
        .await?;
    let mut cal = Calendar::new();
    for year in years {
        let mut entries = Vec::new();
        for r in rows.iter().filter(|r| r.get::<i32, _>("year") == year) {
            entries.push(DayEntry {
                date: r.get("date"),
                kind: DayKind::parse(r.get::<&str, _>("kind"))
                    .ok_or_else(|| anyhow::anyhow!("calendar_days has an unknown kind"))?,
                name: r.get("name"),
            });
        }
        cal.set_year(year, entries)?;
    }
    Ok(cal)
}

/// Stores the years of the shipped calendar (data/cn-workdays.csv) that the database does not
/// have yet; a year an administrator has set is never overwritten.
pub async fn seed_calendar(pool: &PgPool) -> anyhow::Result<()> {
    let shipped = Calendar::from_csv(calendar::DEFAULT_CSV)?;
    for year in shipped.loaded_years() {
        let mut tx = pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO calendar_years (year, updated_by) VALUES ($1, 'seed:data/cn-workdays.csv') ON CONFLICT DO NOTHING",
        )
        .bind(year)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 1 {
            insert_days(&mut tx, year, shipped.year(year).unwrap_or_default()).await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

async fn insert_days(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    year: i32,
    days: &[DayEntry],
) -> Result<()> {
    let dates: Vec<NaiveDate> = days.iter().map(|d| d.date).collect();
    let kinds: Vec<&str> = days.iter().map(|d| d.kind.as_str()).collect();
    let names: Vec<&str> = days.iter().map(|d| d.name.as_str()).collect();
    sqlx::query(
        "INSERT INTO calendar_days (date, year, kind, name)
         SELECT d, $1, k, n FROM unnest($2::date[], $3::text[], $4::text[]) AS t(d, k, n)",
    )
    .bind(year)
    .bind(&dates)
    .bind(&kinds)
    .bind(&names)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn year_meta(pool: &PgPool, year: i32) -> Result<Option<YearMeta>> {
    let row = sqlx::query("SELECT updated_at, updated_by FROM calendar_years WHERE year = $1")
        .bind(year)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| YearMeta {
        updated_at: r.get("updated_at"),
        updated_by: r.get("updated_by"),
    }))
}

fn days_json(days: &[DayEntry]) -> serde_json::Value {
    days.iter()
        .map(|d| serde_json::json!({"date": d.date, "kind": d.kind.as_str(), "name": d.name}))
        .collect()
}

/// Replaces one year's arrangement (already validated by [`Calendar::set_year`]): the days, an
/// audit record with before and after, and `cases.calendar.changed` for every replica.
pub async fn replace_year(
    pool: &PgPool,
    caller: &Caller,
    year: i32,
    days: &[DayEntry],
    before: &[DayEntry],
) -> Result<()> {
    let mut tx = pool.begin().await?;
    // One change to the calendar at a time; readers are not blocked.
    sqlx::query("LOCK TABLE calendar_years IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM calendar_days WHERE year = $1")
        .bind(year)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO calendar_years (year, updated_at, updated_by) VALUES ($1, now(), $2)
         ON CONFLICT (year) DO UPDATE SET updated_at = now(), updated_by = $2",
    )
    .bind(year)
    .bind(&caller.sub)
    .execute(&mut *tx)
    .await?;
    insert_days(&mut tx, year, days).await?;
    sqlx::query(
        "INSERT INTO audit_log (actor, action, entity, entity_key, before, after) VALUES ($1, 'set', 'calendar_year', $2, $3, $4)",
    )
    .bind(&caller.sub)
    .bind(year.to_string())
    .bind(days_json(before))
    .bind(days_json(days))
    .execute(&mut *tx)
    .await?;
    outbox::enqueue(
        &mut tx,
        CALENDAR_CHANGED,
        &serde_json::json!({"year": year}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
