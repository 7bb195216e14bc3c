//! The bureau's register of window staff (窗口工作人员) and the hall windows each served, with
//! history: a posting from a date ends the one before it the day before.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sqlx::{PgPool, Row};
use yiwang_kit::{Caller, Error, Result, Violations, ids, to_timestamp};
use yiwang_proto::insight::v1 as pb;

use crate::period::beijing;
use crate::sources::Sources;

pub const EMPLOYMENTS: &[&str] = &["department", "outsourced"];

fn not_found(account: &str) -> Error {
    Error::not_found(
        "STAFF_NOT_FOUND",
        format!(
            "no staff member has account {}",
            yiwang_kit::error::clip(account)
        ),
    )
}

pub fn today() -> NaiveDate {
    Utc::now().with_timezone(&beijing()).date_naive()
}

pub async fn put(pool: &PgPool, caller: &Caller, r: pb::PutStaffRequest) -> Result<pb::Staff> {
    let mut v = Violations::new();
    let account = r.account.trim();
    v.check("account", ids::check_account(account));
    let name = v.text("name", &r.name, true, 100);
    v.one_of("employment", r.employment.trim(), EMPLOYMENTS);
    let employer = v.text("employer", &r.employer, true, 200);
    let post = v.text("post", &r.post, true, 100);
    v.into_result()?;
    sqlx::query(
        "INSERT INTO staff (account, name, employment, employer, post, party_member, active, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (account) DO UPDATE SET name = $2, employment = $3, employer = $4, post = $5,
             party_member = $6, active = $7, updated_by = $8, updated_at = now()",
    )
    .bind(account)
    .bind(&name)
    .bind(r.employment.trim())
    .bind(&employer)
    .bind(&post)
    .bind(r.party_member)
    .bind(r.active.unwrap_or(true))
    .bind(&caller.sub)
    .execute(pool)
    .await?;
    get(pool, account).await
}

fn staff_of(r: &sqlx::postgres::PgRow) -> Result<pb::Staff> {
    let created: DateTime<Utc> = r.try_get("created_at")?;
    let updated: DateTime<Utc> = r.try_get("updated_at")?;
    Ok(pb::Staff {
        account: r.try_get("account")?,
        name: r.try_get("name")?,
        employment: r.try_get("employment")?,
        employer: r.try_get("employer")?,
        post: r.try_get("post")?,
        party_member: r.try_get("party_member")?,
        active: r.try_get("active")?,
        postings: Vec::new(),
        created_at: Some(to_timestamp(created)),
        updated_at: Some(to_timestamp(updated)),
        updated_by: r.try_get("updated_by")?,
    })
}

const COLUMNS: &str = "account, name, employment, employer, post, party_member, active, created_at, updated_at, updated_by";

pub async fn get(pool: &PgPool, account: &str) -> Result<pb::Staff> {
    let account = account.trim();
    if ids::check_account(account).is_err() {
        return Err(not_found(account));
    }
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM staff WHERE account = $1"
    )))
    .bind(account)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| not_found(account))?;
    let mut s = staff_of(&row)?;
    s.postings = postings(pool, account).await?;
    Ok(s)
}

async fn postings(pool: &PgPool, account: &str) -> Result<Vec<pb::StaffPosting>> {
    let mut by = postings_of(pool, &[account.to_string()]).await?;
    Ok(by.remove(account).unwrap_or_default())
}

/// The postings of several staff members in one query, each's newest first.
async fn postings_of(
    pool: &PgPool,
    accounts: &[String],
) -> Result<std::collections::HashMap<String, Vec<pb::StaffPosting>>> {
    let rows = sqlx::query(
        "SELECT account, hall, window_number, from_date, to_date, posted_by FROM staff_postings
          WHERE account = ANY($1) ORDER BY account, from_date DESC, id DESC",
    )
    .bind(accounts)
    .fetch_all(pool)
    .await?;
    let mut by: std::collections::HashMap<String, Vec<pb::StaffPosting>> = Default::default();
    for r in &rows {
        let from: NaiveDate = r.try_get("from_date")?;
        let to: Option<NaiveDate> = r.try_get("to_date")?;
        by.entry(r.try_get("account")?)
            .or_default()
            .push(pb::StaffPosting {
                hall: r.try_get("hall")?,
                window: r.try_get("window_number")?,
                from: from.to_string(),
                to: to.map(|d| d.to_string()).unwrap_or_default(),
                posted_by: r.try_get("posted_by")?,
            });
    }
    Ok(by)
}

