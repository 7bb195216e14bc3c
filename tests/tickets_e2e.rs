//! Tickets: intake → dispatch → reply → callback → closed, who may do what, overdue replies.

mod common;

use common::*;
use serde_json::json;

const DEPT: &str = "340522-SCJGJ";

#[tokio::test]
async fn a_ticket_goes_from_intake_to_closed() {
    let s = Stack::start().await;
    let enterprise = s.token("ent-1", &["enterprise"], None);
    let supervisor = s.token("sup-1", &["supervisor"], None);
    let officer = s.token("officer-1", &["officer"], Some(DEPT));
    let other = s.token("officer-9", &["officer"], Some("340522-GAJ"));
    let citizen = s.token("citizen-1", &["citizen"], None);

    let (st, t) = send(&s, "POST", "/v1/tickets", Some(&enterprise), Some(json!({
        "kind": "enterprise_request", "subject": "食品经营许可证延续办理进度", "body": "提交材料已两周，未见受理。"
    }))).await;
    assert_eq!(st, 201, "{t}");
    assert_eq!(t["state"], "received");
    let id = t["id"].as_str().unwrap().to_string();

    // Only supervisors dispatch; the department must be named and a limit given.
    let (st, _) = send(
        &s,
        "POST",
        &format!("/v1/tickets/{id}/dispatch"),
        Some(&officer),
        Some(json!({"department": DEPT, "reply_working_days": 3})),
    )
    .await;
    assert_eq!(st, 403);
    let (st, body) = send(
        &s,
        "POST",
        &format!("/v1/tickets/{id}/dispatch"),
        Some(&supervisor),
        Some(json!({"department": DEPT})),
    )
    .await;
    assert_eq!(
        (st, violation_field(&body)),
        (400, "reply_working_days".to_string())
    );
    // Replying before dispatch names the state.
    let (st, body) = send(
        &s,
        "POST",
        &format!("/v1/tickets/{id}/close"),
        Some(&supervisor),
        None,
    )
    .await;
    assert_eq!(st, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is received"),
        "{body}"
    );
    let (st, t) = send(
        &s,
        "POST",
        &format!("/v1/tickets/{id}/dispatch"),
        Some(&supervisor),
        Some(json!({"department": DEPT, "reply_working_days": 3})),
    )
    .await;
    assert_eq!(st, 200, "{t}");
    assert_eq!(
        (t["state"].as_str(), t["overdue"].as_bool()),
        (Some("dispatched"), Some(false))
    );
    assert!(
        t["reply_deadline"]
            .as_str()
            .unwrap()
            .ends_with("17:30:00+08:00"),
        "{t}"
    );

    // Who sees it: submitter, the department, supervisors; not another department or citizen.
    for (token, expect) in [
        (&enterprise, 200),
        (&officer, 200),
        (&supervisor, 200),
        (&other, 404),
        (&citizen, 404),
    ] {
        let (st, _) = send(&s, "GET", &format!("/v1/tickets/{id}"), Some(token), None).await;
        assert_eq!(st, expect);
    }
    let (_, list) = send(&s, "GET", "/v1/tickets", Some(&officer), None).await;
    assert_eq!(list["tickets"].as_array().unwrap().len(), 1);
    let (_, list) = send(&s, "GET", "/v1/tickets", Some(&other), None).await;
    assert_eq!(list["tickets"].as_array().unwrap().len(), 0);

    let (st, _) = send(
        &s,
        "POST",
        &format!("/v1/tickets/{id}/reply"),
        Some(&other),
        Some(json!({"text": "不归我们管"})),
    )
    .await;
    assert_eq!(st, 404);
    let (st, t) = send(
        &s,
        "POST",
        &format!("/v1/tickets/{id}/reply"),
        Some(&officer),
        Some(json!({"text": "已于今日受理，5 个工作日内办结。"})),
    )
    .await;
    assert_eq!(st, 200, "{t}");
    assert_eq!(t["state"], "replied");
    let (st, t) = send(
        &s,
        "POST",
        &format!("/v1/tickets/{id}/callback"),
        Some(&supervisor),
        Some(json!({"text": "企业表示满意", "satisfied": true})),
    )
    .await;
    assert_eq!(st, 200, "{t}");
    let (st, t) = send(
        &s,
        "POST",
        &format!("/v1/tickets/{id}/close"),
        Some(&supervisor),
        None,
    )
    .await;
    assert_eq!(st, 200, "{t}");
    assert_eq!(
        (t["state"].as_str(), t["overdue"].as_bool()),
        (Some("closed"), Some(false))
    );
    s.stop().await;
}

