//! Faults a county meets in its first month, each re-checked here (issue 12): a gateway dying
//! mid-create, Redis losing its data under the event consumers, NUL bytes and absurdly long
//! identifiers, unreachable services and dropped database connections, overlapping alert
//! feeds, and publications under made-up departments.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use yiwang_kit::{CancellationToken, Config};

/// A gateway in a runtime of its own, so a test can kill it outright: its tasks are dropped
/// mid-flight and no clean-up runs, as after `kill -9`.
struct OwnGateway {
    base: String,
    rt: Option<tokio::runtime::Runtime>,
}

impl OwnGateway {
    /// Starts it and waits until `ready` (a path) answers 200.
    async fn start(cfg: Config, ready: &str) -> OwnGateway {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        rt.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            yiwang_gateway::serve(cfg, listener, CancellationToken::new()).await
        });
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = http.get(format!("{base}{ready}")).send().await
                && r.status() == 200
            {
                return OwnGateway { base, rt: Some(rt) };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("extra gateway not ready");
    }

    fn kill(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for OwnGateway {
    fn drop(&mut self) {
        self.kill();
    }
}

fn filing(item: &str, licensee: &str) -> Value {
    json!({"item_code": item, "channel": "online",
        "applicant": {"kind": "legal_person", "name": "含山县好味餐饮有限公司", "uscc": licensee,
                      "phone": "13812345678"}})
}

async fn post_keyed(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    key: &str,
    body: &Value,
) -> (u16, Value, Option<String>) {
    let r = http
        .post(url)
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
        retry_after,
    )
}

