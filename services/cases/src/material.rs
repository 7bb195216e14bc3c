//! A case's materials (申请材料): each named as the item lists it, with the file when one was
//! uploaded, and the department's review of it — accepted, or rejected with what to hand in
//! instead. The rejected ones, with required materials never provided, are the correction list
//! (一次性告知) the applicant receives when a correction is requested.

use sqlx::{Postgres, Transaction};
use tonic::{Request, Response, Status};
use uuid::Uuid;
use yiwang_kit::{Caller, Error, Result, Violations};
use yiwang_proto::cases::v1 as pb;

use crate::api::{CasesApi, View, is_staff_of, is_window_of};
use crate::case_store::{self, CaseRow};

/// One material of a case as stored (read through the case row's JSON column).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct MaterialRow {
    pub name: String,
    pub upload_id: Option<Uuid>,
    pub status: String,
    pub reason: String,
    pub content_type: Option<String>,
    pub size: Option<i64>,
    pub sha256: Option<String>,
    /// Hex of the sealed file name.
    pub file_name_sealed: Option<String>,
}

/// A material as a request gives it: its name and, for a file, the upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Given {
    pub name: String,
    pub upload: Option<Uuid>,
    /// Where the request gave it (`materials[2]`), for errors.
    pub field: String,
}

/// The materials of a request, from the current form (`materials`: name and upload) and the
/// older one (`material_names`: names only); each name once.
pub fn clean_given(names: &[String], refs: &[pb::MaterialRef], v: &mut Violations) -> Vec<Given> {
    let mut out: Vec<Given> = Vec::new();
    if names.len() + refs.len() > 200 {
        v.add("materials", "must list at most 200 materials");
        return out;
    }
    let given = refs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            (
                format!("materials[{i}]"),
                r.name.as_str(),
                r.upload_id.as_str(),
            )
        })
        .chain(
            names
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("material_names[{i}]"), n.as_str(), "")),
        );
    for (field, name, upload) in given {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            // Named at the element: a bare name is the element itself (REST shorthand).
            v.add(
                field.clone(),
                "must be a material name of 1 to 200 characters",
            );
            continue;
        }
        let upload = match upload.trim() {
            "" => None,
            u => match Uuid::parse_str(u) {
                Ok(u) => Some(u),
                Err(_) => {
                    v.add(
                        format!("{field}.upload_id"),
                        "must be the id of an upload (POST /v1/uploads)",
                    );
                    continue;
                }
            },
        };
        match out.iter_mut().find(|g| g.name == name) {
            // The same name twice is one material; with two different files it is a mistake.
            Some(g) if upload.is_some() && g.upload.is_some() && g.upload != upload => v.add(
                field.clone(),
                format!("is given twice with different files ({})", g.field),
            ),
            Some(g) => g.upload = g.upload.or(upload),
            None => out.push(Given {
                name: name.to_string(),
                upload,
                field,
            }),
        }
    }
    out
}

pub fn names(given: &[Given]) -> Vec<String> {
    given.iter().map(|g| g.name.clone()).collect()
}

pub fn files(given: &[Given]) -> Vec<(String, Uuid)> {
    given
        .iter()
        .filter_map(|g| g.upload.map(|u| (g.name.clone(), u)))
        .collect()
}

/// The uploads named are the caller's, complete and not expired: checked before anything is
/// written, so the error names the material.
pub async fn check_uploads(pool: &sqlx::PgPool, owner: &str, given: &[Given]) -> Result<()> {
    let ids: Vec<Uuid> = given.iter().filter_map(|g| g.upload).collect();
    if ids.is_empty() {
        return Ok(());
    }
    let usable: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM uploads WHERE id = ANY($1) AND owner_sub = $2 AND state = 'stored'
           AND (expires_at IS NULL OR expires_at > now())",
    )
    .bind(&ids)
    .bind(owner)
    .fetch_all(pool)
    .await?;
    let mut v = Violations::new();
    for g in given {
        if let Some(u) = g.upload
            && !usable.contains(&u)
        {
            v.add(
                format!("{}.upload_id", g.field),
                "is not a complete, unexpired upload of yours (POST /v1/uploads)",
            );
        }
    }
    v.into_result()
}

/// Marks the uploads as named by a case (they no longer expire). Fails if one is not the
/// owner's, incomplete or expired — [`check_uploads`] said so already unless it expired since.
async fn attach(tx: &mut Transaction<'_, Postgres>, owner: &str, uploads: &[Uuid]) -> Result<()> {
    if uploads.is_empty() {
        return Ok(());
    }
    let mut distinct = uploads.to_vec();
    distinct.sort();
    distinct.dedup();
    let attached = sqlx::query(
        "UPDATE uploads SET expires_at = NULL WHERE id = ANY($1) AND owner_sub = $2
           AND state = 'stored' AND (expires_at IS NULL OR expires_at > now())",
    )
    .bind(&distinct)
    .bind(owner)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if attached as usize != distinct.len() {
        return Err(Error::invalid(
            "materials",
            "an upload named expired or is not yours; upload the file again",
        ));
    }
    Ok(())
}

