//! Tickets (涉企诉求, "办不成事" complaints, 网民留言): intake → dispatch to a department with a
//! working-day reply deadline → reply → callback → closed. Every step is recorded.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};
use uuid::Uuid;
use yiwang_kit::{Error, Result, page};

use crate::case_store::Scope;

pub const KINDS: &[&str] = &["enterprise_request", "complaint", "web_message"];
pub const STATES: &[&str] = &["received", "dispatched", "replied", "called_back", "closed"];

#[derive(Debug, Clone)]
pub struct TicketRow {
    pub id: Uuid,
    pub kind: String,
    pub subject: String,
    pub body: String,
    pub state: String,
    pub submitted_by: String,
    pub department: String,
    pub reply_deadline: Option<DateTime<Utc>>,
    pub reply: String,
    pub replied_at: Option<DateTime<Utc>>,
    pub callback_note: String,
    pub callback_satisfied: bool,
    pub created_at: DateTime<Utc>,
    pub dispatched_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl TicketRow {
    /// Not replied by the deadline, or replied after it.
    pub fn overdue(&self, now: DateTime<Utc>) -> bool {
        match (self.reply_deadline, self.replied_at) {
            (Some(d), Some(r)) => r > d,
            (Some(d), None) => now > d,
            _ => false,
        }
    }
}

const COLUMNS: &str = "id, kind, subject, body, state, submitted_by, department, reply_deadline, reply, replied_at, \
    callback_note, callback_satisfied, created_at, dispatched_at, closed_at";

fn from_row(r: &sqlx::postgres::PgRow) -> Result<TicketRow> {
    Ok(TicketRow {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        state: r.try_get("state")?,
        submitted_by: r.try_get("submitted_by")?,
        department: r.try_get("department")?,
        reply_deadline: r.try_get("reply_deadline")?,
        reply: r.try_get("reply")?,
        replied_at: r.try_get("replied_at")?,
        callback_note: r.try_get("callback_note")?,
        callback_satisfied: r.try_get("callback_satisfied")?,
        created_at: r.try_get("created_at")?,
        dispatched_at: r.try_get("dispatched_at")?,
        closed_at: r.try_get("closed_at")?,
    })
}

pub fn not_found(id: Uuid) -> Error {
    Error::not_found("TICKET_NOT_FOUND", format!("ticket {id} does not exist"))
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<TicketRow> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM tickets WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| not_found(id))?;
    from_row(&row)
}

pub async fn create(
    pool: &PgPool,
    kind: &str,
    subject: &str,
    body: &str,
    submitted_by: &str,
    request_id: &str,
) -> Result<TicketRow> {
    let id = Uuid::now_v7();
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO tickets (id, kind, subject, body, state, submitted_by, request_id)
         VALUES ($1,$2,$3,$4,'received',$5,$6) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(kind)
    .bind(subject)
    .bind(body)
    .bind(submitted_by)
    .bind(request_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        drop(tx);
        let first: Uuid = sqlx::query_scalar(
            "SELECT id FROM tickets WHERE submitted_by = $1 AND request_id = $2",
        )
        .bind(submitted_by)
        .bind(request_id)
        .fetch_one(pool)
        .await?;
        return get(pool, first).await;
    }
    record(&mut tx, id, submitted_by, "create", "", "received", "").await?;
    tx.commit().await?;
    get(pool, id).await
}

async fn record(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    id: Uuid,
    actor: &str,
    action: &str,
    from: &str,
    to: &str,
    note: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO ticket_events (ticket_id, actor, action, from_state, to_state, note) VALUES ($1,$2,$3,$4,$5,$6)",
    )
    .bind(id)
    .bind(actor)
    .bind(action)
    .bind(from)
    .bind(to)
    .bind(note)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn list(
    pool: &PgPool,
    scope: &Scope,
    state: &str,
    kind: &str,
    page_size: i32,
    page_token: &str,
) -> Result<(Vec<TicketRow>, String)> {
    let limit = page::page_size(page_size)?;
    let (scope_sql, scope_val, name) = match scope {
        Scope::Owner(s) => ("submitted_by = $1", s.as_str(), "owner"),
        Scope::Department(d) => ("department = $1", d.as_str(), "department"),
        Scope::All => ("$1 = ''", "", "all"),
    };
    let fp = page::fingerprint(&["tickets", name, scope_val, state, kind]);
    let (after_at, after_id) = page::decode_newest_first(page_token, fp)?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM tickets WHERE {scope_sql} AND ($2 = '' OR state = $2) AND ($3 = '' OR kind = $3)
           AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5))
         ORDER BY created_at DESC, id DESC LIMIT $6"
    )))
    .bind(scope_val)
    .bind(state)
    .bind(kind)
    .bind(after_at)
    .bind(after_id)
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    let mut list = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    let next = page::next_token(&mut list, limit, fp, |t| {
        page::newest_first_key(t.created_at, t.id)
    });
    Ok((list, next))
}

