//! The security alerts service (态势感知): the situational-awareness platform's events arrive in
//! batches over a gRPC stream (or one REST batch) and are stored idempotently in monthly
//! partitions ([`ingest`]); they fold into incidents by fingerprint, attributed to their owning
//! unit by the asset register ([`incident`]); served over gRPC ([`api`]).

pub mod api;
pub mod demo;
pub mod event;
pub mod incident;
pub mod ingest;
pub mod notice;
pub mod stats;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::transport::Channel;
use yiwang_kit::grpc::GrpcServer;
use yiwang_kit::{CancellationToken, Config, JwtVerifier, db, outbox};
use yiwang_proto::alerts::v1::alerts_service_server::AlertsServiceServer;
use yiwang_proto::cases::v1::cases_service_client::CasesServiceClient;

pub const SERVICE: &str = "alerts";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A REST batch of 10,000 events with their raw records is several megabytes.
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Creates the service's database if missing and applies its migrations.
pub async fn migrate(cfg: &Config) -> anyhow::Result<()> {
    let pool = db::migrate_service(cfg, SERVICE, &MIGRATOR).await?;
    pool.close().await;
    Ok(())
}

/// Runs the service on `listener` until `shutdown`. Health is NOT_SERVING until the database
/// is migrated and Redis reachable.
pub async fn serve(
    cfg: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    yiwang_kit::grpc::register_descriptors(yiwang_proto::FILE_DESCRIPTOR_SET);
    let pool = db::lazy_pool(
        &cfg.service_database_url(SERVICE),
        cfg.database_max_connections,
    )?;
    for (i, allowed) in cfg.alerts.allowlist.iter().enumerate() {
        yiwang_kit::net::parse_cidr(allowed)
            .map_err(|e| anyhow::anyhow!("YIWANG_ALERTS_ALLOWLIST entry {}: {e}", i + 1))?;
    }
    let partitions = Arc::new(ingest::Partitions::new(cfg.alerts.retention_months));
    let cases = Channel::from_shared(cfg.cases_url.clone())?
        .connect_timeout(Duration::from_secs(2))
        .connect_lazy();
    let reads = yiwang_kit::db::Reads::new(&cfg, SERVICE, pool.clone())?;
    let server = GrpcServer::new(SERVICE, JwtVerifier::from_config(&cfg.jwt)?)
        .track_writes(reads.clone())
        .add_service(
            AlertsServiceServer::new(api::AlertsApi {
                pool: pool.clone(),
                reads: reads.clone(),
                partitions: partitions.clone(),
                cases: CasesServiceClient::new(cases),
                settings: cfg.alerts.clone(),
            })
            .max_decoding_message_size(MAX_MESSAGE_BYTES),
        );
    let readiness = server.readiness();

    let background = shutdown.clone();
    tokio::spawn(async move {
        let Some(redis) = yiwang_kit::grpc::retry_until_ready(SERVICE, &background, || async {
            migrate(&cfg).await?;
            yiwang_kit::redis::Redis::connect(&cfg.redis_url, &cfg.redis_prefix).await
        })
        .await
        else {
            return;
        };
        reads.set_redis(redis.clone());
        tokio::spawn(outbox::relay(pool.clone(), redis, background.clone()));
        tokio::spawn(enforce_retention(
            pool.clone(),
            partitions,
            background.clone(),
        ));
        tokio::spawn(fold_continuously(
            pool.clone(),
            chrono::Duration::seconds(cfg.alerts.window_secs.min(i64::MAX as u64 / 2) as i64),
            background.clone(),
        ));
        tokio::spawn(escalate_overdue(
            pool,
            Duration::from_secs(cfg.overdue_sweep_secs),
            background,
        ));
        readiness.set(true).await;
        tracing::info!("alerts ready");
    });

    server.serve(listener, shutdown).await
}

/// Drops whole monthly partitions of raw events once they fall out of the retention (hourly;
/// replicas racing here drop the same tables with IF EXISTS).
async fn enforce_retention(
    pool: sqlx::PgPool,
    partitions: Arc<ingest::Partitions>,
    shutdown: CancellationToken,
) {
    yiwang_kit::every(Duration::from_secs(3600), shutdown, || async {
        match partitions.drop_expired(&pool, chrono::Utc::now()).await {
            Ok(dropped) if dropped.is_empty() => {}
            Ok(dropped) => {
                tracing::info!(?dropped, "alerts: event partitions past retention dropped")
            }
            Err(e) => tracing::warn!(error = %e, "alerts: retention pass failed"),
        }
    })
    .await
}

/// Escalates remediation notices as they pass their deadline unreported (each once).
async fn escalate_overdue(pool: sqlx::PgPool, every: Duration, shutdown: CancellationToken) {
    yiwang_kit::sweep(
        SERVICE,
        "notice_escalation",
        "overdue notices escalated",
        every,
        shutdown,
        || notice::escalate_overdue(&pool),
    )
    .await
}

/// Events per fold (whole batches): a busy feed is folded many batches at a time (few
/// statements per event), and one fold holds a bounded number of events in memory.
const FOLD_EVENTS: i64 = 50_000;

/// Folds queued events into incidents as they arrive: at once while there is a backlog, every
/// 50 ms otherwise. One replica folds at a time; the others find the lock taken and wait.
async fn fold_continuously(
    pool: sqlx::PgPool,
    window: chrono::Duration,
    shutdown: CancellationToken,
) {
    loop {
        let pause = match ingest::fold(&pool, FOLD_EVENTS, window).await {
            Ok(f) if f.events > 0 => {
                metrics::counter!("yiwang_alerts_events_folded_total").increment(f.events as u64);
                metrics::counter!("yiwang_alerts_incidents_opened_total")
                    .increment(f.incidents_opened as u64);
                continue;
            }
            Ok(f) if f.busy => Duration::from_millis(500),
            Ok(_) => Duration::from_millis(50),
            Err(e) => {
                tracing::warn!(error = %e, "alerts: folding events into incidents failed; retrying");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}
