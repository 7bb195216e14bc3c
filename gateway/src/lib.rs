//! The REST/JSON edge of Yiwang. It owns no domain data: it authenticates, rate-limits, caches
//! item reads, makes creates idempotent, and maps REST to the services' gRPC APIs.

pub mod alerts;
pub mod cache;
pub mod catalog;
pub mod extract;
pub mod middleware;
pub mod notifications;
pub mod openapi;
pub mod ratelimit;
pub mod reports;
pub mod rest;
pub mod uploads;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tonic::transport::Channel;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use yiwang_kit::config::GatewayConfig;
use yiwang_kit::nearcache::NearCache;
use yiwang_kit::redis::Redis;
use yiwang_kit::{CancellationToken, Config, JwtVerifier};
use yiwang_proto::alerts::v1::alerts_service_client::AlertsServiceClient;
use yiwang_proto::catalog::v1::catalog_service_client::CatalogServiceClient;

pub const SERVICE: &str = "gateway";

/// Body limit of `POST /v1/alerts` (up to 10,000 events per call).
const ALERT_BATCH_BYTES: usize = 32 * 1024 * 1024;

/// What every handler and middleware shares. Cheap to clone (one `Arc`): axum clones the state
/// for each layer of each request, and cloning tonic channels per request costs measurably.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub catalog: CatalogServiceClient<Channel>,
    pub alerts: AlertsServiceClient<Channel>,
    pub verifier: JwtVerifier,
    /// Set once Redis is reachable; until then caching and rate limits are skipped.
    pub redis: Arc<tokio::sync::OnceCell<Redis>>,
    pub cfg: Arc<GatewayConfig>,
    pub limiter: Arc<ratelimit::Limiter>,
    /// The tighter limit of public look-ups by number and code (`/v1/public/…`).
    pub lookup_limiter: Arc<ratelimit::Limiter>,
    /// In-process copy of hot item JSON in front of the Redis cache (see [`cache`]).
    pub items: Arc<NearCache<bytes::Bytes>>,
    /// The largest material file (`YIWANG_UPLOAD_MAX_BYTES`), counted as it streams through.
    pub upload_max_bytes: u64,
    catalog_channel: Channel,
    cases_channel: Channel,
    alerts_channel: Channel,
    projects_channel: Channel,
    supervision_channel: Channel,
    inbox_channel: Channel,
    content_channel: Channel,
    insight_channel: Channel,
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route(
            "/v1/alerts",
            // A batch of 10,000 events with their raw records is several megabytes.
            post(alerts::ingest).layer(DefaultBodyLimit::max(ALERT_BATCH_BYTES)),
        )
        .route("/v1/blocklist.txt", get(alerts::blocklist_text))
        .merge(rest::router(
            &state,
            generated_bindings(),
            vec![
                (
                    "yiwang.catalog.v1.CatalogService.GetItem",
                    get(catalog::get_item),
                ),
                (
                    // Counted on the way through instead of the body limit.
                    "yiwang.cases.v1.CasesService.UploadFile",
                    post(uploads::upload).layer(DefaultBodyLimit::disable()),
                ),
                (
                    "yiwang.cases.v1.CasesService.ReadUpload",
                    get(uploads::download),
                ),
                (
                    "yiwang.inbox.v1.InboxService.StreamNotifications",
                    get(notifications::stream),
                ),
                (
                    "yiwang.insight.v1.InsightService.RenderWorkReport",
                    get(reports::document),
                ),
            ],
        ))
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::rate_limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::authenticate,
        ));
    let ops = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route(
            "/metrics",
            get(|| async { yiwang_kit::telemetry::render_metrics() }),
        )
        .route(
            "/openapi.json",
            get(|| async { axum::Json(openapi::document()) }),
        );
    let mut app = Router::new()
        .merge(api)
        .merge(ops)
        .fallback(catalog::not_found)
        .layer(DefaultBodyLimit::max(state.cfg.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            SERVICE,
            yiwang_kit::telemetry::trace_requests,
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(RequestIds::new()));
    if !state.cfg.cors_origins.is_empty() {
        let origin = if state.cfg.cors_origins.iter().any(|o| o == "*") {
            AllowOrigin::any()
        } else {
            AllowOrigin::list(state.cfg.cors_origins.iter().filter_map(|o| o.parse().ok()))
        };
        app = app.layer(
            CorsLayer::new()
                .allow_origin(origin)
                .allow_methods(Any)
                .allow_headers(Any)
                .expose_headers([
                    "x-request-id".parse().unwrap(),
                    "retry-after".parse().unwrap(),
                ]),
        );
    }
    app.with_state(state)
}

/// The REST bindings of every annotated RPC (validated by this crate's tests: a malformed
/// annotation never reaches a running gateway).
pub fn generated_bindings() -> &'static [rest::Binding] {
    static BINDINGS: std::sync::LazyLock<Vec<rest::Binding>> = std::sync::LazyLock::new(|| {
        rest::bindings(yiwang_proto::descriptor_pool())
            .expect("the google.api.http annotations are valid")
    });
    &BINDINGS
}

impl Shared {
    /// The channel to the service of a protobuf package (`yiwang.<service>.v1`).
    pub fn channel_for(&self, package: &str) -> Option<Channel> {
        Some(match package {
            "yiwang.catalog.v1" => self.catalog_channel.clone(),
            "yiwang.cases.v1" => self.cases_channel.clone(),
            "yiwang.alerts.v1" => self.alerts_channel.clone(),
            "yiwang.projects.v1" => self.projects_channel.clone(),
            "yiwang.supervision.v1" => self.supervision_channel.clone(),
            "yiwang.inbox.v1" => self.inbox_channel.clone(),
            "yiwang.content.v1" => self.content_channel.clone(),
            "yiwang.insight.v1" => self.insight_channel.clone(),
            _ => return None,
        })
    }
}

