//! Logs, metrics and traces. JSON logs to stdout; Prometheus metrics rendered at `/metrics`;
//! OpenTelemetry traces exported over OTLP/gRPC when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, with
//! W3C `traceparent` extracted from every incoming request (HTTP and gRPC) and injected into every
//! outgoing gRPC call, so one trace follows a request from the gateway through each service.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::Config;

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// Whether spans are exported (an OTLP endpoint is configured).
static OTEL_ON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Keeps the trace exporter alive; dropping it flushes pending spans.
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            let _ = p.shutdown();
        }
    }
}

/// Installs logging, tracing and the metrics recorder for this process. Call once per process;
/// later calls (tests booting several stacks in one process) only reuse what is installed.
pub fn init(service_name: &str, cfg: &Config) -> TelemetryGuard {
    install_metrics();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let filter = || {
        EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,h2=warn,tower=warn,hyper=warn"))
    };
    let fmt = if cfg.log_format == "pretty" {
        tracing_subscriber::fmt::layer()
            .with_filter(filter())
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_filter(filter())
            .boxed()
    };

    let mut provider = None;
    let otel = cfg.otlp_endpoint.as_ref().and_then(|endpoint| {
        let exporter = opentelemetry_otlp::SpanExporter::builder().with_tonic();
        let exporter =
            opentelemetry_otlp::WithExportConfig::with_endpoint(exporter, endpoint.clone()).build();
        match exporter {
            Ok(exporter) => {
                let p = SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(
                        opentelemetry_sdk::Resource::builder()
                            .with_service_name(service_name.to_string())
                            .build(),
                    )
                    .build();
                let tracer = p.tracer("yiwang");
                OTEL_ON.store(true, std::sync::atomic::Ordering::Relaxed);
                opentelemetry::global::set_tracer_provider(p.clone());
                provider = Some(p);
                Some(
                    tracing_opentelemetry::layer()
                        .with_tracer(tracer)
                        .with_filter(filter()),
                )
            }
            Err(e) => {
                eprintln!(
                    "OTEL_EXPORTER_OTLP_ENDPOINT={endpoint}: cannot build the trace exporter: {e}"
                );
                None
            }
        }
    });

    // `try_init` fails when a subscriber is already set (several stacks in one test process).
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(otel)
        .try_init();
    TelemetryGuard { provider }
}

fn install_metrics() {
    PROMETHEUS.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets(&[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ])
            .expect("static buckets are valid");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Only the first recorder in a process can be global; later ones would be ignored.
        if metrics::set_global_recorder(recorder).is_ok() {
            // Histograms keep raw samples until upkeep folds them into buckets; without a
            // scraper calling render() they would grow without bound.
            let h = handle.clone();
            let _ = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(std::time::Duration::from_secs(5));
                        h.run_upkeep();
                    }
                });
        }
        handle
    });
}

/// The Prometheus text exposition of this process's metrics.
pub fn render_metrics() -> String {
    install_metrics();
    let handle = PROMETHEUS.get().expect("installed above");
    handle.run_upkeep();
    handle.render()
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct MetadataInjector<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            tonic::metadata::MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(k, v);
        }
    }
}

/// Puts the current span's context into outgoing gRPC metadata (`traceparent`).
pub fn inject_trace_context(metadata: &mut tonic::metadata::MetadataMap) {
    let cx = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&cx, &mut MetadataInjector(metadata))
    });
}

/// Axum middleware for every HTTP and gRPC server: continues the caller's trace, opens a span
/// per request, and records request counts and latencies labelled by service, route and status.
pub async fn trace_requests(
    State(service): State<&'static str>,
    req: Request,
    next: Next,
) -> Response {
    // gRPC: the method path names the call; REST: the route template keeps label sets small.
    let is_grpc = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    let route = match req.extensions().get::<MatchedPath>() {
        Some(p) if !is_grpc => p.as_str().to_string(),
        _ => req.uri().path().to_string(),
    };
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    // The full span only when traces are exported: formatting span fields for the JSON log on
    // every request costs measurably, and logs need only the request id to correlate.
    let tracing_on = OTEL_ON.load(std::sync::atomic::Ordering::Relaxed);
    let span = if tracing_on {
        let method = req.method().clone();
        let span = tracing::info_span!(
            "request",
            otel.name = %format!("{method} {route}"),
            otel.kind = "server",
            service,
            http.request.method = %method,
            http.route = %route,
            http.response.status_code = tracing::field::Empty,
            request_id = %request_id,
        );
        let parent = opentelemetry::global::get_text_map_propagator(|p| {
            p.extract(&HeaderExtractor(req.headers()))
        });
        let _ = span.set_parent(parent);
        span
    } else {
        tracing::info_span!("request", request_id = %request_id)
    };
    let start = Instant::now();
    let response = next.run(req).instrument(span.clone()).await;
    // A gRPC failure travels as HTTP 200 with `grpc-status` in the headers (trailers-only):
    // counted as the HTTP status it stands for, so one 5xx ratio covers every role.
    let status = match response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
    {
        Some(code) => grpc_as_http(code),
        None => response.status().as_u16(),
    };
    if tracing_on {
        span.record("http.response.status_code", status);
    }
    let elapsed = start.elapsed();
    metrics::counter!("yiwang_requests_total", "service" => service, "route" => route.clone(), "status" => status.to_string()).increment(1);
    metrics::histogram!("yiwang_request_duration_seconds", "service" => service, "route" => route)
        .record(elapsed.as_secs_f64());
    if elapsed > Duration::from_secs(1) {
        tracing::warn!(parent: &span, elapsed_ms = elapsed.as_millis() as u64, "slow request");
    }
    response
}

/// The HTTP status a gRPC status code stands for (google.rpc.Code's mapping; 499 for a
/// cancelled call).
fn grpc_as_http(code: i32) -> u16 {
    match tonic::Code::from_i32(code) {
        tonic::Code::Ok => 200,
        tonic::Code::Cancelled => 499,
        tonic::Code::InvalidArgument
        | tonic::Code::FailedPrecondition
        | tonic::Code::OutOfRange => 400,
        tonic::Code::Unauthenticated => 401,
        tonic::Code::PermissionDenied => 403,
        tonic::Code::NotFound => 404,
        tonic::Code::AlreadyExists | tonic::Code::Aborted => 409,
        tonic::Code::ResourceExhausted => 429,
        tonic::Code::Unimplemented => 501,
        tonic::Code::Unavailable => 503,
        tonic::Code::DeadlineExceeded => 504,
        tonic::Code::Unknown | tonic::Code::Internal | tonic::Code::DataLoss => 500,
    }
}
