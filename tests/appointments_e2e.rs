//! Appointments: slots with a capacity, weekend slots only where the item offers them, and
//! fifty people racing for ten places.

mod common;

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use common::*;
use serde_json::{Value, json};

const DEPT: &str = "340522-SCJGJ";

/// The first `weekday` at least two weeks ahead that the legal calendar lists as an ordinary
/// day (neither holiday nor make-up working day), so the test holds in any year.
async fn ordinary(s: &Stack, weekday: Weekday) -> NaiveDate {
    let today = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .date_naive();
    let mut d = today + Duration::days(14);
    loop {
        if d.weekday() == weekday {
            let (_, year) = send(s, "GET", &format!("/v1/calendar/{}", d.year()), None, None).await;
            let listed = year["days"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["date"] == d.to_string());
            if !listed {
                return d;
            }
        }
        d += Duration::days(1);
    }
}

/// A published item offering weekend appointments (the department exists already).
async fn weekend_item(s: &Stack) -> String {
    let mut body = item_body(DEPT, &uscc("11340522MB0000001"), 2, "个体工商户登记");
    body["channels"] = json!(["online", "window", "weekend_appointment"]);
    let code = body["code"].as_str().unwrap().to_string();
    let admin = s.token("cat-admin", &["catalog_admin"], None);
    let (st, r) = send(s, "POST", "/v1/items", Some(&admin), Some(body)).await;
    assert_eq!(st, 201, "{r}");
    let (st, r) = send(
        s,
        "POST",
        &format!("/v1/items/{code}/publish"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(st, 200, "{r}");
    code
}

fn slot(item: &str, date: NaiveDate, capacity: u32) -> Value {
    json!({"item_code": item, "hall": "县政务服务中心 A 区 3 号窗口", "date": date.to_string(),
           "start_time": "09:00", "end_time": "09:30", "capacity": capacity})
}

#[tokio::test]
async fn fifty_bookings_for_ten_places_never_overbook() {
    let s = Stack::start().await;
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    let officer = s.token("officer-1", &["officer"], Some(DEPT));
    let wednesday = ordinary(&s, Weekday::Wed).await;
    let (st, sl) = send(
        &s,
        "POST",
        "/v1/appointment-slots",
        Some(&officer),
        Some(slot(&item, wednesday, 10)),
    )
    .await;
    assert_eq!(st, 201, "{sl}");
    assert_eq!(sl["rest_day"], false);
    let slot_id = sl["id"].as_str().unwrap().to_string();

    let tokens: Vec<String> = (0..50)
        .map(|i| s.token(&format!("citizen-{i}"), &["citizen"], None))
        .collect();
    let bookings = tokens.iter().map(|t| {
        send(
            &s,
            "POST",
            "/v1/appointments",
            Some(t),
            Some(json!({"slot_id": slot_id})),
        )
    });
    let results = futures::future::join_all(bookings).await;
    let ok = results.iter().filter(|(st, _)| *st == 201).count();
    let full = results
        .iter()
        .filter(|(st, b)| {
            *st == 400
                && b["error"]["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("fully booked")
        })
        .count();
    assert_eq!((ok, full), (10, 40), "{results:?}");

    let (_, list) = send(
        &s,
        "GET",
        &format!("/v1/appointment-slots?item_code={item}&date={wednesday}"),
        None,
        None,
    )
    .await;
    assert_eq!(list["slots"][0]["booked"], 10);
    assert_eq!(list["slots"][0]["available"], 0);

    // A cancellation frees exactly one place; another citizen cannot cancel someone's booking.
    let (i, (_, first)) = results
        .iter()
        .enumerate()
        .find(|(_, (st, _))| *st == 201)
        .unwrap();
    let appt = first["id"].as_str().unwrap();
    let stranger = s.token("citizen-x", &["citizen"], None);
    let (st, _) = send(
        &s,
        "DELETE",
        &format!("/v1/appointments/{appt}"),
        Some(&stranger),
        None,
    )
    .await;
    assert_eq!(st, 404);
    let (st, c) = send(
        &s,
        "DELETE",
        &format!("/v1/appointments/{appt}"),
        Some(&tokens[i]),
        None,
    )
    .await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["state"], "cancelled");
    let (st, _) = send(
        &s,
        "DELETE",
        &format!("/v1/appointments/{appt}"),
        Some(&tokens[i]),
        None,
    )
    .await;
    assert_eq!(st, 400, "cancelled once");
    let (st, b) = send(
        &s,
        "POST",
        "/v1/appointments",
        Some(&stranger),
        Some(json!({"slot_id": slot_id})),
    )
    .await;
    assert_eq!(st, 201, "{b}");
    assert_eq!(b["slot"]["available"], 0);
    // 帮办代办 for an appointment: the slot's department only.
    let b_id = b["id"].as_str().unwrap();
    let other = s.token("officer-9", &["officer"], Some("340522-GAJ"));
    let helper = json!({"helper": "窗口工作人员王敏", "helper_kind": "staff"});
    let (st, _) = send(
        &s,
        "POST",
        &format!("/v1/appointments/{b_id}/assign-helper"),
        Some(&other),
        Some(helper.clone()),
    )
    .await;
    assert_eq!(st, 404);
    let (st, a) = send(
        &s,
        "POST",
        &format!("/v1/appointments/{b_id}/assign-helper"),
        Some(&officer),
        Some(helper),
    )
    .await;
    assert_eq!(st, 200, "{a}");
    assert_eq!(a["helper_kind"], "staff");
    // One booking per person per slot.
    let (st, _) = send(
        &s,
        "POST",
        "/v1/appointments",
        Some(&stranger),
        Some(json!({"slot_id": slot_id})),
    )
    .await;
    assert!(st == 409 || st == 400, "{st}");
    s.stop().await;
}

#[tokio::test]
async fn weekend_slots_only_for_items_that_offer_weekend_appointment() {
    let s = Stack::start().await;
    let plain = create_published(&s, 1, "食品经营许可证核发").await;
    let weekend = weekend_item(&s).await;
    let officer = s.token("officer-1", &["officer"], Some(DEPT));
    let saturday = ordinary(&s, Weekday::Sat).await;

    let (st, body) = send(
        &s,
        "POST",
        "/v1/appointment-slots",
        Some(&officer),
        Some(slot(&plain, saturday, 5)),
    )
    .await;
    assert_eq!(
        (st, violation_field(&body)),
        (400, "date".to_string()),
        "{body}"
    );
    let (st, sl) = send(
        &s,
        "POST",
        "/v1/appointment-slots",
        Some(&officer),
        Some(slot(&weekend, saturday, 5)),
    )
    .await;
    assert_eq!(st, 201, "{sl}");
    assert_eq!(sl["rest_day"], true);
    let (st, _) = send(
        &s,
        "POST",
        "/v1/appointment-slots",
        Some(&officer),
        Some(slot(&weekend, saturday, 5)),
    )
    .await;
    assert_eq!(st, 409, "the same slot twice");

    // Only the item's department opens slots; bad input names the field.
    let citizen = s.token("citizen-1", &["citizen"], None);
    let (st, _) = send(
        &s,
        "POST",
        "/v1/appointment-slots",
        Some(&citizen),
        Some(slot(&weekend, saturday, 5)),
    )
    .await;
    assert_eq!(st, 403);
    let other = s.token("officer-9", &["officer"], Some("340522-GAJ"));
    let (st, _) = send(
        &s,
        "POST",
        "/v1/appointment-slots",
        Some(&other),
        Some(slot(&weekend, saturday, 5)),
    )
    .await;
    assert_eq!(st, 403);
    let mut bad = slot(&weekend, saturday, 0);
    let (st, body) = send(
        &s,
        "POST",
        "/v1/appointment-slots",
        Some(&officer),
        Some(bad.clone()),
    )
    .await;
    assert_eq!((st, violation_field(&body)), (400, "capacity".to_string()));
    bad["capacity"] = json!(3);
    bad["end_time"] = json!("08:00");
    let (st, body) = send(
        &s,
        "POST",
        "/v1/appointment-slots",
        Some(&officer),
        Some(bad),
    )
    .await;
    assert_eq!((st, violation_field(&body)), (400, "end_time".to_string()));
    let (st, body) = send(
        &s,
        "GET",
        &format!("/v1/appointment-slots?item_code={weekend}&date=someday"),
        None,
        None,
    )
    .await;
    assert_eq!((st, violation_field(&body)), (400, "date".to_string()));
    s.stop().await;
}

/// A hall's queueing system over gRPC: it opens a slot, books for callers (idempotently), and
/// cancels; the capacity holds and another department cannot open slots for this item.
#[tokio::test]
async fn a_hall_system_books_and_cancels_over_grpc() {
    use yiwang_proto::cases::v1 as pb;
    let s = Stack::start().await;
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    let officer = s.token("hall-system", &["officer"], Some(DEPT));
    let other = s.token("gaj-system", &["officer"], Some("340522-GAJ"));
    let thursday = ordinary(&s, Weekday::Thu).await;
    let mut grpc = pb::cases_service_client::CasesServiceClient::connect(s.cfg.cases_url.clone())
        .await
        .unwrap();
    let new_slot = |capacity: u32| pb::CreateAppointmentSlotRequest {
        item_code: item.clone(),
        hall: "县政务服务中心 B 区".into(),
        date: thursday.to_string(),
        start_time: "14:00".into(),
        end_time: "14:30".into(),
        capacity,
    };
    let err = grpc
        .create_appointment_slot(authed(&other, new_slot(2)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");
    let err = grpc
        .create_appointment_slot(authed(&officer, new_slot(0)))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), grpc_violation_field(&err)),
        (tonic::Code::InvalidArgument, "capacity".to_string())
    );
    let sl = grpc
        .create_appointment_slot(authed(&officer, new_slot(2)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((sl.capacity, sl.available), (2, 2));

    let book = |who: &str, request_id: &str| {
        authed(
            &s.token(who, &["citizen"], None),
            pb::BookAppointmentRequest {
                slot_id: sl.id.clone(),
                request_id: request_id.into(),
            },
        )
    };
    let a = grpc
        .book_appointment(book("c-1", "b-1"))
        .await
        .unwrap()
        .into_inner();
    let retried = grpc
        .book_appointment(book("c-1", "b-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retried.id, a.id, "a retried booking is the same booking");
    let b = grpc
        .book_appointment(book("c-2", "b-2"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(b.slot.as_ref().unwrap().available, 0);
    let err = grpc.book_appointment(book("c-3", "b-3")).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert!(err.message().contains("fully booked"), "{}", err.message());

    let cancelled = grpc
        .cancel_appointment(authed(
            &s.token("c-1", &["citizen"], None),
            pb::CancelAppointmentRequest { id: a.id.clone() },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cancelled.state, "cancelled");
    let c = grpc
        .book_appointment(book("c-3", "b-4"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        c.slot.unwrap().booked,
        2,
        "the cancelled place went to the next caller"
    );
    let listed = grpc
        .list_appointment_slots(tonic::Request::new(pb::ListAppointmentSlotsRequest {
            item_code: item.clone(),
            date: thursday.to_string(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        listed
            .slots
            .iter()
            .map(|x| (x.booked, x.available))
            .collect::<Vec<_>>(),
        vec![(2, 0)]
    );
    s.stop().await;
}
