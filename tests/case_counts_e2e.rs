//! The statistics' pre-aggregated counters (cases migration 0019) give exactly what counting
//! the rows gives: for whole months (counters and unfolded deltas), partial months (rows) and
//! periods ending in the future, for everyone, one department and one county; while a fold runs
//! next to the writes, after cases move between states and departments, and with deltas left
//! unfolded.

mod common;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use yiwang_cases::case_counts::{self, Scope};
use yiwang_cases::stats::{self, Stats};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// `n` cases from `first` on, one every 97 minutes, spread over three departments in two
/// counties, three channels, five states, 37 items; decided ones with and without deadlines,
/// a third of them evaluated, delivered ones partly by free mail.
async fn file(pool: &PgPool, first: i64, n: i64) {
    sqlx::query(
        "INSERT INTO cases (id, case_number, item_code, item_version, item_name, department, task_type,
                channel, applicant_kind, applicant_name, applicant_phone_sealed, applicant_phone_hash,
                owner_sub, filed_by, materials, required_materials, state, limit_value, limit_unit,
                deadline, created_at, accepted_at, decided_at, partner_region, cross_direction, free_mailing)
         SELECT gen_random_uuid(), 'T' || i, 'I' || (i % 37), 1, '事项' || (i % 37),
                (ARRAY['340522-A', '340522-B', '340523-A'])[1 + i % 3], '行政许可',
                (ARRAY['online', 'mobile', 'window'])[1 + (i / 3) % 3], 'person', '测试', '\\x00', '\\x00',
                'u' || i, 'u' || i, '{}', '{}',
                (ARRAY['received', 'accepted', 'approved', 'delivered', 'rejected'])[1 + (i / 7) % 5],
                5, 'working_days',
                CASE WHEN (i / 7) % 5 IN (2, 3) AND i % 11 <> 0 THEN at + interval '3 days' * (1 + i % 3) END,
                at, CASE WHEN (i / 7) % 5 IN (1, 2, 3) THEN at + interval '1 hour' END,
                CASE WHEN (i / 7) % 5 IN (2, 3) THEN at + interval '1 day' * (1 + i % 8) END,
                CASE WHEN i % 50 = 0 THEN '440300' ELSE '' END, CASE WHEN i % 50 = 0 THEN 'there_for_here' ELSE '' END,
                i % 4 = 0
           FROM (SELECT i, timestamptz '2025-12-01 00:00+08' + interval '97 minutes' * i AS at
                   FROM generate_series($1::bigint, $1::bigint + $2::bigint - 1) i) g",
    )
    .bind(first)
    .bind(n)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO evaluations (id, case_id, level, evaluator, created_at)
         SELECT gen_random_uuid(), id, 1 + (substr(case_number, 2)::int % 5), owner_sub, decided_at + interval '1 day'
           FROM cases WHERE decided_at IS NOT NULL AND substr(case_number, 2)::int % 3 = 0
            AND substr(case_number, 2)::bigint >= $1 AND substr(case_number, 2)::bigint < $1 + $2",
    )
    .bind(first)
    .bind(n)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO case_transitions (case_id, at, actor, action, from_state, to_state)
         SELECT id, decided_at + interval '2 days', 'o', 'deliver', 'approved', 'delivered'
           FROM cases WHERE state = 'delivered'
            AND substr(case_number, 2)::bigint >= $1 AND substr(case_number, 2)::bigint < $1 + $2",
    )
    .bind(first)
    .bind(n)
    .execute(pool)
    .await
    .unwrap();
}

