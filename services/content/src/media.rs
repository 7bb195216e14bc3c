//! New-media accounts (政务新媒体): the register of the county's accounts with their operating
//! departments, their posts (pushed by the operator's system or entered by the department,
//! scanned with the 错敏词 dictionary), and the weekly check: an account with no post in 7 days
//! has lapsed, and its department hears of it once per lapse (`content.account.lapsed`, which
//! the inbox turns into a notice to the unit).

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use sqlx::{PgPool, Row};
use uuid::Uuid;
use yiwang_kit::{Caller, Error, Result, Violations, outbox, page};
use yiwang_proto::content::v1 as pb;

use crate::dictionary::{self, Dictionary};
use crate::site::check_slug;

pub const PLATFORMS: &[&str] = &["wechat", "weibo", "douyin", "wechat_channels"];
/// An account is expected to post at least this often.
pub const LAPSE_DAYS: i64 = 7;
pub const ACCOUNT_LAPSED: &str = "content.account.lapsed";

pub fn account_not_found(id: &str) -> Error {
    Error::not_found(
        "MEDIA_ACCOUNT_NOT_FOUND",
        format!(
            "new-media account {} does not exist",
            yiwang_kit::error::clip(id)
        ),
    )
}

const ACCOUNT_COLUMNS: &str = "a.id, a.platform, a.name, a.department, a.last_post_at, a.created_at, \
    (SELECT count(*) FROM media_posts p WHERE p.account_id = a.id) AS posts";

fn account_of(r: &sqlx::postgres::PgRow, now: DateTime<Utc>) -> Result<pb::MediaAccount> {
    let last: Option<DateTime<Utc>> = r.try_get("last_post_at")?;
    let created: DateTime<Utc> = r.try_get("created_at")?;
    Ok(pb::MediaAccount {
        id: r.try_get("id")?,
        platform: r.try_get("platform")?,
        name: r.try_get("name")?,
        department: r.try_get("department")?,
        lapsed: last.unwrap_or(created) < now - Duration::days(LAPSE_DAYS),
        last_post_at: yiwang_kit::opt_timestamp(last),
        posts: r.try_get("posts")?,
        created_at: yiwang_kit::opt_timestamp(Some(created)),
    })
}

pub async fn create_account(
    pool: &PgPool,
    c: &Caller,
    r: pb::CreateMediaAccountRequest,
) -> Result<pb::MediaAccount> {
    let mut v = Violations::new();
    check_slug(&mut v, "id", &r.id);
    v.one_of("platform", &r.platform, PLATFORMS);
    let name = v.text("name", &r.name, true, 100);
    let department = v.text("department", &r.department, true, 40);
    v.into_result()?;
    let inserted = sqlx::query(
        "INSERT INTO media_accounts (id, platform, name, department, created_by)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&r.id)
    .bind(&r.platform)
    .bind(&name)
    .bind(&department)
    .bind(&c.sub)
    .execute(pool)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(Error::already_exists(
            "MEDIA_ACCOUNT_EXISTS",
            format!("new-media account {} exists", r.id),
        ));
    }
    get_account(pool, &r.id).await
}

async fn get_account(pool: &PgPool, id: &str) -> Result<pb::MediaAccount> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ACCOUNT_COLUMNS} FROM media_accounts a WHERE a.id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| account_not_found(id))?;
    account_of(&row, Utc::now())
}

pub async fn list_accounts(pool: &PgPool, lapsed_only: bool) -> Result<Vec<pb::MediaAccount>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ACCOUNT_COLUMNS} FROM media_accounts a ORDER BY a.department, a.id"
    )))
    .fetch_all(pool)
    .await?;
    let now = Utc::now();
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let a = account_of(r, now)?;
        if !lapsed_only || a.lapsed {
            out.push(a);
        }
    }
    Ok(out)
}

fn findings_json(findings: &[pb::Finding]) -> Value {
    Value::Array(
        findings
            .iter()
            .map(|f| {
                json!({"field": f.field, "start": f.start, "end": f.end, "text": f.text,
                       "word": f.word, "kind": f.kind, "suggestion": f.suggestion, "note": f.note})
            })
            .collect(),
    )
}

fn findings_of(v: &Value) -> Vec<pb::Finding> {
    let s = |f: &Value, k: &str| f[k].as_str().unwrap_or_default().to_string();
    v.as_array()
        .into_iter()
        .flatten()
        .map(|f| pb::Finding {
            field: s(f, "field"),
            start: f["start"].as_u64().unwrap_or(0) as u32,
            end: f["end"].as_u64().unwrap_or(0) as u32,
            text: s(f, "text"),
            word: s(f, "word"),
            kind: s(f, "kind"),
            suggestion: s(f, "suggestion"),
            note: s(f, "note"),
        })
        .collect()
}

fn post_of(r: &sqlx::postgres::PgRow) -> Result<pb::MediaPost> {
    Ok(pb::MediaPost {
        id: r.try_get::<Uuid, _>("id")?.to_string(),
        account_id: r.try_get("account_id")?,
        external_id: r.try_get("external_id")?,
        title: r.try_get("title")?,
        body: r.try_get("body")?,
        published_at: yiwang_kit::opt_timestamp(Some(r.try_get("published_at")?)),
        findings: findings_of(&r.try_get::<Value, _>("findings")?),
        recorded_at: yiwang_kit::opt_timestamp(Some(r.try_get("recorded_at")?)),
    })
}

