//! Configuration from environment variables, with local defaults that work on a developer
//! machine with PostgreSQL and Redis on their standard ports.

use std::net::SocketAddr;

/// Settings shared by every role. Each role reads the few fields it needs.
#[derive(Clone, Debug)]
pub struct Config {
    /// PostgreSQL *server* URL (`DATABASE_URL`); each service derives its own database from it.
    pub database_url: String,
    /// Prefix of per-service database names (`YIWANG_DB_PREFIX`, default `yiwang`):
    /// the catalogue lives in `yiwang_catalog`.
    pub database_prefix: String,
    /// One service's own database, wherever it lives (`YIWANG_<SERVICE>_DATABASE_URL`, e.g.
    /// `YIWANG_CASES_DATABASE_URL=postgres://u:p@cases-db:5432/yiwang_cases`): a full URL
    /// including the database, which then replaces the one derived from `DATABASE_URL`, so each
    /// service can live on a PostgreSQL cluster of its own.
    pub service_database_urls: std::collections::BTreeMap<String, String>,
    /// A streaming replica of a service's database (`YIWANG_<SERVICE>_READ_DATABASE_URL`, a full
    /// URL with the database), for its listings and statistics.
    pub read_database_urls: std::collections::BTreeMap<String, String>,
    /// Maximum connections per service pool (`YIWANG_DB_MAX_CONNECTIONS`).
    pub database_max_connections: u32,
    pub redis_url: String,
    /// Namespace of every Redis key and stream (`YIWANG_REDIS_PREFIX`, default `yiwang`), so
    /// several deployments (or test runs) can share one Redis.
    pub redis_prefix: String,
    pub jwt: JwtConfig,
    /// OTLP/gRPC collector endpoint; traces are exported only when set.
    pub otlp_endpoint: Option<String>,
    /// `json` (default) or `pretty`.
    pub log_format: String,
    pub catalog_addr: SocketAddr,
    pub gateway_addr: SocketAddr,
    /// Where the gateway reaches the catalogue's gRPC API.
    pub catalog_url: String,
    pub cases_addr: SocketAddr,
    /// Where the gateway reaches the cases service's gRPC API.
    pub cases_url: String,
    pub supervision_addr: SocketAddr,
    /// Where the gateway reaches the supervision service's gRPC API.
    pub supervision_url: String,
    pub projects_addr: SocketAddr,
    /// Where the gateway reaches the projects service's gRPC API.
    pub projects_url: String,
    pub alerts_addr: SocketAddr,
    /// Where the gateway reaches the alerts service's gRPC API.
    pub alerts_url: String,
    pub inbox_addr: SocketAddr,
    /// Where the gateway reaches the inbox service's gRPC API.
    pub inbox_url: String,
    /// Seconds between heartbeats of an idle notification stream (`YIWANG_INBOX_HEARTBEAT_SECS`,
    /// 1–300, default 15): what keeps proxies from closing the app's open stream.
    pub inbox_heartbeat_secs: u64,
    pub content_addr: SocketAddr,
    /// Where the gateway reaches the content service's gRPC API.
    pub content_url: String,
    pub insight_addr: SocketAddr,
    /// Where the gateway reaches the insight service's gRPC API.
    pub insight_url: String,
    pub gateway: GatewayConfig,
    /// Byte budget of each process's in-memory read cache (`YIWANG_NEAR_CACHE_MB`, default 16).
    pub near_cache_bytes: u64,
    /// Base64 of the 32-byte key sealing personal data at rest (`YIWANG_DATA_KEY`); without it a
    /// built-in development key is used, with a warning.
    pub data_key: Option<String>,
    /// Base64 of the 32-byte Ed25519 seed e-licences are signed with (`YIWANG_LICENCE_KEY`);
    /// without it a built-in development key is used, with a warning.
    pub licence_key: Option<String>,
    /// Years an e-licence is valid (`YIWANG_LICENCE_VALID_YEARS`, 1–30, default 5).
    pub licence_valid_years: u32,
    /// The county's region code (`YIWANG_REGION_CODE`, default 340522), first part of case numbers.
    pub region_code: String,
    /// Working days a department has to put a 差评 right (`YIWANG_RECTIFY_WORKING_DAYS`, 1–30, default 5).
    pub rectify_working_days: u32,
    /// How often the cases service looks for newly overdue cases (`YIWANG_OVERDUE_SWEEP_SECS`, default 30).
    pub overdue_sweep_secs: u64,
    pub alerts: AlertsConfig,
    pub files: FilesConfig,
    pub links: LinkCheckConfig,
}

