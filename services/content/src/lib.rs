//! The website content service (政府网站与政务新媒体): sites and columns ([`site`]), posts under
//! the three reviews ([`post`]), the 错敏词 dictionary ([`dictionary`]) and its one-pass scanner
//! ([`words`], pure); served over gRPC ([`api`]) and through the gateway as REST.

pub mod api;
pub mod dictionary;
pub mod post;
pub mod site;
pub mod words;

use std::sync::Arc;

use tokio::net::TcpListener;
use yiwang_kit::grpc::GrpcServer;
use yiwang_kit::{CancellationToken, Config, JwtVerifier, db, outbox};
use yiwang_proto::content::v1::content_service_server::ContentServiceServer;

pub const SERVICE: &str = "content";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A post's body may be half a megabyte of HTML.
const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Creates the service's database if missing and applies its migrations.
pub async fn migrate(cfg: &Config) -> anyhow::Result<()> {
    db::ensure_database(&cfg.database_url, &cfg.database_name(SERVICE)).await?;
    let pool = db::lazy_pool(&cfg.service_database_url(SERVICE), 2)?;
    MIGRATOR.run(&pool).await?;
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
    let server = GrpcServer::new(SERVICE, JwtVerifier::from_config(&cfg.jwt)?).add_service(
        ContentServiceServer::new(api::ContentApi {
            pool: pool.clone(),
            dictionary: Arc::new(dictionary::Dictionary::new(pool.clone())),
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
        tokio::spawn(outbox::relay(pool, redis, background));
        readiness.set(true).await;
        tracing::info!("content ready");
    });
    server.serve(listener, shutdown).await
}
