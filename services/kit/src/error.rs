//! One error type for every service and the gateway. An [`Error`] carries a [`Code`] (the gRPC
//! canonical code), a stable UPPER_SNAKE `reason`, a human message and field violations. It
//! becomes a `tonic::Status` with `google.rpc.ErrorInfo` and `BadRequest` details, and the
//! gateway turns such a status back into the REST error body of API.md.

use std::collections::BTreeMap;

use axum::response::{IntoResponse, Response};
use serde_json::json;
use tonic_types::{ErrorDetails, StatusExt};

/// The `ErrorInfo.domain` of every Yiwang error.
pub const DOMAIN: &str = "yiwang.gov.cn";

/// Longest message, field or description an error carries, in characters. Errors may echo what
/// the caller sent; a 7,000-character identifier echoed whole would not fit in an HTTP/2 header
/// (`grpc-message`), so only its beginning is echoed.
const MAX_ECHO_CHARS: usize = 200;

/// At most `MAX_ECHO_CHARS` characters of `s`, marked with `…` when cut.
pub fn clip(s: &str) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(MAX_ECHO_CHARS) {
        None => std::borrow::Cow::Borrowed(s),
        Some((at, _)) => std::borrow::Cow::Owned(format!("{}…", &s[..at])),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    InvalidArgument,
    Unauthenticated,
    PermissionDenied,
    NotFound,
    AlreadyExists,
    FailedPrecondition,
    Aborted,
    ResourceExhausted,
    PayloadTooLarge,
    /// A file of a type the route does not take (HTTP 415; gRPC INVALID_ARGUMENT with reason
    /// `UNSUPPORTED_MEDIA_TYPE`).
    UnsupportedMediaType,
    Unavailable,
    DeadlineExceeded,
    Unimplemented,
    Internal,
}

impl Code {
    pub fn grpc(self) -> tonic::Code {
        match self {
            Code::InvalidArgument | Code::UnsupportedMediaType => tonic::Code::InvalidArgument,
            Code::Unauthenticated => tonic::Code::Unauthenticated,
            Code::PermissionDenied => tonic::Code::PermissionDenied,
            Code::NotFound => tonic::Code::NotFound,
            Code::AlreadyExists => tonic::Code::AlreadyExists,
            Code::FailedPrecondition => tonic::Code::FailedPrecondition,
            Code::Aborted => tonic::Code::Aborted,
            Code::ResourceExhausted | Code::PayloadTooLarge => tonic::Code::ResourceExhausted,
            Code::Unavailable => tonic::Code::Unavailable,
            Code::DeadlineExceeded => tonic::Code::DeadlineExceeded,
            Code::Unimplemented => tonic::Code::Unimplemented,
            Code::Internal => tonic::Code::Internal,
        }
    }

    /// The standard gRPC → HTTP mapping (google.rpc.Code).
    pub fn http(self) -> u16 {
        match self {
            Code::InvalidArgument => 400,
            Code::Unauthenticated => 401,
            Code::PermissionDenied => 403,
            Code::NotFound => 404,
            Code::AlreadyExists | Code::Aborted => 409,
            Code::FailedPrecondition => 400,
            Code::PayloadTooLarge => 413,
            Code::UnsupportedMediaType => 415,
            Code::ResourceExhausted => 429,
            Code::Unimplemented => 501,
            Code::Unavailable => 503,
            Code::DeadlineExceeded => 504,
            Code::Internal => 500,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidArgument | Code::UnsupportedMediaType => "INVALID_ARGUMENT",
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::PermissionDenied => "PERMISSION_DENIED",
            Code::NotFound => "NOT_FOUND",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::FailedPrecondition => "FAILED_PRECONDITION",
            Code::Aborted => "ABORTED",
            Code::ResourceExhausted | Code::PayloadTooLarge => "RESOURCE_EXHAUSTED",
            Code::Unavailable => "UNAVAILABLE",
            Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Code::Unimplemented => "UNIMPLEMENTED",
            Code::Internal => "INTERNAL",
        }
    }