#[tokio::test]
async fn a_create_retried_after_the_gateway_died_mid_request_gets_its_case_once() {
    let s = Stack::start().await;
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    let licensee = uscc("91340522MA2000001");
    let enterprise = s.token("enterprise-1", &["enterprise"], None);
    let body = filing(&item, &licensee);

    // Hold the filing inside the cases service: its request record waits for this lock.
    let cases_db = sqlx::PgPool::connect(&s.cfg.service_database_url("cases"))
        .await
        .unwrap();
    let mut lock = cases_db.begin().await.unwrap();
    sqlx::query("LOCK TABLE case_requests IN EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();

    let mut doomed = OwnGateway::start(s.cfg.clone(), "/readyz").await;
    let first = {
        let (url, token, body) = (
            format!("{}/v1/cases", doomed.base),
            enterprise.clone(),
            body.clone(),
        );
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .header("Idempotency-Key", "crash-1")
                .json(&body)
                .send()
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // The gateway dies with the request in flight; the client sees its connection drop.
    doomed.kill();
    if let Ok(r) = first.await.unwrap() {
        panic!(
            "the first attempt should have had no answer, got {}: {}",
            r.status(),
            r.text().await.unwrap_or_default()
        );
    }
    lock.rollback().await.unwrap();

    // The client retries with the same key through another gateway until it has an answer.
    let started = Instant::now();
    let url = s.url("/v1/cases");
    let (status, case) = loop {
        let (st, v, retry_after) = post_keyed(&s.http, &url, &enterprise, "crash-1", &body).await;
        if st == 409 && v["error"]["details"][0]["reason"] == "IDEMPOTENCY_IN_PROGRESS" {
            assert!(retry_after.is_some(), "409 in progress says when to retry");
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the key is still stuck after {:?}",
                started.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        break (st, v);
    };
    assert_eq!(status, 201, "{case}");
    // A retry now replays that answer; the enterprise has exactly one case.
    let (st, again, _) = post_keyed(&s.http, &url, &enterprise, "crash-1", &body).await;
    assert_eq!(st, 201, "{again}");
    assert_eq!(again["id"], case["id"]);
    let (st, mine) = send(&s, "GET", "/v1/cases?page_size=50", Some(&enterprise), None).await;
    assert_eq!(st, 200, "{mine}");
    assert_eq!(mine["cases"].as_array().unwrap().len(), 1, "{mine}");
    cases_db.close().await;
    s.stop().await;
}

/// Deletes every Redis key of the stack's prefix: what a Redis restarted without persistence
/// looks like to this deployment (streams, consumer groups, caches and markers all gone).
async fn wipe_redis(s: &Stack) {
    let mut redis = redis::Client::open(s.cfg.redis_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", s.cfg.redis_prefix))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(!keys.is_empty());
    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut redis)
        .await
        .unwrap();
}

async fn decide_licence(s: &Stack, item: &str, licensee: &str, officer: &str) -> String {
    let enterprise = s.token(&format!("ent-{licensee}"), &["enterprise"], None);
    let (st, c) = send(
        s,
        "POST",
        "/v1/cases",
        Some(&enterprise),
        Some(filing(item, licensee)),
    )
    .await;
    assert_eq!(st, 201, "{c}");
    let id = c["id"].as_str().unwrap().to_string();
    for (action, body) in [
        ("accept", None),
        ("decide", Some(json!({"outcome": "approved"}))),
    ] {
        let (st, v) = send(
            s,
            "POST",
            &format!("/v1/cases/{id}/{action}"),
            Some(officer),
            body,
        )
        .await;
        assert_eq!(st, 200, "{action}: {v}");
    }
    id
}

async fn follow_up_cases(s: &Stack, supervisor: &str) -> Vec<String> {
    let (st, v) = send(
        s,
        "GET",
        "/v1/supervision/tasks?page_size=100",
        Some(supervisor),
        None,
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let mut ids: Vec<String> = v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["case_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn event_consumers_recover_when_redis_comes_back_empty() {
    let s = Stack::start().await;
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    let officer = s.token("officer-a", &["officer"], Some("340522-SCJGJ"));
    let supervisor = s.token("supervisor-1", &["supervisor"], None);
    let mut decided = vec![decide_licence(&s, &item, &uscc("91340522MA2000001"), &officer).await];
    let wait_for = |n: usize| {
        let (s, supervisor) = (&s, &supervisor);
        async move {
            for _ in 0..300 {
                let got = follow_up_cases(s, supervisor).await;
                if got.len() >= n {
                    return got;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            follow_up_cases(s, supervisor).await
        }
    };
    assert_eq!(wait_for(1).await.len(), 1);

    // Redis restarts empty. Licences approved afterwards still get their follow-up task, and
    // the one approved before does not get a second.
    wipe_redis(&s).await;
    decided.push(decide_licence(&s, &item, &uscc("91340522MA2000002"), &officer).await);
    decided.push(decide_licence(&s, &item, &uscc("91340522MA2000003"), &officer).await);
    decided.sort();
    let got = wait_for(3).await;
    assert_eq!(got, decided, "one follow-up task per approved licence");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        follow_up_cases(&s, &supervisor).await,
        decided,
        "and no second one"
    );
    s.stop().await;
}

#[tokio::test]
async fn nul_bytes_and_huge_identifiers_are_named_4xx_never_5xx() {
    let s = Stack::start().await;
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    let enterprise = s.token("enterprise-1", &["enterprise"], None);
    let supervisor = s.token("supervisor-1", &["supervisor"], None);
    let long = "A".repeat(7_000);
    for path in [
        "/v1/items?q=%00".to_string(),
        "/v1/items/a%00b".to_string(),
        "/v1/org-units/%00".to_string(),
        "/v1/supervision/items?department=%00".to_string(),
        format!("/v1/items/{long}"),
        format!("/v1/org-units/{long}"),
        format!("/v1/cases/{long}"),
    ] {
        let (st, v) = send(&s, "GET", &path, Some(&supervisor), None).await;
        assert!(
            (400..500).contains(&st),
            "GET {}: {st} {v}",
            &path[..path.len().min(60)]
        );
        assert!(
            v.to_string().len() < 2_000,
            "the error echoes at most a prefix"
        );
    }
    let (st, v) = send(&s, "GET", &format!("/v1/items/{long}"), None, None).await;
    assert_eq!((st, violation_field(&v)), (400, "code".to_string()), "{v}");

    // Creates: a NUL in a JSON string, and an item code of 60,000 characters.
    let (st, v) = send(
        &s,
        "POST",
        "/v1/supervision/items",
        Some(&supervisor),
        Some(
            json!({"code": "34052200000001", "name": "检查\u{0}", "admin_type": "0",
            "legal_basis": "《食品安全法》", "department": "340522-SCJGJ"}),
        ),
    )
    .await;
    assert_eq!((st, violation_field(&v)), (400, "name".to_string()), "{v}");
    let mut body = filing(&item, &uscc("91340522MA2000001"));
    body["item_code"] = json!("9".repeat(60_000));
    let (st, v) = send(
        &s,
        "POST",
        "/v1/cases",
        Some(&enterprise),
        Some(body.clone()),
    )
    .await;
    assert_eq!((st, violation_field(&v)), (400, "item_code".into()), "{v}");
    body["item_code"] = json!(format!("{item}\u{0}"));
    let (st, v) = send(&s, "POST", "/v1/cases", Some(&enterprise), Some(body)).await;
    assert_eq!((st, violation_field(&v)), (400, "item_code".into()), "{v}");

    // The same over gRPC, as a department system sends them: refused as the caller's input,
    // never UNAVAILABLE (which tells a client to retry what can never succeed).
    use yiwang_proto::cases::v1 as cpb;
    let mut cases = cpb::cases_service_client::CasesServiceClient::connect(s.cfg.cases_url.clone())
        .await
        .unwrap();
    for code in ["9".repeat(100_000), format!("{item}\u{0}"), "x".repeat(20)] {
        let err = cases
            .file_case(authed(
                &enterprise,
                cpb::FileCaseRequest {
                    item_code: code,
                    channel: "online".into(),
                    applicant: Some(cpb::Applicant {
                        kind: "legal_person".into(),
                        name: "含山县好味餐饮有限公司".into(),
                        uscc: uscc("91340522MA2000001"),
                        phone: "13812345678".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
        assert_eq!(grpc_violation_field(&err), "item_code");
        assert!(err.message().len() < 1_000);
    }
    use yiwang_proto::catalog::v1 as kpb;
    let mut catalog = kpb::catalog_service_client::CatalogServiceClient::connect(s.grpc.clone())
        .await
        .unwrap();
    let err = catalog
        .get_item(kpb::GetItemRequest { code: long.clone() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
    assert!(err.message().len() < 1_000);
    // A NUL that reaches PostgreSQL over gRPC is the caller's input too.
    use yiwang_proto::supervision::v1 as spb;
    let mut sup = spb::supervision_service_client::SupervisionServiceClient::connect(
        s.cfg.supervision_url.clone(),
    )
    .await
    .unwrap();
    let err = sup
        .create_item(authed(
            &supervisor,
            spb::CreateItemRequest {
                code: "34052200000002".into(),
                name: "对食品经营活动的监督检查\u{0}".into(),
                admin_type: "0".into(),
                legal_basis: "《食品安全法》".into(),
                department: "340522-SCJGJ".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    s.stop().await;
}

#[tokio::test]
async fn publications_name_a_real_department_of_bounded_length() {
    let s = Stack::start().await;
    let supervisor = s.token("supervisor-1", &["supervisor"], None);
    for department in ["X".repeat(100_000), "340522-NOSUCH".to_string()] {
        let (st, v) = send(
            &s,
            "POST",
            "/v1/supervision/publications",
            Some(&supervisor),
            Some(json!({"title": "监管信息公示", "content": "本月检查结果", "department": department})),
        )
        .await;
        assert!(
            st == 400 || st == 413,
            "{st} {}",
            &v.to_string()[..200.min(v.to_string().len())]
        );
        if st == 400 {
            assert_eq!(violation_field(&v), "department", "{v}");
        }
    }
    let (st, v) = send(
        &s,
        "POST",
        "/v1/supervision/publications",
        Some(&supervisor),
        Some(json!({"title": "监管信息公示", "content": "本月检查结果", "department": "Y".repeat(70)})),
    )
    .await;
    assert_eq!((st, violation_field(&v)), (400, "department".into()), "{v}");
    // A department that supervises something may publish.
    let (st, v) = send(
        &s,
        "POST",
        "/v1/supervision/items",
        Some(&supervisor),
        Some(
            json!({"code": "34052200000001", "name": "对食品经营活动的监督检查", "admin_type": "0",
            "legal_basis": "《食品安全法》", "department": "340522-SCJGJ"}),
        ),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = send(
        &s,
        "POST",
        "/v1/supervision/publications",
        Some(&supervisor),
        Some(json!({"title": "监管信息公示", "content": "本月检查结果", "department": "340522-SCJGJ"})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    s.stop().await;
}

#[tokio::test]
async fn an_unreachable_service_or_a_dropped_database_connection_is_503_with_retry_after() {
    let s = Stack::start().await;
    let officer = s.token("officer-a", &["officer"], Some("340522-SCJGJ"));
    // A gateway whose cases service is gone (nothing listens there any more).
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut cfg = s.cfg.clone();
    cfg.cases_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let gw = OwnGateway::start(cfg, "/healthz").await;
    let r = s
        .http
        .get(format!("{}/v1/cases?page_size=5", gw.base))
        .bearer_auth(&officer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["status"], "UNAVAILABLE", "{v}");

    // The cases service's database connections are cut (a restart, a failover): callers get
    // answers or 503, never 500, and the service recovers by itself.
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    let enterprise = s.token("enterprise-1", &["enterprise"], None);
    let admin = sqlx::PgPool::connect(&s.cfg.database_url).await.unwrap();
    let mut statuses = vec![];
    for round in 0..3 {
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(s.cfg.database_name("cases"))
        .execute(&admin)
        .await
        .unwrap();
        for i in 0..4 {
            let (st, v) = send(&s, "GET", "/v1/cases?page_size=5", Some(&officer), None).await;
            assert_ne!(st, 500, "{v}");
            statuses.push(st);
            let (st, v) = send(
                &s,
                "POST",
                "/v1/cases",
                Some(&enterprise),
                Some(filing(&item, &uscc(&format!("91340522MA20000{round}{i}")))),
            )
            .await;
            assert!(st == 201 || st == 503, "{st} {v}");
            statuses.push(st);
        }
    }
    let (st, _) = send(&s, "GET", "/v1/cases?page_size=5", Some(&officer), None).await;
    assert_eq!(st, 200, "recovered; statuses seen: {statuses:?}");
    admin.close().await;
    s.stop().await;
}

#[tokio::test]
async fn overlapping_alert_feeds_all_succeed_and_count_each_event_once() {
    let mut cfg = test_config(10_000).await;
    cfg.gateway.max_body_bytes = 4 * 1024 * 1024;
    let s = Stack::start_with(cfg).await;
    let secops = s.token("secops-1", &["secops"], None);
    let at = chrono::Utc::now() - chrono::Duration::minutes(10);
    let events: Vec<Value> = (0..1000)
        .map(|i| {
            json!({"source": "ahsoc", "source_ref": format!("ev-{i:04}"),
            "occurred_at": at.to_rfc3339(), "src_ip": "198.51.100.7", "src_port": 4444,
            "dst_ip": format!("10.8.{}.{}", i / 200, i % 200 + 1), "dst_port": 80,
            "category": "attack_attempt", "severity": "low", "rule": "Web scan", "raw": {"n": i}})
        })
        .collect();
    let reversed: Vec<Value> = events.iter().rev().cloned().collect();
    let mut feeds = Vec::new();
    for n in 0..6 {
        let body = Value::Array(if n % 2 == 0 {
            events.clone()
        } else {
            reversed.clone()
        });
        let (http, url, token) = (s.http.clone(), s.url("/v1/alerts"), secops.clone());
        feeds.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let st = r.status().as_u16();
            (st, r.json::<Value>().await.unwrap())
        }));
    }
    let mut accepted = 0;
    for f in feeds {
        let (st, v) = f.await.unwrap();
        assert_eq!(st, 200, "{v}");
        accepted += v["accepted"].as_u64().unwrap();
        assert_eq!(
            v["accepted"].as_u64().unwrap() + v["duplicate"].as_u64().unwrap(),
            1000
        );
    }
    assert_eq!(accepted, 1000, "each event stored once across the feeds");

    // The same events replayed with another occurred_at are duplicates, not new events.
    let later = chrono::Utc::now() - chrono::Duration::minutes(1);
    let replay: Vec<Value> = events
        .iter()
        .take(10)
        .map(|e| {
            let mut e = e.clone();
            e["occurred_at"] = json!(later.to_rfc3339());
            e
        })
        .collect();
    let (st, v) = send(&s, "POST", "/v1/alerts", Some(&secops), Some(json!(replay))).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (v["accepted"].as_u64(), v["duplicate"].as_u64()),
        (Some(0), Some(10)),
        "{v}"
    );
    let db = sqlx::PgPool::connect(&s.cfg.service_database_url("alerts"))
        .await
        .unwrap();
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(stored, 1000);
    db.close().await;
    s.stop().await;
}
