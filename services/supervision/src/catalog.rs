//! The supervision item catalogue (监管事项目录), departments' claims (认领) and inspection
//! implementation lists (检查实施清单).

use sqlx::Row;
use uuid::Uuid;
use yiwang_kit::{Caller, Error, Result, Violations, ids, page};
use yiwang_proto::supervision::v1 as pb;

use crate::access::{MANAGERS, SUPERVISOR};
use crate::api::SupervisionApi;
use crate::{access, audit, request_fields};
use yiwang_kit::to_timestamp;

pub const ADMIN_TYPES: &[&str] = &["0", "1", "2", "3"];

fn is_item_code(s: &str) -> bool {
    s.len() == 14 && s.bytes().all(|b| b.is_ascii_digit())
}

fn item_from(r: &sqlx::postgres::PgRow) -> Result<pb::Item> {
    Ok(pb::Item {
        code: r.try_get("code")?,
        name: r.try_get("name")?,
        parent_code: r.try_get("parent_code")?,
        admin_type: r.try_get("admin_type")?,
        legal_basis: r.try_get("legal_basis")?,
        department: r.try_get("department")?,
        claimed_by: r.try_get("claimed_by")?,
        check_lists: r.try_get::<i64, _>("check_lists")? as u32,
        created_at: Some(to_timestamp(r.try_get("created_at")?)),
    })
}

const ITEM_SELECT: &str = "SELECT i.code, i.name, i.parent_code, i.admin_type, i.legal_basis, i.department, i.created_at,
    COALESCE((SELECT array_agg(c.department ORDER BY c.department) FROM claims c WHERE c.item_code = i.code), '{}') AS claimed_by,
    (SELECT count(*) FROM check_lists l WHERE l.item_code = i.code) AS check_lists
    FROM items i";

