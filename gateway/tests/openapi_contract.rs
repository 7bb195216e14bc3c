//! REST clients do not break: every operation of the committed snapshot of `/openapi.json`
//! (`openapi.snapshot.json`, the document as it stood before the gateway was generated from the
//! protos) must still be served with the same method, success status, path and query
//! parameters, and every request and response field it had must still be there with the same
//! JSON type. Adding is free; removing or retyping fails here.
//!
//! When a change is meant to break a client (a new API version), the snapshot is updated in the
//! same commit: `cargo run -q -- openapi > gateway/tests/openapi.snapshot.json`.

use serde_json::Value;

fn snapshot() -> Value {
    serde_json::from_str(include_str!("openapi.snapshot.json")).expect("the snapshot is JSON")
}

/// `/v1/items/{code}/versions/{version}` → `/v1/items/{}/versions/{}`: a renamed path
/// parameter is the same URL to a client.
fn shape(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "{}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

fn find_path<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    doc["paths"]
        .as_object()?
        .iter()
        .find(|(p, _)| shape(p) == shape(path))
        .map(|(_, v)| v)
}

/// Follows `$ref`, and takes the non-null member of `oneOf`/`anyOf`/`allOf` wrappers.
fn resolve<'a>(doc: &'a Value, mut s: &'a Value) -> &'a Value {
    for _ in 0..16 {
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            let name = r.trim_start_matches("#/components/schemas/");
            s = &doc["components"]["schemas"][name];
            continue;
        }
        let wrapped = ["oneOf", "anyOf", "allOf"].iter().find_map(|k| {
            s.get(*k)?
                .as_array()?
                .iter()
                .find(|m| m.get("type").and_then(Value::as_str) != Some("null"))
        });
        match wrapped {
            Some(inner) => s = inner,
            None => return s,
        }
    }
    s
}

/// The JSON type a client sees: `string`, `integer`, `number`, `boolean`, `array`, `object`
/// (nullability aside), or `any` when the schema does not say.
fn json_type(doc: &Value, s: &Value) -> String {
    let s = resolve(doc, s);
    match s.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null")
            .to_string(),
        _ if s.get("properties").is_some() => "object".into(),
        _ => "any".into(),
    }
}

/// Every field of `old` is in `new` with the same JSON type, recursively (objects' properties,
/// arrays' items), `at` naming where in the message.
fn compare(
    old_doc: &Value,
    old: &Value,
    new_doc: &Value,
    new: &Value,
    at: &str,
    depth: usize,
    out: &mut Vec<String>,
) {
    if depth > 6 {
        return;
    }
    let (o, n) = (resolve(old_doc, old), resolve(new_doc, new));
    let (ot, nt) = (json_type(old_doc, o), json_type(new_doc, n));
    if ot != nt && ot != "any" {
        out.push(format!("{at}: was {ot}, now {nt}"));
        return;
    }
    match ot.as_str() {
        "array" => compare(
            old_doc,
            &o["items"],
            new_doc,
            &n["items"],
            &format!("{at}[]"),
            depth + 1,
            out,
        ),
        "object" => {
            let Some(props) = o.get("properties").and_then(Value::as_object) else {
                return;
            };
            for (name, schema) in props {
                match n.get("properties").and_then(|p| p.get(name)) {
                    Some(new_schema) => compare(
                        old_doc,
                        schema,
                        new_doc,
                        new_schema,
                        &format!("{at}.{name}"),
                        depth + 1,
                        out,
                    ),
                    None => out.push(format!("{at}.{name}: removed")),
                }
            }
        }
        _ => {}
    }
}

fn json_schema(op: &Value, part: &str) -> Option<Value> {
    op.get(part)
        .map(|c| c["content"]["application/json"]["schema"].clone())
        .filter(|s| !s.is_null())
}

