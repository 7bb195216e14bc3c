//! REST for the supervision service (../shared/API.md, Supervision). The supervision protos are
//! the REST bodies (they derive serde and utoipa), so a handler maps path and query onto the
//! request message and calls the service.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use yiwang_kit::Error;
use yiwang_proto::supervision::v1 as pb;

use crate::AppState;
use crate::extract::OptionalJson;
use crate::extract::{ApiJson, Ctx, Params, upstream};
use crate::middleware::IdempotencyKey;

type ApiResult<T> = Result<T, Error>;
type Created<T> = ApiResult<(StatusCode, Json<T>)>;

fn i64_param(p: &Params, name: &str) -> ApiResult<i64> {
    match p.0.get(name).map(|s| s.trim()) {
        None | Some("") => Ok(0),
        Some(s) => s
            .parse()
            .map_err(|_| Error::invalid(name, "must be an integer")),
    }
}

fn path_id(id: &str) -> ApiResult<i64> {
    id.parse()
        .map_err(|_| Error::invalid("id", "must be a numeric id"))
}

macro_rules! call {
    ($s:expr, $ctx:expr, $method:ident, $req:expr) => {
        $s.supervision
            .clone()
            .$method($ctx.grpc($req))
            .await
            .map_err(upstream)?
            .into_inner()
    };
}

// ------------------------------------------------------------------ items, claims, lists

#[utoipa::path(get, path = "/v1/supervision/items", tag = "supervision",
    description = "The supervision item catalogue (监管事项目录), public. Items carry the departments that claimed them.",
    params(("department" = Option<String>, Query), ("claimed" = Option<bool>, Query),
        ("page_size" = Option<i32>, Query), ("page_token" = Option<String>, Query)),
    responses((status = 200, body = pb::ListItemsResponse), (status = 400, body = crate::openapi::ErrorBody)))]
pub async fn list_items(
    State(s): State<AppState>,
    ctx: Ctx,
    p: Params,
) -> ApiResult<Json<pb::ListItemsResponse>> {
    let req = pb::ListItemsRequest {
        department: p.str("department"),
        claimed: p.str("claimed"),
        page_size: p.i32("page_size")?,
        page_token: p.str("page_token"),
    };
    Ok(Json(call!(s, ctx, list_items, req)))
}

#[utoipa::path(post, path = "/v1/supervision/items", tag = "supervision", security(("bearer" = [])),
    description = "Adds a supervision item (role `supervisor`): 14-digit code, 主项 or 子项 (`parent_code`), \
        administrative type 0 检查 | 1 处罚 | 2 强制 | 3 其他, legal basis, department.",
    request_body = pb::CreateItemRequest,
    responses((status = 201, body = pb::Item), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 409, body = crate::openapi::ErrorBody)))]
pub async fn create_item(
    State(s): State<AppState>,
    ctx: Ctx,
    ApiJson(req): ApiJson<pb::CreateItemRequest>,
) -> Created<pb::Item> {
    Ok((StatusCode::CREATED, Json(call!(s, ctx, create_item, req))))
}

#[utoipa::path(post, path = "/v1/supervision/items/{code}/claim", tag = "supervision", security(("bearer" = [])),
    description = "A department claims (认领) the item: an officer of that department, or a supervisor naming it.",
    params(("code" = String, Path)),
    request_body(content = Option<pb::ClaimItemRequest>, description = "optional: `{\"department\": …}`"),
    responses((status = 200, body = pb::Item), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn claim_item(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    OptionalJson(mut req): OptionalJson<pb::ClaimItemRequest>,
) -> ApiResult<Json<pb::Item>> {
    req.code = code;
    Ok(Json(call!(s, ctx, claim_item, req)))
}

#[utoipa::path(get, path = "/v1/supervision/check-lists", tag = "supervision",
    description = "Inspection implementation lists (检查实施清单), public.",
    params(("item_code" = Option<String>, Query), ("department" = Option<String>, Query),
        ("page_size" = Option<i32>, Query), ("page_token" = Option<String>, Query)),
    responses((status = 200, body = pb::ListCheckListsResponse), (status = 400, body = crate::openapi::ErrorBody)))]
