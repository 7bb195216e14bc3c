//! Boots the whole stack in-process on ephemeral ports, with fresh databases and a fresh Redis
//! key prefix per test, the way zero2prod's `spawn_app` does.

#![allow(dead_code)]

use std::time::Duration;

use tokio::net::TcpListener;
use yiwang_kit::{CancellationToken, Config};

pub const SECRET: &str = "test-secret";

pub struct Stack {
    pub cfg: Config,
    pub base: String,
    pub grpc: String,
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    /// Set by `stop`; otherwise (a test that failed before stopping) `Drop` removes the
    /// databases.
    stopped: bool,
}

/// Every service with a database of its own (dropped when the stack stops).
const SERVICES: &[&str] = yiwang_kit::config::DATABASE_SERVICES;

pub async fn test_config(rate_limit: u32) -> Config {
    let mut cfg = Config::from_env().expect("config");
    let id = uuid::Uuid::new_v4().simple().to_string();
    cfg.database_prefix = format!("yt_{}", &id[..12]);
    cfg.redis_prefix = format!("yt:{}", &id[..12]);
    cfg.jwt.secret = Some(SECRET.to_string());
    cfg.jwt.public_key_pem = None;
    cfg.database_max_connections = 5;
    cfg.gateway.rate_limit = rate_limit;
    cfg.gateway.max_body_bytes = 64 * 1024;
    cfg.files.store_url = std::env::temp_dir()
        .join(format!("yt-files-{}", &id[..12]))
        .display()
        .to_string();
    cfg
}

impl Stack {
    pub async fn start() -> Stack {
        Self::start_with(test_config(10_000).await).await
    }

    pub async fn start_with(mut cfg: Config) -> Stack {
        let shutdown = CancellationToken::new();
        let catalog = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gateway = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let cases = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let alerts = TcpListener::bind("127.0.0.1:0").await.unwrap();
        cfg.alerts_url = format!("http://{}", alerts.local_addr().unwrap());
        let projects = TcpListener::bind("127.0.0.1:0").await.unwrap();
        cfg.projects_url = format!("http://{}", projects.local_addr().unwrap());
        let supervision = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let inbox = TcpListener::bind("127.0.0.1:0").await.unwrap();
        cfg.inbox_url = format!("http://{}", inbox.local_addr().unwrap());
        let content = TcpListener::bind("127.0.0.1:0").await.unwrap();
        cfg.content_url = format!("http://{}", content.local_addr().unwrap());
        let insight = TcpListener::bind("127.0.0.1:0").await.unwrap();
        cfg.insight_url = format!("http://{}", insight.local_addr().unwrap());
        cfg.supervision_url = format!("http://{}", supervision.local_addr().unwrap());
        let grpc = format!("http://{}", catalog.local_addr().unwrap());
        cfg.cases_url = format!("http://{}", cases.local_addr().unwrap());
        let base = format!("http://{}", gateway.local_addr().unwrap());
        cfg.catalog_url = grpc.clone();
        tokio::spawn(yiwang_catalog::serve(
            cfg.clone(),
            catalog,
            shutdown.clone(),
        ));
        tokio::spawn(yiwang_cases::serve(cfg.clone(), cases, shutdown.clone()));
        tokio::spawn(yiwang_alerts::serve(cfg.clone(), alerts, shutdown.clone()));
        tokio::spawn(yiwang_projects::serve(
            cfg.clone(),
            projects,
            shutdown.clone(),
        ));
        tokio::spawn(yiwang_supervision::serve(
            cfg.clone(),
            supervision,
            shutdown.clone(),
        ));
        tokio::spawn(yiwang_inbox::serve(cfg.clone(), inbox, shutdown.clone()));
        tokio::spawn(yiwang_content::serve(
            cfg.clone(),
            content,
            shutdown.clone(),
        ));
        tokio::spawn(yiwang_insight::serve(
            cfg.clone(),
            insight,
            shutdown.clone(),
        ));
        tokio::spawn(yiwang_gateway::serve(
            cfg.clone(),
            gateway,
            shutdown.clone(),
        ));
        let stack = Stack {
            cfg,
            base,
            grpc,
            http: reqwest::Client::new(),
            shutdown,
            stopped: false,
        };
        stack.wait_ready().await;
        stack
    }

