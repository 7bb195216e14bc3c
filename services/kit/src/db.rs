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
        .connect_lazy_with(opts.application_name("yiwang")))
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
