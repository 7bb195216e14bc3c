//! Statistics over a period: volumes, online share, on-time rate, handling time, satisfaction,
//! rectification and ticket rates. One department or the whole county.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};
use yiwang_kit::Result;

use std::collections::BTreeMap;

use crate::calendar::Calendar;
use crate::case_counts::{self, Scope, Split};

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
    // Counted on the way to the rates.
    pub with_deadline: i64,
    pub on_time: i64,
    pub good: i64,
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

/// Everything the figures count, from the counters and the rows (see [`case_counts`]): the
/// four case-volume queries run at once, each on its own connection.
pub async fn compute(
    pool: &PgPool,
    calendar: &Calendar,
    scope: &Scope,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Stats> {
    let split = case_counts::split(from, to, Utc::now());
    let (filed, items, decided, evaluations, free_mailings) = tokio::try_join!(
        filed_rows(pool, &split, scope),
        item_rows(pool, &split, scope),
        decided_rows(pool, &split, scope),
        evaluation_rows(pool, &split, scope),
        free_mailing_count(pool, &split, scope),
    )?;
    let mut s = Stats::default();
    let mut departments: BTreeMap<String, DepartmentStats> = BTreeMap::new();
    fn entry<'a>(
        out: &'a mut BTreeMap<String, DepartmentStats>,
        department: &str,
    ) -> &'a mut DepartmentStats {
        out.entry(department.to_string())
            .or_insert_with(|| DepartmentStats {
                department: department.to_string(),
                ..Default::default()
            })
    }
    const ONLINE: [&str; 2] = ["online", "mobile"];

    for r in filed {
        let n = r.n as u64;
        if n == 0 {
            continue;
        }
        match r.set {
            FiledSet::DepartmentChannel => {
                s.filed += n;
                *s.by_channel.entry(r.channel.clone()).or_default() += n;
                *s.by_department.entry(r.department.clone()).or_default() += n;
                let d = entry(&mut departments, &r.department);
                d.filed += n;
                if ONLINE.contains(&r.channel.as_str()) {
                    d.online += n;
                }
            }
            FiledSet::State => *s.by_state.entry(r.state).or_default() += n,
            FiledSet::Crossing if !r.crossing.is_empty() => {
                *s.cross_province.entry(r.crossing).or_default() += n
            }
            FiledSet::Crossing => {}
            FiledSet::MonthChannel => {
                *s.by_month
                    .entry(r.month)
                    .or_default()
                    .entry(r.channel)
                    .or_default() += n
            }
        }
    }
    let online: u64 = ONLINE.iter().filter_map(|c| s.by_channel.get(*c)).sum();
    s.online_share = rate(online as i64, s.filed as i64);

    s.top_items = items.top;
    for (department, n) in items.per_department {
        entry(&mut departments, &department).items_with_cases = n;
    }

    // Decided in the period: on time (of those with a deadline), and office time from
    // acceptance to decision.
    let (mut with_deadline, mut on_time, mut handled, mut office_secs) = (0i64, 0i64, 0i64, 0i64);
    for (department, key, n, h, secs) in decided {
        let d = entry(&mut departments, &department);
        d.decided += n as u64;
        s.decided += n as u64;
        if key != "none" {
            with_deadline += n;
            d.with_deadline += n;
        }
        if key == "on_time" {
            on_time += n;
            d.on_time += n;
        }
        handled += h;
        office_secs += secs;
    }
    s.on_time_rate = rate(on_time, with_deadline);
    let day = calendar.office_hours().daily().num_seconds().max(1);
    if handled > 0 {
        s.avg_handling_working_days =
            ((office_secs as f64 / handled as f64 / day as f64) * 100.0).round() / 100.0;
    }

    let (mut good, mut level_sum) = (0i64, 0i64);
    for (department, level, n) in evaluations {
        let level: i64 = level.parse().unwrap_or(0);
        let d = entry(&mut departments, &department);
        d.evaluations += n as u64;
        s.evaluations += n as u64;
        if level >= 3 {
            good += n;
            d.good += n;
        }
        level_sum += level * n;
    }
    s.good_rate = rate(good, s.evaluations as i64);
    if s.evaluations > 0 {
        s.mean_level = (level_sum as f64 / s.evaluations as f64 * 100.0).round() / 100.0;
    }
    s.free_mailings = free_mailings;

    let (dept, dept_rows) = (scope.value(), scope.rows("department"));
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) AS n, count(*) FILTER (WHERE state IN ('completed', 'called_back')) AS done,
                count(*) FILTER (WHERE state = 'called_back') AS called
         FROM rectifications WHERE created_at >= $1 AND created_at < $2 {dept_rows}",
    )))
    .bind(from)
    .bind(to)
    .bind(dept)
    .fetch_one(pool)
    .await?;
    let n: i64 = r.try_get("n")?;
    s.rectifications = n as u64;
    s.rectified_rate = rate(r.try_get("done")?, n);
    s.callback_rate = rate(r.try_get("called")?, n);

    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) AS n,
                count(*) FILTER (WHERE dispatched_at IS NOT NULL) AS dispatched,
                count(*) FILTER (WHERE replied_at IS NOT NULL) AS replied,
                count(*) FILTER (WHERE replied_at IS NOT NULL AND replied_at <= reply_deadline) AS on_time,
                count(*) FILTER (WHERE state = 'closed') AS closed
         FROM tickets WHERE created_at >= $1 AND created_at < $2 {dept_rows}",
    )))
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

    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT source, count(*) AS n,
                count(*) FILTER (WHERE dispatched_at IS NOT NULL) AS dispatched,
                count(*) FILTER (WHERE replied_at IS NOT NULL) AS replied,
                count(*) FILTER (WHERE state = 'closed') AS closed,
                count(*) FILTER (WHERE called_back_at IS NOT NULL) AS called,
                count(*) FILTER (WHERE called_back_at IS NOT NULL AND callback_satisfied) AS satisfied
           FROM tickets WHERE created_at >= $1 AND created_at < $2 {dept_rows}
          GROUP BY source",
    )))
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

    let slot_rows = scope.rows("s.department");
    let route_rows = scope.rows("from_department");
    // Slot dates are Beijing calendar dates; the period's bounds are instants.
    s.weekend_appointments = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM appointments a JOIN appointment_slots s ON s.id = a.slot_id
          WHERE a.state = 'booked' AND s.rest_day
            AND s.date >= ($1 AT TIME ZONE 'Asia/Shanghai')::date AND s.date < ($2 AT TIME ZONE 'Asia/Shanghai')::date
            {slot_rows}",
    )))
    .bind(from)
    .bind(to)
    .bind(dept)
    .fetch_one(pool)
    .await? as u64;

    s.routed = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM case_routes
          WHERE at >= $1 AND at < $2 {route_rows}",
    )))
    .bind(from)
    .bind(to)
    .bind(dept)
    .fetch_one(pool)
    .await? as u64;
    if !matches!(scope, Scope::Department(_)) {
        for d in departments.values_mut() {
            d.online_share = rate(d.online as i64, d.filed as i64);
            d.on_time_rate = rate(d.on_time, d.with_deadline);
            d.good_rate = rate(d.good, d.evaluations as i64);
        }
        let rows: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT department, count(*) FROM rectifications
              WHERE created_at >= $1 AND created_at < $2 {dept_rows} GROUP BY department"
        )))
        .bind(from)
        .bind(to)
        .bind(dept)
        .fetch_all(pool)
        .await?;
        for (department, n) in rows {
            entry(&mut departments, &department).rectifications = n as u64;
        }
        s.departments = departments
            .into_values()
            .filter(|d| d.filed + d.decided + d.evaluations + d.rectifications > 0)
            .collect();
    }
    Ok(s)
}

