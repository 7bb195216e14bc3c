//! Remediation notices (处置函): issued for an attributed incident to its owning unit →
//! acknowledged → reported (rectification report + commitment letter) → verified (or sent
//! back) → closed; overdue ones escalate once. And the firewall blocklist.

use chrono::{DateTime, Datelike, Utc};
use serde_json::json;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Row, Transaction};
use uuid::Uuid;
use yiwang_kit::error::{Error, Result};
use yiwang_kit::page;

use crate::incident::{self, audit};

/// Published when a notice passes its deadline unreported.
pub const NOTICE_OVERDUE: &str = "alerts.notice.overdue";
/// A 处置函 went to its unit (the inbox tells the unit's staff).
pub const NOTICE_ISSUED: &str = "alerts.notice.issued";

#[derive(Debug, Clone)]
pub struct NoticeRow {
    pub id: Uuid,
    pub number: String,
    pub incident_id: Uuid,
    pub unit_code: String,
    pub severity: String,
    pub state: String,
    pub note: String,
    pub deadline: DateTime<Utc>,
    pub escalation_level: i32,
    pub report: String,
    pub commitment_letter: String,
    pub reported_at: Option<DateTime<Utc>>,
    pub verify_note: String,
    pub sent_back: i32,
    pub issued_by: String,
    pub issued_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub verified_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl NoticeRow {
    /// Not reported by its deadline, or reported after it.
    pub fn overdue(&self, now: DateTime<Utc>) -> bool {
        match self.reported_at {
            Some(r) => r > self.deadline,
            None => now > self.deadline && self.state != "closed",
        }
    }
}

const COLUMNS: &str = "id, number, incident_id, unit_code, severity, state, note, deadline, escalation_level, \
    report, commitment_letter, reported_at, verify_note, sent_back, issued_by, issued_at, acknowledged_at, \
    verified_at, closed_at";

fn notice(r: &PgRow) -> Result<NoticeRow, sqlx::Error> {
    Ok(NoticeRow {
        id: r.try_get("id")?,
        number: r.try_get("number")?,
        incident_id: r.try_get("incident_id")?,
        unit_code: r.try_get("unit_code")?,
        severity: r.try_get("severity")?,
        state: r.try_get("state")?,
        note: r.try_get("note")?,
        deadline: r.try_get("deadline")?,
        escalation_level: r.try_get("escalation_level")?,
        report: r.try_get("report")?,
        commitment_letter: r.try_get("commitment_letter")?,
        reported_at: r.try_get("reported_at")?,
        verify_note: r.try_get("verify_note")?,
        sent_back: r.try_get("sent_back")?,
        issued_by: r.try_get("issued_by")?,
        issued_at: r.try_get("issued_at")?,
        acknowledged_at: r.try_get("acknowledged_at")?,
        verified_at: r.try_get("verified_at")?,
        closed_at: r.try_get("closed_at")?,
    })
}

pub fn not_found(id: impl std::fmt::Display) -> Error {
    Error::not_found("NOTICE_NOT_FOUND", format!("notice {id} not found"))
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<NoticeRow> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM notices WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(notice(&row.ok_or_else(|| not_found(id))?)?)
}

pub async fn by_request(pool: &PgPool, request_key: &str) -> Result<Option<NoticeRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM notices WHERE request_key = $1"
    )))
    .bind(request_key)
    .fetch_optional(pool)
    .await?;
    Ok(row.as_ref().map(notice).transpose()?)
}

/// What issuing a notice needs beyond the incident.
pub struct Issue<'a> {
    pub incident_id: Uuid,
    pub note: &'a str,
    pub deadline: DateTime<Utc>,
    pub actor: &'a str,
    pub request_key: Option<&'a str>,
    /// Auto-block on a host-compromise incident, for this many days: the unit's compromised
    /// host (until the notice is closed) and/or the external peer it talked to. Never an
    /// address of the allow-list (the network's gateways); a peer only if outside the asset
    /// register (our own network).
    pub auto_block_days: Option<u32>,
    pub block_host: bool,
    pub block_peer: bool,
    pub allowlist: &'a [String],
}

