//! 好差评: evaluations of decided cases by their applicants, and the rectification (整改) and
//! callback (回访) a 差评 (level 1 非常不满意 or 2 不满意) sets off for the handling department.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};
use uuid::Uuid;
use yiwang_kit::{Error, Result, outbox, page};

use crate::calendar::{Calendar, Limit, Unit};
use crate::case_store::{CaseRow, Scope};

pub const EVALUATION_NEGATIVE: &str = "cases.evaluation.negative";

/// States in which a case has been decided and may be evaluated.
pub const EVALUABLE: &[&str] = &[
    "not_accepted",
    "approved",
    "approved_with_tolerance",
    "denied",
    "delivered",
];

pub struct NewEvaluation {
    pub level: i32,
    pub dimensions: serde_json::Value,
    pub comment: String,
    pub evaluator: String,
}

pub struct EvaluationRow {
    pub id: Uuid,
    pub case_id: Uuid,
    pub level: i32,
    pub dimensions: serde_json::Value,
    pub comment: String,
    pub created_at: DateTime<Utc>,
    pub rectification_id: Option<Uuid>,
}

/// Records the evaluation of `case` (checked by the caller to be the applicant's), and for a
/// 差评 opens the rectification and emits `cases.evaluation.negative`, all in one transaction.
pub async fn evaluate(
    pool: &PgPool,
    calendar: &Calendar,
    case: &CaseRow,
    e: NewEvaluation,
    rectify_working_days: u32,
) -> Result<EvaluationRow> {
    if !EVALUABLE.contains(&case.state.as_str()) {
        return Err(Error::failed_precondition(
            "CASE_NOT_DECIDED",
            format!(
                "case {} is {}; it can be evaluated once it is decided",
                case.case_number, case.state
            ),
        ));
    }
    let id = Uuid::now_v7();
    let now = Utc::now();
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO evaluations (id, case_id, level, dimensions, comment, evaluator, created_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT (case_id) DO NOTHING",
    )
    .bind(id)
    .bind(case.id)
    .bind(e.level)
    .bind(&e.dimensions)
    .bind(&e.comment)
    .bind(&e.evaluator)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(Error::already_exists(
            "CASE_ALREADY_EVALUATED",
            format!("case {} has already been evaluated", case.case_number),
        ));
    }
    let mut rectification_id = None;
    if e.level <= 2 {
        let deadline = calendar
            .deadline(now, Limit::new(rectify_working_days, Unit::WorkingDays))
            .map_err(Error::internal)?;
        let rid = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO rectifications (id, evaluation_id, case_id, department, state, deadline, created_at)
             VALUES ($1,$2,$3,$4,'open',$5,$6)",
        )
        .bind(rid)
        .bind(id)
        .bind(case.id)
        .bind(&case.department)
        .bind(deadline.at.to_utc())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        outbox::enqueue(
            &mut tx,
            EVALUATION_NEGATIVE,
            &serde_json::json!({
                "case_id": case.id, "case_number": case.case_number, "department": case.department,
                "item_code": case.item_code, "level": e.level, "rectification_id": rid,
                "deadline": deadline.at.to_utc(),
            }),
        )
        .await?;
        rectification_id = Some(rid);
    }
    tx.commit().await?;
    Ok(EvaluationRow {
        id,
        case_id: case.id,
        level: e.level,
        dimensions: e.dimensions,
        comment: e.comment,
        created_at: now,
        rectification_id,
    })
}

