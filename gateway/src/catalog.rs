//! The catalogue's one hand-written REST route: `GET /v1/items/{code}`, the hottest read of the
//! platform, served from the near cache and the Redis cache in front of the catalogue service
//! (its annotation in catalog.proto marks it `edge`; every other catalogue route is generated).

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use yiwang_kit::Error;
use yiwang_proto::catalog::v1 as pb;

use crate::AppState;
use crate::cache;
use crate::extract::{Ctx, upstream};

type ApiResult<T> = Result<T, Error>;

pub async fn get_item(
    State(s): State<AppState>,
    ctx: Ctx,
    code: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    let Ok(Path(code)) = code else {
        return Err(Error::invalid(
            "code",
            "must be valid percent-encoded UTF-8",
        ));
    };
    if code.contains('\0') {
        return Err(Error::invalid(
            "code",
            "must not contain NUL characters (U+0000)",
        ));
    }
    if code.len() > crate::rest::MAX_PATH_VALUE_BYTES {
        return Err(Error::invalid(
            "code",
            format!(
                "must be at most {} characters",
                crate::rest::MAX_PATH_VALUE_BYTES
            ),
        ));
    }
    if let Some(body) = s.items.get(&code) {
        metrics::counter!("yiwang_cache_total", "result" => "near_hit").increment(1);
        return Ok(json_bytes(body, "hit"));
    }
    let epoch = s.items.epoch();
    let redis = s.redis.get();
    let mut generation = None;
    if let Some(redis) = redis {
        match cache::lookup(redis, &code).await {
            Ok(cache::Lookup::Hit(body)) => {
                metrics::counter!("yiwang_cache_total", "result" => "hit").increment(1);
                s.items.insert_if_unchanged(&code, body.clone(), epoch);
                return Ok(json_bytes(body, "hit"));
            }
            Ok(cache::Lookup::Miss { generation: g }) => generation = Some(g),
            Err(e) => tracing::warn!(error = %e, "item cache unavailable"),
        }
    }
    metrics::counter!("yiwang_cache_total", "result" => "miss").increment(1);
    let r = s
        .catalog
        .clone()
        .get_item(ctx.grpc(pb::GetItemRequest { code: code.clone() }))
        .await
        .map_err(upstream)?
        .into_inner();
    let body = crate::rest::message_json(&r, "yiwang.catalog.v1.Item")?;
    if let (Some(redis), Some(g)) = (redis, generation)
        && let Err(e) = cache::fill(redis, &code, g, &body, s.cfg.cache_ttl_secs).await
    {
        tracing::warn!(error = %e, "item cache fill failed");
    }
    let body = bytes::Bytes::from(body);
    if redis.is_some() {
        // Only while changes can be heard (Redis up) may an item be kept in memory.
        s.items.insert_if_unchanged(&code, body.clone(), epoch);
    }
    Ok(json_bytes(body, "miss"))
}

fn json_bytes(body: bytes::Bytes, cache: &'static str) -> Response {
    let mut resp = Response::new(axum::body::Body::from(body));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp.headers_mut()
        .insert("x-cache", http::HeaderValue::from_static(cache));
    resp
}

pub async fn not_found() -> impl IntoResponse {
    Error::not_found("ROUTE_NOT_FOUND", "no such route; see /openapi.json")
}
