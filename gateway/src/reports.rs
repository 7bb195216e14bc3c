//! `GET /v1/reports/work/document?year=&half=&format=html`: the half-year work report as a
//! document to read, print and sign, streamed from the insight service's `RenderWorkReport`
//! with the type it names (the figures themselves are JSON at `GET /v1/reports/work`).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use yiwang_kit::Error;
use yiwang_proto::insight::v1 as pb;
use yiwang_proto::insight::v1::insight_service_client::InsightServiceClient;

use crate::AppState;
use crate::extract::{Ctx, upstream};

pub async fn document(State(s): State<AppState>, req: Request) -> Response {
    match render(&s, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// A whole-number query parameter (absent: 0, "the default").
fn number(query: &[(String, String)], name: &str) -> Result<i32, Error> {
    match query.iter().find(|(k, _)| k == name) {
        None => Ok(0),
        Some((_, v)) if v.trim().is_empty() => Ok(0),
        Some((_, v)) => v
            .trim()
            .parse()
            .map_err(|_| Error::invalid(name, "must be a whole number")),
    }
}

async fn render(s: &AppState, req: Request) -> Result<Response, Error> {
    let (mut parts, _) = req.into_parts();
    let ctx =
        <Ctx as axum::extract::FromRequestParts<()>>::from_request_parts(&mut parts, &()).await?;
    crate::rest::authorize(
        &ctx.caller,
        "yiwang.insight.v1.InsightService.RenderWorkReport",
    )?;
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(parts.uri.query().unwrap_or_default())
            .map_err(|_| Error::invalid("query", "must be valid percent-encoded UTF-8"))?;
    let format = query
        .iter()
        .find(|(k, _)| k == "format")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let message = pb::RenderWorkReportRequest {
        year: number(&query, "year")?,
        half: number(&query, "half")?,
        format,
    };
    let channel = s
        .channel_for("yiwang.insight.v1")
        .ok_or_else(|| Error::unavailable("no upstream for reports"))?;
    let mut call = ctx.grpc(message);
    call.set_timeout(std::time::Duration::from_secs(60));
    let mut stream = InsightServiceClient::new(channel)
        .render_work_report(call)
        .await
        .map_err(upstream)?
        .into_inner();
    let head = stream
        .message()
        .await
        .map_err(upstream)?
        .ok_or_else(|| Error::internal("a report rendering answered nothing"))?;
    let content_type = http::HeaderValue::from_str(&head.content_type)
        .unwrap_or(http::HeaderValue::from_static("application/octet-stream"));
    let first =
        futures::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(head.data)) });
    let rest = stream.map(|chunk| {
        chunk
            .map(|c| Bytes::from(c.data))
            .map_err(|status| std::io::Error::other(status.message().to_string()))
    });
    let mut response = Response::new(Body::from_stream(first.chain(rest)));
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, content_type);
    // The bureau's internal figures: no shared cache keeps them.
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("private, no-store"),
    );
    headers.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        http::HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}
