//! `yiwang-bench`: measures the platform the way its users load it, against minimal baselines
//! measured in the same run on the same machine. Run it with `bash bench/run` (builds release
//! binaries first); it prints a Markdown report for BENCHMARKS.md.
//!
//! Every server is its own process, as in production: the catalogue (`yiwang serve catalog`),
//! the gateway (`yiwang serve gateway`), and the two baselines this binary re-executes itself
//! as: a minimal axum endpoint answering the same JSON bytes the gateway answers, and a minimal
//! tonic unary endpoint (the standard health `Check`). The load generator shares the machine
//! with the servers, the same way for the baselines as for Yiwang.
//!
//! Latency is measured from the moment a request was *due* (open-loop runs pace requests at a
//! fixed rate), so a stalled server shows up in the percentiles instead of hiding behind fewer
//! requests (no coordinated omission).

mod alerts;
mod files;
mod province;
mod words;

use std::net::SocketAddr;

// mimalloc: steadier tail latency and less fragmentation than glibc malloc under many small,
// short-lived allocations on several threads (the benchmark's baselines use it too).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tonic::transport::{Channel, Endpoint};
use yiwang_proto::catalog::v1 as pb;

mod supervision;

const SECRET: &str = "yiwang-bench-secret";

#[derive(Parser)]
#[command(name = "yiwang-bench", about = "Yiwang benchmark harness")]
struct Cli {
    #[command(subcommand)]
    role: Option<Role>,
    /// Seconds per measured run (each run is preceded by a 2 s warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent HTTP/1.1 connections (closed-loop runs).
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Items in the catalogue for the search benchmark.
    #[arg(long, default_value_t = 100_000)]
    items: i64,
    /// Closed-loop rounds (baseline and Yiwang alternate; the best round of each counts).
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// The `yiwang` launcher binary (default: next to this one).
    #[arg(long)]
    yiwang: Option<PathBuf>,
    /// Which measurements: all | catalog | cases | alerts | supervision (the draw benchmark
    /// alone; not part of all) | files (uploads and downloads; not part of all) | province
    /// (100 counties in bulk: the catalogue, lists and statistics at scale; not part of all).
    #[arg(long, default_value = "all")]
    suite: String,
    /// Security events streamed in the alerts suite.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Cases loaded in bulk for the province suite.
    #[arg(long, default_value_t = 10_000_000)]
    cases: i64,
    /// Security events stored in bulk for the province suite (before `--events` are streamed).
    #[arg(long, default_value_t = 20_000_000)]
    stored_events: i64,
    /// Province suite: measure again on the databases an earlier run loaded (skips the load).
    #[arg(long)]
    reuse: bool,
    /// Regulated entities in the supervision draw benchmark's target pool.
    #[arg(long, default_value_t = 100_000)]
    entities: usize,
    /// Inspectors in the supervision draw benchmark's inspector pool.
    #[arg(long, default_value_t = 1_000)]
    inspectors: usize,
}

#[derive(Subcommand)]
enum Role {
    /// Minimal axum server answering GET /v1/items/{code} with the bytes of a file.
    BaselineHttp { addr: SocketAddr, body: PathBuf },
    /// Minimal tonic server with the standard health service only.
    BaselineGrpc { addr: SocketAddr },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.role {
        Some(Role::BaselineHttp { addr, ref body }) => rt.block_on(baseline_http(addr, body)),
        Some(Role::BaselineGrpc { addr }) => rt.block_on(baseline_grpc(addr)),
        None => rt.block_on(run(&cli)),
    }
}

// ---------------------------------------------------------------------------------------------
// Baselines

