//! Statistics over a period: volumes, online share, on-time rate, handling time, satisfaction,
//! rectification and ticket rates. One department or the whole county.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};
use yiwang_kit::Result;

use crate::calendar::Calendar;

#[derive(Debug, Default)]
pub struct Stats {
    pub filed: u64,
    pub by_channel: HashMap<String, u64>,
    pub by_department: HashMap<String, u64>,
    pub by_state: HashMap<String, u64>,
    pub top_items: Vec<(String, String, u64)>,
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
    pub routed: u64,
    pub tickets_by_source: std::collections::BTreeMap<String, TicketRates>,
    pub cross_province: std::collections::HashMap<String, u64>,
    pub free_mailings: u64,
    pub weekend_appointments: u64,
    /// County-wide only: each department's figures.
    pub departments: Vec<DepartmentStats>,
    /// Month (`YYYY-MM`, Beijing time) → channel → cases filed.
    pub by_month: std::collections::BTreeMap<String, HashMap<String, u64>>,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct DepartmentStats {
    pub department: String,
    pub filed: u64,
    pub online: u64,
    pub online_share: f64,
    pub items_with_cases: u64,
    pub decided: u64,
    pub on_time_rate: f64,
    pub evaluations: u64,
    pub good_rate: f64,
    pub rectifications: u64,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct TicketRates {
    pub submitted: u64,
    pub dispatch_rate: f64,
    pub reply_rate: f64,
    pub closure_rate: f64,
    pub callback_rate: f64,
    pub satisfaction_rate: f64,
}

/// Rates are percentages rounded half up to two decimals (kit's shared rule).
pub use yiwang_kit::percent as rate;

async fn grouped(
    pool: &PgPool,
    column: &str,
    dept: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<HashMap<String, u64>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {column} AS k, count(*) AS n FROM cases
         WHERE created_at >= $1 AND created_at < $2 AND ($3 = '' OR department = $3) GROUP BY 1"
    )))
    .bind(from)
    .bind(to)
    .bind(dept)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("k")?, r.try_get::<i64, _>("n")? as u64)))
        .collect()
}

