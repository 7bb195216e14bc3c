//! The legal calendar and the public deadline calculator, through the gateway (as the app uses
//! them) and over gRPC (as a department system would).

mod common;

use common::{Stack, violation_field};
use serde_json::{Value, json};
use yiwang_proto::cases::v1 as pb;

async fn get(s: &Stack, path: &str) -> (u16, Value) {
    let r = s.http.get(s.url(path)).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn deadline_across_the_spring_festival() {
    let s = Stack::start().await;
    // Filed Thursday 2024-02-08 10:00; 5 working days: 02-09, then the holiday 02-10..17, the
    // make-up Sunday 02-18, 02-19, 02-20, 02-21 → close of office on 02-21.
    let (st, body) = get(
        &s,
        "/v1/calendar/deadline?from=2024-02-08T10:00:00%2B08:00&value=5&unit=working_days",
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["deadline"], "2024-02-21T17:30:00+08:00");
    assert_eq!(body["calendar_complete"], true);

    // A natural-day limit ending on a holiday (2024-10-01..07) moves to the next working day.
    let (_, body) = get(
        &s,
        "/v1/calendar/deadline?from=2024-09-30T09:00:00%2B08:00&value=1&unit=natural_days",
    )
    .await;
    assert_eq!(body["deadline"], "2024-10-08T17:30:00+08:00");

    // Working hours count office time only: Friday 16:00 + 5 h → Monday 14:00 (lunch skipped).
    let (_, body) = get(
        &s,
        "/v1/calendar/deadline?from=2024-03-08T16:00:00%2B08:00&value=5&unit=working_hours",
    )
    .await;
    assert_eq!(body["deadline"], "2024-03-11T14:00:00+08:00");

    // A year whose arrangement is not loaded counts Monday–Friday and says so.
    let (_, body) = get(
        &s,
        "/v1/calendar/deadline?from=2031-03-03T10:00:00%2B08:00&value=3&unit=working_days",
    )
    .await;
    assert_eq!(body["deadline"], "2031-03-06T17:30:00+08:00");
    assert_eq!(body["calendar_complete"], false);
    assert_eq!(body["assumed_years"], json!([2031]));
    s.stop().await;
}

#[tokio::test]
async fn bad_calculator_input_names_the_field() {
    let s = Stack::start().await;
    for (query, field) in [
        ("from=yesterday&value=5&unit=working_days", "from"),
        (
            "from=2024-02-08T10:00:00Z&value=-1&unit=working_days",
            "value",
        ),
        ("from=2024-02-08T10:00:00Z&value=5&unit=fortnights", "unit"),
        ("from=2024-02-08T10:00:00Z&unit=working_days", "value"),
        (
            "from=2024-02-08T10:00:00Z&value=999999&unit=working_days",
            "value",
        ),
    ] {
        let (st, body) = get(&s, &format!("/v1/calendar/deadline?{query}")).await;
        assert_eq!(st, 400, "{query}: {body}");
        assert_eq!(violation_field(&body), field, "{query}: {body}");
    }
    s.stop().await;
}

#[tokio::test]
async fn an_administrator_sets_a_year_and_every_answer_uses_it() {
    let s = Stack::start().await;
    let (st, year) = get(&s, "/v1/calendar/2024").await;
    assert_eq!(st, 200);
    assert_eq!(year["loaded"], true);
    assert!(year["days"].as_array().unwrap().len() > 20, "{year}");
    let (_, y2030) = get(&s, "/v1/calendar/2030").await;
    assert_eq!(y2030["loaded"], false);

    // Before: 2030-01-02 (Wednesday) + 1 working day = Thursday 01-03.
    let q = "/v1/calendar/deadline?from=2030-01-02T10:00:00%2B08:00&value=1&unit=working_days";
    assert_eq!(get(&s, q).await.1["deadline"], "2030-01-03T17:30:00+08:00");

    let body = json!({"days": [
        {"date": "2030-01-01", "kind": "holiday", "name": "元旦"},
        {"date": "2030-01-03", "kind": "holiday", "name": "示例"},
        {"date": "2030-01-05", "kind": "workday", "name": "调休上班"}
    ]});
    // Only administrators.
    let citizen = s.token("citizen-1", &["citizen"], None);
    let r = s
        .http
        .put(s.url("/v1/calendar/2030"))
        .bearer_auth(&citizen)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = s
        .http
        .put(s.url("/v1/calendar/2030"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let r = s
        .http
        .put(s.url("/v1/calendar/2030"))
        .bearer_auth(s.admin())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let year: Value = r.json().await.unwrap();
    assert_eq!(year["loaded"], true);
    assert_eq!(year["updated_by"], "admin-1");
    assert_eq!(year["days"].as_array().unwrap().len(), 3);

    // 01-03 is now a holiday and Saturday 01-05 a working day.
    let (_, d) = get(&s, q).await;
    assert_eq!(d["deadline"], "2030-01-04T17:30:00+08:00");
    assert_eq!(d["calendar_complete"], true);
    let q2 = "/v1/calendar/deadline?from=2030-01-04T10:00:00%2B08:00&value=1&unit=working_days";
    assert_eq!(get(&s, q2).await.1["deadline"], "2030-01-05T17:30:00+08:00");

    // Department systems see the same calendar over gRPC.
    let mut grpc = pb::cases_service_client::CasesServiceClient::connect(s.cfg.cases_url.clone())
        .await
        .unwrap();
    let d = grpc
        .compute_deadline(pb::ComputeDeadlineRequest {
            from: Some(prost_types::Timestamp {
                seconds: chrono::DateTime::parse_from_rfc3339("2030-01-02T10:00:00+08:00")
                    .unwrap()
                    .timestamp(),
                nanos: 0,
            }),
            value: Some(1),
            unit: "working_days".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(d.deadline, "2030-01-04T17:30:00+08:00");
    s.stop().await;
}

#[tokio::test]
async fn bad_calendar_entries_are_named_and_change_nothing() {
    let s = Stack::start().await;
    let before = get(&s, "/v1/calendar/2025").await.1;
    for (days, field) in [
        (
            json!([{"date": "2025-13-01", "kind": "holiday"}]),
            "days[0].date",
        ),
        (
            json!([{"date": "2025-01-01", "kind": "holiday"}, {"date": "2025-01-02", "kind": "feast"}]),
            "days[1].kind",
        ),
        // A make-up working day must be on a weekend (2025-01-06 is a Monday).
        (
            json!([{"date": "2025-01-06", "kind": "workday"}]),
            "days[0].date",
        ),
        // Every date must be in the year.
        (
            json!([{"date": "2024-12-31", "kind": "holiday"}]),
            "days[0].date",
        ),
        (json!([]), "days"),
    ] {
        let r = s
            .http
            .put(s.url("/v1/calendar/2025"))
            .bearer_auth(s.admin())
            .json(&json!({ "days": days }))
            .send()
            .await
            .unwrap();
        let st = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        assert_eq!(st, 400, "{days}: {body}");
        assert_eq!(violation_field(&body), field, "{days}: {body}");
    }
    assert_eq!(get(&s, "/v1/calendar/2025").await.1, before);
    let (st, body) = get(&s, "/v1/calendar/twenty").await;
    assert_eq!(st, 400, "{body}");
    s.stop().await;
}

#[tokio::test]
async fn labour_day_and_national_day_with_their_make_up_working_days() {
    let s = Stack::start().await;
    for (from, value, expect) in [
        // Labour Day 2024: 05-01..05 off; Sunday 04-28 and Saturday 05-11 are working days.
        (
            "2024-04-26T10:00:00%2B08:00",
            3,
            "2024-04-30T17:30:00+08:00",
        ),
        (
            "2024-04-26T10:00:00%2B08:00",
            5,
            "2024-05-07T17:30:00+08:00",
        ),
        (
            "2024-05-10T10:00:00%2B08:00",
            1,
            "2024-05-11T17:30:00+08:00",
        ),
        // National Day 2024: 10-01..07 off; Sunday 09-29 and Saturday 10-12 are working days.
        (
            "2024-09-27T10:00:00%2B08:00",
            3,
            "2024-10-08T17:30:00+08:00",
        ),
        (
            "2024-10-11T10:00:00%2B08:00",
            1,
            "2024-10-12T17:30:00+08:00",
        ),
    ] {
        let (st, body) = get(
            &s,
            &format!("/v1/calendar/deadline?from={from}&value={value}&unit=working_days"),
        )
        .await;
        assert_eq!(st, 200, "{body}");
        assert_eq!(body["deadline"], expect, "{from} + {value}");
    }
    // Nonsense dates are named, not computed.
    for query in [
        "from=9999-12-31T10:00:00Z&value=10&unit=working_days",
        "from=2024-02-30T10:00:00Z&value=1&unit=working_days",
    ] {
        let (st, body) = get(&s, &format!("/v1/calendar/deadline?{query}")).await;
        assert_eq!(
            (st, violation_field(&body)),
            (400, "from".to_string()),
            "{query}: {body}"
        );
    }
    s.stop().await;
}

#[test]
fn a_correction_pause_spanning_national_day_moves_the_deadline_by_the_office_time_stopped() {
    use chrono::DateTime;
    use yiwang_cases::calendar::{Calendar, DEFAULT_CSV, Unit};
    let cal = Calendar::from_csv(DEFAULT_CSV).unwrap();
    let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
    // Stopped Monday 09-30 10:00 (6 office hours left that day), through the holiday, until
    // Tuesday 10-08 10:00 (1 office hour): 7 office hours = one working day.
    let moved = cal
        .resume(
            t("2024-10-10T17:30:00+08:00"),
            Unit::WorkingDays,
            t("2024-09-30T10:00:00+08:00"),
            t("2024-10-08T10:00:00+08:00"),
        )
        .unwrap();
    assert_eq!(moved.at.to_rfc3339(), "2024-10-11T17:30:00+08:00");
    // Stopped only over the holiday itself: no office time passed, the deadline stays.
    let same = cal
        .resume(
            t("2024-10-10T17:30:00+08:00"),
            Unit::WorkingDays,
            t("2024-09-30T17:30:00+08:00"),
            t("2024-10-08T09:00:00+08:00"),
        )
        .unwrap();
    assert_eq!(same.at.to_rfc3339(), "2024-10-10T17:30:00+08:00");
}