    pub fn from_grpc(code: tonic::Code) -> Self {
        match code {
            tonic::Code::InvalidArgument | tonic::Code::OutOfRange => Code::InvalidArgument,
            tonic::Code::Unauthenticated => Code::Unauthenticated,
            tonic::Code::PermissionDenied => Code::PermissionDenied,
            tonic::Code::NotFound => Code::NotFound,
            tonic::Code::AlreadyExists => Code::AlreadyExists,
            tonic::Code::FailedPrecondition => Code::FailedPrecondition,
            tonic::Code::Aborted => Code::Aborted,
            tonic::Code::ResourceExhausted => Code::ResourceExhausted,
            tonic::Code::Unavailable => Code::Unavailable,
            tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => Code::DeadlineExceeded,
            tonic::Code::Unimplemented => Code::Unimplemented,
            _ => Code::Internal,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Dotted path of the field in the request, e.g. `promised_limit.unit`.
    pub field: String,
    /// The rule it broke, e.g. `must be one of working_days, natural_days, working_hours`.
    pub description: String,
}

#[derive(Debug, Clone)]
pub struct Error {
    pub code: Code,
    pub reason: String,
    pub message: String,
    pub violations: Vec<FieldViolation>,
    pub metadata: BTreeMap<String, String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.code.as_str(),
            self.reason,
            self.message
        )?;
        for v in &self.violations {
            write!(f, "; {}: {}", v.field, v.description)?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl Error {
    pub fn new(code: Code, reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
            message: message.into(),
            violations: Vec::new(),
            metadata: BTreeMap::new(),
        }
    }

    /// One bad field: `INVALID_ARGUMENT` with reason `INVALID_FIELD`.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        let (field, description) = (field.into(), description.into());
        Self::new(
            Code::InvalidArgument,
            "INVALID_FIELD",
            format!("{field}: {description}"),
        )
        .with_violation(field, description)
    }

    /// A value over its size limit: `PAYLOAD_TOO_LARGE` (HTTP 413) naming the field.
    pub fn too_large(field: impl Into<String>, description: impl Into<String>) -> Self {
        let (field, description) = (field.into(), description.into());
        Self::new(
            Code::PayloadTooLarge,
            "PAYLOAD_TOO_LARGE",
            format!("{field}: {description}"),
        )
        .with_violation(field, description)
    }

    pub fn not_found(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, reason, message)
    }

    pub fn failed_precondition(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Code::FailedPrecondition, reason, message)
    }

    pub fn already_exists(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Code::AlreadyExists, reason, message)
    }

    pub fn permission_denied(message: impl Into<String>) -> Self {
        Self::new(Code::PermissionDenied, "PERMISSION_DENIED", message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(Code::Unauthenticated, "UNAUTHENTICATED", message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(Code::Unavailable, "UNAVAILABLE", message)
    }

    /// An unexpected failure. The cause is logged here; the caller sees only a generic message,
    /// so nothing internal (SQL, hostnames, personal data) leaks into a response.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            Code::Internal,
            "INTERNAL",
            "internal error; it has been logged",
        )
    }

    pub fn with_violation(
        mut self,
        field: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        self.violations.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
        self
    }

    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// The REST error body of API.md: `{"error":{"code","status","message","details"}}`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut details = vec![json!({
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": self.reason,
            "domain": DOMAIN,
            "metadata": self.metadata.iter().map(|(k, v)| (k.clone(), clip(v).into_owned()))
                .collect::<BTreeMap<_, _>>(),
        })];
        if !self.violations.is_empty() {
            details.push(json!({
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "field_violations": self.violations.iter()
                    .map(|v| json!({"field": clip(&v.field), "description": clip(&v.description)}))
                    .collect::<Vec<_>>(),
            }));
        }
        json!({"error": {
            "code": self.code.http(),
            "status": self.code.as_str(),
            "message": clip(&self.message),
            "details": details,
        }})
    }

    /// Rebuilds an error from a status received over gRPC (the gateway's side).
    pub fn from_status(status: &tonic::Status) -> Self {
        let details = status.get_error_details();
        let code = Code::from_grpc(status.code());
        let mut err = Self::new(code, code.as_str(), status.message());
        if let Some(info) = details.error_info() {
            err.reason = info.reason.clone();
            err.metadata = info
                .metadata
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if info.reason == "PAYLOAD_TOO_LARGE" {
                err.code = Code::PayloadTooLarge;
            } else if info.reason == "UNSUPPORTED_MEDIA_TYPE" {
                err.code = Code::UnsupportedMediaType;
            }
        }
        if let Some(bad) = details.bad_request() {
            err.violations = bad
                .field_violations
                .iter()
                .map(|v| FieldViolation {
                    field: v.field.clone(),
                    description: v.description.clone(),
                })
                .collect();
        }
        if details.error_info().is_none()
            && matches!(
                status.code(),
                tonic::Code::Unknown | tonic::Code::Internal | tonic::Code::Unavailable
            )
        {
            // Not an answer of a Yiwang service (they all carry ErrorInfo) but of the transport:
            // the connection was refused or broke mid-call (the service crashed or restarts).
            tracing::warn!(grpc_code = ?status.code(), message = status.message(), "upstream unreachable");
            return Error::unavailable("a service could not be reached; retry shortly");
        }
        err
    }

    /// A failed call to another service, as the calling service answers it: unreachable,
    /// timed out or overloaded is 503 (retry); the callee refusing the input is the caller's
    /// input error (`field` names it in the caller's request); anything else is a bug here.
    pub fn dependency(service: &str, field: &str, status: &tonic::Status) -> Self {
        match status.code() {
            tonic::Code::InvalidArgument | tonic::Code::OutOfRange => {
                Error::invalid(field, format!("was refused by the {service}"))
            }
            tonic::Code::NotFound => {
                Error::invalid(field, format!("is not known to the {service}"))
            }
            tonic::Code::Unavailable
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Cancelled
            | tonic::Code::ResourceExhausted
            | tonic::Code::Unknown => {
                tracing::warn!(service, grpc_code = ?status.code(), message = status.message(), "dependency unavailable");
                Error::unavailable(format!("the {service} could not be reached; retry shortly"))
            }
            _ => Error::internal(format!(
                "the {service} answered {:?}: {}",
                status.code(),
                clip(status.message())
            )),
        }
    }
}

