//! The transactional outbox (DESIGN.md §3). A service writes its domain events into its own
//! `outbox` table in the transaction that makes the change; the [`relay`] publishes them to Redis
//! Streams (`{<prefix>:events}:<topic>`) and marks them published. Publication is at-least-once;
//! consumers make the *effect* exactly-once by recording the event id in their own database in
//! the transaction of the effect ([`begin_once`]).
//!
//! Each service's first migration creates the two tables with [`MIGRATION_SQL`]'s shape.

use std::time::Duration;
use tracing::Instrument;

use chrono::{DateTime, Utc};
use redis::AsyncCommands;
use redis::streams::{
    StreamAutoClaimOptions, StreamId, StreamMaxlen, StreamReadOptions, StreamReadReply,
};
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::redis::Redis;

/// The tables every event-producing or -consuming service has (copy into its migrations).
pub const MIGRATION_SQL: &str = r#"
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    topic        text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
CREATE TABLE processed_events (
    consumer     text NOT NULL,
    event_id     uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
"#;

/// Streams keep about this many entries; consumers are expected to keep up.
const STREAM_MAXLEN: usize = 100_000;

/// An event as a consumer receives it.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: Uuid,
    pub topic: String,
    pub payload: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
    /// The Redis stream entry id (for acknowledgement).
    pub stream_id: String,
}

/// Writes an event in the caller's transaction; it is published only if that commits.
pub async fn enqueue<P: Serialize>(
    tx: &mut Transaction<'_, Postgres>,
    topic: &str,
    payload: &P,
) -> Result<Uuid> {
    let id = Uuid::now_v7();
    let payload = serde_json::to_value(payload).map_err(Error::internal)?;
    sqlx::query("INSERT INTO outbox (event_id, topic, payload) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(topic)
        .bind(payload)
        .execute(&mut **tx)
        .await?;
    Ok(id)
}

/// The stream of a topic. Every stream shares one hash tag: a consumer reads several topics in
/// one XREADGROUP and the relay publishes to several in one pipeline, which a Redis Cluster
/// allows only within one slot.
pub fn stream_key(redis: &Redis, topic: &str) -> String {
    redis.tagged("events", topic)
}

/// How far back the relay publishes again when Redis has lost its data: events published in
/// this window may have been in a stream, not yet consumed, when it vanished. Consumers record
/// what they processed ([`begin_once`]), so the ones they had seen change nothing.
const REPUBLISH_WINDOW: &str = "24 hours";

/// Publishes committed outbox rows to Redis Streams until `shutdown`. Several replicas may run:
/// `FOR UPDATE SKIP LOCKED` gives each row to one of them. If Redis is down the rows wait. If
/// Redis comes back *empty* (restarted without persistence, failed over to a blank replica),
/// the streams and whatever they held are gone: the relay notices (its marker key is missing)
/// and publishes the last [`REPUBLISH_WINDOW`] again.
pub async fn relay(pool: PgPool, redis: Redis, shutdown: CancellationToken) {
    let mut conn = redis.conn.clone();
    let mut idle = Duration::from_millis(50);
    let mut marker: Option<String> = None;
    let mut last_check = tokio::time::Instant::now() - Duration::from_secs(60);
    let mut last_gauges = last_check;
    let mut service: Option<String> = None;
    loop {
        if last_check.elapsed() >= Duration::from_secs(1) {
            last_check = tokio::time::Instant::now();
            if let Err(e) = republish_if_redis_lost(&pool, &redis, &mut conn, &mut marker).await {
                tracing::warn!(error = %e, "outbox relay: cannot check Redis for lost streams; will retry");
            }
        }
        if last_gauges.elapsed() >= GAUGE_EVERY {
            last_gauges = tokio::time::Instant::now();
            if let Err(e) = export_gauges(&pool, &mut service).await {
                tracing::debug!(error = %e, "outbox relay: gauges not updated");
            }
        }
        let published = match relay_batch(&pool, &redis, &mut conn, service.as_deref()).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "outbox relay: batch failed; will retry");
                0
            }
        };
        if published > 0 {
            idle = Duration::from_millis(50);
            continue;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(idle) => {}
        }
        // Back off gently while nothing happens: 50 ms .. 200 ms keeps events well under a second.
        idle = (idle * 2).min(Duration::from_millis(200));
    }
}

