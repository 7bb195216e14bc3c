//! Service halls (政务服务大厅): the county hall, town centres and village stations, their
//! windows, and the items each hall's comprehensive window (综合窗口) receives for any
//! department (进驻事项). The cases service asks which items a window clerk's hall receives.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row};
use yiwang_kit::{Caller, Error, Result, Violations, ids, to_timestamp};
use yiwang_proto::catalog::v1 as pb;

use crate::validate;

const LEVELS: &[&str] = &["county", "town", "village"];
const WINDOW_KINDS: &[&str] = &["comprehensive", "department", "enterprise", "complaint"];
/// A hall receives at most this many items (a county's whole catalogue is ~8,000).
const MAX_ITEMS: usize = 10_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Window {
    number: String,
    name: String,
    kind: String,
    #[serde(default)]
    department: String,
}

pub struct HallRow {
    code: String,
    name: String,
    level: String,
    region_code: String,
    address: String,
    windows: Vec<Window>,
    items: Vec<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl HallRow {
    pub fn to_pb(&self) -> pb::Hall {
        pb::Hall {
            code: self.code.clone(),
            name: self.name.clone(),
            level: self.level.clone(),
            region_code: self.region_code.clone(),
            address: self.address.clone(),
            windows: self
                .windows
                .iter()
                .map(|w| pb::HallWindow {
                    number: w.number.clone(),
                    name: w.name.clone(),
                    kind: w.kind.clone(),
                    department: w.department.clone(),
                })
                .collect(),
            items: self.items.clone(),
            created_at: Some(to_timestamp(self.created_at)),
            updated_at: Some(to_timestamp(self.updated_at)),
        }
    }
}

fn from_row(r: &sqlx::postgres::PgRow, items: Vec<String>) -> Result<HallRow> {
    let windows: serde_json::Value = r.try_get("windows")?;
    Ok(HallRow {
        code: r.try_get("code")?,
        name: r.try_get("name")?,
        level: r.try_get("level")?,
        region_code: r.try_get("region_code")?,
        address: r.try_get("address")?,
        windows: serde_json::from_value(windows).map_err(Error::internal)?,
        items,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn not_found(code: &str) -> Error {
    Error::not_found(
        "HALL_NOT_FOUND",
        format!("no hall has code {}", yiwang_kit::error::clip(code)),
    )
}

/// Checks a new hall; every rule broken is named.
fn check(h: &pb::Hall) -> Result<Vec<Window>> {
    let mut v = Violations::new();
    v.check("code", validate::org_code(&h.code));
    let name = h.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        v.add("name", "must be 1 to 100 characters");
    }
    if !LEVELS.contains(&h.level.as_str()) {
        v.add("level", "must be county, town or village");
    }
    v.check("region_code", ids::check_region_code(&h.region_code));
    if h.address.chars().count() > 200 {
        v.add("address", "must be at most 200 characters");
    }
    if h.windows.len() > 200 {
        v.add("windows", "at most 200 windows");
    }
    let mut numbers = std::collections::HashSet::new();
    for (i, w) in h.windows.iter().enumerate() {
        let number = w.number.trim();
        if number.is_empty() || number.chars().count() > 16 {
            v.add(format!("windows[{i}].number"), "must be 1 to 16 characters");
        } else if !numbers.insert(number.to_string()) {
            v.add(format!("windows[{i}].number"), "is used by another window");
        }
        if w.name.chars().count() > 100 {
            v.add(
                format!("windows[{i}].name"),
                "must be at most 100 characters",
            );
        }
        if !WINDOW_KINDS.contains(&w.kind.as_str()) {
            v.add(
                format!("windows[{i}].kind"),
                format!("must be one of {}", WINDOW_KINDS.join(", ")),
            );
        }
        if w.kind == "department" {
            v.check(
                &format!("windows[{i}].department"),
                validate::org_code(&w.department),
            );
        } else if !w.department.is_empty() {
            v.add(
                format!("windows[{i}].department"),
                "is only for department windows",
            );
        }
    }
    v.into_result()?;
    Ok(h.windows
        .iter()
        .map(|w| Window {
            number: w.number.trim().to_string(),
            name: w.name.trim().to_string(),
            kind: w.kind.clone(),
            department: w.department.clone(),
        })
        .collect())
}

pub async fn create(pool: &PgPool, caller: &Caller, h: pb::Hall) -> Result<HallRow> {
    let windows = check(&h)?;
    let departments: Vec<&str> = windows
        .iter()
        .filter(|w| w.kind == "department")
        .map(|w| w.department.as_str())
        .collect();
    let known: Vec<String> = sqlx::query_scalar(
        "SELECT code FROM org_units WHERE code = ANY($1) AND kind = 'department'",
    )
    .bind(&departments)
    .fetch_all(pool)
    .await?;
    let mut v = Violations::new();
    for (i, w) in windows.iter().enumerate() {
        if w.kind == "department" && !known.contains(&w.department) {
            v.add(
                format!("windows[{i}].department"),
                "is not a department of the catalogue",
            );
        }
    }
    v.into_result()?;
    let row = sqlx::query(
        "INSERT INTO halls (code, name, level, region_code, address, windows, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (code) DO NOTHING
         RETURNING *",
    )
    .bind(&h.code)
    .bind(h.name.trim())
    .bind(&h.level)
    .bind(&h.region_code)
    .bind(h.address.trim())
    .bind(serde_json::to_value(&windows).map_err(Error::internal)?)
    .bind(&caller.sub)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| {
        Error::already_exists("HALL_EXISTS", format!("hall {} already exists", h.code))
    })?;
    from_row(&row, Vec::new())
}

pub async fn get(pool: &PgPool, code: &str) -> Result<HallRow> {
    let row = sqlx::query("SELECT * FROM halls WHERE code = $1")
        .bind(code)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| not_found(code))?;
    let items: Vec<String> = sqlx::query_scalar(
        "SELECT item_code FROM hall_items WHERE hall_code = $1 ORDER BY item_code",
    )
    .bind(code)
    .fetch_all(pool)
    .await?;
    from_row(&row, items)
}

pub async fn list(pool: &PgPool) -> Result<Vec<HallRow>> {
    let rows = sqlx::query("SELECT * FROM halls ORDER BY level, code LIMIT 1000")
        .fetch_all(pool)
        .await?;
    rows.iter().map(|r| from_row(r, Vec::new())).collect()
}

/// Replaces the hall's received items; each must be an item of the catalogue.
pub async fn set_items(pool: &PgPool, code: &str, item_codes: &[String]) -> Result<HallRow> {
    let mut codes: Vec<String> = item_codes.iter().map(|c| c.trim().to_string()).collect();
    let mut v = Violations::new();
    if codes.len() > MAX_ITEMS {
        v.add("item_codes", format!("at most {MAX_ITEMS} items"));
    }
    for (i, c) in codes.iter().enumerate() {
        v.check(&format!("item_codes[{i}]"), ids::check_code(c, 8, 64));
    }
    v.into_result()?;
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT 1 FROM halls WHERE code = $1 FOR UPDATE")
        .bind(code)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| not_found(code))?;
    let mut v = Violations::new();
    name_unknown_items(&mut *tx, &codes, "item_codes", &mut v).await?;
    v.into_result()?;
    codes.sort();
    codes.dedup();
    sqlx::query("DELETE FROM hall_items WHERE hall_code = $1")
        .bind(code)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO hall_items (hall_code, item_code) SELECT $1, unnest($2::text[])")
        .bind(code)
        .bind(&codes)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE halls SET updated_at = now() WHERE code = $1")
        .bind(code)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    get(pool, code).await
}

