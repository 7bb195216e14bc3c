//! The province suite (`bash bench/run --suite province`): a hundred counties on one platform.
//!
//! Loaded in bulk before the services start: the catalogue grown to 100 × the demo county's
//! items (the harness's usual copies), 10 M cases over the reference half-year (each county with
//! 34 departments and 8,120 items, 70 % of filings on 30 high-frequency items as in the demo,
//! the demo's channel mix, decided cases with deadlines and handling times, 30 % of them
//! evaluated, free mailings), and 20 M security events over the last six months. Cases go in
//! through the ordinary table with its triggers, so the statistics' counters are built the way
//! production builds them.
//!
//! Then, through the gateway as the app and the bureau use it: a department's case list and an
//! applicant's own list (p99), one county's and the whole province's half-year statistics, and
//! alert ingest over gRPC against `psql \copy` of the same events — both while the lists and
//! statistics run in the background. Disk per million cases and events closes the report.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use sqlx::PgPool;

use crate::{Run, SECRET, drive, http_conn, http_send, ms, percent_encode};

/// Counties on the platform.
pub const COUNTIES: i64 = 100;
/// Departments per county, and items per county (the demo county's numbers).
const DEPARTMENTS: i64 = 34;
const ITEMS: i64 = 8120;
/// The reference half-year, in Beijing time.
const HALF_FROM: &str = "2026-01-01T00:00:00+08:00";
const HALF_TO: &str = "2026-07-01T00:00:00+08:00";
/// Distinct applicants (each has about cases / APPLICANTS cases).
const APPLICANTS: i64 = 2_000_000;

/// A county's region code: 340501…340600 (the demo county 340522 among them).
pub fn county(k: i64) -> String {
    (340_501 + k).to_string()
}

fn department(k: i64, d: i64) -> String {
    format!("{}-D{:02}", county(k), d)
}

