//! The catalogue's data operations. Every write runs in one transaction that also writes the
//! audit record and, where the public view changes, the `catalog.item.changed` event.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{PgPool, Postgres, Row, Transaction};
use uuid::Uuid;
use yiwang_kit::{Caller, Error, Result, outbox, page};

use crate::model::*;
use crate::validate;

pub const ITEM_CHANGED: &str = "catalog.item.changed";

/// One version of an item as stored.
#[derive(Debug, Clone)]
pub struct ItemVersion {
    pub code: String,
    pub version: i32,
    pub status: String,
    pub content: ItemContent,
    pub effective_from: Option<DateTime<Utc>>,
    pub effective_to: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

#[derive(Debug, Clone)]
pub struct StoredOrgUnit {
    pub unit: OrgUnit,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Bundle {
    pub id: Uuid,
    pub spec: BundleSpec,
    pub materials: Vec<Material>,
    pub created_at: DateTime<Utc>,
}

const VERSION_COLUMNS: &str = "v.code, v.version, v.status, v.content, v.effective_from, v.effective_to, v.created_at, v.updated_at, v.updated_by";

fn version_from_row(row: &sqlx::postgres::PgRow) -> Result<ItemVersion> {
    let content: serde_json::Value = row.try_get("content")?;
    Ok(ItemVersion {
        code: row.try_get("code")?,
        version: row.try_get("version")?,
        status: row.try_get("status")?,
        content: serde_json::from_value(content).map_err(Error::internal)?,
        effective_from: row.try_get("effective_from")?,
        effective_to: row.try_get("effective_to")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        updated_by: row.try_get("updated_by")?,
    })
}

async fn audit(
    tx: &mut Transaction<'_, Postgres>,
    actor: &Caller,
    action: &str,
    entity: &str,
    key: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    reason: &str,
) -> Result<()> {
    sqlx::query("INSERT INTO audit_log (actor, action, entity, entity_key, before, after, reason) VALUES ($1,$2,$3,$4,$5,$6,$7)")
        .bind(&actor.sub)
        .bind(action)
        .bind(entity)
        .bind(key)
        .bind(before)
        .bind(after)
        .bind(reason)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Returns the resource a previous create with this request id made, if any; otherwise records
/// `resource` for it. Runs inside the create's transaction, so a failed create records nothing.
async fn claim_request(
    tx: &mut Transaction<'_, Postgres>,
    caller: &Caller,
    method: &str,
    request_id: &str,
    resource: &str,
) -> Result<Option<String>> {
    if request_id.is_empty() {
        return Ok(None);
    }
    if request_id.len() > 128 {
        return Err(Error::invalid(
            "request_id",
            "must be at most 128 characters",
        ));
    }
    let inserted = sqlx::query(
        "INSERT INTO create_requests (caller, method, request_id, resource) VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING",
    )
    .bind(&caller.sub)
    .bind(method)
    .bind(request_id)
    .bind(resource)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(None);
    }
    let existing: String = sqlx::query_scalar(
        "SELECT resource FROM create_requests WHERE caller=$1 AND method=$2 AND request_id=$3",
    )
    .bind(&caller.sub)
    .bind(method)
    .bind(request_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(Some(existing))
}

// ---------------------------------------------------------------------------------------------
// Org units

pub async fn create_org_unit(
    pool: &PgPool,
    caller: &Caller,
    unit: OrgUnit,
) -> Result<StoredOrgUnit> {
    validate::org_unit(&unit)?;
    let mut tx = pool.begin().await?;
    if let Some(parent) = &unit.parent {
        let kind: Option<String> = sqlx::query_scalar("SELECT kind FROM org_units WHERE code = $1")
            .bind(parent)
            .fetch_optional(&mut *tx)
            .await?;
        match kind.as_deref() {
            None => {
                return Err(Error::invalid(
                    "parent",
                    format!("no org unit has code {parent}"),
                ));
            }
            Some(k) if unit.kind == "village" && k != "town" => {
                return Err(Error::invalid(
                    "parent",
                    "a village's parent must be a town",
                ));
            }
            _ => {}
        }
    }
    let row = sqlx::query(
        "INSERT INTO org_units (code, name, kind, region_code, uscc, parent) VALUES ($1,$2,$3,$4,$5,$6)
         ON CONFLICT (code) DO NOTHING RETURNING created_at",
    )
    .bind(&unit.code)
    .bind(&unit.name)
    .bind(&unit.kind)
    .bind(&unit.region_code)
    .bind(&unit.uscc)
    .bind(&unit.parent)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Err(Error::already_exists(
            "ORG_UNIT_EXISTS",
            format!("org unit {} already exists", unit.code),
        ));
    };
    audit(
        &mut tx,
        caller,
        "create",
        "org_unit",
        &unit.code,
        None,
        Some(json!(unit)),
        "",
    )
    .await?;
    tx.commit().await?;
    Ok(StoredOrgUnit {
        unit,
        created_at: row.try_get("created_at")?,
    })
}

fn org_from_row(row: &sqlx::postgres::PgRow) -> Result<StoredOrgUnit> {
    Ok(StoredOrgUnit {
        unit: OrgUnit {
            code: row.try_get("code")?,
            name: row.try_get("name")?,
            kind: row.try_get("kind")?,
            region_code: row.try_get("region_code")?,
            uscc: row.try_get("uscc")?,
            parent: row.try_get("parent")?,
        },
        created_at: row.try_get("created_at")?,
    })
}

pub async fn get_org_unit(pool: &PgPool, code: &str) -> Result<StoredOrgUnit> {
    let row = sqlx::query("SELECT * FROM org_units WHERE code = $1")
        .bind(code)
        .fetch_optional(pool)
        .await?;
    match row {
        Some(r) => org_from_row(&r),
        None => Err(Error::not_found(
            "ORG_UNIT_NOT_FOUND",
            format!("no org unit has code {code}"),
        )),
    }
}

pub async fn list_org_units(
    pool: &PgPool,
    kind: &str,
    parent: &str,
    page_size: i32,
    page_token: &str,
) -> Result<(Vec<StoredOrgUnit>, String)> {
    if !kind.is_empty() && !ORG_KINDS.contains(&kind) {
        return Err(Error::invalid(
            "kind",
            format!("must be one of {}", ORG_KINDS.join(", ")),
        ));
    }
    let limit = page::page_size(page_size)?;
    let fp = page::fingerprint(&["org_units", kind, parent]);
    let after: Option<String> = page::decode(page_token, fp)?;
    let rows = sqlx::query(
        "SELECT * FROM org_units WHERE ($1 = '' OR kind = $1) AND ($2 = '' OR parent = $2) AND ($3::text IS NULL OR code > $3)
         ORDER BY code LIMIT $4",
    )
    .bind(kind)
    .bind(parent)
    .bind(after)
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    let mut units = rows.iter().map(org_from_row).collect::<Result<Vec<_>>>()?;
    let next = page::next_token(&mut units, limit, fp, |u| u.unit.code.clone());
    Ok((units, next))
}

/// Trims the look-ahead row and makes the token of the next page (empty on the last page).
async fn require_org_unit(tx: &mut Transaction<'_, Postgres>, code: &str) -> Result<()> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM org_units WHERE code = $1)")
            .bind(code)
            .fetch_one(&mut **tx)
            .await?;
    if exists {
        Ok(())
    } else {
        Err(Error::invalid(
            "department",
            format!("no org unit has code {code}"),
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Items

pub async fn create_item(
    pool: &PgPool,
    caller: &Caller,
    code: &str,
    content: ItemContent,
    request_id: &str,
) -> Result<ItemVersion> {
    validate::item(code, &content)?;
    let mut tx = pool.begin().await?;
    if let Some(existing) = claim_request(&mut tx, caller, "CreateItem", request_id, code).await? {
        drop(tx);
        return get_version(pool, &existing, 1, true).await;
    }
    require_org_unit(&mut tx, &content.department).await?;
    let inserted = sqlx::query(
        "INSERT INTO items (code, latest_version, current_version, status, name, department, task_type, level)
         VALUES ($1, 1, NULL, 'draft', $2, $3, $4, $5) ON CONFLICT (code) DO NOTHING",
    )
    .bind(code)
    .bind(&content.name)
    .bind(&content.department)
    .bind(&content.task_type)
    .bind(content.level as i32)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(Error::already_exists(
            "ITEM_EXISTS",
            format!("item {code} already exists; edit it with UpdateItem (PATCH)"),
        ));
    }
    sqlx::query("INSERT INTO item_versions (code, version, status, content, updated_by) VALUES ($1, 1, 'draft', $2, $3)")
        .bind(code)
        .bind(json!(content))
        .bind(&caller.sub)
        .execute(&mut *tx)
        .await?;
    audit(
        &mut tx,
        caller,
        "create",
        "item",
        code,
        None,
        Some(json!(content)),
        "",
    )
    .await?;
    tx.commit().await?;
    get_version(pool, code, 1, true).await
}

/// The version the public sees: published, suspended or retired.
pub async fn get_current(pool: &PgPool, code: &str) -> Result<ItemVersion> {
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM items i JOIN item_versions v ON v.code = i.code AND v.version = i.current_version WHERE i.code = $1"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(code)
        .fetch_optional(pool)
        .await?;
    match row {
        Some(r) => version_from_row(&r),
        None => Err(Error::not_found(
            "ITEM_NOT_FOUND",
            format!("item {code} does not exist or has no published version"),
        )),
    }
}

pub async fn get_version(
    pool: &PgPool,
    code: &str,
    version: i32,
    include_drafts: bool,
) -> Result<ItemVersion> {
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM item_versions v WHERE v.code = $1 AND v.version = $2"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(code)
        .bind(version)
        .fetch_optional(pool)
        .await?;
    match row.map(|r| version_from_row(&r)).transpose()? {
        Some(v) if include_drafts || v.status != "draft" => Ok(v),
        _ => Err(Error::not_found(
            "ITEM_VERSION_NOT_FOUND",
            format!("item {code} has no version {version}"),
        )),
    }
}

pub async fn list_versions(
    pool: &PgPool,
    code: &str,
    include_drafts: bool,
    page_size: i32,
    page_token: &str,
) -> Result<(Vec<ItemVersion>, String)> {
    let limit = page::page_size(page_size)?;
    let fp = page::fingerprint(&["versions", code, if include_drafts { "d" } else { "" }]);
    let after: Option<i32> = page::decode(page_token, fp)?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM items WHERE code = $1)")
        .bind(code)
        .fetch_one(pool)
        .await?;
    if !exists {
        return Err(Error::not_found(
            "ITEM_NOT_FOUND",
            format!("item {code} does not exist"),
        ));
    }
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM item_versions v WHERE v.code = $1 AND ($2 OR v.status <> 'draft')
         AND ($3::int IS NULL OR v.version < $3) ORDER BY v.version DESC LIMIT $4"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(code)
        .bind(include_drafts)
        .bind(after)
        .bind(limit + 1)
        .fetch_all(pool)
        .await?;
    let mut versions = rows
        .iter()
        .map(version_from_row)
        .collect::<Result<Vec<_>>>()?;
    let next = page::next_token(&mut versions, limit, fp, |v| v.version);
    Ok((versions, next))
}

/// The item row, locked for the rest of the transaction: concurrent changes to one item queue.
async fn lock_item(
    tx: &mut Transaction<'_, Postgres>,
    code: &str,
) -> Result<(i32, Option<i32>, String)> {
    let row: Option<(i32, Option<i32>, String)> = sqlx::query_as(
        "SELECT latest_version, current_version, status FROM items WHERE code = $1 FOR UPDATE",
    )
    .bind(code)
    .fetch_optional(&mut **tx)
    .await?;
    row.ok_or_else(|| Error::not_found("ITEM_NOT_FOUND", format!("item {code} does not exist")))
}

async fn version_status(
    tx: &mut Transaction<'_, Postgres>,
    code: &str,
    version: i32,
) -> Result<(String, ItemContent)> {
    let (status, content): (String, serde_json::Value) = sqlx::query_as(
        "SELECT status, content FROM item_versions WHERE code = $1 AND version = $2",
    )
    .bind(code)
    .bind(version)
    .fetch_one(&mut **tx)
    .await?;
    Ok((
        status,
        serde_json::from_value(content).map_err(Error::internal)?,
    ))
}

/// Applies `change` to the open draft, or opens a new draft version (copy of the latest) when
/// the latest version is published or suspended. Retired items cannot change.
pub async fn update_item(
    pool: &PgPool,
    caller: &Caller,
    code: &str,
    change: impl FnOnce(&mut ItemContent) -> Result<()>,
) -> Result<ItemVersion> {
    let mut tx = pool.begin().await?;
    let (latest, _current, item_status) = lock_item(&mut tx, code).await?;
    if item_status == "retired" {
        return Err(Error::failed_precondition(
            "ITEM_RETIRED",
            format!("item {code} is retired and cannot change"),
        ));
    }
    let (latest_status, before) = version_status(&mut tx, code, latest).await?;
    let mut content = before.clone();
    change(&mut content)?;
    validate::item(code, &content)?;
    if content.department != before.department {
        require_org_unit(&mut tx, &content.department).await?;
    }
    let version = if latest_status == "draft" {
        sqlx::query("UPDATE item_versions SET content = $3, updated_at = now(), updated_by = $4 WHERE code = $1 AND version = $2")
            .bind(code)
            .bind(latest)
            .bind(json!(content))
            .bind(&caller.sub)
            .execute(&mut *tx)
            .await?;
        latest
    } else {
        let next = latest + 1;
        sqlx::query("INSERT INTO item_versions (code, version, status, content, updated_by) VALUES ($1, $2, 'draft', $3, $4)")
            .bind(code)
            .bind(next)
            .bind(json!(content))
            .bind(&caller.sub)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE items SET latest_version = $2, updated_at = now() WHERE code = $1")
            .bind(code)
            .bind(next)
            .execute(&mut *tx)
            .await?;
        next
    };
    if item_status == "draft" {
        // Never published: keep the row's filter columns in step with the draft.
        denormalize(&mut tx, code, &content, "draft", None).await?;
    }
    audit(
        &mut tx,
        caller,
        "update",
        "item",
        &format!("{code}@{version}"),
        Some(json!(before)),
        Some(json!(content)),
        "",
    )
    .await?;
    tx.commit().await?;
    get_version(pool, code, version, true).await
}

/// Copies the public version's searchable fields into the item row.
async fn denormalize(
    tx: &mut Transaction<'_, Postgres>,
    code: &str,
    c: &ItemContent,
    status: &str,
    current: Option<i32>,
) -> Result<()> {
    let text = c.search_text();
    let grams = grams(&text);
    sqlx::query(
        "UPDATE items SET status = $2, current_version = COALESCE($3, current_version), name = $4, department = $5,
         task_type = $6, level = $7, channels = $8, online_capable = $9, full_online = $10, high_frequency = $11,
         search_text = $12, search_grams = $13, updated_at = now() WHERE code = $1",
    )
    .bind(code)
    .bind(status)
    .bind(current)
    .bind(&c.name)
    .bind(&c.department)
    .bind(&c.task_type)
    .bind(c.level as i32)
    .bind(&c.channels)
    .bind(c.online_capable())
    .bind(c.full_online())
    .bind(c.high_frequency)
    .bind(&text)
    .bind(&grams)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    Publish,
    Suspend,
    Retire,
}

impl Transition {
    fn name(self) -> &'static str {
        match self {
            Transition::Publish => "publish",
            Transition::Suspend => "suspend",
            Transition::Retire => "retire",
        }
    }
}

/// draft → published (superseding the previous published/suspended version), suspended →
/// published (resume), published → suspended, published|suspended → retired.
pub async fn transition(
    pool: &PgPool,
    caller: &Caller,
    code: &str,
    t: Transition,
    reason: &str,
) -> Result<ItemVersion> {
    if reason.chars().count() > 1000 {
        return Err(Error::invalid("reason", "must be at most 1000 characters"));
    }
    let mut tx = pool.begin().await?;
    let (latest, current, item_status) = lock_item(&mut tx, code).await?;
    let (latest_status, latest_content) = version_status(&mut tx, code, latest).await?;
    let illegal = |what: &str| {
        Error::failed_precondition(
            "ILLEGAL_TRANSITION",
            format!("cannot {} item {code}: it is {item_status}{what}", t.name()),
        )
        .with_metadata("current_status", item_status.clone())
    };
    let version = match t {
        Transition::Publish => {
            if item_status == "retired" {
                return Err(illegal(""));
            }
            if latest_status == "draft" {
                // A department may have been removed since the draft was written.
                require_org_unit(&mut tx, &latest_content.department).await?;
                if let Some(cur) = current {
                    sqlx::query("UPDATE item_versions SET status = 'superseded', effective_to = now(), updated_at = now() WHERE code = $1 AND version = $2")
                        .bind(code)
                        .bind(cur)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query("UPDATE item_versions SET status = 'published', effective_from = now(), updated_at = now(), updated_by = $3 WHERE code = $1 AND version = $2")
                    .bind(code)
                    .bind(latest)
                    .bind(&caller.sub)
                    .execute(&mut *tx)
                    .await?;
                denormalize(&mut tx, code, &latest_content, "published", Some(latest)).await?;
                latest
            } else if item_status == "suspended" {
                let cur = current.expect("a suspended item has a current version");
                set_status(&mut tx, code, cur, "published").await?;
                cur
            } else {
                return Err(illegal(" and has no draft to publish"));
            }
        }
        Transition::Suspend => {
            if item_status != "published" {
                return Err(illegal(""));
            }
            let cur = current.expect("a published item has a current version");
            set_status(&mut tx, code, cur, "suspended").await?;
            cur
        }
        Transition::Retire => {
            if item_status != "published" && item_status != "suspended" {
                return Err(illegal(""));
            }
            let cur = current.expect("a published item has a current version");
            sqlx::query(
                "UPDATE item_versions SET effective_to = now() WHERE code = $1 AND version = $2",
            )
            .bind(code)
            .bind(cur)
            .execute(&mut *tx)
            .await?;
            set_status(&mut tx, code, cur, "retired").await?;
            cur
        }
    };
    let status = match t {
        Transition::Publish => "published",
        Transition::Suspend => "suspended",
        Transition::Retire => "retired",
    };
    audit(
        &mut tx,
        caller,
        t.name(),
        "item",
        &format!("{code}@{version}"),
        Some(json!({"status": item_status})),
        Some(json!({"status": status})),
        reason,
    )
    .await?;
    outbox::enqueue(
        &mut tx,
        ITEM_CHANGED,
        &json!({"code": code, "version": version, "status": status, "change": t.name()}),
    )
    .await?;
    tx.commit().await?;
    get_version(pool, code, version, true).await
}

async fn set_status(
    tx: &mut Transaction<'_, Postgres>,
    code: &str,
    version: i32,
    status: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE item_versions SET status = $3, updated_at = now() WHERE code = $1 AND version = $2",
    )
    .bind(code)
    .bind(version)
    .bind(status)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE items SET status = $2, updated_at = now() WHERE code = $1")
        .bind(code)
        .bind(status)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[derive(Debug, Default, Clone)]
pub struct SearchFilter {
    pub query: String,
    pub department: String,
    pub task_type: String,
    pub level: u32,
    pub channel: String,
    pub online: Option<bool>,
    pub high_frequency: Option<bool>,
    pub full_online: Option<bool>,
}

/// The filters every search query applies (binds `$3`–`$10`; `$10` is the code to read after).
const SEARCH_FILTERS: &str = "AND ($3 = '' OR i.department = $3)
      AND ($4 = '' OR i.task_type = $4)
      AND ($5 = 0 OR i.level = $5)
      AND ($6 = '' OR $6 = ANY(i.channels))
      AND ($7::bool IS NULL OR i.online_capable = $7)
      AND ($8::bool IS NULL OR i.high_frequency = $8)
      AND ($9::bool IS NULL OR i.full_online = $9)
      AND i.code > coalesce($10, '')";

/// How many items (after the filters) a keyword search reads in code order before it turns to
/// the n-gram index: fewer than a page of matches among them means the matches are rare, and
/// the index finds rare ones at once.
const SEARCH_WINDOW: i64 = 2000;

/// Rank 0: the name contains the keyword (the n-gram column, the condition).
const NAME_MATCHES: (&str, &str) = ("name_grams", "i.name_grams @> $1 AND i.name_norm LIKE $2");
/// Rank 1: only a material does.
const MATERIAL_ONLY_MATCHES: (&str, &str) = (
    "search_grams",
    "i.search_grams @> $1 AND i.search_text LIKE $2 AND i.name_norm NOT LIKE $2",
);

/// A search's keyword and filters, bound the same way into each of its queries.
struct SearchArgs<'a> {
    grams: Vec<String>,
    pattern: String,
    filter: &'a SearchFilter,
}

impl SearchArgs<'_> {
    /// Runs `sql` with `$1` the keyword's n-grams, `$2` its LIKE pattern, `$3`–`$10` the filters
    /// and the code to read after, `$11` how many rows to return and `$12` `extra`.
    async fn rows(
        &self,
        pool: &PgPool,
        sql: String,
        after: Option<String>,
        want: i64,
        extra: Option<i64>,
    ) -> Result<Vec<sqlx::postgres::PgRow>> {
        let f = self.filter;
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            // Unnamed statement: planned with the actual keyword each time, since whether to
            // walk the code index or the n-gram index depends on how common the keyword is.
            .persistent(false)
            .bind(&self.grams)
            .bind(&self.pattern)
            .bind(&f.department)
            .bind(&f.task_type)
            .bind(f.level as i32)
            .bind(&f.channel)
            .bind(f.online)
            .bind(f.high_frequency)
            .bind(f.full_online)
            .bind(after)
            .bind(want);
        if let Some(extra) = extra {
            query = query.bind(extra);
        }
        Ok(query.fetch_all(pool).await?)
    }

    async fn fetch(
        &self,
        pool: &PgPool,
        sql: String,
        after: Option<String>,
        want: i64,
        extra: Option<i64>,
    ) -> Result<Vec<ItemVersion>> {
        self.rows(pool, sql, after, want, extra)
            .await?
            .iter()
            .map(version_from_row)
            .collect()
    }
}

/// Up to `want` items after `after` that `matches`, in code order. The planner cannot choose
/// between walking the code index and the n-gram index here: it estimates how many items
/// match from column statistics (320 for 补贴 among 812,000 items, where 17,900 match) and
/// multiplies correlated conditions as if independent (a keyword in the materials is nearly
/// always in the name too). So the choice is made from the data: read a window of items in
/// code order, which fills a page at once when matches are common and spread out; when it holds
/// fewer than a page and the statistics bound the candidates low, the n-gram index finds them
/// all without walking (the walk read 85,000 items for 补贴's first page, 340 ms; the index
/// 60 ms); when the candidates may be many, they are clustered away from the window, and the
/// planner's walk is kept (the index took 630 ms for 证).
async fn windowed(
    pool: &PgPool,
    args: &SearchArgs<'_>,
    (grams, matches): (&str, &str),
    after: Option<String>,
    want: i64,
) -> Result<Vec<ItemVersion>> {
    let window = format!(
        "WITH win AS MATERIALIZED (
            SELECT i.code, i.current_version, i.name_grams, i.name_norm, i.search_grams, i.search_text
              FROM items i
             WHERE i.status = 'published' {SEARCH_FILTERS}
             ORDER BY i.code LIMIT $12),
         page AS (
            SELECT i.code, i.current_version FROM win i WHERE {matches} ORDER BY i.code LIMIT $11)
         SELECT (SELECT count(*) FROM win) AS window_rows, (SELECT max(code) FROM win) AS window_last,
                {VERSION_COLUMNS}
           FROM (SELECT 1) one
           LEFT JOIN (page p JOIN item_versions v ON v.code = p.code AND v.version = p.current_version) ON true
          ORDER BY v.code"
    );
    let rows = args
        .rows(pool, window, after, want, Some(SEARCH_WINDOW))
        .await?;
    let mut found = Vec::new();
    let (mut window_rows, mut window_last) = (0i64, None::<String>);
    for r in &rows {
        window_rows = r.try_get("window_rows")?;
        window_last = r.try_get("window_last")?;
        if r.try_get::<Option<String>, _>("code")?.is_some() {
            found.push(version_from_row(r)?);
        }
    }
    let want_more = want - found.len() as i64;
    if want_more <= 0 || window_rows < SEARCH_WINDOW {
        return Ok(found);
    }
    let rest = if candidates_at_most(pool, grams, &args.grams).await? <= INDEX_CANDIDATES {
        // Few items hold all the n-grams: all of them from the index, then the first by code.
        format!(
            "WITH m AS MATERIALIZED (
                SELECT i.code, i.current_version FROM items i
                 WHERE i.status = 'published' AND {matches} {SEARCH_FILTERS})
             SELECT {VERSION_COLUMNS}
               FROM (SELECT * FROM m ORDER BY code LIMIT $11) p
               JOIN item_versions v ON v.code = p.code AND v.version = p.current_version
              ORDER BY p.code"
        )
    } else {
        // Common n-grams (the clustered case): the planner's choice, walking as a rule.
        format!(
            "WITH page AS (
                SELECT i.code, i.current_version FROM items i
                WHERE i.status = 'published' AND {matches} {SEARCH_FILTERS}
                ORDER BY i.code LIMIT $11)
             SELECT {VERSION_COLUMNS} FROM page p JOIN item_versions v ON v.code = p.code AND v.version = p.current_version
             ORDER BY p.code"
        )
    };
    found.extend(args.fetch(pool, rest, window_last, want_more, None).await?);
    Ok(found)
}

