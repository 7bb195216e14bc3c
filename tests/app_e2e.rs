//! What the app needs around a citizen's own affairs (issue 14): the query code a filing
//! answers and the public progress anyone holding it may follow (办件查询), and the "my" views.

mod common;

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use common::*;
use serde_json::{Value, json};

const DEPT: &str = "340522-SCJGJ";

async fn file(s: &Stack, item: &str, token: &str) -> Value {
    let (st, c) = send(
        s,
        "POST",
        "/v1/cases",
        Some(token),
        Some(json!({"item_code": item, "channel": "mobile",
            "applicant": {"kind": "legal_person", "name": "含山县好味餐饮有限公司",
                          "uscc": uscc("91340522MA2000001"), "phone": "13812345678"}})),
    )
    .await;
    assert_eq!(st, 201, "{c}");
    c
}

#[tokio::test]
async fn anyone_with_the_case_number_and_query_code_follows_progress_without_personal_data() {
    let s = Stack::start().await;
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    let enterprise = s.token("enterprise-1", &["enterprise"], None);
    let officer = s.token("officer-a", &["officer"], Some(DEPT));
    let c = file(&s, &item, &enterprise).await;
    let code = c["query_code"].as_str().unwrap().to_string();
    assert_eq!(code.len(), 10, "{c}");
    assert!(
        code.chars()
            .all(|ch| "23456789ABCDEFGHJKMNPQRSTUVWXYZ".contains(ch)),
        "{code}: no 0/O/1/I/L to misread"
    );
    let (id, number) = (
        c["id"].as_str().unwrap().to_string(),
        c["case_number"].as_str().unwrap().to_string(),
    );
    // The applicant and the department see the code again (a receipt reprinted); oversight not.
    let (_, mine) = send(
        &s,
        "GET",
        &format!("/v1/cases/{id}"),
        Some(&enterprise),
        None,
    )
    .await;
    assert_eq!(mine["query_code"], json!(code));
    let supervisor = s.token("supervisor-1", &["supervisor"], None);
    let (_, seen) = send(
        &s,
        "GET",
        &format!("/v1/cases/{id}"),
        Some(&supervisor),
        None,
    )
    .await;
    assert_eq!(seen["query_code"], "");

    // No account needed; any case of letters; no personal data in the answer.
    let public = format!(
        "/v1/public/cases/{number}?query_code={}",
        code.to_lowercase()
    );
    let (st, p) = send(&s, "GET", &public, None, None).await;
    assert_eq!(st, 200, "{p}");
    assert_eq!(
        (p["item_name"].as_str(), p["state"].as_str()),
        (Some("食品经营许可证核发"), Some("received"))
    );
    let text = p.to_string();
    for personal in [
        "13812345678",
        "好味餐饮",
        "91340522MA2000001",
        "enterprise-1",
    ] {
        assert!(!text.contains(personal), "{personal} in {text}");
    }
    let (st, v) = send(
        &s,
        "POST",
        &format!("/v1/cases/{id}/accept"),
        Some(&officer),
        Some(json!({})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let (_, p) = send(&s, "GET", &public, None, None).await;
    let steps: Vec<(u64, &str)> = p["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["code"].as_u64().unwrap(), x["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        vec![(1, "已接件"), (3, "已受理"), (8, "部门开始办理")]
    );
    assert!(p["deadline"].as_str().unwrap().ends_with("+08:00"));

    // A wrong code is exactly an unknown case.
    let wrong = if code.starts_with('A') { "B" } else { "A" };
    let (st1, v1) = send(
        &s,
        "GET",
        &format!("/v1/public/cases/{number}?query_code={wrong}{}", &code[1..]),
        None,
        None,
    )
    .await;
    let (st2, v2) = send(
        &s,
        "GET",
        &format!("/v1/public/cases/340522-20000101-000001?query_code={code}"),
        None,
        None,
    )
    .await;
    assert_eq!((st1, st2), (404, 404));
    assert_eq!(
        v1, v2,
        "the same answer for a wrong code and an unknown case"
    );
    let (st, _) = send(&s, "GET", &format!("/v1/public/cases/{number}"), None, None).await;
    assert_eq!(st, 404);
    s.stop().await;
}

async fn ordinary_wednesday(s: &Stack) -> NaiveDate {
    let today = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .date_naive();
    let mut d = today + Duration::days(14);
    loop {
        if d.weekday() == Weekday::Wed {
            let (_, year) = send(s, "GET", &format!("/v1/calendar/{}", d.year()), None, None).await;
            if !year["days"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["date"] == d.to_string())
            {
                return d;
            }
        }
        d += Duration::days(1);
    }
}

#[tokio::test]
async fn my_views_show_the_signed_in_applicant_their_own_and_nothing_else() {
    let s = Stack::start().await;
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    let me = s.token("enterprise-1", &["enterprise"], None);
    let other = s.token("enterprise-2", &["enterprise"], None);
    let officer = s.token("officer-a", &["officer"], Some(DEPT));
    let case = file(&s, &item, &me).await;
    file(&s, &item, &other).await;
    let (st, t) = send(
        &s,
        "POST",
        "/v1/tickets",
        Some(&me),
        Some(
            json!({"kind": "enterprise_request", "subject": "开业咨询", "body": "需要哪些材料？"}),
        ),
    )
    .await;
    assert_eq!(st, 201, "{t}");
    let day = ordinary_wednesday(&s).await;
    let (st, slot) = send(
        &s,
        "POST",
        "/v1/appointment-slots",
        Some(&officer),
        Some(json!({"item_code": item, "hall": "县政务服务中心 A 区 3 号窗口", "date": day.to_string(),
            "start_time": "09:00", "end_time": "09:30", "capacity": 5})),
    )
    .await;
    assert_eq!(st, 201, "{slot}");
    for token in [&me, &other] {
        let (st, v) = send(
            &s,
            "POST",
            "/v1/appointments",
            Some(token),
            Some(json!({"slot_id": slot["id"]})),
        )
        .await;
        assert_eq!(st, 201, "{v}");
    }

    let (st, cases) = send(&s, "GET", "/v1/me/cases", Some(&me), None).await;
    assert_eq!(st, 200, "{cases}");
    let ids: Vec<&Value> = cases["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["id"])
        .collect();
    assert_eq!(ids, vec![&case["id"]]);
    let (_, tickets) = send(&s, "GET", "/v1/me/tickets", Some(&me), None).await;
    assert_eq!(tickets["tickets"].as_array().unwrap().len(), 1);
    let (_, tickets) = send(&s, "GET", "/v1/me/tickets", Some(&other), None).await;
    assert_eq!(tickets["tickets"].as_array().unwrap().len(), 0);
    let (_, appts) = send(&s, "GET", "/v1/me/appointments", Some(&me), None).await;
    let appts = appts["appointments"].as_array().unwrap();
    assert_eq!(appts.len(), 1);
    assert_eq!(appts[0]["slot"]["date"], day.to_string());
    let (st, apps) = send(&s, "GET", "/v1/me/applications", Some(&me), None).await;
    assert_eq!(
        (st, apps["applications"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    // Staff have queues, not "my" views.
    let (st, _) = send(&s, "GET", "/v1/me/cases", Some(&officer), None).await;
    assert_eq!(st, 403);
    let (st, _) = send(&s, "GET", "/v1/me/cases", None, None).await;
    assert_eq!(st, 401);
    s.stop().await;
}

#[tokio::test]
async fn public_look_ups_have_a_tight_limit_per_client_of_their_own() {
    let mut cfg = test_config(10_000).await;
    cfg.gateway.lookup_rate_limit = 5;
    let s = Stack::start_with(cfg).await;
    let guess = |n: u32| format!("/v1/public/cases/340522-20261201-000001?query_code=GUESS{n:05}");
    for n in 0..5 {
        let (st, _) = send(&s, "GET", &guess(n), None, None).await;
        assert_eq!(st, 404);
    }
    let r = s.http.get(s.url(&guess(5))).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    // Everything else keeps the general limit.
    let (st, _) = send(&s, "GET", "/v1/partner-regions", None, None).await;
    assert_eq!(st, 200);
    s.stop().await;
}

#[tokio::test]
async fn a_self_service_terminal_files_for_its_items_and_prints_a_receipt() {
    let s = Stack::start().await;
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    let other_item = create_published(&s, 2, "食品生产许可").await;
    let cat = s.token("cat-admin", &["catalog_admin"], None);
    let hall = "340522-ZZFW24";
    let (st, v) = send(
        &s,
        "POST",
        "/v1/halls",
        Some(&cat),
        Some(json!({"code": hall,
        "name": "7×24小时自助服务厅", "level": "county", "region_code": "340522", "windows": []})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = send(&s, "POST", "/v1/terminals", Some(&cat),
        Some(json!({"code": "T01", "hall": hall, "name": "一号自助终端", "items": [item, "99999999NOSUCH"]}))).await;
    assert_eq!(
        (st, violation_field(&v)),
        (400, "items[1]".to_string()),
        "{v}"
    );
    let (st, v) = send(
        &s,
        "POST",
        "/v1/terminals",
        Some(&cat),
        Some(json!({"code": "T01", "hall": hall, "name": "一号自助终端", "items": [item]})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let terminal = s.token("T01", &["terminal"], Some(hall));
    let citizen = |item: &str, channel: &str, kind: &str| {
        json!({"item_code": item, "channel": channel,
        "applicant": {"kind": kind, "name": "张三丰", "id_number": "11010519491231002X", "phone": "13812345678"}})
    };
    for (body, want, field) in [
        (citizen(&item, "online", "person"), 400, "channel"),
        (
            citizen(&item, "self_service", "legal_person"),
            400,
            "applicant.kind",
        ),
        (citizen(&other_item, "self_service", "person"), 403, ""),
    ] {
        let (st, v) = send(&s, "POST", "/v1/cases", Some(&terminal), Some(body)).await;
        assert_eq!(st, want, "{v}");
        if !field.is_empty() {
            assert_eq!(violation_field(&v), field, "{v}");
        }
    }
    // A token naming another hall, or an unregistered terminal, files nothing.
    for token in [
        s.token("T01", &["terminal"], Some("340522-OTHER")),
        s.token("T99", &["terminal"], Some(hall)),
    ] {
        let (st, _) = send(
            &s,
            "POST",
            "/v1/cases",
            Some(&token),
            Some(citizen(&item, "self_service", "person")),
        )
        .await;
        assert_eq!(st, 403);
    }
    let (st, receipt) = send(
        &s,
        "POST",
        "/v1/cases",
        Some(&terminal),
        Some(citizen(&item, "self_service", "person")),
    )
    .await;
    assert_eq!(st, 201, "{receipt}");
    assert_eq!(
        (receipt["channel"].as_str(), receipt["hall"].as_str()),
        (Some("self_service"), Some(hall))
    );
    let (number, code) = (
        receipt["case_number"].as_str().unwrap(),
        receipt["query_code"].as_str().unwrap(),
    );
    assert_eq!(code.len(), 10);
    // The receipt is the citizen's way back in; the terminal itself keeps no view of the case.
    let (st, _) = send(
        &s,
        "GET",
        &format!("/v1/public/cases/{number}?query_code={code}"),
        None,
        None,
    )
    .await;
    assert_eq!(st, 200);
    let (st, _) = send(
        &s,
        "GET",
        &format!("/v1/cases/{}", receipt["id"].as_str().unwrap()),
        Some(&terminal),
        None,
    )
    .await;
    assert_eq!(st, 404);
    s.stop().await;
}

async fn decided(s: &Stack, item: &str, applicant: &str, officer: &str) -> String {
    let c = file(s, item, applicant).await;
    let id = c["id"].as_str().unwrap().to_string();
    for (action, body) in [
        ("accept", json!({})),
        ("decide", json!({"outcome": "approved"})),
    ] {
        let (st, v) = send(
            s,
            "POST",
            &format!("/v1/cases/{id}/{action}"),
            Some(officer),
            Some(body),
        )
        .await;
        assert_eq!(st, 200, "{action}: {v}");
    }
    id
}

#[tokio::test]
async fn results_go_by_ems_to_a_sealed_address_or_are_picked_up_with_a_code() {
    let s = Stack::start().await;
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    let me = s.token("enterprise-1", &["enterprise"], None);
    let officer = s.token("officer-a", &["officer"], Some(DEPT));
    let supervisor = s.token("supervisor-1", &["supervisor"], None);
    let post = s.token("ems-integration", &["system"], None);

    // EMS: the address is sealed; only the applicant and the department read it.
    let mailed = decided(&s, &item, &me, &officer).await;
    let deliver = format!("/v1/cases/{mailed}/deliver");
    for (body, field) in [
        (
            json!({"method": "ems", "tracking_number": "EA123456789CN", "address": "含山"}),
            "address",
        ),
        (
            json!({"method": "window", "free_mailing": true}),
            "free_mailing",
        ),
    ] {
        let (st, v) = send(&s, "POST", &deliver, Some(&officer), Some(body)).await;
        assert_eq!((st, violation_field(&v)), (400, field.to_string()), "{v}");
    }
    let address = "安徽省马鞍山市含山县环峰镇褒禅山路88号";
    let (st, c) = send(
        &s,
        "POST",
        &deliver,
        Some(&officer),
        Some(json!({"method": "ems",
        "tracking_number": "EA123456789CN", "address": address, "free_mailing": true})),
    )
    .await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(
        (c["mail_status"].as_str(), c["free_mailing"].as_bool()),
        (Some("posted"), Some(true))
    );
    let (_, mine) = send(&s, "GET", &format!("/v1/cases/{mailed}"), Some(&me), None).await;
    assert_eq!(mine["delivery_address"], address);
    let (_, seen) = send(
        &s,
        "GET",
        &format!("/v1/cases/{mailed}"),
        Some(&supervisor),
        None,
    )
    .await;
    assert_ne!(seen["delivery_address"], address);
    assert!(
        seen["delivery_address"].as_str().unwrap().contains('*'),
        "{seen}"
    );
    // The post reports; states move posted → delivered (or returned).
    let status = format!("/v1/cases/{mailed}/mail-status");
    let (st, v) = send(
        &s,
        "POST",
        &status,
        Some(&post),
        Some(json!({"status": "lost"})),
    )
    .await;
    assert_eq!((st, violation_field(&v)), (400, "status".to_string()));
    let (st, v) = send(
        &s,
        "POST",
        &status,
        Some(&post),
        Some(json!({"status": "delivered"})),
    )
    .await;
    assert_eq!(
        (st, v["mail_status"].as_str()),
        (200, Some("delivered")),
        "{v}"
    );
    let (st, v) = send(
        &s,
        "POST",
        &status,
        Some(&post),
        Some(json!({"status": "returned"})),
    )
    .await;
    assert_eq!(
        (st, v["error"]["details"][0]["reason"].as_str()),
        (400, Some("MAIL_STATUS")),
        "{v}"
    );

    // Window pickup: a code for the applicant; the wrong code picks nothing up; once only.
    let picked = decided(&s, &item, &me, &officer).await;
    let c = post_ok(
        &s,
        &format!("/v1/cases/{picked}/deliver"),
        &officer,
        json!({"method": "window"}),
    )
    .await;
    let code = c["pickup_code"].as_str().unwrap().to_string();
    assert_eq!(code.len(), 6);
    let (_, seen) = send(
        &s,
        "GET",
        &format!("/v1/cases/{picked}"),
        Some(&supervisor),
        None,
    )
    .await;
    assert_eq!(seen["pickup_code"], "");
    let pickup = format!("/v1/cases/{picked}/pickup");
    let (st, v) = send(
        &s,
        "POST",
        &pickup,
        Some(&officer),
        Some(json!({"pickup_code": "AAAAAA"})),
    )
    .await;
    assert_eq!(
        (st, violation_field(&v)),
        (400, "pickup_code".to_string()),
        "{v}"
    );
    let c = post_ok(
        &s,
        &pickup,
        &officer,
        json!({"pickup_code": code.to_lowercase()}),
    )
    .await;
    assert!(c["picked_up_at"].is_string(), "{c}");
    let (st, _) = send(
        &s,
        "POST",
        &pickup,
        Some(&officer),
        Some(json!({"pickup_code": code})),
    )
    .await;
    assert_eq!(st, 400, "once");

    let period = stats_around_now();
    let (_, stats) = send(&s, "GET", &period, Some(&supervisor), None).await;
    assert_eq!(stats["free_mailings"], 1, "{stats}");
    s.stop().await;
}

#[tokio::test]
async fn approving_a_licence_issues_a_signed_e_licence_anyone_can_verify_until_revoked() {
    let s = Stack::start().await;
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    let me = s.token("enterprise-1", &["enterprise"], None);
    let officer = s.token("officer-a", &["officer"], Some(DEPT));
    let id = decided(&s, &item, &me, &officer).await;
    let (st, mine) = send(&s, "GET", "/v1/me/licences", Some(&me), None).await;
    assert_eq!(st, 200, "{mine}");
    let list = mine["licences"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{mine}");
    let number = list[0]["number"].as_str().unwrap().to_string();
    assert!(number.starts_with("340522-"), "{number}");

    // Public and masked: no full USCC, no full name.
    let (st, lic) = send(&s, "GET", &format!("/v1/licences/{number}"), None, None).await;
    assert_eq!(st, 200, "{lic}");
    assert_eq!(
        (lic["status"].as_str(), lic["item_name"].as_str()),
        (Some("valid"), Some("食品经营许可证核发"))
    );
    assert!(!lic.to_string().contains("91340522MA2000001"), "{lic}");
    assert_eq!(lic["department"], DEPT);
    let (document, signature) = (
        lic["document"].as_str().unwrap().to_string(),
        lic["signature"].as_str().unwrap().to_string(),
    );

    let verify = |document: String, signature: String| {
        let s = &s;
        async move {
            let (st, v) = send(
                s,
                "POST",
                "/v1/licences/verify",
                None,
                Some(json!({"document": document, "signature": signature})),
            )
            .await;
            assert_eq!(st, 200, "{v}");
            v["status"].as_str().unwrap().to_string()
        }
    };
    assert_eq!(verify(document.clone(), signature.clone()).await, "valid");
    assert_eq!(
        verify(document.replace("食品经营", "食品生产"), signature.clone()).await,
        "forged"
    );
    let other = if signature.starts_with('A') { "B" } else { "A" };
    assert_eq!(
        verify(document.clone(), format!("{other}{}", &signature[1..])).await,
        "forged"
    );
    let (st, v) = send(
        &s,
        "POST",
        "/v1/licences/verify",
        None,
        Some(json!({"document": "", "signature": ""})),
    )
    .await;
    assert_eq!((st, violation_field(&v)), (400, "document".to_string()));

    // The supervision register learns of it (and, below, of its revocation) through events.
    let supervisor = s.token("supervisor-1", &["supervisor"], None);
    let holder = uscc("91340522MA2000001");
    let register = |revoked: bool| {
        let (s, supervisor, holder, number) = (&s, &supervisor, &holder, &number);
        async move {
            for _ in 0..100 {
                let (st, v) = send(
                    s,
                    "GET",
                    &format!("/v1/supervision/licences?uscc={holder}"),
                    Some(supervisor),
                    None,
                )
                .await;
                assert_eq!(st, 200, "{v}");
                if let Some(l) = v["licences"]
                    .as_array()
                    .and_then(|l| l.iter().find(|l| l["number"] == json!(number)))
                    && l["revoked_at"].is_string() == revoked
                {
                    return l.clone();
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            panic!("the register never learned (revoked: {revoked})");
        }
    };
    assert_eq!(register(false).await["department"], DEPT);

    // Revoking the case revokes the licence.
    post_ok(
        &s,
        &format!("/v1/cases/{id}/revoke"),
        &officer,
        json!({"reason": "以欺骗手段取得许可"}),
    )
    .await;
    assert_eq!(verify(document.clone(), signature.clone()).await, "revoked");
    let (_, lic) = send(&s, "GET", &format!("/v1/licences/{number}"), None, None).await;
    assert_eq!(lic["status"], "revoked");
    assert_eq!(register(true).await["revoke_reason"], "以欺骗手段取得许可");

    // An expired one says so; a denied application has no licence.
    let second = decided(&s, &item, &me, &officer).await;
    let db = sqlx::PgPool::connect(&s.cfg.service_database_url("cases"))
        .await
        .unwrap();
    sqlx::query(
        "UPDATE licences SET valid_until = now() - interval '1 day' WHERE case_id = $1::uuid",
    )
    .bind(&second)
    .execute(&db)
    .await
    .unwrap();
    db.close().await;
    let (_, mine) = send(&s, "GET", "/v1/me/licences", Some(&me), None).await;
    let expired = mine["licences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["case_id"] == json!(second))
        .unwrap()
        .clone();
    assert_eq!(expired["status"], "expired");
    assert_eq!(
        verify(
            expired["document"].as_str().unwrap().into(),
            expired["signature"].as_str().unwrap().into()
        )
        .await,
        "expired"
    );
    let c = file(&s, &item, &me).await;
    let cid = c["id"].as_str().unwrap();
    post_ok(&s, &format!("/v1/cases/{cid}/accept"), &officer, json!({})).await;
    post_ok(
        &s,
        &format!("/v1/cases/{cid}/decide"),
        &officer,
        json!({"outcome": "denied", "reason": "条件不符"}),
    )
    .await;
    let (_, mine) = send(&s, "GET", "/v1/me/licences", Some(&me), None).await;
    assert_eq!(mine["licences"].as_array().unwrap().len(), 2);
    let (st, _) = send(&s, "GET", "/v1/licences/340522-1999-000001", None, None).await;
    assert_eq!(st, 404);
    s.stop().await;
}

/// Every route this round added, tried as a stranger, a wrong role and a careless or hostile
/// client: 401 before anything, 403 for the wrong role, and NUL bytes or 100,000-character
/// values a named 4xx — never a 5xx.
#[tokio::test]
async fn new_routes_refuse_strangers_wrong_roles_nul_bytes_and_huge_values() {
    let s = Stack::start().await;
    let citizen = s.token("citizen-1", &["citizen"], None);
    let officer = s.token("officer-a", &["officer"], Some(DEPT));
    let inspector = s.token("inspector-a", &["inspector"], Some(DEPT));
    let id = "01a22f40-7ab1-74d5-98db-70140285a98b";
    let routes: Vec<(&str, String, &str)> = vec![
        ("POST", "/v1/applications".into(), "applicant or staff"),
        ("POST", format!("/v1/applications/{id}/deliver"), "staff"),
        ("POST", format!("/v1/applications/{id}/accept"), "window"),
        ("POST", format!("/v1/cases/{id}/route"), "staff"),
        ("POST", format!("/v1/cases/{id}/start"), "staff"),
        ("POST", format!("/v1/cases/{id}/mail-status"), "staff"),
        ("POST", format!("/v1/cases/{id}/pickup"), "staff"),
        ("POST", format!("/v1/tickets/{id}/transfer"), "staff"),
        ("POST", "/v1/halls".into(), "admin"),
        ("PUT", "/v1/halls/340522-X/items".into(), "admin"),
        ("POST", "/v1/terminals".into(), "admin"),
        ("PUT", "/v1/partner-regions/320114".into(), "admin"),
        ("GET", "/v1/process-records".into(), "system"),
        ("GET", "/v1/me/cases".into(), "citizen"),
        ("GET", "/v1/me/licences".into(), "citizen"),
    ];
    for (method, path, who) in &routes {
        let (st, v) = send(&s, method, path, None, Some(json!({}))).await;
        assert_eq!(st, 401, "anonymous {method} {path}: {v}");
        let wrong = match *who {
            "citizen" => &officer,
            "applicant or staff" => &inspector,
            _ => &citizen,
        };
        let (st, v) = send(&s, method, path, Some(wrong), Some(json!({}))).await;
        assert_eq!(st, 403, "wrong role {method} {path}: {v}");
    }
    // Any signed-in person has an inbox; nobody without a token.
    for (method, path) in [
        ("GET", "/v1/me/notifications".to_string()),
        ("GET", "/v1/me/notifications/stream".to_string()),
        ("POST", format!("/v1/me/notifications/{id}/read")),
        ("POST", format!("/v1/me/notifications/{id}/unread")),
        ("POST", "/v1/me/notifications/read-all".to_string()),
        ("POST", "/v1/uploads?file_name=a.pdf".to_string()),
        ("GET", format!("/v1/uploads/{id}/content")),
    ] {
        let (st, v) = send(&s, method, &path, None, Some(json!({}))).await;
        assert_eq!(st, 401, "anonymous {method} {path}: {v}");
    }
    // Careless and hostile values, with the right roles.
    let cat = s.token("cat-admin", &["catalog_admin"], None);
    let window = s.token("window-1", &["window_clerk"], Some("340522-ZWFWZX"));
    let huge = "Z".repeat(100_000);
    let province = s.token("p", &["system"], None);
    let probes: Vec<(&str, String, &String, Value)> = vec![
        (
            "POST",
            "/v1/applications".into(),
            &citizen,
            json!({"bundle_id": "a\u{0}b", "channel": "online"}),
        ),
        (
            "POST",
            "/v1/applications".into(),
            &citizen,
            json!({"bundle_id": huge, "channel": "online"}),
        ),
        (
            "POST",
            format!("/v1/cases/{id}/route"),
            &officer,
            json!({"to_department": "x\u{0}", "reason": "r"}),
        ),
        (
            "POST",
            format!("/v1/cases/{id}/pickup"),
            &officer,
            json!({"pickup_code": huge}),
        ),
        (
            "POST",
            "/v1/halls".into(),
            &cat,
            json!({"code": "H\u{0}", "name": "n", "level": "county", "region_code": "340522"}),
        ),
        (
            "POST",
            "/v1/halls".into(),
            &cat,
            json!({"code": "H1", "name": huge, "level": "county", "region_code": "340522"}),
        ),
        (
            "POST",
            "/v1/terminals".into(),
            &cat,
            json!({"code": "T1", "hall": huge, "name": "n"}),
        ),
        (
            "POST",
            "/v1/tickets".into(),
            &window,
            json!({"kind": "complaint", "subject": "s\u{0}", "body": "b",
            "source": "window_complaint", "contact_name": "王", "contact_phone": "13812345678"}),
        ),
        (
            "POST",
            "/v1/licences/verify".into(),
            &citizen,
            json!({"document": huge, "signature": "x"}),
        ),
        (
            "GET",
            format!("/v1/public/cases/{}?query_code=ABC", "9".repeat(5_000)),
            &citizen,
            Value::Null,
        ),
        (
            "GET",
            format!("/v1/licences/{}", "9".repeat(5_000)),
            &citizen,
            Value::Null,
        ),
        (
            "GET",
            "/v1/process-records?after=1-%00".into(),
            &province,
            Value::Null,
        ),
        (
            "POST",
            "/v1/me/notifications/read-all".into(),
            &citizen,
            json!({"up_to": "1-\u{0}"}),
        ),
        (
            "POST",
            "/v1/me/notifications/read-all".into(),
            &citizen,
            json!({"up_to": huge}),
        ),
        (
            "POST",
            format!("/v1/me/notifications/{}/read", "9".repeat(5_000)),
            &citizen,
            json!({}),
        ),
        (
            "GET",
            "/v1/me/notifications?kinds=%00".into(),
            &citizen,
            Value::Null,
        ),
        (
            "GET",
            format!("/v1/me/notifications?page_token={}", "A".repeat(5_000)),
            &citizen,
            Value::Null,
        ),
        (
            "GET",
            format!("/v1/me/notifications/stream?after={}", "9".repeat(5_000)),
            &citizen,
            Value::Null,
        ),
        (
            "GET",
            format!("/v1/uploads/{}/content", "a".repeat(129)),
            &citizen,
            Value::Null,
        ),
        (
            "GET",
            format!("/v1/uploads/{}", "a".repeat(129)),
            &citizen,
            Value::Null,
        ),
        (
            "POST",
            "/v1/cases".into(),
            &citizen,
            json!({"item_code": "x", "channel": "mobile",
                "materials": [{"name": "营业\u{0}执照", "upload_id": id}]}),
        ),
        (
            "POST",
            "/v1/cases".into(),
            &citizen,
            json!({"item_code": "x", "channel": "mobile", "materials": [huge]}),
        ),
    ];
    // A file whose name is 20,000 characters (a URL cannot carry 100,000), as a raw body.
    let r = s
        .http
        .post(s.url(&format!("/v1/uploads?file_name={}", &huge[..20_000])))
        .bearer_auth(&citizen)
        .header("content-type", "application/octet-stream")
        .body(b"%PDF-1.4\n%%EOF\n".to_vec())
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert!((400..500).contains(&st), "{st} {v}");
    assert!(v.to_string().len() < 4_000);
    for (method, path, token, body) in probes {
        let body = (!body.is_null()).then_some(body);
        let (st, v) = send(&s, method, &path, Some(token), body).await;
        let short = &path[..path.len().min(60)];
        assert!(
            (400..500).contains(&st),
            "{method} {short}: {st} {}",
            &v.to_string()[..v.to_string().len().min(300)]
        );
        assert!(
            v.to_string().len() < 4_000,
            "{method} {short}: the answer echoes at most a prefix"
        );
    }
    s.stop().await;
}
