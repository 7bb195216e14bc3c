//! 双随机一公开 plans: parameters (draft), the draw (once; the plan is immutable afterwards), the
//! published input document and its verification, publication.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use uuid::Uuid;
use yiwang_kit::{Caller, Code, Error, Result, Violations, page};
use yiwang_proto::supervision::v1 as pb;

use crate::access::MANAGERS;
use crate::api::SupervisionApi;
use crate::draw;
use crate::registers::{self, POST_TYPES};
use crate::{access, audit, request_fields};
use yiwang_kit::to_timestamp;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EntityFilter {
    pub industry: String,
    pub region: String,
    pub risk_levels: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct InspectorFilter {
    pub department: String,
    pub post_type: String,
}

pub struct PlanRow {
    pub id: Uuid,
    pub department: String,
    pub name: String,
    pub item_codes: Vec<String>,
    pub entity_filter: EntityFilter,
    pub sample_percent: i32,
    pub sample_count: i32,
    pub inspector_filter: InspectorFilter,
    pub inspectors_per_target: i32,
    pub state: String,
    pub seed: String,
    pub algorithm: String,
    pub picks: Vec<draw::Pick>,
    pub candidate_count: i32,
    pub inspector_count: i32,
    pub exclusion_count: i32,
    pub previous_plan_id: Option<Uuid>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub drawn_at: Option<DateTime<Utc>>,
    pub published_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, department, name, item_codes, entity_filter, sample_percent, sample_count, inspector_filter,
    inspectors_per_target, state, seed, algorithm, picks, candidate_count, inspector_count, exclusion_count,
    previous_plan_id, created_by, created_at, drawn_at, published_at";

fn from_row(r: &sqlx::postgres::PgRow) -> Result<PlanRow> {
    let json = |v: serde_json::Value| v;
    Ok(PlanRow {
        id: r.try_get("id")?,
        department: r.try_get("department")?,
        name: r.try_get("name")?,
        item_codes: r.try_get("item_codes")?,
        entity_filter: serde_json::from_value(json(r.try_get("entity_filter")?))
            .map_err(Error::internal)?,
        sample_percent: r.try_get("sample_percent")?,
        sample_count: r.try_get("sample_count")?,
        inspector_filter: serde_json::from_value(json(r.try_get("inspector_filter")?))
            .map_err(Error::internal)?,
        inspectors_per_target: r.try_get("inspectors_per_target")?,
        state: r.try_get("state")?,
        seed: r.try_get("seed")?,
        algorithm: r.try_get("algorithm")?,
        picks: match r.try_get::<Option<serde_json::Value>, _>("picks")? {
            Some(v) => serde_json::from_value(v).map_err(Error::internal)?,
            None => vec![],
        },
        candidate_count: r.try_get("candidate_count")?,
        inspector_count: r.try_get("inspector_count")?,
        exclusion_count: r.try_get("exclusion_count")?,
        previous_plan_id: r.try_get("previous_plan_id")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        drawn_at: r.try_get("drawn_at")?,
        published_at: r.try_get("published_at")?,
    })
}

pub fn pick_to_pb(p: &draw::Pick) -> pb::DrawPick {
    pb::DrawPick {
        entity_id: p.entity_id,
        inspector_ids: p.inspector_ids.clone(),
    }
}

pub fn pick_from_pb(p: &pb::DrawPick) -> draw::Pick {
    draw::Pick {
        entity_id: p.entity_id,
        inspector_ids: p.inspector_ids.clone(),
    }
}

pub fn plan_to_pb(p: &PlanRow) -> pb::Plan {
    pb::Plan {
        id: p.id.to_string(),
        department: p.department.clone(),
        name: p.name.clone(),
        item_codes: p.item_codes.clone(),
        entity_filter: Some(pb::EntityFilter {
            industry: p.entity_filter.industry.clone(),
            region: p.entity_filter.region.clone(),
            risk_levels: p.entity_filter.risk_levels.clone(),
        }),
        sample_percent: p.sample_percent as u32,
        sample_count: p.sample_count as u32,
        inspector_filter: Some(pb::InspectorFilter {
            department: p.inspector_filter.department.clone(),
            post_type: p.inspector_filter.post_type.clone(),
        }),
        inspectors_per_target: p.inspectors_per_target as u32,
        state: p.state.clone(),
        seed: p.seed.clone(),
        algorithm: p.algorithm.clone(),
        picks: p.picks.iter().map(pick_to_pb).collect(),
        candidate_count: p.candidate_count as u32,
        inspector_count: p.inspector_count as u32,
        exclusion_count: p.exclusion_count as u32,
        previous_plan_id: p
            .previous_plan_id
            .map(|i| i.to_string())
            .unwrap_or_default(),
        created_by: p.created_by.clone(),
        created_at: Some(to_timestamp(p.created_at)),
        drawn_at: yiwang_kit::opt_timestamp(p.drawn_at),
        published_at: yiwang_kit::opt_timestamp(p.published_at),
    }
}

/// Validated plan parameters.
struct Params {
    name: String,
    item_codes: Vec<String>,
    entity_filter: EntityFilter,
    sample_percent: u32,
    sample_count: u32,
    inspector_filter: InspectorFilter,
    inspectors_per_target: u32,
}

#[allow(clippy::too_many_arguments)]
fn check_params(
    name: &str,
    item_codes: &[String],
    ef: Option<&pb::EntityFilter>,
    sample_percent: u32,
    sample_count: u32,
    inf: Option<&pb::InspectorFilter>,
    per: u32,
    department: &str,
) -> Result<Params> {
    let mut v = Violations::new();
    let name = v.text("name", name, true, 200);
    let mut codes: Vec<String> = item_codes.iter().map(|c| c.trim().to_string()).collect();
    if codes.is_empty() {
        v.add("item_codes", "must name at least one supervision item");
    }
    for (i, c) in codes.iter().enumerate() {
        if c.len() != 14 || !c.bytes().all(|b| b.is_ascii_digit()) {
            v.add(
                format!("item_codes[{i}]"),
                "must be a 14-digit supervision item code",
            );
        }
    }
    codes.sort();
    codes.dedup();
    let ef = ef.cloned().unwrap_or_default();
    let entity_filter = EntityFilter {
        industry: ef.industry.trim().to_string(),
        region: ef.region.trim().to_string(),
        risk_levels: ef
            .risk_levels
            .iter()
            .map(|s| s.trim().to_string())
            .collect(),
    };
    registers::check_filter(
        &mut v,
        "entity_filter.",
        &entity_filter.region,
        &entity_filter.risk_levels,
    );
    match (sample_percent, sample_count) {
        (0, 0) => v.add(
            "sample_percent",
            "give either sample_percent (1 to 100) or sample_count (at least 1)",
        ),
        (p, 0) if p > 100 => v.add("sample_percent", "must be between 1 and 100"),
        (_, 0) | (0, _) => {}
        _ => v.add(
            "sample_count",
            "give either sample_percent or sample_count, not both",
        ),
    }
    let inf = inf.cloned().unwrap_or_default();
    let inspector_filter = InspectorFilter {
        department: if inf.department.trim().is_empty() {
            department.to_string()
        } else {
            inf.department.trim().to_string()
        },
        post_type: inf.post_type.trim().to_string(),
    };
    if !inspector_filter.post_type.is_empty()
        && !POST_TYPES.contains(&inspector_filter.post_type.as_str())
    {
        v.add(
            "inspector_filter.post_type",
            format!("must be one of {}", POST_TYPES.join(", ")),
        );
    }
    let per = if per == 0 { 2 } else { per };
    if !(2..=20).contains(&per) {
        v.add(
            "inspectors_per_target",
            "must be between 2 and 20 (at least two inspectors per target)",
        );
    }
    v.into_result()?;
    Ok(Params {
        name,
        item_codes: codes,
        entity_filter,
        sample_percent,
        sample_count,
        inspector_filter,
        inspectors_per_target: per,
    })
}

impl SupervisionApi {
    async fn check_items_claimed(&self, department: &str, codes: &[String]) -> Result<()> {
        let claimed: Vec<String> = sqlx::query_scalar(
            "SELECT item_code FROM claims WHERE department = $1 AND item_code = ANY($2)",
        )
        .bind(department)
        .bind(codes)
        .fetch_all(&self.pool)
        .await?;
        let mut v = Violations::new();
        for (i, c) in codes.iter().enumerate() {
            if !claimed.contains(c) {
                v.add(
                    format!("item_codes[{i}]"),
                    format!("item {c} is not claimed by department {department}"),
                );
            }
        }
        v.into_result()
    }

    pub async fn load_plan(&self, id: Uuid) -> Result<PlanRow> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM plans WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| plan_not_found(id))?;
        from_row(&row)
    }

    pub async fn create_plan(&self, caller: &Caller, r: pb::CreatePlanRequest) -> Result<pb::Plan> {
        caller.require_authenticated()?;
        let dept = access::department_of(caller, &r.department)?;
        access::require_acts_for(caller, &dept, MANAGERS)?;
        let p = check_params(
            &r.name,
            &r.item_codes,
            r.entity_filter.as_ref(),
            r.sample_percent,
            r.sample_count,
            r.inspector_filter.as_ref(),
            r.inspectors_per_target,
            &dept,
        )?;
        self.check_items_claimed(&dept, &p.item_codes).await?;
        let id = Uuid::now_v7();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO plans (id, department, name, item_codes, entity_filter, sample_percent, sample_count,
                inspector_filter, inspectors_per_target, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(id)
        .bind(&dept)
        .bind(&p.name)
        .bind(&p.item_codes)
        .bind(serde_json::to_value(&p.entity_filter).map_err(Error::internal)?)
        .bind(p.sample_percent as i32)
        .bind(p.sample_count as i32)
        .bind(serde_json::to_value(&p.inspector_filter).map_err(Error::internal)?)
        .bind(p.inspectors_per_target as i32)
        .bind(&caller.sub)
        .execute(&mut *tx)
        .await?;
        audit::record::<(), _>(
            &mut tx,
            &caller.sub,
            "create_plan",
            &format!("plan:{id}"),
            None,
            Some(&serde_json::json!({"name": p.name, "item_codes": p.item_codes})),
        )
        .await?;
        tx.commit().await?;
        Ok(plan_to_pb(&self.load_plan(id).await?))
    }

    /// A plan as its department (or a supervisor) sees it; others see it once published.
    pub async fn get_plan(&self, caller: &Caller, id: &str) -> Result<pb::Plan> {
        let id = request_fields::parse_uuid("id", id)?;
        let p = self.load_plan(id).await?;
        if p.state != "published" && !access::acts_for(caller, &p.department, access::STAFF) {
            return Err(plan_not_found(id));
        }
        Ok(plan_to_pb(&p))
    }

    pub async fn list_plans(
        &self,
        caller: &Caller,
        r: pb::ListPlansRequest,
    ) -> Result<pb::ListPlansResponse> {
        let limit = page::page_size(r.page_size)?;
        if !r.state.is_empty() {
            let mut v = Violations::new();
            v.one_of("state", &r.state, &["draft", "drawn", "published"]);
            v.into_result()?;
        }
        // Unpublished plans only to their department's staff (a supervisor: all).
        let own = if caller.has_any_role(access::SUPERVISOR) {
            "*".to_string()
        } else if caller.has_any_role(access::STAFF) {
            caller.dept.clone().unwrap_or_default()
        } else {
            String::new()
        };
        let f = page::fingerprint(&[&r.department, &r.state, &own]);
        let (after_t, after_id) = page::decode_newest_first(&r.page_token, f)?;
        let pool = self.reads.for_caller(&caller.sub).await;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM plans
             WHERE ($1 = '' OR department = $1) AND ($2 = '' OR state = $2)
             AND (state = 'published' OR $3 = '*' OR ($3 <> '' AND department = $3))
             AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5))
             ORDER BY created_at DESC, id DESC LIMIT $6"
        )))
        .bind(r.department.trim())
        .bind(r.state.trim())
        .bind(&own)
        .bind(after_t)
        .bind(after_id)
        .bind(limit + 1)
        .fetch_all(pool)
        .await?;
        let mut plans = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        let next = page::next_token(&mut plans, limit, f, |p| {
            page::newest_first_key(p.created_at, p.id)
        });
        Ok(pb::ListPlansResponse {
            plans: plans.iter().map(plan_to_pb).collect(),
            next_page_token: next,
        })
    }

    pub async fn update_plan(&self, caller: &Caller, r: pb::UpdatePlanRequest) -> Result<pb::Plan> {
        caller.require_authenticated()?;
        let id = request_fields::parse_uuid("id", &r.id)?;
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM plans WHERE id = $1 FOR UPDATE"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| plan_not_found(id))?;
        let plan = from_row(&row)?;
        if !access::acts_for(caller, &plan.department, access::STAFF) {
            return Err(plan_not_found(id));
        }
        access::require_acts_for(caller, &plan.department, MANAGERS)?;
        immutable(&plan)?;
        let p = check_params(
            &r.name,
            &r.item_codes,
            r.entity_filter.as_ref(),
            r.sample_percent,
            r.sample_count,
            r.inspector_filter.as_ref(),
            r.inspectors_per_target,
            &plan.department,
        )?;
        self.check_items_claimed(&plan.department, &p.item_codes)
            .await?;
        sqlx::query(
            "UPDATE plans SET name = $2, item_codes = $3, entity_filter = $4, sample_percent = $5, sample_count = $6,
                inspector_filter = $7, inspectors_per_target = $8 WHERE id = $1",
        )
        .bind(id)
        .bind(&p.name)
        .bind(&p.item_codes)
        .bind(serde_json::to_value(&p.entity_filter).map_err(Error::internal)?)
        .bind(p.sample_percent as i32)
        .bind(p.sample_count as i32)
        .bind(serde_json::to_value(&p.inspector_filter).map_err(Error::internal)?)
        .bind(p.inspectors_per_target as i32)
        .execute(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            &caller.sub,
            "update_plan",
            &format!("plan:{id}"),
            Some(&yiwang_proto::json::value(
                &plan_to_pb(&plan),
                "yiwang.supervision.v1.Plan",
            )),
            Some(&serde_json::json!({"name": p.name})),
        )
        .await?;
        tx.commit().await?;
        Ok(plan_to_pb(&self.load_plan(id).await?))
    }

    /// Draws the plan: builds the published inputs from the registers, runs [`draw::draw`],
    /// stores inputs, seed and picks, and marks the plan drawn, all in one transaction.
    pub async fn draw_plan(&self, caller: &Caller, r: pb::DrawPlanRequest) -> Result<pb::Plan> {
        caller.require_authenticated()?;
        let id = request_fields::parse_uuid("id", &r.id)?;
        let seed = if r.seed.trim().is_empty() {
            let mut s = [0u8; 32];
            rand::rng().fill_bytes(&mut s);
            s
        } else {
            draw::parse_seed(&r.seed).map_err(|e| Error::invalid("seed", e.message))?
        };
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM plans WHERE id = $1 FOR UPDATE"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| plan_not_found(id))?;
        let plan = from_row(&row)?;
        if !access::acts_for(caller, &plan.department, access::STAFF) {
            return Err(plan_not_found(id));
        }
        access::require_acts_for(caller, &plan.department, MANAGERS)?;
        immutable(&plan)?;

        let ef = &plan.entity_filter;
        let entity_ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM entities WHERE ($1 = '' OR industry = $1) AND ($2 = '' OR region LIKE $2 || '%')
             AND (cardinality($3::text[]) = 0 OR risk_level = ANY($3)) ORDER BY id",
        )
        .bind(&ef.industry)
        .bind(&ef.region)
        .bind(&ef.risk_levels)
        .fetch_all(&mut *tx)
        .await?;
        let inf = &plan.inspector_filter;
        let inspector_ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM inspectors WHERE active AND department = $1 AND ($2 = '' OR post_type = $2) ORDER BY id",
        )
        .bind(&inf.department)
        .bind(&inf.post_type)
        .fetch_all(&mut *tx)
        .await?;
        // Conflicts: recorded relations, and the pairs of the previous round of the same items.
        let previous: Option<Uuid> = sqlx::query_scalar(
            "SELECT id FROM plans WHERE item_codes = $1 AND department = $2 AND state <> 'draft' AND id <> $3
             ORDER BY drawn_at DESC LIMIT 1",
        )
        .bind(&plan.item_codes)
        .bind(&plan.department)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let pairs: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT inspector_id, entity_id FROM relations WHERE inspector_id = ANY($1)
             UNION SELECT inspector_id, entity_id FROM plan_assignments WHERE plan_id = $2 AND inspector_id = ANY($1)",
        )
        .bind(&inspector_ids)
        .bind(previous)
        .fetch_all(&mut *tx)
        .await?;
        let candidates: HashSet<i64> = entity_ids.iter().copied().collect();
        let mut exclusions: Vec<draw::Exclusion> = pairs
            .into_iter()
            .filter(|(_, e)| candidates.contains(e))
            .map(|(i, e)| draw::Exclusion {
                inspector_id: i,
                entity_id: e,
            })
            .collect();
        exclusions.sort_by_key(|e| (e.inspector_id, e.entity_id));
        exclusions.dedup();

        let n = entity_ids.len() as u64;
        let (targets, target_field) = if plan.sample_count > 0 {
            (plan.sample_count as u64, "sample_count")
        } else {
            (
                (n * plan.sample_percent as u64).div_ceil(100),
                "sample_percent",
            )
        };
        if n == 0 || targets == 0 {
            return Err(pool_too_small(
                "entity_filter",
                "the target pool is empty: no registered entity matches the entity filter".into(),
            ));
        }
        let mut inputs = draw::Inputs {
            algorithm: draw::ALGORITHM.into(),
            seed: draw::seed_hex(&seed),
            entity_ids,
            inspector_ids,
            exclusions,
            targets: targets.min(u32::MAX as u64) as u32,
            inspectors_per_target: plan.inspectors_per_target as u32,
            picks: vec![],
            plan_id: id.to_string(),
        };
        let picks = draw::draw(&inputs).map_err(|e| {
            let field = if e.field == "targets" {
                target_field
            } else {
                e.field
            };
            pool_too_small(field, e.message)
        })?;
        // Store the pairs for records and the next round.
        let (mut pe, mut pi, mut pp) = (Vec::new(), Vec::new(), Vec::new());
        for (pos, p) in picks.iter().enumerate() {
            for &i in &p.inspector_ids {
                pe.push(p.entity_id);
                pi.push(i);
                pp.push(pos as i32);
            }
        }
        sqlx::query(
            "INSERT INTO plan_assignments (plan_id, entity_id, inspector_id, position)
             SELECT $1, * FROM UNNEST($2::bigint[], $3::bigint[], $4::int[])",
        )
        .bind(id)
        .bind(&pe)
        .bind(&pi)
        .bind(&pp)
        .execute(&mut *tx)
        .await?;
        let candidate_count = inputs.entity_ids.len() as i32;
        let inspector_count = inputs.inspector_ids.len() as i32;
        let exclusion_count = inputs.exclusions.len() as i32;
        inputs.plan_id = id.to_string();
        let seed_hex = inputs.seed.clone();
        sqlx::query(
            "UPDATE plans SET state = 'drawn', seed = $2, algorithm = $3, inputs = $4, picks = $5,
                candidate_count = $6, inspector_count = $7, exclusion_count = $8, previous_plan_id = $9, drawn_at = now()
             WHERE id = $1",
        )
        .bind(id)
        .bind(&seed_hex)
        .bind(draw::ALGORITHM)
        .bind(serde_json::to_value(&inputs).map_err(Error::internal)?)
        .bind(serde_json::to_value(&picks).map_err(Error::internal)?)
        .bind(candidate_count)
        .bind(inspector_count)
        .bind(exclusion_count)
        .bind(previous)
        .execute(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            &caller.sub,
            "draw_plan",
            &format!("plan:{id}"),
            Some(&"draft"),
            Some(&serde_json::json!({"state": "drawn", "seed": seed_hex, "targets": picks.len()})),
        )
        .await?;
        tx.commit().await?;
        tracing::info!(plan = %id, targets = picks.len(), candidates = candidate_count, inspectors = inspector_count, "plan drawn");
        Ok(plan_to_pb(&self.load_plan(id).await?))
    }

    pub async fn publish_plan(&self, caller: &Caller, id: &str) -> Result<pb::Plan> {
        caller.require_authenticated()?;
        let id = request_fields::parse_uuid("id", id)?;
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM plans WHERE id = $1 FOR UPDATE"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| plan_not_found(id))?;
        let plan = from_row(&row)?;
        if plan.state != "published" && !access::acts_for(caller, &plan.department, access::STAFF) {
            return Err(plan_not_found(id));
        }
        access::require_acts_for(caller, &plan.department, MANAGERS)?;
        match plan.state.as_str() {
            "draft" => {
                return Err(Error::failed_precondition(
                    "PLAN_NOT_DRAWN",
                    "the plan is draft; draw it before publishing",
                ));
            }
            "published" => return Ok(plan_to_pb(&plan)),
            _ => {}
        }
        sqlx::query("UPDATE plans SET state = 'published', published_at = now() WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let content = serde_json::json!({
            "plan_id": id, "name": plan.name, "department": plan.department, "item_codes": plan.item_codes,
            "algorithm": plan.algorithm, "seed": plan.seed, "targets": plan.picks.len(),
            "candidates": plan.candidate_count, "inspectors": plan.inspector_count,
            "picks": plan.picks,
            "inputs": format!("/v1/supervision/plans/{id}/draw"),
        });
        sqlx::query(
            "INSERT INTO publications (id, kind, title, department, plan_id, content, published_by)
             VALUES ($1, 'plan', $2, $3, $4, $5, $6)",
        )
        .bind(Uuid::now_v7())
        .bind(format!("双随机抽查计划及抽取结果：{}", plan.name))
        .bind(&plan.department)
        .bind(id)
        .bind(content.to_string())
        .bind(&caller.sub)
        .execute(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            &caller.sub,
            "publish_plan",
            &format!("plan:{id}"),
            Some(&"drawn"),
            Some(&"published"),
        )
        .await?;
        tx.commit().await?;
        Ok(plan_to_pb(&self.load_plan(id).await?))
    }

    /// The stored inputs of a drawn plan, with its picks.
    async fn document(&self, caller: &Caller, id: &str) -> Result<(PlanRow, draw::Inputs)> {
        let id = request_fields::parse_uuid("id", id)?;
        let plan = self.load_plan(id).await?;
        if plan.state != "published" && !access::acts_for(caller, &plan.department, access::STAFF) {
            return Err(plan_not_found(id));
        }
        if plan.state == "draft" {
            return Err(Error::failed_precondition(
                "PLAN_NOT_DRAWN",
                "the plan is draft: it has no draw yet",
            ));
        }
        let v: serde_json::Value = sqlx::query_scalar("SELECT inputs FROM plans WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        let inputs: draw::Inputs = serde_json::from_value(v).map_err(Error::internal)?;
        Ok((plan, inputs))
    }

    pub async fn get_draw_document(&self, caller: &Caller, id: &str) -> Result<pb::DrawDocument> {
        let (plan, mut inputs) = self.document(caller, id).await?;
        inputs.picks = plan.picks;
        Ok(inputs_to_pb(&inputs))
    }

    pub async fn verify_plan_draw(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<pb::VerifyDrawResponse> {
        let (plan, inputs) = self.document(caller, id).await?;
        let picks = draw::draw(&inputs).map_err(|e| Error::invalid(e.field, e.message))?;
        Ok(pb::VerifyDrawResponse {
            matches: picks == plan.picks,
            picks: picks.iter().map(pick_to_pb).collect(),
            published_picks: plan.picks.iter().map(pick_to_pb).collect(),
        })
    }
}

pub fn inputs_to_pb(i: &draw::Inputs) -> pb::DrawDocument {
    pb::DrawDocument {
        algorithm: i.algorithm.clone(),
        seed: i.seed.clone(),
        entity_ids: i.entity_ids.clone(),
        inspector_ids: i.inspector_ids.clone(),
        exclusions: i
            .exclusions
            .iter()
            .map(|e| pb::Exclusion {
                inspector_id: e.inspector_id,
                entity_id: e.entity_id,
            })
            .collect(),
        targets: i.targets,
        inspectors_per_target: i.inspectors_per_target,
        picks: i.picks.iter().map(pick_to_pb).collect(),
        plan_id: i.plan_id.clone(),
    }
}

pub fn inputs_from_pb(d: pb::DrawDocument) -> draw::Inputs {
    draw::Inputs {
        algorithm: d.algorithm,
        seed: d.seed,
        entity_ids: d.entity_ids,
        inspector_ids: d.inspector_ids,
        exclusions: d
            .exclusions
            .into_iter()
            .map(|e| draw::Exclusion {
                inspector_id: e.inspector_id,
                entity_id: e.entity_id,
            })
            .collect(),
        targets: d.targets,
        inspectors_per_target: d.inspectors_per_target,
        picks: d.picks.iter().map(pick_from_pb).collect(),
        plan_id: d.plan_id,
    }
}

/// The pure verification: runs the draw over the given inputs.
pub fn verify_document(d: pb::DrawDocument) -> Result<pb::VerifyDrawResponse> {
    let inputs = inputs_from_pb(d);
    let picks = draw::draw(&inputs).map_err(|e| Error::invalid(e.field, e.message))?;
    Ok(pb::VerifyDrawResponse {
        matches: !inputs.picks.is_empty() && picks == inputs.picks,
        picks: picks.iter().map(pick_to_pb).collect(),
        published_picks: inputs.picks.iter().map(pick_to_pb).collect(),
    })
}

fn immutable(plan: &PlanRow) -> Result<()> {
    if plan.state != "draft" {
        return Err(Error::failed_precondition(
            "PLAN_DRAWN",
            format!(
                "the plan is {}: a drawn plan is immutable (it cannot be changed or drawn again)",
                plan.state
            ),
        )
        .with_metadata("state", plan.state.clone()));
    }
    Ok(())
}

fn pool_too_small(field: &str, message: String) -> Error {
    Error::new(
        Code::FailedPrecondition,
        "POOL_TOO_SMALL",
        format!("{field}: {message}"),
    )
    .with_violation(field, message)
}

pub fn plan_not_found(id: Uuid) -> Error {
    Error::not_found("PLAN_NOT_FOUND", format!("no plan {id}"))
}
