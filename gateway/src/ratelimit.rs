//! Per-client fixed-window rate limits, shared between gateway replicas through Redis but
//! decided locally, so that no request waits for Redis.
//!
//! Each replica counts its own requests per (client, window) and adds them to the shared Redis
//! counter (`rl:<client>:<window>`) in the background every [`FLUSH_EVERY`]; a request is refused
//! when the shared count last seen plus this replica's unflushed count reaches the limit. With
//! one replica the limit is exact; with several, a client can overshoot by at most what the
//! other replicas accepted within one flush interval. If Redis is unreachable each replica
//! still enforces the limit on its own traffic.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use yiwang_kit::CancellationToken;
use yiwang_kit::redis::Redis;

pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

pub struct Limiter {
    limit: u64,
    window_secs: u64,
    windows: Mutex<HashMap<String, Window>>,
}

struct Window {
    slot: u64,
    /// The shared (all replicas) count as of the last flush, ours included.
    shared: u64,
    /// Accepted here since the last flush.
    unflushed: u64,
}

pub enum Decision {
    Allow { remaining: u64 },
    Deny { retry_after_secs: u64 },
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

impl Limiter {
    pub fn new(limit: u32, window_secs: u32) -> Self {
        Self {
            limit: limit as u64,
            window_secs: window_secs.max(1) as u64,
            windows: Mutex::new(HashMap::new()),
        }
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    pub fn window_secs(&self) -> u64 {
        self.window_secs
    }

    pub fn check(&self, client: &str) -> Decision {
        let now = now_secs();
        let slot = now / self.window_secs;
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let w = match windows.get_mut(client) {
            Some(w) => w,
            None => windows.entry(client.to_string()).or_insert(Window {
                slot,
                shared: 0,
                unflushed: 0,
            }),
        };
        if w.slot != slot {
            *w = Window {
                slot,
                shared: 0,
                unflushed: 0,
            };
        }
        let used = w.shared + w.unflushed;
        if used >= self.limit {
            return Decision::Deny {
                retry_after_secs: ((slot + 1) * self.window_secs - now).max(1),
            };
        }
        w.unflushed += 1;
        Decision::Allow {
            remaining: self.limit - used - 1,
        }
    }

    /// Adds this replica's counts to Redis and learns the shared totals.
    pub async fn flush(&self, redis: &Redis) {
        let current = now_secs() / self.window_secs;
        let batch: Vec<(String, u64, u64)> = {
            let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
            windows.retain(|_, w| w.slot >= current || w.unflushed > 0);
            windows
                .iter_mut()
                .filter(|(_, w)| w.unflushed > 0)
                .map(|(client, w)| {
                    let n = std::mem::take(&mut w.unflushed);
                    w.shared += n;
                    (client.clone(), w.slot, n)
                })
                .collect()
        };
        if batch.is_empty() {
            return;
        }
        let mut pipe = redis::pipe();
        for (client, slot, n) in &batch {
            // One window's counters share a hash tag so that one pipeline flushes them in a
            // Redis Cluster too; the next window lands on another slot.
            let key = redis.tagged(&format!("rl:{slot}"), client);
            pipe.incr(&key, *n)
                .expire(&key, (self.window_secs + 1) as i64)
                .ignore();
        }
        let mut conn = redis.conn.clone();
        let totals: Vec<u64> = match pipe.query_async(&mut conn).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "rate limiter: Redis unavailable; limiting per replica");
                return;
            }
        };
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        windows.retain(|_, w| w.slot >= current);
        for ((client, slot, _), total) in batch.iter().zip(totals) {
            if let Some(w) = windows.get_mut(client)
                && w.slot == *slot
            {
                w.shared = w.shared.max(total);
            }
        }
    }

    pub async fn run_flusher(
        self: std::sync::Arc<Self>,
        redis: Redis,
        shutdown: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => self.flush(&redis).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_exact_on_one_replica() {
        let l = Limiter::new(3, 60);
        for left in [2, 1, 0] {
            assert!(matches!(l.check("ip:1"), Decision::Allow { remaining } if remaining == left));
        }
        assert!(
            matches!(l.check("ip:1"), Decision::Deny { retry_after_secs } if (1..=60).contains(&retry_after_secs))
        );
        // Another client has its own budget.
        assert!(matches!(l.check("ip:2"), Decision::Allow { .. }));
    }
}
