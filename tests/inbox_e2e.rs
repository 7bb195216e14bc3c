//! Notifications (issue 14): every service's events reach the inboxes of those they concern,
//! once each; the app lists and marks them, and keeps a Server-Sent Events stream open that
//! resumes from `Last-Event-ID` without gaps or repeats.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const DEPT: &str = "340522-SCJGJ";
const DEPT_B: &str = "340522-WJW";

async fn file(s: &Stack, item: &str, token: &str, n: u32) -> (String, String) {
    let (st, c) = send(
        s,
        "POST",
        "/v1/cases",
        Some(token),
        Some(json!({"item_code": item, "channel": "mobile",
            "applicant": {"kind": "legal_person", "name": "含山县好味餐饮有限公司",
                          "uscc": uscc(&format!("91340522MA20000{n:02}")), "phone": "13812345678"}})),
    )
    .await;
    assert_eq!(st, 201, "{c}");
    (
        c["id"].as_str().unwrap().to_string(),
        c["case_number"].as_str().unwrap().to_string(),
    )
}

/// The inbox once it holds at least `n` notifications (events travel through Redis).
async fn inbox_with(s: &Stack, token: &str, n: usize) -> Value {
    let mut last = Value::Null;
    for _ in 0..150 {
        let (st, v) = send(s, "GET", "/v1/me/notifications", Some(token), None).await;
        assert_eq!(st, 200, "{v}");
        if v["notifications"].as_array().unwrap().len() >= n {
            return v;
        }
        last = v;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the inbox never held {n} notifications: {last}");
}

fn kinds(v: &Value) -> Vec<String> {
    v["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_citizen_hears_of_each_step_of_their_case_once_and_nobody_else_does() {
    let s = Stack::start().await;
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    let enterprise = s.token("enterprise-1", &["enterprise"], None);
    let other = s.token("enterprise-2", &["enterprise"], None);
    let officer = s.token("officer-a", &["officer"], Some(DEPT));
    let (id, number) = file(&s, &item, &enterprise, 1).await;

    let (st, _) = send(&s, "GET", "/v1/me/notifications", None, None).await;
    assert_eq!(st, 401);
    post_ok(&s, &format!("/v1/cases/{id}/accept"), &officer, json!({})).await;
    post_ok(
        &s,
        &format!("/v1/cases/{id}/request-correction"),
        &officer,
        json!({"reason": "材料不全"}),
    )
    .await;
    let v = inbox_with(&s, &enterprise, 2).await;
    // Newest first; each step once.
    assert_eq!(kinds(&v), ["correction_needed", "case_accepted"], "{v}");
    assert_eq!(v["unread_count"], 2);
    let correction = &v["notifications"][0];
    assert_eq!(correction["subject_type"], "case");
    assert_eq!(correction["subject_id"], id.as_str());
    assert_eq!(correction["subject_number"], number.as_str());
    assert_eq!(correction["audience"], "personal");
    // 一次性告知: every required material not given, in the notification itself.
    let listed: Vec<&str> = correction["details"]["corrections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["营业执照", "食品安全管理制度"], "{correction}");
    assert!(
        correction["body"]
            .as_str()
            .unwrap()
            .contains("营业执照、食品安全管理制度")
    );
    let accepted = &v["notifications"][1];
    assert!(
        accepted["body"].as_str().unwrap().contains(&number),
        "{accepted}"
    );
    // No personal numbers travel into the inbox.
    let text = v.to_string();
    assert!(!text.contains("13812345678") && !text.contains("91340522MA2000001"));

    // Another enterprise and the officer see none of it, and cannot touch it.
    let (_, theirs) = send(&s, "GET", "/v1/me/notifications", Some(&other), None).await;
    assert_eq!(theirs["notifications"], json!([]), "{theirs}");
    let (_, staff) = send(&s, "GET", "/v1/me/notifications", Some(&officer), None).await;
    assert_eq!(staff["notifications"], json!([]), "{staff}");
    let nid = correction["id"].as_str().unwrap();
    let (st, e) = send(
        &s,
        "POST",
        &format!("/v1/me/notifications/{nid}/read"),
        Some(&other),
        Some(json!({})),
    )
    .await;
    assert_eq!(st, 404, "{e}");
    assert_eq!(e["error"]["details"][0]["reason"], "NOTIFICATION_NOT_FOUND");
    let (st, _) = send(
        &s,
        "POST",
        "/v1/me/notifications/not-an-id/read",
        Some(&enterprise),
        Some(json!({})),
    )
    .await;
    assert_eq!(st, 404);

    // Read, unread, all read.
    let n = post_ok(
        &s,
        &format!("/v1/me/notifications/{nid}/read"),
        &enterprise,
        json!({}),
    )
    .await;
    assert_eq!(
        (n["read"].as_bool(), n["read_at"].is_string()),
        (Some(true), true)
    );
    let (_, v) = send(
        &s,
        "GET",
        "/v1/me/notifications?unread_only=true",
        Some(&enterprise),
        None,
    )
    .await;
    assert_eq!(
        (kinds(&v), v["unread_count"].as_i64()),
        (vec!["case_accepted".to_string()], Some(1))
    );
    let n = post_ok(
        &s,
        &format!("/v1/me/notifications/{nid}/unread"),
        &enterprise,
        json!({}),
    )
    .await;
    assert_eq!(n["read"], false);
    let all = post_ok(&s, "/v1/me/notifications/read-all", &enterprise, json!({})).await;
    assert_eq!(
        (all["marked"].as_i64(), all["unread_count"].as_i64()),
        (Some(2), Some(0))
    );

    // The decision tells the outcome and invites an evaluation; a kind filter finds it.
    post_ok(
        &s,
        &format!("/v1/cases/{id}/submit-correction"),
        &enterprise,
        json!({"materials": ["营业执照", "食品安全管理制度"]}),
    )
    .await;
    post_ok(
        &s,
        &format!("/v1/cases/{id}/decide"),
        &officer,
        json!({"outcome": "approved"}),
    )
    .await;
    let v = inbox_with(&s, &enterprise, 4).await;
    let mut got = kinds(&v);
    got.sort();
    assert!(
        got.contains(&"case_decided".to_string())
            && got.contains(&"evaluation_invitation".to_string()),
        "{got:?}"
    );
    let (_, only) = send(
        &s,
        "GET",
        "/v1/me/notifications?kinds=evaluation_invitation",
        Some(&enterprise),
        None,
    )
    .await;
    assert_eq!(kinds(&only), ["evaluation_invitation"]);

    // Bad input names its field.
    let (st, e) = send(
        &s,
        "GET",
        "/v1/me/notifications?kinds=everything",
        Some(&enterprise),
        None,
    )
    .await;
    assert_eq!((st, violation_field(&e).as_str()), (400, "kinds[0]"), "{e}");
    let (st, e) = send(
        &s,
        "POST",
        "/v1/me/notifications/read-all",
        Some(&enterprise),
        Some(json!({"up_to": "yesterday"})),
    )
    .await;
    assert_eq!((st, violation_field(&e).as_str()), (400, "up_to"), "{e}");
    s.stop().await;
}

/// One Server-Sent Event (or comment) as the browser's EventSource parses it.
#[derive(Debug, Default, Clone)]
struct Sse {
    id: Option<String>,
    event: Option<String>,
    data: String,
    comment: Option<String>,
}

/// An open SSE response, read block by block.
struct SseReader {
    response: reqwest::Response,
    buf: String,
}

impl SseReader {
    async fn open(s: &Stack, token: &str, last_event_id: Option<&str>) -> SseReader {
        let mut req = s
            .http
            .get(s.url("/v1/me/notifications/stream"))
            .bearer_auth(token);
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let response = req.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        SseReader {
            response,
            buf: String::new(),
        }
    }

    /// The next block within `wait`, or `None`.
    async fn next(&mut self, wait: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut e = Sse::default();
                for line in block.lines() {
                    if let Some(c) = line.strip_prefix(':') {
                        e.comment = Some(c.trim().to_string());
                    } else if let Some((k, v)) = line.split_once(':') {
                        let v = v.strip_prefix(' ').unwrap_or(v).to_string();
                        match k {
                            "id" => e.id = Some(v),
                            "event" => e.event = Some(v),
                            "data" => e.data.push_str(&v),
                            _ => {}
                        }
                    }
                }
                return Some(e);
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?
                .unwrap()?;
            self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next notification within `wait` (heartbeats and comments skipped).
    async fn notification(&mut self, wait: Duration) -> Option<(String, Value)> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let e = self.next(left).await?;
            if e.event.as_deref() == Some("notification") {
                return Some((e.id.unwrap(), serde_json::from_str(&e.data).unwrap()));
            }
            assert_ne!(e.event.as_deref(), Some("error"), "{e:?}");
        }
    }
}

#[tokio::test]
async fn the_stream_resumes_after_the_last_event_id_without_gaps_or_repeats() {
    let mut cfg = test_config(10_000).await;
    cfg.inbox_heartbeat_secs = 1;
    let s = Stack::start_with(cfg).await;
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    let enterprise = s.token("enterprise-1", &["enterprise"], None);
    let officer = s.token("officer-a", &["officer"], Some(DEPT));
    let (first, _) = file(&s, &item, &enterprise, 1).await;
    let (second, second_number) = file(&s, &item, &enterprise, 2).await;

    let mut stream = SseReader::open(&s, &enterprise, None).await;
    post_ok(
        &s,
        &format!("/v1/cases/{first}/accept"),
        &officer,
        json!({}),
    )
    .await;
    let (seen, n) = stream
        .notification(Duration::from_secs(15))
        .await
        .expect("the acceptance arrives live");
    assert_eq!(
        (n["kind"].as_str(), n["subject_id"].as_str()),
        (Some("case_accepted"), Some(first.as_str()))
    );
    // An idle stream beats.
    let mut beat = false;
    for _ in 0..5 {
        match stream.next(Duration::from_secs(3)).await {
            Some(e) if e.comment.as_deref() == Some("heartbeat") => {
                beat = true;
                break;
            }
            Some(e) => assert_ne!(e.event.as_deref(), Some("notification"), "{e:?}"),
            None => break,
        }
    }
    assert!(beat, "no heartbeat within the interval");
    drop(stream);

    // While the app is away: two more.
    post_ok(
        &s,
        &format!("/v1/cases/{second}/accept"),
        &officer,
        json!({}),
    )
    .await;
    post_ok(
        &s,
        &format!("/v1/cases/{first}/request-correction"),
        &officer,
        json!({"reason": "材料不全"}),
    )
    .await;
    inbox_with(&s, &enterprise, 3).await;

    // Back with the last id it saw: exactly the two it missed, in order, and nothing again.
    let mut stream = SseReader::open(&s, &enterprise, Some(&seen)).await;
    let (_, a) = stream.notification(Duration::from_secs(10)).await.unwrap();
    let (last, b) = stream.notification(Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        (a["kind"].as_str(), a["subject_number"].as_str()),
        (Some("case_accepted"), Some(second_number.as_str()))
    );
    assert_eq!(
        (b["kind"].as_str(), b["subject_id"].as_str()),
        (Some("correction_needed"), Some(first.as_str()))
    );
    assert!(stream.notification(Duration::from_secs(2)).await.is_none());
    drop(stream);
    // The list's cursor is where the stream stands: opening there replays nothing.
    let (_, v) = send(&s, "GET", "/v1/me/notifications", Some(&enterprise), None).await;
    assert_eq!(v["cursor"].as_str(), Some(last.as_str()));
    let mut stream = SseReader::open(&s, &enterprise, Some(&last)).await;
    assert!(stream.notification(Duration::from_secs(2)).await.is_none());

    // A cursor that is not one is refused with its name; no token, no stream.
    let r = s
        .http
        .get(s.url("/v1/me/notifications/stream?after=yesterday"))
        .bearer_auth(&enterprise)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(violation_field(&e), "after", "{e}");
    let r = s
        .http
        .get(s.url("/v1/me/notifications/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    s.stop().await;
}

#[tokio::test]
async fn a_unit_hears_what_is_addressed_to_it_and_an_event_delivered_twice_lands_once() {
    let s = Stack::start().await;
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    let (st, v) = send(
        &s,
        "POST",
        "/v1/org-units",
        Some(&s.admin()),
        Some(
            json!({"code": DEPT_B, "name": "含山县卫生健康委员会", "kind": "department",
            "region_code": "340522", "uscc": uscc("11340522MB0000002")}),
        ),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let enterprise = s.token("enterprise-1", &["enterprise"], None);
    let officer_a = s.token("officer-a", &["officer"], Some(DEPT));
    let officer_b = s.token("officer-b", &["officer"], Some(DEPT_B));
    let clerk_b = s.token("clerk-b", &["clerk"], Some(DEPT_B));
    let (id, number) = file(&s, &item, &enterprise, 1).await;
    post_ok(&s, &format!("/v1/cases/{id}/accept"), &officer_a, json!({})).await;
    post_ok(
        &s,
        &format!("/v1/cases/{id}/route"),
        &officer_a,
        json!({"to_department": DEPT_B, "reason": "属卫健委职责"}),
    )
    .await;
    let v = inbox_with(&s, &officer_b, 1).await;
    let n = &v["notifications"][0];
    assert_eq!(
        (
            n["kind"].as_str(),
            n["audience"].as_str(),
            n["subject_number"].as_str()
        ),
        (Some("case_routed"), Some("unit"), Some(number.as_str()))
    );
    // Each of the unit's staff reads it on their own.
    let nid = n["id"].as_str().unwrap();
    post_ok(
        &s,
        &format!("/v1/me/notifications/{nid}/read"),
        &officer_b,
        json!({}),
    )
    .await;
    let (_, mine) = send(&s, "GET", "/v1/me/notifications", Some(&clerk_b), None).await;
    assert_eq!(
        (
            mine["notifications"][0]["read"].as_bool(),
            mine["unread_count"].as_i64()
        ),
        (Some(false), Some(1))
    );
    let (_, a) = send(&s, "GET", "/v1/me/notifications", Some(&officer_a), None).await;
    assert_eq!(a["notifications"], json!([]), "{a}");
    // The applicant's own inbox holds the acceptance only.
    let e = inbox_with(&s, &enterprise, 1).await;
    assert_eq!(kinds(&e), ["case_accepted"]);

    // The same event delivered twice at once (a redelivery after a crash, two replicas): one
    // notification.
    let pool = sqlx::PgPool::connect(&s.cfg.service_database_url("inbox"))
        .await
        .unwrap();
    let event = yiwang_kit::outbox::Event {
        id: uuid::Uuid::now_v7(),
        topic: "cases.case.routed".into(),
        payload: json!({"case_id": id, "case_number": number, "item_code": item,
            "from_department": DEPT, "to_department": DEPT_B, "state": "accepted"}),
        occurred_at: chrono::Utc::now(),
        stream_id: "0-1".into(),
    };
    let (x, y) = tokio::join!(
        yiwang_inbox::store::deliver(&pool, &event),
        yiwang_inbox::store::deliver(&pool, &event)
    );
    let told = [x.unwrap(), y.unwrap()];
    assert_eq!(told.iter().filter(|t| !t.is_empty()).count(), 1, "{told:?}");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications WHERE event_id = $1")
        .bind(event.id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
    pool.close().await;
    let v = inbox_with(&s, &officer_b, 2).await;
    assert_eq!(kinds(&v), ["case_routed", "case_routed"]);
    s.stop().await;
}

/// The first working day on or after `from`, by the legal calendar the service keeps.
async fn working_day_from(s: &Stack, from: chrono::NaiveDate) -> chrono::NaiveDate {
    use chrono::Datelike;
    let mut d = from;
    loop {
        let (_, year) = send(s, "GET", &format!("/v1/calendar/{}", d.year()), None, None).await;
        let listed = year["days"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|x| x["date"] == d.to_string())
            .and_then(|x| x["kind"].as_str().map(String::from));
        let working = match listed.as_deref() {
            Some("workday") => true,
            Some(_) => false,
            None => d.weekday().num_days_from_monday() < 5,
        };
        if working {
            return d;
        }
        d += chrono::Duration::days(1);
    }
}

#[tokio::test]
async fn appointments_are_reminded_once_the_working_day_before() {
    let mut cfg = test_config(10_000).await;
    cfg.overdue_sweep_secs = 1;
    let s = Stack::start_with(cfg).await;
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    let officer = s.token("officer-a", &["officer"], Some(DEPT));
    let citizen = s.token("citizen-1", &["citizen"], None);
    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
    let mut slots = Vec::new();
    for days in [1, 12] {
        let date = working_day_from(&s, today + chrono::Duration::days(days)).await;
        let sl = send(
            &s,
            "POST",
            "/v1/appointment-slots",
            Some(&officer),
            Some(json!({"item_code": item, "hall": "县政务服务中心 A 区 3 号窗口",
                "date": date.to_string(), "start_time": "09:00", "end_time": "09:30", "capacity": 5})),
        )
        .await;
        assert_eq!(sl.0, 201, "{}", sl.1);
        let (st, a) = send(
            &s,
            "POST",
            "/v1/appointments",
            Some(&citizen),
            Some(json!({"slot_id": sl.1["id"]})),
        )
        .await;
        assert_eq!(st, 201, "{a}");
        slots.push((date, a["id"].as_str().unwrap().to_string()));
    }
    let v = inbox_with(&s, &citizen, 1).await;
    let n = &v["notifications"][0];
    assert_eq!(n["kind"], "appointment_reminder", "{v}");
    assert_eq!(n["subject_id"].as_str(), Some(slots[0].1.as_str()));
    assert_eq!(
        n["details"]["date"].as_str(),
        Some(slots[0].0.to_string().as_str())
    );
    assert_eq!(n["details"]["start_time"], "09:00");
    // Several sweeps later: still once, and nothing yet for the one twelve days away.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, v) = send(&s, "GET", "/v1/me/notifications", Some(&citizen), None).await;
    assert_eq!(kinds(&v), ["appointment_reminder"], "{v}");
    s.stop().await;
}

#[tokio::test]
async fn the_demo_walk_through_leaves_files_a_licence_a_delivery_and_notifications() {
    let s = Stack::start().await;
    let items: Vec<yiwang_cases::demo_app::AppItem> = [
        create_published(&s, 1, "食品经营许可证核发").await,
        create_published(&s, 2, "食品经营许可证变更").await,
    ]
    .into_iter()
    .map(|code| yiwang_cases::demo_app::AppItem {
        code,
        department: DEPT.into(),
        required_materials: vec!["营业执照".into(), "食品安全管理制度".into()],
    })
    .collect();
    let walked = yiwang_cases::demo_app::walk(&s.cfg.cases_url, SECRET, &items)
        .await
        .unwrap();
    assert_eq!((walked.cases, walked.uploads), (3, 4));
    let me = s.token(yiwang_cases::demo_app::ACCOUNT, &["enterprise"], None);
    let (_, cases) = send(&s, "GET", "/v1/me/cases", Some(&me), None).await;
    let mut states: Vec<&str> = cases["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["state"].as_str().unwrap())
        .collect();
    states.sort();
    assert_eq!(states, ["accepted", "correction", "delivered"], "{cases}");
    let delivered = cases["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["state"] == "delivered")
        .unwrap();
    assert_eq!(delivered["tracking_number"], "1180000000001");
    // The files are real, sealed, and the applicant's to read back.
    let upload = delivered["material_details"][0]["upload_id"]
        .as_str()
        .unwrap();
    let r = s
        .http
        .get(s.url(&format!("/v1/uploads/{upload}/content")))
        .bearer_auth(&me)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.unwrap().starts_with(b"%PDF-"));
    let (_, licences) = send(&s, "GET", "/v1/me/licences", Some(&me), None).await;
    assert_eq!(licences["licences"][0]["status"], "valid", "{licences}");
    let v = inbox_with(&s, &me, 8).await;
    let mut got = kinds(&v);
    got.sort();
    assert_eq!(
        got,
        [
            "case_accepted",
            "case_accepted",
            "case_decided",
            "case_delivered",
            "correction_needed",
            "evaluation_invitation",
            "licence_issued",
            "ticket_replied"
        ],
        "{v}"
    );
    // Once only: a second start of the demo leaves it as it is.
    let again = yiwang_cases::demo_app::walk(&s.cfg.cases_url, SECRET, &items)
        .await
        .unwrap();
    assert_eq!(again.cases, 0);
    s.stop().await;
}
