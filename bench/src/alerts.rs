//! The alerts suite: the platform's feed streamed into `yiwang serve alerts` over gRPC (durable,
//! dedup on) against `psql \copy` loading the same events into an equivalent table (same
//! columns, monthly partitions, the same primary key) in the same database, in the same run;
//! and the service's peak RSS while it ingests them.
//!
//! The events are a plausible province-wide month: 5,000 fingerprints (rule × affected asset),
//! each seen a few hundred times over 30 days, three categories and severities mixed.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use yiwang_proto::alerts::v1 as pb;

use crate::{Procs, SECRET, free_addr, rss_mib, wait_ready};

const RULES: [&str; 40] = [
    "SQL 注入",
    "XSS",
    "WebShell 上传",
    "命令执行",
    "目录遍历",
    "弱口令爆破",
    "SSH 暴力破解",
    "RDP 暴力破解",
    "永恒之蓝",
    "Log4Shell",
    "Struts2 RCE",
    "Fastjson 反序列化",
    "ThinkPHP RCE",
    "挖矿外联",
    "C2 心跳",
    "DNS 隧道",
    "异常端口外联",
    "端口扫描",
    "漏洞扫描",
    "敏感文件访问",
    "未授权访问",
    "Redis 未授权",
    "Elasticsearch 未授权",
    "SMB 横向移动",
    "Mimikatz",
    "勒索软件特征",
    "钓鱼邮件",
    "恶意宏文档",
    "DGA 域名",
    "Tor 出口节点",
    "异常登录",
    "越权访问",
    "文件包含",
    "SSRF",
    "XXE",
    "反弹 Shell",
    "Cobalt Strike",
    "蠕虫传播",
    "数据外传",
    "证书异常",
];

/// The i-th event of the run (deterministic, so the baseline loads exactly the same rows).
struct Gen {
    base: chrono::DateTime<chrono::Utc>,
    total: u64,
}

impl Gen {
    fn event(&self, i: u64) -> pb::SecurityEvent {
        let f = (i.wrapping_mul(7919)) % 5000; // fingerprint
        let asset = f % 2000;
        let category = match f % 10 {
            0 => "host_compromised",
            1..=6 => "attack_attempt",
            _ => "potential_risk",
        };
        let severity = match i % 7 {
            0 => "high",
            1..=3 => "medium",
            _ => "low",
        };
        let internal = format!(
            "10.{}.{}.{}",
            8 + asset / 62_500,
            (asset / 250) % 250,
            asset % 250 + 1
        );
        let external = format!("203.0.{}.{}", (i / 254) % 254 + 1, i % 254 + 1);
        let (src, dst) = if category == "host_compromised" {
            (internal, external)
        } else {
            (external, internal)
        };
        let at =
            self.base + chrono::Duration::milliseconds((i * 30 * 86_400_000 / self.total) as i64);
        pb::SecurityEvent {
            source: "ahsoc".into(),
            source_ref: format!("ev-{i:010}"),
            occurred_at: Some(prost_types::Timestamp {
                seconds: at.timestamp(),
                nanos: at.timestamp_subsec_nanos() as i32,
            }),
            src_ip: src,
            src_port: (40_000 + i % 20_000) as u32,
            dst_ip: dst,
            dst_port: [80, 443, 22, 3389, 445, 8080][(i % 6) as usize],
            category: category.into(),
            severity: severity.into(),
            rule: RULES[(f % 40) as usize].into(),
            kill_chain_phase: "exploitation".into(),
            raw_json: format!(
                r#"{{"event_id":"ev-{i:010}","device":"ahsoc-probe-{}","payload_len":{},"action":"alert"}}"#,
                i % 16,
                i % 1500
            ),
        }
    }
}

