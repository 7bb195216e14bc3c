//! The gateway's read cache of items (`GET /v1/items/{code}`): a shared Redis cache, and in
//! front of it each replica's in-process near cache.
//!
//! Redis entries have a generation counter beside them.
//! Invalidation (on `catalog.item.changed`)
//! bumps the generation and deletes the entry; a reader that missed fills the entry only if
//! the generation is still the one it saw before asking the catalogue, so a slow reader can
//! never put back a version older than the change that invalidated it.

use std::sync::Arc;

use bytes::Bytes;
use yiwang_kit::CancellationToken;
use yiwang_kit::nearcache::NearCache;
use yiwang_kit::outbox::Consumer;
use yiwang_kit::redis::Redis;

pub const TOPIC: &str = "catalog.item.changed";

// An item's entry and its generation share a hash tag: the fill script and the invalidating
// transaction use both, which a Redis Cluster allows only within one slot.
fn value_key(redis: &Redis, code: &str) -> String {
    redis.tagged(&format!("cache:item:{code}"), "value")
}

fn gen_key(redis: &Redis, code: &str) -> String {
    redis.tagged(&format!("cache:item:{code}"), "gen")
}

/// A cache lookup: either the cached body, or the generation to fill with.
pub enum Lookup {
    Hit(Bytes),
    Miss { generation: i64 },
}

pub async fn lookup(redis: &Redis, code: &str) -> redis::RedisResult<Lookup> {
    let mut conn = redis.conn.clone();
    let (value, generation): (Option<Vec<u8>>, Option<i64>) = redis::pipe()
        .get(value_key(redis, code))
        .get(gen_key(redis, code))
        .query_async(&mut conn)
        .await?;
    Ok(match value {
        Some(v) => Lookup::Hit(Bytes::from(v)),
        None => Lookup::Miss {
            generation: generation.unwrap_or(0),
        },
    })
}

/// Stores `body` unless the item changed since `generation` was read.
pub async fn fill(
    redis: &Redis,
    code: &str,
    generation: i64,
    body: &[u8],
    ttl_secs: u64,
) -> redis::RedisResult<()> {
    let script = redis::Script::new(
        "local g = tonumber(redis.call('GET', KEYS[2]) or '0')
         if g == tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) end
         return g",
    );
    let mut conn = redis.conn.clone();
    let _: i64 = script
        .key(value_key(redis, code))
        .key(gen_key(redis, code))
        .arg(generation)
        .arg(body)
        .arg(ttl_secs.max(1))
        .invoke_async(&mut conn)
        .await?;
    Ok(())
}

pub async fn invalidate(redis: &Redis, code: &str) -> redis::RedisResult<()> {
    let mut conn = redis.conn.clone();
    redis::pipe()
        .atomic()
        .incr(gen_key(redis, code), 1)
        .expire(gen_key(redis, code), 7 * 24 * 3600)
        .del(value_key(redis, code))
        .query_async::<()>(&mut conn)
        .await
}

/// Every replica follows item changes and drops its near-cache entry, after dropping the Redis
/// entry (so the near cache cannot be refilled from a Redis entry about to be invalidated).
pub async fn follow_changes(
    redis: Redis,
    near: Arc<NearCache<Bytes>>,
    shutdown: CancellationToken,
) {
    let on_gap = near.clone();
    yiwang_kit::outbox::tail(
        redis.clone(),
        vec![TOPIC.to_string()],
        shutdown,
        |event| {
            let redis = redis.clone();
            let near = near.clone();
            async move {
                let Some(code) = event.payload.get("code").and_then(|c| c.as_str()) else {
                    return;
                };
                if let Err(e) = invalidate(&redis, code).await {
                    tracing::warn!(error = %e, code, "item cache: Redis invalidation failed");
                }
                near.invalidate(code);
            }
        },
        move || on_gap.clear(),
    )
    .await;
}

/// Consumes item changes and invalidates their entries. One consumer group for all gateway
/// replicas: the cache lives in Redis, so one invalidation serves them all.
pub async fn run_invalidator(redis: Redis, shutdown: CancellationToken) {
    let consumer = Consumer {
        redis: redis.clone(),
        group: "gateway-cache".to_string(),
        name: yiwang_kit::outbox::consumer_name("gateway"),
        topics: vec![TOPIC.to_string()],
        from_beginning: false,
    };
    consumer
        .run(shutdown, |event| {
            let redis = redis.clone();
            async move {
                let Some(code) = event.payload.get("code").and_then(|c| c.as_str()) else {
                    return Ok(());
                };
                invalidate(&redis, code).await?;
                metrics::counter!("yiwang_cache_invalidations_total").increment(1);
                Ok(())
            }
        })
        .await;
}
