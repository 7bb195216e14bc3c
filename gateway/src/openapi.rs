//! The OpenAPI 3.1 document served at `/openapi.json`: every generated route with its schemas,
//! built from the same descriptors as the router (comments become descriptions), on top of the
//! hand-written edge routes' part (`openapi_edge.json`: the alerts batch feed and the plain-text
//! blocklist, the error body, the bearer scheme).

use prost_reflect::{FieldDescriptor, FileDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

use crate::rest;

/// The document `GET /openapi.json` serves, built once.
pub fn document() -> &'static Value {
    static DOC: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| {
        let mut doc: Value = serde_json::from_str(include_str!("openapi_edge.json"))
            .expect("openapi_edge.json is JSON");
        doc["info"]["version"] = env!("CARGO_PKG_VERSION").into();
        add_generated(&mut doc, crate::generated_bindings());
        doc
    });
    &DOC
}

/// The leading comment of a descriptor (`path` into its file's source info), trimmed.
fn comment(file: &FileDescriptor, path: &[i32]) -> Option<String> {
    let info = file.file_descriptor_proto().source_code_info.as_ref()?;
    let loc = info.location.iter().find(|l| l.path == path)?;
    let text = loc
        .leading_comments
        .as_deref()
        .or(loc.trailing_comments.as_deref())?;
    let text = text
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
        .trim()
        .to_string();
    (!text.is_empty()).then_some(text)
}

/// `supervision.Plan` for `yiwang.supervision.v1.Plan`; nested messages keep their outer name.
pub fn schema_name(m: &MessageDescriptor) -> String {
    let package = m.package_name();
    let short = package.split('.').nth(1).unwrap_or(package);
    let local = m
        .full_name()
        .strip_prefix(package)
        .map(|s| s.trim_start_matches('.'))
        .unwrap_or(m.full_name());
    format!("{short}.{local}")
}

fn kind_schema(kind: &Kind, todo: &mut Vec<MessageDescriptor>) -> Value {
    match kind {
        Kind::Double => json!({"type": "number", "format": "double"}),
        Kind::Float => json!({"type": "number", "format": "float"}),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            json!({"type": "integer", "format": "int32"})
        }
        Kind::Uint32 | Kind::Fixed32 => json!({"type": "integer", "format": "int32", "minimum": 0}),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            json!({"type": "integer", "format": "int64"})
        }
        Kind::Uint64 | Kind::Fixed64 => json!({"type": "integer", "format": "int64", "minimum": 0}),
        Kind::Bool => json!({"type": "boolean"}),
        Kind::String => json!({"type": "string"}),
        Kind::Bytes => json!({"type": "string", "contentEncoding": "base64"}),
        Kind::Enum(e) => {
            json!({"type": "string", "enum": e.values().map(|v| v.name().to_string()).collect::<Vec<_>>()})
        }
        Kind::Message(m) => match m.full_name() {
            "google.protobuf.Timestamp" => json!({"type": "string", "format": "date-time"}),
            "google.protobuf.Duration" => {
                json!({"type": "string", "description": "seconds, e.g. 1.5s"})
            }
            "google.protobuf.Struct" | "google.protobuf.Value" => json!({}),
            "google.protobuf.Empty" => json!({"type": "object"}),
            _ => {
                todo.push(m.clone());
                json!({"$ref": format!("#/components/schemas/{}", schema_name(m))})
            }
        },
    }
}

fn field_schema(f: &FieldDescriptor, todo: &mut Vec<MessageDescriptor>) -> Value {
    let mut s = if f.is_map() {
        let Kind::Message(entry) = f.kind() else {
            unreachable!("a map is a message of entries")
        };
        json!({"type": "object", "additionalProperties": kind_schema(&entry.map_entry_value_field().kind(), todo)})
    } else if f.is_list() {
        let mut items = kind_schema(&f.kind(), todo);
        if let Kind::Message(m) = f.kind()
            && rest::NAME_SHORTHAND.contains(&m.full_name())
        {
            // The gateway also takes the name alone (the form before files existed).
            items = json!({"oneOf": [{"type": "string", "description": "The name alone"}, items]});
        }
        json!({"type": "array", "items": items})
    } else {
        kind_schema(&f.kind(), todo)
    };
    if let Some(text) = comment(&f.parent_file(), f.path())
        && let Some(o) = s.as_object_mut()
    {
        if o.contains_key("$ref") {
            // 3.1 allows siblings of $ref; keep the ref alone for older generators' sake.
            s = json!({"allOf": [s], "description": text});
        } else {
            o.insert("description".into(), text.into());
        }
    }
    s
}

