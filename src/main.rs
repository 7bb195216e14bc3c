//! `yiwang`: every role of the platform in one binary.
//!
//! - `yiwang up [--demo]`    every role in one process, each on its own port, talking gRPC
//! - `yiwang serve <role>`   one role (catalog, cases, supervision, projects, alerts, inbox, content, gateway)
//! - `yiwang migrate`        create each service's database if missing and apply migrations
//! - `yiwang token …`        mint a development JWT with the configured secret
//! - `yiwang probe <url>`    exit 0 if an HTTP GET answers 2xx (container health checks)
//! - `yiwang verify-draw <published-inputs.json>`  re-run a published 双随机 draw offline

use std::time::Duration;

// mimalloc: steadier tail latency and less fragmentation than glibc malloc under many small,
// short-lived allocations on several threads (the benchmark's baselines use it too).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;
use yiwang_kit::{CancellationToken, Config};

#[derive(Parser)]
#[command(
    name = "yiwang",
    version,
    about = "Yiwang: the county government-services platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every role in one process.
    Up {
        /// Load the demo county (340522, 8,120 items) into an empty catalogue.
        #[arg(long)]
        demo: bool,
    },
    /// Run one role: catalog | cases | supervision | projects | alerts | inbox | content | gateway.
    Serve { role: String },
    /// Create each service's database if missing and apply its migrations.
    Migrate,
    /// Mint a development JWT (HS256 with YIWANG_JWT_SECRET).
    Token {
        #[arg(long)]
        sub: String,
        /// Comma-separated roles, e.g. catalog_admin,officer.
        #[arg(long, default_value = "")]
        roles: String,
        #[arg(long)]
        dept: Option<String>,
        #[arg(long, default_value = "")]
        name: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 8 * 3600)]
        ttl: i64,
    },
    /// Print the gateway's OpenAPI 3.1 document (what `GET /openapi.json` serves) to stdout.
    Openapi,
    /// HTTP GET a URL; exit 0 on 2xx (for health checks in images without curl).
    Probe { url: String },
    /// Re-run a published 双随机 draw (the JSON of GET /v1/supervision/plans/{id}/draw) and
    /// print the picks; exit non-zero when they differ from the document's published picks.
    VerifyDraw {
        /// The published inputs document; `-` reads standard input.
        file: std::path::PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("yiwang: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Probe { url } => probe(&url).await,
        Command::Openapi => {
            println!(
                "{}",
                serde_json::to_string_pretty(yiwang_gateway::openapi::document())?
            );
            Ok(())
        }
        Command::VerifyDraw { file } => verify_draw(&file),
        Command::Token {
            sub,
            roles,
            dept,
            name,
            ttl,
        } => {
            let cfg = Config::from_env()?;
            let secret = cfg
                .jwt
                .secret
                .as_deref()
                .context("YIWANG_JWT_SECRET is not set (tokens are HS256)")?;
            let roles: Vec<String> = roles
                .split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(String::from)
                .collect();
            println!(
                "{}",
                yiwang_kit::auth::mint_token(secret, &sub, &name, &roles, dept.as_deref(), ttl)?
            );
            Ok(())
        }
        Command::Migrate => {
            let cfg = Config::from_env()?;
            let _t = yiwang_kit::telemetry::init("yiwang-migrate", &cfg);
            yiwang_catalog::migrate(&cfg).await?;
            yiwang_cases::migrate(&cfg).await?;
            yiwang_alerts::migrate(&cfg).await?;
            yiwang_projects::migrate(&cfg).await?;
            yiwang_supervision::migrate(&cfg).await?;
            yiwang_inbox::migrate(&cfg).await?;
            yiwang_content::migrate(&cfg).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Serve { role } => {
            let cfg = Config::from_env()?;
            let _t = yiwang_kit::telemetry::init(&format!("yiwang-{role}"), &cfg);
            warn_dev_secret(&cfg);
            let shutdown = shutdown_token();
            match role.as_str() {
                "catalog" => {
                    yiwang_catalog::serve(cfg.clone(), bind(cfg.catalog_addr).await?, shutdown)
                        .await
                }
                "cases" => {
                    yiwang_cases::serve(cfg.clone(), bind(cfg.cases_addr).await?, shutdown).await
                }
                "alerts" => {
                    yiwang_alerts::serve(cfg.clone(), bind(cfg.alerts_addr).await?, shutdown).await
                }
                "projects" => {
                    yiwang_projects::serve(cfg.clone(), bind(cfg.projects_addr).await?, shutdown)
                        .await
                }
                "supervision" => {
                    yiwang_supervision::serve(
                        cfg.clone(),
                        bind(cfg.supervision_addr).await?,
                        shutdown,
                    )
                    .await
                }
                "inbox" => {
                    yiwang_inbox::serve(cfg.clone(), bind(cfg.inbox_addr).await?, shutdown).await
                }
                "content" => {
                    yiwang_content::serve(cfg.clone(), bind(cfg.content_addr).await?, shutdown)
                        .await
                }
                "gateway" => {
                    yiwang_gateway::serve(cfg.clone(), bind(cfg.gateway_addr).await?, shutdown)
                        .await
                }
                other => anyhow::bail!(
                    "unknown role {other:?}; roles: catalog, cases, supervision, projects, alerts, inbox, content, gateway"
                ),
            }
        }
        Command::Up { demo } => {
            let cfg = Config::from_env()?;
            let _t = yiwang_kit::telemetry::init("yiwang", &cfg);
            warn_dev_secret(&cfg);
            // Fail fast, with advice, when a dependency is missing.
            yiwang_catalog::migrate(&cfg).await?;
            yiwang_cases::migrate(&cfg).await?;
            yiwang_alerts::migrate(&cfg).await?;
            yiwang_projects::migrate(&cfg).await?;
            yiwang_supervision::migrate(&cfg).await?;
            yiwang_inbox::migrate(&cfg).await?;
            yiwang_content::migrate(&cfg).await?;
            yiwang_kit::redis::Redis::connect(&cfg.redis_url, &cfg.redis_prefix).await?;
            if demo {
                let pool = yiwang_kit::db::lazy_pool(
                    &cfg.service_database_url(yiwang_catalog::SERVICE),
                    4,
                )?;
                match yiwang_catalog::seed::load_demo(&pool).await? {
                    Some(l) => tracing::info!(
                        org_units = l.org_units,
                        items = l.items,
                        bundles = l.bundles,
                        "demo county loaded"
                    ),
                    None => tracing::info!("catalogue already has items; demo not loaded again"),
                }
                load_demo_cases(&cfg).await?;
                load_demo_projects(&cfg).await?;
                load_demo_alerts(&cfg).await?;
                load_demo_supervision(&cfg).await?;
                load_demo_content(&cfg).await?;
            }
            let shutdown = shutdown_token();
            // Every role on its own port, talking gRPC to the others as in a deployment.
            let mut roles = Vec::new();
            roles.push(tokio::spawn(yiwang_catalog::serve(
                cfg.clone(),
                bind(cfg.catalog_addr).await?,
                shutdown.clone(),
            )));
            roles.push(tokio::spawn(yiwang_cases::serve(
                cfg.clone(),
                bind(cfg.cases_addr).await?,
                shutdown.clone(),
            )));
            roles.push(tokio::spawn(yiwang_supervision::serve(
                cfg.clone(),
                bind(cfg.supervision_addr).await?,
                shutdown.clone(),
            )));
            roles.push(tokio::spawn(yiwang_projects::serve(
                cfg.clone(),
                bind(cfg.projects_addr).await?,
                shutdown.clone(),
            )));
            roles.push(tokio::spawn(yiwang_alerts::serve(
                cfg.clone(),
                bind(cfg.alerts_addr).await?,
                shutdown.clone(),
            )));
            roles.push(tokio::spawn(yiwang_inbox::serve(
                cfg.clone(),
                bind(cfg.inbox_addr).await?,
                shutdown.clone(),
            )));
            roles.push(tokio::spawn(yiwang_content::serve(
                cfg.clone(),
                bind(cfg.content_addr).await?,
                shutdown.clone(),
            )));
            roles.push(tokio::spawn(yiwang_gateway::serve(
                cfg.clone(),
                bind(cfg.gateway_addr).await?,
                shutdown.clone(),
            )));
            if demo {
                // The app's side of the demo goes through the running services' APIs.
                tokio::spawn(walk_demo_app(cfg.clone()));
            }
            eprintln!(
                "yiwang is up: REST http://{} · gRPC catalog {} · cases {} · supervision {} · projects {} · alerts {} · inbox {} · content {} · Ctrl-C to stop",
                cfg.gateway_addr,
                cfg.catalog_addr,
                cfg.cases_addr,
                cfg.supervision_addr,
                cfg.projects_addr,
                cfg.alerts_addr,
                cfg.inbox_addr,
                cfg.content_addr
            );
            for role in roles {
                role.await??;
            }
            Ok(())
        }
    }
}

/// Five months of sample cases against the demo county's items (the launcher bridges the two
/// services' demo data; the services themselves share no crates).
async fn load_demo_cases(cfg: &Config) -> anyhow::Result<()> {
    use yiwang_cases::calendar::{Limit, Unit};
    let county = yiwang_catalog::demo::generate(340522);
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
        // The reference county's January–May (its half-year report).
        227_000,
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
    pool.close().await;
    Ok(())
}

/// The demo enterprise's cases, files, licence, delivery, request and (through the events)
/// notifications, made through the cases API once the services answer.
async fn walk_demo_app(cfg: Config) {
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

/// The reference county's year of IT projects (10 projects, 10.43 % saved) for the demo
/// county's departments, serving some of their items.
async fn load_demo_projects(cfg: &Config) -> anyhow::Result<()> {
    let county = yiwang_catalog::demo::generate(340522);
    let departments: Vec<yiwang_projects::demo::DemoDepartment> = county
        .org_units
        .iter()
        .filter(|u| u.kind == "department")
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
    match yiwang_projects::demo::load_demo(&pool, &departments).await? {
        Some(n) => tracing::info!(projects = n, "demo projects loaded"),
        None => tracing::info!("projects already exist; demo projects not loaded again"),
    }
    pool.close().await;
    Ok(())
}

/// Five months of the county's security alerts: a range per department, 7,107 events, 65
/// notices whose deadlines come from the legal calendar in the cases database.
async fn load_demo_alerts(cfg: &Config) -> anyhow::Result<()> {
    use yiwang_cases::calendar::{Limit, Unit};
    let county = yiwang_catalog::demo::generate(340522);
    let departments: Vec<(String, String)> = county
        .org_units
        .iter()
        .filter(|u| u.kind == "department")
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
    match yiwang_alerts::demo::load_demo(&pool, &departments, chrono::Utc::now(), deadline).await? {
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
async fn load_demo_supervision(cfg: &Config) -> anyhow::Result<()> {
    let county = yiwang_catalog::demo::generate(340522);
    let departments: Vec<yiwang_supervision::demo::DemoDepartment> = county
        .org_units
        .iter()
        .filter(|u| u.kind == "department")
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
    match yiwang_supervision::demo::load_demo(&pool, &key, &departments, chrono::Utc::now()).await?
    {
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

/// `yiwang verify-draw`: re-runs a published draw offline.
fn verify_draw(file: &std::path::Path) -> anyhow::Result<()> {
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?
    };
    let inputs: yiwang_supervision::draw::Inputs = serde_json::from_str(&text)
        .context("not a draw document (JSON of GET /v1/supervision/plans/{id}/draw)")?;
    let picks =
        yiwang_supervision::draw::draw(&inputs).map_err(|e| anyhow::anyhow!("no draw: {e}"))?;
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "algorithm": yiwang_supervision::draw::ALGORITHM,
            "seed": inputs.seed,
            "picks": picks,
        }))?
    );
    if inputs.picks.is_empty() {
        eprintln!("the document has no published picks to compare with");
        return Ok(());
    }
    anyhow::ensure!(
        picks == inputs.picks,
        "MISMATCH: the recomputed picks differ from the published ones"
    );
    eprintln!(
        "OK: the recomputed picks equal the published ones ({} targets)",
        picks.len()
    );
    Ok(())
}

async fn bind(addr: std::net::SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (in use? set the role's YIWANG_*_ADDR)"))
}

fn shutdown_token() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        yiwang_kit::grpc::shutdown_signal().await;
        t.cancel();
    });
    token
}