pub async fn list_check_lists(
    State(s): State<AppState>,
    ctx: Ctx,
    p: Params,
) -> ApiResult<Json<pb::ListCheckListsResponse>> {
    let req = pb::ListCheckListsRequest {
        item_code: p.str("item_code"),
        department: p.str("department"),
        page_size: p.i32("page_size")?,
        page_token: p.str("page_token"),
    };
    Ok(Json(call!(s, ctx, list_check_lists, req)))
}

#[utoipa::path(post, path = "/v1/supervision/check-lists", tag = "supervision", security(("bearer" = [])),
    description = "Compiles an inspection list for an item the department claimed; its code starts with the agency's USCC.",
    request_body = pb::CreateCheckListRequest,
    responses((status = 201, body = pb::CheckList), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 409, body = crate::openapi::ErrorBody)))]
pub async fn create_check_list(
    State(s): State<AppState>,
    ctx: Ctx,
    ApiJson(req): ApiJson<pb::CreateCheckListRequest>,
) -> Created<pb::CheckList> {
    Ok((
        StatusCode::CREATED,
        Json(call!(s, ctx, create_check_list, req)),
    ))
}

// ------------------------------------------------------------------ registers

#[utoipa::path(get, path = "/v1/supervision/entities", tag = "supervision", security(("bearer" = [])),
    description = "The register of regulated entities (staff). ID numbers of natural persons are masked.",
    params(("industry" = Option<String>, Query), ("region" = Option<String>, Query, description = "GB/T 2260 prefix"),
        ("risk_level" = Option<String>, Query), ("uscc" = Option<String>, Query),
        ("page_size" = Option<i32>, Query), ("page_token" = Option<String>, Query)),
    responses((status = 200, body = pb::ListEntitiesResponse), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody)))]
pub async fn list_entities(
    State(s): State<AppState>,
    ctx: Ctx,
    p: Params,
) -> ApiResult<Json<pb::ListEntitiesResponse>> {
    let req = pb::ListEntitiesRequest {
        industry: p.str("industry"),
        region: p.str("region"),
        risk_level: p.str("risk_level"),
        uscc: p.str("uscc"),
        page_size: p.i32("page_size")?,
        page_token: p.str("page_token"),
    };
    Ok(Json(call!(s, ctx, list_entities, req)))
}

#[utoipa::path(post, path = "/v1/supervision/entities", tag = "supervision", security(("bearer" = [])),
    description = "Registers an entity: `legal_person` with a USCC (GB 32100) or `person` with a resident ID \
        (GB 11643, stored encrypted), industry, region, risk level low | medium | high.",
    request_body = pb::CreateEntityRequest,
    responses((status = 201, body = pb::Entity), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 409, body = crate::openapi::ErrorBody)))]
pub async fn create_entity(
    State(s): State<AppState>,
    ctx: Ctx,
    ApiJson(req): ApiJson<pb::CreateEntityRequest>,
) -> Created<pb::Entity> {
    Ok((StatusCode::CREATED, Json(call!(s, ctx, create_entity, req))))
}

#[utoipa::path(get, path = "/v1/supervision/entities/{id}", tag = "supervision", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = pb::Entity), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn get_entity(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<pb::Entity>> {
    let req = pb::GetByIdRequest { id: path_id(&id)? };
    Ok(Json(call!(s, ctx, get_entity, req)))
}

#[utoipa::path(get, path = "/v1/supervision/inspectors", tag = "supervision", security(("bearer" = [])),
    description = "The register of inspectors (staff).",
    params(("department" = Option<String>, Query), ("post_type" = Option<String>, Query),
        ("active" = Option<bool>, Query), ("page_size" = Option<i32>, Query), ("page_token" = Option<String>, Query)),
    responses((status = 200, body = pb::ListInspectorsResponse), (status = 400, body = crate::openapi::ErrorBody)))]
pub async fn list_inspectors(
    State(s): State<AppState>,
    ctx: Ctx,
    p: Params,
) -> ApiResult<Json<pb::ListInspectorsResponse>> {
    let req = pb::ListInspectorsRequest {
        department: p.str("department"),
        post_type: p.str("post_type"),
        active: p.str("active"),
        page_size: p.i32("page_size")?,
        page_token: p.str("page_token"),
    };
    Ok(Json(call!(s, ctx, list_inspectors, req)))
}