/// Up to how many candidate items the n-gram index is read in full rather than walking the
/// code index (a bitmap scan of 18,000 items takes 60 ms here).
const INDEX_CANDIDATES: f64 = 25_000.0;

/// An upper bound, from the column's statistics, on how many items hold every one of `grams`
/// in `column` (`name_grams` or `search_grams`): an item holds the rarest of them. An n-gram
/// outside the statistics' common elements is rarer than the least common one listed. Infinite
/// when the table has not been analysed.
async fn candidates_at_most(pool: &PgPool, column: &str, grams: &[String]) -> Result<f64> {
    let bound: Option<f64> = sqlx::query_scalar(
        "WITH s AS (
            SELECT most_common_elems::text::text[] AS e, most_common_elem_freqs AS f
              FROM pg_stats
             WHERE schemaname = current_schema() AND tablename = 'items' AND attname = $1),
         freq AS (
            SELECT coalesce(s.f[array_position(s.e, g)],
                            (SELECT min(x) FROM unnest(s.f[1:array_length(s.e, 1)]) x)) AS f
              FROM s, unnest($2::text[]) g)
         SELECT (SELECT min(f) FROM freq)::float8
                * (SELECT nullif(reltuples, -1) FROM pg_class WHERE oid = 'items'::regclass)::float8",
    )
    .bind(column)
    .bind(grams)
    .fetch_one(pool)
    .await?;
    Ok(bound.unwrap_or(f64::INFINITY))
}

