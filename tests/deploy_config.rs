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
