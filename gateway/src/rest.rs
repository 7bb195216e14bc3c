//! The generated REST layer: every RPC whose proto carries a `google.api.http` annotation
//! (AIP-127) is a route here, transcoded the way grpc-gateway and Envoy's gRPC-JSON transcoder do
//! it, but from the descriptors compiled into `yiwang-proto` rather than from generated Rust.
//!
//! Why at start-up from descriptors and not Rust generated at build time: the descriptors are
//! already compiled (protox) and embedded for gRPC reflection, so the route table, the JSON
//! mapping and the OpenAPI document come from the very bytes the services serve, with no second
//! code generator to keep in step (grpc-gateway and pbjson both generate code per message; with
//! ~300 messages that is a large build on two cores for no behaviour we need). `prost-reflect`
//! (the author of protox, well kept) gives the proto3 JSON mapping; we set its options to the
//! REST conventions of API.md: proto field names (snake_case), 64-bit integers as JSON numbers,
//! every field present.
//!
//! A request runs: who may call (`yiwang.api.v1.rest`: public, roles) → path parameters →
//! body or query → the `Idempotency-Key` into `request_id` → one unary gRPC call with the
//! caller's token → the answer as JSON (201 for creates). Errors are `kit::Error`s, so every
//! 4xx carries the documented body with the REST field named.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, RawPathParams, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
use bytes::{Buf, BufMut};
use prost::Message;
use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor,
    MethodDescriptor, ReflectMessage, Value,
};
use yiwang_kit::{Caller, Error};

use crate::AppState;
use crate::extract::{Ctx, body_error, upstream};
use crate::middleware::IdempotencyKey;

/// Where an RPC's request body goes (`HttpRule.body`).
#[derive(Clone, Debug)]
pub enum BodyRule {
    /// No body: fields not bound by the path come from the query string.
    None,
    /// `*`: the body is the request message (path parameters override it).
    Whole,
    /// One field of the request is the body.
    Field(FieldDescriptor),
}

/// What `yiwang.api.v1.rest` says of an RPC.
#[derive(Clone, Debug, Default)]
pub struct RestRule {
    pub public: bool,
    pub roles: Vec<String>,
    pub create: bool,
    pub max_body_bytes: usize,
    /// Routed by hand-written gateway code; only documented from here.
    pub edge: bool,
}

/// One REST binding of one RPC.
#[derive(Clone, Debug)]
pub struct Binding {
    pub verb: http::Method,
    /// The path template as written in the proto, e.g. `/v1/supervision/items/{code}/claim`.
    pub template: String,
    pub body: BodyRule,
    pub rule: RestRule,
    pub method: MethodDescriptor,
    /// `{param}` → the request field it sets (a dotted name reaches into nested messages).
    pub path_params: Vec<(String, Vec<FieldDescriptor>)>,
    grpc_path: http::uri::PathAndQuery,
}

impl RestRule {
    /// Whether the caller may call at all: public, or signed in with one of the roles.
    pub fn authorize(&self, caller: &Caller) -> Result<(), Error> {
        if self.public {
            return Ok(());
        }
        let roles: Vec<&str> = self.roles.iter().map(String::as_str).collect();
        if roles.is_empty() {
            caller.require_authenticated()
        } else {
            caller.require_any_role(&roles)
        }
    }
}

/// The proto's rule for an edge route's RPC (`full_name`), applied to the caller.
pub fn authorize(caller: &Caller, full_name: &str) -> Result<(), Error> {
    crate::generated_bindings()
        .iter()
        .find(|b| b.method.full_name() == full_name)
        .map(|b| b.rule.authorize(caller))
        .unwrap_or_else(|| Err(Error::internal(format!("no binding for {full_name}"))))
}

impl Binding {
    /// The protobuf package of the service, e.g. `yiwang.supervision.v1`.
    pub fn package(&self) -> &str {
        self.method.parent_service().package_name()
    }

    /// The service's short name, e.g. `supervision`: the OpenAPI tag and schema prefix.
    pub fn tag(&self) -> &str {
        self.package().split('.').nth(1).unwrap_or("api")
    }
}

