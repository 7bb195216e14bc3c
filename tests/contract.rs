//! The documented contract stays true: every error reason the code can answer is listed in
//! docs/error-reasons.md (department systems branch on reasons).

use std::path::Path;

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The reasons given to `not_found`, `failed_precondition`, `already_exists` and `Error::new`.
fn reasons_in(text: &str) -> Vec<String> {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join("");
    let mut found = Vec::new();
    for call in [
        "not_found(",
        "failed_precondition(",
        "already_exists(",
        "Error::new(Code::",
    ] {
        for (at, _) in flat.match_indices(call) {
            let rest = &flat[at + call.len()..];
            let rest = if call.ends_with("Code::") {
                match rest.split_once(',') {
                    Some((_, r)) => r,
                    None => continue,
                }
            } else {
                rest
            };
            let Some(rest) = rest.strip_prefix('"') else {
                continue;
            };
            let Some((reason, _)) = rest.split_once('"') else {
                continue;
            };
            if !reason.is_empty() && reason.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                found.push(reason.to_string());
            }
        }
    }
    found
}

#[test]
fn error_reasons_are_documented() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/error-reasons.md")).unwrap();
    let mut files = Vec::new();
    sources(&root.join("services"), &mut files);
    sources(&root.join("gateway/src"), &mut files);
    let mut missing = Vec::new();
    let mut seen = 0;
    for f in files {
        for reason in reasons_in(&std::fs::read_to_string(&f).unwrap()) {
            seen += 1;
            if !doc.contains(&format!("`{reason}`")) {
                missing.push(format!("{reason} ({})", f.display()));
            }
        }
    }
    assert!(seen > 50, "the scan finds the reasons ({seen})");
    assert!(
        missing.is_empty(),
        "undocumented reasons:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_scan_reads_multi_line_calls() {
    let text = "Err(Error::new(\n    Code::Aborted,\n    \"SOME_REASON\",\n    \"x\"))\nnot_found(\"A_B\", format!(\"y\"))";
    assert_eq!(reasons_in(text), ["A_B", "SOME_REASON"]);
}
