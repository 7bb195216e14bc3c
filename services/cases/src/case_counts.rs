//! Pre-aggregated case counts (migrations 0019–0021) for statistics at province scale: which
//! part of a period is read from the counters and which from the rows themselves, the SQL that
//! merges both, the sweeper pass that folds the triggers' deltas into the counters, and the
//! handling times the counters sum. Filings and items are counted in yearly rows with a column
//! per month (`case_filed_counts`, `case_item_counts`, `case_item_totals`), decisions,
//! evaluations and free mailings in monthly rows (`case_counts`).
//!
//! A period's whole Beijing months come from the counters plus the deltas not folded yet (one
//! statement, so a concurrent fold is seen either before or after); its partial months at either
//! end from the cases through the same `case_count_parts` function the triggers use. A period
//! that ends in the future reads its last month whole: nothing has happened after now.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use sqlx::PgPool;
use uuid::Uuid;
use yiwang_kit::Result;

use crate::calendar::{Calendar, SHANGHAI};

/// Whose figures: everyone's, one department's, or one county's (a region code, the first part
/// of its department codes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    All,
    Department(String),
    Region(String),
}

impl Scope {
    /// The value bound as `$3`.
    pub fn value(&self) -> &str {
        match self {
            Scope::All => "",
            Scope::Department(d) => d,
            Scope::Region(r) => r,
        }
    }

    /// `AND …` keeping the rows of the scope, `column` holding a department code (binds `$3`).
    pub fn rows(&self, column: &str) -> String {
        match self {
            Scope::All => "AND $3::text = ''".into(),
            Scope::Department(_) => format!("AND {column} = $3"),
            Scope::Region(_) => format!("AND split_part({column}, '-', 1) = $3"),
        }
    }

    /// The same for the counter tables, which store the region beside the department.
    pub fn counters(&self) -> &'static str {
        match self {
            Scope::All => "AND $3::text = ''",
            Scope::Department(_) => "AND department = $3",
            Scope::Region(_) => "AND region = $3",
        }
    }
}

/// A period cut into whole months (counters) and the partial months at its ends (rows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// [first, end) as first days of Beijing months; equal when there are no whole months.
    pub months: (NaiveDate, NaiveDate),
    /// Up to two ranges of instants read from the rows; empty ranges where there are none.
    pub edges: [(DateTime<Utc>, DateTime<Utc>); 2],
}

fn month_of(t: DateTime<Utc>) -> NaiveDate {
    let d = t.with_timezone(&SHANGHAI).date_naive();
    NaiveDate::from_ymd_opt(d.year(), d.month(), 1).expect("first of a month")
}

fn next_month(m: NaiveDate) -> NaiveDate {
    m.checked_add_months(chrono::Months::new(1)).unwrap_or(m)
}

