//! The generated REST layer at its edges, tried the way a careless client and an attacker would:
//! who may call is decided before the body is read, every error carries the documented body
//! (also axum's own rejections), NUL bytes are a 400 naming the field, a PATCH names what it
//! changes and cannot rename the resource, and the OpenAPI document is what is served.

mod common;

use common::{Stack, send, violation_field};
use serde_json::{Value, json};

fn status_name(body: &Value) -> &str {
    body["error"]["status"].as_str().unwrap_or("")
}

#[tokio::test]
async fn who_may_call_is_decided_before_the_body_is_read() {
    let s = Stack::start().await;
    // Anonymous with an empty or malformed body: 401, not 400.
    for (method, path) in [
        ("POST", "/v1/projects"),
        ("POST", "/v1/supervision/items"),
        ("POST", "/v1/cases"),
        ("POST", "/v1/assets"),
        ("PATCH", "/v1/items/X"),
        ("POST", "/v1/tickets/abc/dispatch"),
    ] {
        let (st, body) = send(&s, method, path, None, Some(json!({}))).await;
        assert_eq!(st, 401, "{method} {path}: {body}");
        assert_eq!(status_name(&body), "UNAUTHENTICATED", "{body}");
        let r = s
            .http
            .request(method.parse().unwrap(), s.url(path))
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status().as_u16(),
            401,
            "{method} {path} with a broken body"
        );
    }
    // A signed-in caller without the role: 403 before the body is looked at.
    let citizen = s.token("c-1", &["citizen"], None);
    for (method, path) in [
        ("POST", "/v1/projects"),
        ("POST", "/v1/supervision/items"),
        ("POST", "/v1/blocklist"),
        ("PUT", "/v1/calendar/2030"),
    ] {
        let (st, body) = send(&s, method, path, Some(&citizen), Some(json!({"bogus": 1}))).await;
        assert_eq!(st, 403, "{method} {path}: {body}");
        assert_eq!(status_name(&body), "PERMISSION_DENIED", "{body}");
    }
    // With the role, the same body is judged: the unknown field is named.
    let padmin = s.token("pa-1", &["project_admin"], None);
    let (st, body) = send(
        &s,
        "POST",
        "/v1/projects",
        Some(&padmin),
        Some(json!({"bogus": 1})),
    )
    .await;
    assert_eq!(st, 400, "{body}");
    assert_eq!(violation_field(&body), "bogus", "{body}");
    // Public reads need no token.
    let (st, body) = send(&s, "GET", "/v1/supervision/items", None, None).await;
    assert_eq!(st, 200, "{body}");
    s.stop().await;
}