/// Loads `total` cases (and their evaluations and free-mailing deliveries) in chunks of 200,000.
/// Sealed fields hold real ciphertexts of the deployment's key (a thousand reused), so listing
/// opens them as it would real ones.
pub async fn load_cases(
    cfg: &yiwang_kit::Config,
    pool: &PgPool,
    total: i64,
) -> anyhow::Result<f64> {
    let key = yiwang_kit::crypto::DataKey::from_config(cfg)?;
    let (mut ids, mut id_hashes, mut phones, mut phone_hashes) = (vec![], vec![], vec![], vec![]);
    for n in 0..1000u64 {
        let id = crate::resident_id(n);
        let phone = format!("139{:08}", n * 7919 % 100_000_000);
        ids.push(key.seal(&id, b"cases.applicant_id"));
        id_hashes.push(key.lookup_hash("resident_id", &id).to_vec());
        phones.push(key.seal(&phone, b"cases.applicant_phone"));
        phone_hashes.push(key.lookup_hash("phone", &phone).to_vec());
    }
    let t = Instant::now();
    let chunk = 200_000i64;
    let mut first = 0i64;
    while first < total {
        let n = chunk.min(total - first);
        let mut tx = pool.begin().await?;
        // Case i: county i % 100, filed at an even pace over the half-year; h a hash of i picks
        // the item (70 % one of 30 hot ones), channel, state and timings.
        sqlx::query(
            "INSERT INTO cases (id, case_number, item_code, item_version, item_name, department, task_type, channel,
                applicant_kind, applicant_name, applicant_id_sealed, applicant_id_hash, applicant_phone_sealed,
                applicant_phone_hash, owner_sub, filed_by, materials, required_materials, state, limit_value, limit_unit,
                deadline, clock, created_at, updated_at, accepted_at, decided_at, handling_office_secs,
                partner_region, cross_direction, free_mailing, overdue_notified, deadline_warned)
             SELECT gen_random_uuid(), 'P' || lpad(i::text, 9, '0'),
                    county || lpad(item::text, 5, '0'), 1, '事项 ' || item,
                    county || '-D' || lpad((item % $7)::text, 2, '0'), '行政许可',
                    CASE WHEN h % 10000 < 4000 THEN 'online' WHEN h % 10000 < 6297 THEN 'mobile'
                         WHEN h % 10000 < 9200 THEN 'window' WHEN h % 10000 < 9800 THEN 'self_service'
                         ELSE 'cross_province' END,
                    'person', '张三', ($3::bytea[])[1 + h % 1000], ($4::bytea[])[1 + h % 1000],
                    ($5::bytea[])[1 + h % 1000], ($6::bytea[])[1 + h % 1000],
                    'citizen-' || (i % $9), 'citizen-' || (i % $9), '{身份证}', '{身份证}', state, 7, 'working_days',
                    CASE WHEN state <> 'received' THEN at + interval '1 hour' + interval '9 days' END,
                    CASE WHEN state = 'accepted' THEN 'running' ELSE 'none' END,
                    at, at, CASE WHEN state <> 'received' THEN at + interval '1 hour' END,
                    decided, CASE WHEN decided IS NOT NULL THEN days * 25200 * 5 / 7 END,
                    CASE WHEN h % 10000 >= 9800 THEN '440300' ELSE '' END,
                    CASE WHEN h % 10000 >= 9800 THEN 'here_for_there' ELSE '' END,
                    state = 'delivered' AND h % 10 = 0, true, true
               FROM (SELECT i, h, at, county, item, days, state,
                            CASE WHEN state IN ('approved', 'delivered') THEN at + interval '1 day' * days END AS decided
                       FROM (SELECT i, h, at, (340501 + i % 100)::text AS county,
                                    CASE WHEN h % 10 < 7 THEN h / 10 % 30 ELSE h / 10 % $8 END AS item,
                                    1 + h / 100000 % 12 AS days,
                                    CASE WHEN at > timestamptz '2026-06-20 00:00+08' AND h % 3 = 0 THEN 'accepted'
                                         WHEN at > timestamptz '2026-06-25 00:00+08' AND h % 3 = 1 THEN 'received'
                                         WHEN h % 100 < 4 THEN 'rejected'
                                         WHEN h % 100 < 30 THEN 'approved'
                                         ELSE 'delivered' END AS state
                               FROM (SELECT i, (i * 2654435761) % 4294967296 AS h,
                                            timestamptz '2026-01-01 00:00+08'
                                              + interval '181 days' * (i::float8 / $2) AS at
                                       FROM generate_series($1::bigint, $1::bigint + $10::bigint - 1) i) g) s) c",
        )
        .bind(first)
        .bind(total as f64)
        .bind(&ids)
        .bind(&id_hashes)
        .bind(&phones)
        .bind(&phone_hashes)
        .bind(DEPARTMENTS)
        .bind(ITEMS)
        .bind(APPLICANTS)
        .bind(n)
        .execute(&mut *tx)
        .await?;
        // Three in ten decided cases evaluated the next day (mostly 非常满意), and the free
        // mailings' deliveries, from this chunk's rows.
        let (lo, hi) = (format!("P{first:09}"), format!("P{:09}", first + n));
        sqlx::query(
            "INSERT INTO evaluations (id, case_id, level, evaluator, created_at)
             SELECT gen_random_uuid(), id,
                    CASE WHEN x < 90 THEN 5 WHEN x < 95 THEN 4 WHEN x < 98 THEN 3 WHEN x < 99 THEN 2 ELSE 1 END,
                    owner_sub, decided_at + interval '1 day'
               FROM (SELECT id, owner_sub, decided_at, abs(hashtext(case_number)::bigint) % 100 AS x,
                            abs(hashtext(case_number || 'e')::bigint) % 10 AS pick
                       FROM cases WHERE case_number >= $1 AND case_number < $2 AND decided_at IS NOT NULL) d
              WHERE pick < 3",
        )
        .bind(&lo)
        .bind(&hi)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO case_transitions (case_id, at, actor, action, from_state, to_state)
             SELECT id, decided_at + interval '2 days', 'bench', 'deliver', 'approved', 'delivered'
               FROM cases WHERE case_number >= $1 AND case_number < $2 AND free_mailing",
        )
        .bind(&lo)
        .bind(&hi)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        first += n;
        eprintln!(
            "cases: {first} of {total} loaded ({:.0} s)",
            t.elapsed().as_secs_f64()
        );
    }
    Ok(t.elapsed().as_secs_f64())
}

