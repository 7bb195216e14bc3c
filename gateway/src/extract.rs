//! What the hand-written edge routes share with the generated ones: the JSON body extractor
//! (wrong types, unknown fields, invalid UTF-8, too large: the REST error body with the field
//! named), the caller's context for the gRPC call, and the mapping of gRPC failures.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use yiwang_kit::{Caller, Code, Error};

/// A JSON body, deserialized with the path of the first bad field.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !is_json {
            return Err(Error::invalid("Content-Type", "must be application/json"));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| body_error(&e.body_text()))?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Maps a body-reading failure; the only expected one is the size limit.
pub fn body_error(text: &str) -> Error {
    if text.contains("length limit") || text.contains("too large") {
        Error::new(
            Code::PayloadTooLarge,
            "PAYLOAD_TOO_LARGE",
            "the request body is larger than this server accepts",
        )
        .with_violation("body", "is too large")
    } else {
        Error::invalid("body", "could not be read")
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    if std::str::from_utf8(bytes).is_err() {
        return Err(Error::invalid("body", "is not valid UTF-8"));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // serde's message ends with " at line L column C": useful for syntax errors only.
        let msg = inner.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        if inner.is_syntax() || inner.is_eof() || path == "." {
            Error::invalid("body", format!("is not valid JSON for this request: {msg}"))
        } else {
            Error::invalid(path, msg)
        }
    })
}

/// What a handler needs to call a service on the caller's behalf.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub caller: Caller,
    pub authorization: Option<http::HeaderValue>,
    pub request_id: Option<http::HeaderValue>,
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Ctx {
            caller: parts
                .extensions
                .get::<Caller>()
                .cloned()
                .unwrap_or_default(),
            authorization: parts.headers.get(http::header::AUTHORIZATION).cloned(),
            request_id: parts.headers.get("x-request-id").cloned(),
        })
    }
}

impl Ctx {
    /// A gRPC request carrying the caller's token, the request id and the trace context.
    pub fn grpc<T>(&self, message: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(message);
        let md = req.metadata_mut();
        if let Some(auth) = &self.authorization
            && let Ok(v) = tonic::metadata::MetadataValue::try_from(auth.as_bytes())
        {
            md.insert("authorization", v);
        }
        if let Some(id) = &self.request_id
            && let Ok(v) = tonic::metadata::MetadataValue::try_from(id.as_bytes())
        {
            md.insert("x-request-id", v);
        }
        yiwang_kit::telemetry::inject_trace_context(md);
        req.set_timeout(std::time::Duration::from_secs(10));
        req
    }
}

/// Converts a gRPC failure into the REST error.
pub fn upstream(status: tonic::Status) -> Error {
    if matches!(
        status.code(),
        tonic::Code::Unavailable | tonic::Code::Unknown
    ) && status.metadata().get("grpc-status").is_none()
    {
        tracing::warn!(message = status.message(), "upstream service unavailable");
    }
    Error::from_status(&status)
}