/// One step of a ticket.
pub enum Step<'a> {
    Dispatch {
        department: &'a str,
        deadline: DateTime<Utc>,
    },
    Reply(&'a str),
    Callback {
        note: &'a str,
        satisfied: bool,
    },
    Close(&'a str),
}

impl Step<'_> {
    fn name(&self) -> &'static str {
        match self {
            Step::Dispatch { .. } => "dispatch",
            Step::Reply(_) => "reply",
            Step::Callback { .. } => "callback",
            Step::Close(_) => "close",
        }
    }
    fn from_state(&self) -> &'static str {
        match self {
            Step::Dispatch { .. } => "received",
            Step::Reply(_) => "dispatched",
            Step::Callback { .. } => "replied",
            Step::Close(_) => "called_back",
        }
    }
    fn to_state(&self) -> &'static str {
        match self {
            Step::Dispatch { .. } => "dispatched",
            Step::Reply(_) => "replied",
            Step::Callback { .. } => "called_back",
            Step::Close(_) => "closed",
        }
    }
}

/// Applies a step under a row lock; `may` checks the caller on the locked ticket.
pub async fn advance(
    pool: &PgPool,
    id: Uuid,
    actor: &str,
    step: Step<'_>,
    may: impl FnOnce(&TicketRow) -> Result<()>,
) -> Result<TicketRow> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM tickets WHERE id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| not_found(id))?;
    let t = from_row(&row)?;
    may(&t)?;
    if t.state != step.from_state() {
        return Err(Error::failed_precondition(
            "TICKET_STATE",
            format!(
                "ticket {id} is {}; {} needs it to be {}",
                t.state,
                step.name(),
                step.from_state()
            ),
        )
        .with_metadata("state", t.state.clone()));
    }
    let note = match &step {
        Step::Dispatch {
            department,
            deadline,
        } => {
            sqlx::query(
                "UPDATE tickets SET state = 'dispatched', department = $2, reply_deadline = $3, dispatched_by = $4,
                    dispatched_at = now() WHERE id = $1",
            )
            .bind(id)
            .bind(department)
            .bind(deadline)
            .bind(actor)
            .execute(&mut *tx)
            .await?;
            department.to_string()
        }
        Step::Reply(text) => {
            sqlx::query(
                "UPDATE tickets SET state = 'replied', reply = $2, replied_by = $3, replied_at = now() WHERE id = $1",
            )
            .bind(id)
            .bind(text)
            .bind(actor)
            .execute(&mut *tx)
            .await?;
            String::new()
        }
        Step::Callback { note, satisfied } => {
            sqlx::query(
                "UPDATE tickets SET state = 'called_back', callback_note = $2, callback_satisfied = $3,
                    called_back_at = now() WHERE id = $1",
            )
            .bind(id)
            .bind(note)
            .bind(satisfied)
            .execute(&mut *tx)
            .await?;
            note.to_string()
        }
        Step::Close(note) => {
            sqlx::query(
                "UPDATE tickets SET state = 'closed', close_note = $2, closed_at = now() WHERE id = $1",
            )
            .bind(id)
            .bind(note)
            .execute(&mut *tx)
            .await?;
            note.to_string()
        }
    };
    record(
        &mut tx,
        id,
        actor,
        step.name(),
        &t.state,
        step.to_state(),
        &note,
    )
    .await?;
    tx.commit().await?;
    get(pool, id).await
}