/// Thirty items far more in demand than the rest, filed in February 2026 (40 to 69 cases each),
/// and one filed 200 times in May 2026 only: the province's top items are read from the largest
/// yearly totals down, and stop early here; the May item's total is large, its count in a
/// period before May nothing.
async fn file_hot(pool: &PgPool) {
    sqlx::query(
        "INSERT INTO cases (id, case_number, item_code, item_version, item_name, department, task_type,
                channel, applicant_kind, applicant_name, applicant_phone_sealed, applicant_phone_hash,
                owner_sub, filed_by, materials, required_materials, state, limit_value, limit_unit, created_at)
         SELECT gen_random_uuid(), 'H' || (100000 + k * 1000 + j), 'H' || k, 1, '热门' || k,
                (ARRAY['340522-A', '340522-B', '340523-A'])[1 + (k + j) % 3], '行政许可',
                'online', 'person', '测试', '\\x00', '\\x00', 'h' || j, 'h' || j, '{}', '{}', 'received',
                5, 'working_days', at + interval '7 minutes' * j
           FROM (SELECT k, j, timestamptz '2026-02-02 09:00+08' AS at
                   FROM generate_series(0, 29) k CROSS JOIN LATERAL generate_series(1, 40 + k) j
                 UNION ALL
                 SELECT 99, j, timestamptz '2026-05-03 09:00+08' FROM generate_series(1, 200) j) g",
    )
    .execute(pool)
    .await
    .unwrap();
}

/// Rows of a query over [from, to) for a scope (`$1`, `$2`, `$3`).
async fn period_rows<T>(
    pool: &PgPool,
    sql: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    scope: &str,
) -> Vec<T>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(from)
        .bind(to)
        .bind(scope)
        .fetch_all(pool)
        .await
        .unwrap()
}

/// The figures counted from the rows, the way the statistics counted before the counters.
async fn by_rows(
    pool: &PgPool,
    daily_secs: i64,
    scope: &Scope,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Stats {
    let dept = scope.value().to_string();
    let keep = scope.rows("department");
    let keep_c = scope.rows("c.department");
    let grouped = |column: &'static str| {
        let sql = format!(
            "SELECT {column}, count(*) FROM cases WHERE created_at >= $1 AND created_at < $2 {keep} GROUP BY 1"
        );
        let dept = dept.clone();
        async move {
            period_rows::<(String, i64)>(pool, sql, from, to, &dept)
                .await
                .into_iter()
                .map(|(k, n)| (k, n as u64))
                .collect::<HashMap<String, u64>>()
        }
    };
    let mut s = Stats {
        by_channel: grouped("channel").await,
        by_department: grouped("department").await,
        by_state: grouped("state").await,
        ..Default::default()
    };
    s.filed = s.by_channel.values().sum();
    let online = s.by_channel.get("online").copied().unwrap_or(0)
        + s.by_channel.get("mobile").copied().unwrap_or(0);
    s.online_share = stats::rate(online as i64, s.filed as i64);
    s.cross_province = grouped("partner_region || ':' || cross_direction")
        .await
        .into_iter()
        .filter(|(k, _)| k != ":")
        .collect();
    let months: Vec<(String, String, i64)> = period_rows(
        pool,
        format!(
            "SELECT to_char(created_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM'), channel, count(*)
           FROM cases WHERE created_at >= $1 AND created_at < $2 {keep} GROUP BY 1, 2"
        ),
        from,
        to,
        &dept,
    )
    .await;
    for (m, channel, n) in months {
        s.by_month.entry(m).or_default().insert(channel, n as u64);
    }
    let top: Vec<(String, String, i64)> = period_rows(
        pool,
        format!(
            "SELECT item_code, min(item_name), count(*) FROM cases
          WHERE created_at >= $1 AND created_at < $2 {keep}
          GROUP BY item_code ORDER BY 3 DESC, item_code LIMIT 20"
        ),
        from,
        to,
        &dept,
    )
    .await;
    s.top_items = top.into_iter().map(|(c, n, k)| (c, n, k as u64)).collect();
    let (decided, with_deadline, on_time, handled, secs): (i64, i64, i64, i64, i64) = period_rows(
        pool,
        format!(
            "SELECT count(*), count(deadline), count(*) FILTER (WHERE decided_at <= deadline),
                    count(handling_office_secs), coalesce(sum(handling_office_secs), 0)::bigint
               FROM cases WHERE decided_at >= $1 AND decided_at < $2 {keep}"
        ),
        from,
        to,
        &dept,
    )
    .await
    .remove(0);
    s.decided = decided as u64;
    s.on_time_rate = stats::rate(on_time, with_deadline);
    if handled > 0 {
        s.avg_handling_working_days =
            ((secs as f64 / handled as f64 / daily_secs as f64) * 100.0).round() / 100.0;
    }
    let (n, good, mean): (i64, i64, f64) = period_rows(
        pool,
        format!(
        "SELECT count(*), count(*) FILTER (WHERE e.level >= 3), coalesce(avg(e.level), 0)::float8
           FROM evaluations e JOIN cases c ON c.id = e.case_id
          WHERE e.created_at >= $1 AND e.created_at < $2 {keep_c}"
    ),
        from,
        to,
        &dept,
    )
    .await
    .remove(0);
    s.evaluations = n as u64;
    s.good_rate = stats::rate(good, n);
    s.mean_level = (mean * 100.0).round() / 100.0;
    let (mailings,): (i64,) = period_rows(pool, format!(
        "SELECT count(*) FROM cases c JOIN case_transitions t ON t.case_id = c.id AND t.action = 'deliver'
          WHERE c.free_mailing AND t.at >= $1 AND t.at < $2 {keep_c}"
    ), from, to, &dept).await.remove(0);
    s.free_mailings = mailings as u64;
    if !matches!(scope, Scope::Department(_)) {
        let rows: Vec<(String, i64, i64, i64)> = period_rows(
            pool,
            format!(
            "SELECT department, count(*), count(*) FILTER (WHERE channel IN ('online', 'mobile')),
                    count(DISTINCT item_code)
               FROM cases WHERE created_at >= $1 AND created_at < $2 {keep} GROUP BY 1"
        ),
            from,
            to,
            &dept,
        )
        .await;
        let mut per: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
        for (d, n, online, items) in rows {
            per.insert(d, (n as u64, online as u64, items as u64));
        }
        s.departments = per
            .into_iter()
            .map(
                |(department, (filed, online, items))| stats::DepartmentStats {
                    department,
                    filed,
                    online,
                    items_with_cases: items,
                    ..Default::default()
                },
            )
            .collect();
    }
    s
}