#[derive(Debug, Clone)]
pub struct RectificationRow {
    pub id: Uuid,
    pub case_id: Uuid,
    pub case_number: String,
    pub department: String,
    pub level: i32,
    pub comment: String,
    pub state: String,
    pub deadline: DateTime<Utc>,
    pub completion_note: String,
    pub completed_at: Option<DateTime<Utc>>,
    pub callback_note: String,
    pub callback_satisfied: bool,
    pub called_back_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

const RECT_SELECT: &str = "SELECT r.id, r.case_id, c.case_number, r.department, e.level, e.comment, r.state, r.deadline,
    r.completion_note, r.completed_at, r.callback_note, r.callback_satisfied, r.called_back_at, r.created_at
    FROM rectifications r JOIN evaluations e ON e.id = r.evaluation_id JOIN cases c ON c.id = r.case_id";

fn rect_from_row(r: &sqlx::postgres::PgRow) -> Result<RectificationRow> {
    Ok(RectificationRow {
        id: r.try_get("id")?,
        case_id: r.try_get("case_id")?,
        case_number: r.try_get("case_number")?,
        department: r.try_get("department")?,
        level: r.try_get("level")?,
        comment: r.try_get("comment")?,
        state: r.try_get("state")?,
        deadline: r.try_get("deadline")?,
        completion_note: r.try_get("completion_note")?,
        completed_at: r.try_get("completed_at")?,
        callback_note: r.try_get("callback_note")?,
        callback_satisfied: r.try_get("callback_satisfied")?,
        called_back_at: r.try_get("called_back_at")?,
        created_at: r.try_get("created_at")?,
    })
}

pub async fn get_rectification(pool: &PgPool, id: Uuid) -> Result<RectificationRow> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{RECT_SELECT} WHERE r.id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| rect_not_found(id))?;
    rect_from_row(&row)
}

pub fn rect_not_found(id: Uuid) -> Error {
    Error::not_found(
        "RECTIFICATION_NOT_FOUND",
        format!("rectification {id} does not exist"),
    )
}

pub async fn list_rectifications(
    pool: &PgPool,
    scope: &Scope,
    state: &str,
    page_size: i32,
    page_token: &str,
) -> Result<(Vec<RectificationRow>, String)> {
    let limit = page::page_size(page_size)?;
    let (scope_sql, scope_val, name) = match scope {
        Scope::Department(d) => ("r.department = $1", d.as_str(), "department"),
        Scope::All => ("$1 = ''", "", "all"),
        Scope::Owner(s) => ("c.owner_sub = $1", s.as_str(), "owner"),
    };
    let fp = page::fingerprint(&["rectifications", name, scope_val, state]);
    let (after_at, after_id) = page::decode_newest_first(page_token, fp)?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{RECT_SELECT} WHERE {scope_sql} AND ($2 = '' OR r.state = $2)
           AND ($3::timestamptz IS NULL OR (r.created_at, r.id) < ($3, $4))
         ORDER BY r.created_at DESC, r.id DESC LIMIT $5"
    )))
    .bind(scope_val)
    .bind(state)
    .bind(after_at)
    .bind(after_id)
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    let mut list = rows.iter().map(rect_from_row).collect::<Result<Vec<_>>>()?;
    let next = page::next_token(&mut list, limit, fp, |r| {
        page::newest_first_key(r.created_at, r.id)
    });
    Ok((list, next))
}

/// open → completed (what was put right) or completed → called_back (the applicant was called
/// back), by staff of the department; `may_act` checks the caller on the locked row.
pub async fn advance(
    pool: &PgPool,
    id: Uuid,
    callback: bool,
    actor: &str,
    note: &str,
    satisfied: bool,
    may_act: impl FnOnce(&str) -> Result<()>,
) -> Result<RectificationRow> {
    let mut tx = pool.begin().await?;
    let (state, department): (String, String) =
        sqlx::query_as("SELECT state, department FROM rectifications WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| rect_not_found(id))?;
    may_act(&department)?;
    let (from, sql) = if callback {
        (
            "completed",
            "UPDATE rectifications SET state = 'called_back', callback_note = $2, callback_satisfied = $3,
                called_back_by = $4, called_back_at = now() WHERE id = $1",
        )
    } else {
        (
            "open",
            "UPDATE rectifications SET state = 'completed', completion_note = $2, completed_by = $4,
                completed_at = now() WHERE id = $1",
        )
    };
    if state != from {
        return Err(Error::failed_precondition(
            "RECTIFICATION_STATE",
            format!(
                "rectification {id} is {state}; {} needs it to be {from}",
                if callback {
                    "the callback"
                } else {
                    "completion"
                }
            ),
        ));
    }
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(note)
        .bind(satisfied)
        .bind(actor)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    get_rectification(pool, id).await
}
