//! Cases end to end: a citizen files through the gateway as the mobile app does, the handling
//! department works the case, deadlines move with the clock; privacy and races.

mod common;

use common::*;
use serde_json::{Value, json};

const DEPT: &str = "340522-SCJGJ";
/// Valid resident ID (GB 11643 check digit) and mobile numbers.
const ID_A: &str = "11010519491231002X";
const ID_B: &str = "340522198001010033";

fn application(item: &str, id_number: &str, materials: &[&str]) -> Value {
    json!({
        "item_code": item,
        "channel": "online",
        "applicant": {"kind": "person", "name": "张三丰", "id_number": id_number, "phone": "13812345678"},
        "materials": materials,
    })
}

struct People {
    citizen_a: String,
    citizen_b: String,
    officer: String,
    other_officer: String,
    supervisor: String,
}

fn people(s: &Stack) -> People {
    People {
        citizen_a: s.token("citizen-a", &["citizen"], None),
        citizen_b: s.token("citizen-b", &["citizen"], None),
        officer: s.token("officer-1", &["officer"], Some(DEPT)),
        other_officer: s.token("officer-9", &["officer"], Some("340522-GAJ")),
        supervisor: s.token("supervisor-1", &["supervisor"], None),
    }
}

#[tokio::test]
async fn file_work_and_deliver_a_case_with_its_history() {
    let s = Stack::start().await;
    let p = people(&s);
    let item = create_published(&s, 1, "食品经营许可证核发").await;

    // Filing is idempotent on the Idempotency-Key.
    let file = |key: &'static str| {
        let s = &s;
        let token = p.citizen_a.clone();
        let body = application(&item, ID_A, &["营业执照"]);
        async move {
            let r = s
                .http
                .post(s.url("/v1/cases"))
                .bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (st, case) = file("file-1").await;
    assert_eq!(st, 201, "{case}");
    let (_, again) = file("file-1").await;
    assert_eq!(again["id"], case["id"]);
    let id = case["id"].as_str().unwrap().to_string();
    let number = case["case_number"].as_str().unwrap();
    assert!(
        number.starts_with("340522-") && number.len() == "340522-20240208-000017".len(),
        "{number}"
    );
    assert_eq!(case["state"], "received");
    assert_eq!(case["item_version"], 1);
    assert_eq!(case["clock"], "none");
    assert_eq!(case["missing_materials"], json!(["食品安全管理制度"]));
    assert_eq!(
        case["applicant"]["id_number"], ID_A,
        "the applicant sees their own number"
    );

    // Accept: the deadline is set from the item's promised limit (5 working days).
    let (st, c) = send(
        &s,
        "POST",
        &format!("/v1/cases/{id}/accept"),
        Some(&p.officer),
        None,
    )
    .await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["state"], "accepted");
    assert_eq!(c["clock"], "running");
    let deadline = c["deadline"].as_str().unwrap().to_string();
    assert!(deadline.ends_with("17:30:00+08:00"), "{deadline}");

    // 帮办代办: the department assigns a volunteer; the applicant cannot.
    let (st, _) = send(
        &s,
        "POST",
        &format!("/v1/cases/{id}/assign-helper"),
        Some(&p.citizen_a),
        Some(json!({"helper": "李志愿", "helper_kind": "volunteer"})),
    )
    .await;
    assert_eq!(st, 403);
    let (st, body) = send(
        &s,
        "POST",
        &format!("/v1/cases/{id}/assign-helper"),
        Some(&p.officer),
        Some(json!({"helper": "李志愿", "helper_kind": "friend"})),
    )
    .await;
    assert_eq!(
        (st, violation_field(&body)),
        (400, "helper_kind".to_string())
    );
    let (st, c) = send(
        &s,
        "POST",
        &format!("/v1/cases/{id}/assign-helper"),
        Some(&p.officer),
        Some(json!({"helper": "李志愿", "helper_kind": "volunteer", "note": "老年人代办"})),
    )
    .await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(
        (c["helper"].as_str(), c["helper_kind"].as_str()),
        (Some("李志愿"), Some("volunteer"))
    );

    // A correction stops the clock; submitting the missing material restarts it. (Without a
    // typed reason the correction list is the reason: see files_e2e.)
    let (st, body) = send(
        &s,
        "POST",
        &format!("/v1/cases/{id}/request-correction"),
        Some(&p.officer),
        Some(json!({"reason": "缺".repeat(2001)})),
    )
    .await;
    assert_eq!(
        (st, violation_field(&body)),
        (400, "reason".to_string()),
        "{body}"
    );
    let (st, c) = send(
        &s,
        "POST",
        &format!("/v1/cases/{id}/request-correction"),
        Some(&p.officer),
        Some(json!({"reason": "缺少食品安全管理制度"})),
    )
    .await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(
        (c["state"].as_str(), c["clock"].as_str()),
        (Some("correction"), Some("stopped"))
    );
    // Only the applicant submits the correction.
    let (st, _) = send(
        &s,
        "POST",
        &format!("/v1/cases/{id}/submit-correction"),
        Some(&p.officer),
        Some(json!({"materials": ["食品安全管理制度"]})),
    )
    .await;
    assert_eq!(st, 403);
    // Materials are named as the pinned item version lists them, as at filing.
    let (st, body) = send(
        &s,
        "POST",
        &format!("/v1/cases/{id}/submit-correction"),
        Some(&p.citizen_a),
        Some(json!({"materials": ["食品安全管理制度", "随便一张纸"]})),
    )
    .await;
    assert_eq!(
        (st, violation_field(&body)),
        (400, "materials[1]".to_string()),
        "{body}"
    );
    let (_, c) = send(
        &s,
        "GET",
        &format!("/v1/cases/{id}"),
        Some(&p.citizen_a),
        None,
    )
    .await;
    assert_eq!(
        c["state"], "correction",
        "a refused correction changes nothing"
    );
    let (st, c) = send(
        &s,
        "POST",
        &format!("/v1/cases/{id}/submit-correction"),
        Some(&p.citizen_a),
        Some(json!({"materials": ["食品安全管理制度"]})),
    )
    .await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(
        (c["state"].as_str(), c["clock"].as_str()),
        (Some("accepted"), Some("running"))
    );
    assert_eq!(c["missing_materials"], json!([]));
    // Stopped for (much) less than a working second or so: the deadline is where it was, or later.
    assert!(c["deadline"].as_str().unwrap() >= deadline.as_str());

    // An illegal transition names the current state.
    let (st, body) = send(
        &s,
        "POST",
        &format!("/v1/cases/{id}/deliver"),
        Some(&p.officer),
        Some(json!({"method": "window"})),
    )
    .await;
    assert_eq!(st, 400, "{body}");
    assert_eq!(body["error"]["status"], "FAILED_PRECONDITION");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is accepted"),
        "{body}"
    );

    let (st, body) = send(
        &s,
        "POST",
        &format!("/v1/cases/{id}/decide"),
        Some(&p.officer),
        Some(json!({"outcome": "maybe"})),
    )
    .await;
    assert_eq!((st, violation_field(&body)), (400, "outcome".to_string()));
    let (st, c) = send(
        &s,
        "POST",
        &format!("/v1/cases/{id}/decide"),
        Some(&p.officer),
        Some(json!({"outcome": "approved"})),
    )
    .await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(
        (c["state"].as_str(), c["clock"].as_str()),
        (Some("approved"), Some("none"))
    );
    let (st, body) = send(
        &s,
        "POST",
        &format!("/v1/cases/{id}/deliver"),
        Some(&p.officer),
        Some(json!({"method": "ems"})),
    )
    .await;
    assert_eq!(
        (st, violation_field(&body)),
        (400, "tracking_number".to_string())
    );
    let (st, c) = send(
        &s,
        "POST",
        &format!("/v1/cases/{id}/deliver"),
        Some(&p.officer),
        Some(json!({"method": "ems", "tracking_number": "EA123456789CN"})),
    )
    .await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["state"], "delivered");

    let (st, h) = send(
        &s,
        "GET",
        &format!("/v1/cases/{id}/history"),
        Some(&p.citizen_a),
        None,
    )
    .await;
    assert_eq!(st, 200, "{h}");
    let steps: Vec<(String, String, String)> = h["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["action"].as_str().unwrap().into(),
                t["to_state"].as_str().unwrap().into(),
                t["actor"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expect = [
        ("file", "received", "citizen-a"),
        ("accept", "accepted", "officer-1"),
        ("assign_helper", "accepted", "officer-1"),
        ("request_correction", "correction", "officer-1"),
        ("submit_correction", "accepted", "citizen-a"),
        ("decide", "approved", "officer-1"),
        ("deliver", "delivered", "officer-1"),
    ];
    assert_eq!(steps.len(), expect.len(), "{h}");
    for (got, want) in steps.iter().zip(expect) {
        assert_eq!((got.0.as_str(), got.1.as_str(), got.2.as_str()), want);
    }
    s.stop().await;
}

#[tokio::test]
async fn applicants_and_departments_see_only_their_own() {
    let s = Stack::start().await;
    let p = people(&s);
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    let (st, a) = send(
        &s,
        "POST",
        "/v1/cases",
        Some(&p.citizen_a),
        Some(application(&item, ID_A, &[])),
    )
    .await;
    assert_eq!(st, 201, "{a}");
    let (st, _) = send(
        &s,
        "POST",
        "/v1/cases",
        Some(&p.citizen_b),
        Some(application(&item, ID_B, &[])),
    )
    .await;
    assert_eq!(st, 201);
    let id = a["id"].as_str().unwrap();

    // Another citizen and another department's officer: the case does not exist for them.
    for token in [&p.citizen_b, &p.other_officer] {
        let (st, body) = send(&s, "GET", &format!("/v1/cases/{id}"), Some(token), None).await;
        assert_eq!(st, 404, "{body}");
        let (st, _) = send(
            &s,
            "GET",
            &format!("/v1/cases/{id}/history"),
            Some(token),
            None,
        )
        .await;
        assert_eq!(st, 404);
    }
    let (st, _) = send(&s, "GET", &format!("/v1/cases/{id}"), None, None).await;
    assert_eq!(st, 401);
    // The other department cannot act on it either.
    let (st, _) = send(
        &s,
        "POST",
        &format!("/v1/cases/{id}/accept"),
        Some(&p.other_officer),
        None,
    )
    .await;
    assert_eq!(st, 404);

    // Lists: each citizen their own, the department both, another department none.
    let (_, list) = send(&s, "GET", "/v1/cases", Some(&p.citizen_a), None).await;
    let cases = list["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0]["applicant"]["id_number"], ID_A);
    let (_, list) = send(&s, "GET", "/v1/cases", Some(&p.officer), None).await;
    assert_eq!(list["cases"].as_array().unwrap().len(), 2);
    let (_, list) = send(&s, "GET", "/v1/cases", Some(&p.other_officer), None).await;
    assert_eq!(list["cases"].as_array().unwrap().len(), 0);

    // Oversight reads every case with personal numbers masked.
    let (st, c) = send(
        &s,
        "GET",
        &format!("/v1/cases/{id}"),
        Some(&p.supervisor),
        None,
    )
    .await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["applicant"]["id_number"], "1101**********002X");
    assert_eq!(c["applicant"]["phone"], "138****5678");
    assert_eq!(c["applicant"]["name"], "张**");

    // The same rules over gRPC, as a department system would call.
    use yiwang_proto::cases::v1 as pb;
    let mut grpc = pb::cases_service_client::CasesServiceClient::connect(s.cfg.cases_url.clone())
        .await
        .unwrap();
    let get = |token: &str| {
        let mut req = tonic::Request::new(pb::GetCaseRequest { id: id.to_string() });
        req.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        req
    };
    let err = grpc.get_case(get(&p.citizen_b)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    let c = grpc.get_case(get(&p.officer)).await.unwrap().into_inner();
    assert_eq!(c.applicant.unwrap().id_number, ID_A);

    // ID numbers are sealed at rest: not in the database in clear.
    let pool = sqlx::PgPool::connect(&s.cfg.service_database_url("cases"))
        .await
        .unwrap();
    let clear: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM cases WHERE encode(applicant_id_sealed, 'escape') LIKE '%' || $1 || '%'",
    )
    .bind("19491231")
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(clear, 0);
    pool.close().await;
    s.stop().await;
}

#[tokio::test]
async fn two_clerks_one_case_exactly_one_wins() {
    let s = Stack::start().await;
    let p = people(&s);
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    let (_, c) = send(
        &s,
        "POST",
        "/v1/cases",
        Some(&p.citizen_a),
        Some(application(&item, ID_A, &[])),
    )
    .await;
    let id = c["id"].as_str().unwrap().to_string();
    let clerk2 = s.token("clerk-2", &["clerk"], Some(DEPT));
    let accept = |token: String| {
        let s = &s;
        let id = id.clone();
        async move {
            send(
                s,
                "POST",
                &format!("/v1/cases/{id}/accept"),
                Some(&token),
                None,
            )
            .await
        }
    };
    let (a, b) = tokio::join!(accept(p.officer.clone()), accept(clerk2));
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 400], "{a:?} {b:?}");
    let loser = if a.0 == 400 { a.1 } else { b.1 };
    assert_eq!(loser["error"]["status"], "FAILED_PRECONDITION");
    assert!(
        loser["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is accepted"),
        "{loser}"
    );
    let (_, h) = send(
        &s,
        "GET",
        &format!("/v1/cases/{id}/history"),
        Some(&p.officer),
        None,
    )
    .await;
    assert_eq!(
        h["transitions"].as_array().unwrap().len(),
        2,
        "one filing, one acceptance"
    );
    s.stop().await;
}

