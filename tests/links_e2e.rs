//! 错链/死链 (issue 16): the links of a published post are followed in the background — politely,
//! one request at a time per host and spaced, with timeouts and retries — and the dead ones are
//! listed per post and column with why. Only local HTTP servers started here are visited.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const DEPT: &str = "340522-XXZX";

/// What a test server saw: each request's path and when it came, and the most requests it
/// was serving at once.
#[derive(Default)]
struct Seen {
    requests: Vec<(String, Instant)>,
    in_flight: usize,
    most_in_flight: usize,
    hits: HashMap<String, usize>,
}

/// A government website as link checkers meet them: pages, moved pages, gone pages, a page that
/// fails once, one that always fails, one that never answers in time, an error page served with
/// 200, a redirect loop, and every unknown address sent to the home page.
async fn site_server() -> (String, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut n = 0;
                while !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf[n..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => n += k,
                    }
                }
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let hit = {
                    let mut s = log.lock().unwrap();
                    s.requests.push((path.clone(), Instant::now()));
                    s.in_flight += 1;
                    s.most_in_flight = s.most_in_flight.max(s.in_flight);
                    let h = s.hits.entry(path.clone()).or_default();
                    *h += 1;
                    *h
                };
                let page = |title: &str| {
                    format!(
                        "<html><head><title>{title}</title></head><body><p>{title}</p></body></html>"
                    )
                };
                let (status, location, body) = match path.as_str() {
                    "/" => (200, "", page("含山县人民政府")),
                    "/ok.html" | "/b/1.html" | "/b/2.html" | "/b/3.html" => {
                        (200, "", page("关于做好冬季供暖工作的通知"))
                    }
                    "/files/a.pdf" => (200, "", "%PDF-1.4".to_string()),
                    "/gone.html" => (404, "", page("404 Not Found")),
                    "/error.html" => (500, "", page("Internal Server Error")),
                    "/flaky.html" if hit == 1 => (503, "", page("Service Unavailable")),
                    "/flaky.html" => (200, "", page("县政府常务会议")),
                    "/slow.html" => {
                        // Answers late, unless the client hangs up first.
                        let mut one = [0u8; 1];
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(3)) => {}
                            _ = sock.read(&mut one) => {
                                log.lock().unwrap().in_flight -= 1;
                                return;
                            }
                        }
                        (200, "", page("slow"))
                    }
                    "/moved.html" => (301, "/ok.html", String::new()),
                    "/soft.html" => (200, "", page("页面不存在 - 含山县人民政府")),
                    "/loop.html" => (302, "/loop.html", String::new()),
                    _ => (302, "/", String::new()),
                };
                let ctype = if path.ends_with(".pdf") {
                    "application/pdf"
                } else {
                    "text/html; charset=utf-8"
                };
                let mut resp = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                if !location.is_empty() {
                    resp.push_str(&format!("Location: {location}\r\n"));
                }
                resp.push_str("\r\n");
                resp.push_str(&body);
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
                log.lock().unwrap().in_flight -= 1;
            });
        }
    });
    (base, seen)
}

