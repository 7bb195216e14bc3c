//! Posts and the three reviews (三审): draft → first review → second review → final review →
//! published, each review by a different person holding the step's role; a rejection (with
//! its reason) sends the working copy back to the author's department; a published post
//! changed keeps its published text until the change has passed all three; the final reviewer
//! may withdraw a published post at once (撤稿). Every step is in the post's history.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Row, Transaction};
use uuid::Uuid;
use yiwang_kit::auth::roles;
use yiwang_kit::{Caller, Error, Result, Violations, page};
use yiwang_proto::content::v1 as pb;

use crate::dictionary::{self, Dictionary};
use crate::{dictionary_scan, links, site};

/// The three review steps' roles.
pub const REVIEWERS: &[&str] = &[
    roles::CONTENT_FIRST_REVIEWER,
    roles::CONTENT_SECOND_REVIEWER,
    roles::CONTENT_FINAL_REVIEWER,
];

/// What the portal shows: published, not withdrawn, inside its publication window.
const PUBLIC: &str = "published_at IS NOT NULL AND withdrawn_at IS NULL \
    AND (publish_at IS NULL OR publish_at <= now()) AND (withdraw_at IS NULL OR withdraw_at > now())";

const COLUMNS: &str = "id, site_id, column_id, department, author, draft_title, draft_body, review_state, \
    first_reviewer, second_reviewer, title, body, publish_at, withdraw_at, published_at, withdrawn_at, \
    created_at, updated_at, draft_attachments, attachments";

/// An attachment as kept (jsonb).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Attachment {
    pub name: String,
    pub url: String,
}

impl From<Attachment> for pb::Attachment {
    fn from(a: Attachment) -> pb::Attachment {
        pb::Attachment {
            name: a.name,
            url: a.url,
        }
    }
}

/// Most attachments a post carries.
const MAX_ATTACHMENTS: usize = 20;