#[tokio::test]
async fn case_numbers_stay_unique_under_concurrent_filing() {
    let s = Stack::start().await;
    let p = people(&s);
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    // More than two blocks of reserved numbers, more filings than pooled connections: a block
    // runs out while other filings hold connections.
    let filings = (0..120).map(|_| {
        let body = application(&item, ID_A, &[]);
        send(&s, "POST", "/v1/cases", Some(&p.citizen_a), Some(body))
    });
    let results = futures::future::join_all(filings).await;
    let mut numbers: Vec<String> = results
        .iter()
        .map(|(st, c)| {
            assert_eq!(*st, 201, "{c}");
            c["case_number"].as_str().unwrap().to_string()
        })
        .collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 120);
    s.stop().await;
}

#[tokio::test]
async fn bad_applications_name_the_field() {
    let s = Stack::start().await;
    let p = people(&s);
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    let good = application(&item, ID_A, &[]);
    let with = |path: &[&str], v: Value| {
        let mut b = good.clone();
        let mut cur = &mut b;
        for k in &path[..path.len() - 1] {
            cur = &mut cur[*k];
        }
        cur[path[path.len() - 1]] = v;
        b
    };
    for (body, field) in [
        (
            with(&["applicant", "id_number"], json!("110105194912310021")),
            "applicant.id_number",
        ),
        (
            with(&["applicant", "phone"], json!("12345")),
            "applicant.phone",
        ),
        (
            with(&["applicant", "kind"], json!("alien")),
            "applicant.kind",
        ),
        (with(&["channel"], json!("pigeon")), "channel"),
        (with(&["channel"], json!("weekend_appointment")), "channel"),
        (with(&["item_code"], json!("NO-SUCH-ITEM")), "item_code"),
        (with(&["materials"], json!([""])), "materials[0]"),
        (
            with(&["materials"], json!(["营业执照", "户口簿"])),
            "materials[1]",
        ),
        (
            with(&["applicant", "name"], json!("张".repeat(101))),
            "applicant.name",
        ),
        (
            with(&["applicant", "uscc"], json!("91350100M000100Y43")),
            "applicant.uscc",
        ),
    ] {
        let (st, resp) = send(
            &s,
            "POST",
            "/v1/cases",
            Some(&p.citizen_a),
            Some(body.clone()),
        )
        .await;
        assert_eq!(
            (st, violation_field(&resp)),
            (400, field.to_string()),
            "{body}: {resp}"
        );
    }
    // Nothing was filed by any of them.
    let (_, list) = send(&s, "GET", "/v1/cases", Some(&p.citizen_a), None).await;
    assert_eq!(list["cases"].as_array().unwrap().len(), 0);

    // A suspended item takes no new cases; unauthenticated and role-less callers are refused.
    let admin = s.token("cat-admin", &["catalog_admin"], None);
    let (st, _) = send(
        &s,
        "POST",
        &format!("/v1/items/{item}/suspend"),
        Some(&admin),
        Some(json!({"reason": "政策调整"})),
    )
    .await;
    assert_eq!(st, 200);
    let (st, resp) = send(
        &s,
        "POST",
        "/v1/cases",
        Some(&p.citizen_a),
        Some(good.clone()),
    )
    .await;
    assert_eq!(st, 400, "{resp}");
    assert_eq!(resp["error"]["status"], "FAILED_PRECONDITION");
    let (st, _) = send(&s, "POST", "/v1/cases", None, Some(good.clone())).await;
    assert_eq!(st, 401);
    let (st, _) = send(&s, "POST", "/v1/cases", Some(&p.supervisor), Some(good)).await;
    assert_eq!(st, 403);
    s.stop().await;
}