#[utoipa::path(post, path = "/v1/supervision/inspectors", tag = "supervision", security(("bearer" = [])),
    description = "Registers an inspector of a department with their certificate number (执法证号) and post type \
        enforcement | technical | other.",
    request_body = pb::CreateInspectorRequest,
    responses((status = 201, body = pb::Inspector), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 409, body = crate::openapi::ErrorBody)))]
pub async fn create_inspector(
    State(s): State<AppState>,
    ctx: Ctx,
    ApiJson(req): ApiJson<pb::CreateInspectorRequest>,
) -> Created<pb::Inspector> {
    Ok((
        StatusCode::CREATED,
        Json(call!(s, ctx, create_inspector, req)),
    ))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InspectorPatch {
    pub active: bool,
}

#[utoipa::path(patch, path = "/v1/supervision/inspectors/{id}", tag = "supervision", security(("bearer" = [])),
    description = "Activates or deactivates an inspector (inactive inspectors are not drawn and cannot sign records).",
    params(("id" = i64, Path)), request_body = InspectorPatch,
    responses((status = 200, body = pb::Inspector), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn patch_inspector(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<InspectorPatch>,
) -> ApiResult<Json<pb::Inspector>> {
    let req = pb::SetInspectorActiveRequest {
        id: path_id(&id)?,
        active: body.active,
    };
    Ok(Json(call!(s, ctx, set_inspector_active, req)))
}

#[utoipa::path(post, path = "/v1/supervision/inspectors/{id}/relations", tag = "supervision", security(("bearer" = [])),
    description = "Records a relation between the inspector and an entity (a conflict of interest): the draw never pairs them.",
    params(("id" = i64, Path)), request_body = pb::AddRelationRequest,
    responses((status = 200, body = pb::Relation), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn add_relation(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(mut req): ApiJson<pb::AddRelationRequest>,
) -> ApiResult<Json<pb::Relation>> {
    req.inspector_id = path_id(&id)?;
    Ok(Json(call!(s, ctx, add_relation, req)))
}

// ------------------------------------------------------------------ plans and draws

#[utoipa::path(get, path = "/v1/supervision/plans", tag = "supervision",
    description = "双随机一公开 plans: published ones to everyone; drafts and drawn ones to their department's staff.",
    params(("department" = Option<String>, Query), ("state" = Option<String>, Query, description = "draft | drawn | published"),
        ("page_size" = Option<i32>, Query), ("page_token" = Option<String>, Query)),
    responses((status = 200, body = pb::ListPlansResponse), (status = 400, body = crate::openapi::ErrorBody)))]
pub async fn list_plans(
    State(s): State<AppState>,
    ctx: Ctx,
    p: Params,
) -> ApiResult<Json<pb::ListPlansResponse>> {
    let req = pb::ListPlansRequest {
        department: p.str("department"),
        state: p.str("state"),
        page_size: p.i32("page_size")?,
        page_token: p.str("page_token"),
    };
    Ok(Json(call!(s, ctx, list_plans, req)))
}

#[utoipa::path(post, path = "/v1/supervision/plans", tag = "supervision", security(("bearer" = [])),
    description = "Creates a draft plan: claimed item(s), entity filter, `sample_percent` or `sample_count`, \
        inspector filter, `inspectors_per_target` (≥ 2).",
    request_body = pb::CreatePlanRequest,
    responses((status = 201, body = pb::Plan), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody)))]
pub async fn create_plan(
    State(s): State<AppState>,
    ctx: Ctx,
    ApiJson(req): ApiJson<pb::CreatePlanRequest>,
) -> Created<pb::Plan> {
    Ok((StatusCode::CREATED, Json(call!(s, ctx, create_plan, req))))
}

