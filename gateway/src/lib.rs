//! The REST/JSON edge of Yiwang. It owns no domain data: it authenticates, rate-limits, caches
//! item reads, makes creates idempotent, and maps REST to the services' gRPC APIs.

pub mod alerts;
pub mod cache;
pub mod cases;
pub mod catalog;
pub mod extract;
pub mod middleware;
pub mod openapi;
pub mod projects;
pub mod ratelimit;
pub mod supervision;

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
use utoipa::OpenApi;
use yiwang_kit::config::GatewayConfig;
use yiwang_kit::nearcache::NearCache;
use yiwang_kit::redis::Redis;
use yiwang_kit::{CancellationToken, Config, JwtVerifier};
use yiwang_proto::alerts::v1::alerts_service_client::AlertsServiceClient;
use yiwang_proto::cases::v1::cases_service_client::CasesServiceClient;
use yiwang_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use yiwang_proto::projects::v1::projects_service_client::ProjectsServiceClient;
use yiwang_proto::supervision::v1::supervision_service_client::SupervisionServiceClient;

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
    pub cases: CasesServiceClient<Channel>,
    pub alerts: AlertsServiceClient<Channel>,
    pub projects: ProjectsServiceClient<Channel>,
    pub supervision: SupervisionServiceClient<Channel>,
    pub verifier: JwtVerifier,
    /// Set once Redis is reachable; until then caching and rate limits are skipped.
    pub redis: Arc<tokio::sync::OnceCell<Redis>>,
    pub cfg: Arc<GatewayConfig>,
    pub limiter: Arc<ratelimit::Limiter>,
    /// In-process copy of hot item JSON in front of the Redis cache (see [`cache`]).
    pub items: Arc<NearCache<bytes::Bytes>>,
    catalog_channel: Channel,
    cases_channel: Channel,
    alerts_channel: Channel,
    projects_channel: Channel,
    supervision_channel: Channel,
}