/// Published items matching a keyword (substring of the name or a material name) and filters.
/// Name matches come first, then material-only matches, each by code.
pub async fn search(
    pool: &PgPool,
    f: &SearchFilter,
    page_size: i32,
    page_token: &str,
) -> Result<(Vec<ItemVersion>, String)> {
    let q = normalize(&f.query);
    if q.chars().count() > 100 {
        return Err(Error::invalid("q", "must be at most 100 characters"));
    }
    if !f.channel.is_empty() && !CHANNELS.contains(&f.channel.as_str()) {
        return Err(Error::invalid(
            "channel",
            format!("must be one of {}", CHANNELS.join(", ")),
        ));
    }
    if !f.task_type.is_empty() && !TASK_TYPES.iter().any(|t| t.0 == f.task_type) {
        return Err(Error::invalid(
            "task_type",
            "is not a task type of the code list (01..10, 20, 30..32)",
        ));
    }
    if f.level > 5 {
        return Err(Error::invalid("level", "must be 1 (national) to 5 (town)"));
    }
    let limit = page::page_size(page_size)?;
    let flag = |b: Option<bool>| match b {
        None => "",
        Some(true) => "1",
        Some(false) => "0",
    };
    let level = f.level.to_string();
    let fp = page::fingerprint(&[
        "search",
        &q,
        &f.department,
        &f.task_type,
        &level,
        &f.channel,
        flag(f.online),
        flag(f.high_frequency),
        flag(f.full_online),
    ]);
    let after: Option<(i32, String)> = page::decode(page_token, fp)?;
    let (after_rank, after_code) = after
        .map(|(r, c)| (Some(r), Some(c)))
        .unwrap_or((None, None));
    // LIKE rather than strpos(): the planner estimates how common a LIKE pattern is from the
    // column statistics, and picks the right index by it.
    let pattern = format!(
        "%{}%",
        q.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let args = SearchArgs {
        grams: query_grams(&q),
        pattern,
        filter: f,
    };
    // Rank 0: the name contains the keyword (every item when there is none); rank 1: only a
    // material does. Each rank reads in code order and stops after a page.
    let mut hits: Vec<(i32, ItemVersion)> = Vec::new();
    for rank in [0, 1] {
        if rank == 1 && q.is_empty() {
            break;
        }
        let after = match after_rank {
            Some(r) if r > rank => continue,
            Some(r) if r == rank => after_code.clone(),
            _ => None,
        };
        let want = limit + 1 - hits.len() as i64;
        if want <= 0 {
            break;
        }
        let page = if q.is_empty() {
            let sql = format!(
                "WITH page AS (
                    SELECT i.code, i.current_version FROM items i
                    WHERE i.status = 'published' {SEARCH_FILTERS}
                    ORDER BY i.code LIMIT $11
                )
                SELECT {VERSION_COLUMNS} FROM page p JOIN item_versions v ON v.code = p.code AND v.version = p.current_version
                ORDER BY p.code"
            );
            args.fetch(pool, sql, after, want, None).await?
        } else if rank == 0 {
            windowed(pool, &args, NAME_MATCHES, after, want).await?
        } else {
            windowed(pool, &args, MATERIAL_ONLY_MATCHES, after, want).await?
        };
        hits.extend(page.into_iter().map(|v| (rank, v)));
    }
    let next = page::next_token(&mut hits, limit, fp, |(rank, v)| (*rank, v.code.clone()));
    Ok((hits.into_iter().map(|(_, v)| v).collect(), next))
}