/// Compares what the counters answer with what the rows say, field by field.
async fn agree(pool: &PgPool, daily_secs: i64, scope: &Scope, from: &str, to: &str) {
    let (from, to) = (t(from), t(to));
    let calendar = yiwang_cases::store::load_calendar(pool).await.unwrap();
    let got = stats::compute(pool, &calendar, scope, from, to)
        .await
        .unwrap();
    let want = by_rows(pool, daily_secs, scope, from, to).await;
    let at = format!("{scope:?} {from}..{to}");
    assert!(want.filed > 0, "{at}: the period holds cases");
    assert_eq!(got.filed, want.filed, "{at}");
    assert_eq!(got.by_channel, want.by_channel, "{at}");
    assert_eq!(got.by_department, want.by_department, "{at}");
    assert_eq!(got.by_state, want.by_state, "{at}");
    assert_eq!(got.online_share, want.online_share, "{at}");
    assert_eq!(got.cross_province, want.cross_province, "{at}");
    assert_eq!(got.by_month, want.by_month, "{at}");
    assert_eq!(got.top_items, want.top_items, "{at}");
    assert_eq!(got.decided, want.decided, "{at}");
    assert_eq!(got.on_time_rate, want.on_time_rate, "{at}");
    assert_eq!(
        got.avg_handling_working_days, want.avg_handling_working_days,
        "{at}"
    );
    assert_eq!(got.evaluations, want.evaluations, "{at}");
    assert_eq!(got.good_rate, want.good_rate, "{at}");
    assert_eq!(got.mean_level, want.mean_level, "{at}");
    assert_eq!(got.free_mailings, want.free_mailings, "{at}");
    let brief = |s: &Stats| -> Vec<(String, u64, u64, u64)> {
        s.departments
            .iter()
            .filter(|d| d.filed > 0)
            .map(|d| (d.department.clone(), d.filed, d.online, d.items_with_cases))
            .collect()
    };
    assert_eq!(brief(&got), brief(&want), "{at}");
}

