//! Citizen messages (领导信箱, 市民心声论坛): stored here, then each handed to the cases service
//! as a ticket (source `leader_mailbox` / `citizen_forum`) over gRPC exactly once — the ticket's
//! `request_id` is the message id, so a forward retried after a failure or by another replica
//! finds the first ticket. Contact data is sealed at rest and erased once the ticket holds it.
//! The departments answer the ticket; a final reviewer publishes the reviewed answer on the site.

use std::time::Duration;

use chrono::DateTime;
use sqlx::{PgPool, Row};
use tonic::transport::Channel;
use uuid::Uuid;
use yiwang_kit::auth::roles;
use yiwang_kit::crypto::DataKey;
use yiwang_kit::{Caller, Error, Result, Violations, page};
use yiwang_proto::cases::v1 as cases_pb;
use yiwang_proto::cases::v1::cases_service_client::CasesServiceClient;
use yiwang_proto::content::v1 as pb;

use crate::site;

pub const SOURCES: &[&str] = &["leader_mailbox", "citizen_forum"];
const AAD_NAME: &[u8] = b"content.contact_name";
const AAD_PHONE: &[u8] = b"content.contact_phone";

/// How the content service reaches the cases service, as the department system it is there.
#[derive(Clone)]
pub struct Cases {
    pub client: CasesServiceClient<Channel>,
    /// `YIWANG_SERVICE_TOKEN`, or one minted with the development secret; `None`: forwarding
    /// is off (messages wait, and the service says so at start-up).
    pub token: Option<String>,
}

impl Cases {
    fn request<T>(&self, message: T) -> Option<tonic::Request<T>> {
        let token = self.token.as_ref()?;
        let mut req = tonic::Request::new(message);
        req.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().ok()?);
        req.set_timeout(Duration::from_secs(10));
        Some(req)
    }
}

/// The rates of the tickets of each message source over [from, to), from the cases service's
/// statistics (as a system, the county's figures); None when it does not answer.
pub async fn ticket_rates(
    cases: &Cases,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) -> Option<std::collections::HashMap<String, cases_pb::TicketRates>> {
    let req = cases.request(cases_pb::GetCaseStatsRequest {
        from: Some(yiwang_kit::to_timestamp(from)),
        to: Some(yiwang_kit::to_timestamp(to)),
        ..Default::default()
    })?;
    match cases.client.clone().get_case_stats(req).await {
        Ok(r) => Some(r.into_inner().tickets_by_source.into_iter().collect()),
        Err(e) => {
            tracing::warn!(code = ?e.code(), "ticket rates unavailable from the cases service");
            None
        }
    }
}

pub fn not_found(id: impl std::fmt::Display) -> Error {
    Error::not_found("MESSAGE_NOT_FOUND", format!("message {id} does not exist"))
}

const COLUMNS: &str =
    "id, site_id, source, subject, body, submitted_by, ticket_id, answer, answered_at, created_at";

struct MessageRow {
    m: pb::Message,
    submitted_by: String,
    ticket_id: Option<Uuid>,
}

fn row_of(r: &sqlx::postgres::PgRow) -> Result<MessageRow> {
    let ticket_id: Option<Uuid> = r.try_get("ticket_id")?;
    Ok(MessageRow {
        submitted_by: r.try_get("submitted_by")?,
        ticket_id,
        m: pb::Message {
            id: r.try_get::<Uuid, _>("id")?.to_string(),
            site_id: r.try_get("site_id")?,
            source: r.try_get("source")?,
            subject: r.try_get("subject")?,
            body: r.try_get("body")?,
            state: if ticket_id.is_some() {
                "forwarded"
            } else {
                "received"
            }
            .into(),
            ticket_id: ticket_id.map(|t| t.to_string()).unwrap_or_default(),
            answer: r.try_get("answer")?,
            answered_at: yiwang_kit::opt_timestamp(r.try_get("answered_at")?),
            created_at: yiwang_kit::opt_timestamp(Some(r.try_get("created_at")?)),
            ..Default::default()
        },
    })
}

fn is_staff(c: &Caller) -> bool {
    c.has_any_role(&[
        roles::CONTENT_ADMIN,
        roles::CONTENT_FIRST_REVIEWER,
        roles::CONTENT_SECOND_REVIEWER,
        roles::CONTENT_FINAL_REVIEWER,
    ])
}