// ---------------------------------------------------------------------------------------------
// Bundles

pub async fn create_bundle(
    pool: &PgPool,
    caller: &Caller,
    mut spec: BundleSpec,
    request_id: &str,
) -> Result<Bundle> {
    validate::bundle(&spec)?;
    let id = Uuid::now_v7();
    let mut tx = pool.begin().await?;
    if let Some(existing) =
        claim_request(&mut tx, caller, "CreateBundle", request_id, &id.to_string()).await?
    {
        drop(tx);
        let existing = existing.parse().map_err(Error::internal)?;
        return get_bundle(pool, existing).await;
    }
    let contents = current_contents(&mut *tx, &spec.items).await?;
    let mut v = yiwang_kit::Violations::new();
    for (i, code) in spec.items.iter().enumerate() {
        match contents.iter().find(|(c, _, _)| c == code) {
            None => v.add(format!("items[{i}]"), format!("item {code} does not exist")),
            Some((_, status, content)) => {
                if status != "published" {
                    v.add(
                        format!("items[{i}]"),
                        format!("item {code} is {status}; a bundle needs published items"),
                    );
                } else if !fits_applicant(&spec.applicant_kind, &content.applicant_kinds) {
                    v.add(
                        format!("items[{i}]"),
                        format!(
                            "item {code} does not serve applicant kind {}",
                            spec.applicant_kind
                        ),
                    );
                }
            }
        }
    }
    v.into_result()?;
    if spec.promised_limit.is_none() {
        // The combined limit defaults to the sum of the items' promised limits (sequential
        // handling); with mixed units the caller must say what the bundle promises.
        let limits: Vec<&TimeLimit> = contents
            .iter()
            .filter_map(|(_, _, c)| c.promised_limit.as_ref())
            .collect();
        let unit = limits.first().map(|l| l.unit.clone()).unwrap_or_default();
        if limits.iter().any(|l| l.unit != unit) {
            return Err(Error::invalid(
                "promised_limit",
                "the items use different time units; state the bundle's promised limit",
            ));
        }
        spec.promised_limit = Some(TimeLimit {
            value: limits.iter().map(|l| l.value).sum(),
            unit,
        });
    }
    let created_at: DateTime<Utc> = sqlx::query_scalar(
        "INSERT INTO bundles (id, name, applicant_kind, items, promised_limit, description, high_frequency)
         VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING created_at",
    )
    .bind(id)
    .bind(&spec.name)
    .bind(&spec.applicant_kind)
    .bind(&spec.items)
    .bind(json!(spec.promised_limit))
    .bind(&spec.description)
    .bind(spec.high_frequency)
    .fetch_one(&mut *tx)
    .await?;
    audit(
        &mut tx,
        caller,
        "create",
        "bundle",
        &id.to_string(),
        None,
        Some(json!(spec)),
        "",
    )
    .await?;
    tx.commit().await?;
    let materials = merge_materials(&spec.items, &contents);
    Ok(Bundle {
        id,
        spec,
        materials,
        created_at,
    })
}

