//! Tickets from every door (涉企诉求, "办不成事" complaints, 网民留言, 领导信箱, 市民心声论坛,
//! 12345): intake (by the citizen in the app, or registered on their behalf by a window clerk or
//! a department system) → dispatch to one or more departments (分办), each with a working-day
//! reply deadline → each department replies (or transfers its part, 转办) → callback → closed.
//! Every step is recorded; unanswered parts past their deadline are announced once
//! (`cases.ticket.overdue`, which supervision turns into a 督办 notice).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};
use uuid::Uuid;
use yiwang_kit::{Error, Result, outbox, page};

use crate::case_store::Scope;

pub const KINDS: &[&str] = &["enterprise_request", "complaint", "web_message"];
pub const STATES: &[&str] = &["received", "dispatched", "replied", "called_back", "closed"];
/// Where a ticket came in: the app; the hall's 办不成事 or 涉企 window; the website's 领导信箱
/// and 市民心声论坛; the 12345 hotline.
pub const SOURCES: &[&str] = &[
    "app",
    "window_complaint",
    "window_enterprise",
    "leader_mailbox",
    "citizen_forum",
    "hotline_12345",
];
/// Departments one ticket is split to (分办) at most.
pub const MAX_DEPARTMENTS: usize = 10;

pub const TICKET_OVERDUE: &str = "cases.ticket.overdue";
/// Every department has replied: the submitter hears of it (the inbox).
pub const TICKET_REPLIED: &str = "cases.ticket.replied";

/// One department's part of a ticket.
#[derive(Debug, Clone)]
pub struct Assignment {
    pub department: String,
    pub reply_deadline: DateTime<Utc>,
    pub reply: String,
    pub replied_at: Option<DateTime<Utc>>,
    /// The department it was transferred from (转办), if it was.
    pub transferred_from: String,
}

impl Assignment {
    pub fn overdue(&self, now: DateTime<Utc>) -> bool {
        match self.replied_at {
            Some(r) => r > self.reply_deadline,
            None => now > self.reply_deadline,
        }
    }
}

#[derive(Debug, Clone)]
pub struct TicketRow {
    pub id: Uuid,
    pub kind: String,
    pub source: String,
    pub subject: String,
    pub body: String,
    pub state: String,
    pub submitted_by: String,
    /// The window clerk or system that registered it on the citizen's behalf ('' if the
    /// citizen did).
    pub registered_by: String,
    pub contact_name: String,
    pub contact_phone_sealed: Option<Vec<u8>>,
    /// The staff member a complaint names.
    pub about_staff: String,
    /// The first department it was dispatched to (the one department, unless split).
    pub department: String,
    pub reply_deadline: Option<DateTime<Utc>>,
    pub reply: String,
    pub replied_at: Option<DateTime<Utc>>,
    pub callback_note: String,
    pub callback_satisfied: bool,
    pub created_at: DateTime<Utc>,
    pub dispatched_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub assignments: Vec<Assignment>,
}

impl TicketRow {
    /// The ticket, or a part of it, not replied by its deadline, or replied after it.
    pub fn overdue(&self, now: DateTime<Utc>) -> bool {
        let whole = match (self.reply_deadline, self.replied_at) {
            (Some(d), Some(r)) => r > d,
            (Some(d), None) => now > d,
            _ => false,
        };
        whole || self.assignments.iter().any(|a| a.overdue(now))
    }

    pub fn assigned_to(&self, department: &str) -> bool {
        self.assignments.iter().any(|a| a.department == department)
    }
}

const COLUMNS: &str = "id, kind, source, subject, body, state, submitted_by, registered_by, contact_name, \
    contact_phone_sealed, about_staff, department, reply_deadline, reply, replied_at, callback_note, callback_satisfied, \
    created_at, dispatched_at, closed_at";

