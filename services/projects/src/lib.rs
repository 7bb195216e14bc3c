//! The IT-project review service (政务信息化项目评审): department proposals with budget lines in
//! fen, expert panels and reviews, the decision (approved, cut 核减 or rejected), procurement,
//! construction under a third-party supervisor (监理), acceptance and performance evaluation;
//! the annual plan and the saving-rate statistics. Served over gRPC ([`api`]).

pub mod api;
pub mod cidr;
pub mod demo;
pub mod model;
pub mod money;
pub mod stats;
pub mod store;

use std::time::Duration;

use tokio::net::TcpListener;
use tonic::transport::Channel;
use yiwang_kit::grpc::GrpcServer;
use yiwang_kit::{CancellationToken, Config, JwtVerifier, db, outbox};
use yiwang_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use yiwang_proto::projects::v1::projects_service_server::ProjectsServiceServer;

pub const SERVICE: &str = "projects";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Creates the service's database (`<prefix>_projects`) if missing and applies its migrations.
pub async fn migrate(cfg: &Config) -> anyhow::Result<()> {
    let pool = db::migrate_service(cfg, SERVICE, &MIGRATOR).await?;
    pool.close().await;
    Ok(())
}

/// Runs the service on `listener` until `shutdown`. Health is NOT_SERVING until the database
/// is migrated and Redis (for the outbox relay) reachable.
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
    let catalog = Channel::from_shared(cfg.catalog_url.clone())?
        .connect_timeout(Duration::from_secs(2))
        .connect_lazy();
    let reads = yiwang_kit::db::Reads::new(&cfg, SERVICE, pool.clone())?;
    let server = GrpcServer::new(SERVICE, JwtVerifier::from_config(&cfg.jwt)?)
        .track_writes(reads.clone())
        .add_service(ProjectsServiceServer::new(api::ProjectsApi {
            pool: pool.clone(),
            reads: reads.clone(),
            catalog: CatalogServiceClient::new(catalog),
        }));
    let readiness = server.readiness();
    let background = shutdown.clone();
    tokio::spawn(async move {
        // Retry until the dependencies are there (containers may start in any order).
        let Some(redis) = yiwang_kit::grpc::retry_until_ready(SERVICE, &background, || async {
            migrate(&cfg).await?;
            yiwang_kit::redis::Redis::connect(&cfg.redis_url, &cfg.redis_prefix).await
        })
        .await
        else {
            return;
        };
        reads.set_redis(redis.clone());
        tokio::spawn(outbox::relay(pool, redis, background));
        readiness.set(true).await;
        tracing::info!("projects ready");
    });
    server.serve(listener, shutdown).await
}
