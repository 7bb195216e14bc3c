//! The website content service (政府网站与政务新媒体): sites and columns ([`site`]), posts under
//! the three reviews ([`post`]), the 错敏词 dictionary ([`dictionary`]), its one-pass scanner
//! ([`words`], pure) and its background rounds over what is published ([`dictionary_scan`]),
//! the 错链/死链 checker ([`links`]), new-media accounts ([`media`]), citizen messages handed
//! to the cases service as tickets ([`message`]) and the figures ([`stats`]); served over gRPC
//! ([`api`]) and through the gateway as REST.

pub mod api;
pub mod demo;
pub mod dictionary;
pub mod dictionary_scan;
pub mod links;
pub mod media;
pub mod message;
pub mod post;
pub mod site;
pub mod stats;
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
    let key = yiwang_kit::crypto::DataKey::from_config(&cfg)?;
    let cases = message::Cases {
        client: yiwang_proto::cases::v1::cases_service_client::CasesServiceClient::new(
            tonic::transport::Channel::from_shared(cfg.cases_url.clone())?
                .connect_timeout(std::time::Duration::from_secs(2))
                .connect_lazy(),
        ),
        token: yiwang_kit::auth::service_token(&cfg, "content-service", "政府网站"),
    };
    if cases.token.is_none() {
        tracing::warn!(
            "neither YIWANG_SERVICE_TOKEN nor YIWANG_JWT_SECRET is set: citizen messages wait unforwarded"
        );
    }
    let dictionary = Arc::new(dictionary::Dictionary::new(pool.clone()));
    let checker = links::Checker::new(cfg.links.clone())?;
    let reads = yiwang_kit::db::Reads::new(&cfg, SERVICE, pool.clone())?;
    let server = GrpcServer::new(SERVICE, JwtVerifier::from_config(&cfg.jwt)?)
        .track_writes(reads.clone())
        .add_service(
            ContentServiceServer::new(api::ContentApi {
                pool: pool.clone(),
                reads: reads.clone(),
                dictionary: dictionary.clone(),
                key: key.clone(),
                cases: cases.clone(),
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
        tokio::spawn(forward_messages(
            pool.clone(),
            key,
            cases,
            std::time::Duration::from_secs(cfg.overdue_sweep_secs),
            background.clone(),
        ));
        // The rounds look for work every few seconds (a dictionary change, links due).
        let rounds = std::time::Duration::from_secs(cfg.overdue_sweep_secs.min(5));
        tokio::spawn(rescan(pool.clone(), dictionary, rounds, background.clone()));
        tokio::spawn(check_links(
            pool.clone(),
            checker,
            rounds,
            background.clone(),
        ));
        tokio::spawn(flag_lapsed(
            pool,
            std::time::Duration::from_secs(cfg.overdue_sweep_secs),
            background,
        ));
        readiness.set(true).await;
        tracing::info!("content ready");
    });
    server.serve(listener, shutdown).await
}

/// The 错敏词 round after every change of the dictionary.
async fn rescan(
    pool: sqlx::PgPool,
    dictionary: Arc<dictionary::Dictionary>,
    every: std::time::Duration,
    shutdown: CancellationToken,
) {
    yiwang_kit::every(every, shutdown, || async {
        match dictionary_scan::run(&pool, &dictionary).await {
            Ok(None) => {}
            Ok(Some(id)) => tracing::info!(
                round = id,
                "错敏词 round over everything published finished"
            ),
            Err(e) => tracing::warn!(error = %e, "错敏词 round failed"),
        }
    })
    .await
}

/// The 错链/死链 checker: the links due, pass after pass.
async fn check_links(
    pool: sqlx::PgPool,
    checker: links::Checker,
    every: std::time::Duration,
    shutdown: CancellationToken,
) {
    yiwang_kit::sweep(
        SERVICE,
        "link_check",
        "links checked",
        every,
        shutdown,
        || links::check_due(&pool, &checker),
    )
    .await
}

/// The weekly check of new-media accounts, run continuously (each lapse announced once).
async fn flag_lapsed(pool: sqlx::PgPool, every: std::time::Duration, shutdown: CancellationToken) {
    yiwang_kit::sweep(
        SERVICE,
        "media_lapse",
        "new-media accounts lapsed (no post in 7 days)",
        every,
        shutdown,
        || media::flag_lapsed(&pool),
    )
    .await
}

/// Retries the messages not yet handed to the cases service.
async fn forward_messages(
    pool: sqlx::PgPool,
    key: yiwang_kit::crypto::DataKey,
    cases: message::Cases,
    every: std::time::Duration,
    shutdown: CancellationToken,
) {
    yiwang_kit::sweep(
        SERVICE,
        "message_forward",
        "citizen messages forwarded as tickets",
        every,
        shutdown,
        || message::forward_waiting(&pool, &key, &cases),
    )
    .await
}