#[test]
fn no_operation_field_or_type_of_the_snapshot_disappears() {
    let old = snapshot();
    let new = yiwang_gateway::openapi::document();
    let mut problems = Vec::new();
    let mut operations = 0;
    for (path, item) in old["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            operations += 1;
            let here = format!("{} {path}", method.to_uppercase());
            let Some(new_op) = find_path(new, path).and_then(|i| i.get(method)) else {
                problems.push(format!("{here}: gone"));
                continue;
            };
            let success = |o: &Value| {
                o["responses"]
                    .as_object()
                    .and_then(|r| r.keys().find(|c| c.starts_with('2')).cloned())
            };
            let (old_ok, new_ok) = (success(op), success(new_op));
            if old_ok != new_ok {
                problems.push(format!(
                    "{here}: success status was {old_ok:?}, now {new_ok:?}"
                ));
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] == "header" {
                    continue;
                }
                let found = new_op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|q| q["in"] == p["in"] && (q["name"] == p["name"] || p["in"] == "path"));
                if !found {
                    problems.push(format!("{here}: {} parameter {} gone", p["in"], p["name"]));
                }
            }
            if let Some(body) = json_schema(op, "requestBody") {
                match json_schema(new_op, "requestBody") {
                    Some(new_body) => compare(
                        &old,
                        &body,
                        new,
                        &new_body,
                        &format!("{here} request"),
                        0,
                        &mut problems,
                    ),
                    None => problems.push(format!("{here}: request body gone")),
                }
            }
            if let Some(code) = old_ok
                && let Some(body) = json_schema(&op["responses"], &code)
            {
                match json_schema(&new_op["responses"], &code) {
                    Some(new_body) => compare(
                        &old,
                        &body,
                        new,
                        &new_body,
                        &format!("{here} response"),
                        0,
                        &mut problems,
                    ),
                    None => problems.push(format!("{here}: response body gone")),
                }
            }
        }
    }
    assert!(
        operations > 100,
        "the snapshot holds the whole API ({operations} operations)"
    );
    assert!(
        problems.is_empty(),
        "REST clients would break:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_catches_a_removed_or_retyped_field() {
    // The comparison itself must be able to fail: remove and retype a field of a copy.
    let old = snapshot();
    let mut new = old.clone();
    let schemas = new["components"]["schemas"].as_object_mut().unwrap();
    let (name, schema) = schemas
        .iter_mut()
        .find(|(_, s)| s["properties"].as_object().is_some_and(|p| p.len() >= 2))
        .unwrap();
    let name = name.clone();
    let props = schema["properties"].as_object_mut().unwrap();
    let first = props.keys().next().unwrap().clone();
    props.remove(&first);
    let second = props.keys().next().unwrap().clone();
    let was = json_type(
        &old,
        &old["components"]["schemas"][&name]["properties"][&second],
    );
    props[&second] =
        serde_json::json!({"type": if was == "boolean" { "string" } else { "boolean" }});
    let s = serde_json::json!({"$ref": format!("#/components/schemas/{name}")});
    let mut problems = Vec::new();
    compare(&old, &s, &new, &s, "x", 0, &mut problems);
    assert_eq!(problems.len(), 2, "{problems:?}");
}

#[test]
fn every_operation_is_documented_for_generators() {
    let doc = yiwang_gateway::openapi::document();
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
    for (path, item) in doc["paths"].as_object().unwrap() {
        let declared: Vec<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        for (method, op) in item.as_object().unwrap() {
            for name in &declared {
                let ok = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| p["in"] == "path" && p["name"] == *name && p["required"] == true);
                assert!(ok, "{method} {path}: path parameter {name} is not declared");
            }
            for (code, r) in op["responses"].as_object().unwrap() {
                assert!(
                    r["description"].is_string(),
                    "{method} {path} {code}: no description"
                );
            }
            let ok = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .any(|c| c.starts_with('2'));
            assert!(ok, "{method} {path}: no success response");
        }
    }
}

/// Department systems and the app plan their retries from the document: every operation lists
/// its rate-limit and unavailability answers with `Retry-After`, and keyed creates say what an
/// `Idempotency-Key` still in progress looks like.
#[test]
fn failure_answers_are_documented_with_retry_after() {
    let doc = yiwang_gateway::openapi::document();
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            operations += 1;
            for code in ["429", "503"] {
                assert!(
                    op["responses"][code]["headers"]["Retry-After"].is_object(),
                    "{method} {path}: {code} without Retry-After"
                );
            }
        }
    }
    assert!(operations > 100);
    let create = &doc["paths"]["/v1/cases"]["post"]["responses"];
    assert!(
        create["409"]["description"]
            .as_str()
            .unwrap()
            .contains("IDEMPOTENCY_IN_PROGRESS")
    );
    assert!(
        create["503"]["description"]
            .as_str()
            .unwrap()
            .contains("Redis")
    );
}
