//! The supervision audit trail: every state change with actor, subject and the record before
//! and after, written in the change's own transaction.

use serde::Serialize;
use sqlx::{Postgres, Transaction};
use yiwang_kit::{Error, Result};

/// Records a state change in the audit trail, in the change's transaction.
pub async fn record<B: Serialize, A: Serialize>(
    tx: &mut Transaction<'_, Postgres>,
    actor: &str,
    action: &str,
    subject: &str,
    before: Option<&B>,
    after: Option<&A>,
) -> Result<()> {
    let before = before
        .map(serde_json::to_value)
        .transpose()
        .map_err(Error::internal)?;
    let after = after
        .map(serde_json::to_value)
        .transpose()
        .map_err(Error::internal)?;
    sqlx::query(
        "INSERT INTO audit (actor, action, subject, before, after) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(actor)
    .bind(action)
    .bind(subject)
    .bind(before)
    .bind(after)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