/// Issues the notice of an open, attributed incident (one notice per incident: of two issuers
/// at once, one wins and the other is told the incident's state).
pub async fn issue(pool: &PgPool, is: Issue<'_>) -> Result<(NoticeRow, Option<BlockRow>)> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query(
        "SELECT state, unit_code, severity, category, host(peer_ip) AS peer, host(asset_ip) AS asset
           FROM incidents WHERE id = $1 FOR UPDATE",
    )
    .bind(is.incident_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| incident::not_found(is.incident_id))?;
    let state: String = row.try_get("state")?;
    let unit: Option<String> = row.try_get("unit_code")?;
    let severity: String = row.try_get("severity")?;
    let category: String = row.try_get("category")?;
    let peer: String = row.try_get("peer")?;
    let asset: String = row.try_get("asset")?;
    if state != "open" {
        return Err(Error::failed_precondition(
            "INCIDENT_NOT_OPEN",
            format!(
                "incident {} is {state}; a notice is issued for an open incident only",
                is.incident_id
            ),
        ));
    }
    let Some(unit) = unit else {
        return Err(Error::failed_precondition(
            "INCIDENT_UNATTRIBUTED",
            format!(
                "incident {} is unattributed: register the asset range covering it first, so the notice has a unit to go to",
                is.incident_id
            ),
        ));
    };
    let year = is
        .deadline
        .with_timezone(
            &chrono::FixedOffset::east_opt(8 * 3600)
                .unwrap_or(chrono::FixedOffset::east_opt(0).unwrap()),
        )
        .year();
    let seq: i32 = sqlx::query_scalar(
        "INSERT INTO notice_numbers (year, last) VALUES ($1, 1)
         ON CONFLICT (year) DO UPDATE SET last = notice_numbers.last + 1 RETURNING last",
    )
    .bind(year)
    .fetch_one(&mut *tx)
    .await?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO notices (id, number, incident_id, unit_code, severity, note, deadline, issued_by, request_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(format!("{year}-{seq:04}"))
    .bind(is.incident_id)
    .bind(&unit)
    .bind(&severity)
    .bind(is.note)
    .bind(is.deadline)
    .bind(is.actor)
    .bind(is.request_key)
    .fetch_one(&mut *tx)
    .await?;
    let n = notice(&row)?;
    sqlx::query("UPDATE incidents SET state = 'notified', updated_at = now() WHERE id = $1")
        .bind(is.incident_id)
        .execute(&mut *tx)
        .await?;
    audit(
        &mut tx,
        "notice",
        &n.id.to_string(),
        "issue",
        is.actor,
        json!({"number": n.number, "incident_id": is.incident_id, "unit_code": unit,
               "deadline": n.deadline, "to": "issued"}),
    )
    .await?;
    yiwang_kit::outbox::enqueue(
        &mut tx,
        NOTICE_ISSUED,
        &json!({"notice_id": n.id, "number": n.number, "incident_id": is.incident_id,
                "unit_code": unit, "severity": n.severity, "deadline": n.deadline}),
    )
    .await?;
    let mut blocked = None;
    if let Some(days) = is.auto_block_days
        && category == "host_compromised"
    {
        let expires_at = Utc::now() + chrono::Duration::days(days as i64);
        let host_ok = is.block_host && !allow_listed(&mut tx, &asset, is.allowlist).await?;
        if host_ok {
            // 封禁相关单位的问题IP: the unit's own compromised host, until it has rectified.
            blocked = insert_block(
                &mut tx,
                NewBlock {
                    cidr: &single(&asset),
                    reason: &format!("失陷主机，整改闭环后解除（处置函 {}）", n.number),
                    incident_id: Some(is.incident_id),
                    expires_at,
                    automatic: true,
                    target: "host",
                    actor: is.actor,
                },
            )
            .await
            .ok();
        }
        let internal: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM assets WHERE cidr >>= $1::inet)")
                .bind(&peer)
                .fetch_one(&mut *tx)
                .await?;
        if is.block_peer && !internal && !allow_listed(&mut tx, &peer, is.allowlist).await? {
            let peer_block = insert_block(
                &mut tx,
                NewBlock {
                    cidr: &single(&peer),
                    reason: &format!("主机失陷外联地址（处置函 {}）", n.number),
                    incident_id: Some(is.incident_id),
                    expires_at,
                    automatic: true,
                    target: "peer",
                    actor: is.actor,
                },
            )
            .await
            .ok();
            blocked = blocked.or(peer_block);
        }
    }
    tx.commit().await?;
    Ok((n, blocked))
}

