//! PostgreSQL: per-service databases created on demand, pools, and clear advice when the server
//! cannot be reached.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

use crate::config::with_database;

/// Creates `database` on the server of `server_url` unless it exists. Safe to race.
pub async fn ensure_database(server_url: &str, database: &str) -> anyhow::Result<()> {
    let admin_url = with_database(server_url, "postgres");
    let opts: PgConnectOptions = admin_url.parse()?;
    let mut conn = tokio::time::timeout(Duration::from_secs(5), opts.connect())
        .await
        .map_err(|_| anyhow::anyhow!(postgres_advice(server_url, "the connection timed out")))?
        .map_err(|e| anyhow::anyhow!(postgres_advice(server_url, &e.to_string())))?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(database)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let sql = format!("CREATE DATABASE \"{}\"", database.replace('"', ""));
        if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
        {
            // 42P04 duplicate_database: another process created it meanwhile.
            let dup = e
                .as_database_error()
                .and_then(|d| d.code())
                .is_some_and(|c| c == "42P04" || c == "23505");
            if !dup {
                return Err(e.into());
            }
        }
    }
    Ok(())
}

/// Drops a database (tests clean up after themselves).
pub async fn drop_database(server_url: &str, database: &str) -> anyhow::Result<()> {
    let opts: PgConnectOptions = with_database(server_url, "postgres").parse()?;
    let mut conn = opts.connect().await?;
    let sql = format!(
        "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
        database.replace('"', "")
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await?;
    Ok(())
}

/// A lazily connecting pool: the service can start (and answer health NOT_SERVING) before the
/// database is reachable.
pub fn lazy_pool(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    let opts: PgConnectOptions = url.parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(5))
        .idle_timeout(Duration::from_secs(300))
        // No JIT: it compiles for a statement whose estimate is high (a generic plan over a
        // large table) and spends 50–100 ms where the query itself takes a few; the platform
        // runs short queries, never analytics that would win it back.
        .connect_lazy_with(opts.application_name("yiwang").options([("jit", "off")])))
}

/// What to tell a user whose PostgreSQL is unreachable.
pub fn postgres_advice(server_url: &str, cause: &str) -> String {
    let shown = redact(server_url);
    format!(
        "PostgreSQL at {shown} is not reachable ({cause}).\n  \
         Start it (Debian: `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`; \
         Docker: `docker compose up -d postgres`), or point DATABASE_URL at your server, \
         e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432"
    )
}

/// A URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}@{}", &url[..s + 3], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// A service's migration step: creates its database (`<prefix>_<service>`) if missing and
/// applies its migrations; the pool is handed back for anything the service seeds after them.
pub async fn migrate_service(
    cfg: &crate::Config,
    service: &str,
    migrator: &sqlx::migrate::Migrator,
) -> anyhow::Result<PgPool> {
    ensure_database(
        cfg.service_database_server(service),
        &cfg.database_name(service),
    )
    .await?;
    let pool = lazy_pool(&cfg.service_database_url(service), 2)?;
    migrator.run(&pool).await?;
    Ok(pool)
}

/// Where a service's listings and statistics are read: a streaming replica of its database when
/// `YIWANG_<SERVICE>_READ_DATABASE_URL` names one, the primary otherwise.
///
/// Read-your-writes: after a caller's change commits, [`Reads::wrote`] keeps the primary's WAL
/// position for that caller in Redis for [`WROTE_TTL_SECS`] (so every replica of the service
/// knows it); [`Reads::for_caller`] sends the caller to the replica only once the replica has
/// replayed that far, and to the primary until then. Callers who changed nothing lately read
/// from the replica at once. Without Redis nothing can be promised, so everything reads from the
/// primary.
#[derive(Clone)]
pub struct Reads {
    inner: std::sync::Arc<ReadsInner>,
}

struct ReadsInner {
    service: &'static str,
    primary: PgPool,
    replica: Option<PgPool>,
    redis: std::sync::OnceLock<crate::redis::Redis>,
}

/// How long a caller's last write is remembered: longer than any replication lag worth serving.
pub const WROTE_TTL_SECS: u64 = 60;

/// `16/B374D848` → a comparable number.
fn parse_lsn(text: &str) -> Option<u64> {
    let (hi, lo) = text.trim().split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

impl Reads {
    pub fn new(
        cfg: &crate::Config,
        service: &'static str,
        primary: PgPool,
    ) -> anyhow::Result<Self> {
        let replica = cfg
            .read_database_urls
            .get(service)
            .map(|url| lazy_pool(url, cfg.database_max_connections))
            .transpose()?;
        Ok(Self {
            inner: std::sync::Arc::new(ReadsInner {
                service,
                primary,
                replica,
                redis: std::sync::OnceLock::new(),
            }),
        })
    }

    /// Hands over the Redis connection once the service has one (writes are not tracked, and
    /// reads go to the primary, until then).
    pub fn set_redis(&self, redis: crate::redis::Redis) {
        let _ = self.inner.redis.set(redis);
    }

    pub fn has_replica(&self) -> bool {
        self.inner.replica.is_some()
    }

    fn wrote_key(&self, redis: &crate::redis::Redis, caller: &str) -> String {
        redis.key(&format!("wrote:{}:{caller}", self.inner.service))
    }

    /// Remembers, after `caller`'s change has committed, how far the primary's WAL has come.
    pub async fn wrote(&self, caller: &str) {
        let (Some(_), Some(redis)) = (&self.inner.replica, self.inner.redis.get()) else {
            return;
        };
        let lsn: Result<String, _> = sqlx::query_scalar("SELECT pg_current_wal_lsn()::text")
            .fetch_one(&self.inner.primary)
            .await;
        let Ok(lsn) = lsn else { return };
        let mut conn = redis.conn.clone();
        let _: redis::RedisResult<()> = redis::cmd("SET")
            .arg(self.wrote_key(redis, caller))
            .arg(lsn)
            .arg("EX")
            .arg(WROTE_TTL_SECS)
            .query_async(&mut conn)
            .await;
    }

    /// The pool `caller`'s listing or statistics are read from.
    pub async fn for_caller(&self, caller: &str) -> &PgPool {
        let Some(replica) = &self.inner.replica else {
            return &self.inner.primary;
        };
        // An anonymous caller has no changes of its own to see (none are recorded for it): no
        // Redis round trip on the public hot paths (search, published lists).
        if caller.is_empty() {
            return replica;
        }
        let Some(redis) = self.inner.redis.get() else {
            return &self.inner.primary;
        };
        let mut conn = redis.conn.clone();
        let wrote: Option<String> = match redis::cmd("GET")
            .arg(self.wrote_key(redis, caller))
            .query_async(&mut conn)
            .await
        {
            Ok(v) => v,
            Err(_) => return &self.inner.primary,
        };
        let Some(wrote) = wrote.as_deref().and_then(parse_lsn) else {
            return replica;
        };
        let replayed: Result<Option<String>, _> =
            sqlx::query_scalar("SELECT pg_last_wal_replay_lsn()::text")
                .fetch_one(replica)
                .await;
        match replayed {
            Ok(Some(at)) if parse_lsn(&at).is_some_and(|at| at >= wrote) => replica,
            _ => &self.inner.primary,
        }
    }
}

#[cfg(test)]
mod reads_tests {
    use super::parse_lsn;

    #[test]
    fn wal_positions_compare_by_both_halves() {
        assert_eq!(parse_lsn("0/16B3748"), Some(0x16B3748));
        assert!(parse_lsn("1/0").unwrap() > parse_lsn("0/FFFFFFFF").unwrap());
        assert_eq!(parse_lsn("nonsense"), None);
    }
}
