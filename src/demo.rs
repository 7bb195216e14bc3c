//! The demo county for `yiwang up --demo` (and the tests that want it): the reference county's
//! catalogue, its half-year of cases at the real scale, its projects, security alerts,
//! supervision registers and website — each loaded into its own service's database through that
//! service's demo loader, dated in the reference half-year (the most recent completed
//! January–June) where the county's half-year report counts them. The launcher bridges the
//! services' demo data; the services themselves share no crates.

use chrono::Datelike;
use yiwang_catalog::demo::DemoCounty as County;
use yiwang_kit::Config;

/// Cases filed January–May of the reference half-year: the county report's 227,000.
pub const JAN_MAY_CASES: u64 = 227_000;

/// Loads every service's demo data into empty databases (a second run loads nothing twice).
/// `jan_may_cases` sets the scale of the cases (the tests load fewer).
pub async fn load(cfg: &Config, jan_may_cases: u64) -> anyhow::Result<()> {
    let pool = yiwang_kit::db::lazy_pool(&cfg.service_database_url(yiwang_catalog::SERVICE), 4)?;
    match yiwang_catalog::seed::load_demo(&pool).await? {
        Some(l) => tracing::info!(
            org_units = l.org_units,
            items = l.items,
            bundles = l.bundles,
            "demo county loaded"
        ),
        None => tracing::info!("catalogue already has items; demo not loaded again"),
    }
    pool.close().await;
    // The county's items and units, generated once for every service's loader.
    let county = yiwang_catalog::demo::generate(340522);
    load_demo_cases(cfg, &county, jan_may_cases).await?;
    load_demo_projects(cfg, &county).await?;
    load_demo_alerts(cfg, &county).await?;
    load_demo_supervision(cfg, &county).await?;
    load_demo_website(cfg, &county).await?;
    load_demo_staff(cfg, &county).await?;
    Ok(())
}

/// The county hall's comprehensive-window clerks in the bureau's register (the cases demo names
/// them as the actors of its recent window cases), posted since the reference half-year began.
async fn load_demo_staff(cfg: &Config, county: &County) -> anyhow::Result<()> {
    // The bureau itself (数据资源局) employs them, where the demo county has it.
    let employer = departments(county)
        .find(|u| u.name.contains("数据资源"))
        .map(|u| u.code.clone())
        .unwrap_or_else(|| "340522".to_string());
    let since = reference_half_year()
        .start
        .with_timezone(&yiwang_cases::calendar::SHANGHAI)
        .date_naive();
    let pool = yiwang_kit::db::lazy_pool(&cfg.service_database_url(yiwang_insight::SERVICE), 2)?;
    let n = yiwang_insight::demo::load_demo(
        &pool,
        yiwang_catalog::seed::DEMO_HALL,
        &employer,
        yiwang_cases::seed::DEMO_WINDOW_CLERKS,
        since,
    )
    .await?;
    if n > 0 {
        tracing::info!(
            staff = n,
            "demo window staff registered for the monthly assessment"
        );
    }
    pool.close().await;
    Ok(())
}

/// The reference half-year: from 1 January of the most recent completed January–June to its
/// end ([`demo_anchor`]).
pub fn reference_half_year() -> std::ops::Range<chrono::DateTime<chrono::Utc>> {
    use chrono::TimeZone;
    let end = demo_anchor();
    let year = yiwang_cases::seed::reference_year(
        chrono::Utc::now()
            .with_timezone(&yiwang_cases::calendar::SHANGHAI)
            .date_naive(),
    );
    let start = yiwang_cases::calendar::SHANGHAI
        .with_ymd_and_hms(year, 1, 1, 0, 0, 0)
        .single()
        .map(|t| t.to_utc())
        .unwrap_or(end);
    start..end
}

/// The county's departments (not its towns and villages).
fn departments(county: &County) -> impl Iterator<Item = &yiwang_catalog::model::OrgUnit> {
    county.org_units.iter().filter(|u| u.kind == "department")
}