/// Whether a range of the allow-list covers `addr`.
async fn allow_listed(
    tx: &mut Transaction<'_, Postgres>,
    addr: &str,
    allowlist: &[String],
) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM unnest($2::text[]) a WHERE a::cidr >>= $1::inet)",
    )
    .bind(addr)
    .bind(allowlist)
    .fetch_one(&mut **tx)
    .await?)
}

/// The one-address range of `addr`.
fn single(addr: &str) -> String {
    if addr.contains(':') {
        format!("{addr}/128")
    } else {
        format!("{addr}/32")
    }
}

/// Who acts on a notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Acknowledge,
    Report,
    Verify { passed: bool },
    Close,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Acknowledge => "acknowledge",
            Step::Report => "report",
            Step::Verify { .. } => "verify",
            Step::Close => "close",
        }
    }

    fn required_state(self) -> &'static str {
        match self {
            Step::Acknowledge => "issued",
            Step::Report => "acknowledged",
            Step::Verify { .. } => "reported",
            Step::Close => "verified",
        }
    }

    /// The unit acknowledges and reports; secops verify and close.
    pub fn by_unit(self) -> bool {
        matches!(self, Step::Acknowledge | Step::Report)
    }
}

/// One step under a row lock; `may` decides on the locked row whether the caller may.
pub async fn advance(
    pool: &PgPool,
    id: Uuid,
    step: Step,
    text: (&str, &str),
    actor: &str,
    may: impl FnOnce(&NoticeRow) -> Result<()>,
) -> Result<NoticeRow> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM notices WHERE id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| not_found(id))?;
    let current = notice(&row)?;
    may(&current)?;
    if current.state != step.required_state() {
        return Err(Error::failed_precondition(
            "NOTICE_STATE",
            format!(
                "notice {} is {}; {} needs it {}",
                current.number,
                current.state,
                step.name(),
                step.required_state()
            ),
        ));
    }
    let (a, b) = text;
    let sql = match step {
        Step::Acknowledge => {
            "UPDATE notices SET state = 'acknowledged', acknowledged_at = now(), updated_at = now() WHERE id = $1"
        }
        Step::Report => {
            "UPDATE notices SET state = 'reported', report = $2, commitment_letter = $3, reported_at = now(),
                    updated_at = now() WHERE id = $1"
        }
        Step::Verify { passed: true } => {
            "UPDATE notices SET state = 'verified', verify_note = $2, verified_at = now(), updated_at = now()
              WHERE id = $1"
        }
        // Sent back: the unit reports again; the deadline stands and the final report counts.
        Step::Verify { passed: false } => {
            "UPDATE notices SET state = 'acknowledged', verify_note = $2, reported_at = NULL,
                    sent_back = sent_back + 1, updated_at = now() WHERE id = $1"
        }
        Step::Close => {
            "UPDATE notices SET state = 'closed', closed_at = now(), updated_at = now() WHERE id = $1"
        }
    };
    sqlx::query(sql)
        .bind(id)
        .bind(a)
        .bind(b)
        .execute(&mut *tx)
        .await?;
    if step == Step::Close {
        sqlx::query("UPDATE incidents SET state = 'closed', updated_at = now() WHERE id = $1")
            .bind(current.incident_id)
            .execute(&mut *tx)
            .await?;
        // Verified and closed: the unit has rectified, so its host's block is lifted (in the
        // feed at once; the entry stays in the history with who lifted it and why).
        let lifted: Vec<(Uuid, String)> = sqlx::query_as(
            "UPDATE blocks SET lifted_at = now(), lifted_by = $2
              WHERE incident_id = $1 AND target = 'host' AND lifted_at IS NULL
              RETURNING id, cidr::text",
        )
        .bind(current.incident_id)
        .bind(format!("{actor} (处置函 {} closed)", current.number))
        .fetch_all(&mut *tx)
        .await?;
        for (block_id, cidr) in lifted {
            audit(
                &mut tx,
                "block",
                &block_id.to_string(),
                "lift",
                actor,
                json!({"cidr": cidr, "because": format!("notice {} closed", current.number)}),
            )
            .await?;
        }
    }
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM notices WHERE id = $1"
    )))
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    let after = notice(&row)?;
    audit(
        &mut tx,
        "notice",
        &id.to_string(),
        step.name(),
        actor,
        json!({"from": current.state, "to": after.state, "note": a}),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Escalates notices past their deadline unreported, each once (several replicas: SKIP LOCKED
/// gives each row to one of them), with an `alerts.notice.overdue` event in the same transaction.
pub async fn escalate_overdue(pool: &PgPool) -> Result<usize> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(
        "UPDATE notices SET escalation_level = 1, escalated_at = now(), updated_at = now()
          WHERE id IN (SELECT id FROM notices
                        WHERE reported_at IS NULL AND escalation_level = 0 AND deadline < now()
                          AND state IN ('issued', 'acknowledged')
                        ORDER BY deadline LIMIT 500 FOR UPDATE SKIP LOCKED)
          RETURNING id, number, incident_id, unit_code, severity, deadline",
    )
    .fetch_all(&mut *tx)
    .await?;
    for r in &rows {
        let id: Uuid = r.try_get("id")?;
        let payload = json!({
            "notice_id": id, "number": r.try_get::<String, _>("number")?,
            "incident_id": r.try_get::<Uuid, _>("incident_id")?,
            "unit_code": r.try_get::<String, _>("unit_code")?,
            "severity": r.try_get::<String, _>("severity")?,
            "deadline": r.try_get::<DateTime<Utc>, _>("deadline")?,
        });
        yiwang_kit::outbox::enqueue(&mut tx, NOTICE_OVERDUE, &payload).await?;
        audit(
            &mut tx,
            "notice",
            &id.to_string(),
            "escalate",
            "system",
            json!({"escalation_level": 1}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(rows.len())
}

/// Newest first; `unit` limits to one unit (a unit's own staff always have it set).
pub async fn list(
    pool: &PgPool,
    unit: Option<&str>,
    state: &str,
    overdue: bool,
    page_size: i32,
    page_token: &str,
) -> Result<(Vec<NoticeRow>, String)> {
    let limit = page::page_size(page_size)?;
    let fp = page::fingerprint(&[
        "notices",
        unit.unwrap_or(""),
        state,
        if overdue { "1" } else { "" },
    ]);
    let (after_at, after_id) = page::decode_newest_first(page_token, fp)?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM notices
          WHERE ($1::text IS NULL OR unit_code = $1) AND ($2 = '' OR state = $2)
            AND (NOT $3 OR (reported_at IS NULL AND deadline < now() AND state <> 'closed') OR reported_at > deadline)
            AND ($4::timestamptz IS NULL OR (issued_at, id) < ($4, $5))
          ORDER BY issued_at DESC, id DESC LIMIT $6"
    )))
    .bind(unit)
    .bind(state)
    .bind(overdue)
    .bind(after_at)
    .bind(after_id)
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    let mut list = rows.iter().map(notice).collect::<Result<Vec<_>, _>>()?;
    let next = page::next_token(&mut list, limit, fp, |n| {
        page::newest_first_key(n.issued_at, n.id)
    });
    Ok((list, next))
}

#[derive(Debug, Clone)]
pub struct BlockRow {
    pub id: Uuid,
    pub cidr: String,
    pub reason: String,
    pub incident_id: Option<Uuid>,
    pub expires_at: DateTime<Utc>,
    pub automatic: bool,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub target: String,
    pub lifted_at: Option<DateTime<Utc>>,
    pub lifted_by: Option<String>,
}

const BLOCK_COLUMNS: &str = "id, cidr::text AS cidr, reason, incident_id, expires_at, automatic, created_by, created_at, \
     target, lifted_at, lifted_by";

fn block(r: &PgRow) -> Result<BlockRow, sqlx::Error> {
    Ok(BlockRow {
        id: r.try_get("id")?,
        cidr: r.try_get("cidr")?,
        reason: r.try_get("reason")?,
        incident_id: r.try_get("incident_id")?,
        expires_at: r.try_get("expires_at")?,
        automatic: r.try_get("automatic")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        target: r.try_get("target")?,
        lifted_at: r.try_get("lifted_at")?,
        lifted_by: r.try_get("lifted_by")?,
    })
}

pub struct NewBlock<'a> {
    pub cidr: &'a str,
    pub reason: &'a str,
    pub incident_id: Option<Uuid>,
    pub expires_at: DateTime<Utc>,
    pub automatic: bool,
    /// `host`, `peer` (automatic entries) or empty (by hand).
    pub target: &'a str,
    pub actor: &'a str,
}

