//! Security alerts: the platform's stream (replays add nothing, bad events rejected one by one),
//! aggregation into incidents, attribution by longest prefix (IPv4 and IPv6) with the queue of
//! unattributed incidents, unit isolation, the REST batch, partitions and retention.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use serde_json::json;
use yiwang_proto::alerts::v1 as pb;

const UNIT_A: &str = "340522-SJXJ"; // 县数据资源局
const UNIT_B: &str = "340522-SCJGJ"; // 县市场监管局

fn ev(
    source_ref: &str,
    category: &str,
    severity: &str,
    rule: &str,
    src: &str,
    dst: &str,
    at: DateTime<Utc>,
) -> pb::SecurityEvent {
    pb::SecurityEvent {
        source: "ahsoc".into(),
        source_ref: source_ref.into(),
        occurred_at: Some(prost_types::Timestamp {
            seconds: at.timestamp(),
            nanos: 0,
        }),
        src_ip: src.into(),
        src_port: 51000,
        dst_ip: dst.into(),
        dst_port: 443,
        category: category.into(),
        severity: severity.into(),
        rule: rule.into(),
        kill_chain_phase: "exploitation".into(),
        raw_json: format!(r#"{{"id":"{source_ref}","sig":"{rule}"}}"#),
    }
}

fn attack(source_ref: &str, target: &str, at: DateTime<Utc>) -> pb::SecurityEvent {
    ev(
        source_ref,
        "attack_attempt",
        "medium",
        "SQL injection",
        "198.51.100.7",
        target,
        at,
    )
}

async fn client(
    s: &Stack,
) -> pb::alerts_service_client::AlertsServiceClient<tonic::transport::Channel> {
    pb::alerts_service_client::AlertsServiceClient::connect(s.cfg.alerts_url.clone())
        .await
        .unwrap()
}

async fn stream(
    s: &Stack,
    token: &str,
    batches: Vec<pb::EventBatch>,
) -> Result<Vec<pb::BatchAck>, tonic::Status> {
    let mut grpc = client(s).await;
    let mut acks = grpc
        .stream_events(authed(token, futures::stream::iter(batches)))
        .await?
        .into_inner();
    let mut out = Vec::new();
    while let Some(ack) = acks.message().await? {
        out.push(ack);
    }
    Ok(out)
}

async fn incidents(s: &Stack, token: &str, query: &str) -> Vec<serde_json::Value> {
    let (st, body) = send(
        s,
        "GET",
        &format!("/v1/incidents?{query}"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(st, 200, "{body}");
    body["incidents"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_replayed_stream_adds_nothing_and_bad_events_are_rejected_one_by_one() {
    let s = Stack::start().await;
    let platform = s.token("ahsoc-platform", &["system"], None);
    let secops = s.token("secops-1", &["secops"], None);
    let t0 = Utc::now() - Duration::minutes(30);
    let first: Vec<_> = (0..100)
        .map(|i| {
            let target = if i % 2 == 0 { "10.8.1.20" } else { "10.8.2.5" };
            attack(&format!("e-{i}"), target, t0 + Duration::seconds(i))
        })
        .collect();
    let mut second: Vec<_> = first[..50].to_vec();
    second.extend(
        (100..110).map(|i| attack(&format!("e-{i}"), "10.8.1.20", t0 + Duration::seconds(i))),
    );
    let mut bad_ip = attack("e-bad-1", "10.8.1.300", t0);
    bad_ip.kill_chain_phase = "delivery".into();
    second.push(bad_ip);
    let mut bad_severity = attack("e-bad-2", "10.8.1.20", t0);
    bad_severity.severity = "critical".into();
    second.push(bad_severity);

    // Only the platform (or secops) feeds events.
    let citizen = s.token("citizen-1", &["citizen"], None);
    let err = stream(&s, &citizen, vec![]).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);

    let acks = stream(
        &s,
        &platform,
        vec![
            pb::EventBatch {
                batch_id: "b1".into(),
                events: first.clone(),
            },
            pb::EventBatch {
                batch_id: "b2".into(),
                events: second,
            },
        ],
    )
    .await
    .unwrap();
    assert_eq!(acks.len(), 2);
    assert_eq!(
        (
            acks[0].batch_id.as_str(),
            acks[0].accepted,
            acks[0].duplicate,
            acks[0].rejected,
            acks[0].incidents_opened
        ),
        ("b1", 100, 0, 0, 2)
    );
    assert_eq!(
        (
            acks[1].batch_id.as_str(),
            acks[1].accepted,
            acks[1].duplicate,
            acks[1].rejected
        ),
        ("b2", 10, 50, 2)
    );
    let named: Vec<(u32, &str, &str)> = acks[1]
        .rejections
        .iter()
        .map(|r| (r.index, r.field.as_str(), r.source_ref.as_str()))
        .collect();
    assert_eq!(
        named,
        vec![
            (60, "events[60].dst_ip", "e-bad-1"),
            (61, "events[61].severity", "e-bad-2")
        ]
    );

    // The whole feed replayed on a new stream: nothing new.
    let acks = stream(
        &s,
        &platform,
        vec![pb::EventBatch {
            batch_id: "replay".into(),
            events: first,
        }],
    )
    .await
    .unwrap();
    assert_eq!(
        (
            acks[0].accepted,
            acks[0].duplicate,
            acks[0].incidents_opened
        ),
        (0, 100, 0)
    );

    // Two fingerprints (same rule, two targets): 55 + 50 + 5 events.
    let list = incidents(&s, &secops, "").await;
    let mut counts: Vec<(String, u64)> = list
        .iter()
        .map(|i| {
            (
                i["asset_ip"].as_str().unwrap().to_string(),
                i["event_count"].as_u64().unwrap(),
            )
        })
        .collect();
    counts.sort();
    assert_eq!(
        counts,
        vec![("10.8.1.20".to_string(), 60), ("10.8.2.5".to_string(), 50)]
    );
    let pool = sqlx::PgPool::connect(&s.cfg.service_database_url("alerts"))
        .await
        .unwrap();
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 110);
    pool.close().await;
    s.stop().await;
}

#[tokio::test]
async fn events_fold_into_incidents_within_the_window_and_high_ones_are_announced() {
    let mut cfg = test_config(10_000).await;
    cfg.alerts_window_secs = 3600;
    let s = Stack::start_with(cfg).await;
    let platform = s.token("ahsoc-platform", &["system"], None);
    let t0 = Utc::now() - Duration::hours(6);
    let beacon = |r: &str, sev: &str, at| {
        ev(
            r,
            "host_compromised",
            sev,
            "C2 beacon",
            "10.8.1.20",
            "203.0.113.9",
            at,
        )
    };
    // Out of order inside the batch on purpose: the fold goes by occurred_at.
    let events = vec![
        beacon("c-3", "low", t0 + Duration::hours(3)),
        beacon("c-1", "low", t0),
        beacon("c-2", "medium", t0 + Duration::minutes(50)),
        // Another host with the same rule is another incident.
        ev(
            "c-9",
            "host_compromised",
            "high",
            "C2 beacon",
            "10.8.1.21",
            "203.0.113.9",
            t0,
        ),
    ];
    let acks = stream(
        &s,
        &platform,
        vec![pb::EventBatch {
            batch_id: "w".into(),
            events,
        }],
    )
    .await
    .unwrap();
    assert_eq!((acks[0].accepted, acks[0].incidents_opened), (4, 3));
    let secops = s.token("secops-1", &["secops"], None);
    let list = incidents(&s, &secops, "category=host_compromised").await;
    let mut seen: Vec<(String, u64, String)> = list
        .iter()
        .map(|i| {
            (
                i["asset_ip"].as_str().unwrap().to_string(),
                i["event_count"].as_u64().unwrap(),
                i["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("10.8.1.20".into(), 1, "low".into()),
            ("10.8.1.20".into(), 2, "medium".into()),
            ("10.8.1.21".into(), 1, "high".into()),
        ],
        "c-1 and c-2 are 50 minutes apart (one incident); c-3 comes 2 h 10 min after c-2 (a new one)"
    );
    // The compromised host is the asset; the address it calls is the peer.
    assert!(list.iter().all(|i| i["peer_ip"] == "203.0.113.9"));

    // A later event inside the window joins the current incident and raises it to high.
    let acks = stream(
        &s,
        &platform,
        vec![pb::EventBatch {
            batch_id: "w2".into(),
            events: vec![beacon(
                "c-4",
                "high",
                t0 + Duration::hours(3) + Duration::minutes(30),
            )],
        }],
    )
    .await
    .unwrap();
    assert_eq!((acks[0].accepted, acks[0].incidents_opened), (1, 0));
    let list = incidents(&s, &secops, "severity=high").await;
    assert_eq!(list.len(), 2, "{list:?}");
    let raised = list.iter().find(|i| i["asset_ip"] == "10.8.1.20").unwrap();
    assert_eq!(raised["event_count"], 2);

    // Announced: the new high incident and the one raised to high, each once.
    let pool = sqlx::PgPool::connect(&s.cfg.service_database_url("alerts"))
        .await
        .unwrap();
    let announced: Vec<serde_json::Value> = sqlx::query_scalar(
        "SELECT payload FROM outbox WHERE topic = 'alerts.incident.opened' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(announced.len(), 2, "{announced:?}");
    assert_eq!(announced[0]["asset_ip"], "10.8.1.21");
    assert_eq!(announced[1]["raised_from"], "low");
    pool.close().await;
    s.stop().await;
}

#[tokio::test]
async fn incidents_are_attributed_by_longest_prefix_and_units_see_only_their_own() {
    let s = Stack::start().await;
    let secops = s.token("secops-1", &["secops"], None);
    let platform = s.token("ahsoc-platform", &["system"], None);
    for (cidr, unit, system) in [
        ("10.8.0.0/16", UNIT_A, "电子政务外网"),
        ("10.8.1.0/24", UNIT_B, "市场监管业务系统"),
        ("2001:db8::/32", UNIT_A, "IPv6 外网"),
        ("2001:db8:1::/48", UNIT_B, "市场监管 IPv6"),
    ] {
        let (st, a) = send(
            &s,
            "POST",
            "/v1/assets",
            Some(&secops),
            Some(json!({"cidr": cidr, "unit_code": unit, "system_name": system})),
        )
        .await;
        assert_eq!(st, 201, "{a}");
    }
    // Bad ranges are named.
    for (cidr, rule) in [
        ("10.8.1.1/24", "host bits"),
        ("10.8.0.0/40", "prefix length"),
        ("ten.eight", "CIDR"),
    ] {
        let (st, e) = send(
            &s,
            "POST",
            "/v1/assets",
            Some(&secops),
            Some(json!({"cidr": cidr, "unit_code": UNIT_A, "system_name": "x"})),
        )
        .await;
        assert_eq!((st, violation_field(&e)), (400, "cidr".to_string()), "{e}");
        assert!(e.to_string().contains(rule), "{e}");
    }
    let (st, _) = send(
        &s,
        "POST",
        "/v1/assets",
        Some(&secops),
        Some(json!({"cidr": "10.8.0.0/16", "unit_code": UNIT_A, "system_name": "again"})),
    )
    .await;
    assert_eq!(st, 409);
    let officer = s.token("officer-b", &["officer"], Some(UNIT_B));
    let (st, _) = send(
        &s,
        "POST",
        "/v1/assets",
        Some(&officer),
        Some(json!({"cidr": "10.9.0.0/16", "unit_code": UNIT_B, "system_name": "mine"})),
    )
    .await;
    assert_eq!(st, 403, "only secops keep the register");

    let t = Utc::now() - Duration::minutes(10);
    let events = vec![
        attack("a-1", "10.8.1.20", t),      // /24 → B
        attack("a-2", "10.8.2.5", t),       // /16 → A
        attack("a-3", "2001:db8:1::5", t),  // /48 → B
        attack("a-4", "2001:db8:ff::1", t), // /32 → A
        attack("a-5", "172.16.3.9", t),     // nothing covers it yet
    ];
    let acks = stream(
        &s,
        &platform,
        vec![pb::EventBatch {
            batch_id: "x".into(),
            events,
        }],
    )
    .await
    .unwrap();
    assert_eq!(acks[0].incidents_opened, 5);
    let unit_of = |list: &[serde_json::Value], ip: &str| {
        list.iter()
            .find(|i| i["asset_ip"] == ip)
            .map(|i| i["unit_code"].as_str().unwrap().to_string())
    };
    let all = incidents(&s, &secops, "").await;
    assert_eq!(unit_of(&all, "10.8.1.20").as_deref(), Some(UNIT_B));
    assert_eq!(unit_of(&all, "10.8.2.5").as_deref(), Some(UNIT_A));
    assert_eq!(unit_of(&all, "2001:db8:1::5").as_deref(), Some(UNIT_B));
    assert_eq!(unit_of(&all, "2001:db8:ff::1").as_deref(), Some(UNIT_A));
    let queue = incidents(&s, &secops, "unattributed=true").await;
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0]["asset_ip"], "172.16.3.9");
    let (_, covering) = send(
        &s,
        "GET",
        "/v1/assets?covering=10.8.1.20",
        Some(&secops),
        None,
    )
    .await;
    let cidrs: Vec<&str> = covering["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["cidr"].as_str().unwrap())
        .collect();
    assert_eq!(cidrs, vec!["10.8.1.0/24", "10.8.0.0/16"]);

    // A range registered later takes over the waiting incident.
    let (st, a) = send(
        &s,
        "POST",
        "/v1/assets",
        Some(&secops),
        Some(json!({"cidr": "172.16.0.0/12", "unit_code": UNIT_B, "system_name": "视频专网"})),
    )
    .await;
    assert_eq!(st, 201, "{a}");
    assert_eq!(a["incidents_attributed"], 1);
    assert!(incidents(&s, &secops, "unattributed=true").await.is_empty());

    // A unit's staff see their own incidents only, whatever they ask for.
    let mine = incidents(&s, &officer, "").await;
    let mut ips: Vec<&str> = mine
        .iter()
        .map(|i| i["asset_ip"].as_str().unwrap())
        .collect();
    ips.sort();
    assert_eq!(ips, vec!["10.8.1.20", "172.16.3.9", "2001:db8:1::5"]);
    assert_eq!(
        incidents(&s, &officer, &format!("unit_code={UNIT_A}"))
            .await
            .len(),
        3
    );
    let a_incident = all.iter().find(|i| i["asset_ip"] == "10.8.2.5").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, _) = send(
        &s,
        "GET",
        &format!("/v1/incidents/{a_incident}"),
        Some(&officer),
        None,
    )
    .await;
    assert_eq!(st, 404);
    let (st, _) = send(
        &s,
        "GET",
        "/v1/incidents",
        Some(&s.token("citizen-1", &["citizen"], None)),
        None,
    )
    .await;
    assert_eq!(st, 403);

    // False positives: secops only, with a reason, once.
    let b_incident = all.iter().find(|i| i["asset_ip"] == "10.8.1.20").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/v1/incidents/{b_incident}/false-positive");
    let (st, _) = send(
        &s,
        "POST",
        &path,
        Some(&officer),
        Some(json!({"reason": "内部扫描"})),
    )
    .await;
    assert_eq!(st, 403);
    let (st, e) = send(
        &s,
        "POST",
        &path,
        Some(&secops),
        Some(json!({"reason": " "})),
    )
    .await;
    assert_eq!((st, violation_field(&e)), (400, "reason".to_string()));
    let (st, i) = send(
        &s,
        "POST",
        &path,
        Some(&secops),
        Some(json!({"reason": "授权的渗透测试"})),
    )
    .await;
    assert_eq!(st, 200, "{i}");
    assert_eq!(
        (i["state"].as_str(), i["false_positive_reason"].as_str()),
        (Some("false_positive"), Some("授权的渗透测试"))
    );
    let (st, e) = send(
        &s,
        "POST",
        &path,
        Some(&secops),
        Some(json!({"reason": "again"})),
    )
    .await;
    assert_eq!(st, 400);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is false_positive"),
        "{e}"
    );
    s.stop().await;
}

#[tokio::test]
async fn the_rest_batch_rejects_bad_events_by_position_and_lands_the_rest() {
    let s = Stack::start().await;
    let secops = s.token("secops-1", &["secops"], None);
    let now = Utc::now();
    let good = |r: &str| {
        json!({"source": "ahsoc", "source_ref": r, "occurred_at": (now - Duration::minutes(5)).to_rfc3339(),
        "src_ip": "198.51.100.7", "src_port": 4444, "dst_ip": "10.8.1.20", "dst_port": 80,
        "category": "attack_attempt", "severity": "low", "rule": "Web scan", "raw": {"vendor": "x"}})
    };
    let mut bad_time = good("r-1");
    bad_time["occurred_at"] = json!("yesterday");
    let mut unknown = good("r-3");
    unknown["colour"] = json!("red");
    let mut bad_ip = good("r-4");
    bad_ip["src_ip"] = json!("999.1.1.1");
    let mut old = good("r-5");
    old["occurred_at"] = json!((now - Duration::days(800)).to_rfc3339());
    let body = json!([
        good("r-0"),
        bad_time,
        good("r-2"),
        unknown,
        bad_ip,
        old,
        good("r-0")
    ]);
    let (st, r) = send(&s, "POST", "/v1/alerts", Some(&secops), Some(body.clone())).await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(
        (
            r["accepted"].as_u64(),
            r["duplicate"].as_u64(),
            r["rejected"].as_u64()
        ),
        (Some(2), Some(1), Some(4)),
        "{r}"
    );
    let fields: Vec<&str> = r["rejections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        vec![
            "events[1].occurred_at",
            "events[3].colour",
            "events[4].src_ip",
            "events[5].occurred_at"
        ]
    );
    assert!(
        r["rejections"][3]["reason"]
            .as_str()
            .unwrap()
            .contains("retention"),
        "{r}"
    );
    let (_, again) = send(&s, "POST", "/v1/alerts", Some(&secops), Some(body)).await;
    assert_eq!(
        (again["accepted"].as_u64(), again["duplicate"].as_u64()),
        (Some(0), Some(3))
    );

    let officer = s.token("officer-b", &["officer"], Some(UNIT_B));
    let (st, _) = send(
        &s,
        "POST",
        "/v1/alerts",
        Some(&officer),
        Some(json!([good("r-9")])),
    )
    .await;
    assert_eq!(st, 403);
    let (st, e) = send(
        &s,
        "POST",
        "/v1/alerts",
        Some(&secops),
        Some(json!({"events": []})),
    )
    .await;
    assert_eq!(st, 400, "{e}");
    s.stop().await;
}

#[tokio::test]
async fn raw_events_live_in_monthly_partitions_dropped_whole_past_retention() {
    let s = Stack::start().await;
    let platform = s.token("ahsoc-platform", &["system"], None);
    let now = Utc::now();
    let acks = stream(
        &s,
        &platform,
        vec![pb::EventBatch {
            batch_id: "p".into(),
            events: vec![
                attack("p-1", "10.8.1.20", now - Duration::minutes(1)),
                attack("p-2", "10.8.1.20", now - Duration::days(62)),
            ],
        }],
    )
    .await
    .unwrap();
    assert_eq!(acks[0].accepted, 2);
    let pool = sqlx::PgPool::connect(&s.cfg.service_database_url("alerts"))
        .await
        .unwrap();
    let partitions = || async {
        let mut names: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
              JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events'",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        names.sort();
        names
    };
    let month = |t: DateTime<Utc>| format!("events_p{}", t.format("%Y%m"));
    let before = partitions().await;
    assert!(
        before.contains(&month(now)) && before.contains(&month(now - Duration::days(62))),
        "{before:?}"
    );
    // Each event sits in the partition of its month.
    let here: String =
        sqlx::query_scalar("SELECT tableoid::regclass::text FROM events WHERE source_ref = 'p-2'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(here, month(now - Duration::days(62)));

    // With a retention of two months, the older month goes, whole; the current stays.
    let dropped = yiwang_alerts::ingest::Partitions::new(2)
        .drop_expired(&pool, now)
        .await
        .unwrap();
    assert_eq!(dropped, vec![month(now - Duration::days(62))]);
    assert_eq!(partitions().await, vec![month(now)]);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 1);
    // Incidents and their counts outlive the raw events.
    let counted: i64 = sqlx::query_scalar("SELECT sum(n)::bigint FROM event_counts")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(counted, 2);
    pool.close().await;
    s.stop().await;
}
