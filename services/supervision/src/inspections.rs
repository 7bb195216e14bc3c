//! Inspection records (监管行为数据): against a plan's target, a follow-up task, or ad hoc; an
//! order to rectify opens a rectification tracked to completion.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use uuid::Uuid;
use yiwang_kit::auth::roles;
use yiwang_kit::{Caller, Error, Result, Violations, page};
use yiwang_proto::supervision::v1 as pb;

use crate::api::SupervisionApi;
use crate::{access, audit, request_fields};
use yiwang_kit::to_timestamp;

pub const FORMS: &[&str] = &["random", "routine", "special", "follow_up", "complaint"];
pub const CATEGORIES: &[&str] = &["on_site", "off_site", "online"];
pub const RESULTS: &[&str] = &[
    "no_problem",
    "ordered_to_rectify",
    "case_opened",
    "target_not_found",
    "other",
];
/// Who files records: inspectors of the department.
const FILERS: &[&str] = &[roles::INSPECTOR];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InspectorOnRecord {
    pub id: i64,
    pub name: String,
    pub certificate_number: String,
}

const COLUMNS: &str = "id, plan_id, task_id, item_code, check_list_code, department, entity_id, target_name, target_kind,
    target_uscc, target_id_masked, target_address, target_region, form, category, method, result, result_detail,
    inspected_at, reported_at, inspectors, rectification_state, rectification_deadline, rectification_note,
    rectified_at, created_by, created_at";

fn from_row(r: &sqlx::postgres::PgRow) -> Result<(pb::Inspection, DateTime<Utc>)> {
    let inspectors: Vec<InspectorOnRecord> =
        serde_json::from_value(r.try_get("inspectors")?).map_err(Error::internal)?;
    let created_at: DateTime<Utc> = r.try_get("created_at")?;
    Ok((
        pb::Inspection {
            id: r.try_get::<Uuid, _>("id")?.to_string(),
            plan_id: r
                .try_get::<Option<Uuid>, _>("plan_id")?
                .map(|u| u.to_string())
                .unwrap_or_default(),
            task_id: r
                .try_get::<Option<Uuid>, _>("task_id")?
                .map(|u| u.to_string())
                .unwrap_or_default(),
            item_code: r.try_get("item_code")?,
            check_list_code: r.try_get("check_list_code")?,
            department: r.try_get("department")?,
            entity_id: r.try_get("entity_id")?,
            target_name: r.try_get("target_name")?,
            target_kind: r.try_get("target_kind")?,
            target_uscc: r.try_get("target_uscc")?,
            target_id_number: r.try_get("target_id_masked")?,
            target_address: r.try_get("target_address")?,
            target_region: r.try_get("target_region")?,
            form: r.try_get("form")?,
            category: r.try_get("category")?,
            method: r.try_get("method")?,
            result: r.try_get("result")?,
            result_detail: r.try_get("result_detail")?,
            inspected_at: Some(to_timestamp(r.try_get("inspected_at")?)),
            reported_at: Some(to_timestamp(r.try_get("reported_at")?)),
            inspectors: inspectors
                .into_iter()
                .map(|i| pb::InspectorRef {
                    name: i.name,
                    certificate_number: i.certificate_number,
                })
                .collect(),
            rectification_state: r.try_get("rectification_state")?,
            rectification_deadline: yiwang_kit::opt_timestamp(r.try_get("rectification_deadline")?),
            rectification_note: r.try_get("rectification_note")?,
            rectified_at: yiwang_kit::opt_timestamp(r.try_get("rectified_at")?),
            created_by: r.try_get("created_by")?,
        },
        created_at,
    ))
}