#[utoipa::path(get, path = "/v1/supervision/plans/{id}", tag = "supervision",
    params(("id" = String, Path)),
    responses((status = 200, body = pb::Plan), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn get_plan(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<pb::Plan>> {
    Ok(Json(call!(s, ctx, get_plan, pb::GetPlanRequest { id })))
}

#[utoipa::path(patch, path = "/v1/supervision/plans/{id}", tag = "supervision", security(("bearer" = [])),
    description = "Replaces a draft plan's parameters. A drawn plan is immutable: 400 FAILED_PRECONDITION (reason PLAN_DRAWN).",
    params(("id" = String, Path)), request_body = pb::UpdatePlanRequest,
    responses((status = 200, body = pb::Plan), (status = 400, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn update_plan(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(mut req): ApiJson<pb::UpdatePlanRequest>,
) -> ApiResult<Json<pb::Plan>> {
    req.id = id;
    Ok(Json(call!(s, ctx, update_plan, req)))
}

#[utoipa::path(post, path = "/v1/supervision/plans/{id}/draw", tag = "supervision", security(("bearer" = [])),
    description = "Draws targets and inspectors once (algorithm yiwang-draw-v1, see README). Answers the plan with \
        `seed` and `picks`. Optional body `{\"seed\": \"<64 hex>\"}`; by default the seed comes from the operating \
        system's randomness. A pool smaller than requested is 400 FAILED_PRECONDITION (reason POOL_TOO_SMALL) naming \
        the field and the numbers; drawing again is 400 (reason PLAN_DRAWN).",
    params(("id" = String, Path)),
    request_body(content = Option<pb::DrawPlanRequest>),
    responses((status = 200, body = pb::Plan), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn draw_plan(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    OptionalJson(mut req): OptionalJson<pb::DrawPlanRequest>,
) -> ApiResult<Json<pb::Plan>> {
    req.id = id;
    Ok(Json(call!(s, ctx, draw_plan, req)))
}

#[utoipa::path(post, path = "/v1/supervision/plans/{id}/publish", tag = "supervision", security(("bearer" = [])),
    description = "Publishes a drawn plan and its picks (公示): it appears in `/v1/supervision/publications` and its \
        draw document becomes public.",
    params(("id" = String, Path)),
    responses((status = 200, body = pb::Plan), (status = 400, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn publish_plan(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<pb::Plan>> {
    Ok(Json(call!(s, ctx, publish_plan, pb::GetPlanRequest { id })))
}

#[utoipa::path(get, path = "/v1/supervision/plans/{id}/draw", tag = "supervision",
    description = "The published inputs of the plan's draw with its picks: the document `yiwang verify-draw` and \
        `POST /v1/supervision/draws/verify` take.",
    params(("id" = String, Path)),
    responses((status = 200, body = pb::DrawDocument), (status = 400, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn get_draw_document(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<pb::DrawDocument>> {
    Ok(Json(call!(
        s,
        ctx,
        get_draw_document,
        pb::GetPlanRequest { id }
    )))
}

#[utoipa::path(post, path = "/v1/supervision/plans/{id}/verify", tag = "supervision",
    description = "Re-runs the draw of a published plan from its stored inputs and compares with the published picks.",
    params(("id" = String, Path)),
    responses((status = 200, body = pb::VerifyDrawResponse), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn verify_plan(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<pb::VerifyDrawResponse>> {
    Ok(Json(call!(
        s,
        ctx,
        verify_plan_draw,
        pb::GetPlanRequest { id }
    )))
}

#[utoipa::path(post, path = "/v1/supervision/draws/verify", tag = "supervision",
    description = "Public and pure: runs yiwang-draw-v1 over the given inputs (a published draw document) and \
        answers the picks; `matches` tells whether they equal the document's `picks`.",
    request_body = pb::DrawDocument,
    responses((status = 200, body = pb::VerifyDrawResponse), (status = 400, body = crate::openapi::ErrorBody)))]
pub async fn verify_draw(
    State(s): State<AppState>,
    ctx: Ctx,
    ApiJson(req): ApiJson<pb::DrawDocument>,
) -> ApiResult<Json<pb::VerifyDrawResponse>> {
    Ok(Json(call!(s, ctx, verify_draw, req)))
}

// ------------------------------------------------------------------ inspections

#[utoipa::path(get, path = "/v1/supervision/inspections", tag = "supervision", security(("bearer" = [])),
    description = "Inspection records (监管行为数据): staff see their department's; supervisors all.",
    params(("department" = Option<String>, Query), ("plan_id" = Option<String>, Query), ("entity_id" = Option<i64>, Query),
        ("result" = Option<String>, Query), ("rectification_state" = Option<String>, Query),
        ("page_size" = Option<i32>, Query), ("page_token" = Option<String>, Query)),
    responses((status = 200, body = pb::ListInspectionsResponse), (status = 400, body = crate::openapi::ErrorBody)))]
pub async fn list_inspections(
    State(s): State<AppState>,
    ctx: Ctx,
    p: Params,
) -> ApiResult<Json<pb::ListInspectionsResponse>> {
    let req = pb::ListInspectionsRequest {
        department: p.str("department"),
        plan_id: p.str("plan_id"),
        entity_id: i64_param(&p, "entity_id")?,
        result: p.str("result"),
        rectification_state: p.str("rectification_state"),
        page_size: p.i32("page_size")?,
        page_token: p.str("page_token"),
    };
    Ok(Json(call!(s, ctx, list_inspections, req)))
}

#[utoipa::path(post, path = "/v1/supervision/inspections", tag = "supervision", security(("bearer" = [])),
    description = "Files an inspection record (role `inspector` of the department): against a plan's drawn target \
        (`plan_id`), a follow-up task (`task_id`) or ad hoc; `inspected_at` ≤ `reported_at` ≤ now; ≥ 2 active \
        inspectors' certificate numbers; result no_problem | ordered_to_rectify (with `rectification_deadline`) | \
        case_opened | target_not_found | other. Send `Idempotency-Key` to make retries safe.",
    request_body = pb::CreateInspectionRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = pb::Inspection), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody)))]
pub async fn create_inspection(
    State(s): State<AppState>,
    ctx: Ctx,
    key: Option<Extension<IdempotencyKey>>,
    ApiJson(mut req): ApiJson<pb::CreateInspectionRequest>,
) -> Created<pb::Inspection> {
    if let Some(Extension(k)) = key {
        req.request_id = k.0;
    }
    Ok((
        StatusCode::CREATED,
        Json(call!(s, ctx, create_inspection, req)),
    ))
}

#[utoipa::path(get, path = "/v1/supervision/inspections/{id}", tag = "supervision", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = pb::Inspection), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn get_inspection(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<pb::Inspection>> {
    Ok(Json(call!(
        s,
        ctx,
        get_inspection,
        pb::GetByUuidRequest { id }
    )))
}

#[derive(serde::Deserialize, utoipa::ToSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct NoteBody {
    /// What was done.
    pub note: String,
}

#[utoipa::path(post, path = "/v1/supervision/inspections/{id}/rectification", tag = "supervision", security(("bearer" = [])),
    description = "Records that the ordered rectification was completed (open → completed).",
    params(("id" = String, Path)), request_body = NoteBody,
    responses((status = 200, body = pb::Inspection), (status = 400, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn complete_rectification(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NoteBody>,
) -> ApiResult<Json<pb::Inspection>> {
    let req = pb::CompleteRectificationRequest {
        id,
        note: body.note,
    };
    Ok(Json(call!(s, ctx, complete_rectification, req)))
}

// ------------------------------------------------------------------ tasks, notices, publications, stats

#[utoipa::path(get, path = "/v1/supervision/tasks", tag = "supervision", security(("bearer" = [])),
    description = "Follow-up supervision tasks created from approved licences (审管联动); a record filed with `task_id` completes one.",
    params(("department" = Option<String>, Query), ("state" = Option<String>, Query, description = "open | done"),
        ("page_size" = Option<i32>, Query), ("page_token" = Option<String>, Query)),
    responses((status = 200, body = pb::ListTasksResponse), (status = 400, body = crate::openapi::ErrorBody)))]
pub async fn list_tasks(
    State(s): State<AppState>,
    ctx: Ctx,
    p: Params,
) -> ApiResult<Json<pb::ListTasksResponse>> {
    let req = pb::ListTasksRequest {
        department: p.str("department"),
        state: p.str("state"),
        page_size: p.i32("page_size")?,
        page_token: p.str("page_token"),
    };
    Ok(Json(call!(s, ctx, list_tasks, req)))
}

#[utoipa::path(get, path = "/v1/supervision/notices", tag = "supervision", security(("bearer" = [])),
    description = "Oversight notices (督办) opened for overdue cases: open → acknowledged → closed.",
    params(("department" = Option<String>, Query), ("state" = Option<String>, Query),
        ("page_size" = Option<i32>, Query), ("page_token" = Option<String>, Query)),
    responses((status = 200, body = pb::ListNoticesResponse), (status = 400, body = crate::openapi::ErrorBody)))]