async fn baseline_http(addr: SocketAddr, body: &Path) -> anyhow::Result<()> {
    use axum::routing::get;
    let body = Bytes::from(std::fs::read(body)?);
    let app = axum::Router::new().route(
        "/v1/items/{code}",
        get(
            move |axum::extract::Path(_code): axum::extract::Path<String>| {
                let body = body.clone();
                async move { ([(http::header::CONTENT_TYPE, "application/json")], body) }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(yiwang_kit::nodelay(listener), app).await?;
    Ok(())
}

async fn baseline_grpc(addr: SocketAddr) -> anyhow::Result<()> {
    let (_reporter, health) = tonic_health::server::health_reporter();
    tonic::transport::Server::builder()
        .add_service(health)
        .serve(addr)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The run

/// Child processes, killed when the run ends however it ends.
struct Procs(Vec<(String, Child)>);

impl Procs {
    fn pid(&self, name: &str) -> u32 {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.id())
            .unwrap_or(0)
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for (_, c) in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

async fn run(cli: &Cli) -> anyhow::Result<()> {
    let me = std::env::current_exe()?;
    let yiwang = cli
        .yiwang
        .clone()
        .unwrap_or_else(|| me.with_file_name("yiwang"));
    anyhow::ensure!(
        yiwang.exists(),
        "{} not found: build it first (bash bench/run does)",
        yiwang.display()
    );
    let logs = me.with_file_name("bench-logs");
    std::fs::create_dir_all(&logs)?;
    if cli.suite == "alerts" {
        let mut report = Vec::new();
        alerts::suite(&yiwang, &logs, cli.events, &mut report).await?;
        print_report(report);
        return Ok(());
    }
    if cli.suite == "supervision" {
        return supervision::run(cli, &yiwang, &logs).await;
    }
    if cli.suite == "words" {
        let mut report = Vec::new();
        words::run(&mut report)?;
        print_report(report);
        return Ok(());
    }
    if cli.suite == "files" {
        let mut report = Vec::new();
        files::run(&yiwang, &logs, &mut report).await?;
        print_report(report);
        return Ok(());
    }

    // A dedicated database and Redis prefix, rebuilt on every run.
    let mut cfg = yiwang_kit::Config::from_env()?;
    cfg.database_prefix = "yiwang_bench".into();
    cfg.redis_prefix = "yiwang-bench".into();
    let province = cli.suite == "province";
    let reuse = province && cli.reuse;
    if !reuse {
        for service in yiwang_kit::config::DATABASE_SERVICES {
            yiwang_kit::db::drop_database(&cfg.database_url, &cfg.database_name(service)).await?;
        }
    }
    yiwang_catalog::migrate(&cfg).await?;
    let pool = yiwang_kit::db::lazy_pool(&cfg.service_database_url(yiwang_catalog::SERVICE), 4)?;
    let t = Instant::now();
    if yiwang_catalog::seed::load_demo(&pool).await?.is_none() && !reuse {
        bail!("fresh database already had items");
    }
    let target = if province {
        province::COUNTIES * 8120
    } else {
        cli.items
    };
    let items = replicate_items(&pool, target).await?;
    eprintln!(
        "catalogue: {items} published items loaded in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let loaded = if reuse {
        Some(province::Loaded {
            cases: cli.cases,
            events: cli.stored_events,
            cases_secs: f64::NAN,
            fold_secs: f64::NAN,
            events_secs: f64::NAN,
        })
    } else if province {
        yiwang_cases::migrate(&cfg).await?;
        yiwang_alerts::migrate(&cfg).await?;
        let cases_db = yiwang_kit::db::lazy_pool(&cfg.service_database_url("cases"), 2)?;
        let alerts_db = yiwang_kit::db::lazy_pool(&cfg.service_database_url("alerts"), 2)?;
        let cases_secs = province::load_cases(&cfg, &cases_db, cli.cases).await?;
        let fold_secs = province::fold_all(&cases_db).await?;
        let events_secs = province::load_events(&alerts_db, cli.stored_events).await?;
        cases_db.close().await;
        alerts_db.close().await;
        Some(province::Loaded {
            cases: cli.cases,
            events: cli.stored_events,
            cases_secs,
            fold_secs,
            events_secs,
        })
    } else {
        None
    };

    let catalog_addr = free_addr()?;
    let cases_addr = free_addr()?;
    let gateway_addr = free_addr()?;
    // The gateway is ready only when every service it fronts is.
    let projects_addr = free_addr()?;
    let alerts_addr = free_addr()?;
    let supervision_addr = free_addr()?;
    let inbox_addr = free_addr()?;
    let content_addr = free_addr()?;
    let insight_addr = free_addr()?;
    let env = |c: &mut Command| {
        c.env("DATABASE_URL", &cfg.database_url)
            .env("REDIS_URL", &cfg.redis_url)
            .env("YIWANG_DB_PREFIX", &cfg.database_prefix)
            .env("YIWANG_REDIS_PREFIX", &cfg.redis_prefix)
            .env("YIWANG_JWT_SECRET", SECRET)
            .env("YIWANG_CATALOG_ADDR", catalog_addr.to_string())
            .env("YIWANG_GATEWAY_ADDR", gateway_addr.to_string())
            .env("YIWANG_CATALOG_URL", format!("http://{catalog_addr}"))
            .env("YIWANG_CASES_ADDR", cases_addr.to_string())
            .env("YIWANG_CASES_URL", format!("http://{cases_addr}"))
            .env("YIWANG_PROJECTS_ADDR", projects_addr.to_string())
            .env("YIWANG_PROJECTS_URL", format!("http://{projects_addr}"))
            .env("YIWANG_ALERTS_ADDR", alerts_addr.to_string())
            .env("YIWANG_ALERTS_URL", format!("http://{alerts_addr}"))
            .env("YIWANG_INBOX_ADDR", inbox_addr.to_string())
            .env("YIWANG_INBOX_URL", format!("http://{inbox_addr}"))
            .env("YIWANG_CONTENT_ADDR", content_addr.to_string())
            .env("YIWANG_CONTENT_URL", format!("http://{content_addr}"))
            .env("YIWANG_INSIGHT_ADDR", insight_addr.to_string())
            .env("YIWANG_INSIGHT_URL", format!("http://{insight_addr}"))
            .env("YIWANG_SUPERVISION_ADDR", supervision_addr.to_string())
            .env(
                "YIWANG_SUPERVISION_URL",
                format!("http://{supervision_addr}"),
            )
            // The limiter runs on every request (as in production) but never says no here.
            .env("YIWANG_RATE_LIMIT", "1000000000")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT");
    };
    let spawn = |name: &str, cmd: &mut Command| -> anyhow::Result<(String, Child)> {
        let log = std::fs::File::create(logs.join(format!("{name}.log")))?;
        let child = cmd
            .stdout(log.try_clone()?)
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("spawning {name}"))?;
        Ok((name.to_string(), child))
    };
    let mut procs = Procs(Vec::new());
    let mut c = Command::new(&yiwang);
    c.args(["serve", "catalog"]);
    env(&mut c);
    procs.0.push(spawn("catalog", &mut c)?);
    let mut c = Command::new(&yiwang);
    c.args(["serve", "cases"]);
    env(&mut c);
    procs.0.push(spawn("cases", &mut c)?);
    let mut c = Command::new(&yiwang);
    c.args(["serve", "projects"]);
    env(&mut c);
    procs.0.push(spawn("projects", &mut c)?);
    let mut c = Command::new(&yiwang);
    c.args(["serve", "alerts"]);
    env(&mut c);
    procs.0.push(spawn("alerts", &mut c)?);
    let mut c = Command::new(&yiwang);
    c.args(["serve", "supervision"]);
    env(&mut c);
    procs.0.push(spawn("supervision", &mut c)?);
    let mut c = Command::new(&yiwang);
    c.args(["serve", "inbox"]);
    env(&mut c);
    procs.0.push(spawn("inbox", &mut c)?);
    let mut c = Command::new(&yiwang);
    c.args(["serve", "content"]);
    env(&mut c);
    procs.0.push(spawn("content", &mut c)?);
    let mut c = Command::new(&yiwang);
    c.args(["serve", "insight"]);
    env(&mut c);
    procs.0.push(spawn("insight", &mut c)?);
    let mut c = Command::new(&yiwang);
    c.args(["serve", "gateway"]);
    env(&mut c);
    procs.0.push(spawn("gateway", &mut c)?);
    wait_ready(catalog_addr, "/readyz").await?;
    wait_ready(cases_addr, "/readyz").await?;
    wait_ready(projects_addr, "/readyz").await?;
    wait_ready(alerts_addr, "/readyz").await?;
    wait_ready(supervision_addr, "/readyz").await?;
    wait_ready(inbox_addr, "/readyz").await?;
    wait_ready(content_addr, "/readyz").await?;
    wait_ready(insight_addr, "/readyz").await?;
    wait_ready(gateway_addr, "/readyz").await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss = |procs: &Procs| {
        ["catalog", "cases", "gateway"]
            .map(|n| format!("{n} {:.1} MiB", rss_mib(procs.pid(n))))
            .join(", ")
    };
    let rss_start = rss(&procs);

    // Hot items: a random thousand, warmed into the gateway's cache.
    let codes: Vec<String> = sqlx::query_scalar(
        "SELECT code FROM items WHERE status = 'published' ORDER BY md5(code) LIMIT 1000",
    )
    .fetch_all(&pool)
    .await?;
    let paths: Arc<Vec<String>> =
        Arc::new(codes.iter().map(|c| format!("/v1/items/{c}")).collect());
    let mut conn = http_conn(gateway_addr).await?;
    let mut sample = Bytes::new();
    for p in paths.iter() {
        let (status, body) = http_get(&mut conn, p).await?;
        anyhow::ensure!(status == 200, "GET {p} answered {status}");
        sample = body;
    }
    let body_file = logs.join("baseline-body.json");
    std::fs::write(&body_file, &sample)?;

    let base_http = free_addr()?;
    let base_grpc = free_addr()?;
    procs.0.push(spawn(
        "baseline-http",
        Command::new(&me)
            .arg("baseline-http")
            .arg(base_http.to_string())
            .arg(&body_file),
    )?);
    procs.0.push(spawn(
        "baseline-grpc",
        Command::new(&me)
            .arg("baseline-grpc")
            .arg(base_grpc.to_string()),
    )?);
    wait_tcp(base_http).await?;
    wait_tcp(base_grpc).await?;

    let secs = Duration::from_secs(cli.seconds);
    let mut report = Vec::new();

    if cli.suite != "cases" {
        // 1. REST GET /v1/items/{code}, warm cache, vs the minimal axum endpoint.
        let (mut best_base, mut best_gw) = (Run::default(), Run::default());
        for round in 1..=cli.rounds {
            let b = http_load(base_http, paths.clone(), cli.connections, secs, None, None).await?;
            let g = http_load(
                gateway_addr,
                paths.clone(),
                cli.connections,
                secs,
                None,
                None,
            )
            .await?;
            eprintln!(
                "round {round}: axum baseline {}; gateway {}",
                b.line(),
                g.line()
            );
            if b.rps > best_base.rps {
                best_base = b;
            }
            if g.rps > best_gw.rps {
                best_gw = g;
            }
        }
        let half = best_gw.rps / 2.0;
        let gw_half = http_load(
            gateway_addr,
            paths.clone(),
            cli.connections,
            secs,
            Some(half),
            None,
        )
        .await?;
        let base_half = http_load(
            base_http,
            paths.clone(),
            cli.connections,
            secs,
            Some(half),
            None,
        )
        .await?;
        eprintln!(
            "open loop at {half:.0} req/s: gateway {}; baseline {}",
            gw_half.line(),
            base_half.line()
        );
        report.push(format!(
        "| REST `GET /v1/items/{{code}}`, warm cache, {c} connections | {g:.0} req/s (p50 {gp50}, p99 {gp99}) | minimal axum JSON endpoint, same bytes: {b:.0} req/s (p50 {bp50}, p99 {bp99}) | **{r:.0} %** of baseline (target ≥ 50 %) |",
        c = cli.connections,
        g = best_gw.rps,
        gp50 = ms(best_gw.p(50.0)),
        gp99 = ms(best_gw.p(99.0)),
        b = best_base.rps,
        bp50 = ms(best_base.p(50.0)),
        bp99 = ms(best_base.p(99.0)),
        r = 100.0 * best_gw.rps / best_base.rps,
    ));
        report.push(format!(
        "| REST `GET /v1/items/{{code}}` paced at half the gateway's peak ({half:.0} req/s) | p50 {}, p99 **{}**, max {} ({} errors) | baseline at the same rate: p50 {}, p99 {} | target p99 ≤ 10 ms |",
        ms(gw_half.p(50.0)),
        ms(gw_half.p(99.0)),
        ms(gw_half.max()),
        gw_half.errors,
        ms(base_half.p(50.0)),
        ms(base_half.p(99.0)),
    ));

        // 2. gRPC GetItem directly on the catalogue (a department system with a system token) vs a
        //    minimal tonic unary endpoint.
        let token = yiwang_kit::auth::mint_token(
            SECRET,
            "bench-system",
            "benchmark",
            &["system".to_string()],
            None,
            3600,
        )?;
        let codes = Arc::new(codes);
        let (mut best_base, mut best_get) = (Run::default(), Run::default());
        for round in 1..=cli.rounds {
            let b = grpc_load(base_grpc, codes.clone(), cli.connections, secs, None, true).await?;
            let g = grpc_load(
                catalog_addr,
                codes.clone(),
                cli.connections,
                secs,
                Some(&token),
                false,
            )
            .await?;
            eprintln!(
                "round {round}: tonic baseline {}; GetItem {}",
                b.line(),
                g.line()
            );
            if b.rps > best_base.rps {
                best_base = b;
            }
            if g.rps > best_get.rps {
                best_get = g;
            }
        }
        report.push(format!(
        "| gRPC `CatalogService/GetItem`, direct, system token, {c} concurrent calls | {g:.0} calls/s (p50 {gp50}, p99 {gp99}) | minimal tonic unary (`grpc.health.v1.Health/Check`): {b:.0} calls/s | **{r:.0} %** of baseline (target ≥ 50 %) |",
        c = cli.connections,
        g = best_get.rps,
        gp50 = ms(best_get.p(50.0)),
        gp99 = ms(best_get.p(99.0)),
        b = best_base.rps,
        r = 100.0 * best_get.rps / best_base.rps,
    ));

        // 3. Keyword search over the whole catalogue through the gateway, 4 concurrent clients.
        let search = search_load(gateway_addr, 4, secs).await?;
        eprintln!("search: {}", search.line());
        report.push(format!(
        "| REST `GET /v1/items?q=…` over {items} items, 4 concurrent clients, {n} keywords | {rps:.0} req/s, p50 {p50}, p99 **{p99}**, max {max} | | target p99 ≤ 50 ms |",
        n = KEYWORDS.len(),
        rps = search.rps,
        p50 = ms(search.p(50.0)),
        p99 = ms(search.p(99.0)),
        max = ms(search.max()),
    ));
    }
    if let Some(loaded) = &loaded {
        province::measure(
            &cfg,
            gateway_addr,
            &format!("http://{alerts_addr}"),
            &logs,
            loaded,
            secs,
            cli.events.min(1_000_000),
            &mut report,
        )
        .await?;
    } else if cli.suite != "catalog" {
        cases_suite(&cfg, gateway_addr, &pool, cli, &mut report).await?;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss_after = rss(&procs);
    report.push(format!(
        "| Idle RSS (VmRSS) | after start-up: {rss_start}; idle after the load above: {rss_after} | | target ≤ 64 MB each |"
    ));

    drop(procs);
    pool.close().await;
    if cli.suite == "all" {
        alerts::suite(&yiwang, &logs, cli.events, &mut report).await?;
    }
    print_report(report);
    Ok(())
}

fn print_report(report: Vec<String>) {
    println!("| Measurement | Yiwang | Baseline (same run) | Result |");
    println!("|---|---|---|---|");
    for line in report {
        println!("{line}");
    }
}

/// Grows the demo catalogue to `target` items by copying it under new implementation codes, the
/// way a province-wide catalogue holds the same item for many implementing agencies.
async fn replicate_items(pool: &sqlx::PgPool, target: i64) -> anyhow::Result<i64> {
    let base: i64 = sqlx::query_scalar("SELECT count(*) FROM items")
        .fetch_one(pool)
        .await?;
    let extra = (target - base).max(0);
    if extra > 0 {
        let copies = (extra + base - 1) / base;
        let mut tx = pool.begin().await?;
        sqlx::query(
            "CREATE TEMP TABLE copies ON COMMIT DROP AS
             SELECT i.code AS src, i.code || lpad(n::text, 3, '0') AS code
             FROM items i CROSS JOIN generate_series(1, $1::int) n
             ORDER BY n, i.code LIMIT $2",
        )
        .bind(copies as i32)
        .bind(extra)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO items (code, latest_version, current_version, status, name, department, task_type, level,
                                channels, online_capable, full_online, high_frequency, search_text, search_grams)
             SELECT c.code, i.latest_version, i.current_version, i.status, i.name, i.department, i.task_type, i.level,
                    i.channels, i.online_capable, i.full_online, i.high_frequency, i.search_text, i.search_grams
             FROM copies c JOIN items i ON i.code = c.src",
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO item_versions (code, version, status, content, effective_from, updated_by)
             SELECT c.code, v.version, v.status, v.content, v.effective_from, 'bench'
             FROM copies c JOIN item_versions v ON v.code = c.src",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    sqlx::query("ANALYZE items").execute(pool).await?;
    sqlx::query("ANALYZE item_versions").execute(pool).await?;
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM items WHERE status = 'published'")
            .fetch_one(pool)
            .await?,
    )
}

async fn wait_tcp(addr: SocketAddr) -> anyhow::Result<()> {
    for _ in 0..100 {
        if TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{addr} never started listening")
}

async fn wait_ready(addr: SocketAddr, path: &str) -> anyhow::Result<()> {
    for _ in 0..300 {
        if let Ok(mut c) = http_conn(addr).await
            && let Ok((200, _)) = http_get(&mut c, path).await
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{addr}{path} never answered 200 (see target/release/bench-logs)")
}

// ---------------------------------------------------------------------------------------------
// Load generation

/// The outcome of one run: requests per second and the latency histogram (µs).
struct Run {
    rps: f64,
    errors: u64,
    hist: Histogram<u64>,
}

impl Default for Run {
    fn default() -> Self {
        Run {
            rps: 0.0,
            errors: 0,
            hist: Histogram::new(3).expect("histogram"),
        }
    }
}

impl Run {
    fn p(&self, q: f64) -> u64 {
        self.hist.value_at_quantile(q / 100.0)
    }
    fn max(&self) -> u64 {
        self.hist.max()
    }
    fn line(&self) -> String {
        format!(
            "{:.0}/s p50 {} p99 {} max {} errors {}",
            self.rps,
            ms(self.p(50.0)),
            ms(self.p(99.0)),
            ms(self.max()),
            self.errors
        )
    }
}

fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

/// Hands out the time each request is due: at once (closed loop) or on a fixed schedule.
struct Pacer {
    start: Instant,
    end: Instant,
    interval: Option<Duration>,
    issued: AtomicU64,
}

impl Pacer {
    fn new(run_for: Duration, rate: Option<f64>) -> Arc<Pacer> {
        let start = Instant::now();
        Arc::new(Pacer {
            start,
            end: start + run_for,
            interval: rate.map(|r| Duration::from_secs_f64(1.0 / r.max(1.0))),
            issued: AtomicU64::new(0),
        })
    }

    async fn next(&self) -> Option<Instant> {
        let i = self.issued.fetch_add(1, Ordering::Relaxed);
        match self.interval {
            None => {
                let now = Instant::now();
                (now < self.end).then_some(now)
            }
            Some(iv) => {
                let due = self.start + iv.mul_f64(i as f64);
                if due >= self.end {
                    return None;
                }
                tokio::time::sleep_until(due.into()).await;
                Some(due)
            }
        }
    }
}

/// Runs `workers` copies of a request loop: 2 s of warm-up, then `run_for` measured.
async fn drive<F, Fut>(
    workers: usize,
    run_for: Duration,
    rate: Option<f64>,
    job: F,
) -> anyhow::Result<Run>
where
    F: Fn(usize, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let _ = drive_once(workers, Duration::from_secs(2), rate, job.clone()).await?;
    drive_once(workers, run_for, rate, job).await
}

async fn drive_once<F, Fut>(
    workers: usize,
    run_for: Duration,
    rate: Option<f64>,
    job: F,
) -> anyhow::Result<Run>
where
    F: Fn(usize, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let pacer = Pacer::new(run_for, rate);
    let mut tasks = Vec::new();
    for w in 0..workers {
        let pacer = pacer.clone();
        let job = job.clone();
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new(3).expect("histogram");
            let (mut n, mut errors) = (0u64, 0u64);
            while let Some(due) = pacer.next().await {
                let ok = job(w, n).await;
                let _ = hist.record(due.elapsed().as_micros() as u64);
                n += 1;
                if !ok {
                    errors += 1;
                }
            }
            (hist, errors)
        }));
    }
    let mut run = Run::default();
    for t in tasks {
        let (h, e) = t.await?;
        run.hist.add(h)?;
        run.errors += e;
    }
    let elapsed = pacer.start.elapsed().as_secs_f64();
    run.rps = run.hist.len() as f64 / elapsed;
    Ok(run)
}

type Conn = SendRequest<Full<Bytes>>;

async fn http_conn(addr: SocketAddr) -> anyhow::Result<Conn> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn http_get(conn: &mut Conn, path: &str) -> anyhow::Result<(u16, Bytes)> {
    http_send(conn, http::Method::GET, path, None, None).await
}

async fn http_send(
    conn: &mut Conn,
    method: http::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Bytes>,
) -> anyhow::Result<(u16, Bytes)> {
    conn.ready().await?;
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, "localhost");
    if let Some(t) = token {
        req = req.header(http::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    if body.is_some() {
        req = req.header(http::header::CONTENT_TYPE, "application/json");
    }
    let resp = conn
        .send_request(req.body(Full::new(body.unwrap_or_default()))?)
        .await?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// One HTTP/1.1 keep-alive connection per worker, each walking the paths from its own offset;
/// GETs, with a bearer token if given.
async fn http_load(
    addr: SocketAddr,
    paths: Arc<Vec<String>>,
    connections: usize,
    run_for: Duration,
    rate: Option<f64>,
    token: Option<String>,
) -> anyhow::Result<Run> {
    let mut conns = Vec::new();
    for _ in 0..connections {
        conns.push(Arc::new(tokio::sync::Mutex::new(http_conn(addr).await?)));
    }
    let conns = Arc::new(conns);
    let token = Arc::new(token);
    drive(connections, run_for, rate, move |w, n| {
        let (conns, paths, token) = (conns.clone(), paths.clone(), token.clone());
        async move {
            let path = &paths[(w * 7919 + n as usize) % paths.len()];
            let mut c = conns[w].lock().await;
            matches!(
                http_send(&mut c, http::Method::GET, path, token.as_deref(), None).await,
                Ok((200, _))
            )
        }
    })
    .await
}

/// `concurrency` calls in flight over 4 HTTP/2 connections.
async fn grpc_load(
    addr: SocketAddr,
    codes: Arc<Vec<String>>,
    concurrency: usize,
    run_for: Duration,
    token: Option<&str>,
    baseline: bool,
) -> anyhow::Result<Run> {
    let mut channels = Vec::new();
    for _ in 0..4 {
        channels.push(
            Endpoint::from_shared(format!("http://{addr}"))?
                .connect()
                .await?,
        );
    }
    let channels: Arc<Vec<Channel>> = Arc::new(channels);
    let auth: Option<tonic::metadata::MetadataValue<_>> =
        token.map(|t| format!("Bearer {t}").parse()).transpose()?;
    drive(concurrency, run_for, None, move |w, n| {
        let channel = channels[w % channels.len()].clone();
        let codes = codes.clone();
        let auth = auth.clone();
        async move {
            if baseline {
                let mut c = tonic_health::pb::health_client::HealthClient::new(channel);
                c.check(tonic_health::pb::HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .is_ok()
            } else {
                let code = codes[(w * 7919 + n as usize) % codes.len()].clone();
                let mut req = tonic::Request::new(pb::GetItemRequest { code });
                if let Some(a) = auth {
                    req.metadata_mut().insert("authorization", a);
                }
                pb::catalog_service_client::CatalogServiceClient::new(channel)
                    .get_item(req)
                    .await
                    .is_ok()
            }
        }
    })
    .await
}

/// What citizens type: item names, materials, life events; one and two characters included.
const KEYWORDS: &[&str] = &[
    "营业执照",
    "身份证",
    "社会保障卡",
    "户口",
    "出生",
    "结婚",
    "不动产登记",
    "食品经营许可",
    "残疾人",
    "退休",
    "医疗保险",
    "公积金",
    "建设工程",
    "道路运输",
    "药品",
    "个体工商户",
    "证明",
    "变更登记",
    "养老",
    "补贴",
    "危险化学品",
    "林木采伐",
    "渔业",
    "教师资格",
    "护照",
    "准生",
    "低保",
    "证",
];

fn percent_encode(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

async fn search_load(addr: SocketAddr, clients: usize, run_for: Duration) -> anyhow::Result<Run> {
    let paths: Vec<String> = KEYWORDS
        .iter()
        .map(|k| format!("/v1/items?q={}&page_size=20", percent_encode(k)))
        .collect();
    // Every keyword must answer 200 with results before we time anything.
    let mut c = http_conn(addr).await?;
    for (k, p) in KEYWORDS.iter().zip(&paths) {
        let (status, body) = http_get(&mut c, p).await?;
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        let hits = v["items"].as_array().map(Vec::len).unwrap_or(0);
        anyhow::ensure!(status == 200, "search {k}: {status} {v}");
        eprintln!("search {k}: {hits} results on the first page");
    }
    http_load(addr, Arc::new(paths), clients, run_for, None, None).await
}

// ---------------------------------------------------------------------------------------------
// Cases: filing through the gateway vs pgbench, and listing one applicant's cases as the table grows.

/// A valid resident ID (GB 11643) for a sequence number.
fn resident_id(n: u64) -> String {
    let first17 = format!("34052219{:02}0101{:03}", 50 + (n / 1000) % 50, n % 1000);
    yiwang_kit::ids::resident_id_with_check(&first17).expect("17 digits")
}

/// Grows `cases` to `target` rows with other applicants' cases (sealed fields are filler: they
/// are never opened, only the measured applicant's own rows are).
async fn grow_cases(cases_db: &sqlx::PgPool, target: i64) -> anyhow::Result<()> {
    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM cases")
        .fetch_one(cases_db)
        .await?;
    let need = target - have;
    let mut done = 0i64;
    while done < need {
        let n = (need - done).min(200_000);
        sqlx::query(
            "INSERT INTO cases (id, case_number, item_code, item_version, item_name, department, task_type, channel,
                applicant_kind, applicant_name, applicant_id_sealed, applicant_id_hash, applicant_phone_sealed,
                applicant_phone_hash, owner_sub, filed_by, materials, required_materials, state, limit_value, limit_unit,
                created_at, updated_at)
             SELECT gen_random_uuid(), 'bench-' || $1::bigint + i, 'BENCH-ITEM', 1, '食品经营许可证核发', 'BENCH-DEPT', '01',
                'online', 'person', '张三', decode(md5(i::text), 'hex'), decode(md5(i::text), 'hex'),
                decode(md5(i::text), 'hex'), decode(md5(i::text), 'hex'), 'bench-other-' || (i % 200000), 'bench',
                '{}', '{}', 'received', 5, 'working_days', now() - (i || ' seconds')::interval, now()
             FROM generate_series(1, $2::bigint) AS i",
        )
        .bind(have + done)
        .bind(n)
        .execute(cases_db)
        .await?;
        done += n;
    }
    sqlx::query("ANALYZE cases").execute(cases_db).await?;
    Ok(())
}

async fn pgbench_tps(db_url_db: &str, seconds: u64, clients: usize) -> anyhow::Result<f64> {
    let script = std::env::temp_dir().join("yiwang-bench-filing.sql");
    // The same durable work as a filing: a case row (with sealed fields), its history row and
    // an outbox row in one transaction.
    std::fs::write(
        &script,
        "BEGIN;\n\
         INSERT INTO bench_cases (id, case_number, item_code, department, channel, applicant_name, id_sealed, phone_sealed, owner_sub, materials, state, created_at) \
           VALUES (gen_random_uuid(), 'pgb-' || md5(random()::text), '11340522MB0000001400010100001', '340522-SCJGJ', 'online', '张三丰', \
                   decode(md5(random()::text) || md5(random()::text), 'hex'), decode(md5(random()::text), 'hex'), 'citizen-1', '{营业执照}', 'received', now());\n\
         INSERT INTO bench_history (case_id, actor, action, to_state, code) VALUES (gen_random_uuid(), 'citizen-1', 'file', 'received', 1);\n\
         INSERT INTO bench_outbox (event_id, topic, payload) VALUES (gen_random_uuid(), 'cases.case.filed', '{\"case_number\": \"x\", \"item_code\": \"y\", \"department\": \"z\"}');\n\
         COMMIT;\n",
    )?;
    let out = Command::new("pgbench")
        .args([
            "-n",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
            &seconds.to_string(),
            "-f",
        ])
        .arg(&script)
        .arg(db_url_db)
        .output()
        .context("running pgbench (Debian package postgresql-client)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let tps = text
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse::<f64>().ok())
        .with_context(|| {
            format!(
                "pgbench said: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    Ok(tps)
}

async fn cases_suite(
    cfg: &yiwang_kit::Config,
    gateway: SocketAddr,
    catalog_db: &sqlx::PgPool,
    cli: &Cli,
    report: &mut Vec<String>,
) -> anyhow::Result<()> {
    let secs = Duration::from_secs(cli.seconds);
    let cases_url = cfg.service_database_url("cases");
    let cases_db = yiwang_kit::db::lazy_pool(&cases_url, 4)?;
    // An item to file against (published, promised limit) and its department.
    let item: String = sqlx::query_scalar(
        "SELECT code FROM items WHERE status = 'published' AND high_frequency ORDER BY code LIMIT 1",
    )
    .fetch_one(catalog_db)
    .await?;
    let application = |n: u64| {
        Bytes::from(
            serde_json::json!({
                "item_code": item, "channel": "online",
                "applicant": {"kind": "person", "name": "张三丰", "id_number": resident_id(n), "phone": "13812345678"},
                "materials": [],
            })
            .to_string(),
        )
    };

    // Listing one applicant's cases: 20 of their own among 10,000, then among 1,000,000.
    let owner = yiwang_kit::auth::mint_token(
        SECRET,
        "bench-owner",
        "",
        &["citizen".to_string()],
        None,
        3600,
    )?;
    let mut c = http_conn(gateway).await?;
    for n in 0..20 {
        let (st, body) = http_send(
            &mut c,
            http::Method::POST,
            "/v1/cases",
            Some(&owner),
            Some(application(n)),
        )
        .await?;
        anyhow::ensure!(
            st == 201,
            "filing answered {st}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let list = |label: &'static str| {
        let owner = owner.clone();
        async move {
            let run = http_load(
                gateway,
                Arc::new(vec!["/v1/cases?page_size=20".to_string()]),
                4,
                secs,
                None,
                Some(owner),
            )
            .await?;
            eprintln!("list own cases among {label}: {}", run.line());
            anyhow::Ok(run)
        }
    };
    grow_cases(&cases_db, 10_000).await?;
    let small = list("10,000").await?;

    // Filing through the gateway (64 citizens, durable: case, transition, outbox) vs pgbench.
    sqlx::query("CREATE TABLE IF NOT EXISTS bench_cases (id uuid PRIMARY KEY, case_number text UNIQUE, item_code text, department text,
        channel text, applicant_name text, id_sealed bytea, phone_sealed bytea, owner_sub text, materials text[], state text, created_at timestamptz)")
        .execute(&cases_db).await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS bench_history (id bigserial PRIMARY KEY, case_id uuid, actor text, action text,
        to_state text, code int, at timestamptz DEFAULT now())")
        .execute(&cases_db).await?;
    sqlx::query("CREATE INDEX IF NOT EXISTS bench_history_by_case ON bench_history (case_id, id)")
        .execute(&cases_db)
        .await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS bench_outbox (id bigserial PRIMARY KEY, event_id uuid UNIQUE, topic text, payload jsonb,
        created_at timestamptz DEFAULT now(), published_at timestamptz)")
        .execute(&cases_db).await?;
    let pg = pgbench_tps(&cases_url, cli.seconds, 16).await?;
    eprintln!("pgbench three-row insert transaction: {pg:.0} tps");
    let tokens: Arc<Vec<String>> = Arc::new(
        (0..cli.connections)
            .map(|i| {
                yiwang_kit::auth::mint_token(
                    SECRET,
                    &format!("bench-citizen-{i}"),
                    "",
                    &["citizen".to_string()],
                    None,
                    3600,
                )
            })
            .collect::<anyhow::Result<_>>()?,
    );
    let bodies: Arc<Vec<Bytes>> = Arc::new((0..1000).map(application).collect());
    let mut conns = Vec::new();
    for _ in 0..cli.connections {
        conns.push(Arc::new(tokio::sync::Mutex::new(http_conn(gateway).await?)));
    }
    let conns = Arc::new(conns);
    let filing = drive(cli.connections, secs, None, move |w, n| {
        let (conns, tokens, bodies) = (conns.clone(), tokens.clone(), bodies.clone());
        async move {
            let mut c = conns[w].lock().await;
            let body = bodies[(w * 31 + n as usize) % bodies.len()].clone();
            matches!(
                http_send(
                    &mut c,
                    http::Method::POST,
                    "/v1/cases",
                    Some(&tokens[w]),
                    Some(body)
                )
                .await,
                Ok((201, _))
            )
        }
    })
    .await?;
    eprintln!("POST /v1/cases: {}", filing.line());
    report.push(format!(
        "| REST `POST /v1/cases` through the gateway, {c} citizens at once (case number, case + transition + outbox rows, catalogue check) | {f:.0} filings/s (p50 {p50}, p99 {p99}, {e} errors) | pgbench, 16 clients, the equivalent three-row insert transaction (case with sealed fields, history, outbox): {pg:.0} tps | **{r:.0} %** of pgbench (target ≥ 60 %) |",
        c = cli.connections,
        f = filing.rps,
        p50 = ms(filing.p(50.0)),
        p99 = ms(filing.p(99.0)),
        e = filing.errors,
        r = 100.0 * filing.rps / pg,
    ));

    grow_cases(&cases_db, 1_000_000).await?;
    let large = list("1,000,000").await?;
    report.push(format!(
        "| REST `GET /v1/cases` (one applicant's 20 cases), 4 clients | among 10,000 cases: p99 {a}; among 1,000,000: p99 **{b}** | | **{r:.2}×** (target ≤ 2×) |",
        a = ms(small.p(99.0)),
        b = ms(large.p(99.0)),
        r = large.p(99.0) as f64 / small.p(99.0).max(1) as f64,
    ));
    cases_db.close().await;
    Ok(())
}