/// Folds every statistics delta into the counters (the cases service's sweeper does this
/// continuously; here once, after the bulk load). Returns the seconds it took.
pub async fn fold_all(pool: &PgPool) -> anyhow::Result<f64> {
    let t = Instant::now();
    while yiwang_cases::case_counts::fold(pool).await? > 0 {}
    for table in ["case_count_deltas", "case_counts", "case_item_counts"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM ANALYZE {table}")))
            .execute(pool)
            .await?;
    }
    sqlx::query("VACUUM ANALYZE cases").execute(pool).await?;
    Ok(t.elapsed().as_secs_f64())
}

/// Loads `total` stored security events over the last six months, straight into the monthly
/// partitions, as history: the folder's position is moved past them, so the service does not
/// spend the measurement folding 20 M old events into incidents.
pub async fn load_events(pool: &PgPool, total: i64) -> anyhow::Result<f64> {
    let t = Instant::now();
    let months: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT to_char(m, 'YYYYMM'), to_char(m, 'YYYY-MM-DD') || ' 00:00:00+00',
                to_char(m + interval '1 month', 'YYYY-MM-DD') || ' 00:00:00+00'
           FROM generate_series(date_trunc('month', (now() AT TIME ZONE 'UTC') - interval '6 months'),
                                date_trunc('month', now() AT TIME ZONE 'UTC'), interval '1 month') m",
    )
    .fetch_all(pool)
    .await?;
    for (name, from, to) in &months {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE IF NOT EXISTS events_p{name} PARTITION OF events FOR VALUES FROM ('{from}') TO ('{to}')"
        )))
        .execute(pool)
        .await?;
    }
    let chunk = 500_000i64;
    let mut first = 0i64;
    while first < total {
        let n = chunk.min(total - first);
        let mut tx = pool.begin().await?;
        sqlx::query(
            "CREATE TEMP TABLE loading ON COMMIT DROP AS
             SELECT 'province-soc'::text AS source, 'pv-' || lpad(i::text, 10, '0') AS source_ref,
                    now() - interval '180 days' + interval '179 days' * (i::float8 / $2) AS occurred_at,
                    i
               FROM generate_series($1::bigint, $1::bigint + $3::bigint - 1) i",
        )
        .bind(first)
        .bind(total as f64)
        .bind(n)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO event_keys (source, source_ref, occurred_at)
             SELECT source, source_ref, occurred_at FROM loading",
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO events (source, source_ref, occurred_at, src_ip, src_port, dst_ip, dst_port, category,
                                 severity, rule, kill_chain_phase, raw)
             SELECT source, source_ref, occurred_at,
                    ('203.0.' || (i / 254 % 254 + 1) || '.' || (i % 254 + 1))::inet, 40000 + (i % 20000)::int,
                    ('10.' || (8 + i % 100) || '.' || (i / 100 % 250) || '.' || (i % 250 + 1))::inet,
                    (ARRAY[80, 443, 22, 3389, 445, 8080])[1 + i % 6],
                    (ARRAY['attack_attempt', 'attack_attempt', 'potential_risk', 'host_compromised'])[1 + i % 4],
                    (ARRAY['low', 'low', 'medium', 'high'])[1 + i / 4 % 4],
                    'rule-' || (i * 7919 % 40), 'exploitation',
                    jsonb_build_object('event_id', source_ref, 'device', 'probe-' || (i % 16), 'payload_len', i % 1500)
               FROM loading",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        first += n;
        eprintln!(
            "events: {first} of {total} loaded ({:.0} s)",
            t.elapsed().as_secs_f64()
        );
    }
    sqlx::query("UPDATE fold_state SET next_xid = pg_current_xact_id()::text::bigint")
        .execute(pool)
        .await?;
    sqlx::query("ANALYZE events").execute(pool).await?;
    sqlx::query("ANALYZE event_keys").execute(pool).await?;
    Ok(t.elapsed().as_secs_f64())
}

