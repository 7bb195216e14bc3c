//! The service-item catalogue (政务服务事项库): org units, versioned service items with the
//! national model's fields, bundles (一件事一次办), Chinese keyword search and statistics, served
//! over gRPC (`yiwang.catalog.v1.CatalogService`).

pub mod api;
pub mod demo;
pub mod hall;
pub mod model;
pub mod seed;
pub mod store;
pub mod validate;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use yiwang_kit::grpc::GrpcServer;
use yiwang_kit::nearcache::NearCache;
use yiwang_kit::{CancellationToken, Config, JwtVerifier, db, outbox};

use crate::store::ITEM_CHANGED;
use yiwang_proto::catalog::v1::catalog_service_server::CatalogServiceServer;

pub const SERVICE: &str = "catalog";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Creates the catalogue's database if missing and applies its migrations.
pub async fn migrate(cfg: &Config) -> anyhow::Result<()> {
    let pool = db::migrate_service(cfg, SERVICE, &MIGRATOR).await?;
    pool.close().await;
    Ok(())
}

/// Runs the catalogue on `listener` until `shutdown`. The server answers at once (health
/// NOT_SERVING); it turns SERVING when its database is migrated and Redis is reachable.
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
    let verifier = JwtVerifier::from_config(&cfg.jwt)?;
    // Cached items live at most a minute, and are dropped at once when any replica changes them.
    let items = Arc::new(NearCache::new(
        cfg.near_cache_bytes,
        Duration::from_secs(60),
    ));
    let reads = yiwang_kit::db::Reads::new(&cfg, SERVICE, pool.clone())?;
    let server = GrpcServer::new(SERVICE, verifier)
        .track_writes(reads.clone())
        .add_service(
            CatalogServiceServer::new(api::CatalogApi {
                pool: pool.clone(),
                reads: reads.clone(),
                items: items.clone(),
            })
            .max_decoding_message_size(8 * 1024 * 1024),
        );
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
        tokio::spawn(outbox::relay(pool, redis.clone(), background.clone()));
        tokio::spawn(follow_changes(redis, items, background.clone()));
        readiness.set(true).await;
        tracing::info!("catalog ready");
    });

    server.serve(listener, shutdown).await
}

/// Drops near-cache entries of items other replicas changed (and our own, a second time).
async fn follow_changes(
    redis: yiwang_kit::redis::Redis,
    items: Arc<NearCache<api::CachedItem>>,
    shutdown: CancellationToken,
) {
    let on_gap = items.clone();
    outbox::tail(
        redis,
        vec![ITEM_CHANGED.to_string()],
        shutdown,
        |event| {
            if let Some(code) = event.payload.get("code").and_then(|c| c.as_str()) {
                items.invalidate(code);
            }
            std::future::ready(())
        },
        move || on_gap.clear(),
    )
    .await;
}
