//! The website's content (issue 16): posts reach the portal only through three reviews by three
//! different people; HTML is sanitised; the 错敏词 dictionary is matched in traditional and
//! full-width forms too, and an open finding holds the final review unless overridden.

mod common;

use common::*;
use serde_json::{Value, json};

const DEPT: &str = "340522-XXZX";

struct People {
    admin: String,
    author: String,
    first: String,
    second: String,
    last: String,
}

async fn portal(s: &Stack) -> People {
    let p = People {
        admin: s.token("web-admin", &["content_admin"], None),
        author: s.token("author-1", &["content_author"], Some(DEPT)),
        first: s.token("reviewer-1", &["content_first_reviewer"], Some(DEPT)),
        second: s.token("reviewer-2", &["content_second_reviewer"], None),
        last: s.token("reviewer-3", &["content_final_reviewer"], None),
    };
    let (st, v) = send(
        s,
        "POST",
        "/v1/sites",
        Some(&p.admin),
        Some(
            json!({"id": "hanshan-portal", "name": "含山县人民政府", "kind": "portal",
            "domain": "www.hanshan.gov.cn"}),
        ),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = send(
        s,
        "POST",
        "/v1/sites/hanshan-portal/columns",
        Some(&p.admin),
        Some(json!({"id": "news", "name": "要闻动态", "kind": "column"})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    p
}

async fn draft(s: &Stack, p: &People, title: &str, body: &str) -> String {
    let (st, v) = send(
        s,
        "POST",
        "/v1/posts",
        Some(&p.author),
        Some(
            json!({"site_id": "hanshan-portal", "column_id": "news", "title": title, "body": body}),
        ),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    v["id"].as_str().unwrap().to_string()
}

async fn review(s: &Stack, token: &str, id: &str, body: Value) -> (u16, Value) {
    send(
        s,
        "POST",
        &format!("/v1/posts/{id}/review"),
        Some(token),
        Some(body),
    )
    .await
}

fn reason(v: &Value) -> String {
    v["error"]["details"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_post_reaches_the_portal_only_after_three_different_reviewers() {
    let s = Stack::start().await;
    let p = portal(&s).await;
    let id = draft(
        &s,
        &p,
        "含山县召开政务服务工作会议",
        "<p onclick=\"steal()\">会议要求<strong>提升</strong>服务。</p><script>alert(1)</script><a href=\"javascript:alert(1)\">链接</a>",
    )
    .await;
    let public = format!("/v1/posts/{id}");
    let (st, _) = send(&s, "GET", &public, None, None).await;
    assert_eq!(st, 404, "a draft is never public");
    let (_, mine) = send(&s, "GET", &public, Some(&p.author), None).await;
    let body = mine["draft_body"].as_str().unwrap();
    assert!(
        !body.contains("script") && !body.contains("onclick") && !body.contains("javascript"),
        "{body}"
    );
    assert!(body.contains("<strong>提升</strong>"), "{body}");

    // Reviews wait for the submission; the author cannot review.
    let (st, v) = review(&s, &p.first, &id, json!({"decision": "approve"})).await;
    assert_eq!((st, reason(&v).as_str()), (400, "POST_STATE"), "{v}");
    post_ok(&s, &format!("/v1/posts/{id}/submit"), &p.author, json!({})).await;
    let (st, _) = review(&s, &p.author, &id, json!({"decision": "approve"})).await;
    assert_eq!(st, 403);
    // The second step's reviewer cannot take the first step.
    let (st, _) = review(&s, &p.second, &id, json!({"decision": "approve"})).await;
    assert_eq!(st, 403);
    let v = review(&s, &p.first, &id, json!({"decision": "approve"})).await;
    assert_eq!(
        (v.0, v.1["state"].as_str()),
        (200, Some("second_review")),
        "{}",
        v.1
    );
    // One person holding two steps' roles still reviews once.
    let both = s.token(
        "reviewer-1",
        &["content_first_reviewer", "content_second_reviewer"],
        None,
    );
    let (st, v) = review(&s, &both, &id, json!({"decision": "approve"})).await;
    assert_eq!(
        (st, reason(&v).as_str()),
        (400, "REVIEWER_NOT_INDEPENDENT"),
        "{v}"
    );
    // A rejection needs a reason, and sends it back to the author.
    let (st, v) = review(&s, &p.second, &id, json!({"decision": "reject"})).await;
    assert_eq!((st, violation_field(&v).as_str()), (400, "reason"), "{v}");
    let (st, v) = review(
        &s,
        &p.second,
        &id,
        json!({"decision": "reject", "reason": "请补充会议时间"}),
    )
    .await;
    assert_eq!((st, v["state"].as_str()), (200, Some("draft")), "{v}");
    let (st, v) = send(
        &s,
        "PATCH",
        &format!("/v1/posts/{id}"),
        Some(&p.author),
        Some(json!({"body": "<p>11月28日会议要求提升服务。</p>"})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    post_ok(&s, &format!("/v1/posts/{id}/submit"), &p.author, json!({})).await;
    for token in [&p.first, &p.second] {
        let (st, v) = review(&s, token, &id, json!({"decision": "approve"})).await;
        assert_eq!(st, 200, "{v}");
    }
    let (_, queue) = send(&s, "GET", "/v1/content/review-queue", Some(&p.last), None).await;
    assert_eq!(queue["posts"][0]["id"], id.as_str(), "{queue}");
    let (st, v) = review(&s, &p.last, &id, json!({"decision": "approve"})).await;
    assert_eq!((st, v["state"].as_str()), (200, Some("published")), "{v}");

    // The portal shows it, without the working copy or the trail.
    let (st, v) = send(&s, "GET", &public, None, None).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["title"], "含山县召开政务服务工作会议");
    assert!(v["body"].as_str().unwrap().contains("11月28日"));
    assert_eq!(
        (
            v["draft_body"].as_str(),
            v["history"].as_array().map(Vec::len)
        ),
        (Some(""), Some(0))
    );
    let (_, list) = send(
        &s,
        "GET",
        "/v1/sites/hanshan-portal/columns/news/posts",
        None,
        None,
    )
    .await;
    assert_eq!(list["posts"].as_array().unwrap().len(), 1, "{list}");

    // A change to a published post goes through review again; the portal keeps the old text.
    send(
        &s,
        "PATCH",
        &format!("/v1/posts/{id}"),
        Some(&p.author),
        Some(json!({"title": "含山县召开政务服务工作推进会议"})),
    )
    .await;
    let (_, v) = send(&s, "GET", &public, None, None).await;
    assert_eq!(v["title"], "含山县召开政务服务工作会议");
    let (_, v) = send(&s, "GET", &public, Some(&p.author), None).await;
    assert_eq!(
        (
            v["state"].as_str(),
            v["revision_state"].as_str(),
            v["draft_title"].as_str()
        ),
        (
            Some("published"),
            Some("draft"),
            Some("含山县召开政务服务工作推进会议")
        )
    );

    // Emergency withdrawal: a final reviewer, with a reason; gone from the portal at once.
    let (st, _) = send(
        &s,
        "POST",
        &format!("/v1/posts/{id}/withdraw"),
        Some(&p.first),
        Some(json!({"reason": "x"})),
    )
    .await;
    assert_eq!(st, 403);
    let v = post_ok(
        &s,
        &format!("/v1/posts/{id}/withdraw"),
        &p.last,
        json!({"reason": "内容有误，紧急撤稿"}),
    )
    .await;
    assert_eq!(v["state"], "withdrawn");
    let (st, _) = send(&s, "GET", &public, None, None).await;
    assert_eq!(st, 404);
    let actions: Vec<String> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            format!(
                "{}:{}",
                h["action"].as_str().unwrap(),
                h["actor"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            "create:author-1",
            "submit:author-1",
            "approve:reviewer-1",
            "reject:reviewer-2",
            "edit:author-1",
            "submit:author-1",
            "approve:reviewer-1",
            "approve:reviewer-2",
            "publish:reviewer-3",
            "edit:author-1",
            "withdraw:reviewer-3"
        ]
    );
    // Another department's author sees nothing of it.
    let other = s.token("author-9", &["content_author"], Some("340522-GAJ"));
    let (st, _) = send(&s, "GET", &public, Some(&other), None).await;
    assert_eq!(st, 404);
    s.stop().await;
}

#[tokio::test]
async fn a_finding_holds_the_final_review_until_corrected_or_overridden() {
    let s = Stack::start().await;
    let p = portal(&s).await;
    for (body, field) in [
        (json!({"word": "截止", "kind": "wrong"}), "suggestion"),
        (
            json!({"word": "旧名称", "kind": "outdated", "suggestion": "新名称"}),
            "changed_on",
        ),
        (json!({"word": "x", "kind": "bad"}), "kind"),
        (json!({"word": "", "kind": "sensitive"}), "word"),
    ] {
        let (st, v) = send(&s, "POST", "/v1/content/words", Some(&p.admin), Some(body)).await;
        assert_eq!((st, violation_field(&v).as_str()), (400, field), "{v}");
    }
    for body in [
        json!({"word": "截止", "kind": "wrong", "suggestion": "截至"}),
        json!({"word": "含山县政务服务管理局", "kind": "outdated", "suggestion": "含山县数据资源局",
               "changed_on": "2024-03-01"}),
        json!({"word": "app", "kind": "sensitive"}),
    ] {
        let (st, v) = send(&s, "POST", "/v1/content/words", Some(&p.admin), Some(body)).await;
        assert_eq!(st, 201, "{v}");
    }
    let (st, v) = send(
        &s,
        "POST",
        "/v1/content/words",
        Some(&p.admin),
        Some(json!({"word": "截止", "kind": "wrong", "suggestion": "截至"})),
    )
    .await;
    assert_eq!((st, reason(&v).as_str()), (409, "WORD_EXISTS"));
    let (st, _) = send(
        &s,
        "POST",
        "/v1/content/words",
        Some(&p.author),
        Some(json!({})),
    )
    .await;
    assert_eq!(st, 403);

    // Found as written: traditional characters, full-width letters, inside markup.
    let v = post_ok(
        &s,
        "/v1/content/check",
        &p.author,
        json!({"title": "截止目前", "body": "<p>據<b>含山縣政務服務管理局</b>統計，下載ＡＰＰ</p>"}),
    )
    .await;
    let got: Vec<(String, u64, u64, String, String)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["field"].as_str().unwrap().to_string(),
                f["start"].as_u64().unwrap(),
                f["end"].as_u64().unwrap(),
                f["text"].as_str().unwrap().to_string(),
                f["suggestion"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("title".into(), 0, 2, "截止".into(), "截至".into()),
            (
                "body".into(),
                1,
                11,
                "含山縣政務服務管理局".into(),
                "含山县数据资源局".into()
            ),
            ("body".into(), 16, 19, "ＡＰＰ".into(), "".into()),
        ],
        "{v}"
    );
    assert!(
        v["findings"][1]["note"]
            .as_str()
            .unwrap()
            .contains("2024-03-01"),
        "{v}"
    );

    let id = draft(&s, &p, "截止11月底的办件情况", "<p>办件情况良好。</p>").await;
    post_ok(&s, &format!("/v1/posts/{id}/submit"), &p.author, json!({})).await;
    for token in [&p.first, &p.second] {
        let (st, v) = review(&s, token, &id, json!({"decision": "approve"})).await;
        assert_eq!(st, 200, "{v}");
    }
    let (_, v) = send(&s, "GET", &format!("/v1/posts/{id}"), Some(&p.last), None).await;
    assert_eq!(v["findings"][0]["word"], "截止", "{v}");
    // Without an override the final review is refused while a finding is open.
    let last2 = s.token("reviewer-4", &["content_final_reviewer"], None);
    let (st, v) = review(&s, &p.last, &id, json!({"decision": "approve"})).await;
    assert_eq!((st, reason(&v).as_str()), (400, "OPEN_FINDINGS"), "{v}");
    // Overridden with a reason: both try, exactly one publishes.
    let body = json!({"decision": "approve", "override_reason": "引用文件原标题，不作修改"});
    let (a, b) = tokio::join!(
        review(&s, &p.last, &id, body.clone()),
        review(&s, &last2, &id, body.clone())
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 400], "{a:?} {b:?}");
    let loser = if a.0 == 400 { &a.1 } else { &b.1 };
    assert_eq!(reason(loser), "POST_STATE", "{loser}");
    let (st, v) = send(&s, "GET", &format!("/v1/posts/{id}"), None, None).await;
    assert_eq!(
        (st, v["title"].as_str()),
        (200, Some("截止11月底的办件情况"))
    );
    let (_, staff) = send(&s, "GET", &format!("/v1/posts/{id}"), Some(&p.admin), None).await;
    let last = staff["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "publish");
    assert!(
        last["reason"].as_str().unwrap().contains("引用文件原标题"),
        "{last}"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_new_media_account_silent_for_7_days_is_flagged_to_its_department_once() {
    let mut cfg = test_config(10_000).await;
    cfg.overdue_sweep_secs = 1;
    let s = Stack::start_with(cfg).await;
    let admin = s.token("web-admin", &["content_admin"], None);
    let editor = s.token("editor-1", &["content_author"], Some(DEPT));
    let staff = s.token("officer-1", &["officer"], Some(DEPT));
    send(
        &s,
        "POST",
        "/v1/content/words",
        Some(&admin),
        Some(json!({"word": "截止", "kind": "wrong", "suggestion": "截至"})),
    )
    .await;
    let (st, v) = send(
        &s,
        "POST",
        "/v1/media-accounts",
        Some(&admin),
        Some(json!({"id": "wechat-hanshan", "platform": "wechat", "name": "含山发布", "department": DEPT})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = send(
        &s,
        "POST",
        "/v1/media-accounts",
        Some(&admin),
        Some(json!({"id": "x", "platform": "myspace", "name": "", "department": DEPT})),
    )
    .await;
    assert_eq!(st, 400, "{v}");
    // Its last post was 8 days ago: lapsed, and the department is told.
    let eight_days_ago = (chrono::Utc::now() - chrono::Duration::days(8)).to_rfc3339();
    let (st, v) = send(
        &s,
        "POST",
        "/v1/media-accounts/wechat-hanshan/posts",
        Some(&editor),
        Some(
            json!({"external_id": "msg-1", "title": "截止11月的办件", "body": "全县办件情况",
            "published_at": eight_days_ago}),
        ),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["findings"][0]["word"], "截止", "{v}");
    // Another department may not record for it; a retry records nothing twice.
    let other = s.token("editor-9", &["content_author"], Some("340522-GAJ"));
    let (st, _) = send(
        &s,
        "POST",
        "/v1/media-accounts/wechat-hanshan/posts",
        Some(&other),
        Some(json!({"external_id": "msg-x", "body": "x"})),
    )
    .await;
    assert_eq!(st, 403);
    let mut told = Value::Null;
    for _ in 0..100 {
        let (_, v) = send(&s, "GET", "/v1/me/notifications", Some(&staff), None).await;
        if !v["notifications"].as_array().unwrap().is_empty() {
            told = v;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let n = &told["notifications"][0];
    assert_eq!(
        (n["kind"].as_str(), n["subject_id"].as_str()),
        (Some("media_account_lapsed"), Some("wechat-hanshan")),
        "{told}"
    );
    let (_, accounts) = send(
        &s,
        "GET",
        "/v1/media-accounts?lapsed_only=true",
        Some(&editor),
        None,
    )
    .await;
    assert_eq!(accounts["accounts"][0]["lapsed"], true, "{accounts}");
    // Several checks later: told once. A post today ends the lapse.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let (_, v) = send(&s, "GET", "/v1/me/notifications", Some(&staff), None).await;
    assert_eq!(v["notifications"].as_array().unwrap().len(), 1, "{v}");
    let (st, _) = send(
        &s,
        "POST",
        "/v1/media-accounts/wechat-hanshan/posts",
        Some(&editor),
        Some(json!({"external_id": "msg-2", "body": "今日要闻"})),
    )
    .await;
    assert_eq!(st, 201);
    let (_, again) = send(
        &s,
        "POST",
        "/v1/media-accounts/wechat-hanshan/posts",
        Some(&editor),
        Some(json!({"external_id": "msg-2", "body": "重复推送"})),
    )
    .await;
    assert_eq!(again["body"], "今日要闻", "the first record stands");
    let (_, accounts) = send(&s, "GET", "/v1/media-accounts", Some(&editor), None).await;
    assert_eq!(
        (
            accounts["accounts"][0]["lapsed"].as_bool(),
            accounts["accounts"][0]["posts"].as_i64()
        ),
        (Some(false), Some(2)),
        "{accounts}"
    );
    let (_, posts) = send(
        &s,
        "GET",
        "/v1/media-accounts/wechat-hanshan/posts",
        Some(&editor),
        None,
    )
    .await;
    assert_eq!(posts["posts"][0]["external_id"], "msg-2", "{posts}");
    s.stop().await;
}

#[tokio::test]
async fn a_citizen_message_becomes_one_ticket_and_its_reviewed_answer_is_published() {
    let s = Stack::start().await;
    let p = portal(&s).await;
    let (dept, _) = seed_department(&s).await;
    let citizen = s.token("citizen-7", &["citizen"], None);
    let body = json!({"source": "leader_mailbox", "subject": "营业执照办理咨询",
        "body": "请问个体户营业执照能否全程网办？", "contact_name": "王五",
        "contact_phone": "13912345678", "request_id": "m-1"});
    let (st, m) = send(
        &s,
        "POST",
        "/v1/sites/hanshan-portal/messages",
        Some(&citizen),
        Some(body.clone()),
    )
    .await;
    assert_eq!(st, 201, "{m}");
    assert_eq!(m["state"], "forwarded", "{m}");
    let ticket = m["ticket_id"].as_str().unwrap().to_string();
    // A retried submission is the same message, and the same single ticket.
    let (st, again) = send(
        &s,
        "POST",
        "/v1/sites/hanshan-portal/messages",
        Some(&citizen),
        Some(body),
    )
    .await;
    assert_eq!(
        (st, again["id"].as_str()),
        (201, m["id"].as_str()),
        "{again}"
    );
    let cases = sqlx::PgPool::connect(&s.cfg.service_database_url("cases"))
        .await
        .unwrap();
    let tickets: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tickets WHERE source = 'leader_mailbox'")
            .fetch_one(&cases)
            .await
            .unwrap();
    assert_eq!(tickets, 1);
    cases.close().await;
    // The contact data went to the ticket and is gone from here.
    let content = sqlx::PgPool::connect(&s.cfg.service_database_url("content"))
        .await
        .unwrap();
    let left: (Option<Vec<u8>>, Option<Vec<u8>>, String) =
        sqlx::query_as("SELECT contact_name_sealed, contact_phone_sealed, m::text FROM messages m")
            .fetch_one(&content)
            .await
            .unwrap();
    assert!(
        left.0.is_none() && left.1.is_none() && !left.2.contains("13912345678"),
        "{left:?}"
    );
    content.close().await;
    // Bad input is named; strangers see nothing.
    let (st, v) = send(
        &s,
        "POST",
        "/v1/sites/hanshan-portal/messages",
        Some(&citizen),
        Some(
            json!({"source": "hotline", "subject": "s", "body": "b", "contact_name": "王五",
            "contact_phone": "123"}),
        ),
    )
    .await;
    assert_eq!(st, 400, "{v}");
    let fields: Vec<&str> = v["error"]["details"][1]["field_violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["source", "contact_phone"], "{v}");
    let mid = m["id"].as_str().unwrap().to_string();
    let other = s.token("citizen-8", &["citizen"], None);
    let (st, _) = send(
        &s,
        "GET",
        &format!("/v1/messages/{mid}"),
        Some(&other),
        None,
    )
    .await;
    assert_eq!(st, 404);

    // Not answered yet: nothing to publish.
    let (st, v) = send(
        &s,
        "POST",
        &format!("/v1/messages/{mid}/publish-answer"),
        Some(&p.last),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (st, reason(&v).as_str()),
        (400, "MESSAGE_NOT_ANSWERED"),
        "{v}"
    );
    // The departments answer the ticket in the cases service.
    let supervisor = s.token("supervisor-1", &["supervisor"], None);
    post_ok(
        &s,
        &format!("/v1/tickets/{ticket}/dispatch"),
        &supervisor,
        json!({"department": dept, "reply_working_days": 5}),
    )
    .await;
    let officer = s.token("officer-1", &["officer"], Some(&dept));
    post_ok(
        &s,
        &format!("/v1/tickets/{ticket}/reply"),
        &officer,
        json!({"text": "可以，个体户营业执照可在“皖事通办”全程网办。"}),
    )
    .await;
    let (_, mine) = send(
        &s,
        "GET",
        &format!("/v1/messages/{mid}"),
        Some(&citizen),
        None,
    )
    .await;
    assert_eq!(mine["ticket_state"], "replied", "{mine}");
    let published = post_ok(
        &s,
        &format!("/v1/messages/{mid}/publish-answer"),
        &p.last,
        json!({}),
    )
    .await;
    assert!(
        published["answer"].as_str().unwrap().contains("全程网办"),
        "{published}"
    );
    let (_, public) = send(&s, "GET", "/v1/sites/hanshan-portal/messages", None, None).await;
    let shown = &public["messages"][0];
    assert_eq!(shown["subject"], "营业执照办理咨询", "{public}");
    assert_eq!(
        (shown["ticket_id"].as_str(), shown["reply"].as_str()),
        (Some(""), Some(""))
    );
    assert!(!public.to_string().contains("王五") && !public.to_string().contains("13912345678"));
    // The callback (回访) is made and counted with the message's source: 交办率, 回复率,
    // 办结率, 回访 from the ticket, beside the website's own figures.
    post_ok(
        &s,
        &format!("/v1/tickets/{ticket}/callback"),
        &supervisor,
        json!({"text": "已回访，群众满意", "satisfied": true}),
    )
    .await;
    let (st, stats) = send(&s, "GET", "/v1/content/stats", Some(&p.admin), None).await;
    assert_eq!(st, 200, "{stats}");
    assert_eq!(stats["ticket_rates_available"], true, "{stats}");
    let mailbox = stats["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["source"] == "leader_mailbox")
        .cloned()
        .unwrap_or_else(|| panic!("{stats}"));
    assert_eq!(
        (
            mailbox["received"].as_i64(),
            mailbox["answered"].as_i64(),
            mailbox["dispatch_rate"].as_f64(),
            mailbox["reply_rate"].as_f64(),
            mailbox["callback_rate"].as_f64(),
            mailbox["satisfaction_rate"].as_f64(),
            mailbox["closure_rate"].as_f64(),
        ),
        (
            Some(1),
            Some(1),
            Some(100.0),
            Some(100.0),
            Some(100.0),
            Some(100.0),
            Some(0.0)
        ),
        "{mailbox}"
    );
    s.stop().await;
}

#[tokio::test]
async fn the_demo_website_has_the_report_s_posts_accounts_and_messages_which_become_tickets() {
    let mut cfg = test_config(10_000).await;
    cfg.overdue_sweep_secs = 1;
    let s = Stack::start_with(cfg).await;
    let content = sqlx::PgPool::connect(&s.cfg.service_database_url("content"))
        .await
        .unwrap();
    let key = yiwang_kit::crypto::DataKey::from_config(&s.cfg).unwrap();
    let departments = vec!["340522-SCJGJ".to_string(), "340522-XXZX".to_string()];
    let now = chrono::Utc::now();
    let half = now - chrono::Duration::days(182)..now;
    let messages = yiwang_content::demo::messages(&half);
    let loaded =
        yiwang_content::demo::load_demo(&content, &key, &departments, half.clone(), now, &messages)
            .await
            .unwrap()
            .expect("loaded into an empty service");
    assert_eq!(
        (
            loaded.posts,
            loaded.special_topic_posts,
            loaded.accounts,
            loaded.messages
        ),
        (2_351, 712, 14, 276)
    );
    assert!(
        yiwang_content::demo::load_demo(&content, &key, &departments, half, now, &messages)
            .await
            .unwrap()
            .is_none()
    );
    // What the portal serves: every column's published posts add up to the report's 2,351.
    let (_, cols) = send(&s, "GET", "/v1/sites/hanshan-portal/columns", None, None).await;
    let topics = cols["columns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "special_topic")
        .count();
    assert_eq!(topics, 6, "{cols}");
    let mut total = 0;
    for site in ["hanshan-portal", "hanshan-disclosure"] {
        let (_, cols) = send(&s, "GET", &format!("/v1/sites/{site}/columns"), None, None).await;
        for c in cols["columns"].as_array().unwrap() {
            let mut token = String::new();
            loop {
                let (st, page) = send(
                    &s,
                    "GET",
                    &format!(
                        "/v1/sites/{site}/columns/{}/posts?page_size=1000&page_token={token}",
                        c["id"].as_str().unwrap()
                    ),
                    None,
                    None,
                )
                .await;
                assert_eq!(st, 200, "{page}");
                total += page["posts"].as_array().unwrap().len();
                token = page["next_page_token"].as_str().unwrap().to_string();
                if token.is_empty() {
                    break;
                }
            }
        }
    }
    assert_eq!(total, 2_351);
    // The silent account is flagged; every message becomes exactly one ticket.
    let admin = s.token("web-admin", &["content_admin"], None);
    let cases = sqlx::PgPool::connect(&s.cfg.service_database_url("cases"))
        .await
        .unwrap();
    let mut forwarded = 0;
    for _ in 0..300 {
        forwarded = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM tickets WHERE source IN ('leader_mailbox', 'citizen_forum')",
        )
        .fetch_one(&cases)
        .await
        .unwrap();
        if forwarded >= 276 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(forwarded, 276);
    let waiting: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE ticket_id IS NULL")
        .fetch_one(&content)
        .await
        .unwrap();
    assert_eq!(waiting, 0);
    let (_, lapsed) = send(
        &s,
        "GET",
        "/v1/media-accounts?lapsed_only=true",
        Some(&admin),
        None,
    )
    .await;
    let ids: Vec<&str> = lapsed["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["channels-hanshan-fabu"], "{lapsed}");
    // The figures the bureau's report takes from here.
    let period = format!(
        "/v1/content/stats?from={}&to={}",
        (now - chrono::Duration::days(183)).format("%Y-%m-%dT%H:%M:%SZ"),
        (now + chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ")
    );
    let (st, stats) = send(&s, "GET", &period, Some(&admin), None).await;
    assert_eq!(st, 200, "{stats}");
    assert_eq!(
        (
            stats["posts"].as_i64(),
            stats["special_topic_posts"].as_i64(),
            stats["findings"].as_i64(),
            stats["media_accounts"].as_i64(),
            stats["lapsed_accounts"].as_i64()
        ),
        (Some(2_351), Some(712), Some(47), Some(14), Some(1)),
        "{stats}"
    );
    let months: i64 = stats["posts_by_month"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["count"].as_i64().unwrap())
        .sum();
    assert_eq!(months, 2_351);
    let platforms: Vec<(String, i64)> = stats["media_accounts_by_platform"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["key"].as_str().unwrap().to_string(),
                k["count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        platforms,
        [
            ("douyin".into(), 2),
            ("wechat".into(), 6),
            ("wechat_channels".into(), 1),
            ("weibo".into(), 5)
        ]
    );
    let received: i64 = stats["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["received"].as_i64().unwrap())
        .sum();
    assert_eq!(received, 276);
    assert!(
        stats["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["forward_rate"] == 100.0),
        "{stats}"
    );
    let (st, _) = send(
        &s,
        "GET",
        &period,
        Some(&s.token("c", &["citizen"], None)),
        None,
    )
    .await;
    assert_eq!(st, 403);
    let (st, v) = send(
        &s,
        "GET",
        "/v1/content/stats?from=2026-06-01T00:00:00Z&to=2026-01-01T00:00:00Z",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!((st, violation_field(&v).as_str()), (400, "to"), "{v}");
    assert_eq!(stats["ticket_rates_available"], true, "{stats}");
    // The demo's first 错敏词 round stands; a word added today starts another round over
    // everything published, which lists what it found new per site and column.
    let (st, scans) = send(&s, "GET", "/v1/content/scans", Some(&admin), None).await;
    assert_eq!(st, 200, "{scans}");
    let first = scans["scans"][0].clone();
    assert!(
        first["finished_at"].is_string() && first["new_findings"] == 47,
        "{scans}"
    );
    let (st, _) = send(
        &s,
        "POST",
        "/v1/content/words",
        Some(&admin),
        Some(
            json!({"word": "以人民为中心", "kind": "sensitive", "note": "演示：新增词后全站复查"}),
        ),
    )
    .await;
    assert_eq!(st, 201);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let round = loop {
        let (_, scans) = send(&s, "GET", "/v1/content/scans", Some(&admin), None).await;
        let newest = scans["scans"][0].clone();
        if newest["id"] != first["id"] && newest["finished_at"].is_string() {
            break newest;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no new round: {scans}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    assert_eq!(
        round["words"],
        first["words"].as_i64().unwrap() + 1,
        "{round}"
    );
    assert_eq!(round["posts_scanned"], 2_351, "{round}");
    let news_new = round["new_by_column"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["site_id"] == "hanshan-portal" && c["column_id"] == "news")
        .map(|c| c["count"].as_i64().unwrap())
        .unwrap_or(0);
    assert!(news_new > 0, "{round}");
    let (st, found) = send(
        &s,
        "GET",
        &format!(
            "/v1/content/findings?site_id=hanshan-portal&column_id=news&scan_id={}",
            round["id"]
        ),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(st, 200, "{found}");
    assert_eq!(found["pending"], false, "{found}");
    assert_eq!(found["last_scan"]["id"], round["id"]);
    let posts = found["posts"].as_array().unwrap();
    assert!(
        posts.iter().all(|p| p["column_id"] == "news"
            && p["findings"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["word"] == "以人民为中心")),
        "only what the round found new"
    );
    if posts.len() < 500 {
        let n: usize = posts
            .iter()
            .map(|p| p["findings"].as_array().unwrap().len())
            .sum();
        assert_eq!(n as i64, news_new);
    }
    // Every news post says it: all of them are listed (up to the page's 500).
    assert_eq!(
        posts.len() as i64,
        found["scanned"].as_i64().unwrap().min(500),
        "{}",
        found["scanned"]
    );
    let (st, v) = send(
        &s,
        "GET",
        "/v1/content/findings?site_id=hanshan-portal&scan_id=999999",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!((st, reason(&v).as_str()), (404, "SCAN_NOT_FOUND"), "{v}");
    let (st, v) = send(
        &s,
        "GET",
        "/v1/content/findings?column_id=news",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!((st, violation_field(&v).as_str()), (400, "site_id"), "{v}");
    cases.close().await;
    content.close().await;
    s.stop().await;
}