pub async fn compute(
    pool: &PgPool,
    calendar: &Calendar,
    dept: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Stats> {
    let mut s = Stats {
        by_channel: grouped(pool, "channel", dept, from, to).await?,
        by_department: grouped(pool, "department", dept, from, to).await?,
        by_state: grouped(pool, "state", dept, from, to).await?,
        ..Default::default()
    };
    s.filed = s.by_channel.values().sum();
    let online: u64 = ["online", "mobile"]
        .iter()
        .filter_map(|c| s.by_channel.get(*c))
        .sum();
    s.online_share = rate(online as i64, s.filed as i64);

    let rows = sqlx::query(
        "SELECT item_code, min(item_name) AS name, count(*) AS n FROM cases
         WHERE created_at >= $1 AND created_at < $2 AND ($3 = '' OR department = $3)
         GROUP BY item_code ORDER BY n DESC, item_code LIMIT 20",
    )
    .bind(from)
    .bind(to)
    .bind(dept)
    .fetch_all(pool)
    .await?;
    for r in rows {
        s.top_items.push((
            r.try_get("item_code")?,
            r.try_get("name")?,
            r.try_get::<i64, _>("n")? as u64,
        ));
    }

    // Decided in the period: on time, and office time from acceptance to decision.
    let rows = sqlx::query(
        "SELECT accepted_at, decided_at, deadline FROM cases
         WHERE decided_at >= $1 AND decided_at < $2 AND ($3 = '' OR department = $3)",
    )
    .bind(from)
    .bind(to)
    .bind(dept)
    .fetch_all(pool)
    .await?;
    s.decided = rows.len() as u64;
    let (mut with_deadline, mut on_time, mut handled, mut office_secs) = (0i64, 0i64, 0i64, 0i64);
    for r in &rows {
        let accepted: Option<DateTime<Utc>> = r.try_get("accepted_at")?;
        let decided: Option<DateTime<Utc>> = r.try_get("decided_at")?;
        let deadline: Option<DateTime<Utc>> = r.try_get("deadline")?;
        if let (Some(d), Some(dl)) = (decided, deadline) {
            with_deadline += 1;
            if d <= dl {
                on_time += 1;
            }
        }
        if let (Some(a), Some(d)) = (accepted, decided)
            && let Ok(t) = calendar.office_time_between(a, d)
        {
            handled += 1;
            office_secs += t.duration.num_seconds();
        }
    }
    s.on_time_rate = rate(on_time, with_deadline);
    let day = calendar.office_hours().daily().num_seconds().max(1);
    if handled > 0 {
        s.avg_handling_working_days =
            ((office_secs as f64 / handled as f64 / day as f64) * 100.0).round() / 100.0;
    }

    let r = sqlx::query(
        "SELECT count(*) AS n, count(*) FILTER (WHERE e.level >= 3) AS good, coalesce(avg(e.level), 0)::float8 AS mean
         FROM evaluations e JOIN cases c ON c.id = e.case_id
         WHERE e.created_at >= $1 AND e.created_at < $2 AND ($3 = '' OR c.department = $3)",
    )
    .bind(from)
    .bind(to)
    .bind(dept)
    .fetch_one(pool)
    .await?;
    let n: i64 = r.try_get("n")?;
    s.evaluations = n as u64;
    s.good_rate = rate(r.try_get("good")?, n);
    s.mean_level = (r.try_get::<f64, _>("mean")? * 100.0).round() / 100.0;

    let r = sqlx::query(
        "SELECT count(*) AS n, count(*) FILTER (WHERE state IN ('completed', 'called_back')) AS done,
                count(*) FILTER (WHERE state = 'called_back') AS called
         FROM rectifications WHERE created_at >= $1 AND created_at < $2 AND ($3 = '' OR department = $3)",
    )
    .bind(from)
    .bind(to)
    .bind(dept)
    .fetch_one(pool)
    .await?;
    let n: i64 = r.try_get("n")?;
    s.rectifications = n as u64;
    s.rectified_rate = rate(r.try_get("done")?, n);
    s.callback_rate = rate(r.try_get("called")?, n);

    let r = sqlx::query(
        "SELECT count(*) AS n,
                count(*) FILTER (WHERE dispatched_at IS NOT NULL) AS dispatched,
                count(*) FILTER (WHERE replied_at IS NOT NULL) AS replied,
                count(*) FILTER (WHERE replied_at IS NOT NULL AND replied_at <= reply_deadline) AS on_time,
                count(*) FILTER (WHERE state = 'closed') AS closed
         FROM tickets WHERE created_at >= $1 AND created_at < $2 AND ($3 = '' OR department = $3)",
    )
    .bind(from)
    .bind(to)
    .bind(dept)
    .fetch_one(pool)
    .await?;
    let n: i64 = r.try_get("n")?;
    let dispatched: i64 = r.try_get("dispatched")?;
    s.tickets = n as u64;
    s.dispatch_rate = rate(dispatched, n);
    s.reply_rate = rate(r.try_get("replied")?, dispatched);
    s.on_time_reply_rate = rate(r.try_get("on_time")?, dispatched);
    s.closure_rate = rate(r.try_get("closed")?, n);

    let rows = sqlx::query(
        "SELECT source, count(*) AS n,
                count(*) FILTER (WHERE dispatched_at IS NOT NULL) AS dispatched,
                count(*) FILTER (WHERE replied_at IS NOT NULL) AS replied,
                count(*) FILTER (WHERE state = 'closed') AS closed,
                count(*) FILTER (WHERE called_back_at IS NOT NULL) AS called,
                count(*) FILTER (WHERE called_back_at IS NOT NULL AND callback_satisfied) AS satisfied
           FROM tickets WHERE created_at >= $1 AND created_at < $2 AND ($3 = '' OR department = $3)
          GROUP BY source",
    )
    .bind(from)
    .bind(to)
    .bind(dept)
    .fetch_all(pool)
    .await?;
    for r in rows {
        let n: i64 = r.try_get("n")?;
        let dispatched: i64 = r.try_get("dispatched")?;
        let replied: i64 = r.try_get("replied")?;
        let called: i64 = r.try_get("called")?;
        s.tickets_by_source.insert(
            r.try_get("source")?,
            TicketRates {
                submitted: n as u64,
                dispatch_rate: rate(dispatched, n),
                reply_rate: rate(replied, dispatched),
                closure_rate: rate(r.try_get("closed")?, n),
                callback_rate: rate(called, replied),
                satisfaction_rate: rate(r.try_get("satisfied")?, called),
            },
        );
    }

    let rows = sqlx::query(
        "SELECT partner_region || ':' || cross_direction AS k, count(*) AS n FROM cases
          WHERE partner_region <> '' AND created_at >= $1 AND created_at < $2
            AND ($3 = '' OR department = $3)
          GROUP BY 1",
    )
    .bind(from)
    .bind(to)
    .bind(dept)
    .fetch_all(pool)
    .await?;
    for r in rows {
        s.cross_province
            .insert(r.try_get("k")?, r.try_get::<i64, _>("n")? as u64);
    }

    s.free_mailings = sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM cases c JOIN case_transitions t ON t.case_id = c.id AND t.action = 'deliver'
          WHERE c.free_mailing AND t.at >= $1 AND t.at < $2 AND ($3 = '' OR c.department = $3)",
    )
    .bind(from)
    .bind(to)
    .bind(dept)
    .fetch_one(pool)
    .await? as u64;

    // Slot dates are Beijing calendar dates; the period's bounds are instants.
    s.weekend_appointments = sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM appointments a JOIN appointment_slots s ON s.id = a.slot_id
          WHERE a.state = 'booked' AND s.rest_day
            AND s.date >= ($1 AT TIME ZONE 'Asia/Shanghai')::date AND s.date < ($2 AT TIME ZONE 'Asia/Shanghai')::date
            AND ($3 = '' OR s.department = $3)",
    )
    .bind(from)
    .bind(to)
    .bind(dept)
    .fetch_one(pool)
    .await? as u64;

    s.routed = sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM case_routes
          WHERE at >= $1 AND at < $2 AND ($3 = '' OR from_department = $3)",
    )
    .bind(from)
    .bind(to)
    .bind(dept)
    .fetch_one(pool)
    .await? as u64;
    let rows = sqlx::query(
        "SELECT to_char(created_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') AS m, channel, count(*) AS n
           FROM cases WHERE created_at >= $1 AND created_at < $2 AND ($3 = '' OR department = $3)
          GROUP BY 1, 2",
    )
    .bind(from)
    .bind(to)
    .bind(dept)
    .fetch_all(pool)
    .await?;
    for r in rows {
        s.by_month
            .entry(r.try_get("m")?)
            .or_default()
            .insert(r.try_get("channel")?, r.try_get::<i64, _>("n")? as u64);
    }
    if dept.is_empty() {
        s.departments = by_department(pool, from, to).await?;
    }
    Ok(s)
}