fn from_row(r: &sqlx::postgres::PgRow) -> Result<TicketRow> {
    Ok(TicketRow {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        source: r.try_get("source")?,
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        state: r.try_get("state")?,
        submitted_by: r.try_get("submitted_by")?,
        registered_by: r.try_get("registered_by")?,
        contact_name: r.try_get("contact_name")?,
        contact_phone_sealed: r.try_get("contact_phone_sealed")?,
        about_staff: r.try_get("about_staff")?,
        department: r.try_get("department")?,
        reply_deadline: r.try_get("reply_deadline")?,
        reply: r.try_get("reply")?,
        replied_at: r.try_get("replied_at")?,
        callback_note: r.try_get("callback_note")?,
        callback_satisfied: r.try_get("callback_satisfied")?,
        created_at: r.try_get("created_at")?,
        dispatched_at: r.try_get("dispatched_at")?,
        closed_at: r.try_get("closed_at")?,
        assignments: Vec::new(),
    })
}

/// The parts of these tickets, by ticket, in assignment order.
async fn assignments_of(
    conn: &mut sqlx::PgConnection,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Assignment>>> {
    let rows = sqlx::query(
        "SELECT ticket_id, department, reply_deadline, reply, replied_at, transferred_from
           FROM ticket_assignments WHERE ticket_id = ANY($1) ORDER BY ticket_id, assigned_at, department",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?;
    let mut by: HashMap<Uuid, Vec<Assignment>> = HashMap::new();
    for r in rows {
        by.entry(r.try_get("ticket_id")?)
            .or_default()
            .push(Assignment {
                department: r.try_get("department")?,
                reply_deadline: r.try_get("reply_deadline")?,
                reply: r.try_get("reply")?,
                replied_at: r.try_get("replied_at")?,
                transferred_from: r.try_get("transferred_from")?,
            });
    }
    Ok(by)
}

async fn attach(conn: &mut sqlx::PgConnection, tickets: &mut [TicketRow]) -> Result<()> {
    let ids: Vec<Uuid> = tickets.iter().map(|t| t.id).collect();
    let mut by = assignments_of(conn, &ids).await?;
    for t in tickets {
        t.assignments = by.remove(&t.id).unwrap_or_default();
    }
    Ok(())
}

pub fn not_found(id: Uuid) -> Error {
    Error::not_found("TICKET_NOT_FOUND", format!("ticket {id} does not exist"))
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<TicketRow> {
    let mut conn = pool.acquire().await?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM tickets WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| not_found(id))?;
    let mut t = [from_row(&row)?];
    attach(&mut conn, &mut t).await?;
    let [t] = t;
    Ok(t)
}

/// A ticket as it comes in, validated by the API layer.
pub struct NewTicket<'a> {
    pub kind: &'a str,
    pub source: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    /// Whose ticket it is: the citizen's account, or the registering clerk/system's.
    pub submitted_by: &'a str,
    pub registered_by: &'a str,
    pub contact_name: &'a str,
    pub contact_phone_sealed: Option<Vec<u8>>,
    pub request_id: &'a str,
    pub about_staff: &'a str,
}

pub async fn create(pool: &PgPool, n: NewTicket<'_>) -> Result<TicketRow> {
    let id = Uuid::now_v7();
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO tickets (id, kind, source, subject, body, state, submitted_by, registered_by,
                              contact_name, contact_phone_sealed, request_id, about_staff)
         VALUES ($1,$2,$3,$4,$5,'received',$6,$7,$8,$9,$10,$11) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(n.kind)
    .bind(n.source)
    .bind(n.subject)
    .bind(n.body)
    .bind(n.submitted_by)
    .bind(n.registered_by)
    .bind(n.contact_name)
    .bind(&n.contact_phone_sealed)
    .bind(n.request_id)
    .bind(n.about_staff)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        drop(tx);
        let first: Uuid = sqlx::query_scalar(
            "SELECT id FROM tickets WHERE submitted_by = $1 AND request_id = $2",
        )
        .bind(n.submitted_by)
        .bind(n.request_id)
        .fetch_one(pool)
        .await?;
        return get(pool, first).await;
    }
    record(
        &mut tx,
        id,
        n.submitted_by,
        "create",
        "",
        "received",
        n.source,
    )
    .await?;
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
        Scope::Owner(s) => (
            "(submitted_by = $1 OR registered_by = $1)",
            s.as_str(),
            "owner",
        ),
        Scope::Department(d) => (
            "EXISTS (SELECT 1 FROM ticket_assignments a WHERE a.ticket_id = tickets.id AND a.department = $1)",
            d.as_str(),
            "department",
        ),
        Scope::All => ("$1 = ''", "", "all"),
    };
    let fp = page::fingerprint(&["tickets", name, scope_val, state, kind]);
    let (after_at, after_id) = page::decode_newest_first(page_token, fp)?;
    let mut conn = pool.acquire().await?;
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
    .fetch_all(&mut *conn)
    .await?;
    let mut list = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    let next = page::next_token(&mut list, limit, fp, |t| {
        page::newest_first_key(t.created_at, t.id)
    });
    attach(&mut conn, &mut list).await?;
    Ok((list, next))
}

