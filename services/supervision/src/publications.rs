//! Publication of supervision information (公示): published plans with their draw results, and
//! free-text information published by supervisors. The listing is public.

use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;
use yiwang_kit::{Caller, Result, Violations, page};
use yiwang_proto::supervision::v1 as pb;

use crate::api::SupervisionApi;
use crate::{access, audit};
use yiwang_kit::to_timestamp;

pub const KINDS: &[&str] = &["plan", "results", "information"];

fn from_row(r: &sqlx::postgres::PgRow) -> Result<(pb::Publication, DateTime<Utc>, Uuid)> {
    let id: Uuid = r.try_get("id")?;
    let at: DateTime<Utc> = r.try_get("published_at")?;
    Ok((
        pb::Publication {
            id: id.to_string(),
            kind: r.try_get("kind")?,
            title: r.try_get("title")?,
            department: r.try_get("department")?,
            plan_id: r
                .try_get::<Option<Uuid>, _>("plan_id")?
                .map(|u| u.to_string())
                .unwrap_or_default(),
            content: r.try_get("content")?,
            published_at: Some(to_timestamp(at)),
        },
        at,
        id,
    ))
}

impl SupervisionApi {
    pub async fn create_publication(
        &self,
        caller: &Caller,
        r: pb::CreatePublicationRequest,
    ) -> Result<pb::Publication> {
        caller.require_authenticated()?;
        let dept = access::department_of(caller, &r.department)?;
        access::require_acts_for(caller, &dept, access::MANAGERS)?;
        let mut v = Violations::new();
        let title = v.text("title", &r.title, true, 200);
        let content = v.text("content", &r.content, true, 20_000);
        // Information is published by a supervising department: one with supervision items or
        // claims here (a supervisor could otherwise publish under any made-up name).
        let supervises: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM items WHERE department = $1)
                 OR EXISTS (SELECT 1 FROM claims WHERE department = $1)",
        )
        .bind(&dept)
        .fetch_one(&self.pool)
        .await?;
        if !supervises {
            v.add(
                "department",
                "names no department with supervision items or claims",
            );
        }
        v.into_result()?;
        let id = Uuid::now_v7();
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "INSERT INTO publications (id, kind, title, department, content, published_by)
             VALUES ($1, 'information', $2, $3, $4, $5)
             RETURNING id, kind, title, department, plan_id, content, published_at",
        )
        .bind(id)
        .bind(&title)
        .bind(&dept)
        .bind(&content)
        .bind(&caller.sub)
        .fetch_one(&mut *tx)
        .await?;
        audit::record::<(), _>(
            &mut tx,
            &caller.sub,
            "publish",
            &format!("publication:{id}"),
            None,
            Some(&title),
        )
        .await?;
        tx.commit().await?;
        Ok(from_row(&row)?.0)
    }

    pub async fn list_publications(
        &self,
        caller: &Caller,
        r: pb::ListPublicationsRequest,
    ) -> Result<pb::ListPublicationsResponse> {
        let limit = page::page_size(r.page_size)?;
        if !r.kind.is_empty() {
            let mut v = Violations::new();
            v.one_of("kind", &r.kind, KINDS);
            v.into_result()?;
        }
        let f = page::fingerprint(&[&r.department, &r.kind]);
        let (after_t, after_id) = page::decode_newest_first(&r.page_token, f)?;
        let pool = self.reads.for_caller(&caller.sub).await;
        let rows = sqlx::query(
            "SELECT id, kind, title, department, plan_id, content, published_at FROM publications
             WHERE ($1 = '' OR department = $1) AND ($2 = '' OR kind = $2)
             AND ($3::timestamptz IS NULL OR (published_at, id) < ($3, $4))
             ORDER BY published_at DESC, id DESC LIMIT $5",
        )
        .bind(r.department.trim())
        .bind(r.kind.trim())
        .bind(after_t)
        .bind(after_id)
        .bind(limit + 1)
        .fetch_all(pool)
        .await?;
        let mut out = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        let next = page::next_token(&mut out, limit, f, |(_, t, id)| {
            page::newest_first_key(*t, *id)
        });
        Ok(pb::ListPublicationsResponse {
            publications: out.into_iter().map(|p| p.0).collect(),
            next_page_token: next,
        })
    }
}
