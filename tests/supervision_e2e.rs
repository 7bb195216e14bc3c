//! Supervision end to end through the gateway: the catalogue and claims, registers, 双随机 plans
//! (reproducible, verifiable, immutable, conflict-free), inspection records and permissions,
//! 审管联动 from licence decisions (exactly once), 督办 from overdue cases, publication, stats.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const DEPT_A: &str = "340522-SCJGJ";
const DEPT_B: &str = "340522-WJW";
const S1: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const S2: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

struct People {
    supervisor: String,
    officer_a: String,
    officer_b: String,
    inspector_a: String,
    inspector_b: String,
}

fn people(s: &Stack) -> People {
    People {
        supervisor: s.token("supervisor-1", &["supervisor"], None),
        officer_a: s.token("officer-a", &["officer"], Some(DEPT_A)),
        officer_b: s.token("officer-b", &["officer"], Some(DEPT_B)),
        inspector_a: s.token("inspector-a", &["inspector"], Some(DEPT_A)),
        inspector_b: s.token("inspector-b", &["inspector"], Some(DEPT_B)),
    }
}

fn item_code(n: u32) -> String {
    format!("34052200{n:06}")
}

async fn ok(s: &Stack, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
    let (st, v) = send(s, method, path, Some(token), body).await;
    assert!((200..300).contains(&st), "{method} {path}: {st} {v}");
    v
}

/// Items `n..n+k` of `dept`, claimed by it.
async fn claimed_items(
    s: &Stack,
    p: &People,
    dept: &str,
    officer: &str,
    first: u32,
    k: u32,
) -> Vec<String> {
    let mut codes = vec![];
    for n in first..first + k {
        let code = item_code(n);
        ok(
            s,
            "POST",
            "/v1/supervision/items",
            &p.supervisor,
            Some(json!({"code": code, "name": format!("对食品经营活动的监督检查{n}"), "admin_type": "0",
                "legal_basis": "《中华人民共和国食品安全法》第一百一十条", "department": dept})),
        )
        .await;
        let item = ok(
            s,
            "POST",
            &format!("/v1/supervision/items/{code}/claim"),
            officer,
            None,
        )
        .await;
        assert_eq!(item["claimed_by"], json!([dept]), "{item}");
        codes.push(code);
    }
    codes
}

/// `n` entities of an industry; returns their ids.
async fn entities(s: &Stack, p: &People, first: u32, n: u32, industry: &str) -> Vec<i64> {
    let mut ids = vec![];
    for k in first..first + n {
        let e = ok(
            s,
            "POST",
            "/v1/supervision/entities",
            &p.supervisor,
            Some(json!({"name": format!("含山县测试{k}有限公司"), "kind": "legal_person",
                "uscc": uscc(&format!("9134052200000{k:04}")), "industry": industry, "region": "340522",
                "address": "环峰镇人民路1号", "risk_level": "medium"})),
        )
        .await;
        ids.push(e["id"].as_i64().unwrap());
    }
    ids
}

/// `n` active inspectors of `dept`; returns (id, certificate number).
async fn inspectors(
    s: &Stack,
    officer: &str,
    dept: &str,
    first: u32,
    n: u32,
) -> Vec<(i64, String)> {
    let mut out = vec![];
    for k in first..first + n {
        let cert = format!("CERT-{k:05}");
        let i = ok(
            s,
            "POST",
            "/v1/supervision/inspectors",
            officer,
            Some(
                json!({"name": format!("检查员{k}"), "department": dept, "certificate_number": cert,
                "post_type": "enforcement"}),
            ),
        )
        .await;
        out.push((i["id"].as_i64().unwrap(), cert));
    }
    out
}

async fn plan(
    s: &Stack,
    token: &str,
    dept: &str,
    items: &[String],
    industry: &str,
    count: u32,
) -> String {
    let p = ok(
        s,
        "POST",
        "/v1/supervision/plans",
        token,
        Some(json!({"name": "2026年度食品经营双随机抽查", "department": dept, "item_codes": items,
            "entity_filter": {"industry": industry}, "sample_count": count, "inspectors_per_target": 2})),
    )
    .await;
    assert_eq!(p["state"], "draft");
    p["id"].as_str().unwrap().to_string()
}

async fn draw(s: &Stack, token: &str, id: &str, seed: &str) -> Value {
    ok(
        s,
        "POST",
        &format!("/v1/supervision/plans/{id}/draw"),
        token,
        Some(json!({"seed": seed})),
    )
    .await
}

