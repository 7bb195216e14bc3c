//! Cross-cutting request handling: authentication, per-client rate limits and idempotent
//! creates, all backed by Redis where state must be shared between gateway replicas.

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use redis::AsyncCommands;
use sha2::{Digest, Sha256};
use yiwang_kit::{Caller, Code, Error};

use crate::AppState;
use crate::ratelimit::Decision;

/// Verifies a bearer token if one is present: a bad token is 401 even on public routes, so a
/// client learns at once that its token expired.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    match state
        .verifier
        .caller_from_header(req.headers().get(http::header::AUTHORIZATION))
    {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

/// The client a rate limit applies to: the token's subject, else the remote address.
fn client_of(req: &Request, trust_forwarded: bool) -> String {
    if let Some(c) = req.extensions().get::<Caller>()
        && c.is_authenticated()
    {
        return format!("sub:{}", c.sub);
    }
    if trust_forwarded
        && let Some(ip) = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|s| !s.is_empty())
    {
        return format!("ip:{ip}");
    }
    let ip = req
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    format!("ip:{ip}")
}

/// Per-client fixed-window limit (see [`crate::ratelimit`]). Over the limit: 429 with
/// `Retry-After`.
pub async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // Look-ups by number and code have a limit of their own, as well as the general one.
    if req.uri().path().starts_with("/v1/public/") && state.lookup_limiter.limit() > 0 {
        let key = format!("lookup:{}", client_of(&req, state.cfg.trust_forwarded));
        if let Decision::Deny { retry_after_secs } = state.lookup_limiter.check(&key) {
            return limited(&state.lookup_limiter, retry_after_secs);
        }
    }
    let limiter = &state.limiter;
    if limiter.limit() == 0 {
        return next.run(req).await;
    }
    let limit = limiter.limit();
    match limiter.check(&client_of(&req, state.cfg.trust_forwarded)) {
        Decision::Deny { retry_after_secs } => limited(limiter, retry_after_secs),
        Decision::Allow { remaining } => {
            let mut resp = next.run(req).await;
            resp.headers_mut().insert("x-ratelimit-limit", limit.into());
            resp.headers_mut()
                .insert("x-ratelimit-remaining", remaining.into());
            resp
        }
    }
}

/// 429 with `Retry-After` and the limit's headers.
fn limited(limiter: &crate::ratelimit::Limiter, retry_after_secs: u64) -> Response {
    metrics::counter!("yiwang_rate_limited_total").increment(1);
    let (limit, window) = (limiter.limit(), limiter.window_secs());
    let mut resp = Error::new(
        Code::ResourceExhausted,
        "RATE_LIMITED",
        format!(
            "too many requests: at most {limit} per {window} s; retry after {retry_after_secs} s"
        ),
    )
    .with_metadata("retry_after_seconds", retry_after_secs.to_string())
    .into_response();
    let h = resp.headers_mut();
    h.insert(http::header::RETRY_AFTER, retry_after_secs.into());
    h.insert("x-ratelimit-limit", limit.into());
    h.insert("x-ratelimit-remaining", 0.into());
    resp
}

/// What is remembered of a create, keyed by (caller, route, Idempotency-Key), for 24 hours.
#[derive(serde::Serialize, serde::Deserialize)]
struct Remembered {
    /// SHA-256 of the request body: the same key with another body is a client bug.
    body_hash: String,
    /// `None` while the first request is still running.
    status: Option<u16>,
    body: String,
}

const IDEMPOTENCY_TTL_SECS: u64 = 24 * 3600;

/// How long a running request's "in progress" marker lives without being renewed. The gateway
/// running the request renews it every third of this; if that gateway dies, the marker lapses
/// and a retry runs the create again, which the service answers with what it made the first
/// time (it records the key as the request's `request_id`).
pub const IDEMPOTENCY_LEASE_SECS: u64 = 3;

/// Whether the service itself makes a create single per request id (the binding's RPC has
/// `request_id`). Only then may a lapsed marker let a retry through; otherwise the marker is
/// kept for the whole day, since running the create again could make it twice.
#[derive(Clone, Copy)]
pub struct ServiceDedupes(pub bool);