fn message_schema(m: &MessageDescriptor, todo: &mut Vec<MessageDescriptor>) -> Value {
    let mut properties = Map::new();
    for f in m.fields() {
        properties.insert(rest::rest_name(&f), field_schema(&f, todo));
    }
    let mut s = json!({"type": "object", "properties": properties});
    if let Some(text) = comment(&m.parent_file(), m.path()) {
        s["description"] = text.into();
    }
    s
}

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}})
}

/// An error answer that says when to come back.
fn retry_response(description: &str) -> Value {
    let mut r = error_response(description);
    r["headers"] = json!({"Retry-After": {"description": "Seconds to wait before retrying",
        "schema": {"type": "integer", "minimum": 0}}});
    r
}

/// Adds an operation per binding and a schema per message they reach.
fn add_generated(doc: &mut Value, bindings: &[rest::Binding]) {
    let mut todo: Vec<MessageDescriptor> = Vec::new();
    for b in bindings {
        let input = b.method.input();
        let mut parameters = Vec::new();
        let mut bound = Vec::new();
        for (name, fields) in &b.path_params {
            let last = fields.last().expect("a path has a field");
            bound.push(name.clone());
            parameters.push(json!({"name": name, "in": "path", "required": true,
                "schema": kind_schema(&last.kind(), &mut todo)}));
        }
        if matches!(b.body, rest::BodyRule::None) {
            for f in input.fields() {
                if bound.iter().any(|n| n == f.name()) {
                    continue;
                }
                let is_scalar = !f.is_map()
                    && match f.kind() {
                        Kind::Message(m) => m.full_name() == "google.protobuf.Timestamp",
                        _ => true,
                    };
                if !is_scalar {
                    continue;
                }
                let mut p = json!({"name": rest::rest_name(&f), "in": "query", "required": false,
                    "schema": field_schema(&f, &mut todo)});
                if let Some(d) = p["schema"].get("description").cloned() {
                    p["description"] = d;
                }
                parameters.push(p);
            }
        }
        // A streamed upload makes a new, unattached upload each time (a repeat only expires
        // unused): no key to keep.
        let keyed = b.rule.create && !b.method.is_client_streaming();
        if keyed {
            parameters.push(json!({"name": "Idempotency-Key", "in": "header", "required": false,
                "description": "Makes a retried create safe: the same key and body get the first answer.",
                "schema": {"type": "string", "maxLength": 255}}));
        }
        let ok = if b.rule.create { "201" } else { "200" };
        let mut responses = Map::new();
        responses.insert(ok.into(), json!({
            "description": if b.rule.create { "Created" } else { "OK" },
            "content": {"application/json": {"schema": kind_schema(&Kind::Message(b.method.output()), &mut todo)}}
        }));
        responses.insert(
            "400".into(),
            error_response("The request is invalid: `details` names each field and rule"),
        );
        if !b.rule.public {
            responses.insert("401".into(), error_response("No valid bearer token"));
            responses.insert("403".into(), error_response("The caller may not do this"));
        }
        if !b.path_params.is_empty() {
            responses.insert(
                "404".into(),
                error_response("No such resource (or not visible to the caller)"),
            );
        }
        if keyed {
            responses.insert(
                "409".into(),
                retry_response(
                    "Conflicts with an existing resource, a concurrent change (`CONCURRENT_UPDATE`: retry), or a request with the same `Idempotency-Key` still running (`IDEMPOTENCY_IN_PROGRESS`: retry after `Retry-After` with the same key)",
                ),
            );
        } else if b.verb != http::Method::GET && !b.method.is_client_streaming() {
            responses.insert(
                "409".into(),
                error_response("Conflicts with the resource's state or an existing one, or a concurrent change (`CONCURRENT_UPDATE`: retry)"),
            );
        }
        if !matches!(b.body, rest::BodyRule::None) {
            responses.insert(
                "413".into(),
                error_response("The body is larger than this route accepts"),
            );
        }
        responses.insert(
            "429".into(),
            retry_response(
                "Too many requests from this client (`RATE_LIMITED`); retry after `Retry-After`",
            ),
        );
        responses.insert(
            "503".into(),
            retry_response(if b.rule.create {
                "A service, its database or Redis is unavailable; nothing was created. Creates with `Idempotency-Key` fail closed while Redis is down. Retry after `Retry-After` with the same key"
            } else {
                "A service or its database is unavailable (restarting, failing over); nothing was changed. Retry after `Retry-After`"
            }),
        );
        let mut op = json!({
            "tags": [b.tag()],
            "operationId": format!("{}.{}", b.tag(), b.method.name()),
            "parameters": parameters,
            "responses": responses,
        });
        if let Some(text) = comment(&b.method.parent_file(), b.method.path()) {
            op["description"] = text.into();
        }
        match &b.body {
            rest::BodyRule::None => {}
            rest::BodyRule::Whole => {
                op["requestBody"] = json!({"required": false, "content": {"application/json": {
                    "schema": kind_schema(&Kind::Message(input.clone()), &mut todo)}}});
            }
            rest::BodyRule::Field(f) => {
                op["requestBody"] = json!({"required": true, "content": {"application/json": {
                    "schema": kind_schema(&f.kind(), &mut todo)}}});
            }
        }
        if b.method.is_client_streaming() {
            // A file streamed in: multipart with a part `file`, or the raw bytes.
            op["requestBody"] = json!({"required": true, "content": {
                "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary",
                        "description": "The file; its part's filename is kept as the file name"}}}},
                "application/octet-stream": {"schema": {"type": "string", "format": "binary",
                    "description": "The raw bytes, with the name in the query: ?file_name=…"}}}});
            op["parameters"]
                .as_array_mut()
                .expect("a list")
                .push(json!({"name": "file_name",
                "in": "query", "required": false, "schema": {"type": "string", "maxLength": 200},
                "description": "The file's name (required with a raw body)"}));
            op["responses"]["415"] = error_response(
                "The content is not a PDF, JPEG, PNG or OFD file (`UNSUPPORTED_MEDIA_TYPE`)",
            );
            op["responses"]["413"] =
                error_response("The file is larger than the configured limit (20 MiB by default)");
        }
        if b.method.is_server_streaming() {
            let output = b.method.output();
            if output.fields().any(|f| f.kind() == Kind::Bytes) {
                // The file itself, with its type, length and name (Content-Disposition).
                op["responses"]["200"] = json!({"description": "The file's bytes", "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}});
            } else {
                // Messages as Server-Sent Events (the notification stream).
                let item = kind_schema(&Kind::Message(output), &mut todo);
                op["responses"]["200"] = json!({
                    "description": "Server-Sent Events, open until the client leaves: each `event: notification` carries one notification as JSON in `data:` and the inbox cursor in `id:`; `: heartbeat` comments come while nothing happens; a failure is one `event: error` with the error body, then the stream ends. Reconnect with `Last-Event-ID` to resume without gaps or repeats",
                    "content": {"text/event-stream": {"schema": {"type": "string"},
                        "x-event-data": item}}});
                op["parameters"].as_array_mut().expect("a list").push(json!({
                    "name": "Last-Event-ID", "in": "header", "required": false,
                    "schema": {"type": "string", "maxLength": 40},
                    "description": "The `id:` of the last event seen (sent by a reconnecting EventSource); wins over `after`"}));
            }
        }
        if !b.rule.public {
            op["security"] = json!([{"bearer": []}]);
        }
        let paths = doc["paths"].as_object_mut().expect("paths is an object");
        let item = paths.entry(b.template.clone()).or_insert_with(|| json!({}));
        item[b.verb.as_str().to_ascii_lowercase()] = op;
    }
    let mut done = std::collections::HashSet::new();
    while let Some(m) = todo.pop() {
        if !done.insert(m.full_name().to_string()) {
            continue;
        }
        let schema = message_schema(&m, &mut todo);
        doc["components"]["schemas"][schema_name(&m)] = schema;
    }
}