#[tokio::test]
async fn draws_are_reproducible_verifiable_published_and_immutable() {
    let s = Stack::start().await;
    let p = people(&s);
    let items = claimed_items(&s, &p, DEPT_A, &p.officer_a, 1, 3).await;
    entities(&s, &p, 1, 30, "餐饮服务").await;
    inspectors(&s, &p.officer_a, DEPT_A, 1, 6).await;

    // Same inputs (no previous round: different item sets), same seed → same picks.
    let a = plan(&s, &p.officer_a, DEPT_A, &items[0..1], "餐饮服务", 8).await;
    let b = plan(&s, &p.officer_a, DEPT_A, &items[1..2], "餐饮服务", 8).await;
    let c = plan(&s, &p.officer_a, DEPT_A, &items[2..3], "餐饮服务", 8).await;
    let da = draw(&s, &p.officer_a, &a, S1).await;
    let db = draw(&s, &p.officer_a, &b, S1).await;
    let dc = draw(&s, &p.officer_a, &c, S2).await;
    assert_eq!(da["state"], "drawn");
    assert_eq!(da["seed"], S1);
    assert_eq!(da["algorithm"], "yiwang-draw-v1");
    assert_eq!(da["picks"].as_array().unwrap().len(), 8);
    assert_eq!(da["candidate_count"], 30);
    assert_eq!(da["picks"], db["picks"], "same inputs, same seed");
    assert_ne!(da["picks"], dc["picks"], "another seed, other picks");
    for pick in da["picks"].as_array().unwrap() {
        assert_eq!(pick["inspector_ids"].as_array().unwrap().len(), 2);
    }

    // Immutable once drawn: no second draw, no change.
    let (st, e) = send(
        &s,
        "POST",
        &format!("/v1/supervision/plans/{a}/draw"),
        Some(&p.officer_a),
        None,
    )
    .await;
    assert_eq!(st, 400, "{e}");
    assert_eq!(e["error"]["status"], "FAILED_PRECONDITION");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("drawn"),
        "{e}"
    );
    let (st, e) = send(
        &s,
        "PATCH",
        &format!("/v1/supervision/plans/{a}"),
        Some(&p.officer_a),
        Some(json!({"name": "改", "item_codes": [items[0]], "sample_count": 1})),
    )
    .await;
    assert_eq!(st, 400, "{e}");
    assert_eq!(e["error"]["details"][0]["reason"], "PLAN_DRAWN");

    // A default draw takes its seed from the OS: 64 hex digits, stored and returned.
    let d = plan(&s, &p.officer_a, DEPT_A, &items[0..2], "餐饮服务", 3).await;
    let dd = ok(
        &s,
        "POST",
        &format!("/v1/supervision/plans/{d}/draw"),
        &p.officer_a,
        None,
    )
    .await;
    assert_eq!(dd["seed"].as_str().unwrap().len(), 64);
    assert_ne!(dd["seed"], S1);

    // Before publication the draw is the department's; afterwards everyone's.
    let (st, _) = send(
        &s,
        "GET",
        &format!("/v1/supervision/plans/{a}/draw"),
        None,
        None,
    )
    .await;
    assert_eq!(st, 404);
    let published = ok(
        &s,
        "POST",
        &format!("/v1/supervision/plans/{a}/publish"),
        &p.officer_a,
        None,
    )
    .await;
    assert_eq!(published["state"], "published");
    let (st, pubs) = send(&s, "GET", "/v1/supervision/publications", None, None).await;
    assert_eq!(st, 200);
    assert!(
        pubs["publications"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["plan_id"] == json!(a) && x["kind"] == "plan"),
        "{pubs}"
    );
    let (st, v) = send(
        &s,
        "POST",
        &format!("/v1/supervision/plans/{a}/verify"),
        None,
        None,
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["matches"], true);

    // A client re-runs the draw from the published document.
    let (st, doc) = send(
        &s,
        "GET",
        &format!("/v1/supervision/plans/{a}/draw"),
        None,
        None,
    )
    .await;
    assert_eq!(st, 200, "{doc}");
    assert_eq!(doc["seed"], S1);
    assert_eq!(doc["entity_ids"].as_array().unwrap().len(), 30);
    assert_eq!(doc["picks"], da["picks"]);
    let (st, v) = send(
        &s,
        "POST",
        "/v1/supervision/draws/verify",
        None,
        Some(doc.clone()),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["matches"], true);
    assert_eq!(v["picks"], da["picks"]);
    // And locally, with the pure function and with the launcher's CLI.
    let inputs: yiwang_supervision::draw::Inputs = serde_json::from_value(doc.clone()).unwrap();
    let local = yiwang_supervision::draw::draw(&inputs).unwrap();
    assert_eq!(serde_json::to_value(&local).unwrap(), da["picks"]);
    let dir = std::env::temp_dir().join(format!("yiwang-draw-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("published.json");
    std::fs::write(&good, doc.to_string()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_yiwang"))
        .args(["verify-draw", good.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["picks"], da["picks"]);
    // A tampered document does not verify.
    let mut tampered = doc.clone();
    tampered["picks"][0]["entity_id"] = json!(999_999);
    let (_, v) = send(
        &s,
        "POST",
        "/v1/supervision/draws/verify",
        None,
        Some(tampered.clone()),
    )
    .await;
    assert_eq!(v["matches"], false);
    let bad = dir.join("tampered.json");
    std::fs::write(&bad, tampered.to_string()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_yiwang"))
        .args(["verify-draw", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a mismatch exits non-zero");
    std::fs::remove_dir_all(&dir).ok();

    // The routes are in the OpenAPI document.
    let (_, api) = send(&s, "GET", "/openapi.json", None, None).await;
    for path in [
        "/v1/supervision/plans/{id}/draw",
        "/v1/supervision/draws/verify",
        "/v1/supervision/stats",
    ] {
        assert!(
            api["paths"].get(path).is_some(),
            "{path} missing from /openapi.json"
        );
    }
    // Named apart from the other services' schemas of the same name.
    let schemas = &api["components"]["schemas"];
    assert!(
        schemas["supervision.Plan"]["properties"]
            .get("picks")
            .is_some(),
        "{schemas}"
    );
    assert!(schemas.get("supervision.Item").is_some());
    s.stop().await;
}

#[tokio::test]
async fn conflicts_of_interest_are_excluded_and_small_pools_are_refused() {
    let s = Stack::start().await;
    let p = people(&s);
    let items = claimed_items(&s, &p, DEPT_A, &p.officer_a, 1, 1).await;
    let ents = entities(&s, &p, 1, 4, "药品零售").await;
    let insp = inspectors(&s, &p.officer_a, DEPT_A, 1, 5).await;
    // Inspector 1 is related to entity 1.
    ok(
        &s,
        "POST",
        &format!("/v1/supervision/inspectors/{}/relations", insp[0].0),
        &p.officer_a,
        Some(json!({"entity_id": ents[0], "relation": "亲属关系"})),
    )
    .await;

    let first = plan(&s, &p.officer_a, DEPT_A, &items, "药品零售", 4).await;
    let d1 = draw(&s, &p.officer_a, &first, S1).await;
    assert_eq!(d1["exclusion_count"], 1);
    let pairs = |d: &Value| -> HashMap<i64, HashSet<i64>> {
        d["picks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["entity_id"].as_i64().unwrap(),
                    p["inspector_ids"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|i| i.as_i64().unwrap())
                        .collect(),
                )
            })
            .collect()
    };
    let round1 = pairs(&d1);
    assert_eq!(round1.len(), 4);
    assert!(
        !round1[&ents[0]].contains(&insp[0].0),
        "the related inspector never inspects the entity"
    );

    // The next round of the same item excludes the previous round's pairs too.
    let second = plan(&s, &p.officer_a, DEPT_A, &items, "药品零售", 4).await;
    let d2 = draw(&s, &p.officer_a, &second, S1).await;
    assert_eq!(d2["previous_plan_id"], json!(first));
    let round2 = pairs(&d2);
    for (e, ins) in &round2 {
        assert!(
            round1[e].is_disjoint(ins),
            "entity {e}: {:?} again in {:?}",
            round1[e],
            ins
        );
        if *e == ents[0] {
            assert!(!ins.contains(&insp[0].0));
        }
    }

    // Three per target in the next round leaves entity 1 only two eligible inspectors (five,
    // less the related one, less the previous round's two): a clear error.
    let third = ok(
        &s,
        "POST",
        "/v1/supervision/plans",
        &p.officer_a,
        Some(
            json!({"name": "第三轮", "item_codes": items, "entity_filter": {"industry": "药品零售"},
            "sample_count": 4, "inspectors_per_target": 3}),
        ),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, e) = send(
        &s,
        "POST",
        &format!("/v1/supervision/plans/{third}/draw"),
        Some(&p.officer_a),
        Some(json!({"seed": S2})),
    )
    .await;
    assert_eq!(st, 400, "{e}");
    assert_eq!(e["error"]["details"][0]["reason"], "POOL_TOO_SMALL");
    assert_eq!(violation_field(&e), "inspectors_per_target");

    // More targets than the pool has: the field and both numbers.
    let big = plan(&s, &p.officer_a, DEPT_A, &items, "药品零售", 100).await;
    let (st, e) = send(
        &s,
        "POST",
        &format!("/v1/supervision/plans/{big}/draw"),
        Some(&p.officer_a),
        None,
    )
    .await;
    assert_eq!(st, 400, "{e}");
    assert_eq!(e["error"]["status"], "FAILED_PRECONDITION");
    assert_eq!(violation_field(&e), "sample_count");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(msg.contains('4') && msg.contains("100"), "{msg}");
    // An empty pool too.
    let none = plan(&s, &p.officer_a, DEPT_A, &items, "殡葬服务", 1).await;
    let (st, e) = send(
        &s,
        "POST",
        &format!("/v1/supervision/plans/{none}/draw"),
        Some(&p.officer_a),
        None,
    )
    .await;
    assert_eq!(st, 400, "{e}");
    assert_eq!(violation_field(&e), "entity_filter");
    s.stop().await;
}

#[tokio::test]
async fn inspectors_file_records_only_for_their_department_and_rectifications_are_tracked() {
    let s = Stack::start().await;
    let p = people(&s);
    let items_b = claimed_items(&s, &p, DEPT_B, &p.officer_b, 1, 1).await;
    let ents = entities(&s, &p, 1, 6, "医疗器械").await;
    let insp_b = inspectors(&s, &p.officer_b, DEPT_B, 1, 3).await;
    let plan_b = plan(&s, &p.officer_b, DEPT_B, &items_b, "医疗器械", 3).await;
    let drawn = draw(&s, &p.officer_b, &plan_b, S1).await;
    let target = drawn["picks"][0]["entity_id"].as_i64().unwrap();
    let not_target = *ents
        .iter()
        .find(|e| {
            !drawn["picks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["entity_id"] == json!(e))
        })
        .unwrap();
    let record = |entity: i64| {
        json!({"plan_id": plan_b, "entity_id": entity, "category": "on_site", "method": "现场检查",
            "result": "no_problem", "inspected_at": "2026-01-05T10:00:00+08:00", "reported_at": "2026-01-05T16:00:00+08:00",
            "inspector_certificates": [insp_b[0].1, insp_b[1].1]})
    };

    // An inspector of department A cannot file for department B's plan; nor can non-inspectors.
    let (st, e) = send(
        &s,
        "POST",
        "/v1/supervision/inspections",
        Some(&p.inspector_a),
        Some(record(target)),
    )
    .await;
    assert_eq!(st, 403, "{e}");
    let (st, _) = send(
        &s,
        "POST",
        "/v1/supervision/inspections",
        Some(&p.officer_b),
        Some(record(target)),
    )
    .await;
    assert_eq!(st, 403);
    let (st, _) = send(
        &s,
        "POST",
        "/v1/supervision/inspections",
        None,
        Some(record(target)),
    )
    .await;
    assert_eq!(st, 401);

    // Bad records, field by field.
    let cases: Vec<(Value, &str)> = vec![
        (
            {
                let mut r = record(target);
                r["reported_at"] = json!("2026-01-05T09:00:00+08:00");
                r
            },
            "reported_at",
        ),
        (
            {
                let mut r = record(target);
                r["reported_at"] = json!("2099-01-05T09:00:00+08:00");
                r
            },
            "reported_at",
        ),
        (
            {
                let mut r = record(target);
                r["inspector_certificates"] = json!([insp_b[0].1]);
                r
            },
            "inspector_certificates",
        ),
        (
            {
                let mut r = record(target);
                r["inspector_certificates"] = json!([insp_b[0].1, "CERT-99999"]);
                r
            },
            "inspector_certificates[1]",
        ),
        (
            {
                let mut r = record(target);
                r["result"] = json!("fine");
                r
            },
            "result",
        ),
        (
            {
                let mut r = record(target);
                r["result"] = json!("ordered_to_rectify");
                r
            },
            "rectification_deadline",
        ),
        (
            {
                let mut r = record(target);
                r["inspected_at"] = json!("yesterday");
                r
            },
            "inspected_at",
        ),
        (
            {
                let mut r = record(target);
                r["category"] = json!("");
                r
            },
            "category",
        ),
        (
            {
                let mut r = record(target);
                r["colour"] = json!("red");
                r
            },
            "colour",
        ),
        (record(not_target), "entity_id"),
    ];
    for (body, field) in cases {
        let (st, e) = send(
            &s,
            "POST",
            "/v1/supervision/inspections",
            Some(&p.inspector_b),
            Some(body),
        )
        .await;
        assert_eq!(st, 400, "{field}: {e}");
        assert_eq!(violation_field(&e), field, "{e}");
    }
    // A deactivated inspector cannot sign.
    ok(
        &s,
        "PATCH",
        &format!("/v1/supervision/inspectors/{}", insp_b[2].0),
        &p.officer_b,
        Some(json!({"active": false})),
    )
    .await;
    let mut r = record(target);
    r["inspector_certificates"] = json!([insp_b[0].1, insp_b[2].1]);
    let (st, e) = send(
        &s,
        "POST",
        "/v1/supervision/inspections",
        Some(&p.inspector_b),
        Some(r),
    )
    .await;
    assert_eq!(st, 400);
    assert_eq!(violation_field(&e), "inspector_certificates[1]");

    // The department's inspector files; an order to rectify is tracked to completion.
    let rec = ok(
        &s,
        "POST",
        "/v1/supervision/inspections",
        &p.inspector_b,
        Some(record(target)),
    )
    .await;
    assert_eq!(rec["form"], "random");
    assert_eq!(rec["item_code"], json!(items_b[0]));
    assert_eq!(rec["inspectors"].as_array().unwrap().len(), 2);
    let mut r = record(drawn["picks"][1]["entity_id"].as_i64().unwrap());
    r["result"] = json!("ordered_to_rectify");
    r["rectification_deadline"] = json!("2026-01-20T17:30:00+08:00");
    let rect = ok(
        &s,
        "POST",
        "/v1/supervision/inspections",
        &p.inspector_b,
        Some(r),
    )
    .await;
    assert_eq!(rect["rectification_state"], "open");
    let id = rect["id"].as_str().unwrap();
    let (st, _) = send(
        &s,
        "POST",
        &format!("/v1/supervision/inspections/{id}/rectification"),
        Some(&p.inspector_a),
        Some(json!({"note": "x"})),
    )
    .await;
    assert_eq!(st, 404, "another department does not see the record");
    let done = ok(
        &s,
        "POST",
        &format!("/v1/supervision/inspections/{id}/rectification"),
        &p.inspector_b,
        Some(json!({"note": "已整改到位"})),
    )
    .await;
    assert_eq!(done["rectification_state"], "completed");
    let (st, _) = send(
        &s,
        "POST",
        &format!("/v1/supervision/inspections/{id}/rectification"),
        Some(&p.inspector_b),
        Some(json!({"note": "again"})),
    )
    .await;
    assert_eq!(st, 400);
    // Department A sees none of B's records; B and supervisors see them.
    let l = ok(
        &s,
        "GET",
        "/v1/supervision/inspections",
        &p.inspector_a,
        None,
    )
    .await;
    assert_eq!(l["inspections"].as_array().unwrap().len(), 0);
    let l = ok(
        &s,
        "GET",
        &format!("/v1/supervision/inspections?plan_id={plan_b}"),
        &p.supervisor,
        None,
    )
    .await;
    assert_eq!(l["inspections"].as_array().unwrap().len(), 2);

    // Statistics: 1 item claimed of 1, no list yet, covered by records.
    let st = ok(
        &s,
        "GET",
        &format!("/v1/supervision/stats?department={DEPT_B}&from=2025-01-01"),
        &p.supervisor,
        None,
    )
    .await;
    assert_eq!(st["items"], 1);
    assert_eq!(st["claim_rate"], 100.0);
    assert_eq!(st["list_rate"], 0.0);
    assert_eq!(st["coverage"], 100.0);
    assert_eq!(st["inspections"], 2);
    assert_eq!(st["rectifications_completed"], 1);
    assert_eq!(st["inspections_by_month"][0]["key"], "2026-01");
    s.stop().await;
}

#[tokio::test]
async fn bad_inputs_are_named_field_by_field() {
    let s = Stack::start().await;
    let p = people(&s);
    let items = claimed_items(&s, &p, DEPT_A, &p.officer_a, 1, 1).await;
    let good_item = json!({"code": item_code(50), "name": "对药品经营的检查", "admin_type": "0",
        "legal_basis": "《药品管理法》", "department": DEPT_A});
    let with = |base: &Value, k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    for (body, field) in [
        (with(&good_item, "code", json!("3405220000001")), "code"),
        (with(&good_item, "admin_type", json!("9")), "admin_type"),
        (with(&good_item, "parent_code", json!("abc")), "parent_code"),
        (with(&good_item, "name", json!("")), "name"),
        (with(&good_item, "legal_basis", json!(7)), "legal_basis"),
    ] {
        let (st, e) = send(
            &s,
            "POST",
            "/v1/supervision/items",
            Some(&p.supervisor),
            Some(body),
        )
        .await;
        assert_eq!(st, 400, "{field}: {e}");
        assert_eq!(violation_field(&e), field, "{e}");
    }
    let (st, _) = send(
        &s,
        "POST",
        "/v1/supervision/items",
        Some(&p.officer_a),
        Some(good_item.clone()),
    )
    .await;
    assert_eq!(st, 403, "only supervisors add items");

    let good_entity = json!({"name": "含山县某某餐饮店", "kind": "legal_person", "uscc": uscc("91340522MA0000001"),
        "industry": "餐饮服务", "region": "340522", "risk_level": "low"});
    for (body, field) in [
        (
            with(&good_entity, "uscc", json!("91350100M000100Y44")),
            "uscc",
        ),
        (with(&good_entity, "kind", json!("robot")), "kind"),
        (
            with(&good_entity, "risk_level", json!("extreme")),
            "risk_level",
        ),
        (with(&good_entity, "region", json!("34")), "region"),
        (
            with(
                &with(&good_entity, "kind", json!("person")),
                "id_number",
                json!("110105194912310021"),
            ),
            "id_number",
        ),
    ] {
        let (st, e) = send(
            &s,
            "POST",
            "/v1/supervision/entities",
            Some(&p.supervisor),
            Some(body),
        )
        .await;
        assert_eq!(st, 400, "{field}: {e}");
        assert_eq!(violation_field(&e), field, "{e}");
    }
    // A natural person's ID number is sealed and masked.
    let person = with(
        &with(
            &with(&good_entity, "kind", json!("person")),
            "uscc",
            json!(""),
        ),
        "id_number",
        json!("11010519491231002X"),
    );
    let e = ok(
        &s,
        "POST",
        "/v1/supervision/entities",
        &p.supervisor,
        Some(person.clone()),
    )
    .await;
    assert_eq!(e["id_number"], "1101**********002X");
    let (st, _) = send(
        &s,
        "POST",
        "/v1/supervision/entities",
        Some(&p.supervisor),
        Some(person),
    )
    .await;
    assert_eq!(st, 409, "one register entry per ID number");
    let pool = sqlx::PgPool::connect(&s.cfg.service_database_url("supervision"))
        .await
        .unwrap();
    let leaked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM entities WHERE encode(id_sealed, 'escape') LIKE '%11010519491231002X%' OR id_masked LIKE '%19491231%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(leaked, 0);
    pool.close().await;

    let dept_uscc = uscc("11340522MB0000001");
    let good_list = json!({"code": format!("{dept_uscc}0001"), "item_code": items[0], "agency_uscc": dept_uscc,
        "name": "食品经营检查实施清单", "contents": ["资质证照"], "methods": ["现场检查"], "legal_basis": "《食品安全法》"});
    for (body, field) in [
        (with(&good_list, "code", json!("X0001")), "code"),
        (with(&good_list, "agency_uscc", json!("123")), "agency_uscc"),
        (with(&good_list, "contents", json!([])), "contents"),
        (
            with(&good_list, "item_code", json!(item_code(77))),
            "item_code",
        ),
    ] {
        let (st, e) = send(
            &s,
            "POST",
            "/v1/supervision/check-lists",
            Some(&p.officer_a),
            Some(body),
        )
        .await;
        assert_eq!(st, 400, "{field}: {e}");
        assert_eq!(violation_field(&e), field, "{e}");
    }
    ok(
        &s,
        "POST",
        "/v1/supervision/check-lists",
        &p.officer_a,
        Some(good_list.clone()),
    )
    .await;
    let (st, _) = send(
        &s,
        "POST",
        "/v1/supervision/check-lists",
        Some(&p.officer_b),
        Some(with(&good_list, "department", json!(DEPT_A))),
    )
    .await;
    assert_eq!(st, 403, "another department's officer");

    let good_plan = json!({"name": "抽查", "item_codes": items, "sample_count": 1});
    for (body, field) in [
        (
            with(&good_plan, "inspectors_per_target", json!(1)),
            "inspectors_per_target",
        ),
        (
            with(
                &with(&good_plan, "sample_count", json!(0)),
                "sample_percent",
                json!(150),
            ),
            "sample_percent",
        ),
        (
            with(&good_plan, "sample_percent", json!(10)),
            "sample_count",
        ),
        (
            with(&good_plan, "item_codes", json!([item_code(99)])),
            "item_codes[0]",
        ),
        (
            with(&good_plan, "item_codes", json!(["x"])),
            "item_codes[0]",
        ),
        (
            with(
                &good_plan,
                "entity_filter",
                json!({"risk_levels": ["huge"]}),
            ),
            "entity_filter.risk_levels[0]",
        ),
        (
            with(&good_plan, "entity_filter", json!({"regio": "34"})),
            "entity_filter.regio",
        ),
    ] {
        let (st, e) = send(
            &s,
            "POST",
            "/v1/supervision/plans",
            Some(&p.officer_a),
            Some(body),
        )
        .await;
        assert_eq!(st, 400, "{field}: {e}");
        assert_eq!(violation_field(&e), field, "{e}");
    }
    let id = plan(&s, &p.officer_a, DEPT_A, &items, "餐饮服务", 1).await;
    let (st, e) = send(
        &s,
        "POST",
        &format!("/v1/supervision/plans/{id}/draw"),
        Some(&p.officer_a),
        Some(json!({"seed": "xyz"})),
    )
    .await;
    assert_eq!(st, 400);
    assert_eq!(violation_field(&e), "seed");
    let (st, e) = send(&s, "POST", "/v1/supervision/draws/verify", None, Some(json!({"seed": S1, "entity_ids": [3, 1], "inspector_ids": [1, 2], "targets": 1, "inspectors_per_target": 2}))).await;
    assert_eq!(st, 400);
    assert_eq!(violation_field(&e), "entity_ids");
    let (st, e) = send(
        &s,
        "GET",
        "/v1/supervision/plans/not-a-uuid",
        Some(&p.officer_a),
        None,
    )
    .await;
    assert_eq!(st, 400);
    assert_eq!(violation_field(&e), "id");
    s.stop().await;
}

/// Waits until `GET path` (as `token`) lists `n` entries under `key`.
async fn wait_for(s: &Stack, path: &str, token: &str, key: &str, n: usize) -> Value {
    for _ in 0..200 {
        let (st, v) = send(s, "GET", path, Some(token), None).await;
        if st == 200 && v[key].as_array().map(|a| a.len()) == Some(n) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path} never listed {n} {key}");
}

#[tokio::test]
async fn approved_licences_create_one_follow_up_each_and_overdue_cases_one_notice() {
    let s = Stack::start().await;
    let p = people(&s);
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    let licensee = uscc("91340522MA2000001");
    let enterprise = s.token("enterprise-1", &["enterprise"], None);
    let case_officer = s.token("officer-a", &["officer"], Some(DEPT_A));
    let case_id = file_licence(&s, &enterprise, &case_officer, &item, &licensee).await;
    ok(
        &s,
        "POST",
        &format!("/v1/cases/{case_id}/decide"),
        &case_officer,
        Some(json!({"outcome": "approved"})),
    )
    .await;

    // 审管联动: the licensee is in the register and has one follow-up task.
    let tasks = wait_for(&s, "/v1/supervision/tasks", &p.supervisor, "tasks", 1).await;
    let task = &tasks["tasks"][0];
    assert_eq!(task["case_id"], json!(case_id));
    assert_eq!(task["uscc"], json!(licensee));
    assert_eq!(task["department"], DEPT_A);
    assert_eq!(task["state"], "open");
    let reg = ok(
        &s,
        "GET",
        &format!("/v1/supervision/entities?uscc={licensee}"),
        &p.supervisor,
        None,
    )
    .await;
    assert_eq!(reg["entities"][0]["source"], "licence");

    // The same event delivered again (a duplicate in the stream, and the handler called twice
    // directly, as after a crash before the acknowledgement): still one task.
    let mut redis = redis::Client::open(s.cfg.redis_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let key = format!("{{{}:events}}:cases.case.decided", s.cfg.redis_prefix);
    let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(&key)
        .arg("-")
        .arg("+")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(entries.ids.len(), 1);
    let entry = &entries.ids[0];
    let fields: Vec<(String, String)> = ["id", "topic", "payload", "at"]
        .iter()
        .map(|f| (f.to_string(), entry.get::<String>(f).unwrap()))
        .collect();
    let _: String = redis::cmd("XADD")
        .arg(&key)
        .arg("*")
        .arg(&fields)
        .query_async(&mut redis)
        .await
        .unwrap();
    let pool = sqlx::PgPool::connect(&s.cfg.service_database_url("supervision"))
        .await
        .unwrap();
    let event = yiwang_kit::outbox::Event {
        id: fields[0].1.parse().unwrap(),
        topic: fields[1].1.clone(),
        payload: serde_json::from_str(&fields[2].1).unwrap(),
        occurred_at: chrono::Utc::now(),
        stream_id: "0-0".into(),
    };
    let (a, b) = tokio::join!(
        yiwang_supervision::events::handle(&pool, &event),
        yiwang_supervision::events::handle(&pool, &event),
    );
    a.unwrap();
    b.unwrap();
    // The consumer has handled the duplicate when the group has delivered the newest entry
    // and nothing is pending.
    let newest = entries_last(&mut redis, &key).await;
    for _ in 0..200 {
        let pending: redis::streams::StreamPendingReply = redis::cmd("XPENDING")
            .arg(&key)
            .arg("supervision")
            .query_async(&mut redis)
            .await
            .unwrap();
        let groups: redis::streams::StreamInfoGroupsReply = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(&key)
            .query_async(&mut redis)
            .await
            .unwrap();
        if pending.count() == 0
            && groups
                .groups
                .first()
                .is_some_and(|g| g.last_delivered_id == newest)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 1, "one follow-up task however often the event arrives");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM entities WHERE uscc = $1")
        .bind(&licensee)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 1);

    // A crash mid-way (the effect's transaction begun, never committed) leaves the event
    // unprocessed: the redelivery after the restart creates the task, a further one nothing.
    let mut crashed = event.clone();
    crashed.id = uuid::Uuid::now_v7();
    let other_case = uuid::Uuid::new_v4().to_string();
    crashed.payload["case_id"] = json!(other_case);
    let tx = yiwang_kit::outbox::begin_once(
        &pool,
        yiwang_supervision::events::LICENCE_CONSUMER,
        crashed.id,
    )
    .await
    .unwrap()
    .expect("first delivery");
    drop(tx);
    assert!(
        yiwang_supervision::events::on_case_decided(&pool, &crashed)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        yiwang_supervision::events::on_case_decided(&pool, &crashed)
            .await
            .unwrap()
            .is_none()
    );
    sqlx::query("DELETE FROM tasks WHERE case_id = $1::uuid")
        .bind(&other_case)
        .execute(&pool)
        .await
        .unwrap();

    // A second licence of the same licensee: a second task, the same register entry.
    let second = file_licence(&s, &enterprise, &case_officer, &item, &licensee).await;
    ok(
        &s,
        "POST",
        &format!("/v1/cases/{second}/decide"),
        &case_officer,
        Some(json!({"outcome": "approved"})),
    )
    .await;
    let tasks = wait_for(
        &s,
        "/v1/supervision/tasks?state=open",
        &p.supervisor,
        "tasks",
        2,
    )
    .await;
    assert_eq!(
        tasks["tasks"][0]["entity_id"],
        tasks["tasks"][1]["entity_id"]
    );
    // A denial creates nothing.
    let third = file_licence(&s, &enterprise, &case_officer, &item, &licensee).await;
    ok(
        &s,
        "POST",
        &format!("/v1/cases/{third}/decide"),
        &case_officer,
        Some(json!({"outcome": "denied", "reason": "条件不符"})),
    )
    .await;

    // An inspection of the follow-up completes it.
    claimed_items(&s, &p, DEPT_A, &p.officer_a, 1, 1).await;
    let insp = inspectors(&s, &p.officer_a, DEPT_A, 1, 2).await;
    let task_id = task["id"].as_str().unwrap();
    let rec = ok(
        &s,
        "POST",
        "/v1/supervision/inspections",
        &p.inspector_a,
        Some(json!({"task_id": task_id, "item_code": item_code(1), "category": "on_site", "method": "现场检查",
            "result": "no_problem", "inspected_at": "2026-01-05T10:00:00+08:00",
            "inspector_certificates": [insp[0].1, insp[1].1]})),
    )
    .await;
    assert_eq!(rec["form"], "follow_up");
    let done = ok(
        &s,
        "GET",
        "/v1/supervision/tasks?state=done",
        &p.officer_a,
        None,
    )
    .await;
    assert_eq!(done["tasks"][0]["inspection_id"], rec["id"]);
    let (st, _) = send(
        &s,
        "GET",
        &format!("/v1/supervision/tasks?department={DEPT_B}"),
        Some(&p.officer_a),
        None,
    )
    .await;
    assert_eq!(
        st, 403,
        "an officer lists their own department's tasks only"
    );

    // 督办: an overdue case opens one notice for its department.
    let late = file_licence(&s, &enterprise, &case_officer, &item, &licensee).await;
    let cases_pool = sqlx::PgPool::connect(&s.cfg.service_database_url("cases"))
        .await
        .unwrap();
    sqlx::query("UPDATE cases SET deadline = now() - interval '1 hour' WHERE id = $1::uuid")
        .bind(&late)
        .execute(&cases_pool)
        .await
        .unwrap();
    yiwang_cases::case_store::sweep_overdue(&cases_pool)
        .await
        .unwrap();
    let notices = wait_for(&s, "/v1/supervision/notices", &p.officer_a, "notices", 1).await;
    let notice = &notices["notices"][0];
    assert_eq!(notice["case_id"], json!(late));
    assert_eq!(notice["state"], "open");
    let nid = notice["id"].as_str().unwrap();
    let (st, _) = send(
        &s,
        "POST",
        &format!("/v1/supervision/notices/{nid}/close"),
        Some(&p.supervisor),
        Some(json!({"note": "x"})),
    )
    .await;
    assert_eq!(st, 400, "closed only once acknowledged");
    let (st, _) = send(
        &s,
        "POST",
        &format!("/v1/supervision/notices/{nid}/acknowledge"),
        Some(&p.officer_b),
        Some(json!({"note": "x"})),
    )
    .await;
    assert_eq!(st, 404, "another department's officer");
    let n = ok(
        &s,
        "POST",
        &format!("/v1/supervision/notices/{nid}/acknowledge"),
        &p.officer_a,
        Some(json!({"note": "已加派人手，今日办结"})),
    )
    .await;
    assert_eq!(n["state"], "acknowledged");
    let (st, _) = send(
        &s,
        "POST",
        &format!("/v1/supervision/notices/{nid}/close"),
        Some(&p.officer_a),
        Some(json!({"note": "x"})),
    )
    .await;
    assert_eq!(st, 403, "supervisors close");
    let n = ok(
        &s,
        "POST",
        &format!("/v1/supervision/notices/{nid}/close"),
        &p.supervisor,
        Some(json!({"note": "已办结，督办关闭"})),
    )
    .await;
    assert_eq!(n["state"], "closed");
    cases_pool.close().await;
    pool.close().await;
    s.stop().await;
}

/// Files a licence application as the licensee and has the department accept it.
async fn file_licence(
    s: &Stack,
    enterprise: &str,
    officer: &str,
    item: &str,
    licensee: &str,
) -> String {
    let (st, c) = send(
        s,
        "POST",
        "/v1/cases",
        Some(enterprise),
        Some(json!({"item_code": item, "channel": "online",
            "applicant": {"kind": "legal_person", "name": "含山县好味餐饮有限公司", "uscc": licensee, "phone": "13812345678"}})),
    )
    .await;
    assert_eq!(st, 201, "{c}");
    let id = c["id"].as_str().unwrap().to_string();
    ok(s, "POST", &format!("/v1/cases/{id}/accept"), officer, None).await;
    id
}

async fn entries_last(redis: &mut redis::aio::MultiplexedConnection, key: &str) -> String {
    let r: redis::streams::StreamRangeReply = redis::cmd("XREVRANGE")
        .arg(key)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(redis)
        .await
        .unwrap();
    r.ids.first().map(|e| e.id.clone()).unwrap_or_default()
}

#[tokio::test]
async fn the_demo_county_loads_at_the_reference_scale_once() {
    let s = Stack::start().await;
    let departments: Vec<yiwang_supervision::demo::DemoDepartment> =
        yiwang_catalog::demo::generate(340522)
            .org_units
            .into_iter()
            .filter(|u| u.kind == "department")
            .map(|u| yiwang_supervision::demo::DemoDepartment {
                code: u.code,
                name: u.name,
                uscc: u.uscc,
            })
            .collect();
    let pool = sqlx::PgPool::connect(&s.cfg.service_database_url("supervision"))
        .await
        .unwrap();
    let key = yiwang_kit::crypto::DataKey::development();
    let now = chrono::Utc::now();
    let loaded = yiwang_supervision::demo::load_demo(&pool, &key, &departments, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(loaded.inspections, 2767);
    assert!(
        yiwang_supervision::demo::load_demo(&pool, &key, &departments, now)
            .await
            .unwrap()
            .is_none()
    );
    let sup = s.token("supervisor-1", &["supervisor"], None);
    let st = ok(
        &s,
        "GET",
        "/v1/supervision/stats?from=2020-01-01",
        &sup,
        None,
    )
    .await;
    assert_eq!(st["items_claimed"], 805);
    assert_eq!(st["claim_rate"], 100.0);
    assert_eq!(st["check_lists"], 843);
    assert_eq!(st["list_rate"], 100.0);
    assert_eq!(st["coverage"], 78.01);
    assert_eq!(st["inspections"], 2767);
    assert_eq!(st["publications"], 64);
    assert_eq!(st["inspectors"], 1459);
    assert_eq!(
        st["tasks_open"].as_u64().unwrap() + st["tasks_done"].as_u64().unwrap(),
        120
    );
    // Every demo plan's published draw verifies.
    let plans = ok(
        &s,
        "GET",
        "/v1/supervision/plans?state=published&page_size=100",
        &sup,
        None,
    )
    .await;
    assert_eq!(plans["plans"].as_array().unwrap().len(), 30);
    let id = plans["plans"][0]["id"].as_str().unwrap();
    let (_, v) = send(
        &s,
        "POST",
        &format!("/v1/supervision/plans/{id}/verify"),
        None,
        None,
    )
    .await;
    assert_eq!(v["matches"], true, "{v}");
    pool.close().await;
    s.stop().await;
}
