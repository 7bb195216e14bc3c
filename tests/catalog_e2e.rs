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

/// Every page of `/v1/items?q=…` (with `extra` query parameters), as codes.
async fn search_all_pages(
    s: &Stack,
    q: &str,
    extra: &str,
    page_size: u32,
    max_pages: usize,
) -> Vec<String> {
    let mut codes = Vec::new();
    let mut token = String::new();
    for _ in 0..max_pages {
        let escape = |v: &str| -> String {
            v.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b == b'-' {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect()
        };
        let mut url = format!(
            "/v1/items?q={}&page_size={page_size}&page_token={}",
            escape(q),
            escape(&token)
        );
        for (k, v) in serde_urlencoded_pairs(extra) {
            url.push_str(&format!("&{k}={}", escape(&v)));
        }
        let r = s.http.get(s.url(&url)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let page: Value = r.json().await.unwrap();
        for item in page["items"].as_array().unwrap() {
            codes.push(item["code"].as_str().unwrap().to_string());
        }
        token = page["next_page_token"].as_str().unwrap_or("").to_string();
        if token.is_empty() {
            break;
        }
    }
    codes
}

fn serde_urlencoded_pairs(extra: &str) -> Vec<(String, String)> {
    extra
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// Search ranks items named by the keyword first, then those only a material mentions, each in
/// code order, however the service reads them: a material most items list (read in code order)
/// and one only two items far apart list (the second past the first thousand items, found by
/// the n-gram index). Checked page by page against the catalogue's own text.
#[tokio::test]
async fn search_pages_name_matches_then_material_mentions_in_code_order() {
    let s = Stack::start().await;
    let pool = sqlx::PgPool::connect(&s.cfg.service_database_url("catalog"))
        .await
        .unwrap();
    yiwang_catalog::seed::load_demo(&pool).await.unwrap();

    // One department sorting before every demo item, one after most of them.
    let early_uscc = uscc("11110000MB0000001");
    let late_uscc = uscc("11340522MBYY00001");
    let mut codes = Vec::new();
    for (dept, dept_uscc, region, seq, name, material) in [
        (
            "110000-SCJGJ",
            &early_uscc,
            "110000",
            1,
            "潜水器材检验",
            "蓝鲸潜水登记表",
        ),
        (
            "340522-SCJGJ",
            &late_uscc,
            "340522",
            2,
            "潜水器材复检",
            "蓝鲸潜水登记表",
        ),
        (
            "340522-SCJGJ",
            &late_uscc,
            "340522",
            3,
            "蓝鲸潜水许可",
            "营业执照",
        ),
    ] {
        let r = s
            .http
            .post(s.url("/v1/org-units"))
            .bearer_auth(s.admin())
            .json(&json!({"code": dept, "name": "市场监督管理局", "kind": "department", "region_code": region, "uscc": dept_uscc}))
            .send()
            .await
            .unwrap();
        assert!(
            matches!(r.status().as_u16(), 201 | 409),
            "{}",
            r.text().await.unwrap()
        );
        let mut body = item_body(dept, dept_uscc, seq, name);
        body["materials"][0]["name"] = json!(material);
        let code = publish_item(&s, &body).await;
        codes.push(code);
    }
    // Statistics as a running catalogue has them: the rare keyword's n-grams are known to be rare.
    sqlx::query("ANALYZE items").execute(&pool).await.unwrap();
    let before_late: i64 =
        sqlx::query_scalar("SELECT count(*) FROM items WHERE status = 'published' AND code < $1")
            .bind(&codes[1])
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(
        before_late > 2000,
        "the second mention lies past the first window ({before_late} items before it)"
    );

    // The expected order, from the stored text: name matches by code, then the rest by code.
    async fn expected(pool: &sqlx::PgPool, q: &str, department: &str) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT code FROM items
              WHERE status = 'published' AND strpos(search_text, $1) > 0 AND ($2 = '' OR department = $2)
              ORDER BY strpos(name_norm, $1) = 0, code",
        )
        .bind(q)
        .bind(department)
        .fetch_all(pool)
        .await
        .unwrap()
    }

    // The rare material: its name match, then the two material mentions far apart, one a page.
    let rare = expected(&pool, "蓝鲸潜水", "").await;
    assert_eq!(
        rare,
        vec![codes[2].clone(), codes[0].clone(), codes[1].clone()]
    );
    assert_eq!(search_all_pages(&s, "蓝鲸潜水", "", 1, 10).await, rare);
    assert_eq!(search_all_pages(&s, "蓝鲸潜水", "", 2, 10).await, rare);
    assert_eq!(search_all_pages(&s, "蓝鲸潜水", "", 20, 10).await, rare);
    // Filtered to the late department: only its two items, in the same ranks.
    assert_eq!(
        search_all_pages(&s, "蓝鲸潜水", "department=340522-SCJGJ", 1, 10).await,
        vec![codes[2].clone(), codes[1].clone()]
    );

    // Materials most items list, and rarer ones: the first pages as the stored text orders them.
    for q in ["身份证", "营业执照", "户口簿", "结婚证", "登记表"] {
        let want = expected(&pool, q, "").await;
        assert!(!want.is_empty(), "{q} is in the demo catalogue");
        let got = search_all_pages(&s, q, "", 50, 4).await;
        assert_eq!(got[..], want[..got.len()], "{q}");
        assert_eq!(got.len(), want.len().min(200), "{q}");
    }
    s.stop().await;
}