fn warn_dev_secret(cfg: &Config) {
    if cfg.uses_dev_secret() {
        tracing::warn!(
            "YIWANG_JWT_SECRET is not set: using the built-in development secret. Never do this in production."
        );
    }
    if cfg.licence_key.is_none() {
        tracing::warn!(
            "YIWANG_LICENCE_KEY is not set: e-licences are signed with the built-in development key and prove nothing. Never do this in production."
        );
    }
}

/// A minimal HTTP/1.1 GET (no TLS): enough for `/healthz` and `/readyz` on localhost.
async fn probe(url: &str) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url
        .strip_prefix("http://")
        .context("probe supports http:// URLs")?;
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".to_string()));
    let fut = async {
        let mut s = tokio::net::TcpStream::connect(host).await?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        anyhow::Ok(buf)
    };
    let buf = tokio::time::timeout(Duration::from_secs(2), fut)
        .await
        .context("timed out")??;
    let head = String::from_utf8_lossy(&buf[..buf.len().min(64)]).to_string();
    let code: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("not an HTTP answer")?;
    anyhow::ensure!((200..300).contains(&code), "{url} answered {code}");
    Ok(())
}

/// The county's website and new media at the scale of its half-year report.
async fn load_demo_content(cfg: &Config) -> anyhow::Result<()> {
    let county = yiwang_catalog::demo::generate(340522);
    let departments: Vec<String> = county
        .org_units
        .iter()
        .filter(|u| u.kind == "department")
        .map(|u| u.code.clone())
        .collect();
    let pool = yiwang_kit::db::lazy_pool(&cfg.service_database_url(yiwang_content::SERVICE), 4)?;
    let key = yiwang_kit::crypto::DataKey::from_config(cfg)?;
    match yiwang_content::demo::load_demo(&pool, &key, &departments, chrono::Utc::now()).await? {
        Some(l) => tracing::info!(
            posts = l.posts,
            special_topic_posts = l.special_topic_posts,
            accounts = l.accounts,
            media_posts = l.media_posts,
            messages = l.messages,
            "demo website and new media loaded (messages become tickets as the content service forwards them)"
        ),
        None => tracing::info!("content already has sites; demo website not loaded again"),
    }
    pool.close().await;
    Ok(())
}
