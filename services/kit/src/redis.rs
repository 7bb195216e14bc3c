//! Redis connections. Every key and stream name goes through [`Redis::key`] so deployments (and
//! parallel test runs) sharing one server never see each other's data.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

#[derive(Clone)]
pub struct Redis {
    /// For ordinary commands: short response timeout, reconnects by itself.
    pub conn: ConnectionManager,
    prefix: String,
    client: redis::Client,
}

impl Redis {
    /// Connects, failing with advice when the server is unreachable.
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("REDIS_URL={url:?} is not a Redis URL: {e}"))?;
        let cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(2));
        let conn = client
            .get_connection_manager_with_config(cfg)
            .await
            .map_err(|e| anyhow::anyhow!(redis_advice(url, &e.to_string())))?;
        Ok(Self {
            conn,
            prefix: prefix.to_string(),
            client,
        })
    }

    /// A dedicated connection for blocking reads (XREADGROUP BLOCK), whose replies may take as
    /// long as the block time.
    pub async fn blocking_connection(&self) -> redis::RedisResult<ConnectionManager> {
        let cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(30)));
        self.client.get_connection_manager_with_config(cfg).await
    }

    /// `<prefix>:<name>`.
    pub fn key(&self, name: &str) -> String {
        format!("{}:{}", self.prefix, name)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

pub fn redis_advice(url: &str, cause: &str) -> String {
    format!(
        "Redis at {} is not reachable ({cause}).\n  \
         Start it (`redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no`; \
         Docker: `docker compose up -d redis`), or point REDIS_URL at your server, e.g. REDIS_URL=redis://127.0.0.1:6379",
        crate::db::redact(url)
    )
}
