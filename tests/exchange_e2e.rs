//! The provincial exchange (办件过程信息) as the provincial platform collects it: every
//! transition once, with its national code, resumable from a cursor over REST and followed live
//! over gRPC; and 行政许可法 Art. 32, acceptance of applications nobody answered in 5 working
//! days.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use futures::StreamExt;
use serde_json::{Value, json};
use yiwang_proto::cases::v1 as pb;

const DEPT: &str = "340522-SCJGJ";

async fn file(s: &Stack, item: &str, token: &str, n: u32) -> String {
    let (st, c) = send(
        s,
        "POST",
        "/v1/cases",
        Some(token),
        Some(json!({"item_code": item, "channel": "online",
            "applicant": {"kind": "legal_person", "name": "含山县好味餐饮有限公司",
                          "uscc": uscc(&format!("91340522MA20000{n:02}")), "phone": "13812345678"}})),
    )
    .await;
    assert_eq!(st, 201, "{c}");
    c["id"].as_str().unwrap().to_string()
}

async fn act(s: &Stack, id: &str, action: &str, token: &str, body: Value) {
    let (st, v) = send(
        s,
        "POST",
        &format!("/v1/cases/{id}/{action}"),
        Some(token),
        Some(body),
    )
    .await;
    assert_eq!(st, 200, "{action}: {v}");
}

/// Every record after `after`, a page of `size` at a time; the final cursor too.
async fn collect(s: &Stack, token: &str, mut after: String, size: u32) -> (Vec<Value>, String) {
    let mut all = Vec::new();
    loop {
        let (st, v) = send(
            s,
            "GET",
            &format!("/v1/process-records?after={after}&page_size={size}"),
            Some(token),
            None,
        )
        .await;
        assert_eq!(st, 200, "{v}");
        let records = v["records"].as_array().unwrap().clone();
        after = v["next_after"].as_str().unwrap().to_string();
        if records.is_empty() {
            return (all, after);
        }
        all.extend(records);
    }
}

fn codes_by_case(records: &[Value]) -> HashMap<String, Vec<u64>> {
    let mut by: HashMap<String, Vec<u64>> = HashMap::new();
    for r in records {
        by.entry(r["case_id"].as_str().unwrap().to_string())
            .or_default()
            .push(r["code"].as_u64().unwrap());
    }
    by
}

