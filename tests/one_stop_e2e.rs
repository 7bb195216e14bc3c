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
    let period = format!(
        "/v1/cases/stats?from={}&to={}",
        (chrono::Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ"),
        (chrono::Utc::now() + chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ")
    );
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
