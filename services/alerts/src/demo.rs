//! The reference county's five months of security alerts for `yiwang up --demo`: an asset range
//! per department, 7,107 risk events fed through the real ingest path (so incidents, counts and
//! attribution come out as in production), and 65 remediation notices in every state.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;
use uuid::Uuid;
use yiwang_proto::alerts::v1 as pb;

use crate::event::{self, Accepting};
use crate::incident;
use crate::ingest::{self, Partitions};

/// What the demo loaded.
#[derive(Debug, Clone, Copy)]
pub struct Loaded {
    pub assets: usize,
    pub events: u64,
    pub incidents: i64,
    pub notices: usize,
}

const RULES: [(&str, &str); 12] = [
    ("attack_attempt", "SQL 注入尝试"),
    ("attack_attempt", "WebShell 上传尝试"),
    ("attack_attempt", "弱口令爆破"),
    ("attack_attempt", "Struts2 远程代码执行"),
    ("attack_attempt", "目录遍历"),
    ("attack_attempt", "端口扫描"),
    ("potential_risk", "弱口令账户"),
    ("potential_risk", "高危端口开放"),
    ("potential_risk", "中间件版本过低"),
    ("host_compromised", "挖矿程序外联"),
    ("host_compromised", "C2 心跳"),
    ("host_compromised", "勒索软件特征"),
];