/// The reference half-year's cases (and a live tail to today) against the demo county's items.
async fn load_demo_cases(cfg: &Config, county: &County, jan_may: u64) -> anyhow::Result<()> {
    use yiwang_cases::calendar::{Limit, Unit};
    let items: Vec<yiwang_cases::seed::DemoItem> = county
        .items
        .iter()
        .map(|(code, c)| {
            let limit = if c.handling_kind == "instant" {
                Limit::SAME_DAY
            } else {
                let l = c.promised_limit.as_ref().or(c.legal_limit.as_ref());
                Limit::new(
                    l.map(|l| l.value).unwrap_or(20),
                    l.and_then(|l| Unit::parse(&l.unit))
                        .unwrap_or(Unit::WorkingDays),
                )
            };
            yiwang_cases::seed::DemoItem {
                code: code.clone(),
                name: c.name.clone(),
                department: c.department.clone(),
                task_type: c.task_type.clone(),
                required_materials: c
                    .materials
                    .iter()
                    .filter(|m| m.required)
                    .map(|m| m.name.clone())
                    .collect(),
                limit,
                high_frequency: c.high_frequency,
            }
        })
        .collect();
    let pool = yiwang_kit::db::lazy_pool(&cfg.service_database_url(yiwang_cases::SERVICE), 4)?;
    let calendar = yiwang_cases::store::load_calendar(&pool).await?;
    let key = yiwang_kit::crypto::DataKey::from_config(cfg)?;
    let started = std::time::Instant::now();
    match yiwang_cases::seed::load_demo(
        &pool,
        &key,
        &calendar,
        &cfg.region_code,
        &items,
        jan_may,
        chrono::Utc::now(),
    )
    .await?
    {
        Some(l) => tracing::info!(
            cases = l.cases,
            evaluations = l.evaluations,
            tickets = l.tickets,
            seconds = started.elapsed().as_secs_f64(),
            "demo cases loaded"
        ),
        None => tracing::info!("cases already exist; demo cases not loaded again"),
    }
    // 周末不打烊: the report's 26 appointments kept on rest days at the county hall.
    let weekend: Vec<(String, String)> = county
        .items
        .iter()
        .filter(|(_, c)| c.channels.iter().any(|ch| ch == "weekend_appointment"))
        .map(|(code, c)| (code.clone(), c.department.clone()))
        .collect();
    let year = reference_half_year()
        .start
        .with_timezone(&yiwang_cases::calendar::SHANGHAI)
        .year();
    let n = yiwang_cases::seed::load_demo_weekend_appointments(
        &pool,
        &calendar,
        yiwang_catalog::seed::DEMO_HALL,
        &weekend,
        year,
        26,
    )
    .await?;
    if n > 0 {
        tracing::info!(appointments = n, "demo weekend appointments loaded");
    }
    pool.close().await;
    Ok(())
}

/// The demo enterprise's cases, files, licence, delivery, request and (through the events)
/// notifications, made through the cases API once the services answer.
pub async fn walk_demo_app(cfg: Config) {
    let Some(secret) = cfg.jwt.secret.clone() else {
        tracing::info!(
            "no YIWANG_JWT_SECRET: the demo's app side is skipped (it signs its own tokens)"
        );
        return;
    };
    let county = yiwang_catalog::demo::generate(340522);
    let items: Vec<yiwang_cases::demo_app::AppItem> = county
        .items
        .iter()
        .filter(|(_, c)| {
            c.task_type == "01"
                && c.applicant_kinds.iter().any(|k| k == "2")
                && c.channels.iter().any(|ch| ch == "online" || ch == "mobile")
                && c.materials.iter().any(|m| m.required)
        })
        .take(2)
        .map(|(code, c)| yiwang_cases::demo_app::AppItem {
            code: code.clone(),
            department: c.department.clone(),
            required_materials: c
                .materials
                .iter()
                .filter(|m| m.required)
                .map(|m| m.name.clone())
                .collect(),
        })
        .collect();
    match yiwang_cases::demo_app::walk(&cfg.cases_url, &secret, &items).await {
        Ok(w) if w.cases == 0 => {
            tracing::info!("the demo enterprise has cases; its walk-through is not repeated")
        }
        Ok(w) => tracing::info!(
            account = yiwang_cases::demo_app::ACCOUNT,
            cases = w.cases,
            uploads = w.uploads,
            "demo app walk-through done: files, a licence, an EMS delivery, a correction list, notifications"
        ),
        Err(e) => tracing::warn!(error = %e, "demo app walk-through failed"),
    }
}

