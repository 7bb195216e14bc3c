//! IT-project review end to end: a department proposes through the gateway as the web front end
//! does, a panel of experts reviews, project_admin decides, and the project goes through
//! procurement, construction, acceptance and evaluation; the panel rules, money edge cases,
//! who sees what, a race between two deciders, and the reference county's 10.43 % over gRPC.

mod common;

use chrono::Datelike;
use common::*;
use serde_json::{Value, json};
use yiwang_proto::projects::v1 as pb;

const DEPT: &str = "340522-SCJGJ";
const OTHER: &str = "340522-GAJ";

struct People {
    officer: String,
    other_officer: String,
    admin: String,
    experts: [String; 3],
    outsider_expert: String,
    citizen: String,
}

fn people(s: &Stack) -> People {
    People {
        officer: s.token("officer-1", &["officer"], Some(DEPT)),
        other_officer: s.token("officer-9", &["officer"], Some(OTHER)),
        admin: s.token("padmin-1", &["project_admin"], None),
        experts: [
            s.token("expert-1", &["expert"], None),
            s.token("expert-2", &["expert"], None),
            s.token("expert-3", &["expert"], None),
        ],
        outsider_expert: s.token("expert-9", &["expert"], None),
        citizen: s.token("citizen-1", &["citizen"], None),
    }
}

fn panel() -> Value {
    json!({"experts": [
        {"id": "expert-1", "name": "王建国", "department": "省信息化专家库"},
        {"id": "expert-2", "name": "李慧敏", "department": "340522-CZJ"},
        {"id": "expert-3", "name": "陈志远", "department": "合肥工业大学"},
    ]})
}

fn proposal(year: i32, name: &str, amounts: &[i64]) -> Value {
    json!({
        "year": year,
        "name": name,
        "category": "new_system",
        "description": "食品经营许可网上办理与监管协同",
        "budget_lines": amounts.iter().map(|a| json!({"category": "development", "amount_fen": a, "justification": "按功能点测算"})).collect::<Vec<_>>(),
        "network_ranges": ["10.12.0.0/16", "2001:db8::/32"],
        "planned_acceptance_date": format!("{year}-12-31"),
    })
}

fn scores() -> Value {
    json!([{"criterion": "necessity", "score": 35}, {"criterion": "feasibility", "score": 25}, {"criterion": "economy", "score": 20}])
}

fn review_body(lines: &[i64]) -> Value {
    json!({"scores": scores(), "lines": lines.iter().map(|a| json!({"approved_fen": a, "reason": "部分功能与既有平台重复"})).collect::<Vec<_>>()})
}

fn today() -> chrono::NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive()
}

fn days_ago(n: i64) -> String {
    (today() - chrono::Duration::days(n)).to_string()
}

/// Proposes as the DEPT officer and submits; returns the id.
async fn propose_and_submit(s: &Stack, p: &People, body: Value) -> String {
    let (st, b) = send(s, "POST", "/v1/projects", Some(&p.officer), Some(body)).await;
    assert_eq!(st, 201, "{b}");
    let id = b["id"].as_str().unwrap().to_string();
    let (st, b) = send(
        s,
        "POST",
        &format!("/v1/projects/{id}/submit"),
        Some(&p.officer),
        None,
    )
    .await;
    assert_eq!(st, 200, "{b}");
    id
}

/// Up to under_review with the standard panel.
async fn under_review(s: &Stack, p: &People, body: Value) -> String {
    let id = propose_and_submit(s, p, body).await;
    let (st, b) = send(
        s,
        "POST",
        &format!("/v1/projects/{id}/panel"),
        Some(&p.admin),
        Some(panel()),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["state"], "under_review");
    id
}

fn error_status(b: &Value) -> &str {
    b["error"]["status"].as_str().unwrap_or("")
}