/// Every department's figures over the period, in four grouped scans.
async fn by_department(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<DepartmentStats>> {
    let mut out: std::collections::BTreeMap<String, DepartmentStats> = Default::default();
    fn entry(
        out: &mut std::collections::BTreeMap<String, DepartmentStats>,
        department: String,
    ) -> &mut DepartmentStats {
        out.entry(department.clone())
            .or_insert_with(|| DepartmentStats {
                department,
                ..Default::default()
            })
    }
    let rows = sqlx::query(
        "SELECT department, count(*) AS n, count(*) FILTER (WHERE channel IN ('online', 'mobile')) AS online,
                count(DISTINCT item_code) AS items
           FROM cases WHERE created_at >= $1 AND created_at < $2 GROUP BY department",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    for r in rows {
        let d = entry(&mut out, r.try_get("department")?);
        d.filed = r.try_get::<i64, _>("n")? as u64;
        d.online = r.try_get::<i64, _>("online")? as u64;
        d.online_share = rate(d.online as i64, d.filed as i64);
        d.items_with_cases = r.try_get::<i64, _>("items")? as u64;
    }
    let rows = sqlx::query(
        "SELECT department, count(*) AS n, count(deadline) AS with_deadline,
                count(*) FILTER (WHERE decided_at <= deadline) AS on_time
           FROM cases WHERE decided_at >= $1 AND decided_at < $2 GROUP BY department",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    for r in rows {
        let d = entry(&mut out, r.try_get("department")?);
        d.decided = r.try_get::<i64, _>("n")? as u64;
        d.on_time_rate = rate(r.try_get("on_time")?, r.try_get("with_deadline")?);
    }
    let rows = sqlx::query(
        "SELECT c.department, count(*) AS n, count(*) FILTER (WHERE e.level >= 3) AS good
           FROM evaluations e JOIN cases c ON c.id = e.case_id
          WHERE e.created_at >= $1 AND e.created_at < $2 GROUP BY c.department",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    for r in rows {
        let d = entry(&mut out, r.try_get("department")?);
        let n: i64 = r.try_get("n")?;
        d.evaluations = n as u64;
        d.good_rate = rate(r.try_get("good")?, n);
    }
    let rows = sqlx::query(
        "SELECT department, count(*) AS n FROM rectifications
          WHERE created_at >= $1 AND created_at < $2 GROUP BY department",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    for r in rows {
        let d = entry(&mut out, r.try_get("department")?);
        d.rectifications = r.try_get::<i64, _>("n")? as u64;
    }
    Ok(out.into_values().collect())
}