fn start_of(m: NaiveDate) -> DateTime<Utc> {
    SHANGHAI
        .from_local_datetime(&m.and_hms_opt(0, 0, 0).expect("midnight"))
        .single()
        .map(|t| t.to_utc())
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// How long after `now` a period's end must lie to count as "in the future" (clocks of the
/// service and the database differ by less).
const FUTURE_MARGIN: i64 = 300;

/// Splits [from, to) as the statistics read it, `now` deciding whether its last month is whole.
pub fn split(from: DateTime<Utc>, to: DateTime<Utc>, now: DateTime<Utc>) -> Split {
    let first = if start_of(month_of(from)) == from {
        month_of(from)
    } else {
        next_month(month_of(from))
    };
    let end = if start_of(month_of(to)) == to || to > now + Duration::seconds(FUTURE_MARGIN) {
        if start_of(month_of(to)) == to {
            month_of(to)
        } else {
            next_month(month_of(to))
        }
    } else {
        month_of(to)
    };
    let none = (from, from);
    if first >= end {
        return Split {
            months: (first, first),
            edges: [(from, to), none],
        };
    }
    let (a, b) = (start_of(first), start_of(end));
    Split {
        months: (first, end),
        edges: [
            if from < a { (from, a) } else { none },
            if b < to { (b, to) } else { none },
        ],
    }
}

/// What each bucket's rows are and when its events happen, for the raw edges.
fn raw_rows(bucket: &str, scope: &Scope) -> String {
    let in_edges = |column: &str| {
        format!("(({column} >= $4 AND {column} < $5) OR ({column} >= $6 AND {column} < $7))")
    };
    match bucket {
        "filed" | "item" | "decided" => {
            let at = if bucket == "decided" {
                "c.decided_at"
            } else {
                "c.created_at"
            };
            format!(
                "SELECT p.month, p.department, p.key, p.n, p.handled, p.office_secs
                   FROM cases c CROSS JOIN LATERAL case_count_parts(1, c.created_at, c.department, c.channel, c.state,
                        c.partner_region, c.cross_direction, c.item_code, c.item_name, c.decided_at, c.deadline,
                        c.handling_office_secs) p
                  WHERE p.bucket = '{bucket}' AND {} {}",
                in_edges(at),
                scope.rows("c.department")
            )
        }
        "evaluation" => format!(
            "SELECT date_trunc('month', e.created_at AT TIME ZONE 'Asia/Shanghai')::date, c.department,
                    e.level::text, 1::bigint, 0::bigint, 0::bigint
               FROM evaluations e JOIN cases c ON c.id = e.case_id
              WHERE {} {}",
            in_edges("e.created_at"),
            scope.rows("c.department")
        ),
        _ => format!(
            "SELECT date_trunc('month', t.at AT TIME ZONE 'Asia/Shanghai')::date, c.department,
                    '', 1::bigint, 0::bigint, 0::bigint
               FROM case_transitions t JOIN cases c ON c.id = t.case_id
              WHERE t.action = 'deliver' AND c.free_mailing AND {} {}",
            in_edges("t.at"),
            scope.rows("c.department")
        ),
    }
}

/// A subquery of (month, department, key, n, handled, office_secs) rows of `bucket` over a
/// [`Split`]; run it through [`fetch`]. Only fixed text is spliced in: values are parameters.
pub fn source(bucket: &'static str, scope: &Scope) -> String {
    format!(
        "{} UNION ALL {}",
        counter_rows("case_counts", bucket, scope),
        pending(bucket, scope)
    )
}

/// [`source`] without the folded counters: the deltas not folded yet and the partial months'
/// rows (items keep their folded counts in `case_item_counts`, see [`item_months`]).
pub fn pending(bucket: &'static str, scope: &Scope) -> String {
    format!(
        "{} UNION ALL {}",
        counter_rows("case_count_deltas", bucket, scope),
        raw_rows(bucket, scope)
    )
}

/// The whole months' rows of `bucket` in a counter table (`case_counts` or the deltas).
fn counter_rows(table: &str, bucket: &str, scope: &Scope) -> String {
    format!(
        "SELECT month, department, key, n, handled, office_secs FROM {table}
          WHERE bucket = '{bucket}' AND month >= $1 AND month < $2 {}",
        scope.counters()
    )
}

/// The years of a split's whole months, each with the sum of its month columns (`m01 + m02`).
fn year_arms(split: &Split) -> Vec<(i32, String)> {
    let (first, end) = split.months;
    let mut arms = Vec::new();
    let mut m = first;
    while m < end {
        let year = m.year();
        let mut columns = Vec::new();
        while m < end && m.year() == year {
            columns.push(format!("m{:02}", m.month()));
            m = next_month(m);
        }
        arms.push((year, columns.join(" + ")));
    }
    arms
}

/// `year = 2026` or `year IN (2025, 2026)` for a split's whole months (`false` for none), and
/// the expression counting a yearly row's whole months.
fn yearly(split: &Split) -> (String, String) {
    let arms = year_arms(split);
    match arms.as_slice() {
        [] => ("false".into(), "0".into()),
        [(year, sum)] => (format!("year = {year}"), sum.clone()),
        _ => {
            let years: Vec<String> = arms.iter().map(|(y, _)| y.to_string()).collect();
            let cases: String = arms
                .iter()
                .map(|(y, sum)| format!(" WHEN {y} THEN {sum}"))
                .collect();
            (
                format!("year IN ({})", years.join(", ")),
                format!("CASE year{cases} END"),
            )
        }
    }
}

/// The folded filings of a split's whole months: a subquery of (department, channel, state,
/// crossing, n) rows from `case_filed_counts`, one per yearly row.
pub fn filed_months(split: &Split, scope: &Scope) -> String {
    let (years, n) = yearly(split);
    format!(
        "SELECT department, channel, state, crossing, ({n})::bigint AS n FROM case_filed_counts
          WHERE {years} {}",
        scope.counters()
    )
}

/// The folded filings of a split's whole months per month and channel: a subquery of
/// (m as `YYYY-MM`, channel, n) rows.
pub fn filed_by_month(split: &Split, scope: &Scope) -> String {
    let (years, _) = yearly(split);
    let sums: String = (1..=12)
        .map(|m| format!(", sum(m{m:02}) AS m{m:02}"))
        .collect();
    let values: Vec<String> = (1..=12).map(|m| format!("({m}, f.m{m:02})")).collect();
    format!(
        "SELECT to_char(make_date(f.year, v.m, 1), 'YYYY-MM') AS m, f.channel, v.n
           FROM (SELECT year, channel{sums} FROM case_filed_counts WHERE {years} {}
                  GROUP BY 1, 2) f
           CROSS JOIN LATERAL (VALUES {}) v(m, n)
          WHERE v.n <> 0 AND make_date(f.year, v.m, 1) >= $1 AND make_date(f.year, v.m, 1) < $2",
        scope.counters(),
        values.join(", ")
    )
}

/// The folded item counts of a split's whole months: a subquery of (department, item_code,
/// item_name, n) rows from `case_item_counts`, one per department and item. Years and month
/// columns are numbers computed here, never input.
pub fn item_months(split: &Split, scope: &Scope) -> String {
    let arms = year_arms(split);
    let counters = scope.counters();
    match arms.as_slice() {
        [] => "SELECT ''::text AS department, ''::text AS item_code, ''::text AS item_name, 0::bigint AS n
                WHERE $3::text IS NULL"
            .into(),
        // One year: its row per department and item is already the answer.
        [(year, sum)] => format!(
            "SELECT department, item_code, item_name, ({sum})::bigint AS n FROM case_item_counts
              WHERE year = {year} {counters}"
        ),
        _ => {
            let (years, n) = yearly(split);
            format!(
                "SELECT department, item_code, max(item_name) AS item_name, sum({n})::bigint AS n
                   FROM case_item_counts WHERE {years} {counters}
                  GROUP BY department, item_code"
            )
        }
    }
}

/// The one year a split's whole months lie in, with the sum of their month columns
/// (`m01 + m02`) and their bits in the counters' `months` mask (bit m-1 for month m); `None`
/// when they span years or there are none. Numbers computed here, never input.
pub fn single_year(split: &Split) -> Option<(i32, String, i32)> {
    let (first, end) = split.months;
    if first >= end || end > NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)? {
        return None;
    }
    let (mut columns, mut mask, mut m) = (Vec::new(), 0i32, first);
    while m < end {
        columns.push(format!("m{:02}", m.month()));
        mask |= 1 << (m.month() - 1);
        m = next_month(m);
    }
    Some((first.year(), columns.join(" + "), mask))
}

