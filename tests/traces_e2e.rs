//! Traces an operator can read (issue 17): a filing is one trace from the gateway through cases
//! to the catalogue, each role exporting under its own `service.name` although the stack runs in
//! one process (as under `yiwang up`), with the database statements and Redis commands of each
//! hop as client spans (operation and duration, never the bound values), and the outbox relay's
//! pass as a span of the role that publishes.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use common::*;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;

/// An OTLP/gRPC trace receiver keeping every export.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<ExportTraceServiceRequest>>>);

#[tonic::codegen::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.lock().unwrap().push(req.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// One received span with the `service.name` of the resource it came under.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    name: String,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent: Vec<u8>,
    start: u64,
    end: u64,
    attributes: HashMap<String, String>,
}

fn text(kv: &[KeyValue]) -> HashMap<String, String> {
    kv.iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(AnyValue::StringValue(s)) => s.clone(),
                Some(AnyValue::IntValue(i)) => i.to_string(),
                Some(AnyValue::BoolValue(b)) => b.to_string(),
                Some(AnyValue::DoubleValue(d)) => d.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), v)
        })
        .collect()
}

fn spans(c: &Collector) -> Vec<Received> {
    let mut out = Vec::new();
    for export in c.0.lock().unwrap().iter() {
        for rs in &export.resource_spans {
            let resource = rs
                .resource
                .as_ref()
                .map(|r| text(&r.attributes))
                .unwrap_or_default();
            let service = resource.get("service.name").cloned().unwrap_or_default();
            for ss in &rs.scope_spans {
                for s in &ss.spans {
                    out.push(Received {
                        service: service.clone(),
                        name: s.name.clone(),
                        trace_id: s.trace_id.clone(),
                        span_id: s.span_id.clone(),
                        parent: s.parent_span_id.clone(),
                        start: s.start_time_unix_nano,
                        end: s.end_time_unix_nano,
                        attributes: text(&s.attributes),
                    });
                }
            }
        }
    }
    out
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// Several threads: the exporters' channels run on the runtime while the guard's drop blocks one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filing_is_one_trace_across_roles_with_its_statements_and_redis_commands() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );

    let mut cfg = test_config(10_000).await;
    cfg.otlp_endpoint = Some(endpoint);
    // As `yiwang up`: one process, every role.
    let telemetry = yiwang_kit::telemetry::init("yiwang", &cfg);
    let s = Stack::start_with(cfg).await;

    let item = create_published(&s, 1, "食品经营许可证核发").await;
    let citizen = s.token("citizen-trace", &["citizen"], None);
    // The caller's own trace context: the platform continues it.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let r = s
        .http
        .post(format!("{}/v1/cases", s.base))
        .bearer_auth(&citizen)
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .header("idempotency-key", "trace-filing-1")
        .json(&serde_json::json!({"item_code": item, "channel": "online",
            "applicant": {"kind": "person", "name": "欧阳追踪", "id_number": "11010519491231002X",
                          "phone": "13812345678"}}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let case: serde_json::Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{case}");
    // Let the outbox relay publish the filing's event.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    // Dropping the guard flushes every role's exporter (and blocks while it does).
    tokio::task::spawn_blocking(move || drop(telemetry))
        .await
        .unwrap();

    let all = spans(&collector);
    let trace: Vec<&Received> = all.iter().filter(|s| s.trace_id == hex(trace_id)).collect();
    assert!(
        !trace.is_empty(),
        "no span of the caller's trace among {} spans",
        all.len()
    );

    // Each role names itself.
    let services: HashSet<&str> = trace.iter().map(|s| s.service.as_str()).collect();
    for role in ["yiwang-gateway", "yiwang-cases", "yiwang-catalog"] {
        assert!(
            services.contains(role),
            "{role} missing from the trace: {services:?}"
        );
    }
    assert!(
        !services.contains("yiwang"),
        "a span of the trace carries no role: {trace:#?}"
    );

    // One tree: every span's parent is the caller's span or another span of the trace.
    let ids: HashSet<&[u8]> = trace.iter().map(|s| s.span_id.as_slice()).collect();
    for sp in &trace {
        assert!(
            sp.parent == hex(caller_span) || ids.contains(sp.parent.as_slice()),
            "span {} ({}) hangs off an unknown parent",
            sp.name,
            sp.service
        );
        assert!(sp.end >= sp.start, "{} ends before it starts", sp.name);
    }

    // The database work of the filing, under the role that did it.
    let statements: Vec<&&Received> = trace
        .iter()
        .filter(|s| s.attributes.get("db.system.name").map(String::as_str) == Some("postgresql"))
        .collect();
    assert!(
        statements
            .iter()
            .any(|s| s.service == "yiwang-cases" && s.name == "INSERT cases"),
        "no `INSERT cases` span from cases: {:?}",
        statements
            .iter()
            .map(|s| (&s.service, &s.name))
            .collect::<Vec<_>>()
    );
    assert!(
        statements
            .iter()
            .any(|s| s.service == "yiwang-catalog" && s.name.starts_with("SELECT")),
        "no catalogue read in the trace"
    );
    for st in &statements {
        let sql = &st.attributes["db.query.text"];
        assert!(!sql.is_empty(), "{} has no statement text", st.name);
    }
    assert!(
        statements
            .iter()
            .any(|s| s.attributes["db.query.text"].contains("$1")),
        "statements are recorded with their placeholders"
    );

    // Redis commands (the gateway's idempotency record) as client spans.
    assert!(
        trace.iter().any(|s| s.service == "yiwang-gateway"
            && s.attributes.get("db.system.name").map(String::as_str) == Some("redis")),
        "no Redis span from the gateway: {:?}",
        trace
            .iter()
            .map(|s| (&s.service, &s.name))
            .collect::<Vec<_>>()
    );

    // The outbox relay's pass, named by the role that publishes, with its XADD pipeline.
    let relay: Vec<&Received> = all
        .iter()
        .filter(|s| s.service == "yiwang-cases" && s.name == "outbox relay")
        .collect();
    assert!(!relay.is_empty(), "no outbox relay span from cases");
    assert!(
        all.iter()
            .any(|s| relay.iter().any(|r| r.span_id == s.parent)
                && s.name.starts_with("pipeline XADD")),
        "the relay's XADD pipeline is not under its pass"
    );

    // Nothing personal leaves in a span: no bound value, no applicant field.
    let case_id = case["id"].as_str().unwrap();
    for sp in &all {
        for (k, v) in &sp.attributes {
            for secret in ["欧阳追踪", "11010519491231002X", "13812345678", case_id] {
                assert!(
                    !v.contains(secret),
                    "span {} ({}) attribute {k} carries {secret:?}",
                    sp.name,
                    sp.service
                );
            }
        }
    }
    s.stop().await;
}
