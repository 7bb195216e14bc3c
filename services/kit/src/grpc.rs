//! The gRPC server every service runs: its API plus `grpc.health.v1` (NOT_SERVING until the
//! service says it is ready, and again from the moment shutdown begins), reflection (v1 and
//! v1alpha), the bearer-token middleware, tracing/metrics, and plain HTTP `/healthz`, `/readyz`
//! and `/metrics` on the same port (HTTP/1.1 and HTTP/2 are both accepted).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::auth::JwtVerifier;

/// How long a stopping server keeps answering (as NOT_SERVING) so load balancers can drain it.
const DRAIN: Duration = Duration::from_millis(500);

pub struct GrpcServer {
    service: &'static str,
    routes: tonic::service::Routes,
    names: Vec<&'static str>,
    verifier: JwtVerifier,
    health: HealthReporter,
    ready: Arc<AtomicBool>,
    reads: Option<crate::db::Reads>,
}

/// Lets the service flip its readiness (gRPC health and `/readyz`) once its dependencies are up.
#[derive(Clone)]
pub struct Readiness {
    health: HealthReporter,
    names: Vec<&'static str>,
    ready: Arc<AtomicBool>,
}

impl Readiness {
    pub async fn set(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
        let status = if ready {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        self.health.set_service_status("", status).await;
        for name in &self.names {
            self.health.set_service_status(*name, status).await;
        }
    }
}

impl GrpcServer {
    /// `service` names the process in logs and metrics (e.g. `catalog`).
    pub fn new(service: &'static str, verifier: JwtVerifier) -> Self {
        let (health, health_service) = tonic_health::server::health_reporter();
        // Reflection is added in `serve`, once the services on this port are known.
        let routes = tonic::service::Routes::new(health_service);
        Self {
            service,
            routes,
            names: Vec::new(),
            verifier,
            health,
            ready: Arc::new(AtomicBool::new(false)),
            reads: None,
        }
    }

    /// Records each caller's successful changes for `reads` (read-your-writes when listings are
    /// served by a replica; see [`crate::db::Reads`]).
    pub fn track_writes(mut self, reads: crate::db::Reads) -> Self {
        self.reads = reads.has_replica().then_some(reads);
        self
    }

    pub fn add_service<S>(mut self, svc: S) -> Self
    where
        S: tower::Service<http::Request<tonic::body::Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: IntoResponse,
        S::Future: Send + 'static,
    {
        self.names.push(S::NAME);
        self.routes = self.routes.add_service(svc);
        self
    }

    pub fn readiness(&self) -> Readiness {
        Readiness {
            health: self.health.clone(),
            names: self.names.clone(),
            ready: self.ready.clone(),
        }
    }

    /// Serves on `listener` until `shutdown`; health starts NOT_SERVING. Returns when stopped.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let readiness = self.readiness();
        readiness.set(false).await;
        let ready = self.ready.clone();
        // Reflection advertises the services this port serves (and health), not every service
        // in the descriptor set: a client that lists services can call each one it sees.
        let advertised = || {
            self.names.iter().map(|n| n.to_string()).chain(
                [
                    "grpc.health.v1.Health",
                    "grpc.reflection.v1.ServerReflection",
                    "grpc.reflection.v1alpha.ServerReflection",
                ]
                .map(String::from),
            )
        };
        let mut v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(yiwang_descriptor());
        let mut v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(yiwang_descriptor());
        for name in advertised() {
            v1 = v1.with_service_name(name.clone());
            v1alpha = v1alpha.with_service_name(name);
        }
        let app = self
            .routes
            .add_service(v1.build_v1()?)
            .add_service(v1alpha.build_v1alpha()?)
            .into_axum_router()
            .route("/healthz", get(|| async { "ok" }))
            .route(
                "/readyz",
                get(move || {
                    let ready = ready.clone();
                    async move {
                        if ready.load(Ordering::SeqCst) {
                            (http::StatusCode::OK, "ready")
                        } else {
                            (http::StatusCode::SERVICE_UNAVAILABLE, "not ready")
                        }
                    }
                }),
            )
            .route(
                "/metrics",
                get(|| async { crate::telemetry::render_metrics() }),
            )
            .layer(axum::middleware::from_fn(run_to_completion))
            .layer(axum::middleware::from_fn_with_state(
                self.reads.clone(),
                record_writes,
            ))
            .layer(axum::middleware::from_fn_with_state(
                self.verifier.clone(),
                authenticate,
            ))
            .layer(axum::middleware::from_fn_with_state(
                self.service,
                crate::telemetry::trace_requests,
            ));

