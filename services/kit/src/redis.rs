//! Redis connections. Every key and stream name goes through [`Redis::key`] so deployments (and
//! parallel test runs) sharing one server never see each other's data.
//!
//! Services hold a [`Conn`], not a bare connection: it is where every command becomes a client
//! span (named by the command, never carrying keys' values or arguments) when traces are exported.
//!
//! `REDIS_URL` names one server, or the nodes of a Redis Cluster separated by commas
//! (`redis://10.0.0.1:6379,redis://10.0.0.2:6379,redis://10.0.0.3:6379`; any reachable node is
//! enough to find the rest). In a cluster a command goes to the node owning its key's slot and a
//! pipeline or script to the node of its first key, so keys used together share a hash tag:
//! [`Redis::tagged`] names them (`{<prefix>:<group>}:<name>`).

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use tracing::Instrument;

#[derive(Clone)]
pub struct Redis {
    /// For ordinary commands: short response timeout, reconnects by itself.
    pub conn: Conn,
    prefix: String,
    client: Client,
}

#[derive(Clone)]
enum Client {
    Single(redis::Client),
    Cluster(Vec<String>),
}

/// A Redis connection that reconnects by itself and traces its commands. Use it as any
/// `redis::aio::ConnectionLike` (`redis::cmd(..).query_async(&mut conn)`, `AsyncCommands`).
#[derive(Clone)]
pub struct Conn {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Inner {
    fn command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Inner::Single(c) => c.req_packed_command(cmd),
            Inner::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Inner::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Inner::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }
}

/// The span of one command or pipeline: `XADD`, `EVALSHA`, `pipeline GET GET`.
fn command_span(name: &str) -> tracing::Span {
    tracing::info_span!(
        "redis",
        otel.name = name,
        otel.kind = "client",
        db.system.name = "redis",
        db.operation.name = name,
    )
}

fn command_name(cmd: &Cmd) -> String {
    cmd.args_iter()
        .next()
        .and_then(|a| match a {
            redis::Arg::Simple(bytes) => std::str::from_utf8(bytes).ok(),
            _ => None,
        })
        .unwrap_or("command")
        .to_ascii_uppercase()
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        // Only a traced request pays for the span (and only when traces are exported).
        if !crate::telemetry::tracing_on() || tracing::Span::current().is_none() {
            return self.inner.command(cmd);
        }
        let span = command_span(&command_name(cmd));
        Box::pin(self.inner.command(cmd).instrument(span))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        if !crate::telemetry::tracing_on() || tracing::Span::current().is_none() {
            return self.inner.commands(pipeline, offset, count);
        }
        let names: Vec<String> = pipeline.cmd_iter().map(command_name).collect();
        let span = command_span(&format!("pipeline {}", names.join(" ")));
        Box::pin(
            self.inner
                .commands(pipeline, offset, count)
                .instrument(span),
        )
    }

    fn get_db(&self) -> i64 {
        match &self.inner {
            Inner::Single(c) => c.get_db(),
            Inner::Cluster(_) => 0,
        }
    }
}

/// The nodes a `REDIS_URL` lists: one server, or two or more nodes of a cluster.
fn nodes(url: &str) -> Vec<String> {
    url.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(String::from)
        .collect()
}

fn cluster_client(nodes: &[String], response: Duration) -> redis::RedisResult<ClusterClient> {
    ClusterClientBuilder::new(nodes.to_vec())
        .connection_timeout(Duration::from_secs(2))
        .response_timeout(response)
        .retries(2)
        .build()
}

impl Redis {
    /// Connects, failing with advice when the server (or no node of the cluster) is reachable.
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let nodes = nodes(url);
        if nodes.len() > 1 {
            let conn = cluster_client(&nodes, Duration::from_secs(2))
                .map_err(|e| {
                    anyhow::anyhow!("REDIS_URL lists a node that is not a Redis URL: {e}")
                })?
                .get_async_connection()
                .await
                .map_err(|e| anyhow::anyhow!(redis_advice(url, &e.to_string())))?;
            return Ok(Self {
                conn: Conn {
                    inner: Inner::Cluster(conn),
                },
                prefix: prefix.to_string(),
                client: Client::Cluster(nodes),
            });
        }
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
            conn: Conn {
                inner: Inner::Single(conn),
            },
            prefix: prefix.to_string(),
            client: Client::Single(client),
        })
    }

    /// Whether this is a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.client, Client::Cluster(_))
    }

    /// A dedicated connection for blocking reads (XREADGROUP BLOCK), whose replies may take as
    /// long as the block time.
    pub async fn blocking_connection(&self) -> redis::RedisResult<Conn> {
        let inner = match &self.client {
            Client::Single(client) => {
                let cfg = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(2)))
                    .set_response_timeout(Some(Duration::from_secs(30)));
                Inner::Single(client.get_connection_manager_with_config(cfg).await?)
            }
            Client::Cluster(nodes) => Inner::Cluster(
                cluster_client(nodes, Duration::from_secs(30))?
                    .get_async_connection()
                    .await?,
            ),
        };
        Ok(Conn { inner })
    }

    /// `<prefix>:<name>`: a key used on its own.
    pub fn key(&self, name: &str) -> String {
        format!("{}:{}", self.prefix, name)
    }

    /// `{<prefix>:<group>}:<name>`: keys of one group share a hash tag, hence a cluster slot, so
    /// one pipeline, script or multi-key command may use them together.
    pub fn tagged(&self, group: &str, name: &str) -> String {
        format!("{{{}:{}}}:{}", self.prefix, group, name)
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
        // Each node of a cluster's list without its password.
        nodes(url)
            .iter()
            .map(|n| crate::db::redact(n))
            .collect::<Vec<_>>()
            .join(",")
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn advice_names_every_node_and_no_password() {
        let advice =
            super::redis_advice("redis://:s3cret@a:6379,redis://u:hunter2@b:6379", "refused");
        assert!(
            advice.contains("redis://@a:6379,redis://u@b:6379"),
            "{advice}"
        );
        assert!(
            !advice.contains("s3cret") && !advice.contains("hunter2"),
            "{advice}"
        );
    }
}