fn csv_field(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for b in s.bytes() {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// The batches of `count` events starting at `first`, dealt round-robin to `streams` streams.
/// Built before the clock starts, as the baseline's CSV file is.
fn batches(
    generator: &Gen,
    first: u64,
    count: u64,
    streams: u64,
    batch: u64,
) -> Vec<Vec<pb::EventBatch>> {
    let mut out: Vec<Vec<pb::EventBatch>> = (0..streams).map(|_| Vec::new()).collect();
    for b in 0..count.div_ceil(batch) {
        let (lo, hi) = (
            first + b * batch,
            (first + (b + 1) * batch).min(first + count),
        );
        out[(b % streams) as usize].push(pb::EventBatch {
            batch_id: format!("{lo}"),
            events: (lo..hi).map(|i| generator.event(i)).collect(),
        });
    }
    out
}

/// The security platform's system token, as its feed presents it.
fn platform_token() -> anyhow::Result<String> {
    yiwang_kit::auth::mint_token(
        SECRET,
        "ahsoc-platform",
        "态势感知平台",
        &["system".to_string()],
        None,
        3600,
    )
}

/// Sends each stream's batches on its own gRPC stream, all at once; sums the acknowledgements.
async fn feed(
    url: &str,
    token: &str,
    streams: Vec<Vec<pb::EventBatch>>,
) -> anyhow::Result<(u64, u64)> {
    let accepted = Arc::new(AtomicU64::new(0));
    let duplicate = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for batches in streams {
        let channel = tonic::transport::Endpoint::from_shared(url.to_string())?
            .tcp_nodelay(true)
            .connect()
            .await?;
        let mut client = pb::alerts_service_client::AlertsServiceClient::new(channel)
            .max_encoding_message_size(64 << 20);
        let (accepted, duplicate) = (accepted.clone(), duplicate.clone());
        let token = token.to_string();
        tasks.push(tokio::spawn(async move {
            let mut req = tonic::Request::new(futures::stream::iter(batches));
            req.metadata_mut()
                .insert("authorization", format!("Bearer {token}").parse()?);
            let mut acks = client.stream_events(req).await?.into_inner();
            while let Some(ack) = acks.message().await? {
                anyhow::ensure!(ack.rejected == 0, "rejected: {:?}", ack.rejections.first());
                accepted.fetch_add(ack.accepted as u64, Ordering::Relaxed);
                duplicate.fetch_add(ack.duplicate as u64, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok((
        accepted.load(Ordering::Relaxed),
        duplicate.load(Ordering::Relaxed),
    ))
}

pub async fn suite(
    yiwang: &std::path::Path,
    logs: &std::path::Path,
    events: u64,
    report: &mut Vec<String>,
) -> anyhow::Result<()> {
    let mut cfg = yiwang_kit::Config::from_env()?;
    cfg.database_prefix = "yiwang_bench".into();
    cfg.redis_prefix = "yiwang-bench".into();
    yiwang_kit::db::drop_database(&cfg.database_url, &cfg.database_name("alerts")).await?;
    let addr = free_addr()?;
    let log = std::fs::File::create(logs.join("alerts.log"))?;
    let child = Command::new(yiwang)
        .args(["serve", "alerts"])
        .env("DATABASE_URL", &cfg.database_url)
        .env("REDIS_URL", &cfg.redis_url)
        .env("YIWANG_DB_PREFIX", &cfg.database_prefix)
        .env("YIWANG_REDIS_PREFIX", &cfg.redis_prefix)
        .env("YIWANG_JWT_SECRET", SECRET)
        .env("YIWANG_ALERTS_ADDR", addr.to_string())
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdout(log.try_clone()?)
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .context("spawning yiwang serve alerts")?;
    let procs = Procs(vec![("alerts".into(), child)]);
    wait_ready(addr, "/readyz").await?;
    let pid = procs.pid("alerts");
    let rss_start = rss_mib(pid);
    let url = format!("http://{addr}");
    let token = platform_token()?;
    let generator = Arc::new(Gen {
        base: chrono::Utc::now() - chrono::Duration::days(31),
        total: events,
    });
    let db_url = cfg.service_database_url("alerts");
    let pool = yiwang_kit::db::lazy_pool(&db_url, 2)?;

    // The baseline: the same events as CSV, loaded by psql \copy into an equivalent table.
    let copy_secs = copy_baseline(&pool, &db_url, logs, &generator, events).await?;
    let copy_rps = events as f64 / copy_secs;
    eprintln!("psql \\copy: {events} rows in {copy_secs:.1} s = {copy_rps:.0} rows/s");

    // Yiwang: the same events over gRPC streams, sampling the service's RSS as it goes.
    let peak = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                let kib = (rss_mib(pid) * 1024.0) as u64;
                peak.fetch_max(kib, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let (streams, batch) = (4, 5_000);
    let prepared = batches(&generator, 0, events, streams, batch);
    let t = Instant::now();
    let (accepted, duplicate) = feed(&url, &token, prepared).await?;
    let ingest_secs = t.elapsed().as_secs_f64();
    // Incidents are folded apart from ingest: how long after the last acknowledgement until
    // every event is in its incident.
    loop {
        if yiwang_alerts::ingest::all_folded(&pool).await? {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let folded_secs = t.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    sampler.await?;
    anyhow::ensure!(
        accepted == events && duplicate == 0,
        "accepted {accepted}, duplicate {duplicate} of {events}"
    );
    let ingest_rps = events as f64 / ingest_secs;
    let peak_mib = peak.load(Ordering::Relaxed) as f64 / 1024.0;
    eprintln!(
        "gRPC stream ingest: {events} events in {ingest_secs:.1} s = {ingest_rps:.0} events/s; all folded after {folded_secs:.1} s; peak RSS {peak_mib:.1} MiB"
    );
    // A replay of the first 100,000 on one stream adds nothing.
    let replay = events.min(100_000);
    let prepared = batches(&generator, 0, replay, 1, batch);
    let t = Instant::now();
    let (again, dups) = feed(&url, &token, prepared).await?;
    let replay_rps = replay as f64 / t.elapsed().as_secs_f64();
    anyhow::ensure!(again == 0 && dups == replay, "replay accepted {again}");
    let (stored, incidents): (i64, i64) =
        sqlx::query_as("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM incidents)")
            .fetch_one(&pool)
            .await?;
    anyhow::ensure!(
        stored as u64 == events,
        "{stored} events stored of {events}"
    );
    let folded_rps = events as f64 / folded_secs;
    report.push(format!(
        "| gRPC `StreamEvents`, {events} events, {streams} streams × batches of {batch}, durable, dedup on | {ingest_rps:.0} events/s acknowledged ({ingest_secs:.1} s) | `psql \\copy` of the same events into an equivalent partitioned table: {copy_rps:.0} rows/s ({copy_secs:.1} s) | **{:.0} %** of `\\copy` (target ≥ 50 %) |",
        100.0 * ingest_rps / copy_rps
    ));
    report.push(format!(
        "| … until every event is folded into its incident | {folded_rps:.0} events/s ({folded_secs:.1} s from the first batch; {incidents} incidents) | | {:.0} % of `\\copy` |",
        100.0 * folded_rps / copy_rps
    ));
    report.push(format!(
        "| Replay of the first {replay} events (one stream) | {replay_rps:.0} events/s, 0 accepted, {replay} duplicates | | idempotent |"
    ));
    report.push(format!(
        "| Alerts service RSS (VmRSS) while ingesting {events} events | start {rss_start:.1} MiB, peak **{peak_mib:.1} MiB** | | target < 256 MB |"
    ));
    drop(procs);
    pool.close().await;
    Ok(())
}

/// The baseline: `events` events as CSV, loaded by `psql \copy` into a table equivalent to the
/// service's (same columns, monthly partitions, the same primary key) in its database, then
/// dropped. Returns the seconds the copy took.
async fn copy_baseline(
    pool: &sqlx::PgPool,
    db_url: &str,
    logs: &std::path::Path,
    generator: &Gen,
    events: u64,
) -> anyhow::Result<f64> {
    let csv = logs.join("alerts-events.csv");
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&csv)?);
        let mut line = Vec::with_capacity(512);
        for i in 0..events {
            let e = generator.event(i);
            line.clear();
            let at = chrono::DateTime::from_timestamp(
                e.occurred_at.unwrap_or_default().seconds,
                e.occurred_at.unwrap_or_default().nanos as u32,
            )
            .unwrap_or_default();
            for (k, f) in [
                e.source.as_str(),
                e.source_ref.as_str(),
                &at.to_rfc3339(),
                e.src_ip.as_str(),
                &e.src_port.to_string(),
                e.dst_ip.as_str(),
                &e.dst_port.to_string(),
                e.category.as_str(),
                e.severity.as_str(),
                e.rule.as_str(),
                e.kill_chain_phase.as_str(),
                e.raw_json.as_str(),
            ]
            .iter()
            .enumerate()
            {
                if k > 0 {
                    line.push(b',');
                }
                csv_field(&mut line, f);
            }
            line.push(b'\n');
            out.write_all(&line)?;
        }
        out.flush()?;
    }
    let months: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT to_char(m, 'YYYYMM'), m::text, (m + interval '1 month')::text
           FROM generate_series(date_trunc('month', now() - interval '32 days'), date_trunc('month', now()), interval '1 month') m",
    )
    .fetch_all(pool)
    .await?;
    sqlx::query(
        "CREATE TABLE bench_events (LIKE events INCLUDING DEFAULTS, PRIMARY KEY (source, source_ref, occurred_at))
           PARTITION BY RANGE (occurred_at)",
    )
    .execute(pool)
    .await?;
    for (name, from, to) in &months {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE bench_events_p{name} PARTITION OF bench_events FOR VALUES FROM ('{from}') TO ('{to}')"
        )))
        .execute(pool)
        .await?;
    }
    let t = Instant::now();
    let out = Command::new("psql")
        .arg(&db_url)
        .arg("-v")
        .arg("ON_ERROR_STOP=1")
        .arg("-c")
        .arg(format!(
            "\\copy bench_events (source, source_ref, occurred_at, src_ip, src_port, dst_ip, dst_port, category, severity, rule, kill_chain_phase, raw) FROM '{}' WITH (FORMAT csv)",
            csv.display()
        ))
        .output()
        .context("running psql (Debian package postgresql-client)")?;
    let copy_secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        out.status.success(),
        "psql \\copy failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    sqlx::query("DROP TABLE bench_events").execute(pool).await?;
    std::fs::remove_file(&csv).ok();

    Ok(copy_secs)
}

/// The province suite's ingest: the same `events` events loaded by `\copy` and streamed into a
/// running alerts service (`url`, its database `db_url`); returns (events/s acknowledged,
/// rows/s copied).
pub async fn ingest_against_copy(
    url: &str,
    db_url: &str,
    logs: &std::path::Path,
    events: u64,
) -> anyhow::Result<(f64, f64)> {
    let token = platform_token()?;
    let generator = Gen {
        base: chrono::Utc::now() - chrono::Duration::days(31),
        total: events,
    };
    let pool = yiwang_kit::db::lazy_pool(db_url, 2)?;
    let copy_secs = copy_baseline(&pool, db_url, logs, &generator, events).await?;
    let prepared = batches(&generator, 0, events, 4, 5_000);
    let t = Instant::now();
    let (accepted, duplicate) = feed(url, &token, prepared).await?;
    let ingest_secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        accepted == events && duplicate == 0,
        "accepted {accepted}, duplicate {duplicate} of {events}"
    );
    pool.close().await;
    Ok((events as f64 / ingest_secs, events as f64 / copy_secs))
}