        let stop = CancellationToken::new();
        let stop_server = stop.clone();
        let service = self.service;
        tokio::spawn(async move {
            shutdown.cancelled().await;
            tracing::info!(service, "shutting down: health NOT_SERVING, draining");
            readiness.set(false).await;
            tokio::time::sleep(DRAIN).await;
            stop_server.cancel();
        });
        tracing::info!(service, addr = %listener.local_addr()?, "gRPC server listening");
        axum::serve(crate::nodelay(listener), app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await?;
        Ok(())
    }
}

fn yiwang_descriptor() -> &'static [u8] {
    // Kept out of the kit's dependencies: the kit must not know the services' protos, so the
    // descriptor set is handed in through a process-wide registration (see `register_descriptors`).
    DESCRIPTORS.get().copied().unwrap_or(&[])
}

static DESCRIPTORS: std::sync::OnceLock<&'static [u8]> = std::sync::OnceLock::new();

/// Registers the encoded descriptor set that reflection serves (yiwang_proto::FILE_DESCRIPTOR_SET).
pub fn register_descriptors(fds: &'static [u8]) {
    let _ = DESCRIPTORS.set(fds);
}

/// Runs each call to its end in a task of its own, even if the caller hangs up (a client
/// timeout, a gateway killed mid-request): a handler dropped half-way would abandon its
/// transaction on a pooled connection and leave the caller's retry to race a half-done write.
/// A panic becomes a logged INTERNAL answer instead of a dropped connection.
async fn run_to_completion(req: Request, next: Next) -> Response {
    match tokio::spawn(tracing::Instrument::in_current_span(next.run(req))).await {
        Ok(resp) => resp,
        Err(e) => {
            let status: tonic::Status = crate::Error::internal(e).into();
            status.into_http()
        }
    }
}

/// Whether a gRPC method only reads (AIP-131/132 and this API's own read verbs).
fn reads_only(path: &str) -> bool {
    let method = path.rsplit('/').next().unwrap_or("");
    [
        "Get", "List", "Search", "Verify", "Lookup", "Check", "Watch", "Sample", "Export",
    ]
    .iter()
    .any(|verb| method.starts_with(verb))
}

/// After a change succeeded, remembers for its caller where the primary's WAL stands, before
/// the answer leaves: the caller's next listing waits for the replica to have replayed it.
async fn record_writes(
    State(reads): State<Option<crate::db::Reads>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(reads) = reads else {
        return next.run(req).await;
    };
    let write = !reads_only(req.uri().path());
    let caller = req
        .extensions()
        .get::<crate::auth::Caller>()
        .map(|c| c.sub.clone())
        .filter(|sub| !sub.is_empty());
    let response = next.run(req).await;
    // A failed call answers trailers-only, with `grpc-status` in the headers.
    let failed = response
        .headers()
        .get("grpc-status")
        .is_some_and(|s| s.as_bytes() != b"0");
    if let (true, false, Some(caller)) = (write, failed, caller) {
        reads.wrote(&caller).await;
    }
    response
}

/// Verifies the bearer token of a gRPC call and stores the [`crate::auth::Caller`] in the request
/// extensions. No token: the anonymous caller (each method decides whether that is enough).
async fn authenticate(
    State(verifier): State<JwtVerifier>,
    mut req: Request,
    next: Next,
) -> Response {
    match verifier.caller_from_header(req.headers().get(http::header::AUTHORIZATION)) {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(err) => tonic::Status::from(err)
            .into_http::<axum::body::Body>()
            .into_response(),
    }
}

/// Waits for SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// Runs `attempt` until it succeeds, every 2 s, logging why not (containers start in any order,
/// and a service answers NOT_SERVING meanwhile). `None` if `shutdown` comes first.
pub async fn retry_until_ready<T, F, Fut>(
    service: &str,
    shutdown: &CancellationToken,
    mut attempt: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    loop {
        match attempt().await {
            Ok(v) => return Some(v),
            Err(e) => {
                tracing::warn!(service, error = %e, "dependencies not ready; retrying in 2 s");
                tokio::select! {
                    _ = shutdown.cancelled() => return None,
                    _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
                }
            }
        }
    }
}
