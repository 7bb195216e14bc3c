//! End-to-end: the catalogue through the gateway (as the mobile app and web front ends use it)
//! and over gRPC (as a department system does), on real PostgreSQL and Redis.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn item_lifecycle_versions_and_search() {
    let s = Stack::start().await;
    let admin = s.token("cat-admin", &["catalog_admin"], None);
    let code = create_published(&s, 1, "食品经营许可证核发").await;

    // Public read without a token.
    let item: Value = s
        .http
        .get(s.url(&format!("/v1/items/{code}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(item["status"], "published");
    assert_eq!(item["version"], 1);
    assert_eq!(item["full_online"], true);

    // Search by a Chinese keyword that appears only in a material name.
    let found: Value = s
        .http
        .get(s.url("/v1/items?q=营业执照"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    let none: Value = s
        .http
        .get(s.url("/v1/items?q=户口迁移"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(none["items"].as_array().unwrap().is_empty());

    // A change to a published item opens version 2 as a draft; the public still sees version 1.
    let r = s
        .http
        .patch(s.url(&format!("/v1/items/{code}")))
        .bearer_auth(&admin)
        .json(&json!({"promised_limit": {"value": 3, "unit": "working_days"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let draft: Value = r.json().await.unwrap();
    assert_eq!(draft["version"], 2);
    assert_eq!(draft["status"], "draft");
    assert_eq!(
        draft["name"], "食品经营许可证核发",
        "fields not in the patch are kept"
    );
    let current: Value = s
        .http
        .get(s.url(&format!("/v1/items/{code}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(current["version"], 1);
    // Drafts are hidden from the public.
    let r = s
        .http
        .get(s.url(&format!("/v1/items/{code}/versions/2")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let r = s
        .http
        .post(s.url(&format!("/v1/items/{code}/publish")))
        .bearer_auth(&admin)
        .json(&json!({"reason": "承诺时限压缩"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v1: Value = s
        .http
        .get(s.url(&format!("/v1/items/{code}/versions/1")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v1["status"], "superseded");
    assert_eq!(
        v1["promised_limit"]["value"], 5,
        "old versions stay readable as they were"
    );
    let versions: Value = s
        .http
        .get(s.url(&format!("/v1/items/{code}/versions")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(versions["versions"].as_array().unwrap().len(), 2);

    // Illegal transition names the current state.
    let r = s
        .http
        .post(s.url(&format!("/v1/items/{code}/publish")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["status"], "FAILED_PRECONDITION");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("published")
    );

    let stats: Value = s
        .http
        .get(s.url("/v1/catalog/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["published_items"], 1);
    assert_eq!(stats["full_online_share"], 1.0);
    s.stop().await;
}

#[tokio::test]
async fn cache_is_invalidated_by_item_changes() {
    let s = Stack::start().await;
    let admin = s.token("cat-admin", &["catalog_admin"], None);
    let code = create_published(&s, 1, "食品经营许可证核发").await;
    let url = s.url(&format!("/v1/items/{code}"));
    let r1 = s.http.get(&url).send().await.unwrap();
    assert_eq!(r1.headers()["x-cache"], "miss");
    // The publish event may still invalidate the first fill; after that, reads are hits.
    let start = Instant::now();
    while s.http.get(&url).send().await.unwrap().headers()["x-cache"] != "hit" {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the cache never warmed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let r = s
        .http
        .post(s.url(&format!("/v1/items/{code}/suspend")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let start = Instant::now();
    loop {
        let item: Value = s.http.get(&url).send().await.unwrap().json().await.unwrap();
        if item["status"] == "suspended" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the change never reached the gateway"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    s.stop().await;
}

#[tokio::test]
async fn authorisation() {
    let s = Stack::start().await;
    let (dept, dept_uscc) = seed_department(&s).await;
    let body = item_body(&dept, &dept_uscc, 1, "食品经营许可证核发");
    let r = s
        .http
        .post(s.url("/v1/items"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let citizen = s.token("c1", &["citizen"], None);
    let r = s
        .http
        .post(s.url("/v1/items"))
        .bearer_auth(&citizen)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["status"], "PERMISSION_DENIED");
    let r = s
        .http
        .get(s.url("/v1/items"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = s.http.get(s.url("/v1/items")).send().await.unwrap();
    assert_eq!(r.status(), 200, "public reads need no token");
    s.stop().await;
}

async fn field_of(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let e: Value = r.json().await.unwrap();
    (status, violation_field(&e))
}

#[tokio::test]
async fn bad_inputs_name_the_field() {
    let s = Stack::start().await;
    let admin = s.admin();
    let (dept, dept_uscc) = seed_department(&s).await;

    let bad_uscc = json!({"code": "340522-X", "name": "x", "kind": "department", "region_code": "340522", "uscc": "91350100M000100Y44"});
    let r = s
        .http
        .post(s.url("/v1/org-units"))
        .bearer_auth(&admin)
        .json(&bad_uscc)
        .send()
        .await
        .unwrap();
    assert_eq!(field_of(r).await, (400, "uscc".to_string()));

    let mut body = item_body(&dept, &dept_uscc, 1, "食品经营许可证核发");
    body["promised_limit"]["unit"] = json!("weeks");
    let r = s
        .http
        .post(s.url("/v1/items"))
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(field_of(r).await, (400, "promised_limit.unit".to_string()));

    let mut body = item_body(&dept, &dept_uscc, 1, "食品经营许可证核发");
    body["code"] = json!("not a code!");
    let r = s
        .http
        .post(s.url("/v1/items"))
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(field_of(r).await, (400, "code".to_string()));

    let mut body = item_body(&dept, &dept_uscc, 1, "食品经营许可证核发");
    body["level"] = json!("four");
    let r = s
        .http
        .post(s.url("/v1/items"))
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(field_of(r).await, (400, "level".to_string()));

    let r = s
        .http
        .get(s.url("/v1/items?page_size=-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(field_of(r).await, (400, "page_size".to_string()));

    let r = s
        .http
        .post(s.url("/v1/items"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(vec![b'{', b'"', 0xff, 0xfe, b'"', b'}'])
        .send()
        .await
        .unwrap();
    assert_eq!(field_of(r).await, (400, "body".to_string()));

    let huge = json!({"name": "x".repeat(200_000)});
    let r = s
        .http
        .post(s.url("/v1/items"))
        .bearer_auth(&admin)
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let e: Value = r.json().await.unwrap();
    assert_eq!(
        e["error"]["details"][1]["field_violations"][0]["field"],
        "body"
    );
    s.stop().await;
}

#[tokio::test]
async fn idempotent_create_returns_the_first_answer() {
    let s = Stack::start().await;
    let admin = s.token("cat-admin", &["catalog_admin"], None);
    let (dept, dept_uscc) = seed_department(&s).await;
    let body = item_body(&dept, &dept_uscc, 1, "食品经营许可证核发");
    let send = || {
        s.http
            .post(s.url("/v1/items"))
            .bearer_auth(&admin)
            .header("idempotency-key", "k-123")
            .json(&body)
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = send().await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotency-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(first, again);
    // Without the key, a second create of the same code is a conflict, not a duplicate.
    let r = s
        .http
        .post(s.url("/v1/items"))
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    s.stop().await;
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let s = Stack::start_with(test_config(5).await).await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let r = s.http.get(s.url("/v1/items")).send().await.unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert!(r.headers().contains_key("retry-after"));
        }
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        3,
        "{statuses:?}"
    );
    s.stop().await;
}

#[tokio::test]
async fn department_system_over_grpc() {
    use yiwang_proto::catalog::v1 as pb;
    let s = Stack::start().await;
    let code = create_published(&s, 1, "食品经营许可证核发").await;

    let channel = tonic::transport::Channel::from_shared(s.grpc.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let h = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "yiwang.catalog.v1.CatalogService".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        h.into_inner().status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    let mut client = pb::catalog_service_client::CatalogServiceClient::new(channel);
    let token = s.token("dept-system-1", &["system"], Some("340522-SCJGJ"));
    let mut req = tonic::Request::new(pb::GetItemRequest { code: code.clone() });
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let item = client.get_item(req).await.unwrap().into_inner();
    assert_eq!(item.code, code);
    assert_eq!(item.version, 1);

    // A system token without catalog_admin cannot write.
    let mut req = tonic::Request::new(pb::ItemTransitionRequest {
        code: code.clone(),
        ..Default::default()
    });
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let err = client.suspend_item(req).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);

    // Field errors come as google.rpc.BadRequest details.
    let err = client
        .search_items(pb::SearchItemsRequest {
            page_size: -1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let e = yiwang_kit::Error::from_status(&err);
    assert_eq!(e.violations[0].field, "page_size");
    s.stop().await;
}
