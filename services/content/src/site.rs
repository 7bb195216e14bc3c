//! Sites (the county portal, the government-information-disclosure site) and their columns and
//! special-topic columns.

use sqlx::{PgPool, Row};
use yiwang_kit::{Caller, Error, Result, Violations};
use yiwang_proto::content::v1 as pb;

/// A site or column code: lower-case letters, digits and '-', 2 to 40 long.
pub fn check_slug(v: &mut Violations, field: &str, value: &str) {
    let ok = (2..=40).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok {
        v.add(field, "must be 2 to 40 characters of a-z, 0-9 and '-'");
    }
}

pub fn site_not_found(id: &str) -> Error {
    Error::not_found(
        "SITE_NOT_FOUND",
        format!("site {} does not exist", yiwang_kit::error::clip(id)),
    )
}

pub fn column_not_found(site: &str, id: &str) -> Error {
    Error::not_found(
        "COLUMN_NOT_FOUND",
        format!(
            "site {} has no column {}",
            yiwang_kit::error::clip(site),
            yiwang_kit::error::clip(id)
        ),
    )
}

fn site_of(r: &sqlx::postgres::PgRow) -> Result<pb::Site> {
    Ok(pb::Site {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        kind: r.try_get("kind")?,
        domain: r.try_get("domain")?,
        created_at: Some(yiwang_kit::to_timestamp(r.try_get("created_at")?)),
    })
}

fn column_of(r: &sqlx::postgres::PgRow) -> Result<pb::Column> {
    Ok(pb::Column {
        id: r.try_get("id")?,
        site_id: r.try_get("site_id")?,
        name: r.try_get("name")?,
        kind: r.try_get("kind")?,
        created_at: Some(yiwang_kit::to_timestamp(r.try_get("created_at")?)),
    })
}

pub async fn create_site(pool: &PgPool, c: &Caller, r: pb::CreateSiteRequest) -> Result<pb::Site> {
    let mut v = Violations::new();
    check_slug(&mut v, "id", &r.id);
    let name = v.text("name", &r.name, true, 100);
    v.one_of("kind", &r.kind, &["portal", "disclosure"]);
    let domain = v.text("domain", &r.domain, false, 253);
    v.into_result()?;
    let row = sqlx::query(
        "INSERT INTO sites (id, name, kind, domain, created_by) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (id) DO NOTHING RETURNING id, name, kind, domain, created_at",
    )
    .bind(&r.id)
    .bind(&name)
    .bind(&r.kind)
    .bind(&domain)
    .bind(&c.sub)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| Error::already_exists("SITE_EXISTS", format!("site {} exists", r.id)))?;
    site_of(&row)
}

pub async fn list_sites(pool: &PgPool) -> Result<Vec<pb::Site>> {
    let rows = sqlx::query("SELECT id, name, kind, domain, created_at FROM sites ORDER BY id")
        .fetch_all(pool)
        .await?;
    rows.iter().map(site_of).collect()
}

pub async fn create_column(
    pool: &PgPool,
    c: &Caller,
    r: pb::CreateColumnRequest,
) -> Result<pb::Column> {
    let mut v = Violations::new();
    check_slug(&mut v, "id", &r.id);
    let name = v.text("name", &r.name, true, 100);
    v.one_of("kind", &r.kind, &["column", "special_topic"]);
    v.into_result()?;
    ensure_site(pool, &r.site_id).await?;
    let row = sqlx::query(
        "INSERT INTO site_columns (site_id, id, name, kind, created_by) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (site_id, id) DO NOTHING RETURNING site_id, id, name, kind, created_at",
    )
    .bind(&r.site_id)
    .bind(&r.id)
    .bind(&name)
    .bind(&r.kind)
    .bind(&c.sub)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| {
        Error::already_exists(
            "COLUMN_EXISTS",
            format!("site {} has a column {} already", r.site_id, r.id),
        )
    })?;
    column_of(&row)
}

pub async fn list_columns(pool: &PgPool, site: &str) -> Result<Vec<pb::Column>> {
    ensure_site(pool, site).await?;
    let rows = sqlx::query(
        "SELECT site_id, id, name, kind, created_at FROM site_columns WHERE site_id = $1 ORDER BY created_at, id",
    )
    .bind(site)
    .fetch_all(pool)
    .await?;
    rows.iter().map(column_of).collect()
}

pub async fn ensure_site(pool: &PgPool, site: &str) -> Result<()> {
    if site.is_empty() || site.len() > 40 {
        return Err(site_not_found(site));
    }
    let found: Option<String> = sqlx::query_scalar("SELECT id FROM sites WHERE id = $1")
        .bind(site)
        .fetch_optional(pool)
        .await?;
    found.map(|_| ()).ok_or_else(|| site_not_found(site))
}

pub async fn ensure_column(pool: &PgPool, site: &str, column: &str) -> Result<()> {
    ensure_site(pool, site).await?;
    if column.len() > 40 {
        return Err(column_not_found(site, column));
    }
    let found: Option<String> =
        sqlx::query_scalar("SELECT id FROM site_columns WHERE site_id = $1 AND id = $2")
            .bind(site)
            .bind(column)
            .fetch_optional(pool)
            .await?;
    found
        .map(|_| ())
        .ok_or_else(|| column_not_found(site, column))
}

/// Checks an optional scope of a listing: a site, or a column of a site (a column alone is
/// ambiguous: two sites may both have `news`).
pub async fn ensure_scope(pool: &PgPool, site: &str, column: &str) -> Result<()> {
    if !column.is_empty() && site.is_empty() {
        return Err(Error::invalid("site_id", "is required with column_id"));
    }
    if !column.is_empty() {
        ensure_column(pool, site, column).await
    } else if !site.is_empty() {
        ensure_site(pool, site).await
    } else {
        Ok(())
    }
}

/// The address a site's relative links are resolved against: its domain as `https://domain/`,
/// or the domain as written when it is an http(s) address. None when it has no usable domain.
pub fn base_url(domain: &str) -> Option<reqwest::Url> {
    let d = domain.trim();
    if d.is_empty() {
        return None;
    }
    let url = if d.starts_with("http://") || d.starts_with("https://") {
        reqwest::Url::parse(d).ok()?
    } else {
        reqwest::Url::parse(&format!("https://{d}/")).ok()?
    };
    url.host_str()?;
    Some(url)
}

/// Rows of (site_id, column_id, n) as a map from the column to its count.
pub fn by_column(
    rows: &[sqlx::postgres::PgRow],
) -> Result<std::collections::BTreeMap<(String, String), i64>> {
    rows.iter()
        .map(|r| {
            Ok((
                (r.try_get("site_id")?, r.try_get("column_id")?),
                r.try_get("n")?,
            ))
        })
        .collect()
}