/// Checks attachments: a name, and an http(s) address or a path on the site.
fn attachments(v: &mut Violations, given: &[pb::Attachment]) -> Vec<Attachment> {
    if given.len() > MAX_ATTACHMENTS {
        v.add(
            "attachments",
            format!("at most {MAX_ATTACHMENTS} attachments"),
        );
        return Vec::new();
    }
    let mut out = Vec::with_capacity(given.len());
    for (i, a) in given.iter().enumerate() {
        let name = v.text(&format!("attachments[{i}].name"), &a.name, true, 200);
        let url = v.text(&format!("attachments[{i}].url"), &a.url, true, 2000);
        let usable = url.starts_with('/') && !url.starts_with("//")
            || reqwest::Url::parse(&url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
        if !url.is_empty() && !usable {
            v.add(
                format!("attachments[{i}].url"),
                "must be an http(s) address or a path on the site (/…)",
            );
        }
        out.push(Attachment { name, url });
    }
    out
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PostRow {
    pub id: Uuid,
    pub site_id: String,
    pub column_id: String,
    pub department: String,
    pub author: String,
    pub draft_title: String,
    pub draft_body: String,
    pub review_state: String,
    pub first_reviewer: String,
    pub second_reviewer: String,
    pub title: String,
    pub body: String,
    pub publish_at: Option<DateTime<Utc>>,
    pub withdraw_at: Option<DateTime<Utc>>,
    pub published_at: Option<DateTime<Utc>>,
    pub withdrawn_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub draft_attachments: sqlx::types::Json<Vec<Attachment>>,
    pub attachments: sqlx::types::Json<Vec<Attachment>>,
}

impl PostRow {
    /// The post's state as the API names it, and the state of a change under review.
    pub fn states(&self) -> (String, String) {
        let pending = if self.review_state == "done" {
            String::new()
        } else {
            self.review_state.clone()
        };
        if self.withdrawn_at.is_some() {
            ("withdrawn".into(), pending)
        } else if self.published_at.is_some() {
            ("published".into(), pending)
        } else {
            (self.review_state.clone(), String::new())
        }
    }
}

pub fn not_found(id: impl std::fmt::Display) -> Error {
    Error::not_found("POST_NOT_FOUND", format!("post {id} does not exist"))
}

fn post_id(id: &str) -> Result<Uuid> {
    Uuid::parse_str(id.trim()).map_err(|_| not_found(yiwang_kit::error::clip(id)))
}

/// The HTML a post may hold: ammonia's allow-list (no scripts, event handlers, styles or
/// foreign schemes), links opened safely.
pub fn sanitize(html: &str) -> String {
    ammonia::Builder::default()
        .url_schemes(["http", "https", "mailto"].into())
        .link_rel(Some("noopener noreferrer"))
        .clean(html)
        .to_string()
}

/// Staff see a post's working copy, findings and history: its department's authors, the
/// reviewers, the content administrators.
fn is_staff_for(c: &Caller, p: &PostRow) -> bool {
    c.has_any_role(REVIEWERS)
        || c.has_any_role(&[roles::CONTENT_ADMIN])
        || (c.has_any_role(&[roles::CONTENT_AUTHOR]) && c.dept.as_deref() == Some(&p.department))
}

fn author_of(c: &Caller, p: &PostRow) -> Result<()> {
    if c.has_any_role(&[roles::CONTENT_AUTHOR]) && c.dept.as_deref() == Some(&p.department) {
        Ok(())
    } else if is_staff_for(c, p) {
        Err(Error::permission_denied(
            "only an author of the post's department may change or submit it",
        ))
    } else {
        Err(not_found(p.id))
    }
}

pub fn to_pb(p: PostRow, staff: Option<(Vec<pb::Finding>, Vec<pb::HistoryEntry>)>) -> pb::Post {
    let (state, revision_state) = p.states();
    let mut out = pb::Post {
        id: p.id.to_string(),
        site_id: p.site_id,
        column_id: p.column_id,
        title: p.title,
        body: p.body,
        department: p.department,
        state,
        revision_state,
        publish_at: yiwang_kit::opt_timestamp(p.publish_at),
        withdraw_at: yiwang_kit::opt_timestamp(p.withdraw_at),
        published_at: yiwang_kit::opt_timestamp(p.published_at),
        created_at: yiwang_kit::opt_timestamp(Some(p.created_at)),
        updated_at: yiwang_kit::opt_timestamp(Some(p.updated_at)),
        attachments: p.attachments.0.into_iter().map(Into::into).collect(),
        ..Default::default()
    };
    if let Some((findings, history)) = staff {
        out.draft_attachments = p.draft_attachments.0.into_iter().map(Into::into).collect();
        out.draft_title = p.draft_title;
        out.draft_body = p.draft_body;
        out.author = p.author;
        out.findings = findings;
        out.history = history;
    }
    out
}

async fn load(pool: &PgPool, id: Uuid) -> Result<PostRow> {
    sqlx::query_as::<_, PostRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM posts WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| not_found(id))
}

async fn lock(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> Result<PostRow> {
    sqlx::query_as::<_, PostRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM posts WHERE id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| not_found(id))
}

async fn record(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    actor: &str,
    action: &str,
    from: &str,
    to: &str,
    reason: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO post_history (post_id, actor, action, from_state, to_state, reason)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(actor)
    .bind(action)
    .bind(from)
    .bind(to)
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn history(pool: &PgPool, id: Uuid) -> Result<Vec<pb::HistoryEntry>> {
    let rows = sqlx::query(
        "SELECT at, actor, action, from_state, to_state, reason FROM post_history
          WHERE post_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(pb::HistoryEntry {
                at: yiwang_kit::opt_timestamp(Some(r.try_get("at")?)),
                actor: r.try_get("actor")?,
                action: r.try_get("action")?,
                from_state: r.try_get("from_state")?,
                to_state: r.try_get("to_state")?,
                reason: r.try_get("reason")?,
            })
        })
        .collect()
}

/// The post as `c` may see it: staff in full; anyone else only what the portal shows.
pub async fn view(pool: &PgPool, dict: &Dictionary, c: &Caller, p: PostRow) -> Result<pb::Post> {
    if is_staff_for(c, &p) {
        let scanner = dict.scanner().await?;
        let findings = dictionary::findings(&scanner, &p.draft_title, &p.draft_body);
        let trail = history(pool, p.id).await?;
        return Ok(to_pb(p, Some((findings, trail))));
    }
    let now = Utc::now();
    let public = p.published_at.is_some()
        && p.withdrawn_at.is_none()
        && p.publish_at.is_none_or(|t| t <= now)
        && p.withdraw_at.is_none_or(|t| t > now);
    if public {
        Ok(to_pb(p, None))
    } else {
        Err(not_found(p.id))
    }
}

pub async fn get(pool: &PgPool, dict: &Dictionary, c: &Caller, id: &str) -> Result<pb::Post> {
    let p = load(pool, post_id(id)?).await?;
    view(pool, dict, c, p).await
}

fn window(
    v: &mut Violations,
    publish_at: Option<&prost_types::Timestamp>,
    withdraw_at: Option<&prost_types::Timestamp>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let conv = |v: &mut Violations, field: &str, t: Option<&prost_types::Timestamp>| {
        t.and_then(|t| match yiwang_kit::from_timestamp(field, t) {
            Ok(d) => Some(d),
            Err(_) => {
                v.add(field, "is not a valid time");
                None
            }
        })
    };
    let (from, to) = (
        conv(v, "publish_at", publish_at),
        conv(v, "withdraw_at", withdraw_at),
    );
    if let (Some(a), Some(b)) = (from, to)
        && b <= a
    {
        v.add("withdraw_at", "must be after publish_at");
    }
    (from, to)
}

pub async fn create(
    pool: &PgPool,
    dict: &Dictionary,
    c: &Caller,
    r: pb::CreatePostRequest,
) -> Result<pb::Post> {
    let Some(dept) = c.dept.clone().filter(|d| !d.trim().is_empty()) else {
        return Err(Error::permission_denied(
            "an author's token names their department (dept)",
        ));
    };
    let mut v = Violations::new();
    let title = v.text("title", &r.title, true, 200);
    let body = sanitize(&v.text("body", &r.body, true, 500_000));
    let (publish_at, withdraw_at) = window(&mut v, r.publish_at.as_ref(), r.withdraw_at.as_ref());
    let request_id = v.text("request_id", &r.request_id, false, 100);
    let files = attachments(&mut v, &r.attachments);
    v.into_result()?;
    site::ensure_column(pool, &r.site_id, &r.column_id).await?;
    if !request_id.is_empty()
        && let Some(id) = sqlx::query_scalar::<_, Uuid>(
            "SELECT id FROM posts WHERE author = $1 AND request_id = $2",
        )
        .bind(&c.sub)
        .bind(&request_id)
        .fetch_optional(pool)
        .await?
    {
        return view(pool, dict, c, load(pool, id).await?).await;
    }
    let id = Uuid::now_v7();
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO posts (id, site_id, column_id, department, author, draft_title, draft_body,
             review_state, publish_at, withdraw_at, request_id, draft_attachments)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'draft', $8, $9, $10, $11)",
    )
    .bind(id)
    .bind(&r.site_id)
    .bind(&r.column_id)
    .bind(&dept)
    .bind(&c.sub)
    .bind(&title)
    .bind(&body)
    .bind(publish_at)
    .bind(withdraw_at)
    .bind(&request_id)
    .bind(sqlx::types::Json(&files))
    .execute(&mut *tx)
    .await?;
    record(&mut tx, id, &c.sub, "create", "", "draft", "").await?;
    tx.commit().await?;
    view(pool, dict, c, load(pool, id).await?).await
}