/// Files a case as citizen A and takes it to a decision.
async fn decided_case(s: &Stack, p: &People, item: &str) -> String {
    let (st, c) = send(
        s,
        "POST",
        "/v1/cases",
        Some(&p.citizen_a),
        Some(application(item, ID_A, &[])),
    )
    .await;
    assert_eq!(st, 201, "{c}");
    let id = c["id"].as_str().unwrap().to_string();
    let (st, c) = send(
        s,
        "POST",
        &format!("/v1/cases/{id}/accept"),
        Some(&p.officer),
        None,
    )
    .await;
    assert_eq!(st, 200, "{c}");
    let (st, c) = send(
        s,
        "POST",
        &format!("/v1/cases/{id}/decide"),
        Some(&p.officer),
        Some(json!({"outcome": "approved"})),
    )
    .await;
    assert_eq!(st, 200, "{c}");
    id
}

#[tokio::test]
async fn a_bad_evaluation_opens_a_rectification_followed_by_a_callback() {
    let s = Stack::start().await;
    let p = people(&s);
    let item = create_published(&s, 1, "食品经营许可证核发").await;

    // Not before the decision.
    let (_, open) = send(
        &s,
        "POST",
        "/v1/cases",
        Some(&p.citizen_a),
        Some(application(&item, ID_A, &[])),
    )
    .await;
    let open_id = open["id"].as_str().unwrap();
    let (st, body) = send(
        &s,
        "POST",
        &format!("/v1/cases/{open_id}/evaluation"),
        Some(&p.citizen_a),
        Some(json!({"level": 5})),
    )
    .await;
    assert_eq!(st, 400, "{body}");
    assert_eq!(body["error"]["status"], "FAILED_PRECONDITION");

    let id = decided_case(&s, &p, &item).await;
    let path = format!("/v1/cases/{id}/evaluation");
    let (st, body) = send(
        &s,
        "POST",
        &path,
        Some(&p.citizen_a),
        Some(json!({"level": 0})),
    )
    .await;
    assert_eq!((st, violation_field(&body)), (400, "level".to_string()));
    let (st, _) = send(
        &s,
        "POST",
        &path,
        Some(&p.citizen_b),
        Some(json!({"level": 1})),
    )
    .await;
    assert_eq!(st, 404, "another citizen does not see the case");
    let (st, _) = send(
        &s,
        "POST",
        &path,
        Some(&p.officer),
        Some(json!({"level": 5})),
    )
    .await;
    assert_eq!(st, 403, "only the applicant evaluates");

    let (st, e) = send(&s, "POST", &path, Some(&p.citizen_a),
        Some(json!({"level": 2, "dimensions": {"attitude": 2, "efficiency": 1}, "comment": "等了太久"}))).await;
    assert_eq!(st, 201, "{e}");
    let rid = e["rectification_id"]
        .as_str()
        .expect("a 差评 opens a rectification")
        .to_string();
    let (st, _) = send(
        &s,
        "POST",
        &path,
        Some(&p.citizen_a),
        Some(json!({"level": 5})),
    )
    .await;
    assert_eq!(st, 409, "one evaluation per case");

    // The department sees it (with a working-day deadline), another department does not.
    let (_, list) = send(
        &s,
        "GET",
        "/v1/rectifications?state=open",
        Some(&p.officer),
        None,
    )
    .await;
    let items = list["rectifications"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["id"], rid.as_str());
    assert_eq!(items[0]["level"], 2);
    assert!(
        items[0]["deadline"]
            .as_str()
            .unwrap()
            .ends_with("17:30:00+08:00"),
        "{list}"
    );
    let (_, list) = send(
        &s,
        "GET",
        "/v1/rectifications",
        Some(&p.other_officer),
        None,
    )
    .await;
    assert_eq!(list["rectifications"].as_array().unwrap().len(), 0);
    let (st, _) = send(
        &s,
        "POST",
        &format!("/v1/rectifications/{rid}/complete"),
        Some(&p.other_officer),
        Some(json!({"note": "x"})),
    )
    .await;
    assert_eq!(st, 404);

    // Complete, then call back; not the other way round.
    let (st, body) = send(
        &s,
        "POST",
        &format!("/v1/rectifications/{rid}/callback"),
        Some(&p.officer),
        Some(json!({"note": "已回访", "satisfied": true})),
    )
    .await;
    assert_eq!(st, 400, "{body}");
    let (st, body) = send(
        &s,
        "POST",
        &format!("/v1/rectifications/{rid}/complete"),
        Some(&p.officer),
        Some(json!({})),
    )
    .await;
    assert_eq!((st, violation_field(&body)), (400, "note".to_string()));
    let (st, r) = send(
        &s,
        "POST",
        &format!("/v1/rectifications/{rid}/complete"),
        Some(&p.officer),
        Some(json!({"note": "窗口增派人手，承诺件提速"})),
    )
    .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["state"], "completed");
    let (st, r) = send(
        &s,
        "POST",
        &format!("/v1/rectifications/{rid}/callback"),
        Some(&p.officer),
        Some(json!({"note": "申请人表示满意", "satisfied": true})),
    )
    .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(
        (r["state"].as_str(), r["callback_satisfied"].as_bool()),
        (Some("called_back"), Some(true))
    );

    // The negative evaluation went out as an event (through the outbox).
    let pool = sqlx::PgPool::connect(&s.cfg.service_database_url("cases"))
        .await
        .unwrap();
    let events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE topic = 'cases.evaluation.negative' AND payload->>'case_id' = $1",
    )
    .bind(&id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(events, 1);
    pool.close().await;
    s.stop().await;
}