pub async fn list_notices(
    State(s): State<AppState>,
    ctx: Ctx,
    p: Params,
) -> ApiResult<Json<pb::ListNoticesResponse>> {
    let req = pb::ListNoticesRequest {
        department: p.str("department"),
        state: p.str("state"),
        page_size: p.i32("page_size")?,
        page_token: p.str("page_token"),
    };
    Ok(Json(call!(s, ctx, list_notices, req)))
}

#[utoipa::path(post, path = "/v1/supervision/notices/{id}/acknowledge", tag = "supervision", security(("bearer" = [])),
    description = "The department acknowledges the notice with what it does about the overdue case.",
    params(("id" = String, Path)), request_body = NoteBody,
    responses((status = 200, body = pb::Notice), (status = 400, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn acknowledge_notice(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NoteBody>,
) -> ApiResult<Json<pb::Notice>> {
    let req = pb::NoticeActionRequest {
        id,
        note: body.note,
    };
    Ok(Json(call!(s, ctx, acknowledge_notice, req)))
}

#[utoipa::path(post, path = "/v1/supervision/notices/{id}/close", tag = "supervision", security(("bearer" = [])),
    description = "A supervisor closes an acknowledged notice.",
    params(("id" = String, Path)), request_body = NoteBody,
    responses((status = 200, body = pb::Notice), (status = 400, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn close_notice(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NoteBody>,
) -> ApiResult<Json<pb::Notice>> {
    let req = pb::NoticeActionRequest {
        id,
        note: body.note,
    };
    Ok(Json(call!(s, ctx, close_notice, req)))
}

#[utoipa::path(get, path = "/v1/supervision/publications", tag = "supervision",
    description = "Published supervision information (公示), public: plans with their draw results, and information \
        published by departments.",
    params(("department" = Option<String>, Query), ("kind" = Option<String>, Query, description = "plan | results | information"),
        ("page_size" = Option<i32>, Query), ("page_token" = Option<String>, Query)),
    responses((status = 200, body = pb::ListPublicationsResponse), (status = 400, body = crate::openapi::ErrorBody)))]
pub async fn list_publications(
    State(s): State<AppState>,
    ctx: Ctx,
    p: Params,
) -> ApiResult<Json<pb::ListPublicationsResponse>> {
    let req = pb::ListPublicationsRequest {
        department: p.str("department"),
        kind: p.str("kind"),
        page_size: p.i32("page_size")?,
        page_token: p.str("page_token"),
    };
    Ok(Json(call!(s, ctx, list_publications, req)))
}

#[utoipa::path(post, path = "/v1/supervision/publications", tag = "supervision", security(("bearer" = [])),
    description = "Publishes supervision information (an officer of the department or a supervisor).",
    request_body = pb::CreatePublicationRequest,
    responses((status = 201, body = pb::Publication), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody)))]
pub async fn create_publication(
    State(s): State<AppState>,
    ctx: Ctx,
    ApiJson(req): ApiJson<pb::CreatePublicationRequest>,
) -> Created<pb::Publication> {
    Ok((
        StatusCode::CREATED,
        Json(call!(s, ctx, create_publication, req)),
    ))
}

#[utoipa::path(get, path = "/v1/supervision/stats", tag = "supervision", security(("bearer" = [])),
    description = "Claim rate (认领率), list completion rate (编制率), coverage (监管覆盖率), records per department, \
        month and result in the period, publications, tasks, notices, rectifications. Rates are percentages rounded \
        half up to two decimals.",
    params(("department" = Option<String>, Query), ("from" = Option<String>, Query, description = "RFC 3339 or YYYY-MM-DD"),
        ("to" = Option<String>, Query)),
    responses((status = 200, body = pb::Stats), (status = 400, body = crate::openapi::ErrorBody)))]
pub async fn stats(State(s): State<AppState>, ctx: Ctx, p: Params) -> ApiResult<Json<pb::Stats>> {
    let req = pb::GetStatsRequest {
        department: p.str("department"),
        from: p.str("from"),
        to: p.str("to"),
    };
    Ok(Json(call!(s, ctx, get_stats, req)))
}