/// The content service's 错链/死链 checker.
#[derive(Clone, Debug)]
pub struct LinkCheckConfig {
    /// Hosts checked at once (`YIWANG_LINK_CHECK_CONCURRENCY`, 1–64, default 8).
    pub concurrency: usize,
    /// Milliseconds between two requests to the same host (`YIWANG_LINK_CHECK_HOST_INTERVAL_MS`,
    /// default 1000): one request at a time per host, politely spaced.
    pub host_interval_ms: u64,
    /// Seconds one request may take (`YIWANG_LINK_CHECK_TIMEOUT_SECS`, 1–120, default 10).
    pub timeout_secs: u64,
    /// Retries after a timeout, a refused connection or a 5xx (`YIWANG_LINK_CHECK_RETRIES`,
    /// 0–5, default 2).
    pub retries: u32,
    /// Seconds until a link found alive is checked again (`YIWANG_LINK_RECHECK_SECS`, default
    /// 86400); a dead one is looked at again after a quarter of that.
    pub recheck_secs: u64,
    /// Whether links to loopback, private and link-local addresses are followed
    /// (`YIWANG_LINK_CHECK_PRIVATE`, default false: a post cannot make the checker probe the
    /// county's internal network or cloud metadata addresses).
    pub allow_private: bool,
}

/// Material files (`POST /v1/uploads`).
#[derive(Clone, Debug)]
pub struct FilesConfig {
    /// Where files are kept (`YIWANG_OBJECT_STORE`): a directory (default `./yiwang-files`),
    /// `file:///path` or `s3://bucket[/prefix]`.
    pub store_url: String,
    /// S3 settings (`AWS_ENDPOINT`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_ALLOW_HTTP`, …, as `object_store` names them); read from the environment by the
    /// store itself, and settable here (tests).
    pub store_options: Vec<(String, String)>,
    /// Largest file in bytes (`YIWANG_UPLOAD_MAX_BYTES`, default 20 MiB).
    pub max_bytes: u64,
    /// Hours an upload not attached to any case is kept (`YIWANG_UPLOAD_TTL_HOURS`, 1–720,
    /// default 24).
    pub ttl_hours: u32,
}

/// Settings of the alerts service.
#[derive(Clone, Debug)]
pub struct AlertsConfig {
    /// How long after an incident's last event a new event with the same fingerprint still
    /// joins it (`YIWANG_ALERTS_WINDOW_SECS`, default 86400 = one day).
    pub window_secs: u64,
    /// Whole months of raw security events kept (`YIWANG_ALERTS_RETENTION_MONTHS`, 1–120,
    /// default 13: a year back plus the current month); older monthly partitions are dropped.
    pub retention_months: u32,
    /// Working days a unit has to report on a remediation notice, by the incident's severity
    /// (`YIWANG_ALERTS_NOTICE_DAYS`, default `high=1,medium=3,low=10`).
    pub notice_days_high: u32,
    pub notice_days_medium: u32,
    pub notice_days_low: u32,
    /// Ranges never blocked, e.g. the network's own gateways (`YIWANG_ALERTS_ALLOWLIST`, comma
    /// separated CIDRs).
    pub allowlist: Vec<String>,
    /// When set (`YIWANG_ALERTS_AUTO_BLOCK_DAYS`, 1–365), a remediation notice on a
    /// host-compromise incident blocks the external address the host talked to for that many days.
    pub auto_block_days: Option<u32>,
    /// What auto-blocking blocks (`YIWANG_ALERTS_AUTO_BLOCK_TARGET`: `host`, the default, as
    /// the county blocks the unit's problem address until it rectifies; `peer`, the external
    /// address; or `both`).
    pub auto_block_hosts: bool,
    pub auto_block_peers: bool,
}

