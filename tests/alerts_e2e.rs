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
    settle(s).await;
    Ok(out)
}

/// Waits until every stored event is folded into its incident (folding runs apart from ingest,
/// within about a second).
async fn settle(s: &Stack) {
    let pool = sqlx::PgPool::connect(&s.cfg.service_database_url("alerts"))
        .await
        .unwrap();
    for _ in 0..200 {
        if yiwang_alerts::ingest::all_folded(&pool).await.unwrap() {
            pool.close().await;
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("events were not folded into incidents within 10 s");
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
            acks[0].rejected
        ),
        ("b1", 100, 0, 0)
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
    assert_eq!((acks[0].accepted, acks[0].duplicate), (0, 100));

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
    // An idle folder writes nothing (it would otherwise spin on its own transaction ids).
    let row_version = || async {
        sqlx::query_scalar::<_, String>("SELECT xmin::text FROM fold_state")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let before = row_version().await;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(row_version().await, before);
    pool.close().await;
    s.stop().await;
}

#[tokio::test]
async fn events_fold_into_incidents_within_the_window_and_high_ones_are_announced() {
    let mut cfg = test_config(10_000).await;
    cfg.alerts.window_secs = 3600;
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
    assert_eq!(acks[0].accepted, 4);
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
    assert_eq!(acks[0].accepted, 1);
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
    assert_eq!(acks[0].accepted, 5);
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

/// Registers a range and feeds one event; returns the incident's id.
async fn attributed_incident(
    s: &Stack,
    category: &str,
    severity: &str,
    host: &str,
    peer: &str,
) -> String {
    let secops = s.token("secops-1", &["secops"], None);
    let (src, dst) = if category == "host_compromised" {
        (host, peer)
    } else {
        (peer, host)
    };
    let (_, _) = send(
        s,
        "POST",
        "/v1/assets",
        Some(&secops),
        Some(
            json!({"cidr": "10.8.0.0/16", "unit_code": UNIT_B, "system_name": "市场监管业务系统"}),
        ),
    )
    .await;
    let platform = s.token("ahsoc-platform", &["system"], None);
    let e = ev(
        &format!("n-{host}-{category}"),
        category,
        severity,
        "Webshell",
        src,
        dst,
        Utc::now() - Duration::minutes(3),
    );
    let acks = stream(
        s,
        &platform,
        vec![pb::EventBatch {
            batch_id: "n".into(),
            events: vec![e],
        }],
    )
    .await
    .unwrap();
    assert_eq!(acks[0].accepted, 1);
    let list = incidents(s, &secops, "").await;
    list.iter().find(|i| i["asset_ip"] == host).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_notice_goes_from_issue_to_close_with_the_unit_and_escalates_when_overdue() {
    let mut cfg = test_config(10_000).await;
    cfg.overdue_sweep_secs = 1;
    let s = Stack::start_with(cfg).await;
    let secops = s.token("secops-1", &["secops"], None);
    let unit = s.token("officer-b", &["officer"], Some(UNIT_B));
    let other = s.token("officer-a", &["officer"], Some(UNIT_A));
    let incident =
        attributed_incident(&s, "attack_attempt", "high", "10.8.1.20", "198.51.100.7").await;

    // An unattributed incident has nobody to send a notice to.
    let platform = s.token("ahsoc-platform", &["system"], None);
    stream(
        &s,
        &platform,
        vec![pb::EventBatch {
            batch_id: "u".into(),
            events: vec![attack(
                "u-1",
                "172.20.0.1",
                Utc::now() - Duration::minutes(1),
            )],
        }],
    )
    .await
    .unwrap();
    let lost = incidents(&s, &secops, "unattributed=true").await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, e) = send(
        &s,
        "POST",
        &format!("/v1/incidents/{lost}/notice"),
        Some(&secops),
        None,
    )
    .await;
    assert_eq!(st, 400, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unattributed"),
        "{e}"
    );

    let (st, _) = send(
        &s,
        "POST",
        &format!("/v1/incidents/{incident}/notice"),
        Some(&unit),
        None,
    )
    .await;
    assert_eq!(st, 403, "units do not issue notices");
    let (st, n) = send(
        &s,
        "POST",
        &format!("/v1/incidents/{incident}/notice"),
        Some(&secops),
        Some(json!({"note": "请于期限内完成整改并提交整改报告和承诺书"})),
    )
    .await;
    assert_eq!(st, 201, "{n}");
    assert_eq!(
        (
            n["state"].as_str(),
            n["unit_code"].as_str(),
            n["severity"].as_str()
        ),
        (Some("issued"), Some(UNIT_B), Some("high"))
    );
    // High: one working day on the legal calendar, at close of office.
    let (_, expected) = send(
        &s,
        "GET",
        &format!(
            "/v1/calendar/deadline?from={}&value=1&unit=working_days",
            urlencode(n["issue_time"].as_str().unwrap())
        ),
        None,
        None,
    )
    .await;
    assert_eq!(n["deadline"], expected["deadline"], "{n} {expected}");
    let id = n["id"].as_str().unwrap().to_string();
    let (st, e) = send(
        &s,
        "POST",
        &format!("/v1/incidents/{incident}/notice"),
        Some(&secops),
        None,
    )
    .await;
    assert_eq!(st, 400, "one notice per incident: {e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is notified"),
        "{e}"
    );

    // The unit sees its notice; another unit does not.
    let (st, _) = send(&s, "GET", &format!("/v1/notices/{id}"), Some(&other), None).await;
    assert_eq!(st, 404);
    let (_, mine) = send(&s, "GET", "/v1/notices", Some(&unit), None).await;
    assert_eq!(mine["notices"].as_array().unwrap().len(), 1);
    let (_, theirs) = send(&s, "GET", "/v1/notices", Some(&other), None).await;
    assert!(theirs["notices"].as_array().unwrap().is_empty());

    let step = |path: &str, token: &str, body: serde_json::Value| {
        let (path, token) = (format!("/v1/notices/{id}/{path}"), token.to_string());
        let s = &s;
        async move { send(s, "POST", &path, Some(&token), Some(body)).await }
    };
    // Out of order: the current state is named.
    let (st, e) = step(
        "report",
        &unit,
        json!({"report": "已整改", "commitment_letter": "承诺书"}),
    )
    .await;
    assert_eq!(st, 400);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is issued"),
        "{e}"
    );
    let (st, _) = step("acknowledge", &other, json!({})).await;
    assert_eq!(st, 404);
    let (st, n) = step("acknowledge", &unit, json!({})).await;
    assert_eq!(
        (st, n["state"].as_str()),
        (200, Some("acknowledged")),
        "{n}"
    );
    let (st, e) = step("report", &unit, json!({"report": "已整改"})).await;
    assert_eq!(
        (st, violation_field(&e)),
        (400, "commitment_letter".to_string()),
        "{e}"
    );
    let (st, n) = step(
        "report",
        &unit,
        json!({"report": "已清除 webshell，修补上传漏洞", "commitment_letter": "我单位承诺……"}),
    )
    .await;
    assert_eq!((st, n["state"].as_str()), (200, Some("reported")), "{n}");
    let (st, _) = step("verify", &unit, json!({"passed": true})).await;
    assert_eq!(st, 403, "the unit does not verify its own work");
    let (st, e) = step("verify", &secops, json!({"passed": false})).await;
    assert_eq!((st, violation_field(&e)), (400, "note".to_string()));
    let (st, n) = step(
        "verify",
        &secops,
        json!({"passed": false, "note": "复测仍可上传 jsp"}),
    )
    .await;
    assert_eq!(
        (st, n["state"].as_str(), n["sent_back"].as_u64()),
        (200, Some("acknowledged"), Some(1)),
        "{n}"
    );
    let (_, n) = step(
        "report",
        &unit,
        json!({"report": "已关闭上传目录执行权限", "commitment_letter": "我单位承诺……"}),
    )
    .await;
    assert_eq!(n["state"], "reported");
    let (_, n) = step(
        "verify",
        &secops,
        json!({"passed": true, "note": "复测通过"}),
    )
    .await;
    assert_eq!(n["state"], "verified");
    let (st, n) = step("close", &secops, json!({})).await;
    assert_eq!(
        (st, n["state"].as_str(), n["overdue"].as_bool()),
        (200, Some("closed"), Some(false)),
        "{n}"
    );
    let (_, i) = send(
        &s,
        "GET",
        &format!("/v1/incidents/{incident}"),
        Some(&secops),
        None,
    )
    .await;
    assert_eq!(i["state"], "closed");

    // A second notice, left unreported past its deadline, escalates once.
    let late_incident =
        attributed_incident(&s, "potential_risk", "low", "10.8.3.3", "198.51.100.8").await;
    let (_, late) = send(
        &s,
        "POST",
        &format!("/v1/incidents/{late_incident}/notice"),
        Some(&secops),
        None,
    )
    .await;
    let late_id = late["id"].as_str().unwrap().to_string();
    let pool = sqlx::PgPool::connect(&s.cfg.service_database_url("alerts"))
        .await
        .unwrap();
    // The clock passes the deadline.
    sqlx::query("UPDATE notices SET deadline = now() - interval '1 minute' WHERE id = $1::uuid")
        .bind(&late_id)
        .execute(&pool)
        .await
        .unwrap();
    let mut escalated = serde_json::Value::Null;
    for _ in 0..50 {
        let (_, n) = send(
            &s,
            "GET",
            &format!("/v1/notices/{late_id}"),
            Some(&unit),
            None,
        )
        .await;
        if n["escalation_level"] == 1 {
            escalated = n;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        (
            escalated["escalation_level"].as_u64(),
            escalated["overdue"].as_bool()
        ),
        (Some(1), Some(true)),
        "{escalated}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE topic = 'alerts.notice.overdue'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(events, 1, "escalated once, announced once");
    let (_, overdue) = send(&s, "GET", "/v1/notices?overdue=true", Some(&secops), None).await;
    let ids: Vec<&str> = overdue["notices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![late_id.as_str()]);
    pool.close().await;
    s.stop().await;
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn the_blocklist_feed_honours_the_allow_list_and_expiry_and_can_block_automatically() {
    let mut cfg = test_config(10_000).await;
    cfg.alerts.allowlist = vec!["10.255.0.0/16".into(), "2001:db8:ffff::/48".into()];
    cfg.alerts.auto_block_days = Some(30);
    // Blocking the external peer (the county's default blocks the unit's host; see
    // reliability_e2e).
    (cfg.alerts.auto_block_hosts, cfg.alerts.auto_block_peers) = (false, true);
    let s = Stack::start_with(cfg).await;
    let secops = s.token("secops-1", &["secops"], None);
    let firewall = s.token("fw-1", &["system"], None);
    let soon = (Utc::now() + Duration::days(7)).to_rfc3339();
    let block = |cidr: &str| json!({"cidr": cidr, "reason": "扫描源", "expires_at": soon});

    for cidr in [
        "10.255.1.0/24",
        "10.0.0.0/8",
        "2001:db8:ffff:1::/64",
        "0.0.0.0/0",
    ] {
        let (st, e) = send(
            &s,
            "POST",
            "/v1/blocklist",
            Some(&secops),
            Some(block(cidr)),
        )
        .await;
        assert_eq!(
            (st, violation_field(&e)),
            (400, "cidr".to_string()),
            "{cidr}: {e}"
        );
        assert!(e.to_string().contains("allow-list"), "{e}");
    }
    let (st, e) = send(&s, "POST", "/v1/blocklist", Some(&secops),
        Some(json!({"cidr": "203.0.113.0/24", "reason": "x", "expires_at": (Utc::now() - Duration::hours(1)).to_rfc3339()}))).await;
    assert_eq!(
        (st, violation_field(&e)),
        (400, "expires_at".to_string()),
        "{e}"
    );
    let (st, e) = send(
        &s,
        "POST",
        "/v1/blocklist",
        Some(&secops),
        Some(json!({"cidr": "203.0.113.0/24", "reason": "x"})),
    )
    .await;
    assert_eq!(st, 400, "{e}");
    let (st, _) = send(
        &s,
        "POST",
        "/v1/blocklist",
        Some(&firewall),
        Some(block("203.0.113.0/24")),
    )
    .await;
    assert_eq!(st, 403, "firewalls read the feed; secops write it");

    let (st, a) = send(
        &s,
        "POST",
        "/v1/blocklist",
        Some(&secops),
        Some(block("203.0.113.0/24")),
    )
    .await;
    assert_eq!(st, 201, "{a}");
    let (st, _) = send(
        &s,
        "POST",
        "/v1/blocklist",
        Some(&secops),
        Some(block("203.0.113.0/24")),
    )
    .await;
    assert_eq!(st, 409);
    let (st, b) = send(
        &s,
        "POST",
        "/v1/blocklist",
        Some(&secops),
        Some(block("2001:db8:bad::/48")),
    )
    .await;
    assert_eq!(st, 201, "{b}");
    let (st, c) = send(
        &s,
        "POST",
        "/v1/blocklist",
        Some(&secops),
        Some(block("198.51.100.66")),
    )
    .await;
    assert_eq!(
        (st, c["cidr"].as_str()),
        (201, Some("198.51.100.66/32")),
        "{c}"
    );

    // Expired and lifted entries leave the feed.
    let pool = sqlx::PgPool::connect(&s.cfg.service_database_url("alerts"))
        .await
        .unwrap();
    sqlx::query("UPDATE blocks SET expires_at = now() - interval '1 second' WHERE cidr = '2001:db8:bad::/48'")
        .execute(&pool).await.unwrap();
    let (st, _) = send(
        &s,
        "DELETE",
        &format!("/v1/blocklist/{}", c["id"].as_str().unwrap()),
        Some(&secops),
        None,
    )
    .await;
    assert_eq!(st, 200);
    let feed = s
        .http
        .get(s.url("/v1/blocklist.txt"))
        .bearer_auth(&firewall)
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), 200);
    assert!(
        feed.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(feed.text().await.unwrap(), "203.0.113.0/24\n");
    // An expired range can be blocked again.
    let (st, _) = send(
        &s,
        "POST",
        "/v1/blocklist",
        Some(&secops),
        Some(block("2001:db8:bad::/48")),
    )
    .await;
    assert_eq!(st, 201);
    let (_, json_feed) = send(&s, "GET", "/v1/blocklist", Some(&firewall), None).await;
    let cidrs: Vec<&str> = json_feed["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["cidr"].as_str().unwrap())
        .collect();
    assert_eq!(cidrs, vec!["203.0.113.0/24", "2001:db8:bad::/48"]);
    let (st, _) = send(
        &s,
        "GET",
        "/v1/blocklist.txt",
        Some(&s.token("c", &["citizen"], None)),
        None,
    )
    .await;
    assert_eq!(st, 403);

    // A notice on a host compromise blocks the host's external peer, not an internal one.
    let incident =
        attributed_incident(&s, "host_compromised", "high", "10.8.1.20", "192.0.2.44").await;
    let (st, _) = send(
        &s,
        "POST",
        &format!("/v1/incidents/{incident}/notice"),
        Some(&secops),
        None,
    )
    .await;
    assert_eq!(st, 201);
    let internal =
        attributed_incident(&s, "host_compromised", "high", "10.8.1.21", "10.8.9.9").await;
    let (st, _) = send(
        &s,
        "POST",
        &format!("/v1/incidents/{internal}/notice"),
        Some(&secops),
        None,
    )
    .await;
    assert_eq!(st, 201);
    let (_, json_feed) = send(&s, "GET", "/v1/blocklist", Some(&firewall), None).await;
    let auto: Vec<(&str, &str)> = json_feed["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["automatic"] == true)
        .map(|e| {
            (
                e["cidr"].as_str().unwrap(),
                e["incident_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(auto, vec![("192.0.2.44/32", incident.as_str())]);
    pool.close().await;
    s.stop().await;
}

#[tokio::test]
async fn statistics_count_the_period_and_the_same_dates_a_year_earlier() {
    let s = Stack::start().await;
    let secops = s.token("secops-1", &["secops"], None);
    let platform = s.token("ahsoc-platform", &["system"], None);
    send(
        &s,
        "POST",
        "/v1/assets",
        Some(&secops),
        Some(json!({"cidr": "10.8.0.0/16", "unit_code": UNIT_B, "system_name": "业务系统"})),
    )
    .await;
    let now = Utc::now() - Duration::minutes(10);
    let year_ago = now - Duration::days(365);
    let events = vec![
        ev(
            "s-1",
            "attack_attempt",
            "high",
            "RCE",
            "198.51.100.7",
            "10.8.1.20",
            now,
        ),
        ev(
            "s-2",
            "attack_attempt",
            "medium",
            "RCE",
            "198.51.100.7",
            "10.8.1.20",
            now,
        ),
        ev(
            "s-3",
            "potential_risk",
            "low",
            "Weak password",
            "198.51.100.7",
            "172.31.0.5",
            now,
        ),
        ev(
            "s-4",
            "attack_attempt",
            "low",
            "Scan",
            "198.51.100.7",
            "10.8.1.20",
            year_ago,
        ),
    ];
    let acks = stream(
        &s,
        &platform,
        vec![pb::EventBatch {
            batch_id: "s".into(),
            events,
        }],
    )
    .await
    .unwrap();
    assert_eq!(acks[0].accepted, 4);
    let shanghai = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let today = now.with_timezone(&shanghai).date_naive();
    let (st, r) = send(
        &s,
        "GET",
        &format!(
            "/v1/alerts/stats?from={}&to={}",
            today - Duration::days(1),
            today + Duration::days(1)
        ),
        Some(&secops),
        None,
    )
    .await;
    assert_eq!(st, 200, "{r}");
    let p = &r["period"];
    assert_eq!(p["events"], 3);
    assert_eq!(
        p["events_by_severity"],
        json!([{"key": "high", "count": 1}, {"key": "low", "count": 1}, {"key": "medium", "count": 1}])
    );
    assert_eq!(
        p["events_by_category"],
        json!([{"key": "attack_attempt", "count": 2}, {"key": "potential_risk", "count": 1}])
    );
    assert_eq!(
        p["events_by_unit"],
        json!([{"key": "", "count": 1}, {"key": UNIT_B, "count": 2}])
    );
    assert_eq!(p["incidents"], 2);
    assert_eq!(
        p["incidents_by_severity"],
        json!([{"key": "high", "count": 1}, {"key": "low", "count": 1}])
    );
    let y = &r["year_earlier"];
    assert_eq!(
        (y["events"].as_u64(), y["incidents"].as_u64()),
        (Some(1), Some(1)),
        "{y}"
    );
    assert_eq!(
        y["events_by_month"][0]["key"],
        year_ago
            .with_timezone(&shanghai)
            .format("%Y-%m")
            .to_string()
    );
    let (st, _) = send(
        &s,
        "GET",
        "/v1/alerts/stats?from=2026-01-01&to=2025-01-01",
        Some(&secops),
        None,
    )
    .await;
    assert_eq!(st, 400);
    let (st, _) = send(
        &s,
        "GET",
        "/v1/alerts/stats?from=2026-01-01&to=2026-02-01",
        Some(&s.token("officer-b", &["officer"], Some(UNIT_B))),
        None,
    )
    .await;
    assert_eq!(st, 403);
    s.stop().await;
}

#[tokio::test]
async fn the_demo_county_has_five_months_of_alerts_and_65_notices() {
    let s = Stack::start().await;
    let pool = sqlx::PgPool::connect(&s.cfg.service_database_url("alerts"))
        .await
        .unwrap();
    let departments: Vec<(String, String)> = (1..=34)
        .map(|n| (format!("340522-D{n:02}"), format!("县第{n}局")))
        .collect();
    let now = Utc::now();
    let loaded = yiwang_alerts::demo::load_demo(&pool, &departments, now, |from, days| {
        from + Duration::days(days as i64)
    })
    .await
    .unwrap()
    .expect("an empty database takes the demo");
    assert_eq!(
        (loaded.assets, loaded.events, loaded.notices),
        (34, 7_107, 65)
    );
    // Events come in bursts: a few hundred incidents, not one per event.
    assert!((300..=400).contains(&loaded.incidents), "{loaded:?}");
    assert!(
        yiwang_alerts::demo::load_demo(&pool, &departments, now, |f, _| f)
            .await
            .unwrap()
            .is_none(),
        "loaded once"
    );
    let secops = s.token("secops-1", &["secops"], None);
    let today = now
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .date_naive();
    let (st, r) = send(
        &s,
        "GET",
        &format!(
            "/v1/alerts/stats?from={}&to={}",
            today - Duration::days(160),
            today + Duration::days(1)
        ),
        Some(&secops),
        None,
    )
    .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(
        (
            r["period"]["events"].as_u64(),
            r["period"]["notices_issued"].as_u64()
        ),
        (Some(7_107), Some(65)),
        "{r}"
    );
    assert_eq!(r["period"]["incidents"].as_i64(), Some(loaded.incidents));
    // A few incidents sit in the attribution queue; a unit sees its own.
    assert!(!incidents(&s, &secops, "unattributed=true").await.is_empty());
    let unit = s.token("officer-1", &["officer"], Some("340522-D01"));
    let mine = incidents(&s, &unit, "").await;
    assert!(!mine.is_empty() && mine.iter().all(|i| i["unit_code"] == "340522-D01"));
    pool.close().await;
    s.stop().await;
}

#[tokio::test]
async fn two_streams_feeding_the_same_incidents_at_once_count_every_event_once() {
    let s = Stack::start().await;
    let platform = s.token("ahsoc-platform", &["system"], None);
    let t0 = Utc::now() - Duration::hours(2);
    let batches = |range: std::ops::Range<u32>| -> Vec<pb::EventBatch> {
        let events: Vec<_> = range
            .map(|i| {
                attack(
                    &format!("x-{i}"),
                    &format!("10.8.1.{}", i % 20 + 1),
                    t0 + Duration::seconds(i as i64),
                )
            })
            .collect();
        events
            .chunks(100)
            .enumerate()
            .map(|(k, c)| pb::EventBatch {
                batch_id: k.to_string(),
                events: c.to_vec(),
            })
            .collect()
    };
    // Stream A sends 0..2000, stream B 1000..3000: the middle thousand arrive twice, at once.
    let (a, b) = tokio::join!(
        stream(&s, &platform, batches(0..2000)),
        stream(&s, &platform, batches(1000..3000))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let accepted: u32 = a.iter().chain(&b).map(|x| x.accepted).sum();
    let duplicate: u32 = a.iter().chain(&b).map(|x| x.duplicate).sum();
    assert_eq!((accepted, duplicate), (3000, 1000));
    settle(&s).await;
    let secops = s.token("secops-1", &["secops"], None);
    let list = incidents(&s, &secops, "page_size=100").await;
    assert_eq!(list.len(), 20, "one incident per fingerprint");
    let counted: u64 = list
        .iter()
        .map(|i| i["event_count"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, 3000);
    assert!(list.iter().all(|i| i["event_count"] == 150));
    s.stop().await;
}

#[tokio::test]
async fn a_host_compromise_notice_blocks_the_units_host_until_the_notice_is_closed() {
    let mut cfg = test_config(10_000).await;
    // The network's gateways are never blocked.
    cfg.alerts.allowlist = vec!["10.8.255.0/24".into()];
    cfg.alerts.auto_block_days = Some(30);
    assert!(
        cfg.alerts.auto_block_hosts && !cfg.alerts.auto_block_peers,
        "by default auto-blocking blocks the unit's problem host, as the county does"
    );
    let s = Stack::start_with(cfg).await;
    let secops = s.token("secops-1", &["secops"], None);
    let unit = s.token("officer-b", &["officer"], Some(UNIT_B));
    let firewall = s.token("fw-1", &["system"], None);
    let auto_entries = |include_lifted: bool| {
        let (s, firewall) = (&s, &firewall);
        async move {
            let path = format!("/v1/blocklist?include_lifted={include_lifted}");
            let (st, v) = send(s, "GET", &path, Some(firewall), None).await;
            assert_eq!(st, 200, "{v}");
            v["entries"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["automatic"] == true)
                .cloned()
                .collect::<Vec<_>>()
        }
    };

    let incident =
        attributed_incident(&s, "host_compromised", "high", "10.8.1.20", "192.0.2.44").await;
    let (st, n) = send(
        &s,
        "POST",
        &format!("/v1/incidents/{incident}/notice"),
        Some(&secops),
        None,
    )
    .await;
    assert_eq!(st, 201, "{n}");
    let gateway_host =
        attributed_incident(&s, "host_compromised", "high", "10.8.255.1", "192.0.2.45").await;
    let (st, _) = send(
        &s,
        "POST",
        &format!("/v1/incidents/{gateway_host}/notice"),
        Some(&secops),
        None,
    )
    .await;
    assert_eq!(st, 201);
    let active = auto_entries(false).await;
    let blocked: Vec<(&str, &str)> = active
        .iter()
        .map(|e| (e["cidr"].as_str().unwrap(), e["target"].as_str().unwrap()))
        .collect();
    assert_eq!(
        blocked,
        vec![("10.8.1.20/32", "host")],
        "the unit's host, not the peer, not a gateway"
    );
    let feed = s
        .http
        .get(s.url("/v1/blocklist.txt"))
        .bearer_auth(&firewall)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        feed.lines().any(|l| l.starts_with("10.8.1.20/32")),
        "{feed}"
    );

    // The unit rectifies; secops verify and close: the block is lifted, and kept in the history.
    let id = n["id"].as_str().unwrap();
    for (step, token, body) in [
        ("acknowledge", &unit, json!({})),
        (
            "report",
            &unit,
            json!({"report": "已清除木马并修补漏洞", "commitment_letter": "我单位承诺……"}),
        ),
        (
            "verify",
            &secops,
            json!({"passed": true, "note": "复测通过"}),
        ),
    ] {
        let (st, v) = send(
            &s,
            "POST",
            &format!("/v1/notices/{id}/{step}"),
            Some(token),
            Some(body),
        )
        .await;
        assert_eq!(st, 200, "{step}: {v}");
        assert_eq!(
            auto_entries(false).await.len(),
            1,
            "still blocked after {step}"
        );
    }
    let (st, v) = send(
        &s,
        "POST",
        &format!("/v1/notices/{id}/close"),
        Some(&secops),
        Some(json!({})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert!(auto_entries(false).await.is_empty(), "lifted on close");
    let feed = s
        .http
        .get(s.url("/v1/blocklist.txt"))
        .bearer_auth(&firewall)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!feed.contains("10.8.1.20/32"), "{feed}");
    let history = auto_entries(true).await;
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0]["cidr"], "10.8.1.20/32");
    assert!(history[0]["lifted_at"].is_string(), "{:?}", history[0]);
    assert!(
        history[0]["lifted_by"].as_str().unwrap().contains("closed"),
        "{:?}",
        history[0]
    );
    s.stop().await;
}
