//! The registers of regulated entities and of inspectors, and recorded relations between them
//! (conflicts of interest the draw excludes).

use sqlx::Row;
use yiwang_kit::auth::roles;
use yiwang_kit::{Caller, Error, Result, Violations, crypto, ids, page};
use yiwang_proto::supervision::v1 as pb;

use crate::access::{MANAGERS, STAFF};
use crate::api::SupervisionApi;
use crate::{access, audit, request_fields};
use yiwang_kit::to_timestamp;

pub const KINDS: &[&str] = &["legal_person", "person"];
pub const RISK_LEVELS: &[&str] = &["low", "medium", "high"];
pub const POST_TYPES: &[&str] = &["enforcement", "technical", "other"];

pub const AAD_ID: &[u8] = b"supervision.entity_id";

fn entity_from(r: &sqlx::postgres::PgRow) -> Result<pb::Entity> {
    Ok(pb::Entity {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        kind: r.try_get("kind")?,
        uscc: r.try_get("uscc")?,
        id_number: r.try_get("id_masked")?,
        industry: r.try_get("industry")?,
        region: r.try_get("region")?,
        address: r.try_get("address")?,
        risk_level: r.try_get("risk_level")?,
        source: r.try_get("source")?,
        created_at: Some(to_timestamp(r.try_get("created_at")?)),
    })
}

const ENTITY_COLUMNS: &str =
    "id, name, kind, uscc, id_masked, industry, region, address, risk_level, source, created_at";

fn inspector_from(r: &sqlx::postgres::PgRow) -> Result<pb::Inspector> {
    Ok(pb::Inspector {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        department: r.try_get("department")?,
        certificate_number: r.try_get("certificate_number")?,
        post_type: r.try_get("post_type")?,
        active: r.try_get("active")?,
        user: r.try_get("user_sub")?,
        created_at: Some(to_timestamp(r.try_get("created_at")?)),
    })
}

const INSPECTOR_COLUMNS: &str =
    "id, name, department, certificate_number, post_type, active, user_sub, created_at";

/// Checks the entity filter fields shared by listings and plans.
pub fn check_filter(v: &mut Violations, prefix: &str, region: &str, risk_levels: &[String]) {
    if !region.is_empty() && (region.len() > 12 || !region.bytes().all(|b| b.is_ascii_digit())) {
        v.add(
            format!("{prefix}region"),
            "must be a GB/T 2260 region code or its prefix (digits)",
        );
    }
    for (i, r) in risk_levels.iter().enumerate() {
        if !RISK_LEVELS.contains(&r.as_str()) {
            v.add(
                format!("{prefix}risk_levels[{i}]"),
                "must be low, medium or high",
            );
        }
    }
}