fn in_review(p: &PostRow) -> Error {
    Error::failed_precondition(
        "POST_STATE",
        format!(
            "post {} is in {}; it changes only as a draft (a reviewer rejects it back first)",
            p.id, p.review_state
        ),
    )
    .with_metadata("state", p.review_state.clone())
}

pub async fn update(
    pool: &PgPool,
    dict: &Dictionary,
    c: &Caller,
    r: pb::UpdatePostRequest,
) -> Result<pb::Post> {
    let id = post_id(&r.id)?;
    let mut v = Violations::new();
    let title = v.text("title", &r.title, false, 200);
    let body = v.text("body", &r.body, false, 500_000);
    let (publish_at, withdraw_at) = window(&mut v, r.publish_at.as_ref(), r.withdraw_at.as_ref());
    let files = attachments(&mut v, &r.attachments);
    if r.clear_attachments && !files.is_empty() {
        v.add(
            "clear_attachments",
            "give either attachments or clear_attachments, not both",
        );
    }
    let files = (r.clear_attachments || !files.is_empty()).then_some(files);
    v.into_result()?;
    let mut tx = pool.begin().await?;
    let p = lock(&mut tx, id).await?;
    author_of(c, &p)?;
    if !matches!(p.review_state.as_str(), "draft" | "done") {
        return Err(in_review(&p));
    }
    sqlx::query(
        "UPDATE posts SET draft_title = CASE WHEN $2 = '' THEN draft_title ELSE $2 END,
                draft_body = CASE WHEN $3 = '' THEN draft_body ELSE $3 END,
                publish_at = COALESCE($4, publish_at), withdraw_at = COALESCE($5, withdraw_at),
                draft_attachments = COALESCE($6, draft_attachments),
                review_state = 'draft', first_reviewer = '', second_reviewer = '', updated_at = now()
          WHERE id = $1",
    )
    .bind(id)
    .bind(&title)
    .bind(if body.is_empty() { String::new() } else { sanitize(&body) })
    .bind(publish_at)
    .bind(withdraw_at)
    .bind(files.map(sqlx::types::Json))
    .execute(&mut *tx)
    .await?;
    record(&mut tx, id, &c.sub, "edit", &p.review_state, "draft", "").await?;
    tx.commit().await?;
    view(pool, dict, c, load(pool, id).await?).await
}