/// Loads the demo into an empty alerts database (`None` if it has incidents already).
/// `departments` are catalogue org unit codes; `deadline(from, working_days)` is the legal
/// calendar's answer (the launcher passes the cases service's calendar).
pub async fn load_demo(
    pool: &PgPool,
    departments: &[(String, String)],
    now: DateTime<Utc>,
    deadline: impl Fn(DateTime<Utc>, u32) -> DateTime<Utc>,
) -> anyhow::Result<Option<Loaded>> {
    let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM incidents)")
        .fetch_one(pool)
        .await?;
    if any || departments.is_empty() {
        return Ok(None);
    }
    // 1. One /24 of the e-government extranet per department (10.8.<n>.0/24).
    for (n, (code, name)) in departments.iter().enumerate().take(250) {
        incident::create_asset(
            pool,
            &format!("10.8.{}.0/24", n + 1),
            code,
            &format!("{name}业务系统"),
            "电子政务外网",
            "demo",
        )
        .await?;
    }
    // 2. 7,107 events over five months; most hit attributed hosts, a few an unregistered range.
    let partitions = Partitions::new(13);
    let window = Accepting {
        oldest: now - Duration::days(160),
        newest: now + Duration::minutes(5),
    };
    let total: u64 = 7_107;
    let span = Duration::days(150).num_seconds() as u64;
    let mut batch = Vec::with_capacity(1_000);
    let mut stored = 0;
    for i in 0..total {
        let f = (i * 2_654_435_761) % 389; // 389 fingerprints
        let (category, rule) = RULES[(f % RULES.len() as u64) as usize];
        let dept = (f / 3) as usize % departments.len().min(250);
        let host = if f % 47 == 0 {
            format!("172.16.{}.{}", f % 200, f % 250 + 1) // not in the register
        } else {
            format!("10.8.{}.{}", dept + 1, f % 250 + 1)
        };
        let outside = format!("203.0.113.{}", (i * 7) % 254 + 1);
        let (src, dst) = if category == "host_compromised" {
            (host, outside)
        } else {
            (outside, host)
        };
        let severity = match (category, i % 10) {
            ("host_compromised", _) => "high",
            (_, 0) => "high",
            (_, 1..=4) => "medium",
            _ => "low",
        };
        // Each fingerprint's events come in a burst (about an hour) on its own day.
        let at = now - Duration::seconds(span as i64)
            + Duration::seconds((f * span / 389) as i64)
            + Duration::seconds(((i * 97) % 3_600) as i64);
        let e = pb::SecurityEvent {
            source: "ahsoc".into(),
            source_ref: format!("demo-{i:06}"),
            occurred_at: Some(prost_types::Timestamp {
                seconds: at.timestamp(),
                nanos: 0,
            }),
            src_ip: src,
            src_port: 40_000 + (i % 20_000) as u32,
            dst_ip: dst,
            dst_port: [80, 443, 22, 3389, 8080][(i % 5) as usize],
            category: category.into(),
            severity: severity.into(),
            rule: rule.into(),
            kill_chain_phase: if category == "host_compromised" {
                "command_and_control".into()
            } else {
                "exploitation".into()
            },
            raw_json: format!(r#"{{"platform":"安徽省态势感知平台","id":"demo-{i:06}"}}"#),
        };
        batch.push(
            event::validate(batch.len() as u32, e, window)
                .map_err(|r| anyhow::anyhow!("demo event {i}: {} {}", r.field, r.reason))?,
        );
        if batch.len() == 1_000 || i + 1 == total {
            partitions.ensure(pool, &batch).await?;
            stored += ingest::store(pool, &batch).await?.accepted as u64;
            batch.clear();
        }
    }
    // Fold them all (a running service may be folding some of them at the same time).
    loop {
        if ingest::fold(pool, 50_000, Duration::days(1)).await?.events > 0 {
            continue;
        }
        if ingest::all_folded(pool).await? {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // 3. 65 notices for the most serious attributed incidents, issued as they happened.
    let picks: Vec<(Uuid, DateTime<Utc>, String)> = sqlx::query_as(
        "SELECT id, last_seen, severity FROM incidents WHERE unit_code IS NOT NULL
          ORDER BY CASE severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END, event_count DESC, id
          LIMIT 65",
    )
    .fetch_all(pool)
    .await?;
    let mut notices = 0;
    for (k, (incident_id, seen, severity)) in picks.iter().enumerate() {
        let issued = (*seen + Duration::hours(2)).min(now - Duration::hours(1));
        let days = match severity.as_str() {
            "high" => 1,
            "medium" => 3,
            _ => 10,
        };
        let due = deadline(issued, days);
        let (n, _) = crate::notice::issue(
            pool,
            crate::notice::Issue {
                incident_id: *incident_id,
                note: "请按期完成整改，提交整改报告和承诺书",
                deadline: due,
                actor: "secops-demo",
                request_key: None,
                auto_block_days: None,
                block_host: false,
                block_peer: false,
                allowlist: &[],
            },
        )
        .await?;
        // Most were handled on time; some late; the newest still open.
        let (state, reported) = match k % 13 {
            0 => ("issued", None),
            1 => ("acknowledged", None),
            2 => ("closed", Some(due + Duration::days(2))),
            3 => ("reported", Some(due - Duration::hours(3))),
            _ => ("closed", Some(due - Duration::hours(5))),
        };
        let reported = reported.map(|r: DateTime<Utc>| r.min(now));
        sqlx::query(
            "UPDATE notices SET issued_at = $2, state = $3, reported_at = $4,
                    acknowledged_at = CASE WHEN $3 <> 'issued' THEN $2 + interval '1 hour' END,
                    report = CASE WHEN $4 IS NOT NULL THEN '已完成整改，详见附件' ELSE '' END,
                    commitment_letter = CASE WHEN $4 IS NOT NULL THEN '我单位承诺加强网络安全管理' ELSE '' END,
                    verified_at = CASE WHEN $3 = 'closed' THEN LEAST($4 + interval '1 day', now()) END,
                    closed_at = CASE WHEN $3 = 'closed' THEN LEAST($4 + interval '1 day', now()) END
              WHERE id = $1",
        )
        .bind(n.id)
        .bind(issued)
        .bind(state)
        .bind(reported)
        .execute(pool)
        .await?;
        if state == "closed" {
            sqlx::query("UPDATE incidents SET state = 'closed' WHERE id = $1")
                .bind(incident_id)
                .execute(pool)
                .await?;
        }
        notices += 1;
    }
    let incidents: i64 = sqlx::query_scalar("SELECT count(*) FROM incidents")
        .fetch_one(pool)
        .await?;
    Ok(Some(Loaded {
        assets: departments.len().min(250),
        events: stored,
        incidents,
        notices,
    }))
}