/// Request ids for requests that arrive without one: a random per-process prefix and a counter.
/// Unique like UUIDs in practice, without a getrandom system call per request.
#[derive(Clone)]
struct RequestIds {
    prefix: Arc<str>,
    next: Arc<std::sync::atomic::AtomicU64>,
}

impl RequestIds {
    fn new() -> Self {
        let random = uuid::Uuid::new_v4().simple().to_string();
        Self {
            prefix: Arc::from(&random[..16]),
            next: Arc::new(std::sync::atomic::AtomicU64::new(1)),
        }
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        http::HeaderValue::from_str(&format!("{}-{n:x}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

async fn readyz(State(s): State<AppState>) -> (http::StatusCode, &'static str) {
    let Some(redis) = s.redis.get() else {
        return (http::StatusCode::SERVICE_UNAVAILABLE, "redis not connected");
    };
    let mut conn = redis.conn.clone();
    if redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .is_err()
    {
        return (http::StatusCode::SERVICE_UNAVAILABLE, "redis unreachable");
    }
    for (name, channel) in [
        ("catalog not serving", s.catalog_channel.clone()),
        ("cases not serving", s.cases_channel.clone()),
        ("alerts not serving", s.alerts_channel.clone()),
        ("projects not serving", s.projects_channel.clone()),
        ("supervision not serving", s.supervision_channel.clone()),
        ("inbox not serving", s.inbox_channel.clone()),
        ("content not serving", s.content_channel.clone()),
        ("insight not serving", s.insight_channel.clone()),
    ] {
        if !serving(channel).await {
            return (http::StatusCode::SERVICE_UNAVAILABLE, name);
        }
    }
    (http::StatusCode::OK, "ready")
}

async fn serving(channel: Channel) -> bool {
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    tokio::time::timeout(
        Duration::from_secs(1),
        health.check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        }),
    )
    .await
    .ok()
    .and_then(|r| r.ok())
    .is_some_and(|r| {
        r.into_inner().status
            == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    })
}

/// Serves the gateway on `listener` until `shutdown`.
pub async fn serve(
    cfg: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // Lazy channels: the gateway starts whatever order the services come up in.
    let lazy = |url: &str| -> anyhow::Result<Channel> {
        Ok(Channel::from_shared(url.to_string())?
            .connect_timeout(Duration::from_secs(2))
            .connect_lazy())
    };
    let channel = lazy(&cfg.catalog_url)?;
    let cases_channel = lazy(&cfg.cases_url)?;
    let projects_channel = lazy(&cfg.projects_url)?;
    let alerts_channel = lazy(&cfg.alerts_url)?;
    let supervision_channel = lazy(&cfg.supervision_url)?;
    let inbox_channel = lazy(&cfg.inbox_url)?;
    let content_channel = lazy(&cfg.content_url)?;
    let insight_channel = lazy(&cfg.insight_url)?;
    let state = AppState(Arc::new(Shared {
        alerts: AlertsServiceClient::new(alerts_channel.clone()),
        alerts_channel,
        projects_channel,
        cases_channel,
        supervision_channel,
        inbox_channel,
        content_channel,
        insight_channel,
        catalog: CatalogServiceClient::new(channel.clone())
            .max_decoding_message_size(16 * 1024 * 1024),
        catalog_channel: channel,
        verifier: JwtVerifier::from_config(&cfg.jwt)?,
        redis: Arc::new(tokio::sync::OnceCell::new()),
        cfg: Arc::new(cfg.gateway.clone()),
        limiter: Arc::new(ratelimit::Limiter::new(
            cfg.gateway.rate_limit,
            cfg.gateway.rate_window_secs,
        )),
        lookup_limiter: Arc::new(ratelimit::Limiter::new(cfg.gateway.lookup_rate_limit, 60)),
        upload_max_bytes: cfg.files.max_bytes,
        items: Arc::new(NearCache::new(
            cfg.near_cache_bytes,
            Duration::from_secs(cfg.gateway.cache_ttl_secs.clamp(1, 60)),
        )),
    }));
    let limiter = state.limiter.clone();
    let lookup_limiter = state.lookup_limiter.clone();
    let items = state.items.clone();
    let redis_cell = state.redis.clone();
    let background = shutdown.clone();
    tokio::spawn(async move {
        loop {
            match Redis::connect(&cfg.redis_url, &cfg.redis_prefix).await {
                Ok(r) => {
                    let _ = redis_cell.set(r.clone());
                    tokio::spawn(limiter.run_flusher(r.clone(), background.clone()));
                    tokio::spawn(lookup_limiter.run_flusher(r.clone(), background.clone()));
                    tokio::spawn(cache::follow_changes(r.clone(), items, background.clone()));
                    tokio::spawn(cache::run_invalidator(r, background));
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "gateway: Redis not reachable; retrying in 2 s");
                    tokio::select! { _ = background.cancelled() => return, _ = tokio::time::sleep(Duration::from_secs(2)) => {} }
                }
            }
        }
    });
    tracing::info!(addr = %listener.local_addr()?, "gateway listening");
    axum::serve(
        yiwang_kit::nodelay(listener),
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await?;
    Ok(())
}
