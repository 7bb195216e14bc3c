//! The 错敏词 rounds (复查): every change of the dictionary starts one background pass over
//! everything published. What a pass finds stands in `post_findings`, each finding with the
//! pass that first found it, so the office lists what a change of the dictionary found new, per
//! site and column; publishing a post writes its findings at once (those the final reviewer
//! overrode). One replica runs a pass (the one whose insert of the pass wins); another takes it
//! over if its lease lapses.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Row, Transaction};
use uuid::Uuid;
use yiwang_kit::{Error, Result};
use yiwang_proto::content::v1 as pb;

use crate::dictionary::{self, Dictionary};

/// Seconds a pass holds its claim between batches.
const LEASE_SECS: f64 = 120.0;
/// Posts scanned and written per transaction.
const BATCH: i64 = 200;

/// Replaces the findings of `posts` with the ones given; findings already standing keep the
/// pass that first found them, new ones are credited to `scan` (None: at publication).
pub async fn store(
    tx: &mut Transaction<'_, Postgres>,
    posts: &[(Uuid, Vec<pb::Finding>)],
    scan: Option<i64>,
) -> Result<u64> {
    let ids: Vec<Uuid> = posts.iter().map(|(id, _)| *id).collect();
    // One array per column, for unnest().
    #[derive(Default)]
    struct Columns {
        post: Vec<Uuid>,
        field: Vec<String>,
        start: Vec<i32>,
        end: Vec<i32>,
        text: Vec<String>,
        word: Vec<String>,
        kind: Vec<String>,
        suggestion: Vec<String>,
        note: Vec<String>,
    }
    let mut cols = Columns::default();
    for (id, found) in posts {
        for f in found {
            cols.post.push(*id);
            cols.field.push(f.field.clone());
            cols.start.push(f.start as i32);
            cols.end.push(f.end as i32);
            cols.text.push(f.text.clone());
            cols.word.push(f.word.clone());
            cols.kind.push(f.kind.clone());
            cols.suggestion.push(f.suggestion.clone());
            cols.note.push(f.note.clone());
        }
    }
    sqlx::query(
        "DELETE FROM post_findings f WHERE f.post_id = ANY($1)
            AND NOT EXISTS (SELECT 1 FROM unnest($2::uuid[], $3::text[], $4::int4[], $5::text[]) AS t(p, fd, s, w)
                             WHERE t.p = f.post_id AND t.fd = f.field AND t.s = f.start_at AND t.w = f.word)",
    )
    .bind(&ids)
    .bind(&cols.post)
    .bind(&cols.field)
    .bind(&cols.start)
    .bind(&cols.word)
    .execute(&mut **tx)
    .await?;
    let added = sqlx::query(
        "INSERT INTO post_findings (post_id, field, start_at, end_at, text, word, kind, suggestion, note, scan_id)
         SELECT p, fd, s, e, tx, w, k, sg, n, $10
           FROM unnest($1::uuid[], $2::text[], $3::int4[], $4::int4[], $5::text[], $6::text[],
                       $7::text[], $8::text[], $9::text[]) AS t(p, fd, s, e, tx, w, k, sg, n)
         ON CONFLICT (post_id, field, start_at, word) DO NOTHING",
    )
    .bind(&cols.post)
    .bind(&cols.field)
    .bind(&cols.start)
    .bind(&cols.end)
    .bind(&cols.text)
    .bind(&cols.word)
    .bind(&cols.kind)
    .bind(&cols.suggestion)
    .bind(&cols.note)
    .bind(scan)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(added)
}