/// The upload of each named material (`None`: by name only), attached to the case.
async fn attach_named(
    tx: &mut Transaction<'_, Postgres>,
    owner: &str,
    names: &[String],
    files: &[(String, Uuid)],
) -> Result<Vec<Option<Uuid>>> {
    let uploads: Vec<Option<Uuid>> = names
        .iter()
        .map(|n| files.iter().find(|(f, _)| f == n).map(|(_, u)| *u))
        .collect();
    attach(
        tx,
        owner,
        &uploads.iter().flatten().copied().collect::<Vec<_>>(),
    )
    .await?;
    Ok(uploads)
}

/// The materials of a new case, in the filing's transaction.
pub async fn insert_for_case(
    tx: &mut Transaction<'_, Postgres>,
    case_id: Uuid,
    filer: &str,
    names: &[String],
    files: &[(String, Uuid)],
) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let uploads = attach_named(tx, filer, names, files).await?;
    sqlx::query(
        "INSERT INTO case_materials (case_id, name, upload_id)
         SELECT $1, n, u FROM unnest($2::text[], $3::uuid[]) AS t(n, u)",
    )
    .bind(case_id)
    .bind(names)
    .bind(&uploads)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Materials handed in with a correction: each is provided again (a new file replaces the
/// rejected one; the review starts over).
pub async fn resubmit(
    tx: &mut Transaction<'_, Postgres>,
    case_id: Uuid,
    actor: &str,
    names: &[String],
    files: &[(String, Uuid)],
) -> Result<()> {
    let uploads = attach_named(tx, actor, names, files).await?;
    sqlx::query(
        "INSERT INTO case_materials (case_id, name, upload_id)
         SELECT $1, n, u FROM unnest($2::text[], $3::uuid[]) AS t(n, u)
         ON CONFLICT (case_id, name) DO UPDATE SET
            upload_id = coalesce(EXCLUDED.upload_id, case_materials.upload_id),
            status = 'provided', reason = '', reviewed_by = '', reviewed_at = NULL",
    )
    .bind(case_id)
    .bind(names)
    .bind(&uploads)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The case's materials now, in its transaction.
pub async fn rows_of(
    tx: &mut Transaction<'_, Postgres>,
    case_id: Uuid,
) -> Result<Vec<MaterialRow>> {
    let sqlx::types::Json(rows) = sqlx::query_scalar::<_, sqlx::types::Json<Vec<MaterialRow>>>(
        "SELECT coalesce(json_agg(json_build_object('name', m.name, 'upload_id', m.upload_id,
            'status', m.status, 'reason', m.reason, 'content_type', u.content_type, 'size', u.size_bytes,
            'sha256', u.sha256, 'file_name_sealed', encode(u.file_name_sealed, 'hex'))
            ORDER BY array_position(c.materials, m.name), m.name), '[]')
         FROM cases c JOIN case_materials m ON m.case_id = c.id
         LEFT JOIN uploads u ON u.id = m.upload_id WHERE c.id = $1",
    )
    .bind(case_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(rows)
}

/// The correction list (一次性告知) of a case: rejected materials with the reason, then the
/// required ones never provided.
pub fn correction_list(c: &CaseRow) -> Vec<pb::CorrectionEntry> {
    let mut list: Vec<pb::CorrectionEntry> = c
        .material_rows
        .iter()
        .filter(|m| m.status == "rejected")
        .map(|m| pb::CorrectionEntry {
            name: m.name.clone(),
            reason: m.reason.clone(),
        })
        .collect();
    list.extend(
        c.required_materials
            .iter()
            .filter(|r| !c.materials.contains(r))
            .map(|r| pb::CorrectionEntry {
                name: r.clone(),
                reason: "必需材料，未提交 (required, not provided)".into(),
            }),
    );
    list
}

/// The reason a correction request states when the clerk gives none: the list itself.
pub fn correction_reason(list: &[pb::CorrectionEntry]) -> String {
    list.iter()
        .map(|e| format!("{}：{}", e.name, e.reason))
        .collect::<Vec<_>>()
        .join("；")
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
}

pub const AAD_FILE_NAME: &[u8] = b"cases.upload_file_name";

impl CasesApi {
    /// The materials as the applicant, the department and the window see them (others: none).
    pub(crate) fn materials_to_pb(&self, c: &CaseRow, view: View) -> Vec<pb::CaseMaterial> {
        if view != View::Full {
            return Vec::new();
        }
        c.material_rows
            .iter()
            .map(|m| pb::CaseMaterial {
                name: m.name.clone(),
                upload_id: m.upload_id.map(|u| u.to_string()).unwrap_or_default(),
                file_name: m
                    .file_name_sealed
                    .as_deref()
                    .and_then(unhex)
                    .and_then(|s| self.key.open(&s, AAD_FILE_NAME).ok())
                    .unwrap_or_default(),
                content_type: m.content_type.clone().unwrap_or_default(),
                size: m.size.unwrap_or(0).max(0) as u64,
                sha256: m.sha256.clone().unwrap_or_default(),
                status: m.status.clone(),
                reason: m.reason.clone(),
            })
            .collect()
    }