#[tokio::test]
async fn overdue_cases_turn_red_and_are_announced_once_however_many_sweepers() {
    let s = Stack::start().await;
    let p = people(&s);
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    let (_, c) = send(
        &s,
        "POST",
        "/v1/cases",
        Some(&p.citizen_a),
        Some(application(&item, ID_A, &[])),
    )
    .await;
    let id = c["id"].as_str().unwrap().to_string();
    let (_, c) = send(
        &s,
        "POST",
        &format!("/v1/cases/{id}/accept"),
        Some(&p.officer),
        None,
    )
    .await;
    assert_eq!(c["warning"], "none", "{c}");

    let pool = sqlx::PgPool::connect(&s.cfg.service_database_url("cases"))
        .await
        .unwrap();
    sqlx::query("UPDATE cases SET deadline = now() - interval '1 hour' WHERE id = $1::uuid")
        .bind(&id)
        .execute(&pool)
        .await
        .unwrap();
    let (_, c) = send(
        &s,
        "GET",
        &format!("/v1/cases/{id}"),
        Some(&p.citizen_a),
        None,
    )
    .await;
    assert_eq!(c["warning"], "red", "{c}");

    // Three replicas sweeping at once.
    let (a, b, c3) = tokio::join!(
        yiwang_cases::case_store::sweep_overdue(&pool),
        yiwang_cases::case_store::sweep_overdue(&pool),
        yiwang_cases::case_store::sweep_overdue(&pool),
    );
    assert!(a.unwrap() + b.unwrap() + c3.unwrap() <= 1);
    assert_eq!(
        yiwang_cases::case_store::sweep_overdue(&pool)
            .await
            .unwrap(),
        0
    );
    let events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE topic = 'cases.case.overdue' AND payload->>'case_id' = $1",
    )
    .bind(&id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(events, 1);
    pool.close().await;
    s.stop().await;
}