impl AlertsConfig {
    fn from_env(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let num = |k: &str, default: u64| -> anyhow::Result<u64> {
            match var(k) {
                None => Ok(default),
                Some(v) => v
                    .parse()
                    .map_err(|_| anyhow::anyhow!("{k}={v:?} is not a whole number")),
            }
        };
        let (mut high, mut medium, mut low) = (1, 3, 10);
        if let Some(spec) = var("YIWANG_ALERTS_NOTICE_DAYS") {
            for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let bad = || {
                    anyhow::anyhow!(
                        "YIWANG_ALERTS_NOTICE_DAYS={spec:?}: write severity=days, e.g. high=1,medium=3,low=10 (1 to 60 days)"
                    )
                };
                let (sev, days) = part.split_once('=').ok_or_else(bad)?;
                let days: u32 = days
                    .trim()
                    .parse()
                    .ok()
                    .filter(|d| (1..=60).contains(d))
                    .ok_or_else(bad)?;
                match sev.trim() {
                    "high" => high = days,
                    "medium" => medium = days,
                    "low" => low = days,
                    _ => return Err(bad()),
                }
            }
        }
        let auto_block_target = var("YIWANG_ALERTS_AUTO_BLOCK_TARGET")
            .map(|t| t.trim().to_ascii_lowercase())
            .unwrap_or_else(|| "host".into());
        if !matches!(auto_block_target.as_str(), "host" | "peer" | "both") {
            anyhow::bail!(
                "YIWANG_ALERTS_AUTO_BLOCK_TARGET={auto_block_target:?} must be host, peer or both"
            );
        }
        Ok(Self {
            window_secs: num("YIWANG_ALERTS_WINDOW_SECS", 86_400)?.max(1),
            retention_months: match num("YIWANG_ALERTS_RETENTION_MONTHS", 13)? {
                n @ 1..=120 => n as u32,
                n => anyhow::bail!("YIWANG_ALERTS_RETENTION_MONTHS={n} must be 1 to 120"),
            },
            notice_days_high: high,
            notice_days_medium: medium,
            notice_days_low: low,
            allowlist: var("YIWANG_ALERTS_ALLOWLIST")
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            auto_block_days: match num("YIWANG_ALERTS_AUTO_BLOCK_DAYS", 0)? {
                0 => None,
                n @ 1..=365 => Some(n as u32),
                n => anyhow::bail!("YIWANG_ALERTS_AUTO_BLOCK_DAYS={n} must be 0 (off) to 365"),
            },
            auto_block_hosts: matches!(auto_block_target.as_str(), "host" | "both"),
            auto_block_peers: matches!(auto_block_target.as_str(), "peer" | "both"),
        })
    }
}

#[derive(Clone, Debug)]
pub struct JwtConfig {
    /// HS256 shared secret (`YIWANG_JWT_SECRET`), for development and single-tenant setups.
    pub secret: Option<String>,
    /// PEM public key (`YIWANG_JWT_PUBLIC_KEY`, RS256 or EdDSA) for production identity providers.
    pub public_key_pem: Option<String>,
    /// Expected `iss`, if set (`YIWANG_JWT_ISSUER`).
    pub issuer: Option<String>,
}

#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// Requests per client per window (`YIWANG_RATE_LIMIT`, default 600; 0 disables).
    pub rate_limit: u32,
    /// Window length in seconds (`YIWANG_RATE_WINDOW_SECS`, default 60).
    pub rate_window_secs: u32,
    /// Public look-ups by number and code (办件查询, `/v1/public/…`) per client per minute
    /// (`YIWANG_LOOKUP_RATE_LIMIT`, default 30; 0 disables): guessing codes stays hopeless.
    pub lookup_rate_limit: u32,
    /// Largest accepted request body in bytes (`YIWANG_MAX_BODY_BYTES`, default 1 MiB).
    pub max_body_bytes: usize,
    /// Allowed CORS origins, comma separated (`YIWANG_CORS_ORIGINS`); `*` allows any; empty none.
    pub cors_origins: Vec<String>,
    /// Seconds an item stays in the gateway's Redis cache (`YIWANG_CACHE_TTL_SECS`, default 300).
    pub cache_ttl_secs: u64,
    /// Trust `X-Forwarded-For` for the client address (`YIWANG_TRUST_FORWARDED`, behind a proxy).
    pub trust_forwarded: bool,
}