pub async fn list(pool: &PgPool, r: pb::ListStaffRequest) -> Result<Vec<pb::Staff>> {
    let hall = r.hall.trim();
    if hall.len() > 64 {
        return Err(Error::invalid("hall", "must be at most 64 characters"));
    }
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM staff s
          WHERE (NOT $1 OR active)
            AND ($2 = '' OR EXISTS (SELECT 1 FROM staff_postings p
                                     WHERE p.account = s.account AND p.hall = $2 AND p.to_date IS NULL))
          ORDER BY account LIMIT 5000"
    )))
    .bind(r.active_only)
    .bind(hall)
    .fetch_all(pool)
    .await?;
    let mut out = rows.iter().map(staff_of).collect::<Result<Vec<_>>>()?;
    let accounts: Vec<String> = out.iter().map(|s| s.account.clone()).collect();
    let mut postings = postings_of(pool, &accounts).await?;
    for s in &mut out {
        s.postings = postings.remove(&s.account).unwrap_or_default();
    }
    Ok(out)
}

/// Posts the staff member to a window of a hall from a date (today by default). The posting
/// they held ends the day before; a posting that began that day or later is replaced.
pub async fn post(
    pool: &PgPool,
    sources: &Sources,
    caller: &Caller,
    r: pb::PostStaffRequest,
) -> Result<pb::Staff> {
    let account = r.account.trim().to_string();
    let mut v = Violations::new();
    let hall = v.text("hall", &r.hall, true, 64);
    let window = v.text("window", &r.window, true, 16);
    let from = match r.from.trim() {
        "" => Some(today()),
        s => match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            Ok(d) if (2000..=2100).contains(&d.year()) => Some(d),
            _ => {
                v.add("from", "must be a date YYYY-MM-DD from 2000 to 2100");
                None
            }
        },
    };
    v.into_result()?;
    let from = from.unwrap_or_else(today);
    // The staff member exists (404 before asking the catalogue).
    get(pool, &account).await?;
    check_window(sources, &hall, &window).await?;
    let mut tx = pool.begin().await?;
    // One posting change per person at a time.
    sqlx::query("SELECT 1 FROM staff WHERE account = $1 FOR UPDATE")
        .bind(&account)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM staff_postings WHERE account = $1 AND from_date >= $2")
        .bind(&account)
        .bind(from)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE staff_postings SET to_date = $2 - 1
          WHERE account = $1 AND (to_date IS NULL OR to_date >= $2)",
    )
    .bind(&account)
    .bind(from)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO staff_postings (account, hall, window_number, from_date, posted_by)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&account)
    .bind(&hall)
    .bind(&window)
    .bind(from)
    .bind(&caller.sub)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    get(pool, &account).await
}

/// That `window` is one of the hall's windows, as the catalogue has it (a hall it does not
/// know is a bad `hall`).
pub async fn check_window(sources: &Sources, hall: &str, window: &str) -> Result<()> {
    match sources.hall(hall).await {
        Ok(h) if h.windows.iter().any(|w| w.number == window) => Ok(()),
        Ok(_) => Err(Error::invalid(
            "window",
            format!("is not a window of hall {hall}"),
        )),
        Err(status) => Err(Error::dependency("catalogue", "hall", &status)),
    }
}

/// Who served where in [first, end): (account, hall, window) for every posting overlapping it,
/// in the order they began (a person's last is where they served last).
pub async fn postings_in(
    pool: &PgPool,
    first: NaiveDate,
    end: NaiveDate,
) -> Result<Vec<(String, String, String)>> {
    let rows = sqlx::query(
        "SELECT account, hall, window_number, max(from_date) AS began FROM staff_postings
          WHERE from_date < $2 AND (to_date IS NULL OR to_date >= $1)
          GROUP BY 1, 2, 3 ORDER BY began, hall, window_number, account",
    )
    .bind(first)
    .bind(end)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("account")?,
                r.try_get("hall")?,
                r.try_get("window_number")?,
            ))
        })
        .collect()
}