#[tokio::test]
async fn a_project_goes_from_proposal_to_evaluation_through_rest() {
    let s = Stack::start().await;
    let p = people(&s);
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    let year = today().year();

    // Proposal (idempotent on the Idempotency-Key); the department defaults to the officer's.
    let mut body = proposal(year, "食品安全智慧监管平台", &[600_000_000, 400_000_000]);
    body["served_items"] = json!([item]);
    let create = |key: &'static str| {
        let (s, body, token) = (&s, body.clone(), p.officer.clone());
        async move {
            let r = s
                .http
                .post(s.url("/v1/projects"))
                .bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (st, proj) = create("proj-1").await;
    assert_eq!(st, 201, "{proj}");
    let (_, again) = create("proj-1").await;
    assert_eq!(again["id"], proj["id"]);
    let id = proj["id"].as_str().unwrap().to_string();
    assert_eq!(proj["state"], "draft");
    assert_eq!(proj["department"], DEPT);
    assert_eq!(proj["requested_fen"], 1_000_000_000i64);
    assert_eq!(
        proj["network_ranges"],
        json!(["10.12.0.0/16", "2001:db8::/32"])
    );
    assert_eq!(proj["served_items"], json!([item]));

    // The draft is editable by its department; submission freezes it.
    let (st, b) = send(
        &s,
        "PATCH",
        &format!("/v1/projects/{id}"),
        Some(&p.officer),
        Some(json!({"name": "食品安全智慧监管平台（一期）"})),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["name"], "食品安全智慧监管平台（一期）");
    assert_eq!(b["requested_fen"], 1_000_000_000i64, "unsent fields stay");
    let (st, b) = send(
        &s,
        "POST",
        &format!("/v1/projects/{id}/submit"),
        Some(&p.officer),
        None,
    )
    .await;
    assert_eq!((st, b["state"].as_str()), (200, Some("submitted")), "{b}");
    let (st, b) = send(
        &s,
        "PATCH",
        &format!("/v1/projects/{id}"),
        Some(&p.officer),
        Some(json!({"name": "改名"})),
    )
    .await;
    assert_eq!((st, error_status(&b)), (400, "FAILED_PRECONDITION"), "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("project is submitted"),
        "{b}"
    );

    // Illegal jump: procurement before the decision names the current state.
    let (st, b) = send(
        &s,
        "POST",
        &format!("/v1/projects/{id}/procure"),
        Some(&p.admin),
        Some(json!({"vendor": "x", "method": "public_tender", "contract_amount_fen": 1})),
    )
    .await;
    assert_eq!((st, error_status(&b)), (400, "FAILED_PRECONDITION"));
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("project is submitted"),
        "{b}"
    );

    // Panel and reviews: until all are in, an expert sees only their own review.
    let (st, b) = send(
        &s,
        "POST",
        &format!("/v1/projects/{id}/panel"),
        Some(&p.admin),
        Some(panel()),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(
        b["panel"]["criteria"],
        json!([
        {"name": "necessity", "max_score": 40}, {"name": "feasibility", "max_score": 30}, {"name": "economy", "max_score": 30}])
    );
    let proposals = [
        [500_000_000i64, 400_000_000],
        [540_000_000, 350_000_000],
        [600_000_000, 380_000_000],
    ];
    for (k, lines) in proposals.iter().enumerate().take(2) {
        let (st, r) = send(
            &s,
            "POST",
            &format!("/v1/projects/{id}/reviews"),
            Some(&p.experts[k]),
            Some(review_body(lines)),
        )
        .await;
        assert_eq!(st, 200, "{r}");
        assert_eq!(r["total_score"], 80);
    }
    let (st, r) = send(
        &s,
        "GET",
        &format!("/v1/projects/{id}/reviews"),
        Some(&p.experts[0]),
        None,
    )
    .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(
        (r["received"].as_u64(), r["expected"].as_u64()),
        (Some(2), Some(3))
    );
    assert_eq!(r["reviews"].as_array().unwrap().len(), 1);
    assert_eq!(r["reviews"][0]["expert_id"], "expert-1");
    let (_, r) = send(
        &s,
        "GET",
        &format!("/v1/projects/{id}/reviews"),
        Some(&p.admin),
        None,
    )
    .await;
    assert_eq!(r["reviews"].as_array().unwrap().len(), 2);
    // Approval needs the whole panel.
    let (st, b) = send(
        &s,
        "POST",
        &format!("/v1/projects/{id}/decide"),
        Some(&p.admin),
        Some(json!({"outcome": "approve"})),
    )
    .await;
    assert_eq!((st, error_status(&b)), (400, "FAILED_PRECONDITION"), "{b}");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("2 of 3"),
        "{b}"
    );
    let (st, r) = send(
        &s,
        "POST",
        &format!("/v1/projects/{id}/reviews"),
        Some(&p.experts[2]),
        Some(review_body(&proposals[2])),
    )
    .await;
    assert_eq!(st, 200, "{r}");
    let (_, r) = send(
        &s,
        "GET",
        &format!("/v1/projects/{id}/reviews"),
        Some(&p.experts[0]),
        None,
    )
    .await;
    assert_eq!(
        r["reviews"].as_array().unwrap().len(),
        3,
        "all in: every review is visible"
    );

    // Decision: the median per line; cut = requested − approved.
    let (st, b) = send(
        &s,
        "POST",
        &format!("/v1/projects/{id}/decide"),
        Some(&p.admin),
        Some(json!({"outcome": "approve", "reason": "专家组意见"})),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["state"], "approved");
    assert_eq!(b["budget_lines"][0]["approved_fen"], 540_000_000i64);
    assert_eq!(b["budget_lines"][1]["approved_fen"], 380_000_000i64);
    assert_eq!(b["budget_lines"][1]["cut_fen"], 20_000_000i64);
    assert_eq!(b["approved_fen"], 920_000_000i64);
    assert_eq!(b["cut_fen"], 80_000_000i64);
    assert_eq!(b["decision"]["rule"], "median");

    // Procurement: the contract is at most the approved amount.
    let procure = |amount: i64| {
        json!({"vendor": "安徽科大信息技术有限公司", "method": "public_tender",
        "contract_amount_fen": amount, "signed_on": days_ago(520)})
    };
    let (st, b) = send(
        &s,
        "POST",
        &format!("/v1/projects/{id}/procure"),
        Some(&p.officer),
        Some(procure(920_000_001)),
    )
    .await;
    assert_eq!(
        (st, violation_field(&b)),
        (400, "contract_amount_fen".to_string()),
        "{b}"
    );
    let (st, b) = send(
        &s,
        "POST",
        &format!("/v1/projects/{id}/procure"),
        Some(&p.officer),
        Some(procure(874_000_000)),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["state"], "contracted");
    assert_eq!(b["procurement"]["contract_savings_fen"], 46_000_000i64);

    // Acceptance before construction is an illegal jump naming the state.
    let accept = |on: String| json!({"accepted_on": on, "result": "passed", "documents": ["初步验收报告", "监理总结报告"]});
    let (st, b) = send(
        &s,
        "POST",
        &format!("/v1/projects/{id}/accept"),
        Some(&p.officer),
        Some(accept(days_ago(400))),
    )
    .await;
    assert_eq!((st, error_status(&b)), (400, "FAILED_PRECONDITION"));
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("project is contracted"),
        "{b}"
    );
    let (st, b) = send(
        &s,
        "POST",
        &format!("/v1/projects/{id}/construction"),
        Some(&p.officer),
        Some(json!({"supervisor": ""})),
    )
    .await;
    assert_eq!(
        (st, violation_field(&b)),
        (400, "supervisor".to_string()),
        "{b}"
    );
    let (st, b) = send(
        &s,
        "POST",
        &format!("/v1/projects/{id}/construction"),
        Some(&p.officer),
        Some(json!({"supervisor": "安徽省信息工程监理有限公司", "started_on": days_ago(500)})),
    )
    .await;
    assert_eq!(
        (st, b["state"].as_str()),
        (200, Some("under_construction")),
        "{b}"
    );
    assert_eq!(
        b["construction"]["supervisor"],
        "安徽省信息工程监理有限公司"
    );
    let progress = |pc: u32| json!({"percent": pc, "note": "按监理月报"});
    let (st, _) = send(
        &s,
        "POST",
        &format!("/v1/projects/{id}/progress"),
        Some(&p.officer),
        Some(progress(60)),
    )
    .await;
    assert_eq!(st, 200);
    let (st, b) = send(
        &s,
        "POST",
        &format!("/v1/projects/{id}/progress"),
        Some(&p.officer),
        Some(progress(40)),
    )
    .await;
    assert_eq!(
        (st, violation_field(&b)),
        (400, "percent".to_string()),
        "{b}"
    );
    let (st, b) = send(
        &s,
        "POST",
        &format!("/v1/projects/{id}/progress"),
        Some(&p.officer),
        Some(progress(100)),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["construction"]["progress"].as_array().unwrap().len(), 2);

    // A failed acceptance keeps the project under construction; a future date is refused.
    let (st, b) = send(&s, "POST", &format!("/v1/projects/{id}/accept"), Some(&p.officer),
        Some(json!({"accepted_on": days_ago(420), "result": "failed", "documents": ["初步验收报告"], "note": "等保测评未完成"}))).await;
    assert_eq!(
        (st, b["state"].as_str()),
        (200, Some("under_construction")),
        "{b}"
    );
    assert_eq!(b["failed_acceptances"].as_array().unwrap().len(), 1);
    let (st, b) = send(
        &s,
        "POST",
        &format!("/v1/projects/{id}/accept"),
        Some(&p.officer),
        Some(accept((today() + chrono::Duration::days(1)).to_string())),
    )
    .await;
    assert_eq!(
        (st, violation_field(&b)),
        (400, "accepted_on".to_string()),
        "{b}"
    );
    let (st, b) = send(
        &s,
        "POST",
        &format!("/v1/projects/{id}/accept"),
        Some(&p.officer),
        Some(accept(days_ago(400))),
    )
    .await;
    assert_eq!((st, b["state"].as_str()), (200, Some("accepted")), "{b}");

    // Evaluation: project_admin only, 12 to 24 months after acceptance.
    let evaluate = |on: String| json!({"evaluated_on": on, "score": 88, "findings": "系统运行稳定，办件效率提升"});
    let (st, _) = send(
        &s,
        "POST",
        &format!("/v1/projects/{id}/evaluate"),
        Some(&p.officer),
        Some(evaluate(days_ago(0))),
    )
    .await;
    assert_eq!(st, 403);
    let (st, b) = send(
        &s,
        "POST",
        &format!("/v1/projects/{id}/evaluate"),
        Some(&p.admin),
        Some(evaluate(days_ago(300))),
    )
    .await;
    assert_eq!(
        (st, violation_field(&b)),
        (400, "evaluated_on".to_string()),
        "{b}"
    );
    let (st, b) = send(
        &s,
        "POST",
        &format!("/v1/projects/{id}/evaluate"),
        Some(&p.admin),
        Some(evaluate(days_ago(0))),
    )
    .await;
    assert_eq!((st, b["state"].as_str()), (200, Some("evaluated")), "{b}");
    assert_eq!(b["evaluation"]["score"], 88);

    // Every change is audited, in order, with who and from → to.
    let (st, h) = send(
        &s,
        "GET",
        &format!("/v1/projects/{id}/history"),
        Some(&p.officer),
        None,
    )
    .await;
    assert_eq!(st, 200, "{h}");
    let actions: Vec<&str> = h["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "create",
            "update",
            "submit",
            "form_panel",
            "review",
            "review",
            "review",
            "decide",
            "procure",
            "start_construction",
            "progress",
            "progress",
            "acceptance_failed",
            "accept",
            "evaluate"
        ]
    );
    let decide = &h["events"][7];
    assert_eq!(
        (decide["from_state"].as_str(), decide["to_state"].as_str()),
        (Some("under_review"), Some("approved"))
    );
    assert_eq!(decide["actor"], "padmin-1");
    assert_eq!(decide["detail"]["cut_fen"], 80_000_000i64);

    // The year's plan and statistics (exact fen; 80,000,000 / 1,000,000,000 = 8.00 %).
    let (st, plan) = send(
        &s,
        "GET",
        &format!("/v1/projects/plan?year={year}"),
        Some(&p.admin),
        None,
    )
    .await;
    assert_eq!(st, 200, "{plan}");
    assert_eq!(plan["projects"][0]["approved_fen"], 920_000_000i64);
    assert_eq!(plan["approved_fen"], 920_000_000i64);
    let (st, st_body) = send(
        &s,
        "GET",
        &format!("/v1/projects/stats?year={year}"),
        Some(&p.admin),
        None,
    )
    .await;
    assert_eq!(st, 200, "{st_body}");
    assert_eq!(st_body["reviewed"], 1);
    assert_eq!(st_body["requested_fen"], 1_000_000_000i64);
    assert_eq!(st_body["approved_fen"], 920_000_000i64);
    assert_eq!(st_body["cut_fen"], 80_000_000i64);
    assert_eq!(st_body["saving_rate"], 8.0);
    assert_eq!(st_body["saving_rate_bp"], 800);
    assert_eq!(st_body["contract_savings_fen"], 46_000_000i64);
    // Planned for 31 Dec of this year, accepted ~400 days ago: not late.
    assert_eq!(st_body["late"], 0);
    assert_eq!(st_body["by_department"][0]["department"], DEPT);
    let (st, _) = send(&s, "GET", "/v1/projects/stats", Some(&p.admin), None).await;
    assert_eq!(st, 400);

    // The decision went to the outbox in the decide transaction.
    let pool = sqlx::PgPool::connect(&s.cfg.service_database_url("projects"))
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE topic = 'projects.project.decided' AND payload->>'project_id' = $1")
        .bind(&id).fetch_one(&pool).await.unwrap();
    assert_eq!(n, 1);
    // Network ranges are stored as cidr: an address inside them finds the project.
    let found: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM projects WHERE '10.12.3.4'::inet <<= ANY(network_ranges)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(found, 1);
    pool.close().await;

    // The routes are in the OpenAPI document.
    let (_, doc) = send(&s, "GET", "/openapi.json", None, None).await;
    for path in [
        "/v1/projects",
        "/v1/projects/{id}/decide",
        "/v1/projects/stats",
        "/v1/projects/plan",
        "/v1/projects/{id}/reviews",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from /openapi.json"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn the_panel_rules_hold() {
    let s = Stack::start().await;
    let p = people(&s);
    let id = propose_and_submit(&s, &p, proposal(2030, "应急指挥调度系统", &[1000, 500])).await;
    let url = format!("/v1/projects/{id}/panel");

    // Too few experts; an expert from the proposing department; the same expert twice.
    let mut two = panel();
    two["experts"].as_array_mut().unwrap().pop();
    let (st, b) = send(&s, "POST", &url, Some(&p.admin), Some(two)).await;
    assert_eq!(
        (st, violation_field(&b)),
        (400, "experts".to_string()),
        "{b}"
    );
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at least 3 experts"),
        "{b}"
    );
    let mut insider = panel();
    insider["experts"][1]["department"] = json!(DEPT);
    let (st, b) = send(&s, "POST", &url, Some(&p.admin), Some(insider)).await;
    assert_eq!(
        (st, violation_field(&b)),
        (400, "experts[1].department".to_string()),
        "{b}"
    );
    let mut twice = panel();
    twice["experts"][2]["id"] = json!("expert-1");
    let (st, b) = send(&s, "POST", &url, Some(&p.admin), Some(twice)).await;
    assert_eq!(
        (st, violation_field(&b)),
        (400, "experts[2].id".to_string()),
        "{b}"
    );
    // Only project_admin forms panels.
    let (st, _) = send(&s, "POST", &url, Some(&p.officer), Some(panel())).await;
    assert_eq!(st, 403);
    // Extra criteria replace the default economy criterion.
    let mut custom = panel();
    custom["extra_criteria"] =
        json!([{"name": "security", "max_score": 20}, {"name": "economy", "max_score": 10}]);
    let (st, b) = send(&s, "POST", &url, Some(&p.admin), Some(custom)).await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(
        b["panel"]["criteria"][2],
        json!({"name": "security", "max_score": 20})
    );

    // Reviews: every criterion within its maximum, one proposal per line, 0 ≤ approved ≤ requested.
    let review = |scores: Value, lines: Value| json!({"scores": scores, "lines": lines});
    let good_scores = json!([{"criterion": "necessity", "score": 40}, {"criterion": "feasibility", "score": 30},
        {"criterion": "security", "score": 20}, {"criterion": "economy", "score": 10}]);
    let good_lines = json!([{"approved_fen": 800, "reason": "核减重复功能"}, {"approved_fen": 500, "reason": "合理"}]);
    let rurl = format!("/v1/projects/{id}/reviews");
    let mut over = good_scores.clone();
    over[0]["score"] = json!(41);
    let (st, b) = send(
        &s,
        "POST",
        &rurl,
        Some(&p.experts[0]),
        Some(review(over, good_lines.clone())),
    )
    .await;
    assert_eq!(
        (st, violation_field(&b)),
        (400, "scores[0].score".to_string()),
        "{b}"
    );
    let (st, b) = send(
        &s,
        "POST",
        &rurl,
        Some(&p.experts[0]),
        Some(review(
            json!([{"criterion": "necessity", "score": 30}]),
            good_lines.clone(),
        )),
    )
    .await;
    assert_eq!(
        (st, violation_field(&b)),
        (400, "scores".to_string()),
        "{b}"
    );
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("feasibility"),
        "{b}"
    );
    let (st, b) = send(
        &s,
        "POST",
        &rurl,
        Some(&p.experts[0]),
        Some(review(
            good_scores.clone(),
            json!([{"approved_fen": 1000, "reason": "x"}]),
        )),
    )
    .await;
    assert_eq!((st, violation_field(&b)), (400, "lines".to_string()), "{b}");
    let (st, b) = send(&s, "POST", &rurl, Some(&p.experts[0]), Some(review(good_scores.clone(),
        json!([{"approved_fen": 1001, "reason": "多于申报"}, {"approved_fen": 500, "reason": "x"}])))).await;
    assert_eq!(
        (st, violation_field(&b)),
        (400, "lines[0].approved_fen".to_string()),
        "{b}"
    );
    let (st, b) = send(
        &s,
        "POST",
        &rurl,
        Some(&p.experts[0]),
        Some(review(
            good_scores.clone(),
            json!([{"approved_fen": -1, "reason": "负数"}, {"approved_fen": 500, "reason": "x"}]),
        )),
    )
    .await;
    assert_eq!(
        (st, violation_field(&b)),
        (400, "lines[0].approved_fen".to_string()),
        "{b}"
    );
    let (st, b) = send(
        &s,
        "POST",
        &rurl,
        Some(&p.experts[0]),
        Some(review(
            good_scores.clone(),
            json!([{"approved_fen": 900, "reason": " "}, {"approved_fen": 500, "reason": "x"}]),
        )),
    )
    .await;
    assert_eq!(
        (st, violation_field(&b)),
        (400, "lines[0].reason".to_string()),
        "{b}"
    );
    // An expert not on the panel does not even see the project.
    let (st, _) = send(
        &s,
        "POST",
        &rurl,
        Some(&p.outsider_expert),
        Some(review(good_scores.clone(), good_lines.clone())),
    )
    .await;
    assert_eq!(st, 404);
    // A panel member whose token says they work for the proposing department is refused.
    let insider_token = s.token("expert-2", &["expert"], Some(DEPT));
    let (st, b) = send(
        &s,
        "POST",
        &rurl,
        Some(&insider_token),
        Some(review(good_scores.clone(), good_lines.clone())),
    )
    .await;
    assert_eq!((st, error_status(&b)), (403, "PERMISSION_DENIED"), "{b}");

    // Three reviews (the first replaced once); the mean rule, half up.
    let (st, _) = send(
        &s,
        "POST",
        &rurl,
        Some(&p.experts[0]),
        Some(review(good_scores.clone(), good_lines.clone())),
    )
    .await;
    assert_eq!(st, 200);
    let (st, _) = send(&s, "POST", &rurl, Some(&p.experts[0]), Some(review(good_scores.clone(),
        json!([{"approved_fen": 700, "reason": "再核减"}, {"approved_fen": 500, "reason": "合理"}])))).await;
    assert_eq!(st, 200);
    for (k, a) in [(1, 800), (2, 1000)] {
        let (st, b) = send(&s, "POST", &rurl, Some(&p.experts[k]), Some(review(good_scores.clone(),
            json!([{"approved_fen": a, "reason": "意见"}, {"approved_fen": 499, "reason": "意见"}])))).await;
        assert_eq!(st, 200, "{b}");
    }
    let (st, b) = send(
        &s,
        "POST",
        &format!("/v1/projects/{id}/decide"),
        Some(&p.admin),
        Some(json!({"outcome": "approve", "rule": "max"})),
    )
    .await;
    assert_eq!((st, violation_field(&b)), (400, "rule".to_string()), "{b}");
    let (st, b) = send(
        &s,
        "POST",
        &format!("/v1/projects/{id}/decide"),
        Some(&p.admin),
        Some(json!({"outcome": "reject"})),
    )
    .await;
    assert_eq!(
        (st, violation_field(&b)),
        (400, "reason".to_string()),
        "{b}"
    );
    let (st, b) = send(
        &s,
        "POST",
        &format!("/v1/projects/{id}/decide"),
        Some(&p.admin),
        Some(json!({"outcome": "approve", "rule": "mean"})),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    // (700 + 800 + 1000) / 3 = 833.3 → 833; (500 + 499 + 499) / 3 = 499.3 → 499.
    assert_eq!(b["budget_lines"][0]["approved_fen"], 833);
    assert_eq!(b["budget_lines"][1]["approved_fen"], 499);
    assert_eq!(
        (b["approved_fen"].as_i64(), b["cut_fen"].as_i64()),
        (Some(1332), Some(168))
    );

    // A review changed after the decision is refused, naming the state.
    let (st, b) = send(
        &s,
        "POST",
        &rurl,
        Some(&p.experts[1]),
        Some(review(good_scores, good_lines)),
    )
    .await;
    assert_eq!((st, error_status(&b)), (400, "FAILED_PRECONDITION"), "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("project is approved"),
        "{b}"
    );
    // After the decision the department reads the reviews too.
    let (st, b) = send(&s, "GET", &rurl, Some(&p.officer), None).await;
    assert_eq!(
        (st, b["reviews"].as_array().map(|a| a.len())),
        (200, Some(3)),
        "{b}"
    );
    s.stop().await;
}

