//! The insight service (数据资源局的视图): the bureau's view across the five services. It owns
//! no business data: it reads each service through its statistics API as the bureau's system
//! ([`sources`]), puts the departments side by side ([`scorecard`]) and writes the half-year
//! work report from live data ([`report`]: its figures, paragraphs and charts; [`render`]: the
//! HTML document; [`pdf`]: the PDF), kept per period for ten minutes ([`cache`]); keeps the
//! register of window staff ([`staff`]) and assesses them and their windows monthly
//! ([`assessment`], [`award`], [`quality_check`]); served over gRPC ([`api`]).

pub mod api;
pub mod assessment;
pub mod award;
pub mod cache;
pub mod demo;
pub mod pdf;
pub mod period;
pub mod quality_check;
pub mod render;
pub mod report;
pub mod scorecard;
pub mod sources;
pub mod staff;

use tokio::net::TcpListener;
use yiwang_kit::grpc::GrpcServer;
use yiwang_kit::{CancellationToken, Config, JwtVerifier, db};
use yiwang_proto::insight::v1::insight_service_server::InsightServiceServer;

pub const SERVICE: &str = "insight";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

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
    let sources = sources::Sources::new(&cfg)?;
    if sources.token.is_none() {
        tracing::warn!(
            "neither YIWANG_SERVICE_TOKEN nor YIWANG_JWT_SECRET is set: the services will refuse the insight service's calls"
        );
    }
    let server = GrpcServer::new(SERVICE, JwtVerifier::from_config(&cfg.jwt)?).add_service(
        InsightServiceServer::new(api::InsightApi {
            pool: pool.clone(),
            sources,
        }),
    );
    let readiness = server.readiness();
    let background = shutdown.clone();
    tokio::spawn(async move {
        let Some(_redis) = yiwang_kit::grpc::retry_until_ready(SERVICE, &background, || async {
            migrate(&cfg).await?;
            yiwang_kit::redis::Redis::connect(&cfg.redis_url, &cfg.redis_prefix).await
        })
        .await
        else {
            return;
        };
        readiness.set(true).await;
        tracing::info!("insight ready");
    });
    server.serve(listener, shutdown).await
}