fn fits_applicant(kind: &str, item_kinds: &[String]) -> bool {
    match kind {
        "person" => item_kinds.iter().any(|k| k == "1"),
        _ => item_kinds.iter().any(|k| k != "1"),
    }
}

async fn current_contents<'e, E: sqlx::PgExecutor<'e>>(
    db: E,
    codes: &[String],
) -> Result<Vec<(String, String, ItemContent)>> {
    let rows: Vec<(String, String, serde_json::Value)> = sqlx::query_as(
        "SELECT i.code, i.status, v.content FROM items i
         JOIN item_versions v ON v.code = i.code AND v.version = COALESCE(i.current_version, i.latest_version)
         WHERE i.code = ANY($1)",
    )
    .bind(codes)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|(c, s, v)| Ok((c, s, serde_json::from_value(v).map_err(Error::internal)?)))
        .collect()
}

/// The items' materials in item order, one entry per normalised name; required if any item
/// requires it.
pub fn merge_materials(
    order: &[String],
    contents: &[(String, String, ItemContent)],
) -> Vec<Material> {
    let mut merged: Vec<Material> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for code in order {
        let Some((_, _, content)) = contents.iter().find(|(c, _, _)| c == code) else {
            continue;
        };
        for m in &content.materials {
            let key = normalize(&m.name);
            match index.get(&key) {
                Some(&i) => {
                    let existing: &mut Material = &mut merged[i];
                    existing.required |= m.required;
                }
                None => {
                    index.insert(key, merged.len());
                    merged.push(m.clone());
                }
            }
        }
    }
    merged
}

