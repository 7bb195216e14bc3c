//! One-stop service across departments (issue 13): routing a case to the department it belongs
//! to (转办), with the deadline kept, the history and statistics told, and two routings at once.

mod common;

use common::*;
use serde_json::{Value, json};

const DEPT_A: &str = "340522-SCJGJ";
const DEPT_B: &str = "340522-WJW";
const DEPT_C: &str = "340522-ZJJ";

async fn org_unit(s: &Stack, code: &str, name: &str, kind: &str, first17: &str) {
    let mut body = json!({"code": code, "name": name, "kind": kind, "region_code": "340522",
        "uscc": uscc(first17)});
    if kind == "town" {
        body["region_code"] = json!("340522100");
    }
    let (st, v) = send(s, "POST", "/v1/org-units", Some(&s.admin()), Some(body)).await;
    assert_eq!(st, 201, "{v}");
}

async fn accepted_case(s: &Stack, item: &str, n: u32, officer: &str) -> Value {
    let enterprise = s.token("enterprise-1", &["enterprise"], None);
    let (st, c) = send(
        s,
        "POST",
        "/v1/cases",
        Some(&enterprise),
        Some(json!({"item_code": item, "channel": "window",
            "applicant": {"kind": "legal_person", "name": "含山县好味餐饮有限公司",
                          "uscc": uscc(&format!("91340522MA20000{n:02}")), "phone": "13812345678"}})),
    )
    .await;
    assert_eq!(st, 201, "{c}");
    let id = c["id"].as_str().unwrap();
    let (st, c) = send(
        s,
        "POST",
        &format!("/v1/cases/{id}/accept"),
        Some(officer),
        Some(json!({})),
    )
    .await;
    assert_eq!(st, 200, "{c}");
    c
}