/// Every binding in the pool, in proto order. A malformed annotation is a build mistake and
/// fails start-up (and the gateway's tests) with the RPC named.
pub fn bindings(pool: &DescriptorPool) -> Result<Vec<Binding>, String> {
    let Some(http_ext) = pool.get_extension_by_name("google.api.http") else {
        return Ok(Vec::new());
    };
    let rest_ext = pool.get_extension_by_name("yiwang.api.v1.rest");
    let mut out = Vec::new();
    for service in pool.services() {
        for method in service.methods() {
            let options = method.options();
            if !options.has_extension(&http_ext) {
                continue;
            }
            let rule = match &rest_ext {
                Some(ext) if options.has_extension(ext) => {
                    rest_rule(options.get_extension(ext).as_message())
                }
                _ => RestRule::default(),
            };
            let http = options.get_extension(&http_ext);
            let Some(http) = http.as_message() else {
                continue;
            };
            let mut rules = vec![http.clone()];
            if let Some(Value::List(more)) = http
                .get_field_by_name("additional_bindings")
                .map(|v| v.into_owned())
            {
                rules.extend(more.iter().filter_map(|v| v.as_message().cloned()));
            }
            for r in rules {
                out.push(
                    binding(&method, &r, rule.clone())
                        .map_err(|e| format!("{}: google.api.http: {e}", method.full_name()))?,
                );
            }
        }
    }
    Ok(out)
}

fn text(m: &DynamicMessage, name: &str) -> String {
    m.get_field_by_name(name)
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn rest_rule(m: Option<&DynamicMessage>) -> RestRule {
    let Some(m) = m else {
        return RestRule::default();
    };
    let flag = |name: &str| {
        m.get_field_by_name(name)
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
    };
    RestRule {
        public: flag("public"),
        create: flag("create"),
        edge: flag("edge"),
        roles: match m.get_field_by_name("roles").map(|v| v.into_owned()) {
            Some(Value::List(l)) => l
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        },
        max_body_bytes: m
            .get_field_by_name("max_body_bytes")
            .and_then(|v| v.as_u32())
            .unwrap_or(0) as usize,
    }
}

fn binding(
    method: &MethodDescriptor,
    r: &DynamicMessage,
    rule: RestRule,
) -> Result<Binding, String> {
    let mut verb_path = None;
    for (name, verb) in [
        ("get", http::Method::GET),
        ("put", http::Method::PUT),
        ("post", http::Method::POST),
        ("delete", http::Method::DELETE),
        ("patch", http::Method::PATCH),
    ] {
        let p = text(r, name);
        if !p.is_empty() {
            verb_path = Some((verb, p));
        }
    }
    let (verb, template) = verb_path.ok_or("no verb (get, put, post, delete, patch)")?;
    let input = method.input();
    let mut path_params: Vec<(String, Vec<FieldDescriptor>)> = Vec::new();
    let mut segments = Vec::new();
    for segment in template.split('/') {
        let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
            if segment.contains(['{', '}']) {
                return Err(format!(
                    "path segment {segment:?} must be a whole {{field}}"
                ));
            }
            segments.push(segment.to_string());
            continue;
        };
        if name.contains('=') {
            return Err(format!(
                "path variable {name:?}: patterns are not supported"
            ));
        }
        // The URL parameter is named by the field's own name (`{item.code}` is `{code}`), so
        // that bindings of one resource share a path however their requests nest the field.
        let param = name.rsplit('.').next().unwrap_or(name).to_string();
        if path_params.iter().any(|(p, _)| *p == param) {
            return Err(format!("path parameter {param:?} appears twice"));
        }
        segments.push(format!("{{{param}}}"));
        path_params.push((param, field_path(&input, name, false)?));
    }
    let template = segments.join("/");
    let body = match text(r, "body").as_str() {
        "" => BodyRule::None,
        "*" => BodyRule::Whole,
        f => BodyRule::Field(
            input
                .get_field_by_name(f)
                .filter(|f| matches!(f.kind(), Kind::Message(_)) && !f.is_list())
                .ok_or_else(|| format!("body {f:?} is not a message field of {}", input.name()))?,
        ),
    };
    let grpc_path = format!("/{}/{}", method.parent_service().full_name(), method.name())
        .parse()
        .map_err(|e| format!("{e}"))?;
    Ok(Binding {
        verb,
        template,
        body,
        rule,
        method: method.clone(),
        path_params,
        grpc_path,
    })
}

