//! The supervision service (互联网+监管): the supervision item catalogue and claims, inspection
//! implementation lists ([`catalog`]), the registers of entities and inspectors ([`registers`]),
//! 双随机一公开 plans with a reproducible draw ([`plans`], the pure algorithm in [`draw`]),
//! inspection records ([`inspections`]), follow-up tasks from approved licences and oversight
//! notices for overdue cases, both from case events ([`events`]), publication and statistics.
//! Served over gRPC ([`api`]).

pub mod access;
pub mod api;
pub mod audit;
pub mod catalog;
pub mod demo;
pub mod draw;
pub mod events;
pub mod inspections;
pub mod plans;
pub mod publications;
pub mod registers;
pub mod request_fields;
pub mod stats;

use tokio::net::TcpListener;
use yiwang_kit::crypto::DataKey;
use yiwang_kit::grpc::GrpcServer;
use yiwang_kit::{CancellationToken, Config, JwtVerifier, db, outbox};
use yiwang_proto::supervision::v1::supervision_service_server::SupervisionServiceServer;

pub const SERVICE: &str = "supervision";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Creates the service's database if missing and applies its migrations.
pub async fn migrate(cfg: &Config) -> anyhow::Result<()> {
    let pool = db::migrate_service(cfg, SERVICE, &MIGRATOR).await?;
    pool.close().await;
    Ok(())
}

/// Runs the service on `listener` until `shutdown`. Health is NOT_SERVING until the database
/// is migrated and Redis reachable; then the outbox relay and the case-event consumer start.
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
    let key = DataKey::from_config(&cfg)?;
    let reads = yiwang_kit::db::Reads::new(&cfg, SERVICE, pool.clone())?;
    let server = GrpcServer::new(SERVICE, JwtVerifier::from_config(&cfg.jwt)?)
        .track_writes(reads.clone())
        .add_service(
            SupervisionServiceServer::new(api::SupervisionApi {
                pool: pool.clone(),
                reads: reads.clone(),
                key,
            })
            // A draw document of a large pool (100,000 entities) is a few MB.
            .max_decoding_message_size(32 * 1024 * 1024)
            .max_encoding_message_size(32 * 1024 * 1024),
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
        tokio::spawn(outbox::relay(
            pool.clone(),
            redis.clone(),
            background.clone(),
        ));
        tokio::spawn(events::consume(pool, redis, background));
        readiness.set(true).await;
        tracing::info!("supervision ready");
    });

    server.serve(listener, shutdown).await
}
