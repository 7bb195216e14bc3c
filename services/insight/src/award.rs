//! Awards the bureau gives (评优): 红旗窗口 to a window for a month, 先进个人 and 党员先锋岗 to a
//! staff member (党员先锋岗 only to a party member), each with its month and reason, once per
//! kind, month and recipient.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};
use uuid::Uuid;
use yiwang_kit::{Caller, Error, Result, Violations, ids, to_timestamp};
use yiwang_proto::insight::v1 as pb;

use crate::period::Month;
use crate::sources::Sources;

pub const KINDS: &[&str] = &["red_flag_window", "advanced_individual", "party_vanguard"];

const COLUMNS: &str =
    "id, kind, month, account, hall, window_number, reason, awarded_by, awarded_at";

fn award_of(r: &sqlx::postgres::PgRow) -> Result<pb::Award> {
    let id: Uuid = r.try_get("id")?;
    let at: DateTime<Utc> = r.try_get("awarded_at")?;
    Ok(pb::Award {
        id: id.to_string(),
        kind: r.try_get("kind")?,
        month: r.try_get("month")?,
        account: r.try_get("account")?,
        hall: r.try_get("hall")?,
        window: r.try_get("window_number")?,
        reason: r.try_get("reason")?,
        awarded_by: r.try_get("awarded_by")?,
        awarded_at: Some(to_timestamp(at)),
    })
}

pub async fn record(
    pool: &PgPool,
    sources: &Sources,
    caller: &Caller,
    r: pb::RecordAwardRequest,
) -> Result<pb::Award> {
    let mut v = Violations::new();
    let kind = r.kind.trim();
    v.one_of("kind", kind, KINDS);
    let month = match Month::parse("month", &r.month) {
        Ok(m) => Some(m),
        Err(e) => {
            v.add("month", e.message);
            None
        }
    };
    let reason = v.text("reason", &r.reason, true, 1000);
    if r.request_id.len() > 255 {
        v.add("request_id", "must be at most 255 characters");
    }
    let (account, hall, window) = (r.account.trim(), r.hall.trim(), r.window.trim());
    if kind == "red_flag_window" {
        if hall.is_empty() || window.is_empty() {
            v.add(
                "window",
                "a 红旗窗口 is given to a window: hall and window are required",
            );
        }
        if !account.is_empty() {
            v.add(
                "account",
                "a 红旗窗口 is given to a window, not to a person",
            );
        }
        v.text("hall", hall, false, 64);
        v.text("window", window, false, 16);
    } else if KINDS.contains(&kind) {
        v.check("account", ids::check_account(account));
        if !hall.is_empty() || !window.is_empty() {
            v.add(
                "window",
                "this award is given to a person: leave hall and window empty",
            );
        }
    }
    v.into_result()?;
    let month = month.ok_or_else(|| Error::invalid("month", "is required"))?;
    if kind == "red_flag_window" {
        crate::staff::check_window(sources, hall, window).await?;
    } else {
        let staff = crate::staff::get(pool, account).await?;
        if kind == "party_vanguard" && !staff.party_member {
            return Err(Error::invalid(
                "account",
                "党员先锋岗 is given to party members only; the register does not show this person as one",
            ));
        }
    }
    // A retried request (same request id) gets the first answer.
    if !r.request_id.is_empty()
        && let Some(row) = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM awards WHERE awarded_by = $1 AND request_id = $2"
        )))
        .bind(&caller.sub)
        .bind(&r.request_id)
        .fetch_optional(pool)
        .await?
    {
        return award_of(&row);
    }
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO awards (id, kind, month, account, hall, window_number, reason, awarded_by, request_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT DO NOTHING RETURNING {COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(kind)
    .bind(month.key())
    .bind(account)
    .bind(hall)
    .bind(window)
    .bind(&reason)
    .bind(&caller.sub)
    .bind(&r.request_id)
    .fetch_optional(pool)
    .await?;
    match row {
        Some(row) => award_of(&row),
        None => Err(Error::already_exists(
            "AWARD_EXISTS",
            format!(
                "{kind} for {} has already been given to {}",
                month.key(),
                if account.is_empty() {
                    format!("{hall} {window}")
                } else {
                    account.to_string()
                }
            ),
        )),
    }
}

pub async fn list(pool: &PgPool, r: pb::ListAwardsRequest) -> Result<Vec<pb::Award>> {
    let month = match r.month.trim() {
        "" => String::new(),
        m => Month::parse("month", m)?.key(),
    };
    let kind = r.kind.trim();
    if !kind.is_empty() && !KINDS.contains(&kind) {
        return Err(Error::invalid(
            "kind",
            format!("must be one of: {}", KINDS.join(", ")),
        ));
    }
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM awards WHERE ($1 = '' OR month = $1) AND ($2 = '' OR kind = $2)
          ORDER BY month DESC, kind, awarded_at LIMIT 5000"
    )))
    .bind(&month)
    .bind(kind)
    .fetch_all(pool)
    .await?;
    rows.iter().map(award_of).collect()
}
