//! The case handling service (办件): filing against published catalogue items, the lifecycle
//! ([`lifecycle`], [`case_store`]) with deadlines on the legal working-day calendar
//! ([`calendar`], stored per year and editable by administrators), served over gRPC ([`api`]).

pub mod api;
pub mod application;
pub mod appointment;
pub mod appointment_rpc;
pub mod calendar;
pub mod calendar_rpc;
pub mod case_counts;
pub mod case_store;
pub mod demo_app;
pub mod evaluation;
pub mod evaluation_rpc;
pub mod exchange;
pub mod licence;
pub mod lifecycle;
pub mod material;
pub mod partner;
pub mod seed;
pub mod staff_stats;
pub mod stats;
pub mod stats_rpc;
pub mod store;
pub mod ticket;
pub mod ticket_rpc;
pub mod upload;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::transport::Channel;
use yiwang_kit::crypto::DataKey;
use yiwang_kit::grpc::GrpcServer;
use yiwang_kit::{CancellationToken, Config, JwtVerifier, db, outbox};
use yiwang_proto::cases::v1::cases_service_server::CasesServiceServer;
use yiwang_proto::catalog::v1::catalog_service_client::CatalogServiceClient;

pub const SERVICE: &str = "cases";

/// The live calendar: replaced whole (never edited in place) when a year changes, so readers
/// take a snapshot by cloning the inner `Arc`.
pub type SharedCalendar = Arc<RwLock<Arc<calendar::Calendar>>>;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Creates the service's database if missing, applies its migrations, and stores the shipped
/// calendar's years that are not there yet.
pub async fn migrate(cfg: &Config) -> anyhow::Result<()> {
    let pool = db::migrate_service(cfg, SERVICE, &MIGRATOR).await?;
    store::seed_calendar(&pool).await?;
    // Cases decided before handling times were kept (migration 0019) get theirs.
    let calendar = store::load_calendar(&pool).await?;
    case_counts::backfill_handling_times(&pool, &calendar).await?;
    pool.close().await;
    Ok(())
}

