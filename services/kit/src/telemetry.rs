//! Logs, metrics and traces. JSON logs to stdout; Prometheus metrics rendered at `/metrics`;
//! OpenTelemetry traces exported over OTLP/gRPC when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, with
//! W3C `traceparent` extracted from every incoming request (HTTP and gRPC) and injected into every
//! outgoing gRPC call, so one trace follows a request from the gateway through each service.
//!
//! Each role exports under its own `service.name` (`yiwang-cases`, …) even when every role runs in
//! one process (`yiwang up`, the tests' stack): a request's server span puts its [`Role`] into the
//! OpenTelemetry context, everything started under it inherits that context, and [`RoleTracer`]
//! hands each span to the tracer of its role. Database statements (sqlx's `sqlx::query` events)
//! and Redis commands become client spans under the span that issued them, named by operation and
//! target; their attributes carry the statement text with its placeholders, never bound values.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use opentelemetry::KeyValue;
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::{Span as _, SpanBuilder, SpanKind, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::Config;

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// Whether spans are exported (an OTLP endpoint is configured).
static OTEL_ON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Keeps the trace exporters alive; dropping it flushes pending spans.
pub struct TelemetryGuard {
    providers: Vec<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        for p in self.providers.drain(..) {
            let _ = p.shutdown();
        }
    }
}

/// The role a span belongs to, carried as a value in the OpenTelemetry context from a request's
/// server span (or a background task's root span) to every span started under it.
#[derive(Clone, Copy, Debug)]
pub struct Role(pub &'static str);

/// Starts each span with the tracer of the [`Role`] in its parent context, so that one process
/// running several roles still exports each role under its own `service.name`; spans outside
/// any role (start-up, migrations) go to the process's own tracer.
#[derive(Clone)]
struct RoleTracer {
    process: SdkTracer,
    roles: Arc<HashMap<&'static str, SdkTracer>>,
}

impl opentelemetry::trace::Tracer for RoleTracer {
    type Span = opentelemetry_sdk::trace::Span;

    fn build_with_context(
        &self,
        builder: SpanBuilder,
        parent_cx: &opentelemetry::Context,
    ) -> Self::Span {
        let tracer = parent_cx
            .get::<Role>()
            .and_then(|r| self.roles.get(r.0))
            .unwrap_or(&self.process);
        tracer.build_with_context(builder, parent_cx)
    }
}

static TRACER: OnceLock<RoleTracer> = OnceLock::new();

/// One provider exporting over OTLP/gRPC under `service_name`.
fn provider(endpoint: &str, service_name: String) -> Result<SdkTracerProvider, String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder().with_tonic();
    let exporter = opentelemetry_otlp::WithExportConfig::with_endpoint(exporter, endpoint)
        .build()
        .map_err(|e| e.to_string())?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(service_name)
                .build(),
        )
        .build())
}

/// Installs logging, tracing and the metrics recorder for this process. Call once per process;
/// later calls (tests booting several stacks in one process) only reuse what is installed.
///
/// `service_name` is the process's name: `yiwang-<role>` for one role, `yiwang` for a process
/// running every role, whose spans are then exported under each role's own name.
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

    let mut providers = Vec::new();
    let tracer = cfg.otlp_endpoint.as_ref().and_then(|endpoint| {
        let built = (|| {
            let process = provider(endpoint, service_name.to_string())?;
            let mut roles = HashMap::new();
            // A process of one role (or a migration) exports everything under its own name; the
            // process of every role gets one exporter per role.
            if service_name == "yiwang" {
                for role in crate::config::ROLES {
                    let p = provider(endpoint, format!("yiwang-{role}"))?;
                    roles.insert(*role, p.tracer("yiwang"));
                    providers.push(p);
                }
            }
            let tracer = RoleTracer {
                process: process.tracer("yiwang"),
                roles: Arc::new(roles),
            };
            opentelemetry::global::set_tracer_provider(process.clone());
            providers.push(process);
            Ok::<_, String>(tracer)
        })();
        match built {
            Ok(tracer) => Some(tracer),
            Err(e) => {
                eprintln!(
                    "OTEL_EXPORTER_OTLP_ENDPOINT={endpoint}: cannot build the trace exporter: {e}"
                );
                None
            }
        }
    });
    let layers = tracer.map(|tracer| {
        OTEL_ON.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = TRACER.set(tracer.clone());
        let spans = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(filter());
        // sqlx reports each statement as a DEBUG event; only this layer asks for them.
        let statements = DbSpans.with_filter(
            tracing_subscriber::filter::Targets::new()
                .with_target("sqlx::query", tracing::Level::TRACE),
        );
        spans.and_then(statements)
    });

    // `try_init` fails when a subscriber is already set (several stacks in one test process).
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(layers)
        .try_init();
    TelemetryGuard { providers }
}

/// Whether spans are being exported (callers skip building span fields otherwise).
pub fn tracing_on() -> bool {
    OTEL_ON.load(std::sync::atomic::Ordering::Relaxed)
}

/// A root span for a role's background work (an outbox relay pass, a sweeper pass), exported
/// under the role's name. Disabled (free) when traces are not exported.
pub fn background_span(role: &'static str, name: &'static str) -> tracing::Span {
    if !tracing_on() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        "background",
        otel.name = name,
        service = role,
        events = tracing::field::Empty
    );
    let _ = span.set_parent(opentelemetry::Context::new().with_value(Role(role)));
    span
}

