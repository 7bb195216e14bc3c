//! What the operator's dashboards and alert rules read (issue 17): every role's `/metrics`
//! exports the outbox backlog and lag, the database pool's use, each consumer group's lag and
//! when each sweeper last completed a pass, labelled with the role.

mod common;

use common::*;

/// The exposition of a role's `/metrics` (plain HTTP on its gRPC port).
async fn metrics(s: &Stack, grpc_url: &str) -> String {
    let r = s
        .http
        .get(format!("{grpc_url}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// The value of the first sample whose line starts with `series` (name and labels in order).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{'))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn every_role_exports_backlogs_pool_use_consumer_lag_and_sweeper_runs() {
    let mut cfg = test_config(10_000).await;
    cfg.overdue_sweep_secs = 1;
    let s = Stack::start_with(cfg).await;
    // The first scrape installs the process's recorder (the tests start no telemetry of their
    // own); what happens before it is not counted.
    metrics(&s, &s.cfg.cases_url.clone()).await;
    // A filing: an outbox row in cases, consumed by the inbox's group.
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    let citizen = s.token("citizen-a", &["citizen"], None);
    let (st, c) = send(&s, "POST", "/v1/cases", Some(&citizen),
        Some(serde_json::json!({"item_code": item, "channel": "online",
            "applicant": {"kind": "person", "name": "张三丰", "id_number": "11010519491231002X", "phone": "13812345678"}}))).await;
    assert_eq!(st, 201, "{c}");

    // A gRPC failure (a department system asking for a case that does not exist).
    let mut cases = yiwang_proto::cases::v1::cases_service_client::CasesServiceClient::connect(
        s.cfg.cases_url.clone(),
    )
    .await
    .unwrap();
    let missing = cases
        .get_case(authed(
            &s.token("sup", &["supervisor"], None),
            yiwang_proto::cases::v1::GetCaseRequest {
                id: uuid::Uuid::new_v4().to_string(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);

    let started = std::time::Instant::now();
    let text = loop {
        let text = metrics(&s, &s.cfg.cases_url.clone()).await;
        // Each service samples its outbox on its own schedule: wait for every one asserted below.
        let ready = ["catalog", "cases"].iter().all(|service| {
            sample(&text, "yiwang_outbox_lag_seconds", &[("service", service)]).is_some()
                && sample(&text, "yiwang_outbox_pending", &[("service", service)]).is_some()
        }) && sample(
            &text,
            "yiwang_sweeper_last_run_timestamp_seconds",
            &[("service", "cases"), ("sweeper", "case_overdue")],
        )
        .is_some()
            && sample(&text, "yiwang_consumer_lag", &[("service", "inbox")]).is_some();
        if ready || started.elapsed() > std::time::Duration::from_secs(20) {
            break text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    };
    // The outbox: pending rows and the age of the oldest, per service.
    for service in ["catalog", "cases"] {
        let pending = sample(&text, "yiwang_outbox_pending", &[("service", service)]);
        let lag = sample(&text, "yiwang_outbox_lag_seconds", &[("service", service)]);
        assert!(
            pending.is_some_and(|p| p >= 0.0),
            "{service} pending: {text}"
        );
        assert!(
            lag.is_some_and(|l| (0.0..60.0).contains(&l)),
            "{service} lag {lag:?}"
        );
    }
    // The pool: in use and idle never exceed the configured maximum.
    let max = sample(
        &text,
        "yiwang_db_pool_max_connections",
        &[("service", "cases")],
    );
    assert_eq!(max, Some(5.0), "{text}");
    let in_use = sample(
        &text,
        "yiwang_db_pool_connections",
        &[("service", "cases"), ("state", "in_use")],
    )
    .unwrap();
    let idle = sample(
        &text,
        "yiwang_db_pool_connections",
        &[("service", "cases"), ("state", "idle")],
    )
    .unwrap();
    assert!(in_use + idle <= 5.0 && in_use >= 0.0, "{in_use} + {idle}");
    // Sweepers stamp their last completed pass: recent.
    let now = chrono::Utc::now().timestamp() as f64;
    for (service, sweeper) in [
        ("cases", "case_overdue"),
        ("cases", "ticket_overdue"),
        ("cases", "accept_on_receipt"),
        ("alerts", "notice_escalation"),
    ] {
        let at = sample(
            &text,
            "yiwang_sweeper_last_run_timestamp_seconds",
            &[("service", service), ("sweeper", sweeper)],
        );
        assert!(
            at.is_some_and(|t| now - t < 30.0 && t <= now + 1.0),
            "{service}/{sweeper}: {at:?}"
        );
    }
    // A gRPC error counts as the HTTP status it stands for, so one 5xx ratio covers all roles.
    assert!(
        text.lines().any(|l| l.starts_with("yiwang_requests_total{")
            && l.contains("service=\"cases\"")
            && l.contains("GetCase\"")
            && l.contains("status=\"404\"")),
        "{text}"
    );
    // Consumer groups: the inbox's lag on the cases' events.
    let lag = sample(&text, "yiwang_consumer_lag", &[("service", "inbox")]);
    assert!(lag.is_some_and(|l| l >= 0.0), "{text}");
    s.stop().await;
}
