//! Work reports kept per period for ten minutes: a report takes seconds to gather from the five
//! services; the director, the office and the printer asking again within minutes get the same
//! report (with its `generated_at`), not another round of statistics calls.

use prost::Message;
use sqlx::PgPool;
use yiwang_kit::Result;
use yiwang_proto::insight::v1 as pb;

use crate::period::Half;

/// How long a computed report is served again.
pub const FRESH_SECS: f64 = 600.0;

pub async fn get(pool: &PgPool, half: Half) -> Result<Option<pb::WorkReport>> {
    let bytes: Option<Vec<u8>> = sqlx::query_scalar(
        "SELECT report FROM work_reports WHERE year = $1 AND half = $2
            AND computed_at > now() - make_interval(secs => $3)",
    )
    .bind(half.year)
    .bind(half.half)
    .bind(FRESH_SECS)
    .fetch_optional(pool)
    .await?;
    Ok(bytes.and_then(|b| pb::WorkReport::decode(b.as_slice()).ok()))
}

pub async fn put(pool: &PgPool, half: Half, report: &pb::WorkReport) -> Result<()> {
    sqlx::query(
        "INSERT INTO work_reports (year, half, computed_at, report) VALUES ($1, $2, now(), $3)
         ON CONFLICT (year, half) DO UPDATE SET computed_at = now(), report = EXCLUDED.report",
    )
    .bind(half.year)
    .bind(half.half)
    .bind(report.encode_to_vec())
    .execute(pool)
    .await?;
    Ok(())
}