#[tokio::test]
async fn money_edge_cases_are_clear_errors() {
    let s = Stack::start().await;
    let p = people(&s);
    let create = |body: Value| {
        let (s, token) = (&s, p.officer.clone());
        async move { send(s, "POST", "/v1/projects", Some(&token), Some(body)).await }
    };
    // Zero, negative, and a total beyond 64 bits; a number beyond 64 bits in the JSON.
    let (st, b) = create(proposal(2030, "零元", &[0])).await;
    assert_eq!(
        (st, violation_field(&b)),
        (400, "budget_lines[0].amount_fen".to_string()),
        "{b}"
    );
    let (st, b) = create(proposal(2030, "负数", &[100, -5])).await;
    assert_eq!(
        (st, violation_field(&b)),
        (400, "budget_lines[1].amount_fen".to_string()),
        "{b}"
    );
    let (st, b) = create(proposal(2030, "溢出", &[i64::MAX, i64::MAX])).await;
    assert_eq!(
        (st, violation_field(&b)),
        (400, "budget_lines".to_string()),
        "{b}"
    );
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("9223372036854775807"),
        "{b}"
    );
    let raw = r#"{"year": 2030, "name": "超大", "category": "upgrade", "budget_lines": [{"category": "hardware", "amount_fen": 9223372036854775808, "justification": "x"}]}"#;
    let r = s
        .http
        .post(s.url("/v1/projects"))
        .bearer_auth(&p.officer)
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let b: Value = r.json().await.unwrap();
    assert_eq!(violation_field(&b), "budget_lines[0].amount_fen", "{b}");
    // Bad CIDR, unknown catalogue item, unknown category.
    let mut bad = proposal(2030, "网段", &[100]);
    bad["network_ranges"] = json!(["10.12.0.0/16", "10.12.0.1/16"]);
    let (st, b) = create(bad).await;
    assert_eq!(
        (st, violation_field(&b)),
        (400, "network_ranges[1]".to_string()),
        "{b}"
    );
    let mut bad = proposal(2030, "事项", &[100]);
    bad["served_items"] = json!(["11340522MB0000001400010100099"]);
    let (st, b) = create(bad).await;
    assert_eq!(
        (st, violation_field(&b)),
        (400, "served_items[0]".to_string()),
        "{b}"
    );

    // Zero lines: a draft may be saved, not submitted.
    let (st, b) = create(proposal(2030, "空项目", &[])).await;
    assert_eq!(st, 201, "{b}");
    let empty = b["id"].as_str().unwrap().to_string();
    let (st, b) = send(
        &s,
        "POST",
        &format!("/v1/projects/{empty}/submit"),
        Some(&p.officer),
        None,
    )
    .await;
    assert_eq!(
        (st, violation_field(&b)),
        (400, "budget_lines".to_string()),
        "{b}"
    );
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("budget_lines: at least one line is required"),
        "{b}"
    );

    // One fen: approved 1 fen, cut 0.
    let tiny = under_review(&s, &p, proposal(2030, "一分钱项目", &[1])).await;
    for (k, a) in [(0, 1), (1, 0), (2, 1)] {
        let (st, b) = send(
            &s,
            "POST",
            &format!("/v1/projects/{tiny}/reviews"),
            Some(&p.experts[k]),
            Some(review_body(&[a])),
        )
        .await;
        assert_eq!(st, 200, "{b}");
    }
    let (st, b) = send(
        &s,
        "POST",
        &format!("/v1/projects/{tiny}/decide"),
        Some(&p.admin),
        Some(json!({"outcome": "approve"})),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(
        (b["approved_fen"].as_i64(), b["cut_fen"].as_i64()),
        (Some(1), Some(0))
    );

    // One line of i64::MAX is fine; the median of an even count near the limit does not overflow.
    let huge = under_review(&s, &p, proposal(2031, "最大金额", &[i64::MAX])).await;
    let (st, b) = send(
        &s,
        "GET",
        &format!("/v1/projects/{huge}"),
        Some(&p.officer),
        None,
    )
    .await;
    assert_eq!((st, b["requested_fen"].as_i64()), (200, Some(i64::MAX)));
    for (k, a) in [(0, i64::MAX), (1, i64::MAX - 1), (2, 0)] {
        let (st, b) = send(
            &s,
            "POST",
            &format!("/v1/projects/{huge}/reviews"),
            Some(&p.experts[k]),
            Some(review_body(&[a])),
        )
        .await;
        assert_eq!(st, 200, "{b}");
    }
    let (st, b) = send(
        &s,
        "POST",
        &format!("/v1/projects/{huge}/decide"),
        Some(&p.admin),
        Some(json!({"outcome": "approve"})),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(
        (b["approved_fen"].as_i64(), b["cut_fen"].as_i64()),
        (Some(i64::MAX - 1), Some(1))
    );
    let (st, b) = send(
        &s,
        "GET",
        "/v1/projects/stats?year=2031",
        Some(&p.admin),
        None,
    )
    .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(
        (
            b["requested_fen"].as_i64(),
            b["cut_fen"].as_i64(),
            b["saving_rate_bp"].as_i64()
        ),
        (Some(i64::MAX), Some(1), Some(0))
    );
    // Everything the panel approved rounds to nothing: approval is refused, rejection remains.
    let nothing = under_review(&s, &p, proposal(2032, "全部核减", &[100])).await;
    for k in 0..3 {
        let (st, _) = send(
            &s,
            "POST",
            &format!("/v1/projects/{nothing}/reviews"),
            Some(&p.experts[k]),
            Some(review_body(&[0])),
        )
        .await;
        assert_eq!(st, 200);
    }
    let (st, b) = send(
        &s,
        "POST",
        &format!("/v1/projects/{nothing}/decide"),
        Some(&p.admin),
        Some(json!({"outcome": "approve"})),
    )
    .await;
    assert_eq!((st, error_status(&b)), (400, "FAILED_PRECONDITION"), "{b}");
    let (st, b) = send(
        &s,
        "POST",
        &format!("/v1/projects/{nothing}/decide"),
        Some(&p.admin),
        Some(json!({"outcome": "reject", "reason": "必要性不足"})),
    )
    .await;
    assert_eq!(
        (st, b["state"].as_str(), b["cut_fen"].as_i64()),
        (200, Some("rejected"), Some(0)),
        "{b}"
    );
    let (_, b) = send(
        &s,
        "GET",
        "/v1/projects/stats?year=2032",
        Some(&p.admin),
        None,
    )
    .await;
    assert_eq!(
        (
            b["reviewed"].as_u64(),
            b["rejected_projects"].as_u64(),
            b["requested_fen"].as_i64()
        ),
        (Some(1), Some(1), Some(0)),
        "{b}"
    );
    s.stop().await;
}

#[tokio::test]
async fn departments_and_experts_see_only_their_projects() {
    let s = Stack::start().await;
    let p = people(&s);
    let (st, b) = send(
        &s,
        "POST",
        "/v1/projects",
        Some(&p.officer),
        Some(proposal(2030, "草稿", &[100])),
    )
    .await;
    assert_eq!(st, 201, "{b}");
    let draft = b["id"].as_str().unwrap().to_string();
    let reviewed = under_review(&s, &p, proposal(2030, "评审中", &[100])).await;

    // Another department: not found (existence does not leak), cannot edit or submit.
    for (method, path, body) in [
        ("GET", format!("/v1/projects/{draft}"), None),
        (
            "PATCH",
            format!("/v1/projects/{draft}"),
            Some(json!({"name": "篡改"})),
        ),
        ("POST", format!("/v1/projects/{draft}/submit"), None),
        ("GET", format!("/v1/projects/{reviewed}/reviews"), None),
    ] {
        let (st, b) = send(&s, method, &path, Some(&p.other_officer), body).await;
        assert_eq!(
            (st, error_status(&b)),
            (404, "NOT_FOUND"),
            "{method} {path}: {b}"
        );
    }
    let (st, b) = send(&s, "GET", "/v1/projects", Some(&p.other_officer), None).await;
    assert_eq!(
        (st, b["projects"].as_array().map(|a| a.len())),
        (200, Some(0)),
        "{b}"
    );
    let mut foreign = proposal(2030, "冒名", &[100]);
    foreign["department"] = json!(DEPT);
    let (st, _) = send(
        &s,
        "POST",
        "/v1/projects",
        Some(&p.other_officer),
        Some(foreign),
    )
    .await;
    assert_eq!(st, 403);
    // The own department sees both.
    let (_, b) = send(&s, "GET", "/v1/projects?year=2030", Some(&p.officer), None).await;
    assert_eq!(b["projects"].as_array().unwrap().len(), 2);
    let (_, b) = send(
        &s,
        "GET",
        "/v1/projects?state=draft",
        Some(&p.officer),
        None,
    )
    .await;
    assert_eq!(b["projects"][0]["id"], draft.as_str());
    // project_admin cannot edit a department's draft (it is the department's proposal).
    let (st, _) = send(
        &s,
        "PATCH",
        &format!("/v1/projects/{draft}"),
        Some(&p.admin),
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(st, 403);

    // Experts: only projects on their panel.
    let (st, _) = send(
        &s,
        "GET",
        &format!("/v1/projects/{reviewed}"),
        Some(&p.experts[0]),
        None,
    )
    .await;
    assert_eq!(st, 200);
    let (st, _) = send(
        &s,
        "GET",
        &format!("/v1/projects/{draft}"),
        Some(&p.experts[0]),
        None,
    )
    .await;
    assert_eq!(st, 404);
    let (st, _) = send(
        &s,
        "GET",
        &format!("/v1/projects/{reviewed}"),
        Some(&p.outsider_expert),
        None,
    )
    .await;
    assert_eq!(st, 404);
    let (_, b) = send(&s, "GET", "/v1/projects", Some(&p.experts[1]), None).await;
    let ids: Vec<&str> = b["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [reviewed.as_str()]);
    let (_, b) = send(&s, "GET", "/v1/projects", Some(&p.outsider_expert), None).await;
    assert_eq!(b["projects"].as_array().unwrap().len(), 0);
    // Experts do not read the audit history; citizens do not list projects.
    let (st, _) = send(
        &s,
        "GET",
        &format!("/v1/projects/{reviewed}/history"),
        Some(&p.experts[0]),
        None,
    )
    .await;
    assert_eq!(st, 403);
    let (st, _) = send(&s, "GET", "/v1/projects", Some(&p.citizen), None).await;
    assert_eq!(st, 403);
    let (st, _) = send(&s, "GET", "/v1/projects", None, None).await;
    assert_eq!(st, 401);
    // Statistics: officers get their own department only.
    let (st, b) = send(
        &s,
        "GET",
        &format!("/v1/projects/stats?year=2030&department={DEPT}"),
        Some(&p.other_officer),
        None,
    )
    .await;
    assert_eq!(st, 403, "{b}");
    let (st, _) = send(
        &s,
        "GET",
        "/v1/projects/stats?year=2030",
        Some(&p.other_officer),
        None,
    )
    .await;
    assert_eq!(st, 200);
    let (st, _) = send(
        &s,
        "GET",
        "/v1/projects/plan?year=2030",
        Some(&p.experts[0]),
        None,
    )
    .await;
    assert_eq!(st, 403);

    // The same over gRPC, as a department system calls.
    let mut grpc =
        pb::projects_service_client::ProjectsServiceClient::connect(s.cfg.projects_url.clone())
            .await
            .unwrap();
    let get = |token: &str, id: &str| {
        let mut req = tonic::Request::new(pb::GetProjectRequest { id: id.to_string() });
        req.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        req
    };
    assert_eq!(
        grpc.get_project(get(&p.other_officer, &draft))
            .await
            .unwrap_err()
            .code(),
        tonic::Code::NotFound
    );
    assert_eq!(
        grpc.get_project(get(&p.officer, &draft))
            .await
            .unwrap()
            .into_inner()
            .state,
        "draft"
    );
    assert_eq!(
        grpc.get_project(get(&p.officer, "not-a-uuid"))
            .await
            .unwrap_err()
            .code(),
        tonic::Code::InvalidArgument
    );
    // UpdateProject replaces the fields of its mask only; the department never changes.
    let draft_id = draft.clone();
    let update = |token: &str, mask: &[&str], draft: pb::ProjectDraft| {
        let mut req = tonic::Request::new(pb::UpdateProjectRequest {
            id: draft_id.clone(),
            project: Some(draft),
            update_mask: mask.iter().map(|m| m.to_string()).collect(),
        });
        req.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        req
    };
    let renamed = pb::ProjectDraft {
        name: "改名后的草稿".into(),
        department: OTHER.into(),
        ..Default::default()
    };
    let err = grpc
        .update_project(update(&p.officer, &["department"], renamed.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message().contains("update_mask[0]"),
        "{}",
        err.message()
    );
    let u = grpc
        .update_project(update(&p.officer, &["name"], renamed))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            u.name.as_str(),
            u.department.as_str(),
            u.year,
            u.requested_fen
        ),
        ("改名后的草稿", DEPT, 2030, 100)
    );
    s.stop().await;
}

#[tokio::test]
async fn two_admins_deciding_at_once_exactly_one_wins() {
    let s = Stack::start().await;
    let p = people(&s);
    let id = under_review(&s, &p, proposal(2030, "并发决策", &[1000])).await;
    for k in 0..3 {
        let (st, _) = send(
            &s,
            "POST",
            &format!("/v1/projects/{id}/reviews"),
            Some(&p.experts[k]),
            Some(review_body(&[900])),
        )
        .await;
        assert_eq!(st, 200);
    }
    let other_admin = s.token("padmin-2", &["project_admin"], None);
    let url = format!("/v1/projects/{id}/decide");
    let (a, b) = tokio::join!(
        send(
            &s,
            "POST",
            &url,
            Some(&p.admin),
            Some(json!({"outcome": "approve"}))
        ),
        send(
            &s,
            "POST",
            &url,
            Some(&other_admin),
            Some(json!({"outcome": "reject", "reason": "重复建设"}))
        ),
    );
    let (winner, loser) = if a.0 == 200 { (a, b) } else { (b, a) };
    assert_eq!(winner.0, 200, "{}", winner.1);
    assert_eq!(
        (loser.0, error_status(&loser.1)),
        (400, "FAILED_PRECONDITION"),
        "{}",
        loser.1
    );
    let state = winner.1["state"].as_str().unwrap().to_string();
    assert!(
        loser.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("project is {state}")),
        "{}",
        loser.1
    );
    let (_, h) = send(
        &s,
        "GET",
        &format!("/v1/projects/{id}/history"),
        Some(&p.admin),
        None,
    )
    .await;
    let decides = h["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "decide")
        .count();
    assert_eq!(decides, 1);
    let pool = sqlx::PgPool::connect(&s.cfg.service_database_url("projects"))
        .await
        .unwrap();
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE topic = 'projects.project.decided'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(n, 1);
    pool.close().await;
    s.stop().await;
}

/// The reference county: 10 projects, 2,110,000,000 fen requested, 220,000,000 fen cut.
const REFERENCE: &[(i64, i64)] = &[
    (480_000_000, 52_000_000),
    (350_000_000, 38_000_000),
    (260_000_000, 27_000_000),
    (215_000_000, 24_000_000),
    (190_000_000, 19_000_000),
    (168_000_000, 17_500_000),
    (142_000_000, 14_000_000),
    (120_000_000, 12_500_000),
    (105_000_000, 9_000_000),
    (80_000_000, 7_000_000),
];

#[tokio::test]
async fn the_reference_county_saves_10_43_percent_over_grpc_and_in_the_demo() {
    let s = Stack::start().await;
    let mut grpc =
        pb::projects_service_client::ProjectsServiceClient::connect(s.cfg.projects_url.clone())
            .await
            .unwrap();
    let admin = s.token("padmin-1", &["project_admin"], None);
    let authed = |token: &str, mut req: tonic::Request<()>| {
        req.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        req
    };
    fn with<T>(req: tonic::Request<()>, msg: T) -> tonic::Request<T> {
        let (md, ext, ()) = req.into_parts();
        tonic::Request::from_parts(md, ext, msg)
    }
    for (i, &(requested, cut)) in REFERENCE.iter().enumerate() {
        let dept = format!("340522-D{:02}", i % 4);
        let officer = s.token(&format!("officer-{i}"), &["officer"], Some(&dept));
        let p = grpc
            .create_project(with(
                authed(&officer, tonic::Request::new(())),
                pb::CreateProjectRequest {
                    project: Some(pb::ProjectDraft {
                        year: 2030,
                        name: format!("项目{i}"),
                        category: "upgrade".into(),
                        budget_lines: vec![pb::BudgetLine {
                            category: "development".into(),
                            amount_fen: requested,
                            justification: "测算".into(),
                            ..Default::default()
                        }],
                        planned_acceptance_date: "2030-10-31".into(),
                        ..Default::default()
                    }),
                    request_id: format!("ref-{i}"),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        grpc.submit_project(with(
            authed(&officer, tonic::Request::new(())),
            pb::ProjectActionRequest {
                id: p.id.clone(),
                note: String::new(),
            },
        ))
        .await
        .unwrap();
        grpc.form_panel(with(
            authed(&admin, tonic::Request::new(())),
            pb::FormPanelRequest {
                id: p.id.clone(),
                experts: (1..=3)
                    .map(|k| pb::Expert {
                        id: format!("expert-{k}"),
                        name: format!("专家{k}"),
                        department: "专家库".into(),
                    })
                    .collect(),
                extra_criteria: vec![],
            },
        ))
        .await
        .unwrap();
        for k in 1..=3 {
            let expert = s.token(&format!("expert-{k}"), &["expert"], None);
            grpc.submit_review(with(
                authed(&expert, tonic::Request::new(())),
                pb::SubmitReviewRequest {
                    id: p.id.clone(),
                    scores: [("necessity", 30), ("feasibility", 20), ("economy", 20)]
                        .iter()
                        .map(|(c, v)| pb::Score {
                            criterion: c.to_string(),
                            score: *v,
                        })
                        .collect(),
                    lines: vec![pb::LineProposal {
                        approved_fen: requested - cut + (k - 2) * 1000,
                        reason: "核减".into(),
                    }],
                    comment: String::new(),
                },
            ))
            .await
            .unwrap();
        }
        let d = grpc
            .decide_project(with(
                authed(&admin, tonic::Request::new(())),
                pb::DecideProjectRequest {
                    id: p.id.clone(),
                    outcome: "approve".into(),
                    rule: "median".into(),
                    reason: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!((d.approved_fen, d.cut_fen), (requested - cut, cut));
    }
    let stats = grpc
        .get_project_stats(with(
            authed(&admin, tonic::Request::new(())),
            pb::GetProjectStatsRequest {
                year: 2030,
                department: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let t = &stats;
    assert_eq!(
        (t.reviewed, t.requested_fen, t.approved_fen, t.cut_fen),
        (10, 2_110_000_000, 1_890_000_000, 220_000_000)
    );
    assert_eq!((t.saving_rate, t.saving_rate_bp), (10.43, 1043));
    assert_eq!(stats.by_department.len(), 4);
    let by: i64 = stats.by_department.iter().map(|d| d.cut_fen).sum();
    assert_eq!(by, 220_000_000);
    let plan = grpc
        .get_annual_plan(with(
            authed(&admin, tonic::Request::new(())),
            pb::GetAnnualPlanRequest {
                year: 2030,
                department: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (plan.projects.len(), plan.approved_fen),
        (10, 1_890_000_000)
    );
    // An officer's statistics are their department's.
    let officer = s.token("officer-0", &["officer"], Some("340522-D00"));
    let own = grpc
        .get_project_stats(with(
            authed(&officer, tonic::Request::new(())),
            pb::GetProjectStatsRequest {
                year: 2030,
                department: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.requested_fen, 480_000_000 + 190_000_000 + 105_000_000);

    // `yiwang up --demo` loads last year's reference projects into an empty database once.
    let s2 = Stack::start().await;
    let pool = sqlx::PgPool::connect(&s2.cfg.service_database_url("projects"))
        .await
        .unwrap();
    let last_year = chrono::Datelike::year(&(chrono::Utc::now() + chrono::Duration::hours(8))) - 1;
    let depts: Vec<yiwang_projects::demo::DemoDepartment> = (0..10)
        .map(|i| yiwang_projects::demo::DemoDepartment {
            code: format!("340522-D{i:02}"),
            items: vec![],
        })
        .collect();
    assert_eq!(
        yiwang_projects::demo::load_demo(&pool, &depts, last_year)
            .await
            .unwrap(),
        Some(10)
    );
    assert_eq!(
        yiwang_projects::demo::load_demo(&pool, &depts, last_year)
            .await
            .unwrap(),
        None
    );
    pool.close().await;
    let last_year = today().year() - 1;
    let (st, b) = send(
        &s2,
        "GET",
        &format!("/v1/projects/stats?year={last_year}"),
        Some(&s2.token("padmin", &["project_admin"], None)),
        None,
    )
    .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(
        (
            b["requested_fen"].as_i64(),
            b["cut_fen"].as_i64(),
            b["saving_rate"].as_f64()
        ),
        (Some(2_110_000_000), Some(220_000_000), Some(10.43))
    );
    assert_eq!(b["reviewed"], 10);
    s2.stop().await;
    s.stop().await;
}