/// Which grouping of [`filed_rows`] a row belongs to.
#[derive(Debug, PartialEq)]
enum FiledSet {
    DepartmentChannel,
    State,
    Crossing,
    MonthChannel,
}

#[derive(Debug)]
struct FiledRow {
    set: FiledSet,
    department: String,
    channel: String,
    state: String,
    crossing: String,
    month: String,
    n: i64,
}

/// Cases filed in the period, grouped four ways in one statement: the folded yearly rows
/// (whole months) and the pending deltas and partial-month rows (monthly).
async fn filed_rows(pool: &PgPool, split: &Split, scope: &Scope) -> Result<Vec<FiledRow>> {
    let sql = format!(
        "WITH pending AS MATERIALIZED (
            SELECT to_char(month, 'YYYY-MM') AS m, department, split_part(key, '|', 1) AS channel,
                   split_part(key, '|', 2) AS state, split_part(key, '|', 3) AS crossing, n
              FROM ({pending}) src)
         SELECT GROUPING(department, channel, state, crossing)::int AS g,
                coalesce(department, '') AS department, coalesce(channel, '') AS channel,
                coalesce(state, '') AS state, coalesce(crossing, '') AS crossing, '' AS m,
                sum(n)::bigint AS n
           FROM (SELECT department, channel, state, crossing, n FROM ({whole}) w
                 UNION ALL
                 SELECT department, channel, state, crossing, n FROM pending) x
          GROUP BY GROUPING SETS ((department, channel), (state), (crossing))
         UNION ALL
         SELECT -1, '', channel, '', '', m, sum(n)::bigint
           FROM (SELECT m, channel, n FROM ({monthly}) f
                 UNION ALL
                 SELECT m, channel, n FROM pending) y
          GROUP BY m, channel",
        pending = case_counts::pending("filed", scope),
        whole = case_counts::filed_months(split, scope),
        monthly = case_counts::filed_by_month(split, scope),
    );
    let rows: Vec<(i32, String, String, String, String, String, i64)> =
        case_counts::fetch(pool, sql, split, scope).await?;
    // GROUPING's bits, department first: 1 where the column is not grouped by; -1 the months.
    Ok(rows
        .into_iter()
        .filter_map(|(g, department, channel, state, crossing, month, n)| {
            let set = match g {
                0b0011 => FiledSet::DepartmentChannel,
                0b1101 => FiledSet::State,
                0b1110 => FiledSet::Crossing,
                -1 => FiledSet::MonthChannel,
                _ => return None,
            };
            Some(FiledRow {
                set,
                department,
                channel,
                state,
                crossing,
                month,
                n,
            })
        })
        .collect())
}