/// Bytes of a table with its indexes and TOAST, partitions included.
async fn table_bytes(pool: &PgPool, table: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        // A plain table has no partition tree; a partitioned one has no size of its own.
        "SELECT greatest(pg_total_relation_size($1::regclass),
                         coalesce((SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree($1::regclass)), 0))::bigint",
    )
    .bind(table)
    .fetch_one(pool)
    .await?)
}

fn token(roles: &[&str], sub: &str, dept: Option<&str>) -> anyhow::Result<String> {
    yiwang_kit::auth::mint_token(
        SECRET,
        sub,
        "province bench",
        &roles.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
        dept,
        7200,
    )
}

/// One authenticated GET per request on a keep-alive connection per worker, the path and token
/// chosen per request.
async fn authed_load(
    addr: SocketAddr,
    requests: Arc<Vec<(String, String)>>,
    workers: usize,
    run_for: Duration,
) -> anyhow::Result<Run> {
    let mut conns = Vec::new();
    for _ in 0..workers {
        conns.push(Arc::new(tokio::sync::Mutex::new(http_conn(addr).await?)));
    }
    let conns = Arc::new(conns);
    drive(workers, run_for, None, move |w, n| {
        let (conns, requests) = (conns.clone(), requests.clone());
        async move {
            let (path, token) = &requests[(w * 7919 + n as usize) % requests.len()];
            let mut c = conns[w].lock().await;
            matches!(
                http_send(&mut c, http::Method::GET, path, Some(token), None).await,
                Ok((200, _))
            )
        }
    })
    .await
}

/// `times` sequential statistics requests; every answer must be 200 with the half-year's cases.
async fn stats_runs(
    addr: SocketAddr,
    supervisor: &str,
    regions: &[String],
    times: usize,
) -> anyhow::Result<(Histogram<u64>, u64)> {
    let mut hist = Histogram::<u64>::new(3)?;
    let mut conn = http_conn(addr).await?;
    let mut filed = 0;
    for n in 0..times {
        let region = &regions[n % regions.len()];
        let path = format!(
            "/v1/cases/stats?from={}&to={}{}",
            percent_encode(HALF_FROM),
            percent_encode(HALF_TO),
            if region.is_empty() {
                String::new()
            } else {
                format!("&region={region}")
            }
        );
        let t = Instant::now();
        let (status, body) =
            http_send(&mut conn, http::Method::GET, &path, Some(supervisor), None).await?;
        let _ = hist.record(t.elapsed().as_micros() as u64);
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        anyhow::ensure!(status == 200, "{path}: {status} {v}");
        filed = v["filed"].as_u64().unwrap_or(0);
        anyhow::ensure!(filed > 0, "{path}: no cases counted");
    }
    Ok((hist, filed))
}

pub struct Loaded {
    pub cases: i64,
    pub events: i64,
    pub cases_secs: f64,
    pub fold_secs: f64,
    pub events_secs: f64,
}

