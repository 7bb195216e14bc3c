//! The bureau's view (issue 15): on the demo county, the half-year work report states the
//! county's figures, each equal to what its own service says, consistent with itself, as JSON
//! and as an HTML document with its charts; the scorecard puts the departments side by side
//! with a county row that adds up; only the bureau reads them.

mod common;

use chrono::Datelike;
use common::*;
use serde_json::Value;

/// The reference half-year (the most recent completed January–June).
fn reference_year() -> i32 {
    yiwang_cases::seed::reference_year(
        chrono::Utc::now()
            .with_timezone(&yiwang_cases::calendar::SHANGHAI)
            .date_naive(),
    )
}

fn authed<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

/// The text of a PDF, as pypdf reads it (tests/requirements.txt).
fn pdf_text(pdf: &[u8]) -> String {
    let path = std::env::temp_dir().join(format!("yw-report-{}.pdf", uuid::Uuid::new_v4()));
    std::fs::write(&path, pdf).unwrap();
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, pypdf; print('\\n'.join(p.extract_text() for p in pypdf.PdfReader(sys.argv[1]).pages))",
        ])
        .arg(&path)
        .output()
        .expect("python3 runs (pip install -r tests/requirements.txt)");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "pypdf could not read the PDF: {} (needs: pip install -r tests/requirements.txt)",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The HTML report as headless Chromium renders it (Debian's `chromium`, installed by .ci/run):
/// it parses into a document with the figures and one drawn chart per chart, every bar a
/// rectangle of real size, and it paints.
fn rendered_by_a_browser(html: &str, charts: usize) {
    let dir = std::env::temp_dir().join(format!("yw-report-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("report.html");
    std::fs::write(&page, html).unwrap();
    let url = format!("file://{}", page.display());
    let chromium = |args: &[&str]| {
        std::process::Command::new("chromium")
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
            ])
            .arg(format!("--user-data-dir={}", dir.join("profile").display()))
            .args(args)
            .arg(&url)
            .output()
            .expect("chromium runs (apt-get install chromium; .ci/run installs it)")
    };
    let dom = chromium(&["--dump-dom"]);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();
    assert!(
        dom.contains("8,120") && dom.contains("7,107"),
        "the figures are in the page"
    );
    assert_eq!(dom.matches("<svg").count(), charts, "every chart is drawn");
    let heights: Vec<f64> = dom
        .split("<rect ")
        .skip(1)
        .filter_map(|r| r.split("height=\"").nth(1)?.split('"').next()?.parse().ok())
        .collect();
    assert!(
        heights.iter().filter(|h| **h > 1.0).count() > 20,
        "{heights:?}"
    );
    let shot = dir.join("shot.png");
    let painted = chromium(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=900,3000",
    ]);
    assert!(painted.status.success());
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn figure(report: &Value, key: &str) -> f64 {
    report["figures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == key)
        .and_then(|f| f["value"].as_f64())
        .unwrap_or_else(|| panic!("no figure {key}: {report}"))
}

#[tokio::test]
async fn the_work_report_and_scorecard_of_the_demo_county() {
    let s = Stack::start().await;
    yiwang::demo::load(&s.cfg, 2_000).await.unwrap();
    // A second `up --demo` loads nothing twice.
    let cases_db = sqlx::PgPool::connect(&s.cfg.service_database_url("cases"))
        .await
        .unwrap();
    let content_db = sqlx::PgPool::connect(&s.cfg.service_database_url("content"))
        .await
        .unwrap();
    let counts = || async {
        let c: (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM cases), (SELECT count(*) FROM tickets),
                    (SELECT count(*) FROM appointments)",
        )
        .fetch_one(&cases_db)
        .await
        .unwrap();
        let m: i64 = sqlx::query_scalar("SELECT count(*) FROM messages")
            .fetch_one(&content_db)
            .await
            .unwrap();
        (c, m)
    };
    let first = counts().await;
    yiwang::demo::load(&s.cfg, 2_000).await.unwrap();
    assert_eq!(counts().await, first);
    let orphans: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE ticket_id IS NULL")
        .fetch_one(&content_db)
        .await
        .unwrap();
    assert_eq!(orphans, 0, "every demo message is a ticket");
    let year = reference_year();
    let director = s.token("director", &["supervisor"], None);

    let path = format!("/v1/reports/work?year={year}&half=1");
    let (st, report) = send(&s, "GET", &path, Some(&director), None).await;
    assert_eq!(st, 200, "{report}");
    let notes = report["notes"].to_string();
    assert!(!notes.contains("did not answer"), "{notes}");
    // The catalogue as the county's report states it.
    assert_eq!(figure(&report, "catalog.items"), 8_120.0);
    assert_eq!(figure(&report, "catalog.departments"), 34.0);
    assert_eq!(figure(&report, "catalog.towns"), 8.0);
    assert_eq!(figure(&report, "catalog.villages"), 119.0);
    // January–May: exactly the cases the demo filed then, 62.97 % of them online (to the case).
    assert_eq!(figure(&report, "cases.filed_five_months"), 2_000.0);
    let online = figure(&report, "cases.online_share_five_months");
    assert!((online - 62.97).abs() <= 0.05, "{online}");
    // Every figure is what its service says for the same period.
    let mut cases = yiwang_proto::cases::v1::cases_service_client::CasesServiceClient::connect(
        s.cfg.cases_url.clone(),
    )
    .await
    .unwrap();
    let h1 = |m: u32| {
        chrono::TimeZone::with_ymd_and_hms(&yiwang_cases::calendar::SHANGHAI, year, m, 1, 0, 0, 0)
            .unwrap()
            .to_utc()
    };
    let own = cases
        .get_case_stats(authed(
            &s.token("sup", &["supervisor"], None),
            yiwang_proto::cases::v1::GetCaseStatsRequest {
                from: Some(yiwang_kit::to_timestamp(h1(1))),
                to: Some(yiwang_kit::to_timestamp(h1(7))),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(figure(&report, "cases.filed"), own.filed as f64);
    assert_eq!(figure(&report, "cases.on_time_rate"), own.on_time_rate);
    let channels: f64 = [
        "online",
        "mobile",
        "window",
        "self_service",
        "cross_province",
    ]
    .iter()
    .map(|c| figure(&report, &format!("cases.channel.{c}")))
    .sum();
    assert_eq!(
        channels, own.filed as f64,
        "the channels add up to the cases"
    );
    // Supervision, projects and security in the reference half-year.
    assert_eq!(figure(&report, "supervision.records"), 2_767.0);
    assert_eq!(figure(&report, "supervision.inspectors"), 1_459.0);
    assert_eq!(figure(&report, "alerts.events"), 7_107.0);
    assert_eq!(figure(&report, "alerts.notices"), 65.0);
    let by_severity: f64 = ["high", "medium", "low"]
        .iter()
        .map(|k| figure(&report, &format!("alerts.events.{k}")))
        .sum();
    assert_eq!(by_severity, 7_107.0, "high + medium + low = all events");
    // 周末不打烊, and the website's messages: every one a ticket, dispatched, replied, closed
    // and called back satisfied, its answer published.
    assert_eq!(figure(&report, "cases.weekend_appointments"), 26.0);
    assert_eq!(figure(&report, "content.messages"), 276.0);
    let doors = ["leader_mailbox", "citizen_forum"];
    let submitted: f64 = doors
        .iter()
        .map(|d| figure(&report, &format!("tickets.{d}.submitted")))
        .sum();
    assert_eq!(submitted, 276.0);
    for d in doors {
        for rate in [
            "dispatch_rate",
            "reply_rate",
            "closure_rate",
            "satisfaction_rate",
        ] {
            assert_eq!(
                figure(&report, &format!("tickets.{d}.{rate}")),
                100.0,
                "{d} {rate}"
            );
        }
    }
    assert_eq!(figure(&report, "content.posts"), 2_351.0);
    // Charts: cases by month and channel, on time by department, security with the year before,
    // projects requested against approved.
    let charts: Vec<&str> = report["charts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    for key in [
        "cases.by_month_channel",
        "cases.on_time_by_department",
        "alerts.by_severity",
        "alerts.by_category",
        "projects.requested_vs_approved",
    ] {
        assert!(charts.contains(&key), "{key} in {charts:?}");
    }
    let months = report["charts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "cases.by_month_channel")
        .unwrap();
    let jan_may: f64 = months["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s["values"].as_array().unwrap()[..5]
                .iter()
                .map(|v| v.as_f64().unwrap())
                .sum::<f64>()
        })
        .sum();
    assert_eq!(jan_may, 2_000.0, "the monthly chart adds up to January–May");
    // The paragraphs state the figures.
    let text = report["sections"].to_string();
    assert!(
        text.contains("8,120") && text.contains("2,000") && text.contains("7,107"),
        "{text}"
    );

    // Kept for ten minutes: asked again, the same report.
    let (_, again) = send(&s, "GET", &path, Some(&director), None).await;
    assert_eq!(again["generated_at"], report["generated_at"]);

    // The document: HTML with the figures and the charts drawn.
    let r = s
        .http
        .get(s.url(&format!("/v1/reports/work/document?year={year}&half=1")))
        .bearer_auth(&director)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = r.text().await.unwrap();
    assert!(html.contains("8,120") && html.contains("7,107"));
    assert_eq!(html.matches("<svg").count(), charts.len());
    assert!(html.contains("data-chart=\"alerts.by_severity\""));
    rendered_by_a_browser(&html, charts.len());

    // The PDF, rendered in-process with its own CJK font: the headline figures are text in it.
    let r = s
        .http
        .get(s.url(&format!(
            "/v1/reports/work/document?year={year}&half=1&format=pdf"
        )))
        .bearer_auth(&director)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let pdf = r.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let text = pdf_text(&pdf);
    let share = format!("{online:.2}%");
    for figure in [
        "8,120",
        "2,000",
        &share,
        "2,767",
        "1,459",
        "7,107",
        "10.43%",
        "工作总结",
    ] {
        assert!(
            text.contains(figure),
            "{figure} not in the PDF's text: {text}"
        );
    }

    // Only the bureau; bad periods are named.
    let clerk = s.token("clerk", &["clerk"], Some("340522-SCJGJ"));
    let (st, _) = send(&s, "GET", &path, Some(&clerk), None).await;
    assert_eq!(st, 403);
    let (st, _) = send(&s, "GET", &path, None, None).await;
    assert_eq!(st, 401);
    let r = s
        .http
        .get(s.url("/v1/reports/work/document?year=2026&half=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (st, v) = send(
        &s,
        "GET",
        &format!("/v1/reports/work?year={year}&half=3"),
        Some(&director),
        None,
    )
    .await;
    assert_eq!((st, violation_field(&v).as_str()), (400, "half"), "{v}");
    let (st, v) = send(
        &s,
        "GET",
        "/v1/reports/work?year=2999&half=1",
        Some(&director),
        None,
    )
    .await;
    assert_eq!((st, violation_field(&v).as_str()), (400, "year"), "{v}");
    let r = s
        .http
        .get(s.url(&format!("/v1/reports/work/document?year={year}&half=x")))
        .bearer_auth(&director)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // The monthly assessment of the demo hall's window clerks, from their own recent cases.
    let last_month = (chrono::Utc::now()
        .with_timezone(&yiwang_cases::calendar::SHANGHAI)
        .date_naive()
        .with_day(1)
        .unwrap()
        - chrono::Duration::days(1))
    .format("%Y-%m")
    .to_string();
    let (st, m) = send(
        &s,
        "GET",
        &format!("/v1/assessments/{last_month}"),
        Some(&director),
        None,
    )
    .await;
    assert_eq!(st, 200, "{m}");
    let staff = m["staff"].as_array().unwrap();
    assert_eq!(staff.len(), 6, "{m}");
    let decided: u64 = staff
        .iter()
        .map(|r| r["decided"].as_u64().unwrap_or(0))
        .sum();
    assert!(decided > 0, "the clerks decided cases last month: {m}");
    assert!(staff.iter().all(|r| r["rank"].as_u64() >= Some(1)));
    let a01 = m["windows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["window"] == "A01")
        .expect("window A01");
    assert_eq!(
        a01["members"],
        serde_json::json!(["hs-window-a01"]),
        "{a01}"
    );

    // The scorecard: every department, and a county row that adds up.
    let (st, card) = send(
        &s,
        "GET",
        &format!("/v1/insight/scorecard?from={year}-01-01T00:00:00%2B08:00&to={year}-07-01T00:00:00%2B08:00"),
        Some(&director),
        None,
    )
    .await;
    assert_eq!(st, 200, "{card}");
    let rows = card["departments"].as_array().unwrap();
    // The 34 departments, and the towns whose own items have cases.
    assert!(rows.len() >= 34, "{}", rows.len());
    assert!(rows.iter().any(|r| r["department"] == "340522-SCJGJ"));
    let sum = |field: &str| -> f64 { rows.iter().map(|r| r[field].as_f64().unwrap_or(0.0)).sum() };
    let county = &card["county"];
    assert_eq!(county["cases_filed"].as_f64(), Some(own.filed as f64));
    assert_eq!(sum("cases_filed"), own.filed as f64);
    assert_eq!(sum("items_published"), 8_120.0);
    assert_eq!(county["items_published"].as_f64(), Some(8_120.0));
    assert_eq!(
        sum("projects_requested_fen"),
        county["projects_requested_fen"].as_f64().unwrap()
    );
    assert!(
        rows.iter().any(|r| r["inspections"].as_f64() > Some(0.0)),
        "{card}"
    );
    assert!(county["incidents"].as_f64() >= Some(sum("incidents")));
    // The catalogue's standard lists and suspensions, the security incidents by severity and
    // the notices: additive, so the departments add up to the county.
    for field in [
        "items",
        "items_province_list",
        "items_city_list",
        "items_suspended",
    ] {
        assert_eq!(county[field].as_f64(), Some(sum(field)), "{field}");
    }
    assert!(sum("items_province_list") > 0.0 && sum("items_province_list") <= 8_120.0);
    assert!(sum("items_city_list") > 0.0 && sum("items_city_list") < sum("items_province_list"));
    let by_severity: f64 = ["incidents_high", "incidents_medium", "incidents_low"]
        .iter()
        .map(|f| county[*f].as_f64().unwrap_or(0.0))
        .sum();
    assert_eq!(Some(by_severity), county["incidents"].as_f64(), "{county}");
    for r in rows {
        let own: f64 = ["incidents_high", "incidents_medium", "incidents_low"]
            .iter()
            .map(|f| r[*f].as_f64().unwrap_or(0.0))
            .sum();
        assert_eq!(Some(own), r["incidents"].as_f64().or(Some(0.0)), "{r}");
    }
    assert_eq!(county["notices"].as_f64(), Some(65.0), "{county}");
    assert!(sum("notices") <= 65.0);
    let (st, _) = send(&s, "GET", "/v1/insight/scorecard", Some(&director), None).await;
    assert_eq!(st, 400, "a period is required");
    s.stop().await;
}

/// A case filed online by `citizen`, accepted and decided by `officer`; with `correction`, the
/// officer first asks for a missing material and the citizen supplies it.
async fn worked_case(
    s: &Stack,
    item: &str,
    citizen: &str,
    officer: &str,
    correction: bool,
) -> String {
    let (st, c) = send(
        s,
        "POST",
        "/v1/cases",
        Some(citizen),
        Some(serde_json::json!({"item_code": item, "channel": "online",
            "applicant": {"kind": "person", "name": "张三丰", "id_number": "11010519491231002X", "phone": "13812345678"}})),
    )
    .await;
    assert_eq!(st, 201, "{c}");
    let id = c["id"].as_str().unwrap().to_string();
    post_ok(
        s,
        &format!("/v1/cases/{id}/accept"),
        officer,
        serde_json::json!({}),
    )
    .await;
    if correction {
        post_ok(
            s,
            &format!("/v1/cases/{id}/request-correction"),
            officer,
            serde_json::json!({"reason": "缺少食品安全管理制度"}),
        )
        .await;
        post_ok(
            s,
            &format!("/v1/cases/{id}/submit-correction"),
            citizen,
            serde_json::json!({"materials": ["食品安全管理制度"]}),
        )
        .await;
    }
    post_ok(
        s,
        &format!("/v1/cases/{id}/decide"),
        officer,
        serde_json::json!({"outcome": "approved"}),
    )
    .await;
    id
}

fn row<'a>(rows: &'a Value, key: &str, value: &str) -> &'a Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r[key] == value)
        .unwrap_or_else(|| panic!("no row {key} = {value}: {rows}"))
}

#[tokio::test]
async fn the_bureau_assesses_its_window_staff_monthly_from_their_own_cases() {
    use serde_json::json;
    let s = Stack::start().await;
    let item = create_published(&s, 1, "食品经营许可证核发").await;
    let dept = "340522-SCJGJ";
    let hall = "340522-ZWFWZX";
    let cat = s.token("cat-admin", &["catalog_admin"], None);
    let (st, v) = send(
        &s,
        "POST",
        "/v1/halls",
        Some(&cat),
        Some(json!({"code": hall, "name": "含山县政务服务中心",
        "level": "county", "region_code": "340522", "address": "环峰镇褒禅山路", "windows": [
            {"number": "A01", "name": "综合受理一号窗", "kind": "comprehensive"},
            {"number": "A02", "name": "综合受理二号窗", "kind": "comprehensive"},
            {"number": "C02", "name": "办不成事反映窗口", "kind": "complaint"}]})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let director = s.token("director", &["supervisor"], None);
    let admin = s.token("bureau-admin", &["admin"], None);
    let officer1 = s.token("officer-1", &["officer"], Some(dept));
    let officer2 = s.token("officer-2", &["officer"], Some(dept));
    let citizen = s.token("citizen-a", &["citizen"], None);
    let month = chrono::Utc::now()
        .with_timezone(&yiwang_cases::calendar::SHANGHAI)
        .format("%Y-%m")
        .to_string();

    // Only the bureau: strangers 401, other roles 403, before the body is read.
    let path = format!("/v1/assessments/{month}");
    assert_eq!(send(&s, "GET", &path, None, None).await.0, 401);
    assert_eq!(send(&s, "GET", &path, Some(&officer1), None).await.0, 403);
    assert_eq!(
        send(&s, "PUT", "/v1/staff/officer-1", None, Some(json!({})))
            .await
            .0,
        401
    );

    // Careless and hostile input: NUL bytes, 100,000-character values, a month that is no
    // month — a 4xx naming the rule, never a 5xx.
    for (method, path, body) in [
        (
            "PUT",
            "/v1/staff/officer-1".to_string(),
            Some(
                json!({"name": "李\u{0}明", "employment": "department", "employer": dept, "post": "综合受理"}),
            ),
        ),
        (
            "PUT",
            "/v1/staff/officer-1".to_string(),
            Some(
                json!({"name": "李".repeat(100_000), "employment": "department", "employer": dept, "post": "综合受理"}),
            ),
        ),
        (
            "PUT",
            format!("/v1/staff/{}", "x".repeat(300)),
            Some(
                json!({"name": "李明", "employment": "department", "employer": dept, "post": "综合受理"}),
            ),
        ),
        ("GET", "/v1/assessments/2026-1%00".to_string(), None),
        (
            "GET",
            format!("/v1/assessments/{}", "9".repeat(5_000)),
            None,
        ),
        (
            "POST",
            "/v1/awards".to_string(),
            Some(
                json!({"kind": "advanced_individual", "month": month, "account": "officer-1", "reason": "\u{0}"}),
            ),
        ),
        (
            "POST",
            "/v1/quality-checks".to_string(),
            Some(json!({"month": month, "size": 100_000})),
        ),
    ] {
        let (st, v) = send(&s, method, &path, Some(&director), body).await;
        assert!(
            (400..500).contains(&st),
            "{method} {}: {st} {v}",
            &path[..path.len().min(60)]
        );
    }

    // The register: who they are, who employs them, where they serve.
    for (account, name, employment, employer, party) in [
        ("officer-1", "李明", "department", dept, true),
        (
            "officer-2",
            "王芳",
            "outsourced",
            "安徽政通人力资源有限公司",
            false,
        ),
    ] {
        let (st, v) = send(
            &s,
            "PUT",
            &format!("/v1/staff/{account}"),
            Some(&director),
            Some(
                json!({"name": name, "employment": employment, "employer": employer,
                        "post": "综合受理", "party_member": party}),
            ),
        )
        .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["active"], true, "active unless said otherwise: {v}");
    }
    let (st, v) = send(
        &s,
        "PUT",
        "/v1/staff/officer-3",
        Some(&director),
        Some(json!({"name": "赵六", "employment": "contractor", "employer": "x", "post": "y"})),
    )
    .await;
    assert_eq!(
        (st, violation_field(&v)),
        (400, "employment".to_string()),
        "{v}"
    );
    let (st, v) = send(
        &s,
        "POST",
        "/v1/staff/officer-1/postings",
        Some(&director),
        Some(json!({"hall": hall, "window": "Z99"})),
    )
    .await;
    assert_eq!(
        (st, violation_field(&v)),
        (400, "window".to_string()),
        "{v}"
    );
    let (st, v) = send(
        &s,
        "POST",
        "/v1/staff/nobody/postings",
        Some(&director),
        Some(json!({"hall": hall, "window": "A01"})),
    )
    .await;
    assert_eq!(st, 404, "{v}");
    assert_eq!(v["error"]["details"][0]["reason"], "STAFF_NOT_FOUND", "{v}");
    // Two postings of one person at once: one open posting stands, the other closed or gone.
    let post = |window: &'static str| {
        send(
            &s,
            "POST",
            "/v1/staff/officer-2/postings",
            Some(&director),
            Some(json!({"hall": hall, "window": window})),
        )
    };
    let ((s1, _), (s2, _)) = tokio::join!(post("A02"), post("A01"));
    assert_eq!((s1, s2), (200, 200));
    let (st, v) = send(
        &s,
        "POST",
        "/v1/staff/officer-2/postings",
        Some(&director),
        Some(json!({"hall": hall, "window": "A02"})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let open: Vec<&Value> = v["postings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["to"] == "")
        .collect();
    assert_eq!(open.len(), 1, "{v}");
    assert_eq!(open[0]["window"], "A02");
    let (st, v) = send(
        &s,
        "POST",
        "/v1/staff/officer-1/postings",
        Some(&director),
        Some(json!({"hall": hall, "window": "A01"})),
    )
    .await;
    assert_eq!(st, 200, "{v}");

    // The month's work: officer-1 decides two cases well; officer-2 one after a correction, a
    // 差评, and a 办不成事 complaint that names them.
    let a = worked_case(&s, &item, &citizen, &officer1, false).await;
    let b = worked_case(&s, &item, &citizen, &officer1, false).await;
    let c = worked_case(&s, &item, &citizen, &officer2, true).await;
    for (id, level) in [(&a, 5), (&b, 4), (&c, 2)] {
        let (st, v) = send(
            &s,
            "POST",
            &format!("/v1/cases/{id}/evaluation"),
            Some(&citizen),
            Some(json!({"level": level, "comment": "评价"})),
        )
        .await;
        assert_eq!(st, 201, "{v}");
    }
    let window = s.token("window-9", &["window_clerk"], Some(hall));
    let complaint = json!({"kind": "complaint", "subject": "窗口推诿", "body": "材料齐全仍被退回",
        "source": "window_complaint", "contact_name": "王女士", "contact_phone": "13912345678",
        "about_staff": "officer-2"});
    let (st, v) = send(
        &s,
        "POST",
        "/v1/tickets",
        Some(&window),
        Some(complaint.clone()),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["about_staff"], "officer-2");
    let mut bad = complaint.clone();
    bad["about_staff"] = json!("has space");
    let (st, v) = send(&s, "POST", "/v1/tickets", Some(&window), Some(bad)).await;
    assert_eq!(
        (st, violation_field(&v)),
        (400, "about_staff".to_string()),
        "{v}"
    );

    // Weights are the administrator's: they add up to 100 and name known measures.
    let weights = format!("/v1/assessments/{month}/weights");
    let (st, v) = send(&s, "GET", &weights, Some(&director), None).await;
    assert_eq!((st, v["is_default"].as_bool()), (200, Some(true)), "{v}");
    let (st, _) = send(
        &s,
        "PUT",
        &weights,
        Some(&director),
        Some(json!({"weights": {"on_time": 100}})),
    )
    .await;
    assert_eq!(
        st, 403,
        "the director reads weights; an administrator sets them"
    );
    for body in [
        json!({"weights": {"on_time": 90}}),
        json!({"weights": {"on_time": 50, "looks": 50}}),
        json!({"weights": {"on_time": 150, "volume": -50}}),
    ] {
        let (st, v) = send(&s, "PUT", &weights, Some(&admin), Some(body)).await;
        assert_eq!(
            (st, violation_field(&v)),
            (400, "weights".to_string()),
            "{v}"
        );
    }
    let (st, v) = send(
        &s,
        "PUT",
        "/v1/assessments/2026-13/weights",
        Some(&admin),
        Some(json!({"weights": {"on_time": 100}})),
    )
    .await;
    assert_eq!((st, violation_field(&v)), (400, "month".to_string()), "{v}");
    let (st, v) = send(
        &s,
        "PUT",
        &weights,
        Some(&admin),
        Some(json!({"weights": {
        "volume": 10, "on_time": 20, "satisfaction": 20, "bad_reviews": 10, "complaints": 10,
        "corrections": 10, "speed": 0, "quality": 10, "inspection": 0, "attendance": 10}})),
    )
    .await;
    assert_eq!((st, v["is_default"].as_bool()), (200, Some(false)), "{v}");
    let (st, v) = send(
        &s,
        "PUT",
        &format!("/v1/assessments/{month}/manual-scores/officer-1/attendance"),
        Some(&director),
        Some(json!({"score": 90, "note": "迟到一次"})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = send(
        &s,
        "PUT",
        &format!("/v1/assessments/{month}/manual-scores/officer-1/attendance"),
        Some(&director),
        Some(json!({"score": 101})),
    )
    .await;
    assert_eq!((st, violation_field(&v)), (400, "score".to_string()), "{v}");

    // 办件质量检查: the month's decided cases, drawn again the same from the same seed.
    let (st, q) = send(
        &s,
        "POST",
        "/v1/quality-checks",
        Some(&director),
        Some(json!({"month": month, "size": 10, "seed": 20261})),
    )
    .await;
    assert_eq!(st, 201, "{q}");
    assert_eq!(
        (q["population"].as_u64(), q["seed"].as_u64()),
        (Some(3), Some(20261)),
        "{q}"
    );
    let drawn: Vec<&str> = q["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["case_id"].as_str().unwrap())
        .collect();
    let (_, again) = send(
        &s,
        "POST",
        "/v1/quality-checks",
        Some(&director),
        Some(json!({"month": month, "size": 10, "seed": 20261})),
    )
    .await;
    let redrawn: Vec<&str> = again["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["case_id"].as_str().unwrap())
        .collect();
    assert_eq!(drawn, redrawn, "the same seed draws the same sample");
    let qid = q["id"].as_str().unwrap();
    let sampled_c = q["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["case_id"] == c.as_str())
        .unwrap();
    assert_eq!(
        (
            sampled_c["accepted_by"].as_str(),
            sampled_c["decided_by"].as_str()
        ),
        (Some("officer-2"), Some("officer-2"))
    );
    let (st, v) = send(
        &s,
        "PUT",
        &format!("/v1/quality-checks/{qid}/cases/{c}"),
        Some(&director),
        Some(json!({"finding": "major"})),
    )
    .await;
    assert_eq!(
        (st, violation_field(&v)),
        (400, "note".to_string()),
        "a finding says what: {v}"
    );
    let (st, v) = send(
        &s,
        "PUT",
        &format!("/v1/quality-checks/{qid}/cases/{c}"),
        Some(&director),
        Some(json!({"finding": "major", "note": "告知书未载明救济途径"})),
    )
    .await;
    assert_eq!((st, v["reviewed"].as_u64()), (200, Some(1)), "{v}");
    let (st, v) = send(
        &s,
        "PUT",
        &format!("/v1/quality-checks/{qid}/cases/{}", uuid::Uuid::new_v4()),
        Some(&director),
        Some(json!({"finding": "pass"})),
    )
    .await;
    assert_eq!(
        (st, v["error"]["details"][0]["reason"].as_str()),
        (404, Some("CASE_NOT_SAMPLED")),
        "{v}"
    );

    // The month: every figure from the person's own cases, scored with the month's weights.
    let (st, m) = send(&s, "GET", &path, Some(&director), None).await;
    assert_eq!(st, 200, "{m}");
    let one = row(&m["staff"], "account", "officer-1");
    let two = row(&m["staff"], "account", "officer-2");
    assert_eq!(
        (
            one["accepted"].as_u64(),
            one["decided"].as_u64(),
            one["on_time_rate"].as_f64()
        ),
        (Some(2), Some(2), Some(100.0)),
        "{one}"
    );
    assert_eq!(
        (
            one["mean_level"].as_f64(),
            one["bad_reviews"].as_u64(),
            one["complaints"].as_u64()
        ),
        (Some(4.5), Some(0), Some(0)),
        "{one}"
    );
    assert_eq!(one["manual"]["attendance"].as_f64(), Some(90.0), "{one}");
    assert_eq!(
        (
            two["decided"].as_u64(),
            two["bad_reviews"].as_u64(),
            two["complaints"].as_u64()
        ),
        (Some(1), Some(1), Some(1)),
        "{two}"
    );
    assert_eq!(
        (
            two["corrections_per_case"].as_f64(),
            two["quality_major"].as_u64()
        ),
        (Some(1.0), Some(1)),
        "{two}"
    );
    assert_eq!(two["scores"]["complaints"].as_f64(), Some(75.0), "{two}");
    assert_eq!(two["scores"]["corrections"].as_f64(), Some(0.0), "{two}");
    assert_eq!(
        (one["rank"].as_u64(), two["rank"].as_u64()),
        (Some(1), Some(2)),
        "{m}"
    );
    assert!(one["total"].as_f64().unwrap() > two["total"].as_f64().unwrap());
    assert!(
        one["scores"].get("speed").is_some(),
        "scored even at weight 0"
    );
    // Windows: the sums of the staff who served there this month (officer-2 served at both).
    let a01 = row(&m["windows"], "window", "A01");
    let a02 = row(&m["windows"], "window", "A02");
    assert_eq!(a02["members"], json!(["officer-2"]), "{m}");
    assert_eq!(a02["decided"].as_u64(), Some(1));
    assert!(
        a01["members"]
            .as_array()
            .unwrap()
            .contains(&json!("officer-1")),
        "{a01}"
    );

    // Each staff member reads their own month, and nobody else's.
    let (st, mine) = send(&s, "GET", &format!("{path}/me"), Some(&officer2), None).await;
    assert_eq!(st, 200, "{mine}");
    assert_eq!(
        (
            mine["staff"]["account"].as_str(),
            mine["staff"]["rank"].as_u64()
        ),
        (Some("officer-2"), Some(2)),
        "{mine}"
    );
    assert_eq!(mine["window"]["window"], "A02", "{mine}");
    assert_eq!(mine["staff_ranked"].as_u64(), Some(2));
    assert!(
        !mine.to_string().contains("officer-1"),
        "another's row leaked: {mine}"
    );
    let stranger = s.token("officer-9", &["officer"], Some(dept));
    let (st, v) = send(&s, "GET", &format!("{path}/me"), Some(&stranger), None).await;
    assert_eq!(
        (st, v["error"]["details"][0]["reason"].as_str()),
        (404, Some("STAFF_NOT_FOUND")),
        "{v}"
    );
    assert_eq!(
        send(&s, "GET", &format!("{path}/me"), Some(&citizen), None)
            .await
            .0,
        403
    );

    // Awards: a window's 红旗窗口 once a month; 党员先锋岗 only to a party member.
    let award = |body: Value| send(&s, "POST", "/v1/awards", Some(&director), Some(body));
    let (st, v) = award(
        json!({"kind": "red_flag_window", "month": month, "hall": hall, "window": "A01",
        "reason": "本月办件量第一、零投诉"}),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = award(
        json!({"kind": "red_flag_window", "month": month, "hall": hall, "window": "A01",
        "reason": "again"}),
    )
    .await;
    assert_eq!(
        (st, v["error"]["details"][0]["reason"].as_str()),
        (409, Some("AWARD_EXISTS")),
        "{v}"
    );
    let (st, v) = award(
        json!({"kind": "party_vanguard", "month": month, "account": "officer-2", "reason": "x"}),
    )
    .await;
    assert_eq!(
        (st, violation_field(&v)),
        (400, "account".to_string()),
        "{v}"
    );
    let (st, v) = award(json!({"kind": "party_vanguard", "month": month, "account": "officer-1", "reason": "党员示范"})).await;
    assert_eq!(st, 201, "{v}");
    let (st, v) =
        award(json!({"kind": "advanced_individual", "month": month, "hall": hall, "reason": "x"}))
            .await;
    assert_eq!(st, 400, "{v}");
    let (st, v) = send(
        &s,
        "GET",
        &format!("/v1/awards?month={month}"),
        Some(&director),
        None,
    )
    .await;
    assert_eq!(
        (st, v["awards"].as_array().map(|a| a.len())),
        (200, Some(2)),
        "{v}"
    );
    let (_, m) = send(&s, "GET", &path, Some(&director), None).await;
    assert_eq!(m["awards"].as_array().unwrap().len(), 2, "{m}");
    s.stop().await;
}
