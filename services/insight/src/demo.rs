//! The demo county's window staff (`yiwang up --demo`): the county hall's comprehensive-window
//! clerks in the register, each posted to their window since the start of the reference
//! half-year, so the monthly assessment has people and windows to assess. The launcher hands
//! the clerks in (the cases demo names them as the actors of its recent cases). Loaded once.

use chrono::NaiveDate;
use sqlx::PgPool;

/// A clerk of the demo: (account, name, window).
pub type DemoClerk<'a> = (&'a str, &'a str, &'a str);

/// Registers the clerks and their postings unless the register has anyone; the number loaded.
pub async fn load_demo(
    pool: &PgPool,
    hall: &str,
    employer: &str,
    clerks: &[DemoClerk<'_>],
    since: NaiveDate,
) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    // One loader at a time; a second start finds the register filled and leaves.
    sqlx::query("SELECT pg_advisory_xact_lock(1611)")
        .execute(&mut *tx)
        .await?;
    let has: i64 = sqlx::query_scalar("SELECT count(*) FROM staff")
        .fetch_one(&mut *tx)
        .await?;
    if has > 0 {
        return Ok(0);
    }
    for (i, (account, name, window)) in clerks.iter().enumerate() {
        // Two in three are the bureau's own staff; the rest come from a staffing company.
        let (employment, employer) = if i % 3 == 2 {
            ("outsourced", "安徽政通人力资源有限公司")
        } else {
            ("department", employer)
        };
        sqlx::query(
            "INSERT INTO staff (account, name, employment, employer, post, party_member, updated_by)
             VALUES ($1, $2, $3, $4, '综合受理', $5, 'demo')",
        )
        .bind(account)
        .bind(name)
        .bind(employment)
        .bind(employer)
        .bind(i % 2 == 0)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO staff_postings (account, hall, window_number, from_date, posted_by)
             VALUES ($1, $2, $3, $4, 'demo')",
        )
        .bind(account)
        .bind(hall)
        .bind(window)
        .bind(since)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(clerks.len())
}