/// The development secret used when none is configured; `yiwang` warns when it is in use.
pub const DEV_JWT_SECRET: &str = "yiwang-dev-secret-do-not-use-in-production";

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let addr = |k: &str, default: &str| -> anyhow::Result<SocketAddr> {
            let v = var(k).unwrap_or_else(|| default.to_string());
            v.parse()
                .map_err(|e| anyhow::anyhow!("{k}={v:?} is not a socket address: {e}"))
        };
        let num = |k: &str, default: u64| -> anyhow::Result<u64> {
            match var(k) {
                None => Ok(default),
                Some(v) => v
                    .parse()
                    .map_err(|_| anyhow::anyhow!("{k}={v:?} is not a whole number")),
            }
        };
        // `YIWANG_<SERVICE>_<name>` of every service that sets it.
        let per_service = |name: &str| {
            DATABASE_SERVICES
                .iter()
                .filter_map(|s| {
                    var(&format!("YIWANG_{}_{name}", s.to_uppercase()))
                        .map(|url| (s.to_string(), url))
                })
                .collect()
        };
        let jwt_secret = var("YIWANG_JWT_SECRET");
        let public_key_pem = var("YIWANG_JWT_PUBLIC_KEY");
        Ok(Self {
            database_url: var("DATABASE_URL")
                .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432".to_string()),
            database_prefix: var("YIWANG_DB_PREFIX").unwrap_or_else(|| "yiwang".to_string()),
            service_database_urls: per_service("DATABASE_URL"),
            read_database_urls: per_service("READ_DATABASE_URL"),
            database_max_connections: num("YIWANG_DB_MAX_CONNECTIONS", 16)? as u32,
            redis_url: var("REDIS_URL").unwrap_or_else(|| "redis://127.0.0.1:6379".to_string()),
            redis_prefix: var("YIWANG_REDIS_PREFIX").unwrap_or_else(|| "yiwang".to_string()),
            jwt: JwtConfig {
                secret: jwt_secret
                    .or_else(|| public_key_pem.is_none().then(|| DEV_JWT_SECRET.to_string())),
                public_key_pem,
                issuer: var("YIWANG_JWT_ISSUER"),
            },
            otlp_endpoint: var("OTEL_EXPORTER_OTLP_ENDPOINT"),
            log_format: var("YIWANG_LOG_FORMAT").unwrap_or_else(|| "json".to_string()),
            catalog_addr: addr("YIWANG_CATALOG_ADDR", "0.0.0.0:50051")?,
            gateway_addr: addr("YIWANG_GATEWAY_ADDR", "0.0.0.0:8080")?,
            cases_addr: addr("YIWANG_CASES_ADDR", "0.0.0.0:50052")?,
            cases_url: var("YIWANG_CASES_URL")
                .unwrap_or_else(|| "http://127.0.0.1:50052".to_string()),
            catalog_url: var("YIWANG_CATALOG_URL")
                .unwrap_or_else(|| "http://127.0.0.1:50051".to_string()),
            supervision_addr: addr("YIWANG_SUPERVISION_ADDR", "0.0.0.0:50053")?,
            supervision_url: var("YIWANG_SUPERVISION_URL")
                .unwrap_or_else(|| "http://127.0.0.1:50053".to_string()),
            projects_addr: addr("YIWANG_PROJECTS_ADDR", "0.0.0.0:50054")?,
            projects_url: var("YIWANG_PROJECTS_URL")
                .unwrap_or_else(|| "http://127.0.0.1:50054".to_string()),
            alerts_addr: addr("YIWANG_ALERTS_ADDR", "0.0.0.0:50055")?,
            alerts_url: var("YIWANG_ALERTS_URL")
                .unwrap_or_else(|| "http://127.0.0.1:50055".to_string()),
            inbox_addr: addr("YIWANG_INBOX_ADDR", "0.0.0.0:50056")?,
            inbox_url: var("YIWANG_INBOX_URL")
                .unwrap_or_else(|| "http://127.0.0.1:50056".to_string()),
            content_addr: addr("YIWANG_CONTENT_ADDR", "0.0.0.0:50057")?,
            content_url: var("YIWANG_CONTENT_URL")
                .unwrap_or_else(|| "http://127.0.0.1:50057".to_string()),
            insight_addr: addr("YIWANG_INSIGHT_ADDR", "0.0.0.0:50058")?,
            insight_url: var("YIWANG_INSIGHT_URL")
                .unwrap_or_else(|| "http://127.0.0.1:50058".to_string()),
            inbox_heartbeat_secs: match num("YIWANG_INBOX_HEARTBEAT_SECS", 15)? {
                n @ 1..=300 => n,
                n => anyhow::bail!("YIWANG_INBOX_HEARTBEAT_SECS={n} must be 1 to 300"),
            },
            gateway: GatewayConfig {
                rate_limit: num("YIWANG_RATE_LIMIT", 600)? as u32,
                rate_window_secs: num("YIWANG_RATE_WINDOW_SECS", 60)?.max(1) as u32,
                lookup_rate_limit: num("YIWANG_LOOKUP_RATE_LIMIT", 30)? as u32,
                max_body_bytes: num("YIWANG_MAX_BODY_BYTES", 1024 * 1024)? as usize,
                cors_origins: var("YIWANG_CORS_ORIGINS")
                    .map(|v| {
                        v.split(',')
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty())
                            .collect()
                    })
                    .unwrap_or_default(),
                cache_ttl_secs: num("YIWANG_CACHE_TTL_SECS", 300)?,
                trust_forwarded: var("YIWANG_TRUST_FORWARDED")
                    .is_some_and(|v| v == "1" || v == "true"),
            },
            near_cache_bytes: num("YIWANG_NEAR_CACHE_MB", 16)? * 1024 * 1024,
            data_key: var("YIWANG_DATA_KEY"),
            licence_key: var("YIWANG_LICENCE_KEY"),
            licence_valid_years: match num("YIWANG_LICENCE_VALID_YEARS", 5)? {
                n @ 1..=30 => n as u32,
                n => anyhow::bail!("YIWANG_LICENCE_VALID_YEARS={n} must be 1 to 30"),
            },
            rectify_working_days: match num("YIWANG_RECTIFY_WORKING_DAYS", 5)? {
                n @ 1..=30 => n as u32,
                n => anyhow::bail!("YIWANG_RECTIFY_WORKING_DAYS={n} must be 1 to 30"),
            },
            overdue_sweep_secs: num("YIWANG_OVERDUE_SWEEP_SECS", 30)?.max(1),
            alerts: AlertsConfig::from_env(var)?,
            links: LinkCheckConfig {
                concurrency: match num("YIWANG_LINK_CHECK_CONCURRENCY", 8)? {
                    n @ 1..=64 => n as usize,
                    n => anyhow::bail!("YIWANG_LINK_CHECK_CONCURRENCY={n} must be 1 to 64"),
                },
                host_interval_ms: num("YIWANG_LINK_CHECK_HOST_INTERVAL_MS", 1000)?,
                timeout_secs: match num("YIWANG_LINK_CHECK_TIMEOUT_SECS", 10)? {
                    n @ 1..=120 => n,
                    n => anyhow::bail!("YIWANG_LINK_CHECK_TIMEOUT_SECS={n} must be 1 to 120"),
                },
                retries: match num("YIWANG_LINK_CHECK_RETRIES", 2)? {
                    n @ 0..=5 => n as u32,
                    n => anyhow::bail!("YIWANG_LINK_CHECK_RETRIES={n} must be 0 to 5"),
                },
                recheck_secs: num("YIWANG_LINK_RECHECK_SECS", 86_400)?.max(1),
                allow_private: var("YIWANG_LINK_CHECK_PRIVATE")
                    .is_some_and(|v| v == "1" || v == "true"),
            },
            files: FilesConfig {
                store_url: var("YIWANG_OBJECT_STORE").unwrap_or_else(|| "yiwang-files".into()),
                store_options: Vec::new(),
                max_bytes: match num("YIWANG_UPLOAD_MAX_BYTES", 20 * 1024 * 1024)? {
                    n @ 1..=1_073_741_824 => n,
                    n => anyhow::bail!("YIWANG_UPLOAD_MAX_BYTES={n} must be 1 to 1073741824"),
                },
                ttl_hours: match num("YIWANG_UPLOAD_TTL_HOURS", 24)? {
                    n @ 1..=720 => n as u32,
                    n => anyhow::bail!("YIWANG_UPLOAD_TTL_HOURS={n} must be 1 to 720"),
                },
            },
            region_code: {
                let r = var("YIWANG_REGION_CODE").unwrap_or_else(|| "340522".to_string());
                crate::ids::check_region_code(&r)
                    .map_err(|e| anyhow::anyhow!("YIWANG_REGION_CODE={r:?}: {e}"))?;
                r
            },
        })
    }

    /// The database name of one service, e.g. `yiwang_catalog` (or the one its own URL names).
    pub fn database_name(&self, service: &str) -> String {
        self.service_database_urls
            .get(service)
            .and_then(|url| database_of(url))
            .unwrap_or_else(|| format!("{}_{}", self.database_prefix, service))
    }

    /// The PostgreSQL server one service's database lives on.
    pub fn service_database_server(&self, service: &str) -> &str {
        self.service_database_urls
            .get(service)
            .map(String::as_str)
            .unwrap_or(&self.database_url)
    }

    /// The connection URL of one service's database: its own, or derived from the server URL.
    pub fn service_database_url(&self, service: &str) -> String {
        match self.service_database_urls.get(service) {
            Some(url) => url.clone(),
            None => with_database(&self.database_url, &self.database_name(service)),
        }
    }

    pub fn uses_dev_secret(&self) -> bool {
        self.jwt.secret.as_deref() == Some(DEV_JWT_SECRET)
    }
}