pub fn router(state: AppState) -> Router {
    let creates = Router::new()
        .route("/v1/items", post(catalog::create_item))
        .route("/v1/bundles", post(catalog::create_bundle))
        .route("/v1/org-units", post(catalog::create_org_unit))
        .route("/v1/cases", post(cases::file_case))
        .route("/v1/appointments", post(cases::book_appointment))
        .route("/v1/tickets", post(cases::create_ticket))
        .route("/v1/incidents/{id}/notice", post(alerts::issue_notice))
        .route("/v1/projects", post(projects::create_project))
        .route("/v1/supervision/items", post(supervision::create_item))
        .route(
            "/v1/supervision/check-lists",
            post(supervision::create_check_list),
        )
        .route("/v1/supervision/entities", post(supervision::create_entity))
        .route(
            "/v1/supervision/inspectors",
            post(supervision::create_inspector),
        )
        .route("/v1/supervision/plans", post(supervision::create_plan))
        .route(
            "/v1/supervision/inspections",
            post(supervision::create_inspection),
        )
        .route(
            "/v1/supervision/publications",
            post(supervision::create_publication),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::idempotency,
        ));
    let api = Router::new()
        .route("/v1/org-units", get(catalog::list_org_units))
        .route("/v1/org-units/{code}", get(catalog::get_org_unit))
        .route("/v1/items", get(catalog::search_items))
        .route(
            "/v1/items/{code}",
            get(catalog::get_item).patch(catalog::update_item),
        )
        .route("/v1/items/{code}/versions", get(catalog::list_versions))
        .route(
            "/v1/items/{code}/versions/{version}",
            get(catalog::get_version),
        )
        .route("/v1/items/{code}/publish", post(catalog::publish_item))
        .route("/v1/items/{code}/suspend", post(catalog::suspend_item))
        .route("/v1/items/{code}/retire", post(catalog::retire_item))
        .route("/v1/bundles", get(catalog::list_bundles))
        .route("/v1/bundles/{id}", get(catalog::get_bundle))
        .route("/v1/catalog/stats", get(catalog::stats))
        .route("/v1/calendar/deadline", get(cases::deadline))
        .route(
            "/v1/calendar/{year}",
            get(cases::get_year).put(cases::put_year),
        )
        .route("/v1/cases", get(cases::list_cases))
        .route("/v1/cases/stats", get(cases::case_stats))
        .route("/v1/cases/{id}", get(cases::get_case))
        .route("/v1/cases/{id}/history", get(cases::get_case_history))
        .route("/v1/cases/{id}/accept", post(cases::accept_case))
        .route("/v1/cases/{id}/reject", post(cases::reject_case))
        .route(
            "/v1/cases/{id}/request-correction",
            post(cases::request_correction),
        )
        .route(
            "/v1/cases/{id}/submit-correction",
            post(cases::submit_correction),
        )
        .route("/v1/cases/{id}/start-special", post(cases::start_special))
        .route("/v1/cases/{id}/end-special", post(cases::end_special))
        .route("/v1/cases/{id}/decide", post(cases::decide_case))
        .route("/v1/cases/{id}/deliver", post(cases::deliver_case))
        .route("/v1/cases/{id}/withdraw", post(cases::withdraw_case))
        .route("/v1/cases/{id}/revoke", post(cases::revoke_case))
        .route("/v1/cases/{id}/evaluation", post(cases::evaluate_case))
        .route(
            "/v1/cases/{id}/assign-helper",
            post(cases::assign_case_helper),
        )
        .route(
            "/v1/appointments/{id}/assign-helper",
            post(cases::assign_appointment_helper),
        )
        .route(
            "/v1/alerts",
            // A batch of 10,000 events with their raw records is several megabytes.
            post(alerts::ingest).layer(DefaultBodyLimit::max(ALERT_BATCH_BYTES)),
        )
        .route("/v1/incidents", get(alerts::list_incidents))
        .route("/v1/alerts/stats", get(alerts::stats))
        .route("/v1/notices", get(alerts::list_notices))
        .route("/v1/notices/{id}", get(alerts::get_notice))
        .route(
            "/v1/notices/{id}/acknowledge",
            post(alerts::acknowledge_notice),
        )
        .route("/v1/notices/{id}/report", post(alerts::report_notice))
        .route("/v1/notices/{id}/verify", post(alerts::verify_notice))
        .route("/v1/notices/{id}/close", post(alerts::close_notice))
        .route(
            "/v1/blocklist",
            get(alerts::list_blocks).post(alerts::create_block),
        )
        .route("/v1/blocklist.txt", get(alerts::blocklist_text))
        .route(
            "/v1/blocklist/{id}",
            axum::routing::delete(alerts::lift_block),
        )
        .route("/v1/incidents/{id}", get(alerts::get_incident))
        .route(
            "/v1/incidents/{id}/false-positive",
            post(alerts::false_positive),
        )
        .route(
            "/v1/assets",
            get(alerts::list_assets).post(alerts::create_asset),
        )
        .route(
            "/v1/assets/{id}",
            axum::routing::delete(alerts::delete_asset),
        )
        .route("/v1/rectifications", get(cases::list_rectifications))
        .route("/v1/tickets", get(cases::list_tickets))
        .route("/v1/tickets/{id}", get(cases::get_ticket))
        .route("/v1/tickets/{id}/dispatch", post(cases::dispatch_ticket))
        .route("/v1/tickets/{id}/reply", post(cases::reply_ticket))
        .route("/v1/tickets/{id}/callback", post(cases::callback_ticket))
        .route("/v1/tickets/{id}/close", post(cases::close_ticket))
        .route(
            "/v1/appointment-slots",
            get(cases::list_slots).post(cases::create_slot),
        )
        .route(
            "/v1/appointments/{id}",
            axum::routing::delete(cases::cancel_appointment),
        )
        .route(
            "/v1/rectifications/{id}/complete",
            post(cases::complete_rectification),
        )
        .route(
            "/v1/rectifications/{id}/callback",
            post(cases::callback_rectification),
        )
        .route("/v1/projects", get(projects::list_projects))
        .route("/v1/projects/plan", get(projects::annual_plan))
        .route("/v1/projects/stats", get(projects::project_stats))
        .route(
            "/v1/projects/{id}",
            get(projects::get_project).patch(projects::update_project),
        )
        .route("/v1/projects/{id}/submit", post(projects::submit_project))
        .route("/v1/projects/{id}/panel", post(projects::form_panel))
        .route(
            "/v1/projects/{id}/reviews",
            get(projects::list_reviews).post(projects::submit_review),
        )
        .route("/v1/projects/{id}/decide", post(projects::decide_project))
        .route("/v1/projects/{id}/procure", post(projects::procure))
        .route(
            "/v1/projects/{id}/construction",
            post(projects::start_construction),
        )
        .route("/v1/projects/{id}/progress", post(projects::add_progress))
        .route("/v1/projects/{id}/accept", post(projects::accept_project))
        .route(
            "/v1/projects/{id}/evaluate",
            post(projects::evaluate_project),
        )
        .route("/v1/projects/{id}/history", get(projects::project_history))
        .route("/v1/supervision/items", get(supervision::list_items))
        .route(
            "/v1/supervision/items/{code}/claim",
            post(supervision::claim_item),
        )
        .route(
            "/v1/supervision/check-lists",
            get(supervision::list_check_lists),
        )
        .route("/v1/supervision/entities", get(supervision::list_entities))
        .route(
            "/v1/supervision/entities/{id}",
            get(supervision::get_entity),
        )
        .route(
            "/v1/supervision/inspectors",
            get(supervision::list_inspectors),
        )
        .route(
            "/v1/supervision/inspectors/{id}",
            axum::routing::patch(supervision::patch_inspector),
        )
        .route(
            "/v1/supervision/inspectors/{id}/relations",
            post(supervision::add_relation),
        )
        .route("/v1/supervision/plans", get(supervision::list_plans))
        .route(
            "/v1/supervision/plans/{id}",
            get(supervision::get_plan).patch(supervision::update_plan),
        )
        .route(
            "/v1/supervision/plans/{id}/draw",
            get(supervision::get_draw_document).post(supervision::draw_plan),
        )
        .route(
            "/v1/supervision/plans/{id}/publish",
            post(supervision::publish_plan),
        )
        .route(
            "/v1/supervision/plans/{id}/verify",
            post(supervision::verify_plan),
        )
        .route(
            "/v1/supervision/draws/verify",
            post(supervision::verify_draw),
        )
        .route(
            "/v1/supervision/inspections",
            get(supervision::list_inspections),
        )
        .route(
            "/v1/supervision/inspections/{id}",
            get(supervision::get_inspection),
        )
        .route(
            "/v1/supervision/inspections/{id}/rectification",
            post(supervision::complete_rectification),
        )
        .route("/v1/supervision/tasks", get(supervision::list_tasks))
        .route("/v1/supervision/notices", get(supervision::list_notices))
        .route(
            "/v1/supervision/notices/{id}/acknowledge",
            post(supervision::acknowledge_notice),
        )
        .route(
            "/v1/supervision/notices/{id}/close",
            post(supervision::close_notice),
        )
        .route(
            "/v1/supervision/publications",
            get(supervision::list_publications),
        )
        .route("/v1/supervision/stats", get(supervision::stats))
        .merge(creates)
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
            get(|| async { axum::Json(openapi::ApiDoc::openapi()) }),
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
    let state = AppState(Arc::new(Shared {
        alerts: AlertsServiceClient::new(alerts_channel.clone()),
        alerts_channel,
        projects: ProjectsServiceClient::new(projects_channel.clone()),
        projects_channel,
        cases: CasesServiceClient::new(cases_channel.clone()),
        cases_channel,
        // A draw document of a large pool (100,000 entities) is a few MB.
        supervision: SupervisionServiceClient::new(supervision_channel.clone())
            .max_decoding_message_size(32 * 1024 * 1024)
            .max_encoding_message_size(32 * 1024 * 1024),
        supervision_channel,
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
        items: Arc::new(NearCache::new(
            cfg.near_cache_bytes,
            Duration::from_secs(cfg.gateway.cache_ttl_secs.clamp(1, 60)),
        )),
    }));
    let limiter = state.limiter.clone();
    let items = state.items.clone();
    let redis_cell = state.redis.clone();
    let background = shutdown.clone();
    tokio::spawn(async move {
        loop {
            match Redis::connect(&cfg.redis_url, &cfg.redis_prefix).await {
                Ok(r) => {
                    let _ = redis_cell.set(r.clone());
                    tokio::spawn(limiter.run_flusher(r.clone(), background.clone()));
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