async fn publish(s: &Stack, site: &str, body: &str, attachments: Value) -> String {
    let author = s.token("author-1", &["content_author"], Some(DEPT));
    let (st, v) = send(
        s,
        "POST",
        "/v1/posts",
        Some(&author),
        Some(
            json!({"site_id": site, "column_id": "notices", "title": "关于调整办事指南的公告",
                    "body": body, "attachments": attachments}),
        ),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let (st, v) = send(
        s,
        "POST",
        &format!("/v1/posts/{id}/submit"),
        Some(&author),
        Some(json!({})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    for (sub, role) in [
        ("r1", "content_first_reviewer"),
        ("r2", "content_second_reviewer"),
        ("r3", "content_final_reviewer"),
    ] {
        let t = s.token(sub, &[role], None);
        let (st, v) = send(
            s,
            "POST",
            &format!("/v1/posts/{id}/review"),
            Some(&t),
            Some(json!({"decision": "approve"})),
        )
        .await;
        assert_eq!(st, 200, "{v}");
    }
    id
}

#[tokio::test]
async fn dead_links_are_found_politely_and_listed_with_why() {
    let (site, seen) = site_server().await;
    let (other, other_seen) = site_server().await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut cfg = test_config(10_000).await;
    cfg.overdue_sweep_secs = 1;
    cfg.links.allow_private = true;
    cfg.links.host_interval_ms = 150;
    cfg.links.timeout_secs = 1;
    cfg.links.retries = 2;
    let s = Stack::start_with(cfg).await;
    let admin = s.token("web-admin", &["content_admin"], None);
    let (st, v) = send(
        &s,
        "POST",
        "/v1/sites",
        Some(&admin),
        Some(json!({"id": "portal", "name": "含山县人民政府", "kind": "portal", "domain": site})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let (st, _) = send(
        &s,
        "POST",
        "/v1/sites/portal/columns",
        Some(&admin),
        Some(json!({"id": "notices", "name": "通知公告", "kind": "column"})),
    )
    .await;
    assert_eq!(st, 201);
    let body = format!(
        r#"<p><a href="/ok.html">通知</a> <a href="/ok.html#part2">同一页</a> <a href="/gone.html">旧文</a>
        <a href="/error.html">出错</a> <a href="/flaky.html">会议</a> <a href="/slow.html">慢</a>
        <a href="/moved.html">搬家</a> <a href="/soft.html">软</a> <a href="/loop.html">环</a>
        <a href="/old/2019/notice.html">撤下的旧页</a> <img src="/files/a.pdf">
        <a href="{other}/b/1.html">外站1</a> <a href="{other}/b/2.html">外站2</a> <a href="{other}/b/3.html">外站3</a>
        <a href="http://no-such-host.invalid/x.html">不存在的域名</a>
        <a href="http://{closed}/x.html">拒绝连接</a> <a href="mailto:web@hanshan.gov.cn">信箱</a></p>"#
    );
    let id = publish(
        &s,
        "portal",
        &body,
        json!([{"name": "办事指南.pdf", "url": "/files/a.pdf"}, {"name": "旧表格.doc", "url": "/files/missing.doc"}]),
    )
    .await;
    let (_, post) = send(&s, "GET", &format!("/v1/posts/{id}"), None, None).await;
    assert_eq!(post["attachments"][1]["name"], "旧表格.doc", "{post}");

    // The checker works through the links in the background.
    let deadline = Instant::now() + Duration::from_secs(90);
    let report = loop {
        let (st, v) = send(
            &s,
            "GET",
            "/v1/content/broken-links?site_id=portal",
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(st, 200, "{v}");
        if v["links"].as_i64() > Some(0) && v["unchecked"] == 0 {
            break v;
        }
        assert!(Instant::now() < deadline, "links still unchecked: {v}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    // 16 distinct links: the fragment and the repeated PDF count once, mailto is not followed.
    assert_eq!(report["links"], 16, "{report}");
    let links = report["posts"][0]["links"].as_array().unwrap();
    let refused = format!("http://{closed}/");
    let got: HashMap<String, (String, String, i64, i64)> = links
        .iter()
        .map(|l| {
            let url = l["url"].as_str().unwrap();
            let key = if url.contains("no-such-host.invalid") {
                "dns".to_string()
            } else if url.starts_with(&refused) {
                "refused".to_string()
            } else {
                url.replacen(&site, "", 1).replacen(&other, "", 1)
            };
            (
                key,
                (
                    l["state"].as_str().unwrap_or_default().to_string(),
                    l["failure"].as_str().unwrap_or_default().to_string(),
                    l["http_status"].as_i64().unwrap_or(0),
                    l["attempts"].as_i64().unwrap_or(0),
                ),
            )
        })
        .collect();
    let want = |k: &str| {
        got.get(k)
            .cloned()
            .unwrap_or_else(|| panic!("{k} not listed: {report}"))
    };
    assert_eq!(want("/gone.html").1, "http_4xx");
    assert_eq!(want("/gone.html").2, 404);
    assert_eq!(want("/error.html").1, "http_5xx");
    assert_eq!(want("/error.html").3, 3, "tried, then retried twice");
    assert_eq!(want("/slow.html").1, "timeout");
    assert_eq!(
        want("/soft.html").1,
        "soft_404",
        "an error page served with 200"
    );
    assert_eq!(want("/loop.html").1, "redirects");
    assert_eq!(
        want("/old/2019/notice.html").1,
        "soft_404",
        "lands on the home page like any unknown address"
    );
    assert_eq!(
        want("/files/missing.doc").1,
        "soft_404",
        "attachments are checked too"
    );
    assert_eq!(want("dns").1, "dns");
    assert_eq!(want("refused").1, "connect");
    // Alive: the page, the moved page, the page that failed once, the PDF, the other site.
    for alive in [
        "/ok.html",
        "/moved.html",
        "/flaky.html",
        "/files/a.pdf",
        "/b/1.html",
    ] {
        assert!(!got.contains_key(alive), "{alive} is alive: {report}");
    }
    assert_eq!(got.len(), 9, "{report}");
    assert_eq!(report["dead"], 9);
    let by_column = &report["by_column"][0];
    assert_eq!(
        (by_column["column_id"].as_str(), by_column["count"].as_i64()),
        (Some("notices"), Some(9))
    );
    assert!(
        links
            .iter()
            .all(|l| l["internal"] == l["url"].as_str().unwrap().starts_with(&site))
    );

    // Politeness: one request at a time per host, spaced by the interval.
    for (name, log) in [("site", &seen), ("other", &other_seen)] {
        let s = log.lock().unwrap();
        assert_eq!(s.most_in_flight, 1, "{name}: one request at a time");
        let mut times: Vec<Instant> = s.requests.iter().map(|r| r.1).collect();
        times.sort();
        for w in times.windows(2) {
            assert!(
                w[1] - w[0] >= Duration::from_millis(140),
                "{name}: requests {:?} apart",
                w[1] - w[0]
            );
        }
    }
    assert_eq!(
        seen.lock().unwrap().hits.get("/ok.html"),
        Some(&2),
        "once itself, once via /moved.html"
    );

    // The figures count them; a recheck brings the links forward.
    let (st, stats) = send(&s, "GET", "/v1/content/stats", Some(&admin), None).await;
    assert_eq!(st, 200, "{stats}");
    assert_eq!(stats["broken_links"], 9, "{stats}");
    let author = s.token("author-9", &["content_author"], Some(DEPT));
    let (st, _) = send(
        &s,
        "POST",
        "/v1/content/links/recheck",
        Some(&author),
        Some(json!({})),
    )
    .await;
    assert_eq!(st, 403, "only the administrators schedule checks");
    let (st, v) = send(
        &s,
        "POST",
        "/v1/content/links/recheck",
        Some(&admin),
        Some(json!({"post_id": id})),
    )
    .await;
    assert_eq!((st, v["scheduled"].as_i64()), (200, Some(16)), "{v}");
    let (st, _) = send(
        &s,
        "GET",
        "/v1/content/broken-links?site_id=portal",
        None,
        None,
    )
    .await;
    assert_eq!(st, 401, "never public");
    let (st, v) = send(
        &s,
        "GET",
        "/v1/content/broken-links?column_id=notices",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!((st, violation_field(&v).as_str()), (400, "site_id"), "{v}");
    s.stop().await;
}

#[tokio::test]
async fn the_checker_does_not_visit_the_internal_network() {
    let (site, seen) = site_server().await;
    let mut cfg = test_config(10_000).await.links;
    cfg.allow_private = false;
    cfg.timeout_secs = 2;
    cfg.retries = 0;
    let checker = yiwang_content::links::Checker::new(cfg).unwrap();
    for url in [
        format!("{site}/ok.html"),
        site.replace("127.0.0.1", "localhost") + "/ok.html",
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://[::1]/".to_string(),
    ] {
        let o = checker.check_url(&url).await;
        assert_eq!((o.state, o.failure), ("blocked", "blocked"), "{url}: {o:?}");
    }
    assert!(
        seen.lock().unwrap().requests.is_empty(),
        "nothing reached the server"
    );
}

#[tokio::test]
async fn the_rounds_links_and_reports_answer_strangers_and_bad_input_with_a_named_4xx() {
    let s = Stack::start().await;
    let admin = s.token("web-admin", &["content_admin"], None);
    let citizen = s.token("c", &["citizen"], None);
    let director = s.token("director", &["supervisor"], None);
    let huge = "x".repeat(100_000);
    // A query as long as proxies pass (a 100,000-byte URI is refused by the HTTP client itself).
    let long = "x".repeat(8_000);
    for path in [
        "/v1/content/scans",
        "/v1/content/broken-links",
        "/v1/reports/work",
        "/v1/insight/scorecard",
    ] {
        let (st, _) = send(&s, "GET", path, None, None).await;
        assert_eq!(st, 401, "{path} anonymous");
        let (st, _) = send(&s, "GET", path, Some(&citizen), None).await;
        assert_eq!(st, 403, "{path} as a citizen");
    }
    let (st, _) = send(
        &s,
        "POST",
        "/v1/content/links/recheck",
        None,
        Some(json!({})),
    )
    .await;
    assert_eq!(st, 401);
    // NUL bytes and 100,000-character values: a 4xx, never a 500.
    for (method, path, token, body) in [
        (
            "GET",
            format!("/v1/content/broken-links?site_id=a%00b"),
            &admin,
            None,
        ),
        (
            "GET",
            format!("/v1/content/broken-links?site_id={long}"),
            &admin,
            None,
        ),
        (
            "GET",
            format!("/v1/content/findings?site_id=x&scan_id=abc"),
            &admin,
            None,
        ),
        (
            "GET",
            "/v1/content/scans?page_size=1000".to_string(),
            &admin,
            None,
        ),
        (
            "POST",
            "/v1/content/links/recheck".to_string(),
            &admin,
            Some(json!({"post_id": "p\u{0}"})),
        ),
        (
            "POST",
            "/v1/content/links/recheck".to_string(),
            &admin,
            Some(json!({"post_id": huge})),
        ),
        (
            "GET",
            "/v1/reports/work?year=2026&half=%00".to_string(),
            &director,
            None,
        ),
        (
            "GET",
            format!("/v1/reports/work?year={long}&half=1"),
            &director,
            None,
        ),
        (
            "GET",
            "/v1/reports/work/document?year=2026&half=1&format=docx".to_string(),
            &director,
            None,
        ),
        (
            "GET",
            "/v1/insight/scorecard?from=2026-07-01T00:00:00Z&to=2026-01-01T00:00:00Z".to_string(),
            &director,
            None,
        ),
    ] {
        let (st, v) = send(&s, method, &path, Some(token), body).await;
        assert!(
            (400..500).contains(&st),
            "{method} {}: {st} {}",
            &path[..path.len().min(80)],
            v.to_string().chars().take(200).collect::<String>()
        );
    }
    s.stop().await;
}
