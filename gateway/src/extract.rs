//! Request extractors that turn every malformed input into the REST error body with the
//! offending field named: JSON bodies (wrong types, unknown fields, invalid UTF-8, too large)
//! and query parameters.

use axum::Extension;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use yiwang_kit::{Caller, Code, Error};

use crate::middleware::IdempotencyKey;

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

/// An optional JSON body: empty (or whitespace only, with or without a Content-Type) reads as
/// `T::default()`; anything else must be JSON and is parsed naming the first bad field.
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("").to_string());
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| body_error(&e.body_text()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        if let Some(ct) = content_type
            && !ct
                .split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        {
            return Err(Error::invalid("Content-Type", "must be application/json"));
        }
        parse_json(&bytes).map(OptionalJson)
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

/// Query parameters as strings; typed accessors name the parameter in their errors.
pub struct Params(pub std::collections::HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q).map_err(|_| {
            Error::invalid(
                "query",
                "is not a valid query string (percent-encoded UTF-8)",
            )
        })?;
        Ok(Params(pairs.into_iter().collect()))
    }
}

impl Params {
    pub fn str(&self, name: &str) -> String {
        self.0.get(name).cloned().unwrap_or_default()
    }

    pub fn i32(&self, name: &str) -> Result<i32, Error> {
        match self.0.get(name).map(|s| s.trim()) {
            None | Some("") => Ok(0),
            Some(s) => s
                .parse()
                .map_err(|_| Error::invalid(name, "must be an integer")),
        }
    }

    pub fn u32(&self, name: &str) -> Result<u32, Error> {
        match self.0.get(name).map(|s| s.trim()) {
            None | Some("") => Ok(0),
            Some(s) => s
                .parse()
                .map_err(|_| Error::invalid(name, "must be a non-negative integer")),
        }
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, Error> {
        match self.0.get(name).map(|s| s.trim()) {
            None | Some("") => Ok(None),
            Some("true") | Some("1") => Ok(Some(true)),
            Some("false") | Some("0") => Ok(Some(false)),
            Some(_) => Err(Error::invalid(name, "must be true or false")),
        }
    }
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

/// A period bound: `YYYY-MM-DD` (midnight, Asia/Shanghai) or an RFC 3339 timestamp.
pub fn period_bound(p: &Params, name: &str) -> Result<chrono::DateTime<chrono::Utc>, Error> {
    let v = p.str(name);
    let v = v.trim();
    if v.is_empty() {
        return Err(Error::invalid(name, "is required (YYYY-MM-DD or RFC 3339)"));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        let shanghai = chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset");
        return d
            .and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(shanghai).single())
            .map(|t| t.to_utc())
            .ok_or_else(|| Error::invalid(name, "is out of range"));
    }
    chrono::DateTime::parse_from_rfc3339(v)
        .map(|t| t.to_utc())
        .map_err(|_| Error::invalid(name, "must be YYYY-MM-DD or an RFC 3339 timestamp"))
}

/// The `Idempotency-Key` of a create, passed to the service as its `request_id`.
pub fn request_id(key: Option<Extension<IdempotencyKey>>) -> String {
    key.map(|Extension(k)| k.0).unwrap_or_default()
}

/// A protobuf timestamp as REST shows it: RFC 3339, UTC, whole seconds.
pub fn rfc3339(t: &Option<prost_types::Timestamp>) -> Option<String> {
    t.as_ref()
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}