pub async fn submit(
    pool: &PgPool,
    key: &DataKey,
    cases: &Cases,
    c: &Caller,
    r: pb::SubmitMessageRequest,
) -> Result<pb::Message> {
    let mut v = Violations::new();
    v.one_of("source", &r.source, SOURCES);
    let subject = v.text("subject", &r.subject, true, 200);
    let body = v.text("body", &r.body, true, 5000);
    let name = v.text("contact_name", &r.contact_name, true, 50);
    let phone = v.text("contact_phone", &r.contact_phone, true, 20);
    if !phone.is_empty() {
        v.check("contact_phone", yiwang_kit::ids::check_mobile(&phone));
    }
    let request_id = v.text("request_id", &r.request_id, false, 100);
    v.into_result()?;
    site::ensure_site(pool, &r.site_id).await?;
    let id = Uuid::now_v7();
    let inserted = sqlx::query(
        "INSERT INTO messages (id, site_id, source, subject, body, submitted_by, contact_name_sealed,
             contact_phone_sealed, request_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (submitted_by, request_id) WHERE request_id <> '' DO NOTHING",
    )
    .bind(id)
    .bind(&r.site_id)
    .bind(&r.source)
    .bind(&subject)
    .bind(&body)
    .bind(&c.sub)
    .bind(key.seal(&name, AAD_NAME))
    .bind(key.seal(&phone, AAD_PHONE))
    .bind(&request_id)
    .execute(pool)
    .await?
    .rows_affected();
    let id = if inserted == 1 {
        // Handed on at once when the cases service answers; else the sweeper does it later.
        if let Err(e) = forward(pool, key, cases, id).await {
            tracing::warn!(error = %e, message = %id, "message not forwarded yet; will retry");
        }
        id
    } else {
        sqlx::query_scalar("SELECT id FROM messages WHERE submitted_by = $1 AND request_id = $2")
            .bind(&c.sub)
            .bind(&request_id)
            .fetch_one(pool)
            .await?
    };
    get_row(pool, id).await.map(|r| r.m)
}

async fn get_row(pool: &PgPool, id: Uuid) -> Result<MessageRow> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM messages WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| not_found(id))?;
    row_of(&row)
}

/// Creates the message's ticket (once: the request id is the message's), records it and
/// erases the contact data. Row-locked, so two replicas never forward one message at once.
pub async fn forward(pool: &PgPool, key: &DataKey, cases: &Cases, id: Uuid) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let Some(r) = sqlx::query(
        "SELECT site_id, source, subject, body, contact_name_sealed, contact_phone_sealed
           FROM messages WHERE id = $1 AND ticket_id IS NULL FOR UPDATE SKIP LOCKED",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(false);
    };
    let open = |field: &str, aad: &[u8]| -> Result<String> {
        let sealed: Option<Vec<u8>> = r.try_get(field)?;
        key.open(sealed.as_deref().unwrap_or_default(), aad)
            .map_err(Error::internal)
    };
    let source: String = r.try_get("source")?;
    let Some(req) = cases.request(cases_pb::CreateTicketRequest {
        kind: "web_message".into(),
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        request_id: format!("content-message-{id}"),
        source: source.clone(),
        contact_name: open("contact_name_sealed", AAD_NAME)?,
        contact_phone: open("contact_phone_sealed", AAD_PHONE)?,
        about_staff: String::new(),
    }) else {
        return Err(Error::unavailable(
            "forwarding to the cases service is not configured (YIWANG_SERVICE_TOKEN)",
        ));
    };
    let ticket = match cases.client.clone().create_ticket(req).await {
        Ok(t) => t.into_inner(),
        Err(status) => {
            let e = Error::dependency("cases", "message", &status);
            sqlx::query("UPDATE messages SET forward_error = $2 WHERE id = $1")
                .bind(id)
                .bind(yiwang_kit::error::clip(&e.message).to_string())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Err(e);
        }
    };
    let ticket_id = Uuid::parse_str(&ticket.id).map_err(Error::internal)?;
    sqlx::query(
        "UPDATE messages SET ticket_id = $2, contact_name_sealed = NULL, contact_phone_sealed = NULL,
                forward_error = '' WHERE id = $1",
    )
    .bind(id)
    .bind(ticket_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    metrics::counter!("yiwang_content_messages_forwarded_total", "source" => source).increment(1);
    Ok(true)
}