#[tokio::test]
async fn a_department_routes_a_case_to_another_keeping_its_deadline() {
    let s = Stack::start().await;
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    org_unit(
        &s,
        DEPT_B,
        "含山县卫生健康委员会",
        "department",
        "11340522MB0000002",
    )
    .await;
    org_unit(
        &s,
        DEPT_C,
        "含山县住房和城乡建设局",
        "department",
        "11340522MB0000003",
    )
    .await;
    org_unit(&s, "340522-HCZ", "环峰镇", "town", "11340522MB0000004").await;
    let officer_a = s.token("officer-a", &["officer"], Some(DEPT_A));
    let officer_b = s.token("officer-b", &["officer"], Some(DEPT_B));
    let supervisor = s.token("supervisor-1", &["supervisor"], None);
    let c = accepted_case(&s, &item, 1, &officer_a).await;
    let id = c["id"].as_str().unwrap();
    let route = format!("/v1/cases/{id}/route");

    // Bad requests name the field; strangers learn nothing; only open cases move.
    for (body, field) in [
        (json!({"to_department": DEPT_B}), "reason"),
        (json!({"to_department": "", "reason": "x"}), "to_department"),
        (
            json!({"to_department": "340522-NOSUCH", "reason": "x"}),
            "to_department",
        ),
        (
            json!({"to_department": "340522-HCZ", "reason": "x"}),
            "to_department",
        ),
        (
            json!({"to_department": DEPT_A, "reason": "x"}),
            "to_department",
        ),
        (
            json!({"to_department": "D".repeat(60_000), "reason": "x"}),
            "to_department",
        ),
    ] {
        let (st, v) = send(&s, "POST", &route, Some(&officer_a), Some(body)).await;
        assert_eq!((st, violation_field(&v)), (400, field.to_string()), "{v}");
    }
    let (st, _) = send(
        &s,
        "POST",
        &route,
        Some(&officer_b),
        Some(json!({"to_department": DEPT_C, "reason": "x"})),
    )
    .await;
    assert_eq!(st, 404, "not B's case (yet)");
    let citizen = s.token("citizen-1", &["citizen"], None);
    let (st, _) = send(
        &s,
        "POST",
        &route,
        Some(&citizen),
        Some(json!({"to_department": DEPT_B, "reason": "x"})),
    )
    .await;
    assert_eq!(st, 403);

    let (st, routed) = send(
        &s,
        "POST",
        &route,
        Some(&officer_a),
        Some(json!({"to_department": DEPT_B, "reason": "涉及餐饮具集中消毒，属卫健委职责"})),
    )
    .await;
    assert_eq!(st, 200, "{routed}");
    assert_eq!(routed["department"], DEPT_B);
    assert_eq!(
        routed["deadline"], c["deadline"],
        "the deadline does not move"
    );
    assert_eq!(routed["state"], "accepted");
    assert!(
        routed["applicant"]["phone"].as_str().unwrap().contains('*'),
        "A no longer handles it: masked"
    );
    // Now B's: A sees nothing more, B works it.
    let (st, _) = send(
        &s,
        "GET",
        &format!("/v1/cases/{id}"),
        Some(&officer_a),
        None,
    )
    .await;
    assert_eq!(st, 404);
    let (st, v) = send(
        &s,
        "POST",
        &format!("/v1/cases/{id}/decide"),
        Some(&officer_b),
        Some(json!({"outcome": "approved"})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let (_, h) = send(
        &s,
        "GET",
        &format!("/v1/cases/{id}/history"),
        Some(&officer_b),
        None,
    )
    .await;
    let routing = h["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["action"] == "route")
        .expect("the history has the routing")
        .clone();
    assert_eq!(routing["actor"], "officer-a");
    assert!(
        routing["reason"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{DEPT_A} → {DEPT_B}")),
        "{routing}"
    );
    // Decided cases are not routed any more.
    let (st, v) = send(
        &s,
        "POST",
        &route,
        Some(&officer_b),
        Some(json!({"to_department": DEPT_C, "reason": "x"})),
    )
    .await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["error"]["details"][0]["reason"], "CASE_STATE");

    // Statistics count routings away from a department.
    let period = stats_around_now();
    let (st, stats) = send(&s, "GET", &period, Some(&supervisor), None).await;
    assert_eq!(st, 200, "{stats}");
    assert_eq!(stats["routed"], 1);
    let (_, stats_a) = send(&s, "GET", &period, Some(&officer_a), None).await;
    assert_eq!(stats_a["routed"], 1, "{stats_a}");
    let (_, stats_b) = send(&s, "GET", &period, Some(&officer_b), None).await;
    assert_eq!(stats_b["routed"], 0, "{stats_b}");
    s.stop().await;
}

#[tokio::test]
async fn two_routings_of_one_case_at_once_exactly_one_wins() {
    let s = Stack::start().await;
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    org_unit(
        &s,
        DEPT_B,
        "含山县卫生健康委员会",
        "department",
        "11340522MB0000002",
    )
    .await;
    org_unit(
        &s,
        DEPT_C,
        "含山县住房和城乡建设局",
        "department",
        "11340522MB0000003",
    )
    .await;
    let clerk = s.token("clerk-a", &["clerk"], Some(DEPT_A));
    let officer = s.token("officer-a", &["officer"], Some(DEPT_A));
    for n in 0..5 {
        let c = accepted_case(&s, &item, n + 1, &officer).await;
        let id = c["id"].as_str().unwrap();
        let route = format!("/v1/cases/{id}/route");
        let (one, two) = tokio::join!(
            send(
                &s,
                "POST",
                &route,
                Some(&clerk),
                Some(json!({"to_department": DEPT_B, "reason": "卫健委职责"})),
            ),
            send(
                &s,
                "POST",
                &route,
                Some(&officer),
                Some(json!({"to_department": DEPT_C, "reason": "住建局职责"})),
            ),
        );
        let statuses = [one.0, two.0];
        assert_eq!(
            statuses.iter().filter(|st| **st == 200).count(),
            1,
            "{one:?} {two:?}"
        );
        assert!(
            statuses.iter().all(|st| *st == 200 || *st == 404),
            "{one:?} {two:?}"
        );
        let winner = if one.0 == 200 { &one.1 } else { &two.1 };
        let supervisor = s.token("supervisor-1", &["supervisor"], None);
        let (_, now) = send(
            &s,
            "GET",
            &format!("/v1/cases/{id}"),
            Some(&supervisor),
            None,
        )
        .await;
        assert_eq!(now["department"], winner["department"]);
        let (_, h) = send(
            &s,
            "GET",
            &format!("/v1/cases/{id}/history"),
            Some(&supervisor),
            None,
        )
        .await;
        let routes = h["transitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["action"] == "route")
            .count();
        assert_eq!(routes, 1, "{h}");
    }
    s.stop().await;
}

/// Two items at two departments, published, and a bundle of both (2 working days combined).
async fn bundle_of_two(s: &Stack) -> (String, String, String) {
    let item_a = create_published(s, 1, "食品经营许可证核发").await;
    org_unit(
        s,
        DEPT_B,
        "含山县卫生健康委员会",
        "department",
        "11340522MB0000002",
    )
    .await;
    let cat = s.token("cat-admin", &["catalog_admin"], None);
    let body = item_body(DEPT_B, &uscc("11340522MB0000002"), 2, "公共场所卫生许可");
    let item_b = body["code"].as_str().unwrap().to_string();
    let (st, v) = send(s, "POST", "/v1/items", Some(&cat), Some(body)).await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = send(
        s,
        "POST",
        &format!("/v1/items/{item_b}/publish"),
        Some(&cat),
        None,
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let (st, b) = send(
        s,
        "POST",
        "/v1/bundles",
        Some(&cat),
        Some(json!({"name": "我要开餐馆", "applicant_kind": "legal_person", "items": [item_a, item_b],
            "promised_limit": {"value": 2, "unit": "working_days"}})),
    )
    .await;
    assert_eq!(st, 201, "{b}");
    (b["id"].as_str().unwrap().to_string(), item_a, item_b)
}

#[tokio::test]
async fn bundles_are_listed_by_applicant_kind_and_high_frequency() {
    let s = Stack::start().await;
    let (first, item_a, item_b) = bundle_of_two(&s).await;
    let cat = s.token("cat-admin", &["catalog_admin"], None);
    let (st, hf) = send(
        &s,
        "POST",
        "/v1/bundles",
        Some(&cat),
        Some(json!({"name": "开办企业一件事", "applicant_kind": "legal_person", "items": [item_a, item_b],
            "promised_limit": {"value": 4, "unit": "working_hours"}, "high_frequency": true})),
    )
    .await;
    assert_eq!(st, 201, "{hf}");
    assert_eq!(hf["high_frequency"], true, "{hf}");
    let ids = |v: &Value| -> Vec<String> {
        v["bundles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (st, v) = send(
        &s,
        "GET",
        "/v1/bundles?high_frequency_only=true",
        None,
        None,
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(ids(&v), vec![hf["id"].as_str().unwrap().to_string()]);
    let (st, v) = send(
        &s,
        "GET",
        "/v1/bundles?applicant_kind=legal_person",
        None,
        None,
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let mut got = ids(&v);
    got.sort();
    let mut want = vec![first.clone(), hf["id"].as_str().unwrap().to_string()];
    want.sort();
    assert_eq!(got, want);
    let (st, v) = send(&s, "GET", "/v1/bundles?applicant_kind=person", None, None).await;
    assert_eq!(st, 200, "{v}");
    assert!(ids(&v).is_empty(), "{v}");
    let (st, v) = send(&s, "GET", "/v1/bundles?applicant_kind=robot", None, None).await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(violation_field(&v), "applicant_kind", "{v}");
    // A page token from one filter is refused under another, so a client cannot skip rows.
    let (st, v) = send(&s, "GET", "/v1/bundles?page_size=1", None, None).await;
    assert_eq!(st, 200, "{v}");
    let token = v["next_page_token"].as_str().unwrap().to_string();
    assert!(!token.is_empty(), "{v}");
    let (st, v) = send(
        &s,
        "GET",
        &format!("/v1/bundles?page_size=1&high_frequency_only=true&page_token={token}"),
        None,
        None,
    )
    .await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(violation_field(&v), "page_token", "{v}");
    s.stop().await;
}

fn application_body(bundle: &str) -> Value {
    json!({"bundle_id": bundle, "channel": "online", "materials": ["营业执照"],
        "applicant": {"kind": "legal_person", "name": "含山县好味餐饮有限公司",
                      "uscc": uscc("91340522MA2000001"), "phone": "13812345678"}})
}

#[tokio::test]
async fn a_bundle_is_filed_once_worked_by_each_department_and_delivered_together() {
    let s = Stack::start().await;
    let (bundle, item_a, item_b) = bundle_of_two(&s).await;
    let enterprise = s.token("enterprise-1", &["enterprise"], None);
    let officer_a = s.token("officer-a", &["officer"], Some(DEPT_A));
    let officer_b = s.token("officer-b", &["officer"], Some(DEPT_B));

    // Bad input is named field by field.
    for (patch, field) in [
        (
            json!({"bundle_id": "4f6f0e0e-0000-4000-8000-000000000000"}),
            "bundle_id",
        ),
        (json!({"bundle_id": ""}), "bundle_id"),
        (json!({"materials": ["营业执照", "户口本"]}), "materials[1]"),
        (
            json!({"applicant": {"kind": "person", "name": "张三", "id_number": "11010519491231002X", "phone": "13812345678"}}),
            "applicant.kind",
        ),
    ] {
        let mut body = application_body(&bundle);
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let citizen = s.token("citizen-1", &["citizen", "enterprise"], None);
        let (st, v) = send(&s, "POST", "/v1/applications", Some(&citizen), Some(body)).await;
        assert_eq!((st, violation_field(&v)), (400, field.to_string()), "{v}");
    }

    // Filed once (a retry with the same key is the same application), one member per item at
    // the item's department.
    let file = || async {
        s.http
            .post(s.url("/v1/applications"))
            .bearer_auth(&enterprise)
            .header("Idempotency-Key", "restaurant-1")
            .json(&application_body(&bundle))
            .send()
            .await
            .unwrap()
    };
    let r = file().await;
    assert_eq!(r.status(), 201);
    let app: Value = r.json().await.unwrap();
    let again: Value = file().await.json().await.unwrap();
    assert_eq!(again["id"], app["id"]);
    let id = app["id"].as_str().unwrap().to_string();
    assert_eq!(app["state"], "received");
    assert_eq!(app["bundle_name"], "我要开餐馆");
    assert_eq!(
        (app["limit_value"].as_u64(), app["limit_unit"].as_str()),
        (Some(2), Some("working_days"))
    );
    let members = app["members"].as_array().unwrap().clone();
    assert_eq!(members.len(), 2, "{app}");
    let member = |item: &str| -> Value {
        members
            .iter()
            .find(|m| m["item_code"] == item)
            .unwrap()
            .clone()
    };
    let (ma, mb) = (member(&item_a), member(&item_b));
    assert_eq!(
        (ma["department"].as_str(), mb["department"].as_str()),
        (Some(DEPT_A), Some(DEPT_B))
    );
    assert_eq!(ma["item_version"], 1);
    let (case_a, case_b) = (
        ma["case_id"].as_str().unwrap().to_string(),
        mb["case_id"].as_str().unwrap().to_string(),
    );
    // Members are ordinary cases in their departments' queues.
    let (st, c) = send(
        &s,
        "GET",
        &format!("/v1/cases/{case_a}"),
        Some(&officer_a),
        None,
    )
    .await;
    assert_eq!(
        (st, c["application_id"].as_str()),
        (200, Some(id.as_str())),
        "{c}"
    );
    let (st, _) = send(
        &s,
        "GET",
        &format!("/v1/cases/{case_b}"),
        Some(&officer_a),
        None,
    )
    .await;
    assert_eq!(st, 404, "B's member is not A's business");

    // Accepted when the last member is accepted; the combined limit counts from then.
    post_ok(
        &s,
        &format!("/v1/cases/{case_a}/accept"),
        &officer_a,
        json!({}),
    )
    .await;
    let (_, app) = send(
        &s,
        "GET",
        &format!("/v1/applications/{id}"),
        Some(&enterprise),
        None,
    )
    .await;
    assert_eq!(app["state"], "received");
    assert!(app["deadline"].as_str().unwrap().is_empty());
    let b = post_ok(
        &s,
        &format!("/v1/cases/{case_b}/accept"),
        &officer_b,
        json!({}),
    )
    .await;
    let (_, app) = send(
        &s,
        "GET",
        &format!("/v1/applications/{id}"),
        Some(&enterprise),
        None,
    )
    .await;
    assert_eq!(app["state"], "accepted", "{app}");
    assert_eq!(app["accepted_at"], b["accepted_at"]);
    assert!(
        app["deadline"].as_str().unwrap().ends_with("+08:00"),
        "{app}"
    );

    // A correction from one member reaches the applicant in the one list.
    post_ok(
        &s,
        &format!("/v1/cases/{case_a}/request-correction"),
        &officer_a,
        json!({"reason": "请补充食品安全管理制度"}),
    )
    .await;
    let (_, app) = send(
        &s,
        "GET",
        &format!("/v1/applications/{id}"),
        Some(&enterprise),
        None,
    )
    .await;
    assert_eq!(app["state"], "in_progress");
    let corrections = app["corrections"].as_array().unwrap();
    assert_eq!(corrections.len(), 1, "{app}");
    assert_eq!(corrections[0]["case_id"], json!(case_a));
    assert_eq!(corrections[0]["reason"], "请补充食品安全管理制度");
    assert_eq!(
        corrections[0]["missing_materials"],
        json!(["食品安全管理制度"])
    );
    post_ok(
        &s,
        &format!("/v1/cases/{case_a}/submit-correction"),
        &enterprise,
        json!({"materials": ["食品安全管理制度"]}),
    )
    .await;

    // Not delivered while a member is open; one denied member makes it partially approved.
    post_ok(
        &s,
        &format!("/v1/cases/{case_a}/decide"),
        &officer_a,
        json!({"outcome": "approved"}),
    )
    .await;
    let (st, v) = send(
        &s,
        "POST",
        &format!("/v1/applications/{id}/deliver"),
        Some(&officer_a),
        Some(json!({"method": "window"})),
    )
    .await;
    assert_eq!(
        (st, v["error"]["details"][0]["reason"].as_str()),
        (400, Some("APPLICATION_STATE")),
        "{v}"
    );
    post_ok(
        &s,
        &format!("/v1/cases/{case_b}/decide"),
        &officer_b,
        json!({"outcome": "denied", "reason": "经营场所不符合卫生要求"}),
    )
    .await;
    let (_, app) = send(
        &s,
        "GET",
        &format!("/v1/applications/{id}"),
        Some(&enterprise),
        None,
    )
    .await;
    assert_eq!(app["state"], "partially_approved", "{app}");
    let denied = app["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["case_id"] == json!(case_b))
        .unwrap()
        .clone();
    assert_eq!(denied["outcome_reason"], "经营场所不符合卫生要求");

    // 综合出件: once, by staff, every result together.
    let (st, _) = send(
        &s,
        "POST",
        &format!("/v1/applications/{id}/deliver"),
        Some(&enterprise),
        Some(json!({"method": "window"})),
    )
    .await;
    assert_eq!(st, 403);
    let app = post_ok(
        &s,
        &format!("/v1/applications/{id}/deliver"),
        &officer_a,
        json!({"method": "window"}),
    )
    .await;
    assert_eq!(app["state"], "delivered");
    assert!(
        app["members"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["state"] == "delivered"),
        "{app}"
    );
    let (st, _) = send(
        &s,
        "POST",
        &format!("/v1/applications/{id}/deliver"),
        Some(&officer_b),
        Some(json!({"method": "window"})),
    )
    .await;
    assert_eq!(st, 400, "delivered once");
    // 综合出件 at one window: one pickup code, shown on every member to the applicant.
    let mut codes = Vec::new();
    for case in [&case_a, &case_b] {
        let (_, c) = send(
            &s,
            "GET",
            &format!("/v1/cases/{case}"),
            Some(&enterprise),
            None,
        )
        .await;
        codes.push(c["pickup_code"].as_str().unwrap().to_string());
    }
    assert_eq!(codes[0].len(), 6, "{codes:?}");
    assert_eq!(codes[0], codes[1]);

    // Who sees it: the applicant and the departments in full, oversight masked, others nothing.
    let stranger = s.token("enterprise-2", &["enterprise"], None);
    let (st, _) = send(
        &s,
        "GET",
        &format!("/v1/applications/{id}"),
        Some(&stranger),
        None,
    )
    .await;
    assert_eq!(st, 404);
    let supervisor = s.token("supervisor-1", &["supervisor"], None);
    let (st, v) = send(
        &s,
        "GET",
        &format!("/v1/applications/{id}"),
        Some(&supervisor),
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(v["applicant"]["phone"], "138****5678");
    let (_, v) = send(
        &s,
        "GET",
        &format!("/v1/applications/{id}"),
        Some(&officer_b),
        None,
    )
    .await;
    assert_eq!(v["applicant"]["phone"], "13812345678");
    s.stop().await;
}

#[tokio::test]
async fn withdrawing_an_application_withdraws_every_open_member_even_against_a_decision() {
    let s = Stack::start().await;
    let (bundle, item_a, _) = bundle_of_two(&s).await;
    let enterprise = s.token("enterprise-1", &["enterprise"], None);
    let officer_a = s.token("officer-a", &["officer"], Some(DEPT_A));
    let officer_b = s.token("officer-b", &["officer"], Some(DEPT_B));
    for round in 0..4 {
        let mut body = application_body(&bundle);
        body["applicant"]["uscc"] = json!(uscc(&format!("91340522MA200010{round}")));
        let (st, app) = send(
            &s,
            "POST",
            "/v1/applications",
            Some(&enterprise),
            Some(body),
        )
        .await;
        assert_eq!(st, 201, "{app}");
        let id = app["id"].as_str().unwrap().to_string();
        let ids: Vec<(String, String)> = app["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["item_code"].as_str().unwrap().to_string(),
                    m["case_id"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let case_a = &ids.iter().find(|(i, _)| *i == item_a).unwrap().1;
        let case_b = &ids.iter().find(|(i, _)| *i != item_a).unwrap().1;
        post_ok(
            &s,
            &format!("/v1/cases/{case_a}/accept"),
            &officer_a,
            json!({}),
        )
        .await;
        post_ok(
            &s,
            &format!("/v1/cases/{case_b}/accept"),
            &officer_b,
            json!({}),
        )
        .await;
        // The department decides a member while the applicant withdraws the application.
        let (decide, withdraw) = (
            format!("/v1/cases/{case_a}/decide"),
            format!("/v1/applications/{id}/withdraw"),
        );
        let ((dst, dv), (wst, wv)) = tokio::join!(
            send(
                &s,
                "POST",
                &decide,
                Some(&officer_a),
                Some(json!({"outcome": "approved"}))
            ),
            send(
                &s,
                "POST",
                &withdraw,
                Some(&enterprise),
                Some(json!({"reason": "不开了"}))
            ),
        );
        assert_eq!(wst, 200, "{wv}");
        let (_, app) = send(
            &s,
            "GET",
            &format!("/v1/applications/{id}"),
            Some(&enterprise),
            None,
        )
        .await;
        let state_of = |case: &str| {
            app["members"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["case_id"] == json!(case))
                .unwrap()["state"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(state_of(case_b), "withdrawn");
        if dst == 200 {
            assert_eq!(state_of(case_a), "approved", "decided first: {app}");
            assert_eq!(app["state"], "approved");
        } else {
            assert_eq!(
                (dst, dv["error"]["details"][0]["reason"].as_str()),
                (400, Some("CASE_STATE")),
                "{dv}"
            );
            assert_eq!(state_of(case_a), "withdrawn");
            assert_eq!(app["state"], "withdrawn");
        }
        let (st, _) = send(
            &s,
            "POST",
            &format!("/v1/applications/{id}/withdraw"),
            Some(&enterprise),
            Some(json!({})),
        )
        .await;
        assert_eq!(st, 400, "nothing left to withdraw");
    }
    s.stop().await;
}

const HALL: &str = "340522-ZWFWZX";

#[tokio::test]
async fn a_comprehensive_window_receives_for_every_department_and_hands_over() {
    let s = Stack::start().await;
    let (bundle, item_a, item_b) = bundle_of_two(&s).await;
    let cat = s.token("cat-admin", &["catalog_admin"], None);
    // An item the hall does not receive.
    let body = item_body(DEPT_A, &uscc("11340522MB0000001"), 3, "食品生产许可");
    let item_c = body["code"].as_str().unwrap().to_string();
    let (st, v) = send(&s, "POST", "/v1/items", Some(&cat), Some(body)).await;
    assert_eq!(st, 201, "{v}");
    send(
        &s,
        "POST",
        &format!("/v1/items/{item_c}/publish"),
        Some(&cat),
        None,
    )
    .await;

    // The hall, its windows, and what its comprehensive window receives (进驻事项).
    let hall = json!({"code": HALL, "name": "含山县政务服务中心", "level": "county", "region_code": "340522",
        "address": "环峰镇褒禅山路", "windows": [
            {"number": "A01", "name": "综合受理一号窗", "kind": "comprehensive"},
            {"number": "A02", "name": "综合受理二号窗", "kind": "comprehensive"},
            {"number": "B01", "name": "市场监管窗口", "kind": "department", "department": DEPT_A}]});
    let mut bad = hall.clone();
    bad["windows"][0]["kind"] = json!("vip");
    let (st, v) = send(&s, "POST", "/v1/halls", Some(&cat), Some(bad)).await;
    assert_eq!(
        (st, violation_field(&v)),
        (400, "windows[0].kind".to_string()),
        "{v}"
    );
    let (st, v) = send(&s, "POST", "/v1/halls", Some(&cat), Some(hall)).await;
    assert_eq!(st, 201, "{v}");
    let items = format!("/v1/halls/{HALL}/items");
    let (st, v) = send(
        &s,
        "PUT",
        &items,
        Some(&cat),
        Some(json!({"item_codes": [item_a, "99999999NOSUCH"]})),
    )
    .await;
    assert_eq!(
        (st, violation_field(&v)),
        (400, "item_codes[1]".to_string()),
        "{v}"
    );
    let (st, v) = send(
        &s,
        "PUT",
        &items,
        Some(&cat),
        Some(json!({"item_codes": [item_a, item_b]})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let (st, h) = send(&s, "GET", &format!("/v1/halls/{HALL}"), None, None).await;
    assert_eq!(st, 200);
    assert_eq!(h["items"].as_array().unwrap().len(), 2);
    assert_eq!(h["windows"].as_array().unwrap().len(), 3);

    let window = s.token("window-1", &["window_clerk"], Some(HALL));
    let other_window = s.token("window-9", &["window_clerk"], Some("340522-OTHER"));
    let officer_b = s.token("officer-b", &["officer"], Some(DEPT_B));
    let filing = |item: &str| {
        json!({"item_code": item, "channel": "window",
        "applicant": {"kind": "legal_person", "name": "含山县好味餐饮有限公司",
                      "uscc": uscc("91340522MA2000001"), "phone": "13812345678"}})
    };
    // Received for another department at the window; not for items the hall does not receive.
    let (st, v) = send(
        &s,
        "POST",
        "/v1/cases",
        Some(&window),
        Some(filing(&item_c)),
    )
    .await;
    assert_eq!(st, 403, "{v}");
    let (st, c) = send(
        &s,
        "POST",
        "/v1/cases",
        Some(&window),
        Some(filing(&item_b)),
    )
    .await;
    assert_eq!(st, 201, "{c}");
    assert_eq!(
        (c["department"].as_str(), c["hall"].as_str()),
        (Some(DEPT_B), Some(HALL))
    );
    let id = c["id"].as_str().unwrap().to_string();
    let (st, _) = send(
        &s,
        "GET",
        &format!("/v1/cases/{id}"),
        Some(&other_window),
        None,
    )
    .await;
    assert_eq!(st, 404, "another hall's window sees nothing");

    // 形式受理 at the window; the department's back office takes it up (部门开始办理), decides;
    // the window delivers (综合出件).
    post_ok(&s, &format!("/v1/cases/{id}/accept"), &window, json!({})).await;
    let (st, _) = send(
        &s,
        "POST",
        &format!("/v1/cases/{id}/decide"),
        Some(&window),
        Some(json!({"outcome": "approved"})),
    )
    .await;
    assert_eq!(st, 403, "the window does not decide");
    post_ok(&s, &format!("/v1/cases/{id}/start"), &officer_b, json!({})).await;
    post_ok(&s, &format!("/v1/cases/{id}/start"), &officer_b, json!({})).await;
    post_ok(
        &s,
        &format!("/v1/cases/{id}/decide"),
        &officer_b,
        json!({"outcome": "approved"}),
    )
    .await;
    let done = post_ok(
        &s,
        &format!("/v1/cases/{id}/deliver"),
        &window,
        json!({"method": "window"}),
    )
    .await;
    assert_eq!(done["state"], "delivered");
    let (_, h) = send(
        &s,
        "GET",
        &format!("/v1/cases/{id}/history"),
        Some(&officer_b),
        None,
    )
    .await;
    let steps: Vec<(String, String, String)> = h["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["action"].as_str().unwrap().into(),
                t["actor"].as_str().unwrap().into(),
                t["hall"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want: Vec<(String, String, String)> = [
        ("file", "window-1", HALL),
        ("accept", "window-1", HALL),
        ("start_handling", "officer-b", ""),
        ("decide", "officer-b", ""),
        ("deliver", "window-1", HALL),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(steps, want, "every hand-over with actor and hall");
    let province = s.token("province-exchange", &["system"], None);
    // A record shows once every transaction begun before it has ended (any test's, on a shared
    // server): wait for the last one.
    let mut codes: Vec<u64> = Vec::new();
    for _ in 0..100 {
        let (_, feed) = send(
            &s,
            "GET",
            "/v1/process-records?page_size=100",
            Some(&province),
            None,
        )
        .await;
        codes = feed["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["case_id"] == json!(id))
            .map(|r| r["code"].as_u64().unwrap())
            .collect();
        if codes.len() >= 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(codes, vec![1, 3, 8, 11, 16]);

    // A bundle received at the window; two clerks accept it at once: one does, for every member.
    let window2 = s.token("window-2", &["window_clerk"], Some(HALL));
    let (st, app) = send(
        &s,
        "POST",
        "/v1/applications",
        Some(&window),
        Some(application_body(&bundle)),
    )
    .await;
    assert_eq!(st, 201, "{app}");
    let app_id = app["id"].as_str().unwrap().to_string();
    let accept = format!("/v1/applications/{app_id}/accept");
    let ((s1, v1), (s2, v2)) = tokio::join!(
        send(&s, "POST", &accept, Some(&window), Some(json!({}))),
        send(&s, "POST", &accept, Some(&window2), Some(json!({}))),
    );
    let mut statuses = [s1, s2];
    statuses.sort();
    assert_eq!(statuses, [200, 400], "{v1} {v2}");
    let loser = if s1 == 400 { &v1 } else { &v2 };
    assert_eq!(loser["error"]["details"][0]["reason"], "APPLICATION_STATE");
    let (_, app) = send(
        &s,
        "GET",
        &format!("/v1/applications/{app_id}"),
        Some(&window),
        None,
    )
    .await;
    assert_eq!(app["state"], "accepted", "{app}");
    s.stop().await;
}

#[tokio::test]
async fn tickets_come_in_at_every_door_are_split_transferred_answered_and_supervised() {
    let mut cfg = test_config(10_000).await;
    cfg.overdue_sweep_secs = 1;
    let s = Stack::start_with(cfg).await;
    seed_department(&s).await;
    org_unit(
        &s,
        DEPT_B,
        "含山县卫生健康委员会",
        "department",
        "11340522MB0000002",
    )
    .await;
    org_unit(
        &s,
        DEPT_C,
        "含山县住房和城乡建设局",
        "department",
        "11340522MB0000003",
    )
    .await;
    let window = s.token("window-1", &["window_clerk"], Some(HALL));
    let website = s.token("website-system", &["system"], None);
    let citizen = s.token("citizen-1", &["citizen"], None);
    let supervisor = s.token("supervisor-1", &["supervisor"], None);
    let officer_a = s.token("officer-a", &["officer"], Some(DEPT_A));
    let officer_b = s.token("officer-b", &["officer"], Some(DEPT_B));
    let officer_c = s.token("officer-c", &["officer"], Some(DEPT_C));
    let ticket = |source: &str| {
        json!({"kind": "complaint", "subject": "办不成事：餐馆开业", "body": "两个部门互相推诿",
        "source": source, "contact_name": "王女士", "contact_phone": "13912345678"})
    };

    // Each door its own registrar; a ticket registered on a citizen's behalf names whom to answer.
    for (token, body, field) in [
        (&citizen, ticket("leader_mailbox"), "source"),
        (&window, ticket("hotline_12345"), "source"),
        (&website, ticket("window_complaint"), "source"),
        (
            &window,
            json!({"kind": "complaint", "subject": "s", "body": "b", "source": "window_complaint"}),
            "contact_name",
        ),
        (
            &window,
            json!({"kind": "complaint", "subject": "s", "body": "b", "source": "window_complaint",
            "contact_name": "王女士", "contact_phone": "123"}),
            "contact_phone",
        ),
    ] {
        let (st, v) = send(&s, "POST", "/v1/tickets", Some(token), Some(body)).await;
        assert_eq!((st, violation_field(&v)), (400, field.to_string()), "{v}");
    }
    let (st, mailbox) = send(
        &s,
        "POST",
        "/v1/tickets",
        Some(&website),
        Some(ticket("leader_mailbox")),
    )
    .await;
    assert_eq!(
        (st, mailbox["source"].as_str()),
        (201, Some("leader_mailbox")),
        "{mailbox}"
    );
    let (st, t) = send(
        &s,
        "POST",
        "/v1/tickets",
        Some(&window),
        Some(ticket("window_complaint")),
    )
    .await;
    assert_eq!(st, 201, "{t}");
    assert_eq!(
        (t["registered_by"].as_str(), t["contact_phone"].as_str()),
        (Some("window-1"), Some("13912345678"))
    );
    let id = t["id"].as_str().unwrap().to_string();

    // 分办 to two departments, one reply each; one transfers its part (转办).
    let (st, t) = send(
        &s,
        "POST",
        &format!("/v1/tickets/{id}/dispatch"),
        Some(&supervisor),
        Some(json!({"departments": [DEPT_A, DEPT_B, DEPT_A], "reply_working_days": 3})),
    )
    .await;
    assert_eq!(
        (st, violation_field(&t)),
        (400, "departments[2]".to_string()),
        "{t}"
    );
    let t = post_ok(
        &s,
        &format!("/v1/tickets/{id}/dispatch"),
        &supervisor,
        json!({"departments": [DEPT_A, DEPT_B], "reply_working_days": 3}),
    )
    .await;
    assert_eq!(t["assignments"].as_array().unwrap().len(), 2);
    let (_, seen) = send(
        &s,
        "GET",
        &format!("/v1/tickets/{id}"),
        Some(&officer_a),
        None,
    )
    .await;
    assert_eq!(
        seen["contact_phone"], "13912345678",
        "the answering department calls back"
    );
    let (_, seen) = send(
        &s,
        "GET",
        &format!("/v1/tickets/{id}"),
        Some(&supervisor),
        None,
    )
    .await;
    assert_eq!(seen["contact_phone"], "139****5678");
    let t = post_ok(
        &s,
        &format!("/v1/tickets/{id}/reply"),
        &officer_a,
        json!({"text": "市场监管局已受理开业登记"}),
    )
    .await;
    assert_eq!(t["state"], "dispatched", "B has not answered yet");
    let (st, _) = send(
        &s,
        "POST",
        &format!("/v1/tickets/{id}/reply"),
        Some(&officer_a),
        Some(json!({"text": "again"})),
    )
    .await;
    assert_eq!(st, 400, "one reply per department");
    let t = post_ok(
        &s,
        &format!("/v1/tickets/{id}/transfer"),
        &officer_b,
        json!({"to_department": DEPT_C, "text": "消防审验属住建局"}),
    )
    .await;
    let part = t["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["department"] == DEPT_C)
        .unwrap()
        .clone();
    assert_eq!(part["transferred_from"], DEPT_B);
    let (st, _) = send(
        &s,
        "POST",
        &format!("/v1/tickets/{id}/reply"),
        Some(&officer_b),
        Some(json!({"text": "x"})),
    )
    .await;
    assert_eq!(st, 404, "B holds no part any more");
    let t = post_ok(
        &s,
        &format!("/v1/tickets/{id}/reply"),
        &officer_c,
        json!({"text": "住建局将于三日内完成消防验收"}),
    )
    .await;
    assert_eq!(t["state"], "replied");
    assert!(
        t["reply"].as_str().unwrap().contains("消防验收")
            && t["reply"].as_str().unwrap().contains("开业登记"),
        "{t}"
    );
    post_ok(
        &s,
        &format!("/v1/tickets/{id}/callback"),
        &supervisor,
        json!({"text": "满意", "satisfied": true}),
    )
    .await;
    post_ok(
        &s,
        &format!("/v1/tickets/{id}/close"),
        &supervisor,
        json!({"text": "办结"}),
    )
    .await;
    let (_, mine) = send(&s, "GET", "/v1/tickets", Some(&window), None).await;
    assert_eq!(
        mine["tickets"].as_array().unwrap().len(),
        1,
        "the window follows what it registered"
    );

    // A part unanswered past its deadline opens one 督办 notice to that department.
    post_ok(
        &s,
        &format!("/v1/tickets/{}/dispatch", mailbox["id"].as_str().unwrap()),
        &supervisor,
        json!({"departments": [DEPT_A, DEPT_B], "reply_working_days": 1}),
    )
    .await;
    let db = sqlx::PgPool::connect(&s.cfg.service_database_url("cases"))
        .await
        .unwrap();
    sqlx::query(
        "UPDATE ticket_assignments SET reply_deadline = now() - interval '1 minute'
                  WHERE ticket_id = $1::uuid AND department = $2",
    )
    .bind(mailbox["id"].as_str().unwrap())
    .bind(DEPT_B)
    .execute(&db)
    .await
    .unwrap();
    db.close().await;
    let mut notices = Value::Null;
    for _ in 0..100 {
        let (_, v) = send(
            &s,
            "GET",
            "/v1/supervision/notices",
            Some(&supervisor),
            None,
        )
        .await;
        if v["notices"].as_array().is_some_and(|n| !n.is_empty()) {
            notices = v;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let list = notices["notices"].as_array().expect("a 督办 notice");
    assert_eq!(list.len(), 1, "{notices}");
    assert_eq!(
        (list[0]["subject"].as_str(), list[0]["department"].as_str()),
        (Some("ticket"), Some(DEPT_B))
    );
    assert_eq!(list[0]["case_id"], mailbox["id"]);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (_, v) = send(
        &s,
        "GET",
        "/v1/supervision/notices",
        Some(&supervisor),
        None,
    )
    .await;
    assert_eq!(v["notices"].as_array().unwrap().len(), 1, "once");

    // Rates by door.
    let period = stats_around_now();
    let (_, stats) = send(&s, "GET", &period, Some(&supervisor), None).await;
    let w = &stats["tickets_by_source"]["window_complaint"];
    assert_eq!(
        (
            w["submitted"].as_u64(),
            w["dispatch_rate"].as_f64(),
            w["closure_rate"].as_f64(),
            w["satisfaction_rate"].as_f64()
        ),
        (Some(1), Some(100.0), Some(100.0), Some(100.0)),
        "{stats}"
    );
    let m = &stats["tickets_by_source"]["leader_mailbox"];
    assert_eq!(
        (m["submitted"].as_u64(), m["reply_rate"].as_f64()),
        (Some(1), Some(0.0)),
        "{stats}"
    );
    s.stop().await;
}

#[tokio::test]
async fn cross_province_cases_name_a_partner_region_and_the_direction() {
    let s = Stack::start().await;
    let cat = s.token("cat-admin", &["catalog_admin"], None);
    seed_department(&s).await;
    let mut body = item_body(DEPT_A, &uscc("11340522MB0000001"), 1, "食品经营许可证核发");
    body["channels"] = json!(["online", "window", "cross_province"]);
    let item = body["code"].as_str().unwrap().to_string();
    let (st, v) = send(&s, "POST", "/v1/items", Some(&cat), Some(body)).await;
    assert_eq!(st, 201, "{v}");
    send(
        &s,
        "POST",
        &format!("/v1/items/{item}/publish"),
        Some(&cat),
        None,
    )
    .await;
    // The agreements are data an administrator keeps; anyone may read them.
    let (st, _) = send(
        &s,
        "PUT",
        "/v1/partner-regions/320114",
        Some(&cat),
        Some(json!({"name": "江苏省南京市雨花台区"})),
    )
    .await;
    assert_eq!(st, 403);
    let (st, v) = send(
        &s,
        "PUT",
        "/v1/partner-regions/32011",
        Some(&s.admin()),
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(
        (st, violation_field(&v)),
        (400, "region_code".to_string()),
        "{v}"
    );
    let (st, v) = send(&s, "PUT", "/v1/partner-regions/320114", Some(&s.admin()),
        Some(json!({"name": "江苏省南京市雨花台区", "agreement": "长三角跨省通办合作协议", "since": "2021-06-01"}))).await;
    assert_eq!(st, 200, "{v}");
    let (_, list) = send(&s, "GET", "/v1/partner-regions", None, None).await;
    assert_eq!(list["regions"][0]["since"], "2021-06-01");

    let enterprise = s.token("enterprise-1", &["enterprise"], None);
    let filing = |cp: Value| {
        json!({"item_code": item, "channel": "cross_province", "cross_province": cp,
        "applicant": {"kind": "legal_person", "name": "南京好味餐饮有限公司", "uscc": uscc("91320114MA2000001"),
                      "phone": "13812345678"}})
    };
    for (cp, field) in [
        (Value::Null, "cross_province"),
        (
            json!({"partner_region": "371326", "direction": "here_for_there"}),
            "cross_province.partner_region",
        ),
        (
            json!({"partner_region": "320114", "direction": "sideways"}),
            "cross_province.direction",
        ),
    ] {
        let (st, v) = send(&s, "POST", "/v1/cases", Some(&enterprise), Some(filing(cp))).await;
        assert_eq!((st, violation_field(&v)), (400, field.to_string()), "{v}");
    }
    let (st, c) = send(
        &s,
        "POST",
        "/v1/cases",
        Some(&enterprise),
        Some(filing(
            json!({"partner_region": "320114", "direction": "there_for_here"}),
        )),
    )
    .await;
    assert_eq!(st, 201, "{c}");
    assert_eq!(
        c["cross_province"],
        json!({"partner_region": "320114", "direction": "there_for_here"})
    );
    let mut online = filing(json!({"partner_region": "320114", "direction": "there_for_here"}));
    online["channel"] = json!("online");
    let (st, v) = send(&s, "POST", "/v1/cases", Some(&enterprise), Some(online)).await;
    assert_eq!(
        (st, violation_field(&v)),
        (400, "cross_province".to_string()),
        "{v}"
    );
    let supervisor = s.token("supervisor-1", &["supervisor"], None);
    let period = stats_around_now();
    let (_, stats) = send(&s, "GET", &period, Some(&supervisor), None).await;
    assert_eq!(
        stats["cross_province"]["320114:there_for_here"], 1,
        "{stats}"
    );
    s.stop().await;
}

/// The demo's 督办 notices come from its really overdue cases, through the platform's own
/// events, so each names a case that exists.
#[tokio::test]
async fn demo_oversight_notices_point_at_real_overdue_cases() {
    let mut cfg = test_config(10_000).await;
    cfg.overdue_sweep_secs = 1;
    let s = Stack::start_with(cfg).await;
    let pool = sqlx::PgPool::connect(&s.cfg.service_database_url("cases"))
        .await
        .unwrap();
    let calendar = yiwang_cases::store::load_calendar(&pool).await.unwrap();
    let key = yiwang_kit::crypto::DataKey::development();
    let items: Vec<yiwang_cases::seed::DemoItem> = (1..=3)
        .map(|n| yiwang_cases::seed::DemoItem {
            code: format!("11340522MB00000014000101{n:06}"),
            name: format!("演示事项{n}"),
            department: DEPT_A.to_string(),
            task_type: "01".into(),
            required_materials: vec![],
            limit: yiwang_cases::calendar::Limit::new(1, yiwang_cases::calendar::Unit::WorkingDays),
            high_frequency: n == 1,
        })
        .collect();
    let loaded = yiwang_cases::seed::load_demo(
        &pool,
        &key,
        &calendar,
        "340522",
        &items,
        3_000,
        chrono::Utc::now(),
    )
    .await
    .unwrap()
    .expect("loaded into an empty database");
    assert!(loaded.cases > 0);
    let overdue: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM cases WHERE clock = 'running' AND deadline < now()",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(overdue > 0, "the demo has overdue cases");
    let supervisor = s.token("supervisor-1", &["supervisor"], None);
    // More cases fall overdue while the test runs: wait until every case announced so far has
    // its notice, and no more than those.
    let mut notices = Vec::new();
    let mut announced = 0;
    for _ in 0..200 {
        let (_, v) = send(
            &s,
            "GET",
            "/v1/supervision/notices?page_size=100",
            Some(&supervisor),
            None,
        )
        .await;
        notices = v["notices"].as_array().cloned().unwrap_or_default();
        announced =
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM cases WHERE overdue_notified")
                .fetch_one(&pool)
                .await
                .unwrap();
        if announced >= overdue && notices.len() as i64 == announced.min(100) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(announced >= overdue, "every overdue case announced");
    assert_eq!(
        notices.len() as i64,
        announced.min(100),
        "one notice per announced overdue case"
    );
    for n in notices.iter().take(10) {
        let (st, c) = send(
            &s,
            "GET",
            &format!("/v1/cases/{}", n["case_id"].as_str().unwrap()),
            Some(&supervisor),
            None,
        )
        .await;
        assert_eq!(st, 200, "the notice names a real case: {n}");
        assert_eq!(c["case_number"], n["case_number"]);
    }
    pool.close().await;
    s.stop().await;
}

/// `yiwang up --demo`'s catalogue: the county with its hall, whose comprehensive windows receive
/// every window item, and the 7×24 area's terminal with 72 items; loaded once.
#[tokio::test]
async fn the_demo_catalogue_has_its_hall_windows_and_terminal() {
    let s = Stack::start().await;
    let pool = sqlx::PgPool::connect(&s.cfg.service_database_url("catalog"))
        .await
        .unwrap();
    let loaded = yiwang_catalog::seed::load_demo(&pool)
        .await
        .unwrap()
        .expect("an empty catalogue loads the demo");
    assert_eq!(loaded.items, 8_120);
    let (st, hall) = send(
        &s,
        "GET",
        &format!("/v1/halls/{}", yiwang_catalog::seed::DEMO_HALL),
        None,
        None,
    )
    .await;
    assert_eq!(st, 200, "{hall}");
    let received = hall["items"].as_array().unwrap().len();
    assert!(
        received > 1_000,
        "{received} items at the comprehensive windows"
    );
    assert!(
        hall["windows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["kind"] == "comprehensive")
            .count()
            >= 6
    );
    let (st, t) = send(&s, "GET", "/v1/terminals/340522-T01", None, None).await;
    assert_eq!(st, 200, "{t}");
    assert_eq!(t["items"].as_array().unwrap().len(), 72);
    assert_eq!(t["hall"], yiwang_catalog::seed::DEMO_SELF_SERVICE_HALL);
    assert!(
        yiwang_catalog::seed::load_demo(&pool)
            .await
            .unwrap()
            .is_none(),
        "loaded once"
    );
    pool.close().await;
    s.stop().await;
}