/// Turns each `sqlx::query` event (one per statement, with its elapsed time) into a client span
/// under the span that ran the statement: named `SELECT cases`, `INSERT outbox`, …, with the
/// statement's text (placeholders, never values) and its row counts.
struct DbSpans;

#[derive(Default)]
struct StatementFields {
    summary: String,
    statement: String,
    elapsed_secs: Option<f64>,
    rows_returned: Option<i64>,
    rows_affected: Option<i64>,
}

impl tracing::field::Visit for StatementFields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "summary" => self.summary = value.to_string(),
            "db.statement" => self.statement = value.trim().to_string(),
            _ => {}
        }
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.elapsed_secs = Some(value);
        }
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        let v = i64::try_from(value).unwrap_or(i64::MAX);
        match field.name() {
            "rows_returned" => self.rows_returned = Some(v),
            "rows_affected" => self.rows_affected = Some(v),
            _ => {}
        }
    }
    fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
}

impl<S> Layer<S> for DbSpans
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let Some(tracer) = TRACER.get() else { return };
        // Statements outside any traced work (pollers, sweepers between passes) would each be a
        // trace of their own: left out.
        let current = tracing::Span::current();
        if current.is_none() {
            return;
        }
        let mut f = StatementFields::default();
        event.record(&mut f);
        let Some(elapsed) = f.elapsed_secs else {
            return;
        };
        // Short statements come without `db.statement`: the summary is the whole text then.
        let text = if f.statement.is_empty() {
            f.summary.trim_end_matches(" …").to_string()
        } else {
            f.statement
        };
        let end = SystemTime::now();
        let start = end
            .checked_sub(Duration::from_secs_f64(elapsed.max(0.0)))
            .unwrap_or(end);
        let name = statement_name(&text);
        let mut attributes = vec![
            KeyValue::new("db.system.name", "postgresql"),
            KeyValue::new("db.query.summary", name.clone()),
        ];
        if let Some(n) = f.rows_returned.filter(|n| *n > 0) {
            attributes.push(KeyValue::new("db.response.returned_rows", n));
        }
        if let Some(n) = f.rows_affected.filter(|n| *n > 0) {
            attributes.push(KeyValue::new("db.response.affected_rows", n));
        }
        attributes.push(KeyValue::new("db.query.text", text.clone()));
        let parent = current.context();
        let mut span = tracer
            .span_builder(name)
            .with_kind(SpanKind::Client)
            .with_start_time(start)
            .with_attributes(attributes)
            .start_with_context(tracer, &parent);
        span.end_with_timestamp(end);
    }
}

/// A statement's span name: its operation and the table it works on (`SELECT cases`,
/// `INSERT case_history`, `COMMIT`), from the text alone. A `WITH` statement that changes data
/// is named by its first change (`WITH filed AS (INSERT INTO cases …` is `INSERT cases`).
pub fn statement_name(sql: &str) -> String {
    let words: Vec<&str> = sql.split_whitespace().take(64).collect();
    if words
        .first()
        .is_some_and(|w| w.eq_ignore_ascii_case("WITH"))
    {
        let change = words.iter().position(|w| {
            let w = w.trim_start_matches('(');
            ["INSERT", "UPDATE", "DELETE"]
                .iter()
                .any(|k| w.eq_ignore_ascii_case(k))
        });
        if let Some(i) = change {
            let rest = words[i..].join(" ");
            return statement_name(rest.trim_start_matches('('));
        }
    }
    let Some(first) = words.first() else {
        return "statement".to_string();
    };
    let op = first.to_ascii_uppercase();
    let after = |keyword: &str| {
        words
            .iter()
            .position(|w| w.eq_ignore_ascii_case(keyword))
            .and_then(|i| words.get(i + 1))
            .map(|t| {
                t.trim_matches(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
                    .to_string()
            })
            .filter(|t| !t.is_empty())
    };
    let target = match op.as_str() {
        "SELECT" | "DELETE" => after("FROM"),
        "INSERT" => after("INTO"),
        "UPDATE" => words.get(1).map(|t| t.to_string()),
        "WITH" => after("FROM"),
        _ => None,
    };
    match target {
        Some(t) => format!("{op} {t}"),
        None => op,
    }
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
    let tracing_on = tracing_on();
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
        let _ = span.set_parent(parent.with_value(Role(service)));
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

#[cfg(test)]
mod tests {
    use super::statement_name;

    #[test]
    fn statements_are_named_by_operation_and_table() {
        assert_eq!(
            statement_name("SELECT a, b FROM cases WHERE id = $1"),
            "SELECT cases"
        );
        assert_eq!(
            statement_name("INSERT INTO outbox (a) VALUES ($1)"),
            "INSERT outbox"
        );
        assert_eq!(statement_name("update cases SET x = $1"), "UPDATE cases");
        assert_eq!(
            statement_name("DELETE FROM uploads WHERE id = $1"),
            "DELETE uploads"
        );
        assert_eq!(statement_name("COMMIT"), "COMMIT");
        assert_eq!(
            statement_name(
                "WITH filed AS (INSERT INTO cases (id) VALUES ($1) RETURNING id) SELECT * FROM filed"
            ),
            "INSERT cases"
        );
        assert_eq!(
            statement_name("WITH t AS (SELECT 1) SELECT * FROM items"),
            "WITH items"
        );
        assert_eq!(statement_name(""), "statement");
    }
}