/// The 20 items with most filings (code, name, count) and each department's number of items
/// with filings.
#[derive(Debug, Default)]
struct ItemFigures {
    top: Vec<(String, String, u64)>,
    per_department: Vec<(String, u64)>,
}

/// How many items make the top list.
const TOP_ITEMS: usize = 20;

async fn item_rows(pool: &PgPool, split: &Split, scope: &Scope) -> Result<ItemFigures> {
    // The province over months of one year: neither figure needs every item grouped.
    if *scope == Scope::All
        && let Some((year, months, mask)) = case_counts::single_year(split)
    {
        let (top, per_department) = tokio::try_join!(
            top_items_by_totals(pool, split, year, &months),
            items_per_department(pool, split, year, &months, mask),
        )?;
        return Ok(ItemFigures {
            top,
            per_department,
        });
    }
    // The yearly rows are one per department and item already; only the few pending deltas
    // and partial-month rows are grouped before joining them.
    let sql = format!(
        "WITH folded AS ({}),
         pending AS (
            SELECT department, split_part(key, '|', 1) AS item_code,
                   min(substr(key, strpos(key, '|') + 1)) AS item_name, sum(n) AS n
              FROM ({}) src GROUP BY 1, 2),
         per AS MATERIALIZED (
            SELECT coalesce(f.department, p.department) AS department,
                   coalesce(f.item_code, p.item_code) AS code,
                   coalesce(f.item_name, p.item_name) AS name,
                   coalesce(f.n, 0) + coalesce(p.n, 0) AS n
              FROM folded f FULL JOIN pending p
                ON p.department = f.department AND p.item_code = f.item_code)
         (SELECT 'top', code, min(name), sum(n)::bigint FROM per WHERE n > 0 GROUP BY code
           ORDER BY 4 DESC, code LIMIT {TOP_ITEMS})
         UNION ALL
         SELECT 'department', department, '', count(*) FROM per WHERE n > 0 GROUP BY department",
        case_counts::item_months(split, scope),
        case_counts::pending("item", scope)
    );
    let rows: Vec<(String, String, String, i64)> =
        case_counts::fetch(pool, sql, split, scope).await?;
    let mut out = ItemFigures::default();
    for (kind, a, b, n) in rows {
        if kind == "top" {
            out.top.push((a, b, n as u64));
        } else {
            out.per_department.push((a, n as u64));
        }
    }
    Ok(out)
}

