//! `--suite supervision`: how long a 双随机 draw takes over 100,000 entities and 1,000
//! inspectors. The supervision service runs as its own process (`yiwang serve supervision`); the
//! registers are loaded straight into its database (UNNEST batches); the measured call is the
//! `DrawPlan` gRPC method end to end (reading the pools and exclusions, the draw, storing the
//! published inputs, the picks and the pairs, in one transaction). The pure algorithm is also
//! timed in-process, to show how the time splits.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use yiwang_proto::supervision::v1 as pb;
use yiwang_proto::supervision::v1::supervision_service_client::SupervisionServiceClient;

const DEPT: &str = "340522-SCJGJ";

pub async fn run(
    cli: &crate::Cli,
    yiwang: &std::path::Path,
    logs: &std::path::Path,
) -> anyhow::Result<()> {
    let entities = cli.entities;
    let inspectors = cli.inspectors;
    let mut cfg = yiwang_kit::Config::from_env()?;
    cfg.database_prefix = "yiwang_bench".into();
    cfg.redis_prefix = "yiwang-bench".into();
    yiwang_kit::db::drop_database(&cfg.database_url, &cfg.database_name("supervision")).await?;
    yiwang_supervision::migrate(&cfg).await?;
    let db = yiwang_kit::db::lazy_pool(&cfg.service_database_url("supervision"), 4)?;

    // Registers: one item claimed, `entities` legal persons, `inspectors` active inspectors,
    // 1,000 recorded relations.
    let t = Instant::now();
    sqlx::query("INSERT INTO items (code, name, admin_type, legal_basis, department, created_by)
                 SELECT '340522' || lpad(n::text, 8, '0'), '对食品经营活动的监督检查' || n, '0', '《食品安全法》', $1, 'bench'
                 FROM generate_series(1, 3) n")
        .bind(DEPT)
        .execute(&db)
        .await?;
    sqlx::query("INSERT INTO claims (item_code, department, claimed_by) SELECT code, department, 'bench' FROM items")
        .execute(&db)
        .await?;
    let chunk = 10_000usize;
    let mut done = 0usize;
    while done < entities {
        let n = chunk.min(entities - done);
        let names: Vec<String> = (done..done + n)
            .map(|i| format!("含山县测试{i}有限公司"))
            .collect();
        // Unique placeholder codes (the register's USCC uniqueness is what matters here).
        let usccs: Vec<String> = (done..done + n).map(|i| format!("B{i:017}")).collect();
        sqlx::query(
            "INSERT INTO entities (name, kind, uscc, industry, region, risk_level)
             SELECT n, 'legal_person', u, '餐饮服务', '340522', 'medium' FROM UNNEST($1::text[], $2::text[]) AS t(n, u)",
        )
        .bind(&names)
        .bind(&usccs)
        .execute(&db)
        .await?;
        done += n;
    }
    sqlx::query(
        "INSERT INTO inspectors (name, department, certificate_number, post_type)
         SELECT '检查员' || n, $1, 'B' || lpad(n::text, 10, '0'), 'enforcement' FROM generate_series(1, $2) n",
    )
    .bind(DEPT)
    .bind(inspectors as i64)
    .execute(&db)
    .await?;
    sqlx::query(
        "INSERT INTO relations (inspector_id, entity_id, relation, created_by)
         SELECT i.id, e.id, '亲属', 'bench' FROM (SELECT id, row_number() OVER (ORDER BY id) r FROM inspectors) i
         JOIN (SELECT id, row_number() OVER (ORDER BY id) r FROM entities) e ON e.r = i.r * 7",
    )
    .execute(&db)
    .await?;
    sqlx::query("ANALYZE").execute(&db).await?;
    eprintln!(
        "supervision: {entities} entities, {inspectors} inspectors loaded in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let addr = crate::free_addr()?;
    let log = std::fs::File::create(logs.join("supervision.log"))?;
    let mut child = Command::new(yiwang)
        .args(["serve", "supervision"])
        .env("DATABASE_URL", &cfg.database_url)
        .env("REDIS_URL", &cfg.redis_url)
        .env("YIWANG_DB_PREFIX", &cfg.database_prefix)
        .env("YIWANG_REDIS_PREFIX", &cfg.redis_prefix)
        .env("YIWANG_JWT_SECRET", crate::SECRET)
        .env("YIWANG_SUPERVISION_ADDR", addr.to_string())
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdout(log.try_clone()?)
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .context("spawning supervision")?;
    let result = measure(&db, addr).await;
    let _ = child.kill();
    let _ = child.wait();
    let report = result?;
    println!("| Measurement | Yiwang | Result |");
    println!("|---|---|---|");
    for line in report {
        println!("{line}");
    }
    Ok(())
}

async fn measure(db: &sqlx::PgPool, addr: std::net::SocketAddr) -> anyhow::Result<Vec<String>> {
    crate::wait_ready(addr, "/readyz").await?;
    let token = yiwang_kit::auth::mint_token(
        crate::SECRET,
        "bench-officer",
        "",
        &["officer".to_string()],
        Some(DEPT),
        3600,
    )?;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let mut client =
        SupervisionServiceClient::new(channel).max_decoding_message_size(64 * 1024 * 1024);
    let auth: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse()?;
    let items: Vec<String> = sqlx::query_scalar("SELECT code FROM items ORDER BY code")
        .fetch_all(db)
        .await?;
    let mut report = Vec::new();
    // Each (sample, item): a fresh plan over its own item (so no previous-round exclusions).
    for (k, (percent, count)) in [(0u32, 1_000u32), (5, 0), (10, 0)].into_iter().enumerate() {
        let mut req = tonic::Request::new(pb::CreatePlanRequest {
            name: format!("bench {k}"),
            department: DEPT.into(),
            item_codes: vec![items[k].clone()],
            entity_filter: None,
            sample_percent: percent,
            sample_count: count,
            inspector_filter: None,
            inspectors_per_target: 2,
        });
        req.metadata_mut().insert("authorization", auth.clone());
        let plan = client.create_plan(req).await?.into_inner();
        let mut req = tonic::Request::new(pb::DrawPlanRequest {
            id: plan.id.clone(),
            seed: String::new(),
        });
        req.metadata_mut().insert("authorization", auth.clone());
        req.set_timeout(Duration::from_secs(120));
        let t = Instant::now();
        let drawn = client.draw_plan(req).await?.into_inner();
        let grpc = t.elapsed();
        // The pure algorithm over the same published inputs, in this process.
        let mut req = tonic::Request::new(pb::GetPlanRequest {
            id: plan.id.clone(),
        });
        req.metadata_mut().insert("authorization", auth.clone());
        let doc = client.get_draw_document(req).await?.into_inner();
        let inputs = yiwang_supervision::plans::inputs_from_pb(doc);
        let t = Instant::now();
        let picks = yiwang_supervision::draw::draw(&inputs).map_err(|e| anyhow::anyhow!("{e}"))?;
        let pure = t.elapsed();
        anyhow::ensure!(
            picks
                .iter()
                .map(yiwang_supervision::plans::pick_to_pb)
                .collect::<Vec<_>>()
                == drawn.picks,
            "the recomputed picks differ from the service's"
        );
        let line = format!(
            "| `DrawPlan` gRPC over {} entities and {} inspectors ({} exclusions), {} targets × 2 inspectors | **{:.0} ms** end to end (pure algorithm {:.1} ms) | published seed {}…; re-verified |",
            drawn.candidate_count,
            drawn.inspector_count,
            drawn.exclusion_count,
            drawn.picks.len(),
            grpc.as_secs_f64() * 1000.0,
            pure.as_secs_f64() * 1000.0,
            &drawn.seed[..8],
        );
        eprintln!("{line}");
        report.push(line);
    }
    Ok(report)
}