#[tokio::test]
async fn every_transition_is_one_process_record_with_its_national_code_resumable_by_cursor() {
    let s = Stack::start().await;
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    let enterprise = s.token("enterprise-1", &["enterprise"], None);
    let officer = s.token("officer-a", &["officer"], Some(DEPT));
    let province = s.token("province-exchange", &["system"], None);

    // A full life: filed, accepted (and taken up), corrected, special procedure, approved,
    // delivered.
    let full = file(&s, &item, &enterprise, 1).await;
    act(&s, &full, "accept", &officer, json!({})).await;
    act(
        &s,
        &full,
        "request-correction",
        &officer,
        json!({"reason": "缺少食品安全管理制度"}),
    )
    .await;
    act(&s, &full, "submit-correction", &enterprise, json!({})).await;
    act(
        &s,
        &full,
        "start-special",
        &officer,
        json!({"reason": "现场核查"}),
    )
    .await;
    act(&s, &full, "end-special", &officer, json!({})).await;
    act(
        &s,
        &full,
        "decide",
        &officer,
        json!({"outcome": "approved"}),
    )
    .await;
    act(&s, &full, "deliver", &officer, json!({"method": "window"})).await;
    // Withdrawn before acceptance (已撤件) and after (撤回); refused out of scope (不受理) and on
    // its merits (不予受理).
    let early = file(&s, &item, &enterprise, 2).await;
    act(&s, &early, "withdraw", &enterprise, json!({})).await;
    let late = file(&s, &item, &enterprise, 3).await;
    act(&s, &late, "accept", &officer, json!({})).await;
    act(&s, &late, "withdraw", &enterprise, json!({})).await;
    let scope = file(&s, &item, &enterprise, 4).await;
    act(
        &s,
        &scope,
        "reject",
        &officer,
        json!({"reason": "不属于本部门职权范围，请向县卫健委申请", "out_of_scope": true}),
    )
    .await;
    let merits = file(&s, &item, &enterprise, 5).await;
    act(
        &s,
        &merits,
        "reject",
        &officer,
        json!({"reason": "申请人不具备法定条件"}),
    )
    .await;

    // Only the exchange's accounts read the feed.
    for token in [&enterprise, &officer] {
        let (st, _) = send(&s, "GET", "/v1/process-records", Some(token), None).await;
        assert_eq!(st, 403);
    }
    let (st, _) = send(&s, "GET", "/v1/process-records", None, None).await;
    assert_eq!(st, 401);
    let (st, v) = send(
        &s,
        "GET",
        "/v1/process-records?after=nonsense",
        Some(&province),
        None,
    )
    .await;
    assert_eq!((st, violation_field(&v)), (400, "after".to_string()), "{v}");

    // A record shows once every transaction begun before it has ended (any test's, on a shared
    // server): wait until all 19 are there.
    for _ in 0..100 {
        if collect(&s, &province, String::new(), 1000).await.0.len() >= 19 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Two pages at a time gives the same records, once each, as one big page.
    let (small, end) = collect(&s, &province, String::new(), 2).await;
    let (big, _) = collect(&s, &province, String::new(), 1000).await;
    assert_eq!(small, big);
    let cursors: std::collections::HashSet<&str> = small
        .iter()
        .map(|r| r["cursor"].as_str().unwrap())
        .collect();
    assert_eq!(cursors.len(), small.len(), "each record once");
    let by = codes_by_case(&small);
    assert_eq!(by[&full], vec![1, 3, 8, 6, 7, 9, 10, 11, 16]);
    assert_eq!(by[&early], vec![1, 2]);
    assert_eq!(by[&late], vec![1, 3, 8, 14]);
    assert_eq!(by[&scope], vec![1, 4]);
    assert_eq!(by[&merits], vec![1, 5]);
    let rejected = small.iter().find(|r| r["code"] == 4).unwrap();
    assert_eq!(rejected["code_name"], "不受理");
    assert_eq!(rejected["department"], DEPT);
    assert!(rejected["reason"].as_str().unwrap().contains("职权范围"));
    assert!(
        !small.iter().any(|r| r.to_string().contains("13812345678")),
        "no personal numbers in the exchange"
    );

    // From the last cursor only what happens afterwards; over gRPC the stream follows live.
    let mut grpc = pb::cases_service_client::CasesServiceClient::connect(s.cfg.cases_url.clone())
        .await
        .unwrap();
    let mut stream = grpc
        .stream_process_records(authed(
            &province,
            pb::StreamProcessRecordsRequest { after: end.clone() },
        ))
        .await
        .unwrap()
        .into_inner();
    let next = file(&s, &item, &enterprise, 6).await;
    act(&s, &next, "accept", &officer, json!({})).await;
    let mut live = Vec::new();
    while live.len() < 3 {
        let rec = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("the stream follows new records")
            .unwrap()
            .unwrap();
        live.push((rec.case_id.clone(), rec.code));
    }
    assert_eq!(
        live,
        vec![(next.clone(), 1), (next.clone(), 3), (next.clone(), 8)]
    );
    let mut after_end = Vec::new();
    for _ in 0..100 {
        after_end = collect(&s, &province, end.clone(), 100).await.0;
        if after_end.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(codes_by_case(&after_end)[&next], vec![1, 3, 8]);
    assert_eq!(after_end.len(), 3);
    let denied = grpc
        .stream_process_records(authed(&officer, pb::StreamProcessRecordsRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    s.stop().await;
}

#[tokio::test]
async fn an_application_unanswered_for_five_working_days_counts_as_accepted_on_receipt() {
    let mut cfg = test_config(10_000).await;
    cfg.overdue_sweep_secs = 1;
    let s = Stack::start_with(cfg).await;
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    let enterprise = s.token("enterprise-1", &["enterprise"], None);
    let officer = s.token("officer-a", &["officer"], Some(DEPT));
    let old = file(&s, &item, &enterprise, 1).await;
    let corrected = file(&s, &item, &enterprise, 2).await;
    let fresh = file(&s, &item, &enterprise, 3).await;
    act(
        &s,
        &corrected,
        "request-correction",
        &officer,
        json!({"reason": "缺少营业执照"}),
    )
    .await;
    // Received three weeks ago (Monday 2026-11-02 09:00 Beijing time); nobody answered the
    // first, the second was told of missing materials in time.
    let db = sqlx::PgPool::connect(&s.cfg.service_database_url("cases"))
        .await
        .unwrap();
    let received = chrono::DateTime::parse_from_rfc3339("2026-11-02T09:00:00+08:00")
        .unwrap()
        .to_utc();
    sqlx::query("UPDATE cases SET created_at = $1 WHERE id = ANY($2::uuid[])")
        .bind(received)
        .bind(vec![
            old.parse::<uuid::Uuid>().unwrap(),
            corrected.parse::<uuid::Uuid>().unwrap(),
        ])
        .execute(&db)
        .await
        .unwrap();
    let mut case = Value::Null;
    for _ in 0..100 {
        let (_, c) = send(&s, "GET", &format!("/v1/cases/{old}"), Some(&officer), None).await;
        if c["state"] == "accepted" {
            case = c;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(case["state"], "accepted", "accepted by law: {case}");
    assert_eq!(case["accepted_at"], "2026-11-02T01:00:00Z", "as of receipt");
    // Accepted as of receipt, so the 5-working-day promise runs from 2026-11-02: it ended with
    // the fifth working day after, Monday 2026-11-09 (at the close of office hours).
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(case["deadline"].as_str().unwrap())
            .unwrap()
            .to_utc(),
        chrono::DateTime::parse_from_rfc3339("2026-11-09T17:30:00+08:00")
            .unwrap()
            .to_utc(),
        "{case}"
    );
    let (_, history) = send(
        &s,
        "GET",
        &format!("/v1/cases/{old}/history"),
        Some(&officer),
        None,
    )
    .await;
    let accepted: Vec<&Value> = history["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["to_state"] == "accepted")
        .collect();
    assert_eq!(accepted.len(), 1, "once: {history}");
    assert_eq!(accepted[0]["action"], "accept_on_receipt");
    assert_eq!(accepted[0]["actor"], "system");
    assert!(
        accepted[0]["reason"]
            .as_str()
            .unwrap()
            .contains("第三十二条")
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for (id, state) in [(&corrected, "correction"), (&fresh, "received")] {
        let (_, c) = send(&s, "GET", &format!("/v1/cases/{id}"), Some(&officer), None).await;
        assert_eq!(c["state"], state, "{c}");
    }
    let (_, history) = send(
        &s,
        "GET",
        &format!("/v1/cases/{old}/history"),
        Some(&officer),
        None,
    )
    .await;
    assert_eq!(history["transitions"].as_array().unwrap().len(), 2);
    // The exchange says 已受理 for it (once the transactions before it have ended).
    let province = s.token("province-exchange", &["system"], None);
    let mut seen = false;
    for _ in 0..100 {
        let (_, feed) = send(
            &s,
            "GET",
            "/v1/process-records?page_size=100",
            Some(&province),
            None,
        )
        .await;
        seen = feed["records"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["case_id"] == json!(old) && r["code"] == 3);
        if seen {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen, "the acceptance on receipt is exchanged");
    db.close().await;
    s.stop().await;
}

#[tokio::test]
async fn a_reader_paging_while_filings_commit_in_any_order_gets_each_record_exactly_once() {
    let s = Stack::start().await;
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    let province = s.token("province-exchange", &["system"], None);
    let writers: Vec<_> = (0..8u32)
        .map(|w| {
            let (s_base, http, item) = (s.base.clone(), s.http.clone(), item.clone());
            let token = s.token(&format!("enterprise-{w}"), &["enterprise"], None);
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for n in 0..10u32 {
                    let r = http
                        .post(format!("{s_base}/v1/cases"))
                        .bearer_auth(&token)
                        .json(&json!({"item_code": item, "channel": "online",
                            "applicant": {"kind": "legal_person", "name": "含山县好味餐饮有限公司",
                                "uscc": uscc(&format!("91340522MA2{w:01}{n:05}")), "phone": "13812345678"}}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 201);
                    let v: Value = r.json().await.unwrap();
                    ids.push(v["id"].as_str().unwrap().to_string());
                }
                ids
            })
        })
        .collect();
    // The reader pages as the platform would, while the filings commit.
    let mut seen: Vec<Value> = Vec::new();
    let mut after = String::new();
    let mut filed = Vec::new();
    let mut writers = writers;
    let mut waited_since: Option<std::time::Instant> = None;
    loop {
        let (st, v) = send(
            &s,
            "GET",
            &format!("/v1/process-records?after={after}&page_size=7"),
            Some(&province),
            None,
        )
        .await;
        assert_eq!(st, 200, "{v}");
        seen.extend(v["records"].as_array().unwrap().iter().cloned());
        after = v["next_after"].as_str().unwrap().to_string();
        if writers.iter().all(|w| w.is_finished()) {
            for w in writers.drain(..) {
                filed.extend(w.await.unwrap());
            }
        }
        // A record shows once every transaction begun before it has ended (the relay's too), so
        // the last ones may take a moment; give up only after 10 s.
        let filings = seen.iter().filter(|r| r["code"] == 1).count();
        if writers.is_empty() && v["records"].as_array().unwrap().is_empty() {
            if filings >= 80 {
                break;
            }
            let waited = waited_since.get_or_insert_with(std::time::Instant::now);
            assert!(
                waited.elapsed() < Duration::from_secs(10),
                "{filings} of 80"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Nothing more comes after the last one.
    let (_, v) = send(
        &s,
        "GET",
        &format!("/v1/process-records?after={after}"),
        Some(&province),
        None,
    )
    .await;
    assert_eq!(v["records"].as_array().unwrap().len(), 0, "{v}");
    let mut got: Vec<String> = seen
        .iter()
        .filter(|r| r["code"] == 1)
        .map(|r| r["case_id"].as_str().unwrap().to_string())
        .collect();
    got.sort();
    filed.sort();
    assert_eq!(filed.len(), 80);
    assert_eq!(got, filed, "every filing once, none twice");
    s.stop().await;
}
