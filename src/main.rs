//! `yiwang`: every role of the platform in one binary.
//!
//! - `yiwang up [--demo]`    every role in one process, each on its own port, talking gRPC
//! - `yiwang serve <role>`   one role (catalog, cases, supervision, projects, alerts, inbox, content, insight, gateway)
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
    /// Run one role: catalog | cases | supervision | projects | alerts | inbox | content | insight | gateway.
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
            yiwang_insight::migrate(&cfg).await?;
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
                "insight" => {
                    yiwang_insight::serve(cfg.clone(), bind(cfg.insight_addr).await?, shutdown)
                        .await
                }
                "gateway" => {
                    yiwang_gateway::serve(cfg.clone(), bind(cfg.gateway_addr).await?, shutdown)
                        .await
                }
                other => anyhow::bail!(
                    "unknown role {other:?}; roles: catalog, cases, supervision, projects, alerts, inbox, content, insight, gateway"
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
            yiwang_insight::migrate(&cfg).await?;
            yiwang_kit::redis::Redis::connect(&cfg.redis_url, &cfg.redis_prefix).await?;
            if demo {
                yiwang::demo::load(&cfg, yiwang::demo::JAN_MAY_CASES).await?;
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
            roles.push(tokio::spawn(yiwang_insight::serve(
                cfg.clone(),
                bind(cfg.insight_addr).await?,
                shutdown.clone(),
            )));
            roles.push(tokio::spawn(yiwang_gateway::serve(
                cfg.clone(),
                bind(cfg.gateway_addr).await?,
                shutdown.clone(),
            )));
            if demo {
                // The app's side of the demo goes through the running services' APIs.
                tokio::spawn(yiwang::demo::walk_demo_app(cfg.clone()));
            }
            eprintln!(
                "yiwang is up: REST http://{} · gRPC catalog {} · cases {} · supervision {} · projects {} · alerts {} · inbox {} · content {} · insight {} · Ctrl-C to stop",
                cfg.gateway_addr,
                cfg.catalog_addr,
                cfg.cases_addr,
                cfg.supervision_addr,
                cfg.projects_addr,
                cfg.alerts_addr,
                cfg.inbox_addr,
                cfg.content_addr,
                cfg.insight_addr
            );
            for role in roles {
                role.await??;
            }
            Ok(())
        }
    }
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