fn bundle_from_row(row: &sqlx::postgres::PgRow) -> Result<(Uuid, BundleSpec, DateTime<Utc>)> {
    let limit: serde_json::Value = row.try_get("promised_limit")?;
    Ok((
        row.try_get("id")?,
        BundleSpec {
            name: row.try_get("name")?,
            applicant_kind: row.try_get("applicant_kind")?,
            items: row.try_get("items")?,
            promised_limit: serde_json::from_value(limit).map_err(Error::internal)?,
            description: row.try_get("description")?,
            high_frequency: row.try_get("high_frequency")?,
        },
        row.try_get("created_at")?,
    ))
}

pub async fn get_bundle(pool: &PgPool, id: Uuid) -> Result<Bundle> {
    let row = sqlx::query("SELECT * FROM bundles WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    let Some(row) = row else {
        return Err(Error::not_found(
            "BUNDLE_NOT_FOUND",
            format!("no bundle has id {id}"),
        ));
    };
    let (id, spec, created_at) = bundle_from_row(&row)?;
    let contents = current_contents(pool, &spec.items).await?;
    let materials = merge_materials(&spec.items, &contents);
    Ok(Bundle {
        id,
        spec,
        materials,
        created_at,
    })
}

/// Bundles in creation order, optionally only one applicant kind and only the high-frequency ones.
pub async fn list_bundles(
    pool: &PgPool,
    page_size: i32,
    page_token: &str,
    applicant_kind: &str,
    high_frequency_only: bool,
) -> Result<(Vec<Bundle>, String)> {
    if !applicant_kind.is_empty() {
        let mut v = yiwang_kit::Violations::new();
        v.one_of(
            "applicant_kind",
            applicant_kind,
            crate::model::BUNDLE_APPLICANT_KINDS,
        );
        v.into_result()?;
    }
    let limit = page::page_size(page_size)?;
    let hf = if high_frequency_only { "hf" } else { "" };
    let fp = page::fingerprint(&["bundles", applicant_kind, hf]);
    let after: Option<Uuid> = page::decode(page_token, fp)?;
    let rows = sqlx::query(
        "SELECT * FROM bundles
         WHERE ($1::uuid IS NULL OR id > $1) AND ($3 = '' OR applicant_kind = $3) AND (high_frequency OR NOT $4)
         ORDER BY id LIMIT $2",
    )
    .bind(after)
    .bind(limit + 1)
    .bind(applicant_kind)
    .bind(high_frequency_only)
    .fetch_all(pool)
    .await?;
    let mut specs = rows
        .iter()
        .map(bundle_from_row)
        .collect::<Result<Vec<_>>>()?;
    let next = page::next_token(&mut specs, limit, fp, |(id, _, _)| *id);
    let all_codes: Vec<String> = specs.iter().flat_map(|(_, s, _)| s.items.clone()).collect();
    let contents = current_contents(pool, &all_codes).await?;
    let bundles = specs
        .into_iter()
        .map(|(id, spec, created_at)| Bundle {
            id,
            materials: merge_materials(&spec.items, &contents),
            spec,
            created_at,
        })
        .collect();
    Ok((bundles, next))
}