/// Sets this outbox's marker in Redis if it is missing; a missing marker means Redis lost its
/// data since the relay last looked (or this database never published to it): every row of
/// the window is published again.
async fn republish_if_redis_lost(
    pool: &PgPool,
    redis: &Redis,
    conn: &mut crate::redis::Conn,
    marker: &mut Option<String>,
) -> anyhow::Result<()> {
    if marker.is_none() {
        let db: String = sqlx::query_scalar("SELECT current_database()::text")
            .fetch_one(pool)
            .await?;
        // Named with the streams' layout: a relay finding no marker of this layout publishes its
        // window again into the streams it now writes.
        *marker = Some(redis.key(&format!("outbox:live:v2:{db}")));
    }
    let key = marker.as_deref().unwrap_or_default();
    let fresh: Option<String> = redis::cmd("SET")
        .arg(key)
        .arg(chrono::Utc::now().to_rfc3339())
        .arg("NX")
        .query_async(conn)
        .await?;
    if fresh.is_some() {
        let again = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE outbox SET published_at = NULL
              WHERE published_at > now() - interval '{REPUBLISH_WINDOW}'"
        )))
        .execute(pool)
        .await?
        .rows_affected();
        if again > 0 {
            tracing::warn!(
                events = again,
                "outbox relay: Redis lost its streams; publishing the last {REPUBLISH_WINDOW} again"
            );
            metrics::counter!("yiwang_outbox_republished_total").increment(again);
        }
    }
    Ok(())
}

/// How often the relay exports the outbox and pool gauges.
const GAUGE_EVERY: Duration = Duration::from_secs(5);

/// The outbox's backlog (`yiwang_outbox_pending`, `yiwang_outbox_lag_seconds`: the age of the
/// oldest unpublished row) and the database pool's use (`yiwang_db_pool_connections{state}`,
/// `yiwang_db_pool_max_connections`), labelled with the service whose database this is (the
/// database is `<prefix>_<service>`).
async fn export_gauges(pool: &PgPool, service: &mut Option<String>) -> anyhow::Result<()> {
    if service.is_none() {
        let db: String = sqlx::query_scalar("SELECT current_database()::text")
            .fetch_one(pool)
            .await?;
        *service = Some(db.rsplit('_').next().unwrap_or(&db).to_string());
    }
    let service = service.clone().unwrap_or_default();
    let (pending, lag): (i64, f64) = sqlx::query_as(
        "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
           FROM outbox WHERE published_at IS NULL",
    )
    .fetch_one(pool)
    .await?;
    metrics::gauge!("yiwang_outbox_pending", "service" => service.clone()).set(pending as f64);
    metrics::gauge!("yiwang_outbox_lag_seconds", "service" => service.clone()).set(lag.max(0.0));
    let (size, idle) = (pool.size() as f64, pool.num_idle() as f64);
    metrics::gauge!("yiwang_db_pool_connections", "service" => service.clone(), "state" => "in_use")
        .set((size - idle).max(0.0));
    metrics::gauge!("yiwang_db_pool_connections", "service" => service.clone(), "state" => "idle")
        .set(idle);
    metrics::gauge!("yiwang_db_pool_max_connections", "service" => service)
        .set(pool.options().get_max_connections() as f64);
    Ok(())
}

async fn relay_batch(
    pool: &PgPool,
    redis: &Redis,
    conn: &mut crate::redis::Conn,
    service: Option<&str>,
) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let rows: Vec<OutboxRow> = sqlx::query_as(
        "SELECT id, event_id, topic, payload, created_at FROM outbox
         WHERE published_at IS NULL ORDER BY id LIMIT 200 FOR UPDATE SKIP LOCKED",
    )
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    // A pass that publishes is a trace of its own under the role (an empty poll is not).
    let role = crate::config::ROLES
        .iter()
        .find(|r| Some(**r) == service)
        .copied()
        .unwrap_or("outbox");
    let span = crate::telemetry::background_span(role, "outbox relay");
    span.record("events", rows.len());
    publish_rows(redis, conn, tx, rows).instrument(span).await
}

type OutboxRow = (i64, Uuid, String, serde_json::Value, DateTime<Utc>);

async fn publish_rows(
    redis: &Redis,
    conn: &mut crate::redis::Conn,
    mut tx: Transaction<'static, Postgres>,
    rows: Vec<OutboxRow>,
) -> anyhow::Result<usize> {
    let mut pipe = redis::pipe();
    for (_, event_id, topic, payload, created_at) in &rows {
        let fields = [
            ("id", event_id.to_string()),
            ("topic", topic.clone()),
            ("payload", payload.to_string()),
            ("at", created_at.to_rfc3339()),
        ];
        pipe.xadd_maxlen(
            stream_key(redis, topic),
            StreamMaxlen::Approx(STREAM_MAXLEN),
            "*",
            &fields,
        )
        .ignore();
    }
    pipe.query_async::<()>(conn).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    sqlx::query("UPDATE outbox SET published_at = now() WHERE id = ANY($1)")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    metrics::counter!("yiwang_outbox_published_total").increment(rows.len() as u64);
    Ok(rows.len())
}