impl SupervisionApi {
    pub async fn get_entity(&self, caller: &Caller, id: i64) -> Result<pb::Entity> {
        caller.require_any_role(STAFF)?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ENTITY_COLUMNS} FROM entities WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| Error::not_found("ENTITY_NOT_FOUND", format!("no entity with id {id}")))?;
        entity_from(&row)
    }

    pub async fn create_entity(
        &self,
        caller: &Caller,
        r: pb::CreateEntityRequest,
    ) -> Result<pb::Entity> {
        caller.require_any_role(&[roles::SUPERVISOR, roles::OFFICER, roles::SYSTEM])?;
        let mut v = Violations::new();
        let name = v.text("name", &r.name, true, 200);
        v.one_of("kind", &r.kind, KINDS);
        let uscc = r.uscc.trim().to_uppercase();
        let id_number = r.id_number.trim().to_uppercase();
        match r.kind.as_str() {
            "legal_person" => {
                v.check("uscc", ids::check_uscc(&uscc));
                if !id_number.is_empty() {
                    v.add("id_number", "must be empty for a legal person (use uscc)");
                }
            }
            "person" => {
                v.check("id_number", ids::check_resident_id(&id_number));
                if !uscc.is_empty() {
                    v.check("uscc", ids::check_uscc(&uscc));
                }
            }
            _ => {}
        }
        let industry = v.text("industry", &r.industry, true, 100);
        v.check("region", ids::check_region_code(r.region.trim()));
        let address = v.text("address", &r.address, false, 500);
        v.one_of("risk_level", &r.risk_level, RISK_LEVELS);
        v.into_result()?;
        let (sealed, hash, masked) = if id_number.is_empty() {
            (None, None, String::new())
        } else {
            (
                Some(self.key.seal(&id_number, AAD_ID)),
                Some(self.key.lookup_hash("id_number", &id_number).to_vec()),
                crypto::mask_id_number(&id_number),
            )
        };
        let mut tx = self.pool.begin().await?;
        let res = sqlx::query_scalar::<_, i64>(
            "INSERT INTO entities (name, kind, uscc, id_sealed, id_hash, id_masked, industry, region, address, risk_level)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(&name)
        .bind(&r.kind)
        .bind(&uscc)
        .bind(sealed)
        .bind(hash)
        .bind(&masked)
        .bind(&industry)
        .bind(r.region.trim())
        .bind(&address)
        .bind(&r.risk_level)
        .fetch_one(&mut *tx)
        .await;
        let id = match res {
            Ok(id) => id,
            Err(e) if request_fields::is_unique_violation(&e) => {
                return Err(Error::already_exists(
                    "ENTITY_EXISTS",
                    "an entity with this USCC or ID number is already registered",
                ));
            }
            Err(e) => return Err(e.into()),
        };
        audit::record::<(), _>(
            &mut tx,
            &caller.sub,
            "create_entity",
            &format!("entity:{id}"),
            None,
            Some(&serde_json::json!({"name": name, "kind": r.kind, "uscc": uscc})),
        )
        .await?;
        tx.commit().await?;
        self.get_entity(caller, id).await
    }

    pub async fn list_entities(
        &self,
        caller: &Caller,
        r: pb::ListEntitiesRequest,
    ) -> Result<pb::ListEntitiesResponse> {
        caller.require_any_role(STAFF)?;
        let limit = page::page_size(r.page_size)?;
        let mut v = Violations::new();
        let risk: Vec<String> = if r.risk_level.is_empty() {
            vec![]
        } else {
            vec![r.risk_level.clone()]
        };
        check_filter(&mut v, "", r.region.trim(), &risk);
        v.into_result()?;
        let f = page::fingerprint(&[&r.industry, &r.region, &r.risk_level, &r.uscc]);
        let after: Option<i64> = page::decode(&r.page_token, f)?;
        let pool = self.reads.for_caller(&caller.sub).await;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ENTITY_COLUMNS} FROM entities
             WHERE ($1 = '' OR industry = $1) AND ($2 = '' OR region LIKE $2 || '%')
             AND ($3 = '' OR risk_level = $3) AND ($4 = '' OR uscc = $4)
             AND ($5::bigint IS NULL OR id > $5) ORDER BY id LIMIT $6"
        )))
        .bind(r.industry.trim())
        .bind(r.region.trim())
        .bind(r.risk_level.trim())
        .bind(r.uscc.trim().to_uppercase())
        .bind(after)
        .bind(limit + 1)
        .fetch_all(pool)
        .await?;
        let mut entities = rows.iter().map(entity_from).collect::<Result<Vec<_>>>()?;
        let next = page::next_token(&mut entities, limit, f, |e| e.id);
        Ok(pb::ListEntitiesResponse {
            entities,
            next_page_token: next,
        })
    }

    pub async fn create_inspector(
        &self,
        caller: &Caller,
        r: pb::CreateInspectorRequest,
    ) -> Result<pb::Inspector> {
        caller.require_authenticated()?;
        let dept = access::department_of(caller, &r.department)?;
        access::require_acts_for(caller, &dept, MANAGERS)?;
        let mut v = Violations::new();
        let name = v.text("name", &r.name, true, 100);
        let cert = r.certificate_number.trim().to_string();
        if cert.is_empty()
            || cert.len() > 40
            || !cert.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            v.add(
                "certificate_number",
                "must be 1 to 40 letters, digits or '-' (执法证号)",
            );
        }
        v.one_of("post_type", &r.post_type, POST_TYPES);
        let user = v.text("user", &r.user, false, 200);
        v.into_result()?;
        let mut tx = self.pool.begin().await?;
        let res = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO inspectors (name, department, certificate_number, post_type, user_sub)
             VALUES ($1, $2, $3, $4, $5) RETURNING {INSPECTOR_COLUMNS}"
        )))
        .bind(&name)
        .bind(&dept)
        .bind(&cert)
        .bind(&r.post_type)
        .bind(&user)
        .fetch_one(&mut *tx)
        .await;
        let row = match res {
            Ok(r) => r,
            Err(e) if request_fields::is_unique_violation(&e) => {
                return Err(Error::already_exists(
                    "INSPECTOR_EXISTS",
                    format!("an inspector with certificate number {cert} is already registered"),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let ins = inspector_from(&row)?;
        audit::record::<(), _>(
            &mut tx,
            &caller.sub,
            "create_inspector",
            &format!("inspector:{}", ins.id),
            None,
            Some(&yiwang_proto::json::value(
                &ins,
                "yiwang.supervision.v1.Inspector",
            )),
        )
        .await?;
        tx.commit().await?;
        Ok(ins)
    }

    pub async fn list_inspectors(
        &self,
        caller: &Caller,
        r: pb::ListInspectorsRequest,
    ) -> Result<pb::ListInspectorsResponse> {
        caller.require_any_role(STAFF)?;
        let limit = page::page_size(r.page_size)?;
        let active = match r.active.trim() {
            "" => None,
            "true" => Some(true),
            "false" => Some(false),
            _ => return Err(Error::invalid("active", "must be true or false")),
        };
        let f = page::fingerprint(&[&r.department, &r.post_type, &r.active]);
        let after: Option<i64> = page::decode(&r.page_token, f)?;
        let pool = self.reads.for_caller(&caller.sub).await;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INSPECTOR_COLUMNS} FROM inspectors
             WHERE ($1 = '' OR department = $1) AND ($2 = '' OR post_type = $2)
             AND ($3::boolean IS NULL OR active = $3) AND ($4::bigint IS NULL OR id > $4)
             ORDER BY id LIMIT $5"
        )))
        .bind(r.department.trim())
        .bind(r.post_type.trim())
        .bind(active)
        .bind(after)
        .bind(limit + 1)
        .fetch_all(pool)
        .await?;
        let mut inspectors = rows
            .iter()
            .map(inspector_from)
            .collect::<Result<Vec<_>>>()?;
        let next = page::next_token(&mut inspectors, limit, f, |i| i.id);
        Ok(pb::ListInspectorsResponse {
            inspectors,
            next_page_token: next,
        })
    }

    async fn inspector_department(&self, id: i64) -> Result<String> {
        sqlx::query_scalar("SELECT department FROM inspectors WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| {
                Error::not_found("INSPECTOR_NOT_FOUND", format!("no inspector with id {id}"))
            })
    }

    pub async fn set_inspector_active(
        &self,
        caller: &Caller,
        r: pb::SetInspectorActiveRequest,
    ) -> Result<pb::Inspector> {
        caller.require_authenticated()?;
        let dept = self.inspector_department(r.id).await?;
        access::require_acts_for(caller, &dept, MANAGERS)?;
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE inspectors SET active = $2 WHERE id = $1 RETURNING {INSPECTOR_COLUMNS}"
        )))
        .bind(r.id)
        .bind(r.active)
        .fetch_one(&mut *tx)
        .await?;
        let ins = inspector_from(&row)?;
        audit::record(
            &mut tx,
            &caller.sub,
            "set_inspector_active",
            &format!("inspector:{}", r.id),
            Some(&!r.active),
            Some(&r.active),
        )
        .await?;
        tx.commit().await?;
        Ok(ins)
    }

    pub async fn add_relation(
        &self,
        caller: &Caller,
        r: pb::AddRelationRequest,
    ) -> Result<pb::Relation> {
        caller.require_authenticated()?;
        let dept = self.inspector_department(r.inspector_id).await?;
        access::require_acts_for(caller, &dept, MANAGERS)?;
        let mut v = Violations::new();
        let relation = v.text("relation", &r.relation, true, 200);
        v.into_result()?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM entities WHERE id = $1)")
                .bind(r.entity_id)
                .fetch_one(&self.pool)
                .await?;
        if !exists {
            return Err(Error::invalid(
                "entity_id",
                "is not an entity of the register",
            ));
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO relations (inspector_id, entity_id, relation, created_by) VALUES ($1, $2, $3, $4)
             ON CONFLICT (inspector_id, entity_id) DO UPDATE SET relation = EXCLUDED.relation",
        )
        .bind(r.inspector_id)
        .bind(r.entity_id)
        .bind(&relation)
        .bind(&caller.sub)
        .execute(&mut *tx)
        .await?;
        let out = pb::Relation {
            inspector_id: r.inspector_id,
            entity_id: r.entity_id,
            relation,
        };
        audit::record::<(), _>(
            &mut tx,
            &caller.sub,
            "add_relation",
            &format!("inspector:{}", r.inspector_id),
            None,
            Some(&yiwang_proto::json::value(
                &out,
                "yiwang.supervision.v1.Relation",
            )),
        )
        .await?;
        tx.commit().await?;
        Ok(out)
    }
}