impl From<Error> for tonic::Status {
    fn from(err: Error) -> Self {
        let mut details = ErrorDetails::new();
        let metadata: std::collections::HashMap<String, String> = err
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), clip(v).into_owned()))
            .collect();
        details.set_error_info(err.reason.clone(), DOMAIN, metadata);
        for v in &err.violations {
            details.add_bad_request_violation(clip(&v.field), clip(&v.description));
        }
        tonic::Status::with_error_details(err.code.grpc(), clip(&err.message), details)
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            // The database cannot be reached or dropped the connection: nothing was decided, so
            // the client may retry (503), never a 500.
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => {
                tracing::error!(error = %err, "database unavailable");
                Error::unavailable("the database is unavailable; retry shortly")
            }
            sqlx::Error::Database(db) => {
                let code = db.code();
                match code.as_deref().unwrap_or("") {
                    "40001" | "40P01" => Error::new(
                        Code::Aborted,
                        "CONCURRENT_UPDATE",
                        "a concurrent change interfered; retry",
                    ),
                    // admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections,
                    // and the connection-exception class: a restarting or overloaded server.
                    c if c.starts_with("08")
                        || matches!(c, "57P01" | "57P02" | "57P03" | "53300" | "53000") =>
                    {
                        tracing::error!(error = %err, "database unavailable");
                        Error::unavailable("the database is unavailable; retry shortly")
                    }
                    // A NUL character in text (PostgreSQL stores none): the caller's input.
                    "22021" | "22P05" => Error::new(
                        Code::InvalidArgument,
                        "INVALID_TEXT",
                        "a text value contains a NUL character (U+0000), which is not allowed",
                    ),
                    // A value longer than a column or an index entry can hold.
                    "22001" | "54000" => Error::new(
                        Code::InvalidArgument,
                        "VALUE_TOO_LONG",
                        "a value is longer than allowed",
                    ),
                    _ => Error::internal(err),
                }
            }
            _ => Error::internal(err),
        }
    }
}

impl From<redis::RedisError> for Error {
    fn from(err: redis::RedisError) -> Self {
        tracing::error!(error = %err, "redis error");
        Error::unavailable("the cache is unavailable; retry shortly")
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = http::StatusCode::from_u16(self.code.http())
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        let retry = matches!(self.code, Code::Unavailable)
            || (self.code == Code::Aborted && self.reason == "IDEMPOTENCY_IN_PROGRESS");
        let mut resp = (status, axum::Json(self.to_json())).into_response();
        if retry && !resp.headers().contains_key(http::header::RETRY_AFTER) {
            // Every retryable failure says when to come back (RFC 9110 §10.2.3).
            resp.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static("1"),
            );
        }
        resp
    }
}

/// Collects every field violation of a request before answering, so a client fixes all of them
/// in one round trip.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    /// Records the violation of a check that returned `Err(description)`.
    pub fn check(&mut self, field: &str, result: std::result::Result<(), String>) {
        if let Err(description) = result {
            self.add(field, description);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A text field, trimmed: required (non-blank) or not, at most `max` characters, no NUL.
    pub fn text(&mut self, field: &str, value: &str, required: bool, max: usize) -> String {
        let t = value.trim();
        if required && t.is_empty() {
            self.add(field, "is required");
        } else if t.chars().count() > max {
            self.add(field, format!("must be at most {max} characters"));
        } else if t.contains('\0') {
            self.add(field, "must not contain NUL characters");
        }
        t.to_string()
    }

    /// A field that must take one of a few values.
    pub fn one_of(&mut self, field: &str, value: &str, allowed: &[&str]) {
        if !allowed.contains(&value) {
            self.add(field, format!("must be one of: {}", allowed.join(", ")));
        }
    }

    pub fn into_result(self) -> Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        let message = self
            .0
            .iter()
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect::<Vec<_>>()
            .join("; ");
        let mut err = Error::new(Code::InvalidArgument, "INVALID_FIELD", message);
        err.violations = self.0;
        Err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trip_keeps_reason_and_fields() {
        let err = Error::invalid(
            "promised_limit.unit",
            "must be one of working_days, natural_days, working_hours",
        );
        let status: tonic::Status = err.into();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        let back = Error::from_status(&status);
        assert_eq!(back.code, Code::InvalidArgument);
        assert_eq!(back.reason, "INVALID_FIELD");
        assert_eq!(back.violations[0].field, "promised_limit.unit");
        let body = back.to_json();
        assert_eq!(body["error"]["code"], 400);
        assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
        assert_eq!(
            body["error"]["details"][1]["field_violations"][0]["field"],
            "promised_limit.unit"
        );
    }
}