/// Adds an entry, unless the range overlaps the allow-list (checked by the caller for manual
/// entries, here for automatic ones) or is already actively blocked.
pub async fn insert_block(tx: &mut Transaction<'_, Postgres>, b: NewBlock<'_>) -> Result<BlockRow> {
    // An expired entry of the same range is retired so the range can be blocked again.
    sqlx::query(
        "UPDATE blocks SET lifted_at = now(), lifted_by = 'expired'
          WHERE cidr = $1::cidr AND lifted_at IS NULL AND expires_at <= now()",
    )
    .bind(b.cidr)
    .execute(&mut **tx)
    .await?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO blocks (id, cidr, reason, incident_id, expires_at, automatic, created_by, target)
         VALUES ($1, $2::cidr, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (cidr) WHERE lifted_at IS NULL DO NOTHING RETURNING {BLOCK_COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(b.cidr)
    .bind(b.reason)
    .bind(b.incident_id)
    .bind(b.expires_at)
    .bind(b.automatic)
    .bind(b.actor)
    .bind(b.target)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| {
        Error::already_exists("ALREADY_BLOCKED", format!("{} is blocked already", b.cidr))
    })?;
    let entry = block(&row)?;
    audit(
        tx,
        "block",
        &entry.id.to_string(),
        "create",
        b.actor,
        json!({"cidr": entry.cidr, "reason": b.reason, "expires_at": b.expires_at, "automatic": b.automatic}),
    )
    .await?;
    Ok(entry)
}

pub async fn create_block(pool: &PgPool, b: NewBlock<'_>) -> Result<BlockRow> {
    let mut tx = pool.begin().await?;
    if let Some(id) = b.incident_id {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM incidents WHERE id = $1)")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        if !exists {
            return Err(Error::invalid("incident_id", "is not an incident"));
        }
    }
    let entry = insert_block(&mut tx, b).await?;
    tx.commit().await?;
    Ok(entry)
}