/// Runs a query over [`source`]/[`pending`]/[`item_months`] subqueries, binding their parameters
/// ($1–$7) in order, and returns its rows.
pub async fn fetch<T>(pool: &PgPool, sql: String, split: &Split, scope: &Scope) -> Result<Vec<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(split.months.0)
        .bind(split.months.1)
        .bind(scope.value())
        .bind(split.edges[0].0)
        .bind(split.edges[0].1)
        .bind(split.edges[1].0)
        .bind(split.edges[1].1)
        .fetch_all(pool)
        .await?)
}

/// One sweeper pass: folds up to 50,000 deltas into the counters (oldest first; a concurrent
/// pass skips the ones this one holds). Returns how many were folded.
pub async fn fold(pool: &PgPool) -> Result<u64> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(fold_sql);
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(SQL.as_str()))
        .fetch_one(pool)
        .await?;
    Ok(n as u64)
}

/// The fold: item and filing deltas go to their yearly rows (a column a month), the rest to
/// monthly rows.
fn fold_sql() -> String {
    let month_sums: String = (1..=12)
        .map(|m| format!(",\n coalesce(sum(n) FILTER (WHERE extract(month FROM month) = {m}), 0)"))
        .collect();
    let columns: String = (1..=12).map(|m| format!(", m{m:02}")).collect();
    let adds: String = (1..=12)
        .map(|m| format!(", m{m:02} = case_item_counts.m{m:02} + excluded.m{m:02}"))
        .collect();
    let total_adds = adds.replace("case_item_counts.", "case_item_totals.");
    let filed_adds: String = (2..=12)
        .map(|m| format!(", m{m:02} = case_filed_counts.m{m:02} + excluded.m{m:02}"))
        .collect();
    format!(
        "WITH d AS (
            DELETE FROM case_count_deltas
             WHERE id IN (SELECT id FROM case_count_deltas ORDER BY id LIMIT 50000 FOR UPDATE SKIP LOCKED)
            RETURNING bucket, month, department, key, n, handled, office_secs),
         s AS (
            SELECT bucket, month, department, key, sum(n) AS n, sum(handled) AS handled,
                   sum(office_secs) AS office_secs, count(*) AS deltas
              FROM d GROUP BY 1, 2, 3, 4),
         counted AS (
            INSERT INTO case_counts (bucket, month, department, key, n, handled, office_secs)
            SELECT bucket, month, department, key, n, handled, office_secs FROM s
             WHERE bucket NOT IN ('item', 'filed')
             ORDER BY 1, 2, 3, 4
            ON CONFLICT (bucket, month, department, key) DO UPDATE
               SET n = case_counts.n + excluded.n,
                   handled = case_counts.handled + excluded.handled,
                   office_secs = case_counts.office_secs + excluded.office_secs),
         items AS (
            INSERT INTO case_item_counts (year, department, item_code, item_name{columns})
            SELECT extract(year FROM month)::int, department, split_part(key, '|', 1),
                   max(substr(key, strpos(key, '|') + 1)){month_sums}
              FROM s WHERE bucket = 'item'
             GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
            ON CONFLICT (year, department, item_code) DO UPDATE
               SET item_name = excluded.item_name{adds}),
         filed AS (
            INSERT INTO case_filed_counts (year, department, channel, state, crossing{columns})
            SELECT extract(year FROM month)::int, department, split_part(key, '|', 1),
                   split_part(key, '|', 2), split_part(key, '|', 3){month_sums}
              FROM s WHERE bucket = 'filed'
             GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
            ON CONFLICT (year, department, channel, state, crossing) DO UPDATE
               SET m01 = case_filed_counts.m01 + excluded.m01{filed_adds}),
         totals AS (
            INSERT INTO case_item_totals (year, item_code, item_name{columns})
            SELECT extract(year FROM month)::int, split_part(key, '|', 1),
                   max(substr(key, strpos(key, '|') + 1)){month_sums}
              FROM s WHERE bucket = 'item'
             GROUP BY 1, 2 ORDER BY 1, 2
            ON CONFLICT (year, item_code) DO UPDATE
               SET item_name = excluded.item_name{total_adds})
         SELECT coalesce(sum(deltas), 0)::bigint FROM s"
    )
}

