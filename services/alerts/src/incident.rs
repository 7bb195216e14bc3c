//! Incidents (aggregated events) and the asset register that attributes them.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use uuid::Uuid;
use yiwang_kit::error::{Error, Result};
use yiwang_kit::page;

#[derive(Debug, Clone)]
pub struct IncidentRow {
    pub id: Uuid,
    pub fingerprint: String,
    pub category: String,
    pub rule: String,
    pub asset_ip: String,
    pub peer_ip: String,
    pub severity: String,
    pub event_count: i64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub state: String,
    pub unit_code: Option<String>,
    pub system_name: Option<String>,
    pub asset_cidr: Option<String>,
    pub false_positive_reason: String,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, fingerprint, category, rule, host(asset_ip) AS asset_ip, host(peer_ip) AS peer_ip, \
    severity, event_count, first_seen, last_seen, state, unit_code, system_name, asset_cidr::text AS asset_cidr, \
    false_positive_reason, created_at";

fn incident(r: &PgRow) -> Result<IncidentRow, sqlx::Error> {
    Ok(IncidentRow {
        id: r.try_get("id")?,
        fingerprint: r.try_get("fingerprint")?,
        category: r.try_get("category")?,
        rule: r.try_get("rule")?,
        asset_ip: r.try_get("asset_ip")?,
        peer_ip: r.try_get("peer_ip")?,
        severity: r.try_get("severity")?,
        event_count: r.try_get("event_count")?,
        first_seen: r.try_get("first_seen")?,
        last_seen: r.try_get("last_seen")?,
        state: r.try_get("state")?,
        unit_code: r.try_get("unit_code")?,
        system_name: r.try_get("system_name")?,
        asset_cidr: r.try_get("asset_cidr")?,
        false_positive_reason: r.try_get("false_positive_reason")?,
        created_at: r.try_get("created_at")?,
    })
}

pub fn not_found(id: impl std::fmt::Display) -> Error {
    Error::not_found("INCIDENT_NOT_FOUND", format!("incident {id} not found"))
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<IncidentRow> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM incidents WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(incident(&row.ok_or_else(|| not_found(id))?)?)
}

/// Filters of a listing. `unit` limits it to one unit (a unit's own staff always have it set).
#[derive(Debug, Default)]
pub struct Filter<'a> {
    pub unit: Option<&'a str>,
    pub state: &'a str,
    pub severity: &'a str,
    pub category: &'a str,
    pub unattributed: bool,
}

/// Newest first, by keyset.
pub async fn list(
    pool: &PgPool,
    f: &Filter<'_>,
    page_size: i32,
    page_token: &str,
) -> Result<(Vec<IncidentRow>, String)> {
    let limit = page::page_size(page_size)?;
    let unattributed = if f.unattributed { "1" } else { "" };
    let fp = page::fingerprint(&[
        "incidents",
        f.unit.unwrap_or(""),
        f.state,
        f.severity,
        f.category,
        unattributed,
    ]);
    let (after_at, after_id) = page::decode_newest_first(page_token, fp)?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM incidents
          WHERE ($1::text IS NULL OR unit_code = $1) AND ($2 = '' OR state = $2)
            AND ($3 = '' OR severity = $3) AND ($4 = '' OR category = $4)
            AND (NOT $5 OR unit_code IS NULL)
            AND ($6::timestamptz IS NULL OR (created_at, id) < ($6, $7))
          ORDER BY created_at DESC, id DESC LIMIT $8"
    )))
    .bind(f.unit)
    .bind(f.state)
    .bind(f.severity)
    .bind(f.category)
    .bind(f.unattributed)
    .bind(after_at)
    .bind(after_id)
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    let mut list = rows.iter().map(incident).collect::<Result<Vec<_>, _>>()?;
    let next = page::next_token(&mut list, limit, fp, |i| {
        page::newest_first_key(i.created_at, i.id)
    });
    Ok((list, next))
}

/// open → false_positive. `may` decides on the locked row whether the caller may.
pub async fn mark_false_positive(
    pool: &PgPool,
    id: Uuid,
    reason: &str,
    actor: &str,
    may: impl FnOnce(&IncidentRow) -> Result<()>,
) -> Result<IncidentRow> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM incidents WHERE id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| not_found(id))?;
    let current = incident(&row)?;
    may(&current)?;
    if current.state != "open" {
        return Err(Error::failed_precondition(
            "INCIDENT_NOT_OPEN",
            format!(
                "incident {id} is {}; only an open incident can be closed as a false positive",
                current.state
            ),
        ));
    }
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE incidents SET state = 'false_positive', false_positive_reason = $2, updated_at = now()
          WHERE id = $1 RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(reason)
    .fetch_one(&mut *tx)
    .await?;
    audit(
        &mut tx,
        "incident",
        &id.to_string(),
        "false_positive",
        actor,
        json!({"from": "open", "to": "false_positive", "reason": reason}),
    )
    .await?;
    tx.commit().await?;
    Ok(incident(&row)?)
}