/// Forwards what is still waiting (the cases service was down, or a replica died mid-way).
pub async fn forward_waiting(pool: &PgPool, key: &DataKey, cases: &Cases) -> Result<usize> {
    if cases.token.is_none() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM messages WHERE ticket_id IS NULL ORDER BY created_at LIMIT 100",
    )
    .fetch_all(pool)
    .await?;
    let mut n = 0;
    for id in ids {
        match forward(pool, key, cases, id).await {
            Ok(true) => n += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "message forwarding failed; will retry");
                break;
            }
        }
    }
    Ok(n)
}

fn message_id(id: &str) -> Result<Uuid> {
    Uuid::parse_str(id.trim()).map_err(|_| not_found(yiwang_kit::error::clip(id)))
}

/// The submitter and the site's staff: the message with its ticket's state and reply.
pub async fn get(pool: &PgPool, cases: &Cases, c: &Caller, id: &str) -> Result<pb::Message> {
    c.require_authenticated()?;
    let row = get_row(pool, message_id(id)?).await?;
    if row.submitted_by != c.sub && !is_staff(c) {
        return Err(not_found(id));
    }
    let mut m = row.m;
    if let Some(ticket_id) = row.ticket_id
        && let Some(req) = cases.request(cases_pb::GetTicketRequest {
            id: ticket_id.to_string(),
        })
        && let Ok(t) = cases.client.clone().get_ticket(req).await
    {
        let t = t.into_inner();
        m.ticket_state = t.state;
        m.reply = t.reply;
    }
    Ok(m)
}

pub async fn publish_answer(
    pool: &PgPool,
    cases: &Cases,
    c: &Caller,
    r: pb::PublishAnswerRequest,
) -> Result<pb::Message> {
    c.require_any_role(&[roles::CONTENT_FINAL_REVIEWER])?;
    let mut v = Violations::new();
    let answer = v.text("answer", &r.answer, false, 5000);
    v.into_result()?;
    let current = get(pool, cases, c, &r.id).await?;
    if current.ticket_state != "replied"
        && current.ticket_state != "called_back"
        && current.ticket_state != "closed"
    {
        return Err(Error::failed_precondition(
            "MESSAGE_NOT_ANSWERED",
            format!(
                "message {} has no reply from the departments yet (ticket {})",
                r.id,
                if current.ticket_state.is_empty() {
                    "not created"
                } else {
                    &current.ticket_state
                }
            ),
        ));
    }
    let answer = if answer.is_empty() {
        current.reply.clone()
    } else {
        answer
    };
    sqlx::query(
        "UPDATE messages SET answer = $2, answered_by = $3, answered_at = now() WHERE id = $1",
    )
    .bind(message_id(&r.id)?)
    .bind(&answer)
    .bind(&c.sub)
    .execute(pool)
    .await?;
    get(pool, cases, c, &r.id).await
}

pub async fn list_published(
    pool: &PgPool,
    r: &pb::ListPublishedMessagesRequest,
) -> Result<pb::ListMessagesResponse> {
    site::ensure_site(pool, &r.site_id).await?;
    let limit = page::page_size(r.page_size)?;
    let filters = page::fingerprint(&[&r.site_id]);
    let (at, after) = page::decode_newest_first(&r.page_token, filters)?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM messages
          WHERE site_id = $1 AND answered_at IS NOT NULL
            AND ($2::timestamptz IS NULL OR (answered_at, id) < ($2, $3))
          ORDER BY answered_at DESC, id DESC LIMIT $4"
    )))
    .bind(&r.site_id)
    .bind(at)
    .bind(after)
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    let mut messages = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut m = row_of(row)?.m;
        // The public sees the question and the published answer, nothing of the case work.
        m.ticket_id.clear();
        m.state.clear();
        messages.push(m);
    }
    let next_page_token = page::next_token(&mut messages, limit, filters, |m| {
        let at = m
            .answered_at
            .as_ref()
            .and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
            .unwrap_or_default();
        page::newest_first_key(at, Uuid::parse_str(&m.id).unwrap_or_default())
    });
    Ok(pb::ListMessagesResponse {
        messages,
        next_page_token,
    })
}