#[tokio::test]
async fn statistics_count_channels_decisions_and_satisfaction() {
    let s = Stack::start().await;
    let p = people(&s);
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    // Two online filings and one at the window (by a clerk); one decided on time and rated 5.
    let id = decided_case(&s, &p, &item).await;
    let (st, _) = send(
        &s,
        "POST",
        &format!("/v1/cases/{id}/evaluation"),
        Some(&p.citizen_a),
        Some(json!({"level": 5})),
    )
    .await;
    assert_eq!(st, 201);
    let (st, _) = send(
        &s,
        "POST",
        "/v1/cases",
        Some(&p.citizen_b),
        Some(application(&item, ID_B, &[])),
    )
    .await;
    assert_eq!(st, 201);
    let mut window = application(&item, ID_B, &[]);
    window["channel"] = json!("window");
    let (st, c) = send(&s, "POST", "/v1/cases", Some(&p.officer), Some(window)).await;
    assert_eq!(st, 201, "{c}");
    assert_eq!(c["filed_by"], "officer-1");

    let today = chrono::Utc::now().date_naive();
    let q = format!(
        "/v1/cases/stats?from={}&to={}",
        today - chrono::Duration::days(1),
        today + chrono::Duration::days(2)
    );
    let (st, county) = send(&s, "GET", &q, Some(&p.supervisor), None).await;
    assert_eq!(st, 200, "{county}");
    assert_eq!(county["filed"], 3);
    assert_eq!(county["by_channel"], json!({"online": 2, "window": 1}));
    assert_eq!(county["online_share"], 66.67);
    assert_eq!(county["decided"], 1);
    assert_eq!(county["on_time_rate"], 100.0);
    assert_eq!(county["evaluations"], 1);
    assert_eq!(county["good_rate"], 100.0);
    assert_eq!(county["by_state"]["approved"], 1);
    assert_eq!(county["top_items"][0]["count"], 3);

    // One county on a platform that serves several: its region code picks its departments.
    let (st, county_only) = send(
        &s,
        "GET",
        &format!("{q}&region=340522"),
        Some(&p.supervisor),
        None,
    )
    .await;
    assert_eq!(st, 200, "{county_only}");
    assert_eq!(county_only["filed"], 3);
    let (_, elsewhere) = send(
        &s,
        "GET",
        &format!("{q}&region=340523"),
        Some(&p.supervisor),
        None,
    )
    .await;
    assert_eq!(elsewhere["filed"], 0);
    let (st, body) = send(
        &s,
        "GET",
        &format!("{q}&region=3405"),
        Some(&p.supervisor),
        None,
    )
    .await;
    assert_eq!((st, violation_field(&body)), (400, "region".to_string()));
    let (st, _) = send(
        &s,
        "GET",
        &format!("{q}&region=340522"),
        Some(&p.officer),
        None,
    )
    .await;
    assert_eq!(st, 403, "staff see their own department's figures only");

    // Staff see their department only; applicants see no statistics.
    let (_, mine) = send(&s, "GET", &q, Some(&p.officer), None).await;
    assert_eq!(
        (mine["department"].as_str(), mine["filed"].as_u64()),
        (Some(DEPT), Some(3))
    );
    let (_, theirs) = send(&s, "GET", &q, Some(&p.other_officer), None).await;
    assert_eq!(theirs["filed"], 0);
    let (st, _) = send(&s, "GET", &q, Some(&p.citizen_a), None).await;
    assert_eq!(st, 403);
    let (st, body) = send(
        &s,
        "GET",
        "/v1/cases/stats?from=2026-13-01&to=2027-01-01",
        Some(&p.supervisor),
        None,
    )
    .await;
    assert_eq!((st, violation_field(&body)), (400, "from".to_string()));
    let (st, body) = send(
        &s,
        "GET",
        "/v1/cases/stats?from=2027-01-01&to=2026-01-01",
        Some(&p.supervisor),
        None,
    )
    .await;
    assert_eq!((st, violation_field(&body)), (400, "to".to_string()));
    s.stop().await;
}