pub async fn submit(pool: &PgPool, dict: &Dictionary, c: &Caller, id: &str) -> Result<pb::Post> {
    let id = post_id(id)?;
    let mut tx = pool.begin().await?;
    let p = lock(&mut tx, id).await?;
    author_of(c, &p)?;
    if p.review_state != "draft" {
        return Err(Error::failed_precondition(
            "POST_STATE",
            format!("post {id} is {}; only a draft is submitted", p.review_state),
        )
        .with_metadata("state", p.review_state.clone()));
    }
    sqlx::query("UPDATE posts SET review_state = 'first_review', updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    record(&mut tx, id, &c.sub, "submit", "draft", "first_review", "").await?;
    tx.commit().await?;
    view(pool, dict, c, load(pool, id).await?).await
}

/// The role a review step needs, and the state after approval.
fn step(state: &str) -> Option<(&'static str, &'static str)> {
    match state {
        "first_review" => Some((roles::CONTENT_FIRST_REVIEWER, "second_review")),
        "second_review" => Some((roles::CONTENT_SECOND_REVIEWER, "final_review")),
        "final_review" => Some((roles::CONTENT_FINAL_REVIEWER, "done")),
        _ => None,
    }
}

pub async fn review(
    pool: &PgPool,
    dict: &Dictionary,
    c: &Caller,
    r: pb::ReviewPostRequest,
) -> Result<pb::Post> {
    let id = post_id(&r.id)?;
    let mut v = Violations::new();
    v.one_of("decision", &r.decision, &["approve", "reject"]);
    let reason = v.text("reason", &r.reason, r.decision == "reject", 1000);
    let override_reason = v.text("override_reason", &r.override_reason, false, 1000);
    v.into_result()?;
    let scanner = dict.scanner().await?;
    let mut tx = pool.begin().await?;
    let p = lock(&mut tx, id).await?;
    if !is_staff_for(c, &p) {
        return Err(not_found(id));
    }
    let Some((role, next)) = step(&p.review_state) else {
        return Err(Error::failed_precondition(
            "POST_STATE",
            format!(
                "post {id} is {}; nothing of it waits for review",
                p.review_state
            ),
        )
        .with_metadata("state", p.review_state.clone()));
    };
    c.require_any_role(&[role])?;
    // 三审: three different people, none of them the author.
    let acted = [p.author.as_str(), &p.first_reviewer, &p.second_reviewer];
    if acted.contains(&c.sub.as_str()) {
        return Err(Error::failed_precondition(
            "REVIEWER_NOT_INDEPENDENT",
            format!(
                "{} wrote or already reviewed post {id}; each review is by another person",
                c.sub
            ),
        ));
    }
    if r.decision == "reject" {
        sqlx::query(
            "UPDATE posts SET review_state = 'draft', first_reviewer = '', second_reviewer = '',
                    updated_at = now() WHERE id = $1",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        record(
            &mut tx,
            id,
            &c.sub,
            "reject",
            &p.review_state,
            "draft",
            &reason,
        )
        .await?;
        tx.commit().await?;
        return view(pool, dict, c, load(pool, id).await?).await;
    }
    if next == "done" {
        let open = dictionary::findings(&scanner, &p.draft_title, &p.draft_body);
        if !open.is_empty() && override_reason.is_empty() {
            return Err(Error::failed_precondition(
                "OPEN_FINDINGS",
                format!(
                    "post {id} has {} 错敏词 finding(s) open ({}); correct them, or approve with override_reason saying why they stand",
                    open.len(),
                    open.iter().map(|f| f.text.as_str()).take(5).collect::<Vec<_>>().join("、")
                ),
            )
            .with_metadata("findings", open.len().to_string()));
        }
        // What the post publishes stands from now: its findings (overridden), its links.
        dictionary_scan::store(&mut tx, &[(id, open.clone())], None).await?;
        let domain: String = sqlx::query_scalar("SELECT domain FROM sites WHERE id = $1")
            .bind(&p.site_id)
            .fetch_one(&mut *tx)
            .await?;
        let files: Vec<pb::Attachment> = p
            .draft_attachments
            .0
            .iter()
            .cloned()
            .map(Into::into)
            .collect();
        let found = links::extract(&p.draft_body, &files, site::base_url(&domain).as_ref());
        links::record(&mut tx, id, &found).await?;
        sqlx::query(
            "UPDATE posts SET review_state = 'done', title = draft_title, body = draft_body,
                    attachments = draft_attachments,
                    published_at = CASE WHEN published_at IS NULL OR withdrawn_at IS NOT NULL
                                        THEN now() ELSE published_at END,
                    withdrawn_at = NULL, first_reviewer = '', second_reviewer = '', updated_at = now()
              WHERE id = $1",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let note = if open.is_empty() {
            reason.clone()
        } else {
            format!("override of {} finding(s): {override_reason}", open.len())
        };
        record(
            &mut tx,
            id,
            &c.sub,
            "publish",
            "final_review",
            "published",
            &note,
        )
        .await?;
    } else {
        let column = if p.review_state == "first_review" {
            "first_reviewer"
        } else {
            "second_reviewer"
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE posts SET review_state = $2, {column} = $3, updated_at = now() WHERE id = $1"
        )))
        .bind(id)
        .bind(next)
        .bind(&c.sub)
        .execute(&mut *tx)
        .await?;
        record(
            &mut tx,
            id,
            &c.sub,
            "approve",
            &p.review_state,
            next,
            &reason,
        )
        .await?;
    }
    tx.commit().await?;
    metrics::counter!("yiwang_content_reviews_total", "step" => p.review_state.clone())
        .increment(1);
    view(pool, dict, c, load(pool, id).await?).await
}

