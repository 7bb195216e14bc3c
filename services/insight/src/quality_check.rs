//! 办件质量检查: a reproducible sample of a month's decided cases, drawn by the cases service
//! from a published seed, reviewed case by case. The findings feed the monthly assessment of
//! whoever received, accepted or decided a sampled case.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};
use uuid::Uuid;
use yiwang_kit::{Caller, Error, Result, Violations, to_timestamp};
use yiwang_proto::insight::v1 as pb;

use crate::period::Month;
use crate::sources::Sources;

pub const FINDINGS: &[&str] = &["pass", "minor", "major"];
const MAX_SIZE: u32 = 500;

fn not_found(id: &str) -> Error {
    Error::not_found(
        "QUALITY_CHECK_NOT_FOUND",
        format!("no quality check has id {}", yiwang_kit::error::clip(id)),
    )
}

pub async fn start(
    pool: &PgPool,
    sources: &Sources,
    caller: &Caller,
    r: pb::StartQualityCheckRequest,
) -> Result<pb::QualityCheck> {
    let mut v = Violations::new();
    let month = match Month::parse("month", &r.month) {
        Ok(m) => Some(m),
        Err(e) => {
            v.add("month", e.message);
            None
        }
    };
    if r.size == 0 || r.size > MAX_SIZE {
        v.add("size", format!("must be 1 to {MAX_SIZE}"));
    }
    if r.request_id.len() > 255 {
        v.add("request_id", "must be at most 255 characters");
    }
    v.into_result()?;
    let month = month.ok_or_else(|| Error::invalid("month", "is required"))?;
    if month.from() > Utc::now() {
        return Err(Error::invalid("month", "has not begun"));
    }
    if !r.request_id.is_empty()
        && let Some(id) = sqlx::query_scalar::<_, Uuid>(
            "SELECT id FROM quality_checks WHERE started_by = $1 AND request_id = $2",
        )
        .bind(&caller.sub)
        .bind(&r.request_id)
        .fetch_optional(pool)
        .await?
    {
        return get(pool, &id.to_string()).await;
    }
    // 0: the service picks the seed; either way it is recorded and shown.
    let seed = if r.seed == 0 {
        (Uuid::new_v4().as_u128() as u32).max(1)
    } else {
        r.seed
    };
    let sample = sources
        .sample_decided_cases(month.from(), month.to(), seed as u64, r.size)
        .await
        .map_err(|e| Error::dependency("cases service", "month", &e))?;
    let id = Uuid::now_v7();
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO quality_checks (id, month, seed, size, population, method, started_by, request_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(month.key())
    .bind(seed as i64)
    .bind(r.size as i32)
    .bind(sample.population as i64)
    .bind(&sample.method)
    .bind(&caller.sub)
    .bind(&r.request_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        // The same request id at the same moment: the other one's check.
        drop(tx);
        let first: Uuid = sqlx::query_scalar(
            "SELECT id FROM quality_checks WHERE started_by = $1 AND request_id = $2",
        )
        .bind(&caller.sub)
        .bind(&r.request_id)
        .fetch_one(pool)
        .await?;
        return get(pool, &first.to_string()).await;
    }
    for (i, c) in sample.cases.iter().enumerate() {
        let case_id = Uuid::parse_str(&c.case_id).map_err(Error::internal)?;
        sqlx::query(
            "INSERT INTO quality_check_cases (check_id, position, case_id, case_number, department, item_name,
                received_by, accepted_by, decided_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id)
        .bind(i as i32)
        .bind(case_id)
        .bind(&c.case_number)
        .bind(&c.department)
        .bind(&c.item_name)
        .bind(&c.received_by)
        .bind(&c.accepted_by)
        .bind(&c.decided_by)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    get(pool, &id.to_string()).await
}

pub async fn get(pool: &PgPool, id: &str) -> Result<pb::QualityCheck> {
    let uuid = Uuid::parse_str(id.trim()).map_err(|_| not_found(id))?;
    let row = sqlx::query(
        "SELECT id, month, seed, size, population, method, started_by, started_at FROM quality_checks WHERE id = $1",
    )
    .bind(uuid)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| not_found(id))?;
    let started_at: DateTime<Utc> = row.try_get("started_at")?;
    let rows = sqlx::query(
        "SELECT case_id, case_number, department, item_name, received_by, accepted_by, decided_by, finding,
                note, reviewed_by, reviewed_at
           FROM quality_check_cases WHERE check_id = $1 ORDER BY position",
    )
    .bind(uuid)
    .fetch_all(pool)
    .await?;
    let mut cases = Vec::with_capacity(rows.len());
    for r in &rows {
        let case_id: Uuid = r.try_get("case_id")?;
        let reviewed_at: Option<DateTime<Utc>> = r.try_get("reviewed_at")?;
        cases.push(pb::QualityCheckCase {
            case_id: case_id.to_string(),
            case_number: r.try_get("case_number")?,
            department: r.try_get("department")?,
            item_name: r.try_get("item_name")?,
            received_by: r.try_get("received_by")?,
            accepted_by: r.try_get("accepted_by")?,
            decided_by: r.try_get("decided_by")?,
            finding: r.try_get("finding")?,
            note: r.try_get("note")?,
            reviewed_by: r.try_get("reviewed_by")?,
            reviewed_at: reviewed_at.map(to_timestamp),
        });
    }
    Ok(pb::QualityCheck {
        id: uuid.to_string(),
        month: row.try_get("month")?,
        seed: row.try_get::<i64, _>("seed")? as u32,
        size: row.try_get::<i32, _>("size")? as u32,
        population: row.try_get::<i64, _>("population")? as u64,
        method: row.try_get("method")?,
        reviewed: cases.iter().filter(|c| !c.finding.is_empty()).count() as u32,
        cases,
        started_by: row.try_get("started_by")?,
        started_at: Some(to_timestamp(started_at)),
    })
}

pub async fn record_finding(
    pool: &PgPool,
    caller: &Caller,
    r: pb::RecordFindingRequest,
) -> Result<pb::QualityCheck> {
    let mut v = Violations::new();
    let finding = r.finding.trim();
    v.one_of("finding", finding, FINDINGS);
    let note = v.text(
        "note",
        &r.note,
        finding == "minor" || finding == "major",
        2000,
    );
    v.into_result()?;
    let check = Uuid::parse_str(r.id.trim()).map_err(|_| not_found(&r.id))?;
    let case_id = Uuid::parse_str(r.case_id.trim());
    let updated = match case_id {
        Ok(case_id) => sqlx::query(
            "UPDATE quality_check_cases SET finding = $3, note = $4, reviewed_by = $5, reviewed_at = now()
              WHERE check_id = $1 AND case_id = $2",
        )
        .bind(check)
        .bind(case_id)
        .bind(finding)
        .bind(&note)
        .bind(&caller.sub)
        .execute(pool)
        .await?
        .rows_affected(),
        Err(_) => 0,
    };
    if updated == 0 {
        // Which is missing: the check, or the case in it.
        get(pool, &r.id).await?;
        return Err(Error::not_found(
            "CASE_NOT_SAMPLED",
            format!(
                "case {} is not in quality check {}",
                yiwang_kit::error::clip(&r.case_id),
                check
            ),
        ));
    }
    get(pool, &r.id).await
}