#[tokio::test]
async fn demo_cases_load_once_and_live_numbering_continues_after_them() {
    use yiwang_cases::calendar::{Limit, Unit};
    let s = Stack::start().await;
    let p = people(&s);
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    let pool = sqlx::PgPool::connect(&s.cfg.service_database_url("cases"))
        .await
        .unwrap();
    let calendar = yiwang_cases::store::load_calendar(&pool).await.unwrap();
    let items = vec![yiwang_cases::seed::DemoItem {
        code: item.clone(),
        name: "食品经营许可证核发".into(),
        department: DEPT.into(),
        task_type: "01".into(),
        required_materials: vec!["营业执照".into()],
        limit: Limit::new(5, Unit::WorkingDays),
        high_frequency: true,
    }];
    let key = yiwang_kit::crypto::DataKey::development();
    let now = chrono::Utc::now();
    let loaded =
        yiwang_cases::seed::load_demo(&pool, &key, &calendar, "340522", &items, 1_000, now)
            .await
            .unwrap()
            .expect("an empty service takes the demo");
    assert!(loaded.cases > 2_000, "{} cases", loaded.cases);
    // January–May of the reference half-year holds exactly the cases asked for, 62.97 % online.
    let year = yiwang_cases::seed::reference_year(
        now.with_timezone(&yiwang_cases::calendar::SHANGHAI)
            .date_naive(),
    );
    let (jan_may, online): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE channel IN ('online', 'mobile')) FROM cases
          WHERE created_at >= make_timestamptz($1, 1, 1, 0, 0, 0, 'Asia/Shanghai')
            AND created_at < make_timestamptz($1, 6, 1, 0, 0, 0, 'Asia/Shanghai')",
    )
    .bind(year)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(jan_may, 1_000);
    assert!((online - 630).abs() <= 1, "{online} online");
    assert!(
        yiwang_cases::seed::load_demo(&pool, &key, &calendar, "340522", &items, 1_000, now)
            .await
            .unwrap()
            .is_none()
    );

    // Numbers stay unique: a live filing today comes after the demo's.
    let (st, c) = send(
        &s,
        "POST",
        "/v1/cases",
        Some(&p.citizen_a),
        Some(application(&item, ID_A, &[])),
    )
    .await;
    assert_eq!(st, 201, "{c}");
    let dupes: i64 = sqlx::query_scalar("SELECT count(*) - count(DISTINCT case_number) FROM cases")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(dupes, 0);
    // Demo personal data is sealed and readable by the department.
    let (_, list) = send(&s, "GET", "/v1/cases?page_size=2", Some(&p.officer), None).await;
    let id_number = list["cases"][1]["applicant"]["id_number"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        yiwang_kit::ids::check_resident_id(&id_number).is_ok(),
        "{id_number}"
    );
    pool.close().await;
    s.stop().await;
}

