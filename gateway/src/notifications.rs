//! `GET /v1/me/notifications/stream`: the inbox's server-streaming `StreamNotifications` as
//! Server-Sent Events, what the app keeps open. Each notification is an `event: notification`
//! whose `id:` is the inbox cursor, so a reconnecting `EventSource` (which sends
//! `Last-Event-ID`) resumes exactly after the last one it saw; the inbox's heartbeats become
//! SSE comments that keep proxies from closing an idle stream. Nothing is buffered here.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{FromRequestParts, Query, Request, State};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use yiwang_kit::Error;
use yiwang_proto::inbox::v1 as pb;
use yiwang_proto::inbox::v1::inbox_service_client::InboxServiceClient;

use crate::AppState;
use crate::extract::{Ctx, upstream};

const RPC: &str = "yiwang.inbox.v1.InboxService.StreamNotifications";
/// How long a browser waits before reconnecting after the stream ends.
const RECONNECT: Duration = Duration::from_secs(3);

#[derive(serde::Deserialize)]
pub struct StreamQuery {
    #[serde(default)]
    after: Option<String>,
}

pub async fn stream(State(s): State<AppState>, req: Request) -> Response {
    match open(&s, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn open(s: &AppState, req: Request) -> Result<Response, Error> {
    let (mut parts, _) = req.into_parts();
    let ctx = Ctx::from_request_parts(&mut parts, &()).await?;
    crate::rest::authorize(&ctx.caller, RPC)?;
    let query = Query::<StreamQuery>::from_request_parts(&mut parts, &())
        .await
        .map_err(|_| Error::invalid("after", "must be given once, as text"))?;
    // A reconnecting EventSource names the last event it saw; that wins over the query.
    let after = match parts.headers.get("last-event-id") {
        Some(v) => v
            .to_str()
            .map_err(|_| Error::invalid("Last-Event-ID", "must be an inbox cursor"))?
            .to_string(),
        None => query.0.after.unwrap_or_default(),
    };
    let channel = s
        .channel_for("yiwang.inbox.v1")
        .ok_or_else(|| Error::unavailable("no upstream for notifications"))?;
    let mut call = ctx.grpc(pb::StreamNotificationsRequest { after });
    // Open for as long as the app keeps it: no deadline.
    call.metadata_mut().remove("grpc-timeout");
    let stream = InboxServiceClient::new(channel)
        .stream_notifications(call)
        .await
        .map_err(upstream)?
        .into_inner();
    let opening = Event::default().retry(RECONNECT).comment("connected");
    let events = futures::stream::once(async move { Ok::<_, Infallible>(opening) }).chain(
        futures::stream::unfold(Some(stream), |stream| async move {
            let mut stream = stream?;
            match stream.message().await {
                Ok(Some(m)) => Some((Ok(event_of(m)), Some(stream))),
                Ok(None) => None,
                // Said once, then the stream ends; the app reconnects with its last event id.
                Err(status) => Some((
                    Ok(Event::default()
                        .event("error")
                        .data(Error::from_status(&status).to_json().to_string())),
                    None,
                )),
            }
        }),
    );
    let mut response = Sse::new(events).into_response();
    let headers = response.headers_mut();
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache, no-store"),
    );
    // nginx and the like pass each event on at once instead of buffering the response.
    headers.insert("x-accel-buffering", http::HeaderValue::from_static("no"));
    Ok(response)
}

fn event_of(m: pb::StreamNotificationsResponse) -> Event {
    match m.notification {
        Some(n) if !m.heartbeat => {
            match crate::rest::message_json(&n, "yiwang.inbox.v1.Notification") {
                Ok(json) => Event::default()
                    .id(m.cursor)
                    .event("notification")
                    .data(String::from_utf8_lossy(&json)),
                Err(e) => Event::default()
                    .event("error")
                    .data(e.to_json().to_string()),
            }
        }
        _ => Event::default().comment("heartbeat"),
    }
}