pub async fn audit(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    entity: &str,
    key: &str,
    action: &str,
    actor: &str,
    detail: serde_json::Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (entity, entity_key, action, actor, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(entity)
    .bind(key)
    .bind(action)
    .bind(actor)
    .bind(detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct AssetRow {
    pub id: Uuid,
    pub cidr: String,
    pub unit_code: String,
    pub system_name: String,
    pub note: String,
    pub created_at: DateTime<Utc>,
}

const ASSET_COLUMNS: &str = "id, cidr::text AS cidr, unit_code, system_name, note, created_at";

fn asset(r: &PgRow) -> Result<AssetRow, sqlx::Error> {
    Ok(AssetRow {
        id: r.try_get("id")?,
        cidr: r.try_get("cidr")?,
        unit_code: r.try_get("unit_code")?,
        system_name: r.try_get("system_name")?,
        note: r.try_get("note")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Registers a range and hands it the waiting (unattributed) incidents it covers: no range
/// covered those before, so this one is the most specific that does. Registrations queue on one
/// lock so two overlapping ranges registered at once cannot both claim an incident.
pub async fn create_asset(
    pool: &PgPool,
    cidr: &str,
    unit_code: &str,
    system_name: &str,
    note: &str,
    actor: &str,
) -> Result<(AssetRow, u64)> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('alerts.assets', 0))")
        .execute(&mut *tx)
        .await?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO assets (id, cidr, unit_code, system_name, note, created_by)
         VALUES ($1, $2::cidr, $3, $4, $5, $6)
         ON CONFLICT (cidr) DO NOTHING RETURNING {ASSET_COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(cidr)
    .bind(unit_code)
    .bind(system_name)
    .bind(note)
    .bind(actor)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| {
        Error::already_exists(
            "ASSET_EXISTS",
            format!("the range {cidr} is registered already"),
        )
    })?;
    let a = asset(&row)?;
    let attributed = sqlx::query(
        "UPDATE incidents SET unit_code = $2, system_name = $3, asset_cidr = $1::cidr, updated_at = now()
          WHERE unit_code IS NULL AND asset_ip <<= $1::cidr",
    )
    .bind(cidr)
    .bind(unit_code)
    .bind(system_name)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    audit(
        &mut tx,
        "asset",
        &a.id.to_string(),
        "create",
        actor,
        json!({"cidr": a.cidr, "unit_code": unit_code, "system_name": system_name,
               "incidents_attributed": attributed}),
    )
    .await?;
    tx.commit().await?;
    Ok((a, attributed))
}

/// Removes a range from the register. Incidents it attributed keep that attribution (it was
/// right when they were recorded); new incidents no longer match it.
pub async fn delete_asset(pool: &PgPool, id: Uuid, actor: &str) -> Result<AssetRow> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM assets WHERE id = $1 RETURNING {ASSET_COLUMNS}"
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| Error::not_found("ASSET_NOT_FOUND", format!("asset {id} not found")))?;
    let a = asset(&row)?;
    audit(
        &mut tx,
        "asset",
        &id.to_string(),
        "delete",
        actor,
        json!({"cidr": a.cidr, "unit_code": a.unit_code}),
    )
    .await?;
    tx.commit().await?;
    Ok(a)
}

/// The register, by unit, or the ranges covering one address (most specific first).
pub async fn list_assets(
    pool: &PgPool,
    unit: &str,
    covering: Option<&str>,
    page_size: i32,
    page_token: &str,
) -> Result<(Vec<AssetRow>, String)> {
    let limit = page::page_size(page_size)?;
    if let Some(address) = covering {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ASSET_COLUMNS} FROM assets WHERE cidr >>= $1::inet AND ($2 = '' OR unit_code = $2)
              ORDER BY masklen(cidr) DESC LIMIT $3"
        )))
        .bind(address)
        .bind(unit)
        .bind(limit)
        .fetch_all(pool)
        .await?;
        return Ok((
            rows.iter().map(asset).collect::<Result<_, _>>()?,
            String::new(),
        ));
    }
    let fp = page::fingerprint(&["assets", unit]);
    let (after_at, after_id) = page::decode_newest_first(page_token, fp)?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ASSET_COLUMNS} FROM assets WHERE ($1 = '' OR unit_code = $1)
            AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
          ORDER BY created_at DESC, id DESC LIMIT $4"
    )))
    .bind(unit)
    .bind(after_at)
    .bind(after_id)
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    let mut list = rows.iter().map(asset).collect::<Result<Vec<_>, _>>()?;
    let next = page::next_token(&mut list, limit, fp, |a| {
        page::newest_first_key(a.created_at, a.id)
    });
    Ok((list, next))
}