async fn check_all(pool: &PgPool, daily_secs: i64) {
    let scopes = [
        Scope::All,
        Scope::Department("340522-A".into()),
        Scope::Region("340522".into()),
    ];
    for scope in &scopes {
        // Whole months across a new year: counters only (two years' item rows).
        agree(
            pool,
            daily_secs,
            scope,
            "2025-12-01T00:00:00+08:00",
            "2026-04-01T00:00:00+08:00",
        )
        .await;
        // Partial months at both ends.
        agree(
            pool,
            daily_secs,
            scope,
            "2025-12-15T10:00:00+08:00",
            "2026-03-10T00:00:00+08:00",
        )
        .await;
        // Within one month: rows only.
        agree(
            pool,
            daily_secs,
            scope,
            "2026-01-03T00:00:00+08:00",
            "2026-01-20T00:00:00+08:00",
        )
        .await;
        // One year's whole months.
        agree(
            pool,
            daily_secs,
            scope,
            "2026-01-01T00:00:00+08:00",
            "2026-03-01T00:00:00+08:00",
        )
        .await;
        // Ending in the future: its last month whole.
        agree(
            pool,
            daily_secs,
            scope,
            "2026-02-01T00:00:00+08:00",
            "2099-01-01T00:00:00+08:00",
        )
        .await;
    }
}

#[tokio::test]
async fn counters_give_what_counting_the_rows_gives() {
    let cfg = common::test_config(10_000).await;
    yiwang_cases::migrate(&cfg).await.unwrap();
    let pool = PgPool::connect(&cfg.service_database_url("cases"))
        .await
        .unwrap();
    let calendar = yiwang_cases::store::load_calendar(&pool).await.unwrap();
    let daily_secs = calendar.office_hours().daily().num_seconds();
    assert!(
        case_counts::split(
            t("2026-03-01T00:00:00+08:00"),
            t("2026-07-01T00:00:00+08:00"),
            Utc::now()
        )
        .edges
        .iter()
        .all(|(a, b)| a == b),
        "whole months are read from the counters alone"
    );

    // Filings in ten batches while a fold runs beside them.
    let folding = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut folded = 0;
            for _ in 0..40 {
                folded += case_counts::fold(&pool).await.unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            folded
        })
    };
    for batch in 0..10 {
        file(&pool, batch * 180, 180).await;
    }
    file_hot(&pool).await;
    assert!(folding.await.unwrap() > 0);
    let filled = case_counts::backfill_handling_times(&pool, &calendar)
        .await
        .unwrap();
    assert!(filled > 0, "decided cases got their handling times");
    while case_counts::fold(&pool).await.unwrap() > 0 {}
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM case_count_deltas")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    let (monthly, yearly): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM case_counts), (SELECT count(*) FROM case_item_counts)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        monthly > 0 && yearly > 0,
        "folded into both kinds of counters"
    );
    check_all(&pool, daily_secs).await;

    // Cases move on and between departments; these deltas stay unfolded.
    sqlx::query("UPDATE cases SET state = 'accepted', accepted_at = created_at WHERE state = 'received' AND substr(case_number, 2)::int % 2 = 0")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE cases SET department = '340523-A' WHERE state = 'received' AND department = '340522-A'")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE cases SET overdue_notified = true WHERE substr(case_number, 2)::int % 5 = 0",
    )
    .execute(&pool)
    .await
    .unwrap();
    // And one hot item filed 25 times more: it climbs the top list by its unfolded deltas alone.
    sqlx::query(
        "INSERT INTO cases (id, case_number, item_code, item_version, item_name, department, task_type,
                channel, applicant_kind, applicant_name, applicant_phone_sealed, applicant_phone_hash,
                owner_sub, filed_by, materials, required_materials, state, limit_value, limit_unit, created_at)
         SELECT gen_random_uuid(), 'H' || (200000 + j), 'H5', 1, '热门5', '340522-B', '行政许可', 'mobile',
                'person', '测试', '\\x00', '\\x00', 'h' || j, 'h' || j, '{}', '{}', 'received', 5,
                'working_days', timestamptz '2026-02-20 09:00+08' + interval '7 minutes' * j
           FROM generate_series(1, 25) j",
    )
    .execute(&pool)
    .await
    .unwrap();
    let unfolded: i64 = sqlx::query_scalar("SELECT count(*) FROM case_count_deltas")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(unfolded > 0);
    check_all(&pool, daily_secs).await;
    // And once folded, the same again.
    while case_counts::fold(&pool).await.unwrap() > 0 {}
    check_all(&pool, daily_secs).await;

    pool.close().await;
    yiwang_kit::db::drop_database(
        cfg.service_database_server("cases"),
        &cfg.database_name("cases"),
    )
    .await
    .unwrap();
}