#[tokio::test]
async fn unanswered_tickets_past_their_deadline_are_flagged_and_bad_input_is_named() {
    let s = Stack::start().await;
    let citizen = s.token("citizen-1", &["citizen"], None);
    let supervisor = s.token("sup-1", &["supervisor"], None);
    for (body, field) in [
        (
            json!({"kind": "gossip", "subject": "x", "body": "y"}),
            "kind",
        ),
        (
            json!({"kind": "complaint", "subject": "", "body": "y"}),
            "subject",
        ),
        (
            json!({"kind": "complaint", "subject": "x", "body": ""}),
            "body",
        ),
    ] {
        let (st, r) = send(&s, "POST", "/v1/tickets", Some(&citizen), Some(body)).await;
        assert_eq!((st, violation_field(&r)), (400, field.to_string()), "{r}");
    }
    let (st, _) = send(
        &s,
        "POST",
        "/v1/tickets",
        None,
        Some(json!({"kind": "complaint", "subject": "x", "body": "y"})),
    )
    .await;
    assert_eq!(st, 401);

    let (_, t) = send(&s, "POST", "/v1/tickets", Some(&citizen),
        Some(json!({"kind": "complaint", "subject": "办不成事：户口迁移", "body": "跑了三次仍未办成"}))).await;
    let id = t["id"].as_str().unwrap().to_string();
    let (st, _) = send(
        &s,
        "POST",
        &format!("/v1/tickets/{id}/dispatch"),
        Some(&supervisor),
        Some(json!({"department": "340522-GAJ", "reply_working_days": 1})),
    )
    .await;
    assert_eq!(st, 200);
    let pool = sqlx::PgPool::connect(&s.cfg.service_database_url("cases"))
        .await
        .unwrap();
    sqlx::query(
        "UPDATE tickets SET reply_deadline = now() - interval '1 minute' WHERE id = $1::uuid",
    )
    .bind(&id)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let (_, t) = send(
        &s,
        "GET",
        &format!("/v1/tickets/{id}"),
        Some(&citizen),
        None,
    )
    .await;
    assert_eq!(t["overdue"], true, "{t}");
    s.stop().await;
}

/// The same cycle as a department system drives it over gRPC: idempotent intake, dispatch,
/// the department's reply, callback and closing, with the same visibility rules as REST.
#[tokio::test]
async fn a_department_system_handles_a_ticket_over_grpc() {
    use yiwang_proto::cases::v1 as pb;
    let s = Stack::start().await;
    let enterprise = s.token("ent-1", &["enterprise"], None);
    let supervisor = s.token("sup-1", &["supervisor"], None);
    let dept_system = s.token("scjgj-system", &["officer"], Some(DEPT));
    let other = s.token("gaj-system", &["officer"], Some("340522-GAJ"));
    let mut grpc = pb::cases_service_client::CasesServiceClient::connect(s.cfg.cases_url.clone())
        .await
        .unwrap();

    let create = |kind: &str, request_id: &str| pb::CreateTicketRequest {
        kind: kind.into(),
        subject: "办不成事：营业执照变更".into(),
        body: "窗口称缺少材料，但清单上没有。".into(),
        request_id: request_id.into(),
        ..Default::default()
    };
    let err = grpc
        .create_ticket(authed(&enterprise, create("gossip", "r-0")))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), grpc_violation_field(&err)),
        (tonic::Code::InvalidArgument, "kind".to_string())
    );
    let t = grpc
        .create_ticket(authed(&enterprise, create("complaint", "r-1")))
        .await
        .unwrap()
        .into_inner();
    let again = grpc
        .create_ticket(authed(&enterprise, create("complaint", "r-1")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.id, t.id, "a retried intake is the same ticket");
    assert_eq!(t.state, "received");

    let act = |id: &str| pb::TicketActionRequest {
        id: id.into(),
        ..Default::default()
    };
    let t = grpc
        .dispatch_ticket(authed(
            &supervisor,
            pb::TicketActionRequest {
                department: DEPT.into(),
                reply_working_days: 2,
                ..act(&t.id)
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.state, "dispatched");
    assert!(t.reply_deadline.ends_with("17:30:00+08:00"), "{t:?}");

    // Another department neither sees nor answers it.
    let err = grpc
        .get_ticket(authed(&other, pb::GetTicketRequest { id: t.id.clone() }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    let err = grpc
        .reply_ticket(authed(
            &other,
            pb::TicketActionRequest {
                text: "不归我们管".into(),
                ..act(&t.id)
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    let mine = grpc
        .list_tickets(authed(&dept_system, pb::ListTicketsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        mine.tickets
            .iter()
            .map(|x| x.id.as_str())
            .collect::<Vec<_>>(),
        vec![t.id.as_str()]
    );
    let theirs = grpc
        .list_tickets(authed(&other, pb::ListTicketsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(theirs.tickets.is_empty());

    let t = grpc
        .reply_ticket(authed(
            &dept_system,
            pb::TicketActionRequest {
                text: "材料清单已更正，明日可办。".into(),
                ..act(&t.id)
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((t.state.as_str(), t.overdue), ("replied", false));
    let t = grpc
        .callback_ticket(authed(
            &supervisor,
            pb::TicketActionRequest {
                text: "企业满意".into(),
                satisfied: true,
                ..act(&t.id)
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(t.callback_satisfied);
    let t = grpc
        .close_ticket(authed(&supervisor, act(&t.id)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.state, "closed");
    let err = grpc
        .close_ticket(authed(&supervisor, act(&t.id)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert!(err.message().contains("closed"), "{}", err.message());
    s.stop().await;
}