/// Starts the effect of `event` for `consumer` exactly once: returns a transaction in which the
/// event is already recorded as processed, or `None` when it was processed before. Apply the
/// effect in the transaction and commit; a crash before the commit leaves the event unprocessed.
pub async fn begin_once(
    pool: &PgPool,
    consumer: &str,
    event_id: Uuid,
) -> Result<Option<Transaction<'static, Postgres>>> {
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(consumer)
    .bind(event_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok((inserted == 1).then_some(tx))
}

/// The name a consumer of `role` goes by in its groups: `YIWANG_INSTANCE` (e.g. a pod or
/// compose service name) or the host's name, the same across restarts of the process, so the
/// entries it read but never acknowledged before a crash are read again first thing after it.
/// (Two processes sharing a name read each other's pending entries too, which is harmless:
/// effects are recorded once, see [`begin_once`].)
pub fn consumer_name(role: &str) -> String {
    let instance = std::env::var("YIWANG_INSTANCE")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "local".to_string());
    format!("{instance}-{role}")
}

/// A consumer-group reader of one or more topics.
pub struct Consumer {
    pub redis: Redis,
    pub group: String,
    /// Per replica and stable across its restarts: [`consumer_name`].
    pub name: String,
    pub topics: Vec<String>,
    /// Start a new group at the beginning of the stream (`0`) rather than at new entries (`$`).
    pub from_beginning: bool,
}

impl Consumer {
    /// Delivers events to `handle` until `shutdown`. An event is acknowledged only when `handle`
    /// returns `Ok`; otherwise it stays pending and is retried (also by another replica) after
    /// 15 s. `handle` must be idempotent, e.g. with [`begin_once`].
    pub async fn run<F, Fut>(self, shutdown: CancellationToken, handle: F)
    where
        F: Fn(Event) -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        let keys: Vec<String> = self
            .topics
            .iter()
            .map(|t| stream_key(&self.redis, t))
            .collect();
        let mut conn = loop {
            match self.redis.blocking_connection().await {
                Ok(c) => break c,
                Err(e) => {
                    tracing::warn!(error = %e, group = %self.group, "event consumer: cannot connect to Redis; retrying");
                    tokio::select! { _ = shutdown.cancelled() => return, _ = tokio::time::sleep(Duration::from_secs(2)) => {} }
                }
            }
        };
        self.create_groups(
            &mut conn,
            &keys,
            if self.from_beginning { "0" } else { "$" },
        )
        .await;
        // First our own pending entries (read before a crash, never acknowledged), then new ones.
        let mut pending_first = true;
        let mut last_claim = tokio::time::Instant::now();
        while !shutdown.is_cancelled() {
            let ids: Vec<&str> = keys
                .iter()
                .map(|_| if pending_first { "0" } else { ">" })
                .collect();
            let mut opts = StreamReadOptions::default()
                .group(&self.group, &self.name)
                .count(100);
            if !pending_first {
                // History reads (id 0) answer at once; only new-entry reads block.
                opts = opts.block(1000);
            }
            let read = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = conn.xread_options::<_, _, Option<StreamReadReply>>(&keys, &ids, &opts) => r,
            };
            let reply = match read {
                Ok(r) => r.unwrap_or_default(),
                Err(e) if e.code() == Some("NOGROUP") => {
                    // Redis lost the stream and its group (restarted empty): make the group
                    // again from the start of the new stream, where the relay publishes what
                    // was lost; what was processed before is skipped by the effect's record.
                    tracing::warn!(group = %self.group, "event consumer: group gone (Redis lost its data); re-creating it");
                    self.create_groups(&mut conn, &keys, "0").await;
                    pending_first = false;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, group = %self.group, "event consumer: read failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let mut got = 0;
            for stream in reply.keys {
                for entry in stream.ids {
                    got += 1;
                    self.deliver(&mut conn, &stream.key, entry, &handle).await;
                }
            }
            if pending_first && got == 0 {
                pending_first = false;
            }
            if last_claim.elapsed() > Duration::from_secs(5) {
                last_claim = tokio::time::Instant::now();
                self.export_lag(&mut conn, &keys).await;
                for key in &keys {
                    let claimed: redis::RedisResult<redis::streams::StreamAutoClaimReply> = conn
                        .xautoclaim_options(
                            key,
                            &self.group,
                            &self.name,
                            15_000,
                            "0",
                            StreamAutoClaimOptions::default().count(100),
                        )
                        .await;
                    if let Ok(claimed) = claimed {
                        for entry in claimed.claimed {
                            self.deliver(&mut conn, key, entry, &handle).await;
                        }
                    }
                }
            }
        }
    }