/// Where the demo's dated samples end: the end of the reference half-year (the most recent
/// completed January–June, whose work report the demo county's figures are), or now.
pub fn demo_anchor() -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    let now = chrono::Utc::now();
    let today = now
        .with_timezone(&yiwang_cases::calendar::SHANGHAI)
        .date_naive();
    let year = yiwang_cases::seed::reference_year(today);
    yiwang_cases::calendar::SHANGHAI
        .with_ymd_and_hms(year, 7, 1, 0, 0, 0)
        .single()
        .map(|t| t.to_utc())
        .unwrap_or(now)
        .min(now)
}

/// The reference county's year of IT projects (10 projects, 10.43 % saved) for the demo
/// county's departments, serving some of their items.
async fn load_demo_projects(cfg: &Config, county: &County) -> anyhow::Result<()> {
    let departments: Vec<yiwang_projects::demo::DemoDepartment> = departments(county)
        .map(|u| yiwang_projects::demo::DemoDepartment {
            code: u.code.clone(),
            items: county
                .items
                .iter()
                .filter(|(_, c)| c.department == u.code)
                .take(2)
                .map(|(code, _)| code.clone())
                .collect(),
        })
        .filter(|d| !d.items.is_empty())
        .take(10)
        .collect();
    let pool = yiwang_kit::db::lazy_pool(&cfg.service_database_url(yiwang_projects::SERVICE), 2)?;
    // The reference half-year's year once its projects' acceptances (by 29 November) are past.
    let today = chrono::Utc::now()
        .with_timezone(&yiwang_cases::calendar::SHANGHAI)
        .date_naive();
    let year = yiwang_cases::seed::reference_year(today);
    let year = if today >= chrono::NaiveDate::from_ymd_opt(year, 11, 30).unwrap_or(today) {
        year
    } else {
        year - 1
    };
    match yiwang_projects::demo::load_demo(&pool, &departments, year).await? {
        Some(n) => tracing::info!(projects = n, "demo projects loaded"),
        None => tracing::info!("projects already exist; demo projects not loaded again"),
    }
    pool.close().await;
    Ok(())
}

/// The county's security alerts in the reference half-year: a range per department, 7,107 events, 65
/// notices whose deadlines come from the legal calendar in the cases database.
async fn load_demo_alerts(cfg: &Config, county: &County) -> anyhow::Result<()> {
    use yiwang_cases::calendar::{Limit, Unit};
    let departments: Vec<(String, String)> = departments(county)
        .map(|u| (u.code.clone(), u.name.clone()))
        .collect();
    let cases = yiwang_kit::db::lazy_pool(&cfg.service_database_url(yiwang_cases::SERVICE), 2)?;
    let calendar = yiwang_cases::store::load_calendar(&cases).await?;
    cases.close().await;
    let deadline = |from: chrono::DateTime<chrono::Utc>, days: u32| {
        calendar
            .deadline(from, Limit::new(days, Unit::WorkingDays))
            .map(|d| d.at.to_utc())
            .unwrap_or(from + chrono::Duration::days(days as i64))
    };
    let pool = yiwang_kit::db::lazy_pool(&cfg.service_database_url(yiwang_alerts::SERVICE), 4)?;
    let started = std::time::Instant::now();
    match yiwang_alerts::demo::load_demo(&pool, &departments, demo_anchor(), deadline).await? {
        Some(l) => tracing::info!(
            assets = l.assets,
            events = l.events,
            incidents = l.incidents,
            notices = l.notices,
            seconds = started.elapsed().as_secs_f64(),
            "demo alerts loaded"
        ),
        None => tracing::info!("alerts already has incidents; demo alerts not loaded again"),
    }
    pool.close().await;
    Ok(())
}