/// Office seconds from acceptance to decision with the legal calendar, as the counters sum it
/// (`None` when the calendar cannot tell).
pub fn handling_secs(
    calendar: &Calendar,
    accepted: Option<DateTime<Utc>>,
    decided: Option<DateTime<Utc>>,
) -> Option<i64> {
    let (a, d) = (accepted?, decided?);
    calendar
        .office_time_between(a, d)
        .ok()
        .map(|t| t.duration.num_seconds())
}

/// Fills the handling time of decided cases that lack it (cases decided before it was kept, or
/// loaded in bulk). Returns how many were filled.
pub async fn backfill_handling_times(pool: &PgPool, calendar: &Calendar) -> Result<u64> {
    let mut after = Uuid::nil();
    let mut filled = 0u64;
    loop {
        let rows: Vec<(Uuid, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
            "SELECT id, accepted_at, decided_at FROM cases
              WHERE handling_office_secs IS NULL AND accepted_at IS NOT NULL AND decided_at IS NOT NULL
                AND id > $1
              ORDER BY id LIMIT 5000",
        )
        .bind(after)
        .fetch_all(pool)
        .await?;
        let Some(last) = rows.last() else {
            return Ok(filled);
        };
        after = last.0;
        let (ids, secs): (Vec<Uuid>, Vec<i64>) = rows
            .iter()
            .filter_map(|(id, a, d)| Some((*id, handling_secs(calendar, Some(*a), Some(*d))?)))
            .unzip();
        filled += sqlx::query(
            "UPDATE cases c SET handling_office_secs = v.secs
               FROM UNNEST($1::uuid[], $2::bigint[]) AS v(id, secs) WHERE c.id = v.id",
        )
        .bind(&ids)
        .bind(&secs)
        .execute(pool)
        .await?
        .rows_affected();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }
    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn whole_months_come_from_counters_and_the_ends_from_rows() {
        let now = t("2026-12-02T10:00:00+08:00");
        // A half-year in Beijing months: all counters.
        let s = split(
            t("2026-01-01T00:00:00+08:00"),
            t("2026-07-01T00:00:00+08:00"),
            now,
        );
        assert_eq!(s.months, (d("2026-01-01"), d("2026-07-01")));
        assert!(s.edges.iter().all(|(a, b)| a == b));
        // Mid-month ends: the whole months between, the partial ones from rows.
        let s = split(
            t("2026-01-15T00:00:00+08:00"),
            t("2026-04-10T12:00:00+08:00"),
            now,
        );
        assert_eq!(s.months, (d("2026-02-01"), d("2026-04-01")));
        assert_eq!(
            s.edges,
            [
                (
                    t("2026-01-15T00:00:00+08:00"),
                    t("2026-02-01T00:00:00+08:00")
                ),
                (
                    t("2026-04-01T00:00:00+08:00"),
                    t("2026-04-10T12:00:00+08:00")
                )
            ]
        );
        // Midnight UTC is 08:00 in Beijing: not a month's start.
        let s = split(t("2026-03-01T00:00:00Z"), t("2026-03-20T00:00:00Z"), now);
        assert_eq!(s.months.0, s.months.1);
        assert_eq!(
            s.edges[0],
            (t("2026-03-01T00:00:00Z"), t("2026-03-20T00:00:00Z"))
        );
        // This month so far, asked up to a moment in the future: the month is whole.
        let s = split(
            t("2026-12-01T00:00:00+08:00"),
            t("2026-12-02T11:00:00+08:00"),
            now,
        );
        assert_eq!(s.months, (d("2026-12-01"), d("2027-01-01")));
        assert!(s.edges.iter().all(|(a, b)| a == b));
        // Up to now exactly: the month is read from rows (the database's clock may be ahead).
        let s = split(t("2026-12-01T00:00:00+08:00"), now, now);
        assert_eq!(s.months.0, s.months.1);
        assert_eq!(s.edges[0], (t("2026-12-01T00:00:00+08:00"), now));
    }
}