/// `Idempotency-Key` on creating POSTs: the first request runs; a retry with the same key and
/// body gets the first answer (marked `Idempotency-Replayed: true`) and creates nothing; a retry
/// while the first still runs gets 409 with `Retry-After`; the key with a different body gets
/// 400. The key is also passed to the service as its `request_id`, so a create stays single
/// even if Redis forgets or the gateway dies mid-request.
pub async fn idempotency(
    State((state, dedupes)): State<(AppState, ServiceDedupes)>,
    req: Request,
    next: Next,
) -> Response {
    let Some(key) = req.headers().get("idempotency-key").cloned() else {
        return next.run(req).await;
    };
    let key = match key.to_str() {
        Ok(k)
            if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| (0x21..0x7f).contains(&b)) =>
        {
            k.to_string()
        }
        _ => {
            return Error::invalid(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            )
            .into_response();
        }
    };
    let Some(redis) = state.redis.get() else {
        return Error::unavailable(
            "idempotent requests need Redis, which is not reachable; retry shortly",
        )
        .into_response();
    };
    let caller = req
        .extensions()
        .get::<Caller>()
        .map(|c| c.sub.clone())
        .unwrap_or_default();
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, state.cfg.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return crate::extract::body_error(&e.to_string()).into_response(),
    };
    let body_hash = hex(&Sha256::digest(&bytes));
    let redis_key = redis.key(&format!("idem:{caller}:{}:{}", parts.uri.path(), key));
    let mut conn = redis.conn.clone();
    let pending = serde_json::to_string(&Remembered {
        body_hash: body_hash.clone(),
        status: None,
        body: String::new(),
    })
    .unwrap_or_default();
    let marker_secs = if dedupes.0 {
        IDEMPOTENCY_LEASE_SECS
    } else {
        IDEMPOTENCY_TTL_SECS
    };
    let claimed: Result<bool, _> = redis::cmd("SET")
        .arg(&redis_key)
        .arg(&pending)
        .arg("NX")
        .arg("EX")
        .arg(marker_secs)
        .query_async::<Option<String>>(&mut conn)
        .await
        .map(|r| r.is_some());
    match claimed {
        Err(e) => {
            tracing::warn!(error = %e, "idempotency store (Redis) unavailable");
            return Error::unavailable(
                "idempotent requests need Redis, which is not reachable; retry shortly with the same Idempotency-Key",
            )
            .into_response();
        }
        Ok(false) => return replay(&mut conn, &redis_key, &body_hash).await,
        Ok(true) => {}
    }
    let mut req = Request::from_parts(parts, Body::from(bytes));
    req.extensions_mut().insert(IdempotencyKey(key));
    let run = next.run(req);
    let resp = if dedupes.0 {
        // Renew the lease while the request runs, in this very future: a gateway that dies
        // stops renewing, and the marker lapses within the lease.
        tokio::pin!(run);
        let mut renew = tokio::time::interval(std::time::Duration::from_millis(
            IDEMPOTENCY_LEASE_SECS * 1000 / 3,
        ));
        renew.tick().await;
        loop {
            tokio::select! {
                resp = &mut run => break resp,
                _ = renew.tick() => {
                    let _: Result<(), _> = conn.expire(&redis_key, IDEMPOTENCY_LEASE_SECS as i64).await;
                }
            }
        }
    } else {
        run.await
    };
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 16 * 1024 * 1024)
        .await
        .unwrap_or_default();
    if parts.status.is_server_error() || parts.status == http::StatusCode::TOO_MANY_REQUESTS {
        // Nothing was created (or we cannot know): let the client retry with the same key.
        let _: Result<(), _> = conn.del(&redis_key).await;
    } else {
        let done = Remembered {
            body_hash,
            status: Some(parts.status.as_u16()),
            body: String::from_utf8_lossy(&bytes).into_owned(),
        };
        let _: Result<(), _> = conn
            .set_ex(
                &redis_key,
                serde_json::to_string(&done).unwrap_or_default(),
                IDEMPOTENCY_TTL_SECS,
            )
            .await;
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// The answer to a key seen before: the first answer, or why there is none yet.
async fn replay(conn: &mut yiwang_kit::redis::Conn, redis_key: &str, body_hash: &str) -> Response {
    let stored: Option<String> = conn.get(redis_key).await.unwrap_or(None);
    let Some(stored) = stored.and_then(|s| serde_json::from_str::<Remembered>(&s).ok()) else {
        // It lapsed between our SET and GET: the client simply tries again.
        return Error::new(
            Code::Aborted,
            "IDEMPOTENCY_IN_PROGRESS",
            "a request with this Idempotency-Key has just ended; retry",
        )
        .into_response();
    };
    if stored.body_hash != body_hash {
        return Error::new(
            Code::InvalidArgument,
            "IDEMPOTENCY_KEY_REUSED",
            "this Idempotency-Key was used with a different request body",
        )
        .with_violation(
            "Idempotency-Key",
            "was already used with a different request body",
        )
        .into_response();
    }
    let Some(status) = stored.status else {
        return Error::new(
            Code::Aborted,
            "IDEMPOTENCY_IN_PROGRESS",
            "a request with this Idempotency-Key is still in progress; retry shortly",
        )
        .into_response();
    };
    let mut resp = Response::new(Body::from(stored.body));
    *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        "idempotency-replayed",
        http::HeaderValue::from_static("true"),
    );
    resp
}

/// The validated Idempotency-Key of the request, for handlers to pass on as `request_id`.
#[derive(Clone, Debug)]
pub struct IdempotencyKey(pub String);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A method the route does not have: 405 with the documented error body (axum's own answer
/// has none).
pub async fn method_not_allowed() -> Response {
    let body = serde_json::json!({"error": {
        "code": 405,
        "status": "UNIMPLEMENTED",
        "message": "this path does not take that method; see /openapi.json",
        "details": [{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "METHOD_NOT_ALLOWED",
            "domain": yiwang_kit::error::DOMAIN,
            "metadata": {},
        }],
    }});
    (http::StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}