/// Registers a self-service terminal in a hall with the items it offers (each an item of the
/// catalogue).
pub async fn create_terminal(
    pool: &PgPool,
    caller: &Caller,
    t: pb::Terminal,
) -> Result<pb::Terminal> {
    let mut v = Violations::new();
    v.check("code", validate::org_code(&t.code));
    let name = t.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        v.add("name", "must be 1 to 100 characters");
    }
    if t.items.len() > 1000 {
        v.add("items", "at most 1000 items");
    }
    for (i, c) in t.items.iter().enumerate() {
        v.check(&format!("items[{i}]"), ids::check_code(c, 8, 64));
    }
    v.into_result()?;
    let hall: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM halls WHERE code = $1)")
        .bind(&t.hall)
        .fetch_one(pool)
        .await?;
    let mut v = Violations::new();
    if !hall {
        v.add("hall", "is not a hall of the catalogue");
    }
    name_unknown_items(pool, &t.items, "items", &mut v).await?;
    v.into_result()?;
    let mut items = t.items.clone();
    items.sort();
    items.dedup();
    let row = sqlx::query(
        "INSERT INTO terminals (code, hall_code, name, items, created_by) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (code) DO NOTHING RETURNING code, hall_code, name, items, created_at",
    )
    .bind(&t.code)
    .bind(&t.hall)
    .bind(name)
    .bind(&items)
    .bind(&caller.sub)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| {
        Error::already_exists(
            "TERMINAL_EXISTS",
            format!("terminal {} already exists", t.code),
        )
    })?;
    terminal_from_row(&row)
}

pub async fn get_terminal(pool: &PgPool, code: &str) -> Result<pb::Terminal> {
    let row = sqlx::query(
        "SELECT code, hall_code, name, items, created_at FROM terminals WHERE code = $1",
    )
    .bind(code)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| {
        Error::not_found(
            "TERMINAL_NOT_FOUND",
            format!("no terminal has code {}", yiwang_kit::error::clip(code)),
        )
    })?;
    terminal_from_row(&row)
}

fn terminal_from_row(r: &sqlx::postgres::PgRow) -> Result<pb::Terminal> {
    Ok(pb::Terminal {
        code: r.try_get("code")?,
        hall: r.try_get("hall_code")?,
        name: r.try_get("name")?,
        items: r.try_get("items")?,
        created_at: Some(to_timestamp(r.try_get("created_at")?)),
    })
}

/// Adds a violation `field[i]` for each of `codes` that is not an item of the catalogue.
async fn name_unknown_items<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    codes: &[String],
    field: &str,
    v: &mut Violations,
) -> Result<()> {
    let known: std::collections::HashSet<String> =
        sqlx::query_scalar("SELECT code FROM items WHERE code = ANY($1)")
            .bind(codes)
            .fetch_all(executor)
            .await?
            .into_iter()
            .collect();
    for (i, c) in codes.iter().enumerate() {
        if !known.contains(c) {
            v.add(format!("{field}[{i}]"), "is not an item of the catalogue");
        }
    }
    Ok(())
}