#[allow(clippy::too_many_arguments)]
pub async fn measure(
    cfg: &yiwang_kit::Config,
    gateway: SocketAddr,
    alerts_url: &str,
    logs: &std::path::Path,
    loaded: &Loaded,
    secs: Duration,
    ingest_events: u64,
    report: &mut Vec<String>,
) -> anyhow::Result<()> {
    let cases_db = yiwang_kit::db::lazy_pool(&cfg.service_database_url("cases"), 2)?;
    let alerts_db = yiwang_kit::db::lazy_pool(&cfg.service_database_url("alerts"), 2)?;
    report.push(format!(
        "| Bulk load: {} cases with their evaluations and deliveries (triggers building the statistics' deltas), then folding the deltas | {:.0} cases/s ({:.0} s), fold {:.1} s | | |",
        loaded.cases,
        loaded.cases as f64 / loaded.cases_secs,
        loaded.cases_secs,
        loaded.fold_secs
    ));
    report.push(format!(
        "| Bulk load: {} stored security events over six months (partitions, keys) | {:.0} events/s ({:.0} s) | | |",
        loaded.events,
        loaded.events as f64 / loaded.events_secs,
        loaded.events_secs
    ));

    // A department's list (officers of 200 departments across the counties) and applicants'
    // own lists (each about five cases), newest first, first page of 20.
    let mut lists = Vec::new();
    for n in 0..200 {
        let dept = department(n * 7 % COUNTIES, n % DEPARTMENTS);
        lists.push((
            "/v1/cases?page_size=20".to_string(),
            token(&["officer"], &format!("officer-{n}"), Some(&dept))?,
        ));
    }
    let dept_lists = Arc::new(lists);
    let mut mine = Vec::new();
    for n in 0..200i64 {
        mine.push((
            "/v1/me/cases?page_size=20".to_string(),
            token(
                &["citizen"],
                &format!("citizen-{}", n * 9973 % APPLICANTS),
                None,
            )?,
        ));
    }
    let my_lists = Arc::new(mine);
    {
        let mut c = http_conn(gateway).await?;
        let (path, t) = &dept_lists[0];
        let (status, body) = http_send(&mut c, http::Method::GET, path, Some(t), None).await?;
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        anyhow::ensure!(
            status == 200 && v["cases"].as_array().map(Vec::len) == Some(20),
            "department list: {status} {v}"
        );
    }
    let dept_run = authed_load(gateway, dept_lists.clone(), 4, secs).await?;
    eprintln!("department case list: {}", dept_run.line());
    let my_run = authed_load(gateway, my_lists.clone(), 4, secs).await?;
    eprintln!("own case list: {}", my_run.line());
    report.push(format!(
        "| REST `GET /v1/cases?page_size=20` as an officer of one of 200 departments, over {} cases, 4 clients | {:.0} req/s, p50 {}, p99 **{}**, {} errors | | target p99 ≤ 20 ms |",
        loaded.cases,
        dept_run.rps,
        ms(dept_run.p(50.0)),
        ms(dept_run.p(99.0)),
        dept_run.errors
    ));
    report.push(format!(
        "| REST `GET /v1/me/cases?page_size=20` as one of 200 applicants, 4 clients | {:.0} req/s, p50 {}, p99 **{}**, {} errors | | target p99 ≤ 20 ms |",
        my_run.rps,
        ms(my_run.p(50.0)),
        ms(my_run.p(99.0)),
        my_run.errors
    ));

    // Statistics: the bureau of one county, and the province.
    let supervisor = token(&["supervisor"], "province-supervisor", None)?;
    let counties: Vec<String> = (0..20).map(|k| county(k * 5 + 1)).collect();
    let (county_hist, county_filed) = stats_runs(gateway, &supervisor, &counties, 40).await?;
    let (province_hist, province_filed) =
        stats_runs(gateway, &supervisor, &[String::new()], 10).await?;
    eprintln!(
        "county stats p50 {} p99 {}; province p50 {} p99 {}",
        ms(county_hist.value_at_quantile(0.5)),
        ms(county_hist.value_at_quantile(0.99)),
        ms(province_hist.value_at_quantile(0.5)),
        ms(province_hist.value_at_quantile(0.99))
    );
    report.push(format!(
        "| REST `GET /v1/cases/stats?region=…`, one county's half-year ({county_filed} cases filed), 40 requests over 20 counties | p50 {}, p99 **{}**, max {} | | target ≤ 200 ms |",
        ms(county_hist.value_at_quantile(0.5)),
        ms(county_hist.value_at_quantile(0.99)),
        ms(county_hist.max())
    ));
    report.push(format!(
        "| REST `GET /v1/cases/stats`, the province's half-year ({province_filed} cases filed), 10 requests | p50 {}, p99 **{}**, max {} | | target ≤ 1 s |",
        ms(province_hist.value_at_quantile(0.5)),
        ms(province_hist.value_at_quantile(0.99)),
        ms(province_hist.max())
    ));

    // Alert ingest against \copy, both while lists and statistics run beside them.
    let stop = Arc::new(AtomicBool::new(false));
    let background = {
        let (stop, dept_lists, supervisor) = (stop.clone(), dept_lists.clone(), supervisor.clone());
        let counties = counties.clone();
        tokio::spawn(async move {
            let mut served = 0u64;
            let mut conn = http_conn(gateway).await?;
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let (path, t) = &dept_lists[n % dept_lists.len()];
                let (status, _) =
                    http_send(&mut conn, http::Method::GET, path, Some(t), None).await?;
                anyhow::ensure!(status == 200, "background list: {status}");
                if n % 10 == 0 {
                    let path = format!(
                        "/v1/cases/stats?from={}&to={}&region={}",
                        percent_encode(HALF_FROM),
                        percent_encode(HALF_TO),
                        counties[n / 10 % counties.len()]
                    );
                    let (status, _) =
                        http_send(&mut conn, http::Method::GET, &path, Some(&supervisor), None)
                            .await?;
                    anyhow::ensure!(status == 200, "background stats: {status}");
                }
                n += 1;
                served += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            anyhow::Ok(served)
        })
    };
    let (ingest_rps, copy_rps) = crate::alerts::ingest_against_copy(
        alerts_url,
        &cfg.service_database_url("alerts"),
        logs,
        ingest_events,
    )
    .await?;
    stop.store(true, Ordering::Relaxed);
    let served = background.await??;
    report.push(format!(
        "| gRPC `StreamEvents`, {ingest_events} events onto {} stored, while case lists and county statistics run ({served} background requests) | {ingest_rps:.0} events/s acknowledged | `psql \\copy` of the same events under the same load: {copy_rps:.0} rows/s | **{:.0} %** of `\\copy` (target ≥ 50 %) |",
        loaded.events,
        100.0 * ingest_rps / copy_rps
    ));

    // Disk.
    let cases_bytes = table_bytes(&cases_db, "cases").await?;
    let history_bytes = table_bytes(&cases_db, "case_transitions").await?
        + table_bytes(&cases_db, "evaluations").await?;
    let (mut counts_bytes, mut counters) = (0i64, 0i64);
    for table in [
        "case_counts",
        "case_filed_counts",
        "case_item_counts",
        "case_item_totals",
    ] {
        counts_bytes += table_bytes(&cases_db, table).await?;
        counters += sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {table}"
        )))
        .fetch_one(&cases_db)
        .await?;
    }
    let events_bytes =
        table_bytes(&alerts_db, "events").await? + table_bytes(&alerts_db, "event_keys").await?;
    let stored_events: i64 = sqlx::query_scalar("SELECT count(*) FROM event_keys")
        .fetch_one(&alerts_db)
        .await?;
    let mib = |b: i64| b as f64 / (1024.0 * 1024.0);
    report.push(format!(
        "| Disk per million cases (table, TOAST and indexes; sealed fields included) | **{:.0} MiB** (cases {:.1} GiB in all; evaluations and deliveries {:.0} MiB more) | | |",
        mib(cases_bytes) / (loaded.cases as f64 / 1e6),
        mib(cases_bytes) / 1024.0,
        mib(history_bytes)
    ));
    report.push(format!(
        "| The statistics' counters | {counters} rows, {:.0} MiB ({:.2} % of the cases' size) | | |",
        mib(counts_bytes),
        100.0 * counts_bytes as f64 / cases_bytes as f64
    ));
    report.push(format!(
        "| Disk per million security events (partitions, keys, indexes) | **{:.0} MiB** ({stored_events} stored, {:.1} GiB) | | |",
        mib(events_bytes) / (stored_events as f64 / 1e6),
        mib(events_bytes) / 1024.0
    ));
    cases_db.close().await;
    alerts_db.close().await;
    Ok(())
}