/// `a.b.c` → the fields it walks through: messages, then a scalar. A path variable names a
/// single scalar by its proto name; a query parameter may also use the field's `json_name`,
/// name a timestamp, or repeat (`a=1&a=2` fills a repeated field).
fn field_path(
    input: &MessageDescriptor,
    dotted: &str,
    query: bool,
) -> Result<Vec<FieldDescriptor>, String> {
    let mut message = input.clone();
    let mut out = Vec::new();
    let parts: Vec<&str> = dotted.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let f = message
            .get_field_by_name(part)
            .or_else(|| {
                query
                    .then(|| message.get_field_by_json_name(part))
                    .flatten()
            })
            .ok_or_else(|| format!("{} has no field {part:?}", message.name()))?;
        let last = i + 1 == parts.len();
        if f.is_map() || (f.is_list() && !(last && query)) {
            return Err(format!("{dotted:?}: {part:?} is repeated"));
        }
        match f.kind() {
            Kind::Message(m) if !last => message = m,
            Kind::Message(m) if query && m.full_name() == "google.protobuf.Timestamp" => {}
            Kind::Message(_) => return Err(format!("{dotted:?} is a message")),
            _ if !last => return Err(format!("{part:?} in {dotted:?} is not a message")),
            _ => {}
        }
        out.push(f);
    }
    Ok(out)
}

/// The routes of every binding, grouped by path. Creates are wrapped in the idempotency
/// middleware. An `edge` binding is served by the hand-written handler given for its RPC in
/// `edges` (full RPC name, e.g. `yiwang.catalog.v1.CatalogService.GetItem`), at its annotated
/// path; an edge binding without a handler is a mistake and panics at start-up (and in tests).
pub fn router(
    state: &AppState,
    bindings: &[Binding],
    mut edges: Vec<(&str, MethodRouter<AppState>)>,
) -> Router<AppState> {
    let mut by_path: BTreeMap<String, MethodRouter<AppState>> = BTreeMap::new();
    for b in bindings.iter().filter(|b| b.rule.edge) {
        let at = edges
            .iter()
            .position(|(name, _)| *name == b.method.full_name())
            .unwrap_or_else(|| panic!("no edge handler for {}", b.method.full_name()));
        let (_, route) = edges.swap_remove(at);
        let entry = by_path.remove(&b.template).unwrap_or_default();
        by_path.insert(b.template.clone(), entry.merge(route));
    }
    for b in bindings.iter().filter(|b| !b.rule.edge) {
        let b = Arc::new(b.clone());
        let filter = MethodFilter::try_from(b.verb.clone()).expect("standard verb");
        let handler = {
            let b = b.clone();
            move |axum::extract::State(s): axum::extract::State<AppState>, req: Request| {
                let b = b.clone();
                async move {
                    match transcode(&s, &b, req).await {
                        Ok(r) => r,
                        Err(e) => e.into_response(),
                    }
                }
            }
        };
        let mut route = axum::routing::on(filter, handler);
        if b.rule.max_body_bytes > 0 {
            route = route.layer(DefaultBodyLimit::max(b.rule.max_body_bytes));
        }
        if b.rule.create {
            let dedupes = b.method.input().get_field_by_name("request_id").is_some();
            route = route.layer(axum::middleware::from_fn_with_state(
                (state.clone(), crate::middleware::ServiceDedupes(dedupes)),
                crate::middleware::idempotency,
            ));
        }
        let entry = by_path.remove(&b.template).unwrap_or_default();
        by_path.insert(b.template.clone(), entry.merge(route));
    }
    by_path
        .into_iter()
        .fold(Router::new(), |r, (path, route)| r.route(&path, route))
}

/// A typed protobuf message as the REST JSON of the message type `full_name` (for the
/// hand-written edge routes, so they answer exactly what generated routes answer).
pub fn message_json(message: &impl Message, full_name: &str) -> Result<Vec<u8>, Error> {
    yiwang_proto::json::to_vec(message, full_name).map_err(Error::internal)
}

/// The REST JSON of a message (`yiwang_proto::json`).
pub fn to_json(message: &DynamicMessage) -> Result<Vec<u8>, Error> {
    yiwang_proto::json::encode(message).map_err(Error::internal)
}

