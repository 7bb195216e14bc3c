//! The website and new media over a period, from this service's own tables: what the bureau's
//! report says of its website (posts by column, department and month; 错敏词 findings and dead
//! links standing in what is published; the accounts and their lapses; the citizen messages by
//! source, with their tickets' rates from the cases service's statistics).

use chrono::{Duration, Utc};
use sqlx::{PgPool, Row};
use yiwang_kit::{Error, Result};
use yiwang_proto::content::v1 as pb;

use crate::media::LAPSE_DAYS;
use crate::message::{self, Cases};
use crate::{dictionary_scan, links};

fn counts(rows: Vec<sqlx::postgres::PgRow>) -> Result<Vec<pb::KeyCount>> {
    rows.iter()
        .map(|r| {
            Ok(pb::KeyCount {
                key: r.try_get("key")?,
                count: r.try_get("n")?,
            })
        })
        .collect()
}

pub async fn get(
    pool: &PgPool,
    cases: &Cases,
    r: &pb::GetContentStatsRequest,
) -> Result<pb::ContentStats> {
    let to = match &r.to {
        Some(t) => yiwang_kit::from_timestamp("to", t)?,
        None => Utc::now(),
    };
    let from = match &r.from {
        Some(t) => yiwang_kit::from_timestamp("from", t)?,
        None => to - Duration::days(182),
    };
    if from >= to {
        return Err(Error::invalid("to", "must be after from"));
    }
    if to - from > Duration::days(3700) {
        return Err(Error::invalid("from", "the period is at most ten years"));
    }
    let published = "published_at >= $1 AND published_at < $2 AND withdrawn_at IS NULL";
    let findings = dictionary_scan::per_column(pool, from, to).await?;
    let broken = links::per_column(pool, from, to).await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT c.site_id, c.id, c.name, c.kind,
                (SELECT count(*) FROM posts p WHERE p.site_id = c.site_id AND p.column_id = c.id AND {published}) AS n
           FROM site_columns c ORDER BY c.site_id, c.created_at, c.id"
    )))
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let mut columns = Vec::with_capacity(rows.len());
    for r in &rows {
        let (site_id, column_id): (String, String) = (r.try_get("site_id")?, r.try_get("id")?);
        let key = (site_id.clone(), column_id.clone());
        columns.push(pb::ColumnStat {
            findings: findings.get(&key).copied().unwrap_or(0),
            broken_links: broken.get(&key).copied().unwrap_or(0),
            site_id,
            column_id,
            name: r.try_get("name")?,
            kind: r.try_get("kind")?,
            posts: r.try_get("n")?,
        });
    }
    let by_department = counts(
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT department AS key, count(*) AS n FROM posts WHERE {published}
              GROUP BY department ORDER BY n DESC, department"
        )))
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await?,
    )?;
    let by_month = counts(
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT to_char(published_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') AS key, count(*) AS n
               FROM posts WHERE {published} GROUP BY 1 ORDER BY 1"
        )))
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await?,
    )?;
    let by_platform = counts(
        sqlx::query(
            "SELECT platform AS key, count(*) AS n FROM media_accounts GROUP BY platform ORDER BY platform",
        )
        .fetch_all(pool)
        .await?,
    )?;
    let media_posts: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM media_posts WHERE published_at >= $1 AND published_at < $2",
    )
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await?;
    let lapsed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM media_accounts
          WHERE COALESCE(last_post_at, created_at) < now() - make_interval(days => $1)",
    )
    .bind(LAPSE_DAYS as i32)
    .fetch_one(pool)
    .await?;
    let rows = sqlx::query(
        "SELECT source, count(*) AS received, count(ticket_id) AS forwarded, count(answered_at) AS answered
           FROM messages WHERE created_at >= $1 AND created_at < $2 GROUP BY source ORDER BY source",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let tickets = message::ticket_rates(cases, from, to).await;
    let mut messages = Vec::with_capacity(rows.len());
    for r in &rows {
        let (received, forwarded, answered): (i64, i64, i64) = (
            r.try_get("received")?,
            r.try_get("forwarded")?,
            r.try_get("answered")?,
        );
        let source: String = r.try_get("source")?;
        let rates = tickets
            .as_ref()
            .and_then(|t| t.get(&source))
            .cloned()
            .unwrap_or_default();
        messages.push(pb::MessageStat {
            dispatch_rate: rates.dispatch_rate,
            reply_rate: rates.reply_rate,
            closure_rate: rates.closure_rate,
            callback_rate: rates.callback_rate,
            satisfaction_rate: rates.satisfaction_rate,
            source,
            received,
            forwarded,
            answered,
            forward_rate: yiwang_kit::percent(forwarded, received),
            answer_rate: yiwang_kit::percent(answered, received),
        });
    }
    Ok(pb::ContentStats {
        posts: columns.iter().map(|c| c.posts).sum(),
        special_topic_posts: columns
            .iter()
            .filter(|c| c.kind == "special_topic")
            .map(|c| c.posts)
            .sum(),
        findings: columns.iter().map(|c| c.findings).sum(),
        broken_links: columns.iter().map(|c| c.broken_links).sum(),
        columns,
        posts_by_department: by_department,
        posts_by_month: by_month,
        media_accounts: by_platform.iter().map(|k| k.count).sum(),
        media_accounts_by_platform: by_platform,
        media_posts,
        lapsed_accounts: lapsed,
        messages,
        ticket_rates_available: tickets.is_some(),
    })
}