// ---------------------------------------------------------------------------------------------
// Statistics

pub struct Stats {
    pub published: i64,
    pub by_department: Vec<(String, String, i64)>,
    pub by_level: Vec<(i32, i64)>,
    pub by_task_type: Vec<(String, i64)>,
    pub online_capable: i64,
    pub full_online: i64,
    pub high_frequency: i64,
    pub bundles: i64,
    pub bundles_legal_person: i64,
    pub bundles_person: i64,
    pub bundles_high_frequency: i64,
    /// (department, name, items, published, province list, city list, suspended)
    pub departments: Vec<(String, String, i64, i64, i64, i64, i64)>,
}

pub async fn stats(pool: &PgPool) -> Result<Stats> {
    let (published, online_capable, full_online, high_frequency): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE online_capable), count(*) FILTER (WHERE full_online),
                count(*) FILTER (WHERE high_frequency)
         FROM items WHERE status = 'published'",
    )
    .fetch_one(pool)
    .await?;
    let by_department = sqlx::query_as(
        "SELECT i.department, COALESCE(o.name, ''), count(*) FROM items i LEFT JOIN org_units o ON o.code = i.department
         WHERE i.status = 'published' GROUP BY 1, 2 ORDER BY 3 DESC, 1",
    )
    .fetch_all(pool)
    .await?;
    let by_level = sqlx::query_as(
        "SELECT level, count(*) FROM items WHERE status = 'published' GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(pool)
    .await?;
    let by_task_type = sqlx::query_as(
        "SELECT task_type, count(*) FROM items WHERE status = 'published' GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(pool)
    .await?;
    let (bundles, bundles_legal_person, bundles_person, bundles_high_frequency): (i64, i64, i64, i64) =
        sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE applicant_kind = 'legal_person'),
                    count(*) FILTER (WHERE applicant_kind = 'person'), count(*) FILTER (WHERE high_frequency)
             FROM bundles",
        )
        .fetch_one(pool)
        .await?;
    let departments = sqlx::query_as(
        "SELECT i.department, COALESCE(o.name, ''),
                count(*) FILTER (WHERE i.status NOT IN ('retired', 'draft')),
                count(*) FILTER (WHERE i.status = 'published'),
                count(*) FILTER (WHERE i.status = 'published' AND v.content->'standard_lists' ? 'province'),
                count(*) FILTER (WHERE i.status = 'published' AND v.content->'standard_lists' ? 'city'),
                count(*) FILTER (WHERE i.status = 'suspended')
           FROM items i
           LEFT JOIN item_versions v ON v.code = i.code AND v.version = i.current_version
           LEFT JOIN org_units o ON o.code = i.department
          GROUP BY 1, 2 ORDER BY 1",
    )
    .fetch_all(pool)
    .await?;
    Ok(Stats {
        departments,
        published,
        by_department,
        by_level,
        by_task_type,
        online_capable,
        full_online,
        high_frequency,
        bundles,
        bundles_legal_person,
        bundles_person,
        bundles_high_frequency,
    })
}
