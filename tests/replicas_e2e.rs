//! Two replicas of every role behind one PostgreSQL and one Redis give the answers of one
//! (issue 17): the rate limit is global within its stated error, a change made through one
//! replica is seen through the other (near caches invalidated on every replica), a sweeper's
//! effect happens once though both sweep, and consumer groups share events without doubling
//! their effects.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// Waits out the end of a fixed rate-limit window if it is near, so a test's requests fall in one.
async fn clear_of_window_edge(window_secs: u64, need: Duration) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let into = now.as_secs() % window_secs;
    let left = Duration::from_secs(window_secs - into);
    if left < need {
        tokio::time::sleep(left + Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn two_replicas_of_every_role_give_the_answers_of_one() {
    let cfg = test_config(20).await;
    two_replicas_agree(cfg).await;
}

/// The same, with every Redis use (item cache, rate limit, idempotency, streams and consumer
/// groups) on a Redis Cluster of three masters: keys end up on more than one node, and the
/// answers are those of one server.
#[tokio::test]
async fn two_replicas_on_a_redis_cluster_give_the_answers_of_one() {
    let cluster = RedisCluster::start().await;
    let mut cfg = test_config(20).await;
    cfg.redis_url = cluster.url.clone();
    two_replicas_agree(cfg).await;
    let keys = cluster.keys_per_node();
    assert!(
        keys.iter().filter(|n| **n > 0).count() >= 2,
        "every key on one node: {keys:?}"
    );
}

async fn two_replicas_agree(mut cfg: yiwang_kit::Config) {
    cfg.gateway.rate_window_secs = 3600;
    cfg.overdue_sweep_secs = 1;
    // Replica A and replica B: every role twice, on ports of their own, same databases and Redis.
    let a = Stack::start_with(cfg.clone()).await;
    let b = Stack::start_with(cfg.clone()).await;
    assert_ne!(a.cfg.cases_url, b.cfg.cases_url);

    // The rate limit is one for the client across replicas: 20 per window, paced so each
    // replica's count reaches Redis (every 100 ms) before the other's next request; the stated
    // error is what the other replica accepted within one flush interval.
    clear_of_window_edge(3600, Duration::from_secs(30)).await;
    let busy = a.token("busy-client", &["citizen"], None);
    let mut allowed = 0;
    for i in 0..30 {
        let s = if i % 2 == 0 { &a } else { &b };
        let (st, _) = send(s, "GET", "/v1/me/cases", Some(&busy), None).await;
        match st {
            200 => allowed += 1,
            429 => {}
            other => panic!("status {other}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Exact but for a flush delayed on a loaded machine: a request or two.
    assert!(
        (20..=22).contains(&allowed),
        "allowed {allowed} of a limit of 20"
    );

    // Near caches: an item read through both, renamed through A, is read renamed through B.
    let item = create_published(&a, 1, "食品经营许可证核发").await;
    for s in [&a, &b] {
        let (st, v) = send(s, "GET", &format!("/v1/items/{item}"), None, None).await;
        assert_eq!((st, v["name"].as_str()), (200, Some("食品经营许可证核发")));
    }
    let cat = a.token("cat-admin-2", &["catalog_admin"], None);
    let (st, v) = send(
        &a,
        "PATCH",
        &format!("/v1/items/{item}"),
        Some(&cat),
        Some(json!({"name": "食品经营许可证核发（含仅销售预包装食品备案）"})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = send(
        &a,
        "POST",
        &format!("/v1/items/{item}/publish"),
        Some(&cat),
        None,
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let started = Instant::now();
    loop {
        let (_, v) = send(&b, "GET", &format!("/v1/items/{item}"), None, None).await;
        if v["name"] == "食品经营许可证核发（含仅销售预包装食品备案）" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "replica B still serves {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // One case filed through A, accepted through B: both replicas' inbox consumers share the
    // group, so the applicant hears of the acceptance once; both sweep, so it goes overdue once.
    let citizen = a.token("citizen-r", &["citizen"], None);
    let officer = a.token("officer-r", &["officer"], Some("340522-SCJGJ"));
    let (st, c) = send(&a, "POST", "/v1/cases", Some(&citizen),
        Some(json!({"item_code": item, "channel": "online",
            "applicant": {"kind": "person", "name": "张三丰", "id_number": "11010519491231002X", "phone": "13812345678"}}))).await;
    assert_eq!(st, 201, "{c}");
    let id = c["id"].as_str().unwrap().to_string();
    // A retried filing with the same Idempotency-Key, through either replica, is the first one.
    let key = format!("filing-{}", uuid::Uuid::new_v4());
    let body = json!({"item_code": item, "channel": "online",
        "applicant": {"kind": "person", "name": "李四", "id_number": "11010519491231002X", "phone": "13812345678"}});
    let mut first = None;
    for s in [&a, &b] {
        let r = s
            .http
            .post(s.url("/v1/cases"))
            .bearer_auth(&citizen)
            .header("idempotency-key", &key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let v: serde_json::Value = r.json().await.unwrap();
        match &first {
            None => first = Some(v["id"].clone()),
            Some(id) => assert_eq!(&v["id"], id, "a retry filed a second case"),
        }
    }
    post_ok(&b, &format!("/v1/cases/{id}/accept"), &officer, json!({})).await;
    let cases = sqlx::PgPool::connect(&a.cfg.service_database_url("cases"))
        .await
        .unwrap();
    sqlx::query("UPDATE cases SET deadline = now() - interval '1 hour' WHERE id = $1::uuid")
        .bind(&id)
        .execute(&cases)
        .await
        .unwrap();
    let inbox = sqlx::PgPool::connect(&a.cfg.service_database_url("inbox"))
        .await
        .unwrap();
    let started = Instant::now();
    let (overdue, accepted) = loop {
        let overdue: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM outbox WHERE topic = 'cases.case.overdue' AND payload->>'case_id' = $1",
        )
        .bind(&id)
        .fetch_one(&cases)
        .await
        .unwrap();
        let accepted: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM notifications WHERE recipient = 'user:citizen-r' AND topic = 'cases.case.accepted'",
        )
        .fetch_one(&inbox)
        .await
        .unwrap();
        if (overdue >= 1 && accepted >= 1) || started.elapsed() > Duration::from_secs(15) {
            break (overdue, accepted);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Both replicas keep sweeping and consuming a while longer: still once.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let again: (i64, i64) = (
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE topic = 'cases.case.overdue' AND payload->>'case_id' = $1")
            .bind(&id).fetch_one(&cases).await.unwrap(),
        sqlx::query_scalar("SELECT count(*) FROM notifications WHERE recipient = 'user:citizen-r' AND topic = 'cases.case.accepted'")
            .fetch_one(&inbox).await.unwrap(),
    );
    assert_eq!((overdue, accepted), (1, 1));
    assert_eq!(again, (1, 1));
    let (_, c) = send(&b, "GET", &format!("/v1/cases/{id}"), Some(&citizen), None).await;
    assert_eq!(c["warning"], "red", "{c}");
    cases.close().await;
    inbox.close().await;
    b.stop().await;
    a.stop().await;
}
