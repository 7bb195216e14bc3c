//! The SQL of projects: create (idempotent), read, list by who may see what (keyset pages),
//! and every change under `SELECT … FOR UPDATE` with its audit record (and, for decisions, its
//! outbox event) in the same transaction.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Row, Transaction};
use uuid::Uuid;
use yiwang_kit::{Caller, Error, Result, outbox, page};

use crate::model::Project;

pub const PROJECT_DECIDED: &str = "projects.project.decided";

pub fn not_found(id: Uuid) -> Error {
    Error::not_found("PROJECT_NOT_FOUND", format!("project {id} does not exist"))
}

fn from_row(r: &sqlx::postgres::PgRow) -> Result<Project> {
    let doc: serde_json::Value = r.try_get("doc")?;
    serde_json::from_value(doc).map_err(Error::internal)
}

/// What a change did, for the audit record.
pub struct Change {
    pub action: &'static str,
    pub detail: serde_json::Value,
    /// An outbox event to publish with the change.
    pub event: Option<(&'static str, serde_json::Value)>,
}

impl Change {
    pub fn new(action: &'static str, detail: serde_json::Value) -> Self {
        Self {
            action,
            detail,
            event: None,
        }
    }
}

async fn write(tx: &mut Transaction<'_, Postgres>, p: &Project, insert: bool) -> Result<()> {
    let doc = serde_json::to_value(p).map_err(Error::internal)?;
    let experts: Vec<String> = p
        .panel
        .as_ref()
        .map(|panel| panel.experts.iter().map(|e| e.id.clone()).collect())
        .unwrap_or_default();
    let sql = if insert {
        "INSERT INTO projects (id, department, year, name, state, requested_fen, approved_fen, contract_fen,
             planned_acceptance_date, accepted_on, panel_experts, network_ranges, doc, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::text[]::cidr[], $13, $14, $15, $16)"
    } else {
        "UPDATE projects SET department = $2, year = $3, name = $4, state = $5, requested_fen = $6,
             approved_fen = $7, contract_fen = $8, planned_acceptance_date = $9, accepted_on = $10,
             panel_experts = $11, network_ranges = $12::text[]::cidr[], doc = $13, updated_at = $16
         WHERE id = $1 AND created_by = $14 AND created_at = $15"
    };
    sqlx::query(sql)
        .bind(p.id)
        .bind(&p.department)
        .bind(p.year)
        .bind(&p.name)
        .bind(&p.state)
        .bind(p.requested_fen())
        .bind(p.approved_fen())
        .bind(p.procurement.as_ref().map(|x| x.contract_amount_fen))
        .bind(p.planned_acceptance_date)
        .bind(p.accepted_on())
        .bind(&experts)
        .bind(&p.network_ranges)
        .bind(doc)
        .bind(&p.created_by)
        .bind(p.created_at)
        .bind(p.updated_at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn audit(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    caller: &Caller,
    action: &str,
    from: &str,
    to: &str,
    detail: &serde_json::Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO project_events (project_id, actor_sub, actor_name, action, from_state, to_state, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(&caller.sub)
    .bind(&caller.name)
    .bind(action)
    .bind(from)
    .bind(to)
    .bind(detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Stores a new project; a repeated `(caller, request_id)` returns the first one.
pub async fn create(
    pool: &PgPool,
    caller: &Caller,
    request_id: &str,
    p: Project,
) -> Result<Project> {
    let mut tx = pool.begin().await?;
    if !request_id.is_empty() {
        let claimed = sqlx::query(
            "INSERT INTO project_requests (caller, request_id, project_id) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(&caller.sub)
        .bind(request_id)
        .bind(p.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            tx.rollback().await?;
            let first: Uuid = sqlx::query_scalar(
                "SELECT project_id FROM project_requests WHERE caller = $1 AND request_id = $2",
            )
            .bind(&caller.sub)
            .bind(request_id)
            .fetch_one(pool)
            .await?;
            return get(pool, first).await;
        }
    }
    write(&mut tx, &p, true).await?;
    audit(
        &mut tx,
        p.id,
        caller,
        "create",
        "",
        &p.state,
        &serde_json::json!({"name": p.name, "requested_fen": p.requested_fen()}),
    )
    .await?;
    tx.commit().await?;
    Ok(p)
}

/// Inserts a finished project as it is (the demo), with one audit record.
pub async fn insert_as_is(pool: &PgPool, caller: &Caller, p: &Project, action: &str) -> Result<()> {
    let mut tx = pool.begin().await?;
    write(&mut tx, p, true).await?;
    audit(
        &mut tx,
        p.id,
        caller,
        action,
        "",
        &p.state,
        &serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<Project> {
    let row = sqlx::query("SELECT doc FROM projects WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| not_found(id))?;
    from_row(&row)
}

/// Changes one project under a row lock (of two admins deciding at once, exactly one wins; the
/// other sees the new state). `change` checks the caller and the state, edits the project and
/// says what it did; nothing is written if it fails.
pub async fn mutate(
    pool: &PgPool,
    id: Uuid,
    caller: &Caller,
    change: impl FnOnce(&mut Project) -> Result<Change>,
) -> Result<Project> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query("SELECT doc FROM projects WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| not_found(id))?;
    let mut p = from_row(&row)?;
    let from = p.state.clone();
    let c = change(&mut p)?;
    p.updated_at = Utc::now();
    write(&mut tx, &p, false).await?;
    audit(&mut tx, id, caller, c.action, &from, &p.state, &c.detail).await?;
    if let Some((topic, payload)) = &c.event {
        outbox::enqueue(&mut tx, topic, payload).await?;
    }
    tx.commit().await?;
    Ok(p)
}

/// Who sees which projects in a list.
pub enum Scope {
    All,
    Department(String),
    Expert(String),
}

pub async fn list(
    pool: &PgPool,
    scope: &Scope,
    year: i32,
    state: &str,
    department: &str,
    page_size: i32,
    page_token: &str,
) -> Result<(Vec<Project>, String)> {
    let limit = page::page_size(page_size)?;
    let (scope_kind, scope_value) = match scope {
        Scope::All => ("all", ""),
        Scope::Department(d) => ("department", d.as_str()),
        Scope::Expert(e) => ("expert", e.as_str()),
    };
    let year_s = year.to_string();
    let filters = page::fingerprint(&[scope_kind, scope_value, &year_s, state, department]);
    let (after_time, after_id) = page::decode_newest_first(page_token, filters)?;
    let rows = sqlx::query(
        "SELECT doc, created_at, id FROM projects
         WHERE ($1 = 'all' OR ($1 = 'department' AND department = $2) OR ($1 = 'expert' AND $2 = ANY(panel_experts)))
           AND ($3 = 0 OR year = $3) AND ($4 = '' OR state = $4) AND ($5 = '' OR department = $5)
           AND ($6::timestamptz IS NULL OR (created_at, id) < ($6, $7))
         ORDER BY created_at DESC, id DESC LIMIT $8",
    )
    .bind(scope_kind)
    .bind(scope_value)
    .bind(year)
    .bind(state)
    .bind(department)
    .bind(after_time)
    .bind(after_id)
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    let mut keyed: Vec<(Project, DateTime<Utc>, Uuid)> = rows
        .iter()
        .map(|r| Ok((from_row(r)?, r.try_get("created_at")?, r.try_get("id")?)))
        .collect::<Result<_>>()?;
    let next = page::next_token(&mut keyed, limit, filters, |(_, t, id)| {
        page::newest_first_key(*t, *id)
    });
    Ok((keyed.into_iter().map(|(p, _, _)| p).collect(), next))
}

/// The projects of a year past the draft (one department, or all with `""`), for the annual plan
/// and the statistics. A county has tens of projects a year; a province thousands.
pub async fn of_year(pool: &PgPool, year: i32, department: &str) -> Result<Vec<Project>> {
    let rows = sqlx::query(
        "SELECT doc FROM projects WHERE year = $1 AND ($2 = '' OR department = $2) AND state <> 'draft'
         ORDER BY department, name, id",
    )
    .bind(year)
    .bind(department)
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

pub struct Event {
    pub at: DateTime<Utc>,
    pub actor_sub: String,
    pub actor_name: String,
    pub action: String,
    pub from_state: String,
    pub to_state: String,
    pub detail: serde_json::Value,
}

pub async fn history(pool: &PgPool, id: Uuid) -> Result<Vec<Event>> {
    let rows = sqlx::query(
        "SELECT at, actor_sub, actor_name, action, from_state, to_state, detail
         FROM project_events WHERE project_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Event {
                at: r.try_get("at")?,
                actor_sub: r.try_get("actor_sub")?,
                actor_name: r.try_get("actor_name")?,
                action: r.try_get("action")?,
                from_state: r.try_get("from_state")?,
                to_state: r.try_get("to_state")?,
                detail: r.try_get("detail")?,
            })
        })
        .collect()
}

/// True when the database holds any project (the demo loads only into an empty one).
pub async fn any(pool: &PgPool) -> Result<bool> {
    Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM projects)")
        .fetch_one(pool)
        .await?)
}