#[tokio::test]
async fn a_department_system_works_a_licence_over_grpc_and_the_decision_names_the_licensee() {
    use yiwang_proto::cases::v1 as pb;
    let s = Stack::start().await;
    let p = people(&s);
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    let enterprise = s.token("ent-1", &["enterprise"], None);
    let licensee = uscc("91340522MA2N00001");
    let (st, c) = send(&s, "POST", "/v1/cases", Some(&enterprise), Some(json!({
        "item_code": item, "channel": "online",
        "applicant": {"kind": "legal_person", "name": "含山县好味餐饮有限公司", "uscc": licensee, "phone": "13912345678"},
        "materials": ["营业执照", "食品安全管理制度"],
    }))).await;
    assert_eq!(st, 201, "{c}");
    let id = c["id"].as_str().unwrap().to_string();

    let mut grpc = pb::cases_service_client::CasesServiceClient::connect(s.cfg.cases_url.clone())
        .await
        .unwrap();
    let act = |token: &str, outcome: &str| {
        let mut req = tonic::Request::new(pb::CaseActionRequest {
            id: id.clone(),
            outcome: outcome.into(),
            ..Default::default()
        });
        req.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        req
    };
    // The applicant cannot accept their own case; another department does not see it.
    assert_eq!(
        grpc.accept_case(act(&enterprise, ""))
            .await
            .unwrap_err()
            .code(),
        tonic::Code::PermissionDenied
    );
    assert_eq!(
        grpc.accept_case(act(&p.other_officer, ""))
            .await
            .unwrap_err()
            .code(),
        tonic::Code::NotFound
    );
    let c = grpc
        .accept_case(act(&p.officer, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (c.state.as_str(), c.clock.as_str()),
        ("accepted", "running")
    );
    // Deciding twice: the second is refused with the current state named.
    let c = grpc
        .decide_case(act(&p.officer, "approved"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(c.state, "approved");
    let err = grpc
        .decide_case(act(&p.officer, "approved"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert!(err.message().contains("is approved"), "{}", err.message());

    // 审管联动 downstream gets the licence with the licensee's USCC (and no personal numbers).
    let pool = sqlx::PgPool::connect(&s.cfg.service_database_url("cases"))
        .await
        .unwrap();
    let payload: serde_json::Value = sqlx::query_scalar(
        "SELECT payload FROM outbox WHERE topic = 'cases.case.decided' AND payload->>'case_id' = $1",
    )
    .bind(&id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(payload["applicant_uscc"], licensee.as_str());
    assert_eq!(payload["task_type"], "01");
    assert_eq!(payload["outcome"], "approved");
    assert!(!payload.to_string().contains("13912345678"));

    // Less than a working day before the deadline the case turns yellow.
    sqlx::query("UPDATE cases SET state = 'accepted', clock = 'running', accepted_at = now() - interval '10 days', deadline = now() + interval '1 hour' WHERE id = $1::uuid")
        .bind(&id)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let (_, c) = send(
        &s,
        "GET",
        &format!("/v1/cases/{id}"),
        Some(&enterprise),
        None,
    )
    .await;
    assert_eq!(c["warning"], "yellow", "{c}");
    s.stop().await;
}
