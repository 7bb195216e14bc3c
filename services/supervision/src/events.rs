//! Reactions to case events, each effect exactly once per event (kit::outbox::begin_once: the
//! event id is recorded in this database in the transaction of the effect):
//! - 审管联动: `cases.case.decided` with an approved outcome of a licence item (task type 01)
//!   for a legal person → the licensee in the entity register (added if new) and one follow-up
//!   supervision task;
//! - 督办: `cases.case.overdue` → one oversight notice to the handling department, tracked
//!   open → acknowledged → closed.
//!
//! Also the listings and transitions of tasks and notices.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};
use uuid::Uuid;
use yiwang_kit::auth::roles;
use yiwang_kit::outbox::{self, Consumer, Event};
use yiwang_kit::redis::Redis;
use yiwang_kit::{Caller, CancellationToken, Error, Result, Violations, ids, page};
use yiwang_proto::supervision::v1 as pb;

use crate::api::SupervisionApi;
use crate::{access, audit, request_fields};
use yiwang_kit::to_timestamp;

pub const CASE_DECIDED: &str = "cases.case.decided";
pub const CASE_OVERDUE: &str = "cases.case.overdue";
pub const TICKET_OVERDUE: &str = "cases.ticket.overdue";
pub const LICENCE_ISSUED: &str = "cases.licence.issued";
pub const LICENCE_REVOKED: &str = "cases.licence.revoked";
pub const REGISTER_CONSUMER: &str = "supervision.licence-register";
pub const GROUP: &str = "supervision";
pub const LICENCE_CONSUMER: &str = "supervision.licence-follow-up";
pub const OVERSIGHT_CONSUMER: &str = "supervision.oversight";
/// A 督办 notice was opened for a department (the inbox tells its staff).
pub const OVERSIGHT_OPENED: &str = "supervision.oversight.opened";

/// Consumes the case events until `shutdown`.
pub async fn consume(pool: PgPool, redis: Redis, shutdown: CancellationToken) {
    let consumer = Consumer {
        redis,
        group: GROUP.to_string(),
        name: yiwang_kit::outbox::consumer_name("supervision"),
        topics: vec![
            CASE_DECIDED.to_string(),
            CASE_OVERDUE.to_string(),
            TICKET_OVERDUE.to_string(),
            LICENCE_ISSUED.to_string(),
            LICENCE_REVOKED.to_string(),
        ],
        from_beginning: true,
    };
    consumer
        .run(shutdown, |event| {
            let pool = pool.clone();
            async move { handle(&pool, &event).await }
        })
        .await;
}

pub async fn handle(pool: &PgPool, event: &Event) -> Result<()> {
    match event.topic.as_str() {
        CASE_DECIDED => on_case_decided(pool, event).await.map(|_| ()),
        CASE_OVERDUE => on_case_overdue(pool, event).await.map(|_| ()),
        TICKET_OVERDUE => on_ticket_overdue(pool, event).await.map(|_| ()),
        LICENCE_ISSUED | LICENCE_REVOKED => on_licence(pool, event).await,
        _ => Ok(()),
    }
}

fn s<'a>(p: &'a serde_json::Value, k: &str) -> &'a str {
    p.get(k).and_then(|v| v.as_str()).unwrap_or("")
}

