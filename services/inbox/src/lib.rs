//! The inbox service (消息中心): every service's events become notifications in the inboxes of
//! the people and units they concern ([`notify`]), exactly once each ([`store::deliver`]);
//! read, marked and streamed live over gRPC ([`api`]), which the gateway serves to the app as
//! Server-Sent Events.

pub mod api;
pub mod cursor;
pub mod notify;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::broadcast;
use yiwang_kit::grpc::GrpcServer;
use yiwang_kit::outbox::{self, Consumer};
use yiwang_kit::redis::Redis;
use yiwang_kit::{CancellationToken, Config, JwtVerifier, db};
use yiwang_proto::inbox::v1::inbox_service_server::InboxServiceServer;

pub const SERVICE: &str = "inbox";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Creates the service's database if missing and applies its migrations.
pub async fn migrate(cfg: &Config) -> anyhow::Result<()> {
    let pool = db::migrate_service(cfg, SERVICE, &MIGRATOR).await?;
    pool.close().await;
    Ok(())
}

/// Runs the service on `listener` until `shutdown`. Health is NOT_SERVING until the database
/// is migrated and Redis reachable; then the event consumer, the outbox relay and the wake-up
/// tail start.
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
    let (wakeups, _) = broadcast::channel::<Arc<str>>(4096);
    let reads = yiwang_kit::db::Reads::new(&cfg, SERVICE, pool.clone())?;
    let server = GrpcServer::new(SERVICE, JwtVerifier::from_config(&cfg.jwt)?)
        .track_writes(reads.clone())
        .add_service(InboxServiceServer::new(api::InboxApi {
            pool: pool.clone(),
            reads: reads.clone(),
            wakeups: wakeups.clone(),
            heartbeat: Duration::from_secs(cfg.inbox_heartbeat_secs),
            shutdown: shutdown.clone(),
        }));
    let readiness = server.readiness();

    let background = shutdown.clone();
    tokio::spawn(async move {
        let Some(redis) = yiwang_kit::grpc::retry_until_ready(SERVICE, &background, || async {
            migrate(&cfg).await?;
            Redis::connect(&cfg.redis_url, &cfg.redis_prefix).await
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
        tokio::spawn(follow_created(redis.clone(), wakeups, background.clone()));
        tokio::spawn(consume(pool, redis, background));
        readiness.set(true).await;
        tracing::info!("inbox ready");
    });

    server.serve(listener, shutdown).await
}

/// Delivers every followed event into its inboxes (one consumer group for all replicas; an
/// event is acknowledged once its notifications are committed).
pub async fn consume(pool: sqlx::PgPool, redis: Redis, shutdown: CancellationToken) {
    Consumer {
        redis,
        group: SERVICE.to_string(),
        name: outbox::consumer_name(SERVICE),
        topics: notify::TOPICS.iter().map(|t| t.to_string()).collect(),
        // Events from before the inbox's first start are delivered too.
        from_beginning: true,
    }
    .run(shutdown, |event| {
        let pool = pool.clone();
        async move { store::deliver(&pool, &event).await.map(|_| ()) }
    })
    .await;
}

/// Every replica hears of every delivery (whichever replica made it) and wakes the open streams
/// of the recipients named; after a gap in hearing, all of them look again.
async fn follow_created(
    redis: Redis,
    wakeups: broadcast::Sender<Arc<str>>,
    shutdown: CancellationToken,
) {
    let gap = wakeups.clone();
    outbox::tail(
        redis,
        vec![store::CREATED.to_string()],
        shutdown,
        |event| {
            let wakeups = wakeups.clone();
            async move {
                for key in event.payload["recipients"].as_array().into_iter().flatten() {
                    if let Some(key) = key.as_str() {
                        let _ = wakeups.send(Arc::from(key));
                    }
                }
            }
        },
        move || {
            let _ = gap.send(Arc::from("*"));
        },
    )
    .await;
}