pub async fn withdraw(
    pool: &PgPool,
    dict: &Dictionary,
    c: &Caller,
    r: pb::PostActionRequest,
) -> Result<pb::Post> {
    c.require_any_role(&[roles::CONTENT_FINAL_REVIEWER])?;
    let id = post_id(&r.id)?;
    let mut v = Violations::new();
    let reason = v.text("reason", &r.reason, true, 1000);
    v.into_result()?;
    let mut tx = pool.begin().await?;
    let p = lock(&mut tx, id).await?;
    if p.published_at.is_none() || p.withdrawn_at.is_some() {
        return Err(Error::failed_precondition(
            "POST_STATE",
            format!("post {id} is not published"),
        ));
    }
    sqlx::query("UPDATE posts SET withdrawn_at = now(), updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    record(
        &mut tx,
        id,
        &c.sub,
        "withdraw",
        "published",
        "withdrawn",
        &reason,
    )
    .await?;
    tx.commit().await?;
    view(pool, dict, c, load(pool, id).await?).await
}

/// A column's posts as the portal shows them, newest first.
pub async fn list_public(
    pool: &PgPool,
    r: &pb::ListColumnPostsRequest,
) -> Result<pb::ListPostsResponse> {
    site::ensure_column(pool, &r.site_id, &r.column_id).await?;
    let limit = page::page_size(r.page_size)?;
    let filters = page::fingerprint(&[&r.site_id, &r.column_id]);
    let (at, after) = page::decode_newest_first(&r.page_token, filters)?;
    let mut rows = sqlx::query_as::<_, PostRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM posts
          WHERE site_id = $1 AND column_id = $2 AND {PUBLIC}
            AND ($3::timestamptz IS NULL OR (published_at, id) < ($3, $4))
          ORDER BY published_at DESC, id DESC LIMIT $5"
    )))
    .bind(&r.site_id)
    .bind(&r.column_id)
    .bind(at)
    .bind(after)
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    let next_page_token = page::next_token(&mut rows, limit, filters, |p| {
        page::newest_first_key(p.published_at.unwrap_or(p.created_at), p.id)
    });
    Ok(pb::ListPostsResponse {
        posts: rows.into_iter().map(|p| to_pb(p, None)).collect(),
        next_page_token,
    })
}