    /// The group's lag on each stream (`yiwang_consumer_lag{service, stream, group}`): entries
    /// not yet delivered to the group plus those delivered and not acknowledged.
    async fn export_lag(&self, conn: &mut crate::redis::Conn, keys: &[String]) {
        // The role: the consumer's name ends in it ([`consumer_name`]).
        let service = self
            .name
            .rsplit('-')
            .next()
            .unwrap_or(&self.name)
            .to_string();
        for (key, topic) in keys.iter().zip(&self.topics) {
            let groups: redis::RedisResult<redis::streams::StreamInfoGroupsReply> =
                conn.xinfo_groups(key).await;
            let Ok(groups) = groups else { continue };
            let Some(g) = groups.groups.iter().find(|g| g.name == self.group) else {
                continue;
            };
            let lag = g.lag.unwrap_or(0) as f64 + g.pending as f64;
            metrics::gauge!("yiwang_consumer_lag", "service" => service.clone(), "stream" => topic.clone(), "group" => self.group.clone())
                .set(lag);
        }
    }

    /// Creates the group on each stream (and the stream), starting at `start`; an existing
    /// group is kept as it is.
    async fn create_groups(&self, conn: &mut crate::redis::Conn, keys: &[String], start: &str) {
        for key in keys {
            let res: redis::RedisResult<()> =
                conn.xgroup_create_mkstream(key, &self.group, start).await;
            if let Err(e) = res
                && e.code() != Some("BUSYGROUP")
            {
                tracing::warn!(error = %e, group = %self.group, "event consumer: cannot create group");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    async fn deliver<F, Fut>(
        &self,
        conn: &mut crate::redis::Conn,
        key: &str,
        entry: StreamId,
        handle: &F,
    ) where
        F: Fn(Event) -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        let parsed = parse_entry(&entry);
        let ack = match parsed {
            None => {
                tracing::error!(stream = key, entry = %entry.id, "event consumer: malformed entry skipped");
                true
            }
            Some(event) => match handle(event).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(error = %e, stream = key, entry = %entry.id, group = %self.group, "event handler failed; will retry");
                    false
                }
            },
        };
        if ack {
            let _: redis::RedisResult<()> = conn.xack(key, &self.group, &[&entry.id]).await;
        }
    }
}

/// Follows topics as a broadcast: every caller sees every new event (no consumer group, nothing
/// acknowledged). For per-replica effects such as dropping near-cache entries, where each
/// replica must hear each change. `on_gap` runs at the start and whenever the tail may have
/// missed events (Redis unreachable, read failed): the caller drops what it cannot verify.
pub async fn tail<F, Fut, G>(
    redis: Redis,
    topics: Vec<String>,
    shutdown: CancellationToken,
    on_event: F,
    on_gap: G,
) where
    F: Fn(Event) -> Fut,
    Fut: std::future::Future<Output = ()>,
    G: Fn(),
{
    let keys: Vec<String> = topics.iter().map(|t| stream_key(&redis, t)).collect();
    'connect: while !shutdown.is_cancelled() {
        on_gap();
        let mut conn = match redis.blocking_connection().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "event tail: cannot connect to Redis; retrying");
                tokio::select! { _ = shutdown.cancelled() => return, _ = tokio::time::sleep(Duration::from_secs(2)) => {} }
                continue;
            }
        };
        // Start after the newest entry of each stream ("0" for one that does not exist yet), so
        // that nothing added between two reads is skipped, as re-reading from "$" would.
        let mut last = Vec::new();
        for key in &keys {
            let newest: redis::RedisResult<redis::streams::StreamRangeReply> =
                conn.xrevrange_count(key, "+", "-", 1).await;
            match newest {
                Ok(r) => last.push(r.ids.first().map(|e| e.id.clone()).unwrap_or("0".into())),
                Err(e) => {
                    tracing::warn!(error = %e, "event tail: cannot read stream heads; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue 'connect;
                }
            }
        }
        loop {
            let opts = StreamReadOptions::default().count(500).block(1000);
            let read = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = conn.xread_options::<_, _, Option<StreamReadReply>>(&keys, &last, &opts) => r,
            };
            let reply = match read {
                Ok(r) => r.unwrap_or_default(),
                Err(e) => {
                    tracing::warn!(error = %e, "event tail: read failed; resynchronising");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue 'connect;
                }
            };
            for stream in reply.keys {
                let Some(i) = keys.iter().position(|k| *k == stream.key) else {
                    continue;
                };
                for entry in stream.ids {
                    last[i] = entry.id.clone();
                    if let Some(event) = parse_entry(&entry) {
                        on_event(event).await;
                    }
                }
            }
        }
    }
}

fn parse_entry(entry: &StreamId) -> Option<Event> {
    let id: String = entry.get("id")?;
    let payload: String = entry.get("payload")?;
    let at: String = entry.get("at")?;
    Some(Event {
        id: id.parse().ok()?,
        topic: entry.get("topic")?,
        payload: serde_json::from_str(&payload).ok()?,
        occurred_at: DateTime::parse_from_rfc3339(&at).ok()?.with_timezone(&Utc),
        stream_id: entry.id.clone(),
    })
}
