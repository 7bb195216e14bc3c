//! The inbox's SQL: notifications delivered exactly once per event, listed newest first, read
//! back after a stream cursor in the order they were numbered, and read marks per person.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};
use uuid::Uuid;
use yiwang_kit::outbox::{self, Event};
use yiwang_kit::{Error, Result};

use crate::cursor::Cursor;
use crate::notify::{self, Notice};

/// The consumer name the inbox records processed events under.
pub const CONSUMER: &str = "inbox";
/// Published (through this service's outbox) after each delivery: every replica wakes the
/// streams of the recipients named.
pub const CREATED: &str = "inbox.notification.created";

/// Whose inbox a caller reads: their own, and their unit's if they are its staff.
#[derive(Debug, Clone)]
pub struct Inbox {
    pub reader: String,
    pub personal: String,
    pub unit: Option<String>,
}

impl Inbox {
    /// The recipient keys, the unit's (or one that matches nothing) second.
    fn keys(&self) -> (&str, &str) {
        (
            self.personal.as_str(),
            self.unit.as_deref().unwrap_or("unit:"),
        )
    }
}

#[derive(Debug, Clone)]
pub struct NotificationRow {
    pub id: Uuid,
    pub recipient: String,
    pub seq: i64,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub subject_type: String,
    pub subject_id: String,
    pub subject_number: String,
    pub details: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "n.id, n.recipient, n.seq, n.kind, n.title, n.body, n.subject_type, n.subject_id, \
    n.subject_number, n.details, n.created_at, r.read_at";

fn from_row(r: &sqlx::postgres::PgRow) -> Result<NotificationRow> {
    Ok(NotificationRow {
        id: r.try_get("id")?,
        recipient: r.try_get("recipient")?,
        seq: r.try_get("seq")?,
        kind: r.try_get("kind")?,
        title: r.try_get("title")?,
        body: r.try_get("body")?,
        subject_type: r.try_get("subject_type")?,
        subject_id: r.try_get("subject_id")?,
        subject_number: r.try_get("subject_number")?,
        details: r.try_get("details")?,
        created_at: r.try_get("created_at")?,
        read_at: r.try_get("read_at")?,
    })
}

/// Puts an event's notifications in their inboxes, once: the event id is recorded in the same
/// transaction. Returns the recipient keys told (empty if the event was seen before or tells
/// nobody).
pub async fn deliver(pool: &PgPool, event: &Event) -> Result<Vec<String>> {
    let mut notices: Vec<Notice> = notify::notices(&event.topic, &event.payload);
    let Some(mut tx) = outbox::begin_once(pool, CONSUMER, event.id).await? else {
        return Ok(Vec::new());
    };
    // Heads are locked in one order, so two deliveries never wait on each other in a circle.
    notices.sort_by(|a, b| a.recipient.cmp(&b.recipient));
    let mut told: Vec<String> = Vec::new();
    for n in &notices {
        let key = n.recipient.key();
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO inbox_heads (recipient, last_seq) VALUES ($1, 1)
             ON CONFLICT (recipient) DO UPDATE SET last_seq = inbox_heads.last_seq + 1
             RETURNING last_seq",
        )
        .bind(&key)
        .fetch_one(&mut *tx)
        .await?;
        // clock_timestamp(), not now(): taken after the head's lock, so a recipient's times
        // rise with their numbers.
        sqlx::query(
            "INSERT INTO notifications (id, recipient, seq, event_id, topic, kind, title, body,
                 subject_type, subject_id, subject_number, details, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, clock_timestamp())",
        )
        .bind(Uuid::now_v7())
        .bind(&key)
        .bind(seq)
        .bind(event.id)
        .bind(&event.topic)
        .bind(n.kind)
        .bind(&n.title)
        .bind(&n.body)
        .bind(n.subject_type)
        .bind(&n.subject_id)
        .bind(&n.subject_number)
        .bind(&n.details)
        .execute(&mut *tx)
        .await?;
        if !told.contains(&key) {
            told.push(key);
        }
    }
    if !told.is_empty() {
        outbox::enqueue(&mut tx, CREATED, &serde_json::json!({"recipients": told})).await?;
    }
    tx.commit().await?;
    metrics::counter!("yiwang_inbox_notifications_total").increment(notices.len() as u64);
    Ok(told)
}

/// Where the inbox stands now (committed notifications only).
pub async fn head(pool: &PgPool, inbox: &Inbox) -> Result<Cursor> {
    let (p, u) = inbox.keys();
    let rows =
        sqlx::query("SELECT recipient, last_seq FROM inbox_heads WHERE recipient IN ($1, $2)")
            .bind(p)
            .bind(u)
            .fetch_all(pool)
            .await?;
    let mut c = Cursor::default();
    for r in rows {
        let key: String = r.try_get("recipient")?;
        let seq: i64 = r.try_get("last_seq")?;
        if key == p {
            c.personal = seq;
        } else {
            c.unit = seq;
        }
    }
    Ok(c)
}

pub struct Filter<'a> {
    pub unread_only: bool,
    pub kinds: &'a [String],
}