/// What waits for the caller's steps and is not theirs to skip (they wrote or reviewed it).
pub async fn review_queue(
    pool: &PgPool,
    c: &Caller,
    r: &pb::ListReviewQueueRequest,
) -> Result<pb::ListPostsResponse> {
    let states: Vec<&str> = ["first_review", "second_review", "final_review"]
        .into_iter()
        .filter(|s| step(s).is_some_and(|(role, _)| c.has_any_role(&[role])))
        .collect();
    let limit = page::page_size(r.page_size)?;
    let filters = page::fingerprint(&[&c.sub, &states.join(",")]);
    let after: Option<(i64, Uuid)> = page::decode(&r.page_token, filters)?;
    let (at, id) = match after {
        Some((micros, id)) => (DateTime::from_timestamp_micros(micros), Some(id)),
        None => (None, None),
    };
    let mut rows = sqlx::query_as::<_, PostRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM posts
          WHERE review_state = ANY($1) AND author <> $2 AND first_reviewer <> $2 AND second_reviewer <> $2
            AND ($3::timestamptz IS NULL OR (updated_at, id) > ($3, $4))
          ORDER BY updated_at, id LIMIT $5"
    )))
    .bind(&states)
    .bind(&c.sub)
    .bind(at)
    .bind(id)
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    let next_page_token = page::next_token(&mut rows, limit, filters, |p| {
        (p.updated_at.timestamp_micros(), p.id)
    });
    Ok(pb::ListPostsResponse {
        posts: rows
            .into_iter()
            .map(|p| to_pb(p, Some((Vec::new(), Vec::new()))))
            .collect(),
        next_page_token,
    })
}