impl SupervisionApi {
    async fn load_inspection(&self, id: Uuid) -> Result<pb::Inspection> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM inspections WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| not_found(id))?;
        Ok(from_row(&row)?.0)
    }

    pub async fn get_inspection(&self, caller: &Caller, id: &str) -> Result<pb::Inspection> {
        let id = request_fields::parse_uuid("id", id)?;
        let i = self.load_inspection(id).await?;
        if !access::acts_for(caller, &i.department, access::STAFF) {
            return Err(not_found(id));
        }
        Ok(i)
    }

    pub async fn create_inspection(
        &self,
        caller: &Caller,
        r: pb::CreateInspectionRequest,
    ) -> Result<pb::Inspection> {
        caller.require_any_role(FILERS)?;
        let request_id = r.request_id.trim().to_string();
        if !request_id.is_empty() {
            let prior: Option<Uuid> = sqlx::query_scalar(
                "SELECT id FROM inspections WHERE created_by = $1 AND request_id = $2",
            )
            .bind(&caller.sub)
            .bind(&request_id)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(id) = prior {
                return self.load_inspection(id).await;
            }
        }
        let now = Utc::now();
        let mut v = Violations::new();
        let plan_id = (!r.plan_id.trim().is_empty())
            .then(|| request_fields::parse_uuid("plan_id", &r.plan_id))
            .transpose()?;
        let task_id = (!r.task_id.trim().is_empty())
            .then(|| request_fields::parse_uuid("task_id", &r.task_id))
            .transpose()?;
        if plan_id.is_some() && task_id.is_some() {
            v.add("task_id", "give plan_id or task_id, not both");
        }
        let form = if r.form.is_empty() {
            match (plan_id, task_id) {
                (Some(_), _) => "random".to_string(),
                (_, Some(_)) => "follow_up".to_string(),
                _ => String::new(),
            }
        } else {
            r.form.clone()
        };
        v.one_of("form", &form, FORMS);
        v.one_of("category", &r.category, CATEGORIES);
        let method = v.text("method", &r.method, true, 100);
        v.one_of("result", &r.result, RESULTS);
        let detail = v.text("result_detail", &r.result_detail, false, 4000);
        let inspected_at =
            request_fields::given_time(&mut v, "inspected_at", r.inspected_at.as_ref());
        if r.inspected_at.is_none() {
            v.add("inspected_at", "is required");
        }
        let reported_at = match r.reported_at.as_ref() {
            None => Some(now),
            given => request_fields::given_time(&mut v, "reported_at", given),
        };
        if let (Some(i), Some(rep)) = (inspected_at, reported_at) {
            if rep < i {
                v.add("reported_at", "must not be before inspected_at");
            }
            if rep > now + Duration::minutes(5) {
                v.add("reported_at", "must not be in the future");
            }
        }
        let mut certs: Vec<String> = r
            .inspector_certificates
            .iter()
            .map(|c| c.trim().to_string())
            .collect();
        if certs.len() < 2 {
            v.add(
                "inspector_certificates",
                "must list the certificate numbers of at least two inspectors",
            );
        }
        for (i, c) in certs.iter().enumerate() {
            if c.is_empty() {
                v.add(format!("inspector_certificates[{i}]"), "is empty");
            } else if certs[..i].contains(c) {
                v.add(format!("inspector_certificates[{i}]"), "is listed twice");
            }
        }
        let deadline = if r.result == "ordered_to_rectify" {
            match request_fields::given_time(
                &mut v,
                "rectification_deadline",
                r.rectification_deadline.as_ref(),
            ) {
                None if r.rectification_deadline.is_none() => {
                    v.add(
                        "rectification_deadline",
                        "is required when the result is ordered_to_rectify",
                    );
                    None
                }
                None => None,
                Some(t) if inspected_at.is_some_and(|i| t <= i) => {
                    v.add("rectification_deadline", "must be after inspected_at");
                    None
                }
                Some(t) => Some(t),
            }
        } else {
            None
        };
        if r.entity_id <= 0 && task_id.is_none() {
            v.add(
                "entity_id",
                "is required (the id of the inspected entity in the register)",
            );
        }
        v.into_result()?;
        let (inspected_at, reported_at) = (
            inspected_at.expect("checked"),
            reported_at.expect("checked"),
        );

        // Where the record belongs: the plan's or task's department, else the caller's.
        let mut item_code = r.item_code.trim().to_string();
        let mut entity_id = r.entity_id;
        let department;
        if let Some(pid) = plan_id {
            let plan = self
                .load_plan(pid)
                .await
                .map_err(|_| Error::invalid("plan_id", "is not a plan"))?;
            department = plan.department.clone();
            access::require_acts_for(caller, &department, FILERS)?;
            if plan.state == "draft" {
                return Err(Error::failed_precondition(
                    "PLAN_NOT_DRAWN",
                    "the plan is draft: records are filed against drawn targets",
                ));
            }
            if !plan.picks.iter().any(|p| p.entity_id == entity_id) {
                return Err(Error::invalid(
                    "entity_id",
                    "is not a target drawn by the plan",
                ));
            }
            if item_code.is_empty() {
                item_code = plan.item_codes.first().cloned().unwrap_or_default();
            } else if !plan.item_codes.contains(&item_code) {
                return Err(Error::invalid("item_code", "is not an item of the plan"));
            }
        } else if let Some(tid) = task_id {
            let row: Option<(String, i64, String, String)> = sqlx::query_as(
                "SELECT department, entity_id, state, item_code FROM tasks WHERE id = $1",
            )
            .bind(tid)
            .fetch_optional(&self.pool)
            .await?;
            let Some((dept, eid, state, _)) = row else {
                return Err(Error::invalid("task_id", "is not a follow-up task"));
            };
            department = dept;
            access::require_acts_for(caller, &department, FILERS)?;
            if state != "open" {
                return Err(Error::failed_precondition(
                    "TASK_DONE",
                    "the follow-up task is done already",
                ));
            }
            if entity_id > 0 && entity_id != eid {
                return Err(Error::invalid("entity_id", "is not the entity of the task"));
            }
            entity_id = eid;
        } else {
            department = access::department_of(caller, "")?;
            access::require_acts_for(caller, &department, FILERS)?;
        }
        if item_code.is_empty() {
            return Err(Error::invalid(
                "item_code",
                "is required (a claimed supervision item)",
            ));
        }
        let claimed: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM claims WHERE item_code = $1 AND department = $2)",
        )
        .bind(&item_code)
        .bind(&department)
        .fetch_one(&self.pool)
        .await?;
        if !claimed && task_id.is_none() {
            return Err(Error::invalid(
                "item_code",
                format!("is not a supervision item claimed by department {department}"),
            ));
        }
        let list_code = r.check_list_code.trim().to_uppercase();
        if !list_code.is_empty() {
            let ok: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM check_lists WHERE code = $1 AND item_code = $2)",
            )
            .bind(&list_code)
            .bind(&item_code)
            .fetch_one(&self.pool)
            .await?;
            if !ok {
                return Err(Error::invalid(
                    "check_list_code",
                    "is not an inspection list of the item",
                ));
            }
        }
        let target = sqlx::query(
            "SELECT name, kind, uscc, id_masked, address, region FROM entities WHERE id = $1",
        )
        .bind(entity_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| Error::invalid("entity_id", "is not an entity of the register"))?;
        let found: Vec<(i64, String, String, bool)> = sqlx::query_as(
            "SELECT id, name, certificate_number, active FROM inspectors WHERE certificate_number = ANY($1)",
        )
        .bind(&certs)
        .fetch_all(&self.pool)
        .await?;
        let mut v = Violations::new();
        let mut on_record = Vec::new();
        for (i, c) in certs.iter().enumerate() {
            match found.iter().find(|f| &f.2 == c) {
                None => v.add(
                    format!("inspector_certificates[{i}]"),
                    "is not the certificate number of a registered inspector",
                ),
                Some(f) if !f.3 => v.add(
                    format!("inspector_certificates[{i}]"),
                    "belongs to an inspector who is not active",
                ),
                Some(f) => on_record.push(InspectorOnRecord {
                    id: f.0,
                    name: f.1.clone(),
                    certificate_number: f.2.clone(),
                }),
            }
        }
        v.into_result()?;
        certs.clear();

        let id = Uuid::now_v7();
        let rect_state = if deadline.is_some() { "open" } else { "none" };
        let mut tx = self.pool.begin().await?;
        let res = sqlx::query(
            "INSERT INTO inspections (id, plan_id, task_id, item_code, check_list_code, department, entity_id,
                target_name, target_kind, target_uscc, target_id_masked, target_address, target_region,
                form, category, method, result, result_detail, inspected_at, reported_at, inspectors,
                rectification_state, rectification_deadline, created_by, request_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)",
        )
        .bind(id)
        .bind(plan_id)
        .bind(task_id)
        .bind(&item_code)
        .bind(&list_code)
        .bind(&department)
        .bind(entity_id)
        .bind(target.try_get::<String, _>("name")?)
        .bind(target.try_get::<String, _>("kind")?)
        .bind(target.try_get::<String, _>("uscc")?)
        .bind(target.try_get::<String, _>("id_masked")?)
        .bind(target.try_get::<String, _>("address")?)
        .bind(target.try_get::<String, _>("region")?)
        .bind(&form)
        .bind(&r.category)
        .bind(&method)
        .bind(&r.result)
        .bind(&detail)
        .bind(inspected_at)
        .bind(reported_at)
        .bind(serde_json::to_value(&on_record).map_err(Error::internal)?)
        .bind(rect_state)
        .bind(deadline)
        .bind(&caller.sub)
        .bind(&request_id)
        .execute(&mut *tx)
        .await;
        if let Err(e) = res {
            if request_fields::is_unique_violation(&e) && !request_id.is_empty() {
                drop(tx);
                let prior: Uuid = sqlx::query_scalar(
                    "SELECT id FROM inspections WHERE created_by = $1 AND request_id = $2",
                )
                .bind(&caller.sub)
                .bind(&request_id)
                .fetch_one(&self.pool)
                .await?;
                return self.load_inspection(prior).await;
            }
            return Err(e.into());
        }
        if let Some(tid) = task_id {
            sqlx::query(
                "UPDATE tasks SET state = 'done', inspection_id = $2, done_at = now() WHERE id = $1",
            )
            .bind(tid)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            audit::record(
                &mut tx,
                &caller.sub,
                "complete_task",
                &format!("task:{tid}"),
                Some(&"open"),
                Some(&"done"),
            )
            .await?;
        }
        audit::record::<(), _>(
            &mut tx,
            &caller.sub,
            "create_inspection",
            &format!("inspection:{id}"),
            None,
            Some(&serde_json::json!({"result": r.result, "entity_id": entity_id, "plan_id": plan_id})),
        )
        .await?;
        tx.commit().await?;
        self.load_inspection(id).await
    }

    pub async fn list_inspections(
        &self,
        caller: &Caller,
        r: pb::ListInspectionsRequest,
    ) -> Result<pb::ListInspectionsResponse> {
        caller.require_any_role(access::STAFF)?;
        let limit = page::page_size(r.page_size)?;
        // Department staff see their department's records; supervisors and systems all.
        let dept = if caller.has_any_role(&[roles::SUPERVISOR, roles::SYSTEM]) {
            r.department.trim().to_string()
        } else {
            let own = caller.dept.clone().unwrap_or_default();
            if !r.department.trim().is_empty() && r.department.trim() != own {
                return Err(Error::permission_denied(
                    "staff see their own department's records only",
                ));
            }
            own
        };
        let plan_id = (!r.plan_id.trim().is_empty())
            .then(|| request_fields::parse_uuid("plan_id", &r.plan_id))
            .transpose()?;
        let mut v = Violations::new();
        if !r.result.is_empty() {
            v.one_of("result", &r.result, RESULTS);
        }
        if !r.rectification_state.is_empty() {
            v.one_of(
                "rectification_state",
                &r.rectification_state,
                &["none", "open", "completed"],
            );
        }
        v.into_result()?;
        let f = page::fingerprint(&[
            &dept,
            &r.plan_id,
            &r.entity_id.to_string(),
            &r.result,
            &r.rectification_state,
        ]);
        let (after_t, after_id) = page::decode_newest_first(&r.page_token, f)?;
        let pool = self.reads.for_caller(&caller.sub).await;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM inspections
             WHERE ($1 = '' OR department = $1) AND ($2::uuid IS NULL OR plan_id = $2)
             AND ($3 = 0 OR entity_id = $3) AND ($4 = '' OR result = $4) AND ($5 = '' OR rectification_state = $5)
             AND ($6::timestamptz IS NULL OR (created_at, id) < ($6, $7))
             ORDER BY created_at DESC, id DESC LIMIT $8"
        )))
        .bind(&dept)
        .bind(plan_id)
        .bind(r.entity_id)
        .bind(r.result.trim())
        .bind(r.rectification_state.trim())
        .bind(after_t)
        .bind(after_id)
        .bind(limit + 1)
        .fetch_all(pool)
        .await?;
        let mut out = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        let next = page::next_token(&mut out, limit, f, |(i, t)| {
            page::newest_first_key(*t, Uuid::parse_str(&i.id).unwrap_or_default())
        });
        Ok(pb::ListInspectionsResponse {
            inspections: out.into_iter().map(|(i, _)| i).collect(),
            next_page_token: next,
        })
    }

    pub async fn complete_rectification(
        &self,
        caller: &Caller,
        r: pb::CompleteRectificationRequest,
    ) -> Result<pb::Inspection> {
        caller.require_authenticated()?;
        let id = request_fields::parse_uuid("id", &r.id)?;
        let mut v = Violations::new();
        let note = v.text("note", &r.note, true, 2000);
        v.into_result()?;
        let mut tx = self.pool.begin().await?;
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT department, rectification_state FROM inspections WHERE id = $1 FOR UPDATE",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((dept, state)) = row else {
            return Err(not_found(id));
        };
        if !access::acts_for(caller, &dept, access::STAFF) {
            return Err(not_found(id));
        }
        access::require_acts_for(caller, &dept, &[roles::INSPECTOR, roles::OFFICER])?;
        if state != "open" {
            return Err(Error::failed_precondition(
                "NO_OPEN_RECTIFICATION",
                format!("the record's rectification is {state}; only an open one can be completed"),
            ));
        }
        sqlx::query(
            "UPDATE inspections SET rectification_state = 'completed', rectification_note = $2, rectified_at = now() WHERE id = $1",
        )
        .bind(id)
        .bind(&note)
        .execute(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            &caller.sub,
            "complete_rectification",
            &format!("inspection:{id}"),
            Some(&"open"),
            Some(&"completed"),
        )
        .await?;
        tx.commit().await?;
        self.load_inspection(id).await
    }
}

fn not_found(id: Uuid) -> Error {
    Error::not_found("INSPECTION_NOT_FOUND", format!("no inspection record {id}"))
}