/// The province's top items, read from the items' yearly totals largest first: an item not
/// read yet has at most the last total read in the period (counts are never negative), so the
/// reading stops once the twentieth item's count exceeds it. Items with pending deltas or
/// partial-month rows are counted exactly whether read or not. `months` sums the period's
/// month columns of `year`.
async fn top_items_by_totals(
    pool: &PgPool,
    split: &Split,
    year: i32,
    months: &str,
) -> Result<Vec<(String, String, u64)>> {
    let pending_sql = format!(
        "SELECT split_part(key, '|', 1), min(substr(key, strpos(key, '|') + 1)), sum(n)::bigint
           FROM ({}) src GROUP BY 1",
        case_counts::pending("item", &Scope::All)
    );
    let pending: Vec<(String, String, i64)> =
        case_counts::fetch(pool, pending_sql, split, &Scope::All).await?;
    // code → (name, count in the period)
    let mut counted: HashMap<String, (String, i64)> = pending
        .iter()
        .map(|(code, name, n)| (code.clone(), (name.clone(), *n)))
        .collect();
    let codes: Vec<&str> = pending.iter().map(|(c, _, _)| c.as_str()).collect();
    let folded: Vec<(String, String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT item_code, item_name, ({months})::bigint FROM case_item_totals
          WHERE year = $1 AND item_code = ANY($2)"
    )))
    .bind(year)
    .bind(&codes)
    .fetch_all(pool)
    .await?;
    for (code, name, n) in folded {
        let c = counted.entry(code).or_default();
        c.0 = name;
        c.1 += n;
    }
    // Twice the list at first, then doubling: skewed filings stop after the first read.
    let mut batch = 2 * TOP_ITEMS as i64;
    let mut after = (i64::MAX, String::new());
    loop {
        let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT item_code, item_name, ({months})::bigint, total FROM case_item_totals
              WHERE year = $1 AND (total, item_code) < ($2, $3)
              ORDER BY total DESC, item_code DESC LIMIT $4"
        )))
        .bind(year)
        .bind(after.0)
        .bind(&after.1)
        .bind(batch)
        .fetch_all(pool)
        .await?;
        let read = rows.len() as i64;
        for (code, name, n, total) in rows {
            after = (total, code.clone());
            counted.entry(code).or_insert((name, n));
        }
        if read < batch {
            break;
        }
        batch = (batch * 2).min(5000);
        let mut largest: Vec<i64> = counted.values().map(|(_, n)| *n).collect();
        largest.sort_unstable_by(|a, b| b.cmp(a));
        if largest.get(TOP_ITEMS - 1).is_some_and(|n| *n > after.0) {
            break;
        }
    }
    let mut top: Vec<(String, String, u64)> = counted
        .into_iter()
        .filter(|(_, (_, n))| *n > 0)
        .map(|(code, (name, n))| (code, name, n as u64))
        .collect();
    top.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    top.truncate(TOP_ITEMS);
    Ok(top)
}

/// Each department's number of items with filings in the period: the folded items whose
/// `months` mask meets the period's (one narrow index), corrected for the items whose pending
/// deltas or partial-month rows change whether they have any.
async fn items_per_department(
    pool: &PgPool,
    split: &Split,
    year: i32,
    months: &str,
    mask: i32,
) -> Result<Vec<(String, u64)>> {
    let scope = Scope::All;
    let sql = format!(
        "WITH pending AS (
            SELECT department, split_part(key, '|', 1) AS item_code, sum(n) AS n
              FROM ({pending}) src GROUP BY 1, 2),
         adjusted AS (
            SELECT p.department,
                   sum((coalesce(f.n, 0) + p.n > 0)::int - (coalesce(f.n, 0) > 0)::int) AS n
              FROM pending p LEFT JOIN LATERAL (
                   SELECT ({months})::bigint AS n FROM case_item_counts c
                    WHERE c.year = {year} AND c.department = p.department AND c.item_code = p.item_code) f ON true
             GROUP BY 1),
         folded AS (
            SELECT department, count(*) AS n FROM case_item_counts
             WHERE year = {year} AND months & {mask} <> 0 {counters} GROUP BY 1)
         SELECT coalesce(f.department, a.department), (coalesce(f.n, 0) + coalesce(a.n, 0))::bigint
           FROM folded f FULL JOIN adjusted a ON a.department = f.department",
        pending = case_counts::pending("item", &scope),
        counters = scope.counters(),
    );
    let rows: Vec<(String, i64)> = case_counts::fetch(pool, sql, split, &scope).await?;
    Ok(rows
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(d, n)| (d, n as u64))
        .collect())
}

/// Decided in the period per department and deadline outcome: (department, on_time | late |
/// none, cases, cases with a handling time, their office seconds).
async fn decided_rows(
    pool: &PgPool,
    split: &Split,
    scope: &Scope,
) -> Result<Vec<(String, String, i64, i64, i64)>> {
    let sql = format!(
        "SELECT department, key, sum(n)::bigint, sum(handled)::bigint, sum(office_secs)::bigint
           FROM ({}) src GROUP BY 1, 2 HAVING sum(n) <> 0",
        case_counts::source("decided", scope)
    );
    case_counts::fetch(pool, sql, split, scope).await
}

/// Evaluations given in the period per department and level.
async fn evaluation_rows(
    pool: &PgPool,
    split: &Split,
    scope: &Scope,
) -> Result<Vec<(String, String, i64)>> {
    let sql = format!(
        "SELECT department, key, sum(n)::bigint FROM ({}) src GROUP BY 1, 2 HAVING sum(n) <> 0",
        case_counts::source("evaluation", scope)
    );
    case_counts::fetch(pool, sql, split, scope).await
}

/// Free mailings delivered in the period.
async fn free_mailing_count(pool: &PgPool, split: &Split, scope: &Scope) -> Result<u64> {
    let sql = format!(
        "SELECT coalesce(sum(n), 0)::bigint FROM ({}) src",
        case_counts::source("free_mailing", scope)
    );
    let rows: Vec<(i64,)> = case_counts::fetch(pool, sql, split, scope).await?;
    Ok(rows.first().map_or(0, |(n,)| (*n).max(0) as u64))
}