const POST_COLUMNS: &str =
    "id, account_id, external_id, title, body, published_at, findings, recorded_at";

pub async fn record_post(
    pool: &PgPool,
    dict: &Dictionary,
    c: &Caller,
    r: pb::RecordMediaPostRequest,
) -> Result<pb::MediaPost> {
    let mut v = Violations::new();
    let external_id = v.text("external_id", &r.external_id, true, 100);
    let title = v.text("title", &r.title, false, 200);
    let body = v.text("body", &r.body, true, 100_000);
    let now = Utc::now();
    let published_at = match &r.published_at {
        None => now,
        Some(t) => match yiwang_kit::from_timestamp("published_at", t) {
            Ok(t) if t <= now + Duration::minutes(5) => t,
            Ok(_) => {
                v.add("published_at", "must not be in the future");
                now
            }
            Err(_) => {
                v.add("published_at", "is not a valid time");
                now
            }
        },
    };
    v.into_result()?;
    let department: String =
        sqlx::query_scalar("SELECT department FROM media_accounts WHERE id = $1")
            .bind(&r.account_id)
            .fetch_optional(pool)
            .await?
            .ok_or_else(|| account_not_found(&r.account_id))?;
    // A department records its own accounts' posts; an operator system any account's.
    if !c.has_any_role(&[yiwang_kit::auth::roles::SYSTEM])
        && c.dept.as_deref() != Some(department.as_str())
    {
        return Err(Error::permission_denied(format!(
            "account {} is operated by {department}",
            r.account_id
        )));
    }
    let scanner = dict.scanner().await?;
    let findings = dictionary::findings(&scanner, &title, &body);
    let mut tx = pool.begin().await?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO media_posts (id, account_id, external_id, title, body, published_at, findings, recorded_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (account_id, external_id) DO NOTHING RETURNING {POST_COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(&r.account_id)
    .bind(&external_id)
    .bind(&title)
    .bind(&body)
    .bind(published_at)
    .bind(findings_json(&findings))
    .bind(&c.sub)
    .fetch_optional(&mut *tx)
    .await?;
    let row = match row {
        Some(row) => {
            // A newer post ends a lapse: the next one is told again.
            sqlx::query(
                "UPDATE media_accounts
                    SET last_post_at = GREATEST(last_post_at, $2),
                        lapse_notified = lapse_notified AND GREATEST(last_post_at, $2) < now() - make_interval(days => $3)
                  WHERE id = $1",
            )
            .bind(&r.account_id)
            .bind(published_at)
            .bind(LAPSE_DAYS as i32)
            .execute(&mut *tx)
            .await?;
            row
        }
        // Recorded before: the first record stands.
        None => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {POST_COLUMNS} FROM media_posts WHERE account_id = $1 AND external_id = $2"
            )))
            .bind(&r.account_id)
            .bind(&external_id)
            .fetch_one(&mut *tx)
            .await?
        }
    };
    tx.commit().await?;
    post_of(&row)
}

pub async fn list_posts(
    pool: &PgPool,
    r: &pb::ListMediaPostsRequest,
) -> Result<pb::ListMediaPostsResponse> {
    get_account(pool, &r.account_id).await?;
    let limit = page::page_size(r.page_size)?;
    let filters = page::fingerprint(&[&r.account_id]);
    let (at, after) = page::decode_newest_first(&r.page_token, filters)?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {POST_COLUMNS} FROM media_posts
          WHERE account_id = $1 AND ($2::timestamptz IS NULL OR (published_at, id) < ($2, $3))
          ORDER BY published_at DESC, id DESC LIMIT $4"
    )))
    .bind(&r.account_id)
    .bind(at)
    .bind(after)
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    let mut posts = rows.iter().map(post_of).collect::<Result<Vec<_>>>()?;
    let next_page_token = page::next_token(&mut posts, limit, filters, |p| {
        let at = p
            .published_at
            .as_ref()
            .and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
            .unwrap_or_default();
        page::newest_first_key(at, Uuid::parse_str(&p.id).unwrap_or_default())
    });
    Ok(pb::ListMediaPostsResponse {
        posts,
        next_page_token,
    })
}

/// The weekly check, run continuously: each account newly past 7 days without a post is
/// announced once (several replicas: SKIP LOCKED gives each account to one of them).
pub async fn flag_lapsed(pool: &PgPool) -> Result<usize> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(
        "UPDATE media_accounts SET lapse_notified = true
          WHERE id IN (SELECT id FROM media_accounts
                        WHERE NOT lapse_notified
                          AND COALESCE(last_post_at, created_at) < now() - make_interval(days => $1)
                        ORDER BY id LIMIT 500 FOR UPDATE SKIP LOCKED)
          RETURNING id, platform, name, department, last_post_at",
    )
    .bind(LAPSE_DAYS as i32)
    .fetch_all(&mut *tx)
    .await?;
    for r in &rows {
        outbox::enqueue(
            &mut tx,
            ACCOUNT_LAPSED,
            &json!({
                "account_id": r.try_get::<String, _>("id")?,
                "platform": r.try_get::<String, _>("platform")?,
                "name": r.try_get::<String, _>("name")?,
                "department": r.try_get::<String, _>("department")?,
                "last_post_at": r.try_get::<Option<DateTime<Utc>>, _>("last_post_at")?,
                "days": LAPSE_DAYS,
            }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(rows.len())
}