/// Runs the pass of the dictionary as it is now, unless one has run or another replica runs it.
/// Returns the pass run here.
pub async fn run(pool: &PgPool, dict: &Dictionary) -> Result<Option<i64>> {
    let (version, scanner) = dict.current_fresh().await?;
    let claimed: Option<i64> = sqlx::query_scalar(
        "INSERT INTO dictionary_scans (version, words, lease_until)
         VALUES ($1, $2, now() + make_interval(secs => $3))
         ON CONFLICT (version) DO UPDATE SET lease_until = EXCLUDED.lease_until, started_at = now()
          WHERE dictionary_scans.finished_at IS NULL AND dictionary_scans.lease_until < now()
         RETURNING id",
    )
    .bind(dictionary::version_name(&version))
    .bind(version.0 as i32)
    .bind(LEASE_SECS)
    .fetch_optional(pool)
    .await?;
    let Some(id) = claimed else {
        return Ok(None);
    };
    let (mut after, mut scanned) = (Uuid::nil(), 0i64);
    loop {
        let mut tx = pool.begin().await?;
        // FOR SHARE: a post re-published meanwhile waits for this batch, then writes its own.
        let rows = sqlx::query(
            "SELECT id, title, body FROM posts
              WHERE published_at IS NOT NULL AND withdrawn_at IS NULL AND id > $1
              ORDER BY id LIMIT $2 FOR SHARE",
        )
        .bind(after)
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        let Some(last) = rows.last() else {
            tx.commit().await?;
            break;
        };
        after = last.try_get("id")?;
        let mut batch = Vec::with_capacity(rows.len());
        for r in &rows {
            let found = dictionary::findings(&scanner, r.try_get("title")?, r.try_get("body")?);
            batch.push((r.try_get::<Uuid, _>("id")?, found));
        }
        store(&mut tx, &batch, Some(id)).await?;
        scanned += rows.len() as i64;
        sqlx::query(
            "UPDATE dictionary_scans SET posts_scanned = $2,
                    lease_until = now() + make_interval(secs => $3) WHERE id = $1",
        )
        .bind(id)
        .bind(scanned)
        .bind(LEASE_SECS)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    sqlx::query(
        "UPDATE dictionary_scans SET finished_at = now(), posts_scanned = $2,
                new_findings = (SELECT count(*) FROM post_findings WHERE scan_id = $1)
          WHERE id = $1",
    )
    .bind(id)
    .bind(scanned)
    .execute(pool)
    .await?;
    Ok(Some(id))
}

/// Whether the dictionary has changed since the last finished pass.
pub async fn pending(pool: &PgPool, dict: &Dictionary) -> Result<bool> {
    let (version, _) = dict.current_fresh().await?;
    let done: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM dictionary_scans WHERE version = $1 AND finished_at IS NOT NULL)",
    )
    .bind(dictionary::version_name(&version))
    .fetch_one(pool)
    .await?;
    Ok(!done)
}

async fn new_by_column(pool: &PgPool, ids: &[i64]) -> Result<BTreeMap<i64, Vec<pb::ColumnCount>>> {
    let rows = sqlx::query(
        "SELECT f.scan_id, p.site_id, p.column_id, count(*) AS n
           FROM post_findings f JOIN posts p ON p.id = f.post_id
          WHERE f.scan_id = ANY($1) AND p.published_at IS NOT NULL AND p.withdrawn_at IS NULL
          GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    )
    .bind(ids)
    .fetch_all(pool)
    .await?;
    let mut out: BTreeMap<i64, Vec<pb::ColumnCount>> = BTreeMap::new();
    for r in &rows {
        out.entry(r.try_get("scan_id")?)
            .or_default()
            .push(pb::ColumnCount {
                site_id: r.try_get("site_id")?,
                column_id: r.try_get("column_id")?,
                count: r.try_get("n")?,
            });
    }
    Ok(out)
}

fn scan_of(
    r: &sqlx::postgres::PgRow,
    by_column: &mut BTreeMap<i64, Vec<pb::ColumnCount>>,
) -> Result<pb::DictionaryScan> {
    let id: i64 = r.try_get("id")?;
    Ok(pb::DictionaryScan {
        id,
        words: r.try_get("words")?,
        started_at: yiwang_kit::opt_timestamp(Some(r.try_get("started_at")?)),
        finished_at: yiwang_kit::opt_timestamp(
            r.try_get::<Option<DateTime<Utc>>, _>("finished_at")?,
        ),
        posts_scanned: r.try_get("posts_scanned")?,
        new_findings: r.try_get("new_findings")?,
        new_by_column: by_column.remove(&id).unwrap_or_default(),
    })
}

const SCAN_COLUMNS: &str = "id, words, started_at, finished_at, posts_scanned, new_findings";

pub async fn list(
    pool: &PgPool,
    r: &pb::ListDictionaryScansRequest,
) -> Result<pb::ListDictionaryScansResponse> {
    let size = match r.page_size {
        0 => 20,
        n @ 1..=100 => n as i64,
        _ => return Err(Error::invalid("page_size", "must be 1 to 100")),
    };
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {SCAN_COLUMNS} FROM dictionary_scans ORDER BY id DESC LIMIT $1"
    )))
    .bind(size)
    .fetch_all(pool)
    .await?;
    let ids: Vec<i64> = rows
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<std::result::Result<_, _>>()?;
    let mut by_column = new_by_column(pool, &ids).await?;
    let scans = rows
        .iter()
        .map(|r| scan_of(r, &mut by_column))
        .collect::<Result<_>>()?;
    Ok(pb::ListDictionaryScansResponse { scans })
}