/// One step of a ticket.
pub enum Step<'a> {
    /// To one or more departments (分办), each with the same deadline.
    Dispatch {
        departments: &'a [String],
        deadline: DateTime<Utc>,
    },
    /// A department answers its part.
    Reply {
        department: &'a str,
        text: &'a str,
    },
    /// A department hands its unanswered part to another (转办); the deadline stays.
    Transfer {
        from: &'a str,
        to: &'a str,
        note: &'a str,
    },
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
            Step::Reply { .. } => "reply",
            Step::Transfer { .. } => "transfer",
            Step::Callback { .. } => "callback",
            Step::Close(_) => "close",
        }
    }
    fn from_state(&self) -> &'static str {
        match self {
            Step::Dispatch { .. } => "received",
            Step::Reply { .. } | Step::Transfer { .. } => "dispatched",
            Step::Callback { .. } => "replied",
            Step::Close(_) => "called_back",
        }
    }
}

/// Applies a step under the ticket's row lock; `may` checks the caller on the locked ticket
/// (with its parts).
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
    let mut t = [from_row(&row)?];
    attach(&mut tx, &mut t).await?;
    let [t] = t;
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
    let (to_state, note) = match &step {
        Step::Dispatch {
            departments,
            deadline,
        } => {
            sqlx::query(
                "UPDATE tickets SET state = 'dispatched', department = $2, reply_deadline = $3, dispatched_by = $4,
                    dispatched_at = now() WHERE id = $1",
            )
            .bind(id)
            .bind(&departments[0])
            .bind(deadline)
            .bind(actor)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO ticket_assignments (ticket_id, department, reply_deadline)
                 SELECT $1, unnest($2::text[]), $3",
            )
            .bind(id)
            .bind(*departments)
            .bind(deadline)
            .execute(&mut *tx)
            .await?;
            ("dispatched", departments.join(","))
        }
        Step::Reply { department, text } => {
            let part = t
                .assignments
                .iter()
                .find(|a| a.department == *department)
                .ok_or_else(|| not_found(id))?;
            if part.replied_at.is_some() {
                return Err(Error::failed_precondition(
                    "TICKET_STATE",
                    format!("{department} has replied to ticket {id} already"),
                ));
            }
            sqlx::query(
                "UPDATE ticket_assignments SET reply = $3, replied_by = $4, replied_at = now()
                  WHERE ticket_id = $1 AND department = $2",
            )
            .bind(id)
            .bind(department)
            .bind(text)
            .bind(actor)
            .execute(&mut *tx)
            .await?;
            // Replied when every department has: the ticket's reply is theirs together.
            let pending = t
                .assignments
                .iter()
                .filter(|a| a.department != *department && a.replied_at.is_none())
                .count();
            if pending == 0 {
                let answers: Vec<String> = t
                    .assignments
                    .iter()
                    .map(|a| {
                        let text = if a.department == *department {
                            *text
                        } else {
                            a.reply.as_str()
                        };
                        if t.assignments.len() == 1 {
                            text.to_string()
                        } else {
                            format!("【{}】{text}", a.department)
                        }
                    })
                    .collect();
                sqlx::query(
                    "UPDATE tickets SET state = 'replied', reply = $2, replied_by = $3, replied_at = now()
                      WHERE id = $1",
                )
                .bind(id)
                .bind(answers.join("\n"))
                .bind(actor)
                .execute(&mut *tx)
                .await?;
                // Registered by a window on someone's behalf: no account of theirs to tell.
                let submitter = if t.registered_by.is_empty() {
                    t.submitted_by.as_str()
                } else {
                    ""
                };
                outbox::enqueue(
                    &mut tx,
                    TICKET_REPLIED,
                    &serde_json::json!({"ticket_id": id, "subject": t.subject, "source": t.source,
                        "submitted_by": submitter}),
                )
                .await?;
                ("replied", department.to_string())
            } else {
                ("dispatched", department.to_string())
            }
        }
        Step::Transfer { from, to, note } => {
            if t.assigned_to(to) {
                return Err(Error::invalid(
                    "to_department",
                    "already has a part of this ticket",
                ));
            }
            let moved = sqlx::query(
                "UPDATE ticket_assignments SET department = $3, transferred_from = $2
                  WHERE ticket_id = $1 AND department = $2 AND replied_at IS NULL",
            )
            .bind(id)
            .bind(from)
            .bind(to)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if moved == 0 {
                return Err(Error::failed_precondition(
                    "TICKET_STATE",
                    format!("{from} has no unanswered part of ticket {id} to transfer"),
                ));
            }
            sqlx::query("UPDATE tickets SET department = $3 WHERE id = $1 AND department = $2")
                .bind(id)
                .bind(from)
                .bind(to)
                .execute(&mut *tx)
                .await?;
            ("dispatched", format!("{from} → {to}: {note}"))
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
            ("called_back", note.to_string())
        }
        Step::Close(note) => {
            sqlx::query(
                "UPDATE tickets SET state = 'closed', close_note = $2, closed_at = now() WHERE id = $1",
            )
            .bind(id)
            .bind(note)
            .execute(&mut *tx)
            .await?;
            ("closed", note.to_string())
        }
    };
    record(&mut tx, id, actor, step.name(), &t.state, to_state, &note).await?;
    tx.commit().await?;
    get(pool, id).await
}