/// Every role the launcher runs, in start order (the gateway last: it calls the others).
pub const ROLES: &[&str] = &[
    "catalog",
    "cases",
    "supervision",
    "projects",
    "alerts",
    "inbox",
    "content",
    "insight",
    "gateway",
];

/// The services with a database of their own: every role but the gateway (the last).
pub const DATABASE_SERVICES: &[&str] = match ROLES.split_last() {
    Some((_gateway, services)) => services,
    None => &[],
};

/// The database a PostgreSQL URL names (its path), if any.
pub fn database_of(url: &str) -> Option<String> {
    let base = url.split_once('?').map(|(b, _)| b).unwrap_or(url);
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path = base[after_scheme..].split_once('/')?.1;
    (!path.is_empty()).then(|| path.to_string())
}

/// Replaces (or adds) the database path of a PostgreSQL URL, keeping credentials and query.
pub fn with_database(server_url: &str, database: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (server_url, None),
    };
    // The authority ends at the first '/' after "scheme://".
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let authority_end = base[after_scheme..]
        .find('/')
        .map(|i| after_scheme + i)
        .unwrap_or(base.len());
    let mut url = format!("{}/{}", &base[..authority_end], database);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn derives_service_database_urls() {
        assert_eq!(
            with_database("postgres://u:p@h:5432", "yiwang_catalog"),
            "postgres://u:p@h:5432/yiwang_catalog"
        );
        assert_eq!(
            with_database("postgres://h/postgres", "x"),
            "postgres://h/x"
        );
        assert_eq!(
            with_database("postgres://h:1/db?sslmode=require", "x"),
            "postgres://h:1/x?sslmode=require"
        );
    }

    #[test]
    fn a_service_may_have_a_database_of_its_own() {
        let mut cfg = super::Config::from_env().unwrap();
        cfg.database_url = "postgres://u@shared:5432".into();
        cfg.database_prefix = "yiwang".into();
        cfg.service_database_urls.clear();
        cfg.service_database_urls.insert(
            "cases".into(),
            "postgres://c@cases-db:6432/county_cases?sslmode=require".into(),
        );
        assert_eq!(
            cfg.service_database_url("cases"),
            "postgres://c@cases-db:6432/county_cases?sslmode=require"
        );
        assert_eq!(cfg.database_name("cases"), "county_cases");
        assert_eq!(
            cfg.service_database_server("cases"),
            "postgres://c@cases-db:6432/county_cases?sslmode=require"
        );
        assert_eq!(
            cfg.service_database_url("catalog"),
            "postgres://u@shared:5432/yiwang_catalog"
        );
        assert_eq!(cfg.database_name("catalog"), "yiwang_catalog");
        assert_eq!(
            cfg.service_database_server("catalog"),
            "postgres://u@shared:5432"
        );
        assert_eq!(super::database_of("postgres://h:1"), None);
    }
}
