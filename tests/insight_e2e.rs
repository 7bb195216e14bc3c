//! The bureau's view (issue 15): on the demo county, the half-year work report states the
//! county's figures, each equal to what its own service says, consistent with itself, as JSON
//! and as an HTML document with its charts; the scorecard puts the departments side by side
//! with a county row that adds up; only the bureau reads them.

mod common;

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
    let (st, _) = send(&s, "GET", "/v1/insight/scorecard", Some(&director), None).await;
    assert_eq!(st, 400, "a period is required");
    s.stop().await;
}