    pub(crate) async fn review_materials_rpc(
        &self,
        req: Request<pb::ReviewMaterialsRequest>,
    ) -> std::result::Result<Response<pb::Case>, Status> {
        let caller = Caller::of(&req);
        caller.require_authenticated()?;
        let r = req.into_inner();
        let id =
            Uuid::parse_str(&r.id).map_err(|_| Error::invalid("id", "must be a case id (UUID)"))?;
        let mut v = Violations::new();
        if r.reviews.is_empty() || r.reviews.len() > 200 {
            v.add("reviews", "must review 1 to 200 materials");
        }
        for (i, m) in r.reviews.iter().enumerate() {
            if r.reviews[..i]
                .iter()
                .any(|o| o.name.trim() == m.name.trim())
            {
                v.add(format!("reviews[{i}].name"), "is reviewed twice");
            }
            match m.status.as_str() {
                "accepted" => {}
                "rejected" if m.reason.trim().is_empty() => v.add(
                    format!("reviews[{i}].reason"),
                    "is required to reject a material: say what is wrong and what to hand in",
                ),
                "rejected" => {}
                _ => v.add(
                    format!("reviews[{i}].status"),
                    "must be accepted or rejected",
                ),
            }
            if m.reason.trim().chars().count() > 500 {
                v.add(
                    format!("reviews[{i}].reason"),
                    "must be at most 500 characters",
                );
            }
        }
        v.into_result()?;
        let mut tx = self.pool.begin().await.map_err(Error::from)?;
        let mut c = case_store::lock(&mut tx, id, |c| {
            let staff = is_staff_of(&caller, &c.department);
            // The comprehensive window examines materials at receipt; the department throughout.
            if staff || (is_window_of(&caller, c) && c.state == "received") {
                Ok(())
            } else if c.owner_sub == caller.sub || is_window_of(&caller, c) {
                Err(Error::permission_denied(format!(
                    "only staff of the handling department ({}) review materials{}",
                    c.department,
                    if is_window_of(&caller, c) {
                        " once the case is accepted"
                    } else {
                        ""
                    }
                )))
            } else {
                Err(case_store::not_found(c.id))
            }
        })
        .await?;
        if !matches!(c.state.as_str(), "received" | "accepted") {
            return Err(Error::failed_precondition(
                "CASE_STATE",
                format!(
                    "case {} is {}; materials are reviewed while it is received or accepted",
                    c.case_number, c.state
                ),
            )
            .with_metadata("state", c.state.clone())
            .into());
        }
        let mut v = Violations::new();
        for (i, m) in r.reviews.iter().enumerate() {
            let changed = sqlx::query(
                "UPDATE case_materials SET status = $3, reason = $4, reviewed_by = $5, reviewed_at = now()
                 WHERE case_id = $1 AND name = $2",
            )
            .bind(id)
            .bind(m.name.trim())
            .bind(&m.status)
            .bind(if m.status == "rejected" { m.reason.trim() } else { "" })
            .bind(&caller.sub)
            .execute(&mut *tx)
            .await
            .map_err(Error::from)?
            .rows_affected();
            if changed == 0 {
                v.add(
                    format!("reviews[{i}].name"),
                    format!("is not a material of case {}", c.case_number),
                );
            }
        }
        v.into_result()?;
        c.material_rows = rows_of(&mut tx, id).await?;
        tx.commit().await.map_err(Error::from)?;
        tracing::info!(case = %c.case_number, reviewed = r.reviews.len(), actor = %caller.sub, "materials reviewed");
        Ok(Response::new(self.case_to_pb(&c, View::Full)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(name: &str, upload: &str) -> pb::MaterialRef {
        pb::MaterialRef {
            name: name.into(),
            upload_id: upload.into(),
        }
    }

    #[test]
    fn both_forms_merge_by_name_and_name_the_bad_field() {
        let u = Uuid::now_v7().to_string();
        let mut v = Violations::new();
        let g = clean_given(
            &["营业执照".into(), " 身份证 ".into()],
            &[r("身份证", &u), r("营业执照", "")],
            &mut v,
        );
        assert!(v.into_result().is_ok());
        assert_eq!(names(&g), vec!["身份证", "营业执照"]);
        assert_eq!(
            files(&g),
            vec![("身份证".to_string(), Uuid::parse_str(&u).unwrap())]
        );

        let mut v = Violations::new();
        clean_given(
            &[],
            &[
                r("", ""),
                r("a", "nope"),
                r("b", &u),
                r("b", &Uuid::now_v7().to_string()),
            ],
            &mut v,
        );
        let e = v.into_result().unwrap_err();
        let fields: Vec<&str> = e.violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            vec!["materials[0]", "materials[1].upload_id", "materials[3]"]
        );
    }

    #[test]
    fn sealed_names_round_trip_through_hex() {
        assert_eq!(unhex("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("zz"), None);
    }
}