#[tokio::test]
async fn every_error_has_the_documented_body() {
    let s = Stack::start().await;
    let admin = s.admin();
    // A path that is not UTF-8, on a generated route and on the hand-written item route.
    for path in ["/v1/cases/%ff%fe", "/v1/items/%ff%fe", "/v1/org-units/%ff"] {
        let r = s
            .http
            .get(s.url(path))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        let st = r.status().as_u16();
        let body: Value = r.json().await.expect("a JSON error body");
        assert_eq!(st, 400, "{path}: {body}");
        assert_eq!(body["error"]["code"], 400, "{body}");
        assert!(body["error"]["message"].is_string(), "{body}");
    }
    // A method the route does not have.
    let r = s
        .http
        .delete(s.url("/v1/catalog/stats"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let body: Value = r.json().await.expect("a JSON error body");
    assert_eq!(body["error"]["code"], 405, "{body}");
    // No such route.
    let (st, body) = send(&s, "GET", "/v1/nothing-here", None, None).await;
    assert_eq!(st, 404);
    assert_eq!(status_name(&body), "NOT_FOUND", "{body}");
    // A query value of the wrong type names the parameter.
    let (st, body) = send(&s, "GET", "/v1/supervision/items?page_size=ten", None, None).await;
    assert_eq!(st, 400, "{body}");
    assert_eq!(violation_field(&body), "page_size", "{body}");
    s.stop().await;
}

#[tokio::test]
async fn nul_bytes_are_refused_naming_the_field() {
    let s = Stack::start().await;
    // In the query and the path of public reads.
    for (path, field) in [
        ("/v1/items?q=%00", "q"),
        ("/v1/items/a%00b", "code"),
        ("/v1/org-units/%00", "code"),
        ("/v1/supervision/items?department=%00", "department"),
    ] {
        let (st, body) = send(&s, "GET", path, None, None).await;
        assert_eq!(st, 400, "{path}: {body}");
        assert_eq!(violation_field(&body), field, "{path}: {body}");
    }
    // Inside JSON strings, nested and in lists.
    let supervisor = s.token("sup-1", &["supervisor"], None);
    let (st, body) = send(
        &s,
        "POST",
        "/v1/supervision/plans",
        Some(&supervisor),
        Some(json!({"name": "p", "department": "D", "item_codes": ["1", "2\u{0}"]})),
    )
    .await;
    assert_eq!(st, 400, "{body}");
    assert_eq!(violation_field(&body), "item_codes[1]", "{body}");
    let officer = s.token("o-1", &["officer"], Some("D1"));
    let (st, body) = send(
        &s,
        "POST",
        "/v1/projects",
        Some(&officer),
        Some(json!({"year": 2030, "name": "a\u{0}b", "category": "new_system"})),
    )
    .await;
    assert_eq!(st, 400, "{body}");
    assert_eq!(violation_field(&body), "name", "{body}");
    s.stop().await;
}

#[tokio::test]
async fn a_patch_names_what_it_changes_and_cannot_rename_the_resource() {
    let s = Stack::start().await;
    let code = common::create_published(&s, 1, "食品经营许可").await;
    let ca = s.token("ca-1", &["catalog_admin"], None);
    // An empty PATCH changes nothing and says so.
    let (st, body) = send(
        &s,
        "PATCH",
        &format!("/v1/items/{code}"),
        Some(&ca),
        Some(json!({})),
    )
    .await;
    assert_eq!(st, 400, "{body}");
    assert_eq!(violation_field(&body), "body", "{body}");
    // The code in the body must be the one in the path.
    let (st, body) = send(
        &s,
        "PATCH",
        &format!("/v1/items/{code}"),
        Some(&ca),
        Some(json!({"code": "OTHER", "name": "x"})),
    )
    .await;
    assert_eq!(st, 400, "{body}");
    assert_eq!(violation_field(&body), "code", "{body}");
    // Only the named field changes: a new draft version with the new name, the rest kept.
    let (st, before) = send(&s, "GET", &format!("/v1/items/{code}"), None, None).await;
    assert_eq!(st, 200);
    let (st, draft) = send(
        &s,
        "PATCH",
        &format!("/v1/items/{code}"),
        Some(&ca),
        Some(json!({"code": code, "name": "食品经营许可（新办）"})),
    )
    .await;
    assert_eq!(st, 200, "{draft}");
    assert_eq!(draft["name"], "食品经营许可（新办）");
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["version"], 2);
    assert_eq!(draft["materials"], before["materials"]);
    assert_eq!(draft["promised_limit"], before["promised_limit"]);
    s.stop().await;
}

#[tokio::test]
async fn the_served_document_is_the_generated_one() {
    let s = Stack::start().await;
    let (st, doc) = send(&s, "GET", "/openapi.json", None, None).await;
    assert_eq!(st, 200);
    assert_eq!(&doc, yiwang_gateway::openapi::document());
    // Every generated operation is routed: an anonymous call to each answers something other
    // than 404/405 (401 for protected ones, 200/400/404-with-body for public ones).
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let concrete = path
                .split('/')
                .map(|seg| if seg.starts_with('{') { "1" } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            let r = s
                .http
                .request(method.to_uppercase().parse().unwrap(), s.url(&concrete))
                .send()
                .await
                .unwrap();
            let st = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            assert_ne!(st, 405, "{method} {path} is documented but not routed");
            if op.get("security").is_some() {
                assert_eq!(
                    st, 401,
                    "{method} {path} answers anonymous callers {st}: {body}"
                );
            }
            assert!(
                body["error"].is_object() || st < 300,
                "{method} {path}: {body}"
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked} operations");
    s.stop().await;
}

#[tokio::test]
async fn each_grpc_port_advertises_only_what_it_serves() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let s = Stack::start().await;
    for (url, service) in [
        (&s.cfg.catalog_url, "yiwang.catalog.v1.CatalogService"),
        (&s.cfg.cases_url, "yiwang.cases.v1.CasesService"),
        (
            &s.cfg.supervision_url,
            "yiwang.supervision.v1.SupervisionService",
        ),
        (&s.cfg.projects_url, "yiwang.projects.v1.ProjectsService"),
        (&s.cfg.alerts_url, "yiwang.alerts.v1.AlertsService"),
    ] {
        let channel = tonic::transport::Endpoint::from_shared(url.clone())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = ServerReflectionClient::new(channel);
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut answers = client
            .server_reflection_info(futures::stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        let answer = answers.message().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
            panic!("{url}: not a service list");
        };
        let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        let yiwang: Vec<&String> = names.iter().filter(|n| n.starts_with("yiwang.")).collect();
        assert_eq!(yiwang, [service], "{url} advertises {names:?}");
        assert!(
            names.iter().any(|n| n == "grpc.health.v1.Health"),
            "{names:?}"
        );
    }
    s.stop().await;
}

/// A standard validator accepts the served document and a client generated from it by a
/// standard generator (openapi-python-client) makes real calls. Needs the Python packages of
/// `tests/requirements.txt` (installed by `.ci/run`).
#[tokio::test]
async fn a_generated_client_calls_the_api() {
    let s = Stack::start().await;
    let admin = s.admin();
    let uscc = common::uscc("11340522MB1234567");
    let base = s.base.clone();
    // On a blocking thread: the stack answers the script from this test's runtime.
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/openapi_client/check.py"
            ))
            .args([&base, &admin, &uscc])
            .output()
            .expect("python3 runs")
    })
    .await
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{text}\n(needs: pip install -r tests/requirements.txt)"
    );
    assert!(text.contains("generated client"), "{text}");
    s.stop().await;
}
