//! The deployment descriptions, checked offline since no cluster or container engine runs here
//! (issue 17): the Kubernetes overlays rendered by `kubectl kustomize` and validated against the
//! Kubernetes API models, with the project's own rules (probes, non-root, read-only root,
//! network policies that follow the services' call graph); and the Grafana dashboards and
//! Prometheus rules, whose every expression parses and names only metrics the services export;
//! and docker-compose.yml against the vendored Compose Specification schema and the launcher's
//! roles, ports, URLs and keys.

use std::path::Path;
use std::process::Command;

fn run(script: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(root.join(script))
        .current_dir(root)
        .output()
        .expect("python3 runs (pip install -r tests/requirements.txt)");
    assert!(
        out.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_kubernetes_overlays_are_valid_objects_that_follow_the_rules() {
    run("deploy/kubernetes/check.py");
}

#[test]
fn the_dashboards_and_alert_rules_name_only_exported_metrics() {
    run("deploy/check_observability.py");
}

#[test]
fn the_compose_file_follows_the_spec_and_the_launcher() {
    run("deploy/check_compose.py");
}

fn tool(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The build id note of an ELF file (`readelf -n`).
fn build_id(file: &str) -> String {
    tool("readelf", &["-n", file])
        .lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: ").map(str::to_string))
        .unwrap_or_else(|| panic!("{file} has no build id"))
}

/// The image ships the binary stripped and keeps its debug info apart (deploy/strip-release.sh,
/// run by the Dockerfile): the shipped file still runs, has no debug sections, names its debug
/// file, and the two share a build id; an address of the shipped code symbolises to its source
/// line with the debug file alone.
#[test]
fn the_shipped_binary_is_stripped_and_its_debug_info_symbolises_it() {
    let bin = env!("CARGO_BIN_EXE_yiwang");
    let out = std::env::temp_dir().join(format!("yiwang-strip-{}", std::process::id()));
    let out_s = out.display().to_string();
    tool("sh", &["deploy/strip-release.sh", bin, &out_s]);
    let shipped = format!("{out_s}/yiwang");
    let debug = format!("{out_s}/debug/yiwang.debug");

    let size = |f: &str| std::fs::metadata(f).unwrap().len();
    assert!(
        size(&shipped) < size(bin),
        "stripped {} ≥ original {}",
        size(&shipped),
        size(bin)
    );
    assert!(tool(&shipped, &["--version"]).starts_with("yiwang "));

    let sections = tool("readelf", &["-S", "-W", &shipped]);
    assert!(
        !sections.contains(".debug_line"),
        "debug info left in the shipped binary"
    );
    assert!(
        !sections.contains(".symtab"),
        "symbol table left in the shipped binary"
    );
    assert!(
        sections.contains(".gnu_debuglink"),
        "no link to the debug file"
    );
    assert!(tool("readelf", &["-S", "-W", &debug]).contains(".debug_line"));
    assert_eq!(build_id(&shipped), build_id(bin));
    assert_eq!(build_id(&debug), build_id(bin));

    // `main` of the launcher, looked up in the original, symbolised from the debug file.
    let symbols = tool("nm", &["-C", bin]);
    let address = symbols
        .lines()
        .find(|l| l.ends_with(" yiwang::run") || l.ends_with(" yiwang::main"))
        .and_then(|l| l.split_whitespace().next())
        .expect("the launcher's main in the symbol table")
        .to_string();
    let place = tool(
        "addr2line",
        &["-f", "-C", "-e", &debug, &format!("0x{address}")],
    );
    assert!(
        place.contains("src/main.rs"),
        "{address} symbolised as {place}"
    );
    let _ = std::fs::remove_dir_all(&out);
}
