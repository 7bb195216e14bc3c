//! The website and new media over a period, from this service's own tables: what the bureau's
//! report says of its website (posts by column, department and month; 错敏词 findings standing
//! in what is published; the accounts and their lapses; the citizen messages by source).

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use sqlx::{PgPool, Row};
use yiwang_kit::{Error, Result};
use yiwang_proto::content::v1 as pb;

use crate::dictionary::{self, Dictionary};
use crate::media::LAPSE_DAYS;

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
    dict: &Dictionary,
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
    // Findings as the dictionary stands now, over what the period published.
    let scanner = dict.scanner().await?;
    let bodies = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT site_id, column_id, title, body FROM posts WHERE {published}"
    )))
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let mut findings: BTreeMap<(String, String), i64> = BTreeMap::new();
    for b in &bodies {
        let n = dictionary::findings(&scanner, b.try_get("title")?, b.try_get("body")?).len();
        *findings
            .entry((b.try_get("site_id")?, b.try_get("column_id")?))
            .or_default() += n as i64;
    }
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
        columns.push(pb::ColumnStat {
            findings: findings
                .get(&(site_id.clone(), column_id.clone()))
                .copied()
                .unwrap_or(0),
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
    let mut messages = Vec::with_capacity(rows.len());
    for r in &rows {
        let (received, forwarded, answered): (i64, i64, i64) = (
            r.try_get("received")?,
            r.try_get("forwarded")?,
            r.try_get("answered")?,
        );
        messages.push(pb::MessageStat {
            source: r.try_get("source")?,
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
        columns,
        posts_by_department: by_department,
        posts_by_month: by_month,
        media_accounts: by_platform.iter().map(|k| k.count).sum(),
        media_accounts_by_platform: by_platform,
        media_posts,
        lapsed_accounts: lapsed,
        messages,
    })
}

/// The 错敏词 round over what is published now (the site, the column, or everything).
pub async fn findings(
    pool: &PgPool,
    dict: &Dictionary,
    r: &pb::ListFindingsRequest,
) -> Result<pb::ListFindingsResponse> {
    if !r.column_id.is_empty() && r.site_id.is_empty() {
        return Err(Error::invalid("site_id", "is required with column_id"));
    }
    if !r.column_id.is_empty() {
        crate::site::ensure_column(pool, &r.site_id, &r.column_id).await?;
    } else if !r.site_id.is_empty() {
        crate::site::ensure_site(pool, &r.site_id).await?;
    }
    let scanner = dict.scanner().await?;
    let rows = sqlx::query(
        "SELECT id, site_id, column_id, department, title, body, published_at FROM posts
          WHERE published_at IS NOT NULL AND withdrawn_at IS NULL
            AND ($1 = '' OR site_id = $1) AND ($2 = '' OR column_id = $2)
          ORDER BY published_at DESC, id DESC",
    )
    .bind(&r.site_id)
    .bind(&r.column_id)
    .fetch_all(pool)
    .await?;
    let mut posts = Vec::new();
    for row in &rows {
        let found = dictionary::findings(&scanner, row.try_get("title")?, row.try_get("body")?);
        if found.is_empty() || posts.len() >= 500 {
            continue;
        }
        posts.push(pb::PostFindings {
            post_id: row.try_get::<uuid::Uuid, _>("id")?.to_string(),
            site_id: row.try_get("site_id")?,
            column_id: row.try_get("column_id")?,
            department: row.try_get("department")?,
            title: row.try_get("title")?,
            published_at: row
                .try_get::<Option<chrono::DateTime<Utc>>, _>("published_at")?
                .map(yiwang_kit::to_timestamp),
            findings: found,
        });
    }
    Ok(pb::ListFindingsResponse {
        scanned: rows.len() as i64,
        posts,
    })
}