    pub async fn wait_ready(&self) {
        for _ in 0..200 {
            if let Ok(r) = self.http.get(format!("{}/readyz", self.base)).send().await
                && r.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("stack not ready within 10 s");
    }

    pub fn token(&self, sub: &str, roles: &[&str], dept: Option<&str>) -> String {
        let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
        yiwang_kit::auth::mint_token(SECRET, sub, sub, &roles, dept, 3600).unwrap()
    }

    pub fn admin(&self) -> String {
        self.token("admin-1", &["admin"], None)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        tokio::time::sleep(Duration::from_millis(700)).await;
        for service in SERVICES {
            let _ = yiwang_kit::db::drop_database(
                self.cfg.service_database_server(service),
                &self.cfg.database_name(service),
            )
            .await;
        }
        if !self.cfg.files.store_url.starts_with("s3://") {
            let _ = std::fs::remove_dir_all(&self.cfg.files.store_url);
        }
        self.stopped = true;
    }
}

impl Drop for Stack {
    /// A test that panicked before `stop` still leaves no databases behind: they are dropped
    /// (`WITH (FORCE)`, the services' connections notwithstanding) from a thread of its own,
    /// since the test's runtime may be the one unwinding.
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        self.shutdown.cancel();
        let names: Vec<(String, String)> = SERVICES
            .iter()
            .map(|s| {
                (
                    self.cfg.service_database_server(s).to_string(),
                    self.cfg.database_name(s),
                )
            })
            .collect();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                for (server, name) in names {
                    let _ = yiwang_kit::db::drop_database(&server, &name).await;
                }
            });
        })
        .join();
    }
}

pub fn uscc(first17: &str) -> String {
    yiwang_kit::ids::uscc_with_check(first17).unwrap()
}