/// Newest first; `after` is the (created_at, id) of the last row of the previous page.
pub async fn list(
    pool: &PgPool,
    inbox: &Inbox,
    filter: &Filter<'_>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<NotificationRow>> {
    let (p, u) = inbox.keys();
    let (at, id) = after.unzip();
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM notifications n
           LEFT JOIN notification_reads r ON r.notification_id = n.id AND r.reader = $3
          WHERE n.recipient IN ($1, $2)
            AND ($4::timestamptz IS NULL OR (n.created_at, n.id) < ($4, $5))
            AND (NOT $6 OR r.read_at IS NULL)
            AND (cardinality($7::text[]) = 0 OR n.kind = ANY($7))
          ORDER BY n.created_at DESC, n.id DESC
          LIMIT $8"
    )))
    .bind(p)
    .bind(u)
    .bind(&inbox.reader)
    .bind(at)
    .bind(id)
    .bind(filter.unread_only)
    .bind(filter.kinds)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

pub async fn unread_count(pool: &PgPool, inbox: &Inbox) -> Result<i64> {
    let (p, u) = inbox.keys();
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM notifications n
          WHERE n.recipient IN ($1, $2)
            AND NOT EXISTS (SELECT 1 FROM notification_reads r
                             WHERE r.reader = $3 AND r.notification_id = n.id)",
    )
    .bind(p)
    .bind(u)
    .bind(&inbox.reader)
    .fetch_one(pool)
    .await?)
}

/// The notifications after `cursor`, oldest first, each recipient's in the order of their
/// numbers (so that a cursor taken between any two of them resumes without gaps or repeats).
pub async fn since(
    pool: &PgPool,
    inbox: &Inbox,
    cursor: Cursor,
    limit: i64,
) -> Result<Vec<NotificationRow>> {
    let (p, u) = inbox.keys();
    let fetch = |key: &str, after: i64| {
        let key = key.to_string();
        async move {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM notifications n
                   LEFT JOIN notification_reads r ON r.notification_id = n.id AND r.reader = $3
                  WHERE n.recipient = $1 AND n.seq > $2
                  ORDER BY n.seq LIMIT $4"
            )))
            .bind(&key)
            .bind(after)
            .bind(&inbox.reader)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter().map(from_row).collect::<Result<Vec<_>>>()
        }
    };
    let mine = fetch(p, cursor.personal).await?;
    let unit = if inbox.unit.is_some() {
        fetch(u, cursor.unit).await?
    } else {
        Vec::new()
    };
    // Merge the two by time; each keeps its own order.
    let mut out = Vec::with_capacity(mine.len() + unit.len());
    let (mut a, mut b) = (mine.into_iter().peekable(), unit.into_iter().peekable());
    loop {
        let take_a = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => x.created_at <= y.created_at,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        out.extend(if take_a { a.next() } else { b.next() });
    }
    Ok(out)
}

/// One notification of the inbox, or NOTIFICATION_NOT_FOUND (also for someone else's).
pub async fn get(pool: &PgPool, inbox: &Inbox, id: Uuid) -> Result<NotificationRow> {
    let (p, u) = inbox.keys();
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM notifications n
           LEFT JOIN notification_reads r ON r.notification_id = n.id AND r.reader = $3
          WHERE n.id = $4 AND n.recipient IN ($1, $2)"
    )))
    .bind(p)
    .bind(u)
    .bind(&inbox.reader)
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| not_found(id))?;
    from_row(&row)
}

pub fn not_found(id: impl std::fmt::Display) -> Error {
    Error::not_found(
        "NOTIFICATION_NOT_FOUND",
        format!("notification {id} does not exist"),
    )
}

/// Marks one read or unread for the reader (idempotent).
pub async fn mark(pool: &PgPool, inbox: &Inbox, id: Uuid, read: bool) -> Result<NotificationRow> {
    get(pool, inbox, id).await?;
    if read {
        sqlx::query(
            "INSERT INTO notification_reads (notification_id, reader) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(&inbox.reader)
        .execute(pool)
        .await?;
    } else {
        sqlx::query("DELETE FROM notification_reads WHERE notification_id = $1 AND reader = $2")
            .bind(id)
            .bind(&inbox.reader)
            .execute(pool)
            .await?;
    }
    get(pool, inbox, id).await
}

/// Marks every notification up to `up_to` (all, if `None`) read; returns how many were unread.
pub async fn mark_all(pool: &PgPool, inbox: &Inbox, up_to: Option<Cursor>) -> Result<i64> {
    let (p, u) = inbox.keys();
    let (pu, uu) = up_to.map_or((i64::MAX, i64::MAX), |c| (c.personal, c.unit));
    let marked = sqlx::query(
        "INSERT INTO notification_reads (notification_id, reader)
         SELECT n.id, $3 FROM notifications n
          WHERE (n.recipient = $1 AND n.seq <= $4) OR (n.recipient = $2 AND n.seq <= $5)
         ON CONFLICT DO NOTHING",
    )
    .bind(p)
    .bind(u)
    .bind(&inbox.reader)
    .bind(pu)
    .bind(uu)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(marked as i64)
}