async fn transcode(state: &AppState, b: &Binding, req: Request) -> Result<Response, Error> {
    let (mut parts, body) = req.into_parts();
    // Who may call comes first: an anonymous or wrong-role caller learns nothing about the
    // request's shape (401/403 before any 400).
    let caller = parts
        .extensions
        .get::<Caller>()
        .cloned()
        .unwrap_or_default();
    b.rule.authorize(&caller)?;
    let params = RawPathParams::from_request_parts(&mut parts, &())
        .await
        .map_err(|_| Error::invalid("path", "must be valid percent-encoded UTF-8"))?;
    let params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Some((name, _)) = params.iter().find(|(_, v)| v.len() > MAX_PATH_VALUE_BYTES) {
        return Err(Error::invalid(
            name.clone(),
            format!("must be at most {MAX_PATH_VALUE_BYTES} characters"),
        ));
    }
    let ctx = Ctx::from_request_parts(&mut parts, &()).await?;
    let key = parts.extensions.get::<IdempotencyKey>().cloned();
    let content_type = parts.headers.get(http::header::CONTENT_TYPE).cloned();
    let query = parts.uri.query().map(str::to_string);

    let input = b.method.input();
    let mut message = DynamicMessage::new(input.clone());
    let mut body_bytes = None;
    match &b.body {
        BodyRule::None => apply_query(&mut message, query.as_deref().unwrap_or(""))?,
        BodyRule::Whole | BodyRule::Field(_) => {
            let bytes = Bytes::from_request(Request::from_parts(parts, body), &())
                .await
                .map_err(|e| body_error(&e.body_text()))?;
            if !bytes.iter().all(u8::is_ascii_whitespace) {
                let is_json = content_type
                    .as_ref()
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.split(';').next())
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
                if !is_json {
                    return Err(Error::invalid("Content-Type", "must be application/json"));
                }
                match &b.body {
                    BodyRule::Field(f) => {
                        let Kind::Message(m) = f.kind() else {
                            unreachable!("checked when bound")
                        };
                        let value = parse_message(m, &bytes)?;
                        message.set_field(f, Value::Message(value));
                    }
                    _ => message = parse_message(input.clone(), &bytes)?,
                }
            }
            body_bytes = Some(bytes);
        }
    }
    if let BodyRule::Field(f) = &b.body
        && let Some(mask) = input.get_field_by_name("update_mask")
    {
        // AIP-134: a PATCH without an explicit mask changes the fields its body names (those
        // the path binds name the resource and are not changes).
        let mask_value = message.get_field(&mask).into_owned();
        if mask_paths(&mask_value).is_empty() {
            let Kind::Message(inner) = f.kind() else {
                unreachable!("checked when bound")
            };
            let bound: Vec<&str> = b
                .path_params
                .iter()
                .filter(|(_, path)| path.len() == 2 && path[0] == *f)
                .map(|(_, path)| path[1].name())
                .collect();
            let named: Vec<String> = body_keys(&inner, body_bytes.as_deref().unwrap_or_default())
                .into_iter()
                .filter(|k| !bound.contains(&k.as_str()))
                .collect();
            if named.is_empty() && b.verb == http::Method::PATCH {
                return Err(Error::invalid("body", "names no field to change"));
            }
            if let Some(v) = mask_value_of(&mask, named) {
                message.set_field(&mask, v);
            }
        }
    }
    for (name, fields) in &b.path_params {
        let value = params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        // A body may repeat what the path names, but not contradict it.
        if let Some(given) = path_value(&message, fields)
            && !given.is_empty()
            && given != value
        {
            let field = fields
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(".");
            return Err(client_names(
                Error::invalid(field, "cannot change; it names the resource in the path"),
                b,
            ));
        }
        set_path(&mut message, fields, name, value)?;
    }
    let mut carries_request_id = false;
    if b.rule.create
        && let Some(key) = key
        && let Some(f) = input.get_field_by_name("request_id")
    {
        message.set_field(&f, Value::String(key.0));
        carries_request_id = true;
    }

    if let Some(field) = find_nul(&message, "") {
        return Err(client_names(
            Error::invalid(field, "must not contain NUL characters (U+0000)"),
            b,
        ));
    }

    let channel = state
        .channel_for(b.package())
        .ok_or_else(|| Error::unavailable(format!("no upstream for {}", b.package())))?;
    let payload = Bytes::from(message.encode_to_vec());
    // A read changes nothing and a create with its request id is made once by the service, so
    // one quiet retry rides over a service restarting (or a connection it broke); anything
    // else is answered 503 with `Retry-After` and the client decides.
    let mut retries = u8::from(b.verb == http::Method::GET || carries_request_id);
    let answer = loop {
        match call(channel.clone(), &ctx, payload.clone(), b).await {
            Ok(answer) => break answer,
            Err(e) if e.code == yiwang_kit::error::Code::Unavailable && retries > 0 => {
                retries -= 1;
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => return Err(client_names(e, b)),
        }
    };
    let output = DynamicMessage::decode(b.method.output(), answer)
        .map_err(|e| Error::internal(format!("undecodable answer: {e}")))?;
    let body = to_json(&output)?;
    let status = if b.rule.create {
        http::StatusCode::CREATED
    } else {
        http::StatusCode::OK
    };
    Ok((
        status,
        [(http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

/// Longest value a path segment may bind: every identifier of the API is far shorter, and one
/// this long can name nothing (nor should it travel on to a service, a cache key or an error).
pub const MAX_PATH_VALUE_BYTES: usize = 128;

/// One unary call with the encoded request; the answer's encoded bytes.
async fn call(
    channel: tonic::transport::Channel,
    ctx: &Ctx,
    payload: Bytes,
    b: &Binding,
) -> Result<Bytes, Error> {
    let mut grpc = tonic::client::Grpc::new(channel)
        .max_decoding_message_size(64 * 1024 * 1024)
        .max_encoding_message_size(64 * 1024 * 1024);
    grpc.ready().await.map_err(|e| {
        upstream(tonic::Status::unavailable(format!(
            "service not ready: {e}"
        )))
    })?;
    Ok(grpc
        .unary(ctx.grpc(payload), b.grpc_path.clone(), RawCodec)
        .await
        .map_err(upstream)?
        .into_inner())
}

/// The paths of an `update_mask` (a repeated string or a `google.protobuf.FieldMask`).
fn mask_paths(v: &Value) -> Vec<String> {
    let list = match v {
        Value::List(l) => l.clone(),
        Value::Message(m) => match m.get_field_by_name("paths").map(|v| v.into_owned()) {
            Some(Value::List(l)) => l,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    list.iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// `paths` as the value of the mask field, whichever of the two shapes it has.
fn mask_value_of(mask: &FieldDescriptor, paths: Vec<String>) -> Option<Value> {
    let list = Value::List(paths.into_iter().map(Value::String).collect());
    match mask.kind() {
        Kind::String if mask.is_list() => Some(list),
        Kind::Message(m) if m.full_name() == "google.protobuf.FieldMask" => {
            let mut fm = DynamicMessage::new(m);
            fm.set_field_by_name("paths", list);
            Some(Value::Message(fm))
        }
        _ => None,
    }
}

/// The text of a (scalar) field the path binds, as the body set it, if the body set it.
fn path_value(message: &DynamicMessage, fields: &[FieldDescriptor]) -> Option<String> {
    let (last, outer) = fields.split_last()?;
    let mut m = message.clone();
    for f in outer {
        if !m.has_field(f) {
            return None;
        }
        m = match m.get_field(f).into_owned() {
            Value::Message(inner) => inner,
            _ => return None,
        };
    }
    if !m.has_field(last) {
        return None;
    }
    Some(match m.get_field(last).as_ref() {
        Value::String(s) => s.clone(),
        Value::I32(v) => v.to_string(),
        Value::I64(v) => v.to_string(),
        Value::U32(v) => v.to_string(),
        Value::U64(v) => v.to_string(),
        _ => return None,
    })
}

/// The request fields a JSON body object names (with a value other than `null`), as proto
/// field names.
fn body_keys(desc: &MessageDescriptor, bytes: &[u8]) -> Vec<String> {
    let Ok(map) = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(bytes)
    else {
        return Vec::new();
    };
    map.iter()
        .filter(|(_, v)| !v.is_null())
        .filter_map(|(k, _)| {
            desc.get_field_by_name(k)
                .or_else(|| desc.get_field_by_json_name(k))
                .map(|f| f.name().to_string())
        })
        .collect()
}

/// The name a REST client uses for a field: its proto name, or the `json_name` the proto gives
/// it explicitly (`string query = 1 [json_name = "q"]` is `?q=` and `"q"`).
pub fn rest_name(f: &FieldDescriptor) -> String {
    let mut camel = String::new();
    let mut upper = false;
    for c in f.name().chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            camel.extend(c.to_uppercase());
            upper = false;
        } else {
            camel.push(c);
        }
    }
    if f.json_name() == camel {
        f.name().to_string()
    } else {
        f.json_name().to_string()
    }
}

/// Field names in errors are the client's: with `body: "project"` the client sent the
/// project's fields, so `project.name` is `name` to it; a field with an explicit `json_name`
/// is named by it (`delivery_method` is `method`).
fn unnest(mut e: Error, body: &BodyRule) -> Error {
    if let BodyRule::Field(f) = body {
        let prefix = format!("{}.", f.name());
        for v in &mut e.violations {
            if let Some(rest) = v.field.strip_prefix(&prefix) {
                v.field = rest.to_string();
            }
        }
    }
    e
}

/// [`unnest`], and top-level fields renamed to their REST names, in violations and in the
/// message that lists them.
fn client_names(mut e: Error, b: &Binding) -> Error {
    e = unnest(e, &b.body);
    let target = match &b.body {
        BodyRule::Field(f) => match f.kind() {
            Kind::Message(m) => m,
            _ => return e,
        },
        _ => b.method.input(),
    };
    for v in &mut e.violations {
        let (head, tail) = match v.field.find(['.', '[']) {
            Some(i) => v.field.split_at(i),
            None => (v.field.as_str(), ""),
        };
        if let Some(f) = target.get_field_by_name(head) {
            let name = rest_name(&f);
            if name != head {
                let renamed = format!("{name}{tail}");
                e.message = e
                    .message
                    .replace(&format!("{}:", v.field), &format!("{renamed}:"));
                v.field = renamed;
            }
        }
    }
    e
}

/// The first string anywhere in the message that holds a NUL character, by its field path.
/// PostgreSQL refuses 0x00 in text, so such input is refused here, naming the field.
fn find_nul(message: &DynamicMessage, prefix: &str) -> Option<String> {
    fn check(value: &Value, at: String) -> Option<String> {
        match value {
            Value::String(s) if s.contains('\0') => Some(at),
            Value::Message(m) => find_nul(m, &at),
            Value::List(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, v)| check(v, format!("{at}[{i}]"))),
            Value::Map(entries) => entries.iter().find_map(|(k, v)| {
                let key = match k {
                    prost_reflect::MapKey::String(k) => k.as_str(),
                    _ => "",
                };
                if key.contains('\0') {
                    Some(at.clone())
                } else {
                    check(v, format!("{at}.{key}"))
                }
            }),
            _ => None,
        }
    }
    message.fields().find_map(|(f, v)| {
        let at = if prefix.is_empty() {
            f.name().to_string()
        } else {
            format!("{prefix}.{}", f.name())
        };
        check(v, at)
    })
}

/// Messages a REST body may give as a bare string, which stands for `{"name": "…"}`: a
/// material named without a file, as clients wrote materials before files existed.
pub const NAME_SHORTHAND: &[&str] = &["yiwang.cases.v1.MaterialRef"];

/// Rewrites bare strings standing for a [`NAME_SHORTHAND`] message into the message's JSON.
/// Returns whether anything changed.
fn expand_shorthand(desc: &MessageDescriptor, value: &mut serde_json::Value) -> bool {
    let serde_json::Value::Object(map) = value else {
        return false;
    };
    let mut changed = false;
    for (key, v) in map.iter_mut() {
        let Some(field) = desc
            .get_field_by_name(key)
            .or_else(|| desc.get_field_by_json_name(key))
        else {
            continue;
        };
        let Kind::Message(inner) = field.kind() else {
            continue;
        };
        let shorthand = NAME_SHORTHAND.contains(&inner.full_name());
        let mut one = |v: &mut serde_json::Value| {
            if shorthand && let serde_json::Value::String(name) = v {
                *v = serde_json::json!({ "name": std::mem::take(name) });
                changed = true;
            } else {
                changed |= expand_shorthand(&inner, v);
            }
        };
        match v {
            serde_json::Value::Array(items) if field.is_list() => {
                items.iter_mut().for_each(&mut one)
            }
            other => one(other),
        }
    }
    changed
}

/// A JSON body as the message `desc`, naming the first bad field.
pub fn parse_message(desc: MessageDescriptor, bytes: &[u8]) -> Result<DynamicMessage, Error> {
    if std::str::from_utf8(bytes).is_err() {
        return Err(Error::invalid("body", "is not valid UTF-8"));
    }
    // Only bodies that can hold a shorthand are looked at twice.
    let expanded;
    let bytes = if bytes.windows(9).any(|w| w == b"materials")
        && let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(bytes)
        && expand_shorthand(&desc, &mut value)
    {
        expanded = serde_json::to_vec(&value).map_err(Error::internal)?;
        expanded.as_slice()
    } else {
        bytes
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut track = serde_path_to_error::Track::new();
    let options = DeserializeOptions::new().deny_unknown_fields(true);
    let parsed = DynamicMessage::deserialize_with_options(
        desc,
        serde_path_to_error::Deserializer::new(&mut de, &mut track),
        &options,
    )
    .and_then(|m| de.end().map(|()| m));
    parsed.map_err(|e| {
        let mut path = track.path().to_string();
        let msg = e.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        // An unknown field is named itself, as serde's derive names it: `entity_filter.regio`.
        if let Some(unknown) = msg
            .strip_prefix("unrecognized field name '")
            .and_then(|m| m.strip_suffix('\''))
        {
            path = match path.as_str() {
                "." | "" => unknown.to_string(),
                p => format!("{p}.{unknown}"),
            };
        }
        if e.is_syntax() || e.is_eof() || path == "." || path.is_empty() {
            Error::invalid("body", format!("is not valid JSON for this request: {msg}"))
        } else {
            Error::invalid(path, msg)
        }
    })
}

/// Query parameters onto the message: `name=value` sets a scalar field (dotted names reach
/// into nested messages), a repeated field takes every occurrence. Unknown names are ignored,
/// as they always were.
fn apply_query(message: &mut DynamicMessage, query: &str) -> Result<(), Error> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).map_err(|_| {
        Error::invalid(
            "query",
            "is not a valid query string (percent-encoded UTF-8)",
        )
    })?;
    for (name, raw) in pairs {
        let Ok(fields) = field_path(&message.descriptor(), &name, true) else {
            continue;
        };
        let (last, outer) = fields.split_last().expect("a path has a field");
        let target = descend(message, outer);
        let value = scalar(last, &name, &raw)?;
        if last.is_list() {
            if let Value::List(items) = target.get_field_mut(last) {
                items.push(value);
            }
        } else {
            target.set_field(last, value);
        }
    }
    Ok(())
}

fn descend<'a>(
    mut message: &'a mut DynamicMessage,
    fields: &[FieldDescriptor],
) -> &'a mut DynamicMessage {
    for f in fields {
        message = match message.get_field_mut(f) {
            Value::Message(m) => m,
            _ => unreachable!("the path walks through message fields"),
        };
    }
    message
}

fn set_path(
    message: &mut DynamicMessage,
    fields: &[FieldDescriptor],
    name: &str,
    raw: &str,
) -> Result<(), Error> {
    let (last, outer) = fields.split_last().expect("a path has a field");
    let value = scalar(last, name, raw)?;
    descend(message, outer).set_field(last, value);
    Ok(())
}

/// A query or path value as the field's type; the error names the REST parameter.
fn scalar(field: &FieldDescriptor, name: &str, raw: &str) -> Result<Value, Error> {
    let v = raw.trim();
    let int = |what: &'static str| Error::invalid(name, what);
    Ok(match field.kind() {
        Kind::String => Value::String(raw.to_string()),
        Kind::Bool => match v {
            "" | "false" | "0" => Value::Bool(false),
            "true" | "1" => Value::Bool(true),
            _ => return Err(Error::invalid(name, "must be true or false")),
        },
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(if v.is_empty() {
            0
        } else {
            v.parse().map_err(|_| int("must be an integer"))?
        }),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(if v.is_empty() {
            0
        } else {
            v.parse().map_err(|_| int("must be an integer"))?
        }),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(if v.is_empty() {
            0
        } else {
            v.parse()
                .map_err(|_| int("must be a non-negative integer"))?
        }),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(if v.is_empty() {
            0
        } else {
            v.parse()
                .map_err(|_| int("must be a non-negative integer"))?
        }),
        Kind::Double => Value::F64(if v.is_empty() {
            0.0
        } else {
            v.parse().map_err(|_| int("must be a number"))?
        }),
        Kind::Float => Value::F32(if v.is_empty() {
            0.0
        } else {
            v.parse().map_err(|_| int("must be a number"))?
        }),
        Kind::Bytes => Value::Bytes(Bytes::from(raw.to_string())),
        Kind::Enum(e) => match e.get_value_by_name(v) {
            Some(ev) => Value::EnumNumber(ev.number()),
            None => {
                let names: Vec<String> = e.values().map(|x| x.name().to_string()).collect();
                return Err(Error::invalid(
                    name,
                    format!("must be one of {}", names.join(", ")),
                ));
            }
        },
        Kind::Message(m) if m.full_name() == "google.protobuf.Timestamp" => {
            // A date alone is the start of that day in Asia/Shanghai, where the county works.
            let t = match chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
                Ok(d) => d
                    .and_hms_opt(0, 0, 0)
                    .and_then(|t| {
                        t.and_local_timezone(chrono::FixedOffset::east_opt(8 * 3600)?)
                            .single()
                    })
                    .ok_or_else(|| Error::invalid(name, "is out of range"))?,
                Err(_) => chrono::DateTime::parse_from_rfc3339(v).map_err(|_| {
                    Error::invalid(name, "must be YYYY-MM-DD or an RFC 3339 timestamp")
                })?,
            };
            let ts = prost_types::Timestamp {
                seconds: t.timestamp(),
                nanos: t.timestamp_subsec_nanos() as i32,
            };
            Value::Message(ts.transcode_to_dynamic())
        }
        Kind::Message(_) => return Err(Error::invalid(name, "cannot be given in the URL")),
    })
}

/// Passes encoded messages through unchanged: the gateway encodes and decodes with the
/// descriptors itself.
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Bytes,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'a>(all: &'a [Binding], verb: http::Method, template: &str) -> &'a Binding {
        all.iter()
            .find(|b| b.verb == verb && b.template == template)
            .unwrap_or_else(|| panic!("{verb} {template} is bound"))
    }

    #[test]
    fn annotations_become_bindings_with_rules() {
        let all = bindings(yiwang_proto::descriptor_pool()).expect("annotations are valid");
        let claim = find(
            &all,
            http::Method::POST,
            "/v1/supervision/items/{code}/claim",
        );
        assert_eq!(claim.method.name(), "ClaimItem");
        assert!(matches!(claim.body, BodyRule::Whole));
        assert_eq!(claim.path_params[0].0, "code");
        assert_eq!(claim.rule.roles, ["supervisor", "officer"]);
        assert!(!claim.rule.public && !claim.rule.create);
        let list = find(&all, http::Method::GET, "/v1/supervision/items");
        assert!(list.rule.public && matches!(list.body, BodyRule::None));
        let create = find(&all, http::Method::POST, "/v1/supervision/inspections");
        assert!(create.rule.create);
        // Two RPCs never claim the same verb and path.
        let mut seen = std::collections::HashSet::new();
        for b in &all {
            assert!(
                seen.insert((b.verb.clone(), b.template.clone())),
                "{} {} bound twice",
                b.verb,
                b.template
            );
        }
    }

    #[test]
    fn renamed_fields_are_only_in_requests() {
        // Answers are written with proto field names; a `json_name` given explicitly (a REST
        // name) is honoured on input only, so it must not appear in anything an RPC returns.
        let all = bindings(yiwang_proto::descriptor_pool()).unwrap();
        let mut seen = std::collections::HashSet::new();
        let mut todo: Vec<MessageDescriptor> = all.iter().map(|b| b.method.output()).collect();
        while let Some(m) = todo.pop() {
            if !seen.insert(m.full_name().to_string()) {
                continue;
            }
            for f in m.fields() {
                assert_eq!(
                    rest_name(&f),
                    f.name(),
                    "{} is renamed in an answer",
                    f.full_name()
                );
                if let Kind::Message(inner) = f.kind() {
                    todo.push(inner);
                }
            }
        }
    }

    #[test]
    fn query_values_are_typed_and_named_in_errors() {
        let pool = yiwang_proto::descriptor_pool();
        let desc = pool
            .get_message_by_name("yiwang.supervision.v1.ListItemsRequest")
            .unwrap();
        let mut m = DynamicMessage::new(desc.clone());
        apply_query(&mut m, "department=D1&page_size=20&unknown=x").unwrap();
        assert_eq!(
            m.get_field_by_name("department").unwrap().as_str(),
            Some("D1")
        );
        assert_eq!(m.get_field_by_name("page_size").unwrap().as_i32(), Some(20));
        let mut m = DynamicMessage::new(desc);
        let e = apply_query(&mut m, "page_size=twenty").unwrap_err();
        assert_eq!(e.violations[0].field, "page_size");
    }

    #[test]
    fn json_bodies_name_the_bad_field_and_refuse_unknown_ones() {
        let pool = yiwang_proto::descriptor_pool();
        let desc = pool
            .get_message_by_name("yiwang.supervision.v1.CreatePlanRequest")
            .unwrap();
        let m = parse_message(
            desc.clone(),
            br#"{"name":"p","sample_count":3,"entity_filter":{"industry":"x"}}"#,
        )
        .unwrap();
        assert_eq!(
            m.get_field_by_name("sample_count").unwrap().as_u32(),
            Some(3)
        );
        let e = parse_message(desc.clone(), br#"{"sample_count":"many"}"#).unwrap_err();
        assert_eq!(e.violations[0].field, "sample_count");
        let e = parse_message(desc.clone(), br#"{"entity_filter":{"industry":7}}"#).unwrap_err();
        assert_eq!(e.violations[0].field, "entity_filter.industry");
        let e = parse_message(desc.clone(), br#"{"nme":"p"}"#).unwrap_err();
        assert_eq!(e.violations[0].field, "nme");
        let e = parse_message(desc.clone(), br#"{"entity_filter":{"regio":"x"}}"#).unwrap_err();
        assert_eq!(e.violations[0].field, "entity_filter.regio");
        assert!(parse_message(desc.clone(), b"{\"name\":").is_err());
        let m = parse_message(desc, br#"{"name":"ok","item_codes":["a","b\u0000"]}"#).unwrap();
        assert_eq!(find_nul(&m, "").as_deref(), Some("item_codes[1]"));
    }
}