/// 审管联动. Returns the follow-up task created, if this delivery created one.
pub async fn on_case_decided(pool: &PgPool, event: &Event) -> Result<Option<Uuid>> {
    let p = &event.payload;
    let approved = matches!(s(p, "outcome"), "approved" | "approved_with_tolerance");
    let uscc = s(p, "applicant_uscc").trim().to_uppercase();
    if !approved
        || s(p, "task_type") != "01"
        || s(p, "applicant_kind") != "legal_person"
        || ids::check_uscc(&uscc).is_err()
    {
        return Ok(None);
    }
    let Ok(case_id) = Uuid::parse_str(s(p, "case_id")) else {
        tracing::warn!(event = %event.id, "cases.case.decided without a case id; skipped");
        return Ok(None);
    };
    let Some(mut tx) = outbox::begin_once(pool, LICENCE_CONSUMER, event.id).await? else {
        return Ok(None);
    };
    let name = match s(p, "applicant_name").trim() {
        "" => format!("持证主体 {uscc}"),
        n => n.to_string(),
    };
    // GB 32100: characters 3..9 are the registering authority's region code.
    let region = uscc.get(2..8).unwrap_or("").to_string();
    let entity_id: i64 = sqlx::query_scalar(
        "INSERT INTO entities (name, kind, uscc, industry, region, risk_level, source)
         VALUES ($1, 'legal_person', $2, $3, $4, 'medium', 'licence')
         ON CONFLICT (uscc) WHERE uscc <> '' DO UPDATE SET uscc = EXCLUDED.uscc
         RETURNING id",
    )
    .bind(&name)
    .bind(&uscc)
    .bind(s(p, "item_name"))
    .bind(&region)
    .fetch_one(&mut *tx)
    .await?;
    let task_id = Uuid::now_v7();
    let created = sqlx::query(
        "INSERT INTO tasks (id, source, case_id, case_number, item_code, item_name, department, entity_id, event_id)
         VALUES ($1, 'licence', $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (case_id) DO NOTHING",
    )
    .bind(task_id)
    .bind(case_id)
    .bind(s(p, "case_number"))
    .bind(s(p, "item_code"))
    .bind(s(p, "item_name"))
    .bind(s(p, "department"))
    .bind(entity_id)
    .bind(event.id)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if created {
        audit::record::<(), _>(
            &mut tx,
            "system:cases.case.decided",
            "create_task",
            &format!("task:{task_id}"),
            None,
            Some(&serde_json::json!({"case_id": case_id, "entity_id": entity_id})),
        )
        .await?;
    }
    tx.commit().await?;
    if created {
        tracing::info!(task = %task_id, case = %case_id, "follow-up supervision task created");
    }
    Ok(created.then_some(task_id))
}

/// The register learns of e-licences issued to legal persons and of their revocation, each
/// event once.
pub async fn on_licence(pool: &PgPool, event: &Event) -> Result<()> {
    let p = &event.payload;
    let Some(mut tx) = outbox::begin_once(pool, REGISTER_CONSUMER, event.id).await? else {
        return Ok(());
    };
    if event.topic == LICENCE_ISSUED {
        let uscc = s(p, "holder_uscc").trim().to_uppercase();
        let case_id = Uuid::parse_str(s(p, "case_id")).ok();
        if let (true, Some(case_id)) = (ids::check_uscc(&uscc).is_ok(), case_id) {
            let valid_until = DateTime::parse_from_rfc3339(s(p, "valid_until"))
                .ok()
                .map(|d| d.to_utc());
            sqlx::query(
                "INSERT INTO entity_licences (number, uscc, case_id, item_code, department, valid_until)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (number) DO NOTHING",
            )
            .bind(s(p, "number"))
            .bind(&uscc)
            .bind(case_id)
            .bind(s(p, "item_code"))
            .bind(s(p, "department"))
            .bind(valid_until)
            .execute(&mut *tx)
            .await?;
        }
    } else {
        sqlx::query(
            "UPDATE entity_licences SET revoked_at = $2, revoke_reason = $3
              WHERE number = $1 AND revoked_at IS NULL",
        )
        .bind(s(p, "number"))
        .bind(event.occurred_at)
        .bind(s(p, "reason"))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// 督办 of a case past its deadline. Returns the notice created, if this delivery created one.
pub async fn on_case_overdue(pool: &PgPool, event: &Event) -> Result<Option<Uuid>> {
    let p = &event.payload;
    open_notice(
        pool,
        event,
        "case",
        Uuid::parse_str(s(p, "case_id")).ok(),
        [s(p, "case_number"), s(p, "item_code"), s(p, "item_name")],
    )
    .await
}

/// 督办 of a ticket's part not answered by its deadline: one notice to that department.
pub async fn on_ticket_overdue(pool: &PgPool, event: &Event) -> Result<Option<Uuid>> {
    let p = &event.payload;
    open_notice(
        pool,
        event,
        "ticket",
        Uuid::parse_str(s(p, "ticket_id")).ok(),
        ["", "", s(p, "subject")],
    )
    .await
}

/// Opens one notice per (case or ticket, department) for an overdue event, exactly once
/// however often the event is delivered. `[number, item_code, name]` describe the subject.
async fn open_notice(
    pool: &PgPool,
    event: &Event,
    subject: &str,
    subject_id: Option<Uuid>,
    [number, item_code, name]: [&str; 3],
) -> Result<Option<Uuid>> {
    let p = &event.payload;
    let Some(subject_id) = subject_id else {
        tracing::warn!(event = %event.id, topic = %event.topic, "overdue event without its subject's id; skipped");
        return Ok(None);
    };
    let Some(mut tx) = outbox::begin_once(pool, OVERSIGHT_CONSUMER, event.id).await? else {
        return Ok(None);
    };
    let deadline = DateTime::parse_from_rfc3339(s(p, "deadline"))
        .ok()
        .map(|d| d.to_utc());
    let id = Uuid::now_v7();
    let created = sqlx::query(
        "INSERT INTO notices (id, case_id, case_number, item_code, item_name, department, deadline,
                              event_id, subject)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (case_id, department) DO NOTHING",
    )
    .bind(id)
    .bind(subject_id)
    .bind(number)
    .bind(item_code)
    .bind(name)
    .bind(s(p, "department"))
    .bind(deadline)
    .bind(event.id)
    .bind(subject)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if created {
        audit::record::<(), _>(
            &mut tx,
            &format!("system:{}", event.topic),
            "open_notice",
            &format!("notice:{id}"),
            None,
            Some(&serde_json::json!({(format!("{subject}_id")): subject_id, "department": s(p, "department")})),
        )
        .await?;
        outbox::enqueue(
            &mut tx,
            OVERSIGHT_OPENED,
            &serde_json::json!({"notice_id": id, "subject": subject, "subject_id": subject_id,
                "number": number, "item_code": item_code, "item_name": name,
                "department": s(p, "department"), "deadline": deadline}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(created.then_some(id))
}

const TASK_COLUMNS: &str =
    "t.id, t.source, t.case_id, t.case_number, t.item_code, t.item_name, t.department, t.entity_id,
    e.name AS entity_name, e.uscc, t.state, t.inspection_id, t.created_at, t.done_at";

fn task_from(r: &sqlx::postgres::PgRow) -> Result<(pb::Task, DateTime<Utc>, Uuid)> {
    let id: Uuid = r.try_get("id")?;
    let created: DateTime<Utc> = r.try_get("created_at")?;
    Ok((
        pb::Task {
            id: id.to_string(),
            source: r.try_get("source")?,
            case_id: r.try_get::<Uuid, _>("case_id")?.to_string(),
            case_number: r.try_get("case_number")?,
            item_code: r.try_get("item_code")?,
            item_name: r.try_get("item_name")?,
            department: r.try_get("department")?,
            entity_id: r.try_get("entity_id")?,
            entity_name: r.try_get("entity_name")?,
            uscc: r.try_get("uscc")?,
            state: r.try_get("state")?,
            inspection_id: r
                .try_get::<Option<Uuid>, _>("inspection_id")?
                .map(|u| u.to_string())
                .unwrap_or_default(),
            created_at: Some(to_timestamp(created)),
            done_at: yiwang_kit::opt_timestamp(r.try_get("done_at")?),
        },
        created,
        id,
    ))
}

const NOTICE_COLUMNS: &str =
    "id, case_id, case_number, item_code, item_name, department, deadline, state,
    acknowledge_note, close_note, created_at, acknowledged_at, closed_at, subject";

fn notice_from(r: &sqlx::postgres::PgRow) -> Result<(pb::Notice, DateTime<Utc>, Uuid)> {
    let id: Uuid = r.try_get("id")?;
    let created: DateTime<Utc> = r.try_get("created_at")?;
    Ok((
        pb::Notice {
            id: id.to_string(),
            case_id: r.try_get::<Uuid, _>("case_id")?.to_string(),
            case_number: r.try_get("case_number")?,
            item_code: r.try_get("item_code")?,
            item_name: r.try_get("item_name")?,
            department: r.try_get("department")?,
            deadline: yiwang_kit::opt_timestamp(r.try_get("deadline")?),
            state: r.try_get("state")?,
            acknowledge_note: r.try_get("acknowledge_note")?,
            close_note: r.try_get("close_note")?,
            created_at: Some(to_timestamp(created)),
            acknowledged_at: yiwang_kit::opt_timestamp(r.try_get("acknowledged_at")?),
            closed_at: yiwang_kit::opt_timestamp(r.try_get("closed_at")?),
            subject: r.try_get("subject")?,
        },
        created,
        id,
    ))
}

/// The department a listing is limited to: supervisors and systems choose (or see all); other
/// staff see their own only.
fn listing_department(caller: &Caller, requested: &str) -> Result<String> {
    caller.require_any_role(access::STAFF)?;
    if caller.has_any_role(&[roles::SUPERVISOR, roles::SYSTEM]) {
        return Ok(requested.trim().to_string());
    }
    let own = caller.dept.clone().unwrap_or_default();
    if !requested.trim().is_empty() && requested.trim() != own {
        return Err(Error::permission_denied(
            "staff see their own department's entries only",
        ));
    }
    if own.is_empty() {
        return Err(Error::permission_denied(
            "the caller's token names no department",
        ));
    }
    Ok(own)
}

impl SupervisionApi {
    pub async fn list_tasks(
        &self,
        caller: &Caller,
        r: pb::ListTasksRequest,
    ) -> Result<pb::ListTasksResponse> {
        let dept = listing_department(caller, &r.department)?;
        let limit = page::page_size(r.page_size)?;
        if !r.state.is_empty() {
            let mut v = Violations::new();
            v.one_of("state", &r.state, &["open", "done"]);
            v.into_result()?;
        }
        let f = page::fingerprint(&[&dept, &r.state]);
        let (after_t, after_id) = page::decode_newest_first(&r.page_token, f)?;
        let pool = self.reads.for_caller(&caller.sub).await;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TASK_COLUMNS} FROM tasks t JOIN entities e ON e.id = t.entity_id
             WHERE ($1 = '' OR t.department = $1) AND ($2 = '' OR t.state = $2)
             AND ($3::timestamptz IS NULL OR (t.created_at, t.id) < ($3, $4))
             ORDER BY t.created_at DESC, t.id DESC LIMIT $5"
        )))
        .bind(&dept)
        .bind(r.state.trim())
        .bind(after_t)
        .bind(after_id)
        .bind(limit + 1)
        .fetch_all(pool)
        .await?;
        let mut out = rows.iter().map(task_from).collect::<Result<Vec<_>>>()?;
        let next = page::next_token(&mut out, limit, f, |(_, t, id)| {
            page::newest_first_key(*t, *id)
        });
        Ok(pb::ListTasksResponse {
            tasks: out.into_iter().map(|t| t.0).collect(),
            next_page_token: next,
        })
    }

    pub async fn list_notices(
        &self,
        caller: &Caller,
        r: pb::ListNoticesRequest,
    ) -> Result<pb::ListNoticesResponse> {
        let dept = listing_department(caller, &r.department)?;
        let limit = page::page_size(r.page_size)?;
        if !r.state.is_empty() {
            let mut v = Violations::new();
            v.one_of("state", &r.state, &["open", "acknowledged", "closed"]);
            v.into_result()?;
        }
        let f = page::fingerprint(&[&dept, &r.state]);
        let (after_t, after_id) = page::decode_newest_first(&r.page_token, f)?;
        let pool = self.reads.for_caller(&caller.sub).await;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {NOTICE_COLUMNS} FROM notices
             WHERE ($1 = '' OR department = $1) AND ($2 = '' OR state = $2)
             AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
             ORDER BY created_at DESC, id DESC LIMIT $5"
        )))
        .bind(&dept)
        .bind(r.state.trim())
        .bind(after_t)
        .bind(after_id)
        .bind(limit + 1)
        .fetch_all(pool)
        .await?;
        let mut out = rows.iter().map(notice_from).collect::<Result<Vec<_>>>()?;
        let next = page::next_token(&mut out, limit, f, |(_, t, id)| {
            page::newest_first_key(*t, *id)
        });
        Ok(pb::ListNoticesResponse {
            notices: out.into_iter().map(|t| t.0).collect(),
            next_page_token: next,
        })
    }

    /// acknowledge: the department (officer) or a supervisor, from open; close: a supervisor,
    /// from acknowledged (the department has answered).
    pub async fn notice_action(
        &self,
        caller: &Caller,
        r: pb::NoticeActionRequest,
        close: bool,
    ) -> Result<pb::Notice> {
        caller.require_authenticated()?;
        let id = request_fields::parse_uuid("id", &r.id)?;
        let mut v = Violations::new();
        let note = v.text("note", &r.note, true, 2000);
        v.into_result()?;
        let mut tx = self.pool.begin().await?;
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT department, state FROM notices WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let nf = || Error::not_found("NOTICE_NOT_FOUND", format!("no notice {id}"));
        let Some((dept, state)) = row else {
            return Err(nf());
        };
        if !access::acts_for(caller, &dept, access::STAFF) {
            return Err(nf());
        }
        let (from, to) = if close {
            caller.require_any_role(access::SUPERVISOR)?;
            ("acknowledged", "closed")
        } else {
            access::require_acts_for(caller, &dept, access::MANAGERS)?;
            ("open", "acknowledged")
        };
        if state != from {
            return Err(Error::failed_precondition(
                "ILLEGAL_TRANSITION",
                format!("the notice is {state}; it can become {to} only from {from}"),
            ));
        }
        let sql = if close {
            "UPDATE notices SET state = 'closed', close_note = $2, closed_at = now() WHERE id = $1"
        } else {
            "UPDATE notices SET state = 'acknowledged', acknowledge_note = $2, acknowledged_at = now() WHERE id = $1"
        };
        sqlx::query(sql)
            .bind(id)
            .bind(&note)
            .execute(&mut *tx)
            .await?;
        audit::record(
            &mut tx,
            &caller.sub,
            if close {
                "close_notice"
            } else {
                "acknowledge_notice"
            },
            &format!("notice:{id}"),
            Some(&from),
            Some(&to),
        )
        .await?;
        tx.commit().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {NOTICE_COLUMNS} FROM notices WHERE id = $1"
        )))
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        Ok(notice_from(&row)?.0)
    }
}