/// Announces every part past its reply deadline without a reply, once each (`cases.ticket.
/// overdue`; supervision opens a 督办 notice), in one transaction; rows another replica is
/// sweeping are skipped.
pub async fn sweep_overdue(pool: &PgPool) -> Result<usize> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(
        "WITH due AS (
            SELECT ticket_id, department FROM ticket_assignments
             WHERE replied_at IS NULL AND reply_deadline < now() AND NOT overdue_notified
             ORDER BY reply_deadline LIMIT 500 FOR UPDATE SKIP LOCKED)
         UPDATE ticket_assignments a SET overdue_notified = true FROM due
          WHERE a.ticket_id = due.ticket_id AND a.department = due.department
         RETURNING a.ticket_id, a.department, a.reply_deadline,
                   (SELECT subject FROM tickets WHERE id = a.ticket_id) AS subject,
                   (SELECT source FROM tickets WHERE id = a.ticket_id) AS source",
    )
    .fetch_all(&mut *tx)
    .await?;
    for r in &rows {
        let ticket_id: Uuid = r.try_get("ticket_id")?;
        let department: String = r.try_get("department")?;
        let deadline: DateTime<Utc> = r.try_get("reply_deadline")?;
        let subject: String = r.try_get("subject")?;
        let source: String = r.try_get("source")?;
        outbox::enqueue(
            &mut tx,
            TICKET_OVERDUE,
            &serde_json::json!({"ticket_id": ticket_id, "department": department,
                "deadline": deadline, "subject": subject, "source": source}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(rows.len())
}