/// The supervision sample data at the reference county's scale, for the demo county's
/// departments.
async fn load_demo_supervision(cfg: &Config, county: &County) -> anyhow::Result<()> {
    let departments: Vec<yiwang_supervision::demo::DemoDepartment> = departments(county)
        .map(|u| yiwang_supervision::demo::DemoDepartment {
            code: u.code.clone(),
            name: u.name.clone(),
            uscc: u.uscc.clone(),
        })
        .collect();
    let pool =
        yiwang_kit::db::lazy_pool(&cfg.service_database_url(yiwang_supervision::SERVICE), 4)?;
    let key = yiwang_kit::crypto::DataKey::from_config(cfg)?;
    let started = std::time::Instant::now();
    match yiwang_supervision::demo::load_demo(&pool, &key, &departments, demo_anchor()).await? {
        Some(l) => tracing::info!(
            items = l.items,
            check_lists = l.check_lists,
            inspectors = l.inspectors,
            entities = l.entities,
            plans = l.plans,
            inspections = l.inspections,
            publications = l.publications,
            tasks = l.tasks,
            notices = l.notices,
            seconds = started.elapsed().as_secs_f64(),
            "demo supervision data loaded"
        ),
        None => tracing::info!("supervision items exist; demo supervision data not loaded again"),
    }
    pool.close().await;
    Ok(())
}

/// The county's website and new media at the scale of its half-year report, and its citizen
/// messages as the tickets they became in the cases service: dispatched, replied, called back
/// and closed (the report's 100 % rates), each reply published as the message's answer.
async fn load_demo_website(cfg: &Config, county: &County) -> anyhow::Result<()> {
    let departments: Vec<&yiwang_catalog::model::OrgUnit> = departments(county).collect();
    let codes: Vec<String> = departments.iter().map(|u| u.code.clone()).collect();
    let half = reference_half_year();
    let mut messages = yiwang_content::demo::messages(&half);
    let mut tickets = Vec::with_capacity(messages.len());
    for (n, m) in messages.iter_mut().enumerate() {
        let Some(unit) = departments.get(n * 7 % departments.len().max(1)) else {
            break;
        };
        // Ids derived from the message's, so a second load finds the first's rows.
        let ticket_id = uuid::Uuid::from_u128(m.id.as_u128() ^ 0x7469_636b_6574);
        let replied_at = m.created_at + chrono::Duration::hours(20 + (n as i64 % 4) * 24);
        let reply = format!(
            "您好！您反映的“{}”已转{}办理，相关情况已核实处理，感谢您的监督。",
            m.subject, unit.name
        );
        tickets.push(yiwang_cases::seed::DemoTicket {
            id: ticket_id,
            source: m.source.to_string(),
            subject: m.subject.to_string(),
            body: m.body.clone(),
            submitted_by: "content-service".into(),
            request_id: format!("content-message-{}", m.id),
            department: unit.code.clone(),
            created_at: m.created_at,
            replied_at,
            reply: reply.clone(),
        });
        m.answered = Some(yiwang_content::demo::DemoAnswer {
            ticket_id,
            answer: reply,
            answered_at: replied_at + chrono::Duration::hours(2),
        });
    }
    // The tickets first: a message never names a ticket that is not there.
    let cases = yiwang_kit::db::lazy_pool(&cfg.service_database_url(yiwang_cases::SERVICE), 4)?;
    let calendar = yiwang_cases::store::load_calendar(&cases).await?;
    let n = yiwang_cases::seed::load_demo_tickets(&cases, &calendar, &tickets).await?;
    cases.close().await;
    let pool = yiwang_kit::db::lazy_pool(&cfg.service_database_url(yiwang_content::SERVICE), 4)?;
    let key = yiwang_kit::crypto::DataKey::from_config(cfg)?;
    match yiwang_content::demo::load_demo(&pool, &key, &codes, half, chrono::Utc::now(), &messages)
        .await?
    {
        Some(l) => tracing::info!(
            posts = l.posts,
            special_topic_posts = l.special_topic_posts,
            accounts = l.accounts,
            media_posts = l.media_posts,
            messages = l.messages,
            tickets = n,
            "demo website and new media loaded, the messages answered through their tickets"
        ),
        None => tracing::info!("content already has sites; demo website not loaded again"),
    }
    pool.close().await;
    Ok(())
}