/// The findings standing in what is published (the site, the column, or everything), or only
/// those one pass found new.
pub async fn findings(
    pool: &PgPool,
    dict: &Dictionary,
    r: &pb::ListFindingsRequest,
) -> Result<pb::ListFindingsResponse> {
    crate::site::ensure_scope(pool, &r.site_id, &r.column_id).await?;
    if r.scan_id < 0 {
        return Err(Error::invalid("scan_id", "must be a round's id"));
    }
    if r.scan_id > 0 {
        let known: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM dictionary_scans WHERE id = $1)")
                .bind(r.scan_id)
                .fetch_one(pool)
                .await?;
        if !known {
            return Err(Error::not_found(
                "SCAN_NOT_FOUND",
                format!("round {} does not exist", r.scan_id),
            ));
        }
    }
    let scope = "p.published_at IS NOT NULL AND p.withdrawn_at IS NULL
                 AND ($1 = '' OR p.site_id = $1) AND ($2 = '' OR p.column_id = $2)";
    let scanned: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM posts p WHERE {scope}"
    )))
    .bind(&r.site_id)
    .bind(&r.column_id)
    .fetch_one(pool)
    .await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH hit AS (
             SELECT p.id, p.site_id, p.column_id, p.department, p.title, p.published_at FROM posts p
              WHERE {scope} AND EXISTS (SELECT 1 FROM post_findings f WHERE f.post_id = p.id
                                          AND ($3 = 0 OR f.scan_id = $3))
              ORDER BY p.published_at DESC, p.id DESC LIMIT 500)
         SELECT hit.*, f.field, f.start_at, f.end_at, f.text, f.word, f.kind, f.suggestion, f.note
           FROM hit JOIN post_findings f ON f.post_id = hit.id AND ($3 = 0 OR f.scan_id = $3)
          ORDER BY hit.published_at DESC, hit.id DESC, f.field DESC, f.start_at"
    )))
    .bind(&r.site_id)
    .bind(&r.column_id)
    .bind(r.scan_id)
    .fetch_all(pool)
    .await?;
    let mut posts: Vec<pb::PostFindings> = Vec::new();
    for row in &rows {
        let id = row.try_get::<Uuid, _>("id")?.to_string();
        if posts.last().is_none_or(|p| p.post_id != id) {
            posts.push(pb::PostFindings {
                post_id: id,
                site_id: row.try_get("site_id")?,
                column_id: row.try_get("column_id")?,
                department: row.try_get("department")?,
                title: row.try_get("title")?,
                published_at: yiwang_kit::opt_timestamp(row.try_get("published_at")?),
                findings: Vec::new(),
            });
        }
        let end: i32 = row.try_get("end_at")?;
        let start: i32 = row.try_get("start_at")?;
        if let Some(p) = posts.last_mut() {
            p.findings.push(pb::Finding {
                field: row.try_get("field")?,
                start: start as u32,
                end: end as u32,
                text: row.try_get("text")?,
                word: row.try_get("word")?,
                kind: row.try_get("kind")?,
                suggestion: row.try_get("suggestion")?,
                note: row.try_get("note")?,
            });
        }
    }
    let last = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {SCAN_COLUMNS} FROM dictionary_scans WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 1"
    )))
    .fetch_optional(pool)
    .await?;
    let last_scan = match last {
        Some(row) => {
            let id: i64 = row.try_get("id")?;
            let mut by_column = new_by_column(pool, &[id]).await?;
            Some(scan_of(&row, &mut by_column)?)
        }
        None => None,
    };
    Ok(pb::ListFindingsResponse {
        scanned,
        posts,
        pending: pending(pool, dict).await?,
        last_scan,
    })
}

/// Findings per site and column in posts published in [from, to).
pub async fn per_column(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<BTreeMap<(String, String), i64>> {
    let rows = sqlx::query(
        "SELECT p.site_id, p.column_id, count(*) AS n FROM post_findings f JOIN posts p ON p.id = f.post_id
          WHERE p.published_at >= $1 AND p.published_at < $2 AND p.withdrawn_at IS NULL
          GROUP BY 1, 2",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    crate::site::by_column(&rows)
}