impl SupervisionApi {
    pub async fn get_item(&self, code: &str) -> Result<pb::Item> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{ITEM_SELECT} WHERE i.code = $1"
        )))
        .bind(code)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| {
            Error::not_found(
                "ITEM_NOT_FOUND",
                format!("no supervision item with code {code}"),
            )
        })?;
        item_from(&row)
    }

    pub async fn create_item(&self, caller: &Caller, r: pb::CreateItemRequest) -> Result<pb::Item> {
        caller.require_any_role(SUPERVISOR)?;
        let mut v = Violations::new();
        let code = r.code.trim().to_string();
        if !is_item_code(&code) {
            v.add("code", "must be 14 digits (监管事项目录编码)");
        }
        let parent = r.parent_code.trim().to_string();
        if !parent.is_empty() && !is_item_code(&parent) {
            v.add(
                "parent_code",
                "must be empty (a 主项) or the 14-digit code of the 主项",
            );
        }
        let name = v.text("name", &r.name, true, 200);
        v.one_of("admin_type", &r.admin_type, ADMIN_TYPES);
        let basis = v.text("legal_basis", &r.legal_basis, true, 4000);
        let dept = v.text("department", &r.department, true, 100);
        v.into_result()?;
        if !parent.is_empty() {
            let parent_ok: Option<String> =
                sqlx::query_scalar("SELECT parent_code FROM items WHERE code = $1")
                    .bind(&parent)
                    .fetch_optional(&self.pool)
                    .await?;
            match parent_ok {
                None => {
                    return Err(Error::invalid(
                        "parent_code",
                        "is not an item of the catalogue",
                    ));
                }
                Some(p) if !p.is_empty() => {
                    return Err(Error::invalid(
                        "parent_code",
                        "is a 子项; a 子项 belongs to a 主项",
                    ));
                }
                _ => {}
            }
        }
        let mut tx = self.pool.begin().await?;
        let res = sqlx::query(
            "INSERT INTO items (code, name, parent_code, admin_type, legal_basis, department, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&code)
        .bind(&name)
        .bind(&parent)
        .bind(&r.admin_type)
        .bind(&basis)
        .bind(&dept)
        .bind(&caller.sub)
        .execute(&mut *tx)
        .await;
        if let Err(e) = res {
            if request_fields::is_unique_violation(&e) {
                return Err(Error::already_exists(
                    "ITEM_EXISTS",
                    format!("item {code} already exists"),
                ));
            }
            return Err(e.into());
        }
        audit::record::<(), _>(
            &mut tx,
            &caller.sub,
            "create_item",
            &code,
            None,
            Some(&serde_json::json!({"name": name, "department": dept})),
        )
        .await?;
        tx.commit().await?;
        self.get_item(&code).await
    }

    pub async fn list_items(
        &self,
        caller: &Caller,
        r: pb::ListItemsRequest,
    ) -> Result<pb::ListItemsResponse> {
        let limit = page::page_size(r.page_size)?;
        let claimed = match r.claimed.trim() {
            "" => None,
            "true" => Some(true),
            "false" => Some(false),
            _ => return Err(Error::invalid("claimed", "must be true or false")),
        };
        let f = page::fingerprint(&[&r.department, &r.claimed]);
        let after: Option<String> = page::decode(&r.page_token, f)?;
        let pool = self.reads.for_caller(&caller.sub).await;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{ITEM_SELECT} WHERE ($1 = '' OR i.department = $1) AND ($2::text IS NULL OR i.code > $2)
             AND ($3::boolean IS NULL OR EXISTS (SELECT 1 FROM claims c WHERE c.item_code = i.code) = $3)
             ORDER BY i.code LIMIT $4"
        )))
        .bind(r.department.trim())
        .bind(after)
        .bind(claimed)
        .bind(limit + 1)
        .fetch_all(pool)
        .await?;
        let mut items = rows.iter().map(item_from).collect::<Result<Vec<_>>>()?;
        let next = page::next_token(&mut items, limit, f, |i| i.code.clone());
        Ok(pb::ListItemsResponse {
            items,
            next_page_token: next,
        })
    }

    pub async fn claim_item(&self, caller: &Caller, r: pb::ClaimItemRequest) -> Result<pb::Item> {
        caller.require_authenticated()?;
        let dept = access::department_of(caller, &r.department)?;
        access::require_acts_for(caller, &dept, MANAGERS)?;
        let code = r.code.trim();
        let item = self.get_item(code).await?;
        if item.claimed_by.contains(&dept) {
            return Ok(item);
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO claims (item_code, department, claimed_by) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(code)
        .bind(&dept)
        .bind(&caller.sub)
        .execute(&mut *tx)
        .await?;
        audit::record::<(), _>(
            &mut tx,
            &caller.sub,
            "claim_item",
            code,
            None,
            Some(&serde_json::json!({"department": dept})),
        )
        .await?;
        tx.commit().await?;
        self.get_item(code).await
    }

    pub async fn create_check_list(
        &self,
        caller: &Caller,
        r: pb::CreateCheckListRequest,
    ) -> Result<pb::CheckList> {
        caller.require_authenticated()?;
        let dept = access::department_of(caller, &r.department)?;
        access::require_acts_for(caller, &dept, MANAGERS)?;
        let mut v = Violations::new();
        let agency = r.agency_uscc.trim().to_uppercase();
        v.check("agency_uscc", ids::check_uscc(&agency));
        let code = r.code.trim().to_uppercase();
        if code.is_empty() || code.len() > 64 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
            v.add("code", "must be 1 to 64 letters and digits");
        } else if !agency.is_empty() && !code.starts_with(&agency) {
            v.add(
                "code",
                "must start with the implementing agency's USCC (agency_uscc)",
            );
        }
        let item_code = r.item_code.trim().to_string();
        if !is_item_code(&item_code) {
            v.add(
                "item_code",
                "must be the 14-digit code of a supervision item",
            );
        }
        let name = v.text("name", &r.name, true, 200);
        let contents = clean_list(&mut v, "contents", &r.contents, true);
        let methods = clean_list(&mut v, "methods", &r.methods, true);
        let basis = v.text("legal_basis", &r.legal_basis, true, 4000);
        let frequency = v.text("frequency", &r.frequency, false, 200);
        v.into_result()?;
        let claimed: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM claims WHERE item_code = $1 AND department = $2)",
        )
        .bind(&item_code)
        .bind(&dept)
        .fetch_one(&self.pool)
        .await?;
        if !claimed {
            return Err(Error::failed_precondition(
                "ITEM_NOT_CLAIMED",
                format!("department {dept} has not claimed item {item_code}; claim it first"),
            )
            .with_violation("item_code", "is not claimed by the department"));
        }
        let id = Uuid::now_v7();
        let mut tx = self.pool.begin().await?;
        let res = sqlx::query(
            "INSERT INTO check_lists (id, code, item_code, department, agency_uscc, name, contents, methods, legal_basis, frequency, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(id)
        .bind(&code)
        .bind(&item_code)
        .bind(&dept)
        .bind(&agency)
        .bind(&name)
        .bind(&contents)
        .bind(&methods)
        .bind(&basis)
        .bind(&frequency)
        .bind(&caller.sub)
        .execute(&mut *tx)
        .await;
        if let Err(e) = res {
            if request_fields::is_unique_violation(&e) {
                return Err(Error::already_exists(
                    "CHECK_LIST_EXISTS",
                    format!("an inspection list with code {code} already exists"),
                ));
            }
            return Err(e.into());
        }
        audit::record::<(), _>(
            &mut tx,
            &caller.sub,
            "create_check_list",
            &code,
            None,
            Some(&serde_json::json!({"item_code": item_code})),
        )
        .await?;
        tx.commit().await?;
        Ok(pb::CheckList {
            id: id.to_string(),
            code,
            item_code,
            department: dept,
            agency_uscc: agency,
            name,
            contents,
            methods,
            legal_basis: basis,
            frequency,
            created_at: Some(to_timestamp(chrono::Utc::now())),
        })
    }

    pub async fn list_check_lists(
        &self,
        caller: &Caller,
        r: pb::ListCheckListsRequest,
    ) -> Result<pb::ListCheckListsResponse> {
        let limit = page::page_size(r.page_size)?;
        let f = page::fingerprint(&[&r.item_code, &r.department]);
        let after: Option<String> = page::decode(&r.page_token, f)?;
        let pool = self.reads.for_caller(&caller.sub).await;
        let rows = sqlx::query(
            "SELECT id, code, item_code, department, agency_uscc, name, contents, methods, legal_basis, frequency, created_at
             FROM check_lists WHERE ($1 = '' OR item_code = $1) AND ($2 = '' OR department = $2)
             AND ($3::text IS NULL OR code > $3) ORDER BY code LIMIT $4",
        )
        .bind(r.item_code.trim())
        .bind(r.department.trim())
        .bind(after)
        .bind(limit + 1)
        .fetch_all(pool)
        .await?;
        let mut lists = rows
            .iter()
            .map(|r| {
                Ok(pb::CheckList {
                    id: r.try_get::<Uuid, _>("id")?.to_string(),
                    code: r.try_get("code")?,
                    item_code: r.try_get("item_code")?,
                    department: r.try_get("department")?,
                    agency_uscc: r.try_get("agency_uscc")?,
                    name: r.try_get("name")?,
                    contents: r.try_get("contents")?,
                    methods: r.try_get("methods")?,
                    legal_basis: r.try_get("legal_basis")?,
                    frequency: r.try_get("frequency")?,
                    created_at: Some(to_timestamp(r.try_get("created_at")?)),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let next = page::next_token(&mut lists, limit, f, |l| l.code.clone());
        Ok(pb::ListCheckListsResponse {
            check_lists: lists,
            next_page_token: next,
        })
    }
}

fn clean_list(v: &mut Violations, field: &str, values: &[String], required: bool) -> Vec<String> {
    let out: Vec<String> = values
        .iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if required && out.is_empty() {
        v.add(field, "must list at least one entry");
    }
    if out.len() > 200 || out.iter().any(|s| s.chars().count() > 500) {
        v.add(
            field,
            "must have at most 200 entries of at most 500 characters",
        );
    }
    out
}