/// Every entry, lifted and expired ones too, newest first (at most `limit`).
pub async fn block_history(pool: &PgPool, limit: i64) -> Result<Vec<BlockRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {BLOCK_COLUMNS} FROM blocks ORDER BY created_at DESC, id DESC LIMIT $1"
    )))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(block).collect::<Result<_, _>>()?)
}

/// The active entries: not lifted, not expired.
pub async fn active_blocks(pool: &PgPool) -> Result<Vec<BlockRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {BLOCK_COLUMNS} FROM blocks WHERE lifted_at IS NULL AND expires_at > now() ORDER BY blocks.cidr"
    )))
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(block).collect::<Result<_, _>>()?)
}

pub async fn lift_block(pool: &PgPool, id: Uuid, actor: &str) -> Result<BlockRow> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE blocks SET lifted_at = now(), lifted_by = $2 WHERE id = $1 AND lifted_at IS NULL
         RETURNING {BLOCK_COLUMNS}"
    )))
    .bind(id)
    .bind(actor)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| Error::not_found("BLOCK_NOT_FOUND", format!("no active block entry {id}")))?;
    let entry = block(&row)?;
    audit(
        &mut tx,
        "block",
        &id.to_string(),
        "lift",
        actor,
        json!({"cidr": entry.cidr}),
    )
    .await?;
    tx.commit().await?;
    Ok(entry)
}