/// A department and a valid item body for it.
pub async fn seed_department(s: &Stack) -> (String, String) {
    let dept_uscc = uscc("11340522MB0000001");
    let r = s
        .http
        .post(s.url("/v1/org-units"))
        .bearer_auth(s.admin())
        .json(&serde_json::json!({"code": "340522-SCJGJ", "name": "含山县市场监督管理局", "kind": "department", "region_code": "340522", "uscc": dept_uscc}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    ("340522-SCJGJ".to_string(), dept_uscc)
}

pub fn item_body(dept: &str, dept_uscc: &str, seq: u32, name: &str) -> serde_json::Value {
    let catalog_code = format!("00010100{seq:04}");
    serde_json::json!({
        "code": format!("{dept_uscc}4{catalog_code}"),
        "catalog_code": catalog_code,
        "name": name,
        "task_type": "01",
        "level": 4,
        "department": dept,
        "legal_limit": {"value": 20, "unit": "working_days"},
        "promised_limit": {"value": 5, "unit": "working_days"},
        "handling_kind": "promised",
        "applicant_kinds": ["2"],
        "materials": [
            {"name": "营业执照", "required": true, "format": "electronic", "source": "government_shared"},
            {"name": "食品安全管理制度", "required": true, "format": "paper", "source": "applicant"}
        ],
        "fees": [],
        "online_depth": [1, 2, 3, 4, 5, 6],
        "channels": ["online", "window"],
        "visits_required": 0,
        "high_frequency": true,
        "standard_lists": ["province"]
    })
}

/// Creates an item (the department too, for seq 1) and publishes it; returns its code.
pub async fn create_published(s: &Stack, seq: u32, name: &str) -> String {
    let (dept, dept_uscc) = if seq == 1 {
        seed_department(s).await
    } else {
        ("340522-SCJGJ".into(), uscc("11340522MB0000001"))
    };
    publish_item(s, &item_body(&dept, &dept_uscc, seq, name)).await
}

/// Creates the item `body` describes as the catalogue administrator and publishes it; returns
/// its code.
pub async fn publish_item(s: &Stack, body: &serde_json::Value) -> String {
    let code = body["code"].as_str().unwrap().to_string();
    let admin = s.token("cat-admin", &["catalog_admin"], None);
    let r = s
        .http
        .post(s.url("/v1/items"))
        .bearer_auth(&admin)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = s
        .http
        .post(s.url(&format!("/v1/items/{code}/publish")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    code
}

/// The first field a REST error body names (`details[].field_violations[0].field`).
pub fn violation_field(body: &serde_json::Value) -> String {
    body["error"]["details"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|d| d["field_violations"][0]["field"].as_str().map(String::from))
        .unwrap_or_default()
}

/// One REST call as the apps make it: status and JSON body (or the text, if not JSON).
pub async fn send(
    s: &Stack,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut req = s.http.request(method.parse().unwrap(), s.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

/// A gRPC request carrying a bearer token, as a department system sends it.
pub fn authed<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

/// The first field a gRPC error's `BadRequest` detail names.
pub fn grpc_violation_field(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .and_then(|b| b.field_violations.first().map(|v| v.field.clone()))
        .unwrap_or_default()
}

/// A POST that must answer 200; its JSON.
pub async fn post_ok(
    s: &Stack,
    path: &str,
    token: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let (st, v) = send(s, "POST", path, Some(token), Some(body)).await;
    assert_eq!(st, 200, "{path}: {v}");
    v
}

/// `GET /v1/cases/stats` over the day around now (what a test just did falls in it).
pub fn stats_around_now() -> String {
    let at = |d: i64| (chrono::Utc::now() + chrono::Duration::days(d)).format("%Y-%m-%dT%H:%M:%SZ");
    format!("/v1/cases/stats?from={}&to={}", at(-1), at(1))
}

/// A Redis Cluster of three masters (no replicas) on free ports, started for one test and
/// stopped (its processes killed, its files removed) when dropped.
pub struct RedisCluster {
    /// `redis://127.0.0.1:<p1>,redis://…`: the form `REDIS_URL` takes for a cluster.
    pub url: String,
    pub ports: Vec<u16>,
    children: Vec<std::process::Child>,
    dir: std::path::PathBuf,
}

impl RedisCluster {
    pub async fn start() -> RedisCluster {
        let dir = std::env::temp_dir().join(format!("yt-redis-cluster-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        // A node listens on its port and on port + 10000 (the cluster bus): both must be free.
        let mut ports = Vec::new();
        while ports.len() < 3 {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let p = l.local_addr().unwrap().port();
            drop(l);
            if p < 55_000
                && !ports.contains(&p)
                && std::net::TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok()
            {
                ports.push(p);
            }
        }
        let mut children = Vec::new();
        for p in &ports {
            let child = std::process::Command::new("redis-server")
                .args([
                    "--port",
                    &p.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    &dir.join(format!("nodes-{p}.conf")).display().to_string(),
                    "--dir",
                    &dir.display().to_string(),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("redis-server");
            children.push(child);
        }
        let mut cluster = RedisCluster {
            url: ports
                .iter()
                .map(|p| format!("redis://127.0.0.1:{p}"))
                .collect::<Vec<_>>()
                .join(","),
            ports: ports.clone(),
            children,
            dir,
        };
        for p in &ports {
            cluster.wait_for(*p, "PING", "PONG").await;
        }
        let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let out = std::process::Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli");
        assert!(
            out.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        for p in &ports {
            cluster
                .wait_for(*p, "CLUSTER INFO", "cluster_state:ok")
                .await;
        }
        cluster.children.shrink_to_fit();
        cluster
    }

    async fn wait_for(&self, port: u16, command: &str, expect: &str) {
        let started = std::time::Instant::now();
        loop {
            let out = std::process::Command::new("redis-cli")
                .args(["-p", &port.to_string()])
                .args(command.split(' '))
                .output()
                .expect("redis-cli");
            if String::from_utf8_lossy(&out.stdout).contains(expect) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "node {port} never answered {command} with {expect}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// How many keys each node holds.
    pub fn keys_per_node(&self) -> Vec<u64> {
        self.ports
            .iter()
            .map(|p| {
                let out = std::process::Command::new("redis-cli")
                    .args(["-p", &p.to_string(), "DBSIZE"])
                    .output()
                    .expect("redis-cli");
                String::from_utf8_lossy(&out.stdout)
                    .trim()
                    .parse()
                    .unwrap_or(0)
            })
            .collect()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