/// Runs the service on `listener` until `shutdown`. Health is NOT_SERVING until the database
/// is migrated, the calendar loaded and Redis reachable.
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
    let calendar: SharedCalendar = Arc::new(RwLock::new(Arc::new(calendar::Calendar::new())));
    let key = DataKey::from_config(&cfg)?;
    let files = Arc::new(upload::Files {
        store: yiwang_kit::files::FileStore::open(
            &cfg.files.store_url,
            &cfg.files.store_options,
            key.clone(),
        )?,
        max_bytes: cfg.files.max_bytes,
        ttl_hours: cfg.files.ttl_hours,
    });
    let catalog = Channel::from_shared(cfg.catalog_url.clone())?
        .connect_timeout(Duration::from_secs(2))
        .connect_lazy();
    let reads = yiwang_kit::db::Reads::new(&cfg, SERVICE, pool.clone())?;
    let server = GrpcServer::new(SERVICE, JwtVerifier::from_config(&cfg.jwt)?)
        .track_writes(reads.clone())
        .add_service(CasesServiceServer::new(api::CasesApi {
            pool: pool.clone(),
            reads: reads.clone(),
            calendar: calendar.clone(),
            catalog: CatalogServiceClient::new(catalog),
            key,
            numbers: case_store::Numbers::new(&cfg.region_code),
            rectify_working_days: cfg.rectify_working_days,
            licences: Arc::new(licence::Signer::from_config(&cfg)?),
            licence_valid_years: cfg.licence_valid_years,
            region: cfg.region_code.clone(),
            files: files.clone(),
        }));
    let readiness = server.readiness();

    let background = shutdown.clone();
    tokio::spawn(async move {
        // Retry until the dependencies are there (containers may start in any order).
        let Some(redis) = yiwang_kit::grpc::retry_until_ready(SERVICE, &background, || async {
            migrate(&cfg).await?;
            let loaded = store::load_calendar(&pool).await?;
            *calendar.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(loaded);
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
        tokio::spawn(sweep_overdue(
            pool.clone(),
            Duration::from_secs(cfg.overdue_sweep_secs),
            background.clone(),
        ));
        tokio::spawn(sweep_overdue_tickets(
            pool.clone(),
            Duration::from_secs(cfg.overdue_sweep_secs),
            background.clone(),
        ));
        tokio::spawn(sweep_warnings(
            pool.clone(),
            calendar.clone(),
            Duration::from_secs(cfg.overdue_sweep_secs),
            background.clone(),
        ));
        tokio::spawn(sweep_unanswered(
            pool.clone(),
            calendar.clone(),
            Duration::from_secs(cfg.overdue_sweep_secs),
            background.clone(),
        ));
        tokio::spawn(sweep_reminders(
            pool.clone(),
            calendar.clone(),
            Duration::from_secs(cfg.overdue_sweep_secs),
            background.clone(),
        ));
        tokio::spawn(fold_case_counts(
            pool.clone(),
            Duration::from_secs(cfg.overdue_sweep_secs.min(5)),
            background.clone(),
        ));
        tokio::spawn(sweep_uploads(
            pool.clone(),
            files,
            Duration::from_secs(cfg.overdue_sweep_secs),
            background.clone(),
        ));
        tokio::spawn(follow_calendar(pool, redis, calendar, background));
        readiness.set(true).await;
        tracing::info!("cases ready");
    });

    server.serve(listener, shutdown).await
}

/// Reloads the calendar whenever any replica changes a year (and once more after any gap in
/// hearing about changes).
async fn follow_calendar(
    pool: sqlx::PgPool,
    redis: yiwang_kit::redis::Redis,
    calendar: SharedCalendar,
    shutdown: CancellationToken,
) {
    let reload = |pool: sqlx::PgPool, calendar: SharedCalendar| async move {
        match store::load_calendar(&pool).await {
            Ok(c) => *calendar.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(c),
            Err(e) => tracing::warn!(error = %e, "cases: calendar reload failed"),
        }
    };
    let (gap_pool, gap_cal) = (pool.clone(), calendar.clone());
    outbox::tail(
        redis,
        vec![store::CALENDAR_CHANGED.to_string()],
        shutdown,
        |_event| reload(pool.clone(), calendar.clone()),
        move || {
            tokio::spawn(reload(gap_pool.clone(), gap_cal.clone()));
        },
    )
    .await;
}

/// Accepts received cases nobody answered within 5 working days (行政许可法 Art. 32).
async fn sweep_unanswered(
    pool: sqlx::PgPool,
    calendar: SharedCalendar,
    every: Duration,
    shutdown: CancellationToken,
) {
    yiwang_kit::sweep(
        SERVICE,
        "accept_on_receipt",
        "cases accepted on receipt (Art. 32)",
        every,
        shutdown,
        || {
            let current = calendar.read().unwrap_or_else(|e| e.into_inner()).clone();
            let pool = pool.clone();
            async move { case_store::accept_unanswered(&pool, &current).await }
        },
    )
    .await;
}

/// Deletes expired uploads no case names.
async fn sweep_uploads(
    pool: sqlx::PgPool,
    files: Arc<upload::Files>,
    every: Duration,
    shutdown: CancellationToken,
) {
    yiwang_kit::sweep(
        SERVICE,
        "upload_expiry",
        "expired uploads deleted",
        every,
        shutdown,
        || upload::sweep_expired(&pool, &files.store),
    )
    .await;
}

/// Folds the statistics' deltas into their monthly counters (readers add what is not folded
/// yet, so this keeps reads short, not correct).
async fn fold_case_counts(pool: sqlx::PgPool, every: Duration, shutdown: CancellationToken) {
    yiwang_kit::sweep(
        SERVICE,
        "case_counts",
        "statistics deltas folded",
        every,
        shutdown,
        || case_counts::fold(&pool),
    )
    .await
}

/// Marks cases overdue as their deadlines pass (each once, whatever the number of replicas).
async fn sweep_overdue(pool: sqlx::PgPool, every: Duration, shutdown: CancellationToken) {
    yiwang_kit::sweep(
        SERVICE,
        "case_overdue",
        "cases newly overdue",
        every,
        shutdown,
        || case_store::sweep_overdue(&pool),
    )
    .await
}

/// Marks ticket parts overdue as their reply deadlines pass (each once).
async fn sweep_overdue_tickets(pool: sqlx::PgPool, every: Duration, shutdown: CancellationToken) {
    yiwang_kit::sweep(
        SERVICE,
        "ticket_overdue",
        "ticket parts newly overdue",
        every,
        shutdown,
        || ticket::sweep_overdue(&pool),
    )
    .await
}

/// Tells of cases nearing their deadlines (each once).
async fn sweep_warnings(
    pool: sqlx::PgPool,
    calendar: SharedCalendar,
    every: Duration,
    shutdown: CancellationToken,
) {
    yiwang_kit::sweep(
        SERVICE,
        "deadline_warning",
        "cases entered their warning period",
        every,
        shutdown,
        || {
            let current = calendar.read().unwrap_or_else(|e| e.into_inner()).clone();
            let pool = pool.clone();
            async move { case_store::warn_deadlines(&pool, &current).await }
        },
    )
    .await
}

/// Tells of tomorrow's appointments (each once).
async fn sweep_reminders(
    pool: sqlx::PgPool,
    calendar: SharedCalendar,
    every: Duration,
    shutdown: CancellationToken,
) {
    yiwang_kit::sweep(
        SERVICE,
        "appointment_reminder",
        "appointment reminders sent",
        every,
        shutdown,
        || {
            let current = calendar.read().unwrap_or_else(|e| e.into_inner()).clone();
            let pool = pool.clone();
            async move { appointment::remind(&pool, &current).await }
        },
    )
    .await
}
