//! REST routes of the catalogue (API.md, Catalogue) over `yiwang.catalog.v1.CatalogService`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use yiwang_kit::Error;
use yiwang_proto::catalog::v1 as pb;

use crate::AppState;
use crate::cache;
use crate::extract::{ApiJson, Ctx, Params, rfc3339, upstream};
use crate::middleware::IdempotencyKey;

/// A time limit: `{"value": 20, "unit": "working_days"}`.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct TimeLimit {
    pub value: u32,
    /// `working_days`, `natural_days` or `working_hours`.
    pub unit: String,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct Material {
    pub name: String,
    #[serde(default)]
    pub required: bool,
    /// `paper`, `electronic` or `both`.
    #[serde(default)]
    pub format: String,
    /// `applicant`, `government_shared`, `issuing_agency` or `other`.
    #[serde(default)]
    pub source: String,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct Fee {
    pub name: String,
    pub amount_fen: i64,
}

/// The writable fields of a service item. In a PATCH, only the fields present change.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ItemInput {
    /// 实施编码 (implementation code). Create only.
    pub code: String,
    /// 基本编码 (basic catalogue code).
    pub catalog_code: String,
    pub name: String,
    /// 事项类型: 01..10, 20, 30..32.
    pub task_type: String,
    /// 行使层级: 1 national .. 5 town.
    pub level: u32,
    /// Implementing org unit code.
    pub department: String,
    pub legal_limit: Option<TimeLimit>,
    pub promised_limit: Option<TimeLimit>,
    /// `instant` (即办件) or `promised` (承诺件).
    pub handling_kind: String,
    /// 服务对象 codes: 1 natural person, 2 enterprise, 3, 4, 5, 6, 9.
    pub applicant_kinds: Vec<String>,
    pub acceptance_conditions: String,
    pub legal_basis: String,
    pub power_source: String,
    pub materials: Vec<Material>,
    pub fees: Vec<Fee>,
    /// 网上办理深度, values 1..8.
    pub online_depth: Vec<u32>,
    /// online, mobile, self_service, window, express, appointment, weekend_appointment, cross_province.
    pub channels: Vec<String>,
    /// Visits to a hall the applicant needs (0 = none).
    pub visits_required: u32,
    pub high_frequency: bool,
    /// `province` (全省一单), `city` (全市一单).
    pub standard_lists: Vec<String>,
}

/// A service item version as the apps read it.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct Item {
    pub code: String,
    pub catalog_code: String,
    pub name: String,
    pub task_type: String,
    pub level: u32,
    pub department: String,
    pub legal_limit: Option<TimeLimit>,
    pub promised_limit: Option<TimeLimit>,
    pub handling_kind: String,
    pub applicant_kinds: Vec<String>,
    pub acceptance_conditions: String,
    pub legal_basis: String,
    pub power_source: String,
    pub materials: Vec<Material>,
    pub fees: Vec<Fee>,
    pub online_depth: Vec<u32>,
    pub channels: Vec<String>,
    pub visits_required: u32,
    pub high_frequency: bool,
    pub standard_lists: Vec<String>,
    /// draft, published, suspended, retired or superseded.
    pub status: String,
    pub version: u32,
    pub effective_from: Option<String>,
    pub effective_to: Option<String>,
    /// 网上可办: accepted online.
    pub online_capable: bool,
    /// 全程网办: no visit to a hall needed.
    pub full_online: bool,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

fn limit_in(l: Option<TimeLimit>) -> Option<pb::TimeLimit> {
    l.map(|l| pb::TimeLimit {
        value: l.value,
        unit: l.unit,
    })
}

fn limit_out(l: &Option<pb::TimeLimit>) -> Option<TimeLimit> {
    l.as_ref().map(|l| TimeLimit {
        value: l.value,
        unit: l.unit.clone(),
    })
}

fn material_out(m: &pb::Material) -> Material {
    Material {
        name: m.name.clone(),
        required: m.required,
        format: m.format.clone(),
        source: m.source.clone(),
    }
}

impl From<ItemInput> for pb::Item {
    fn from(i: ItemInput) -> Self {
        pb::Item {
            code: i.code,
            catalog_code: i.catalog_code,
            name: i.name,
            task_type: i.task_type,
            level: i.level,
            department: i.department,
            legal_limit: limit_in(i.legal_limit),
            promised_limit: limit_in(i.promised_limit),
            handling_kind: i.handling_kind,
            applicant_kinds: i.applicant_kinds,
            acceptance_conditions: i.acceptance_conditions,
            legal_basis: i.legal_basis,
            power_source: i.power_source,
            materials: i
                .materials
                .into_iter()
                .map(|m| pb::Material {
                    name: m.name,
                    required: m.required,
                    format: m.format,
                    source: m.source,
                })
                .collect(),
            fees: i
                .fees
                .into_iter()
                .map(|f| pb::Fee {
                    name: f.name,
                    amount_fen: f.amount_fen,
                })
                .collect(),
            online_depth: i.online_depth,
            channels: i.channels,
            visits_required: i.visits_required,
            high_frequency: i.high_frequency,
            standard_lists: i.standard_lists,
            ..Default::default()
        }
    }
}

impl From<&pb::Item> for Item {
    fn from(i: &pb::Item) -> Self {
        Item {
            code: i.code.clone(),
            catalog_code: i.catalog_code.clone(),
            name: i.name.clone(),
            task_type: i.task_type.clone(),
            level: i.level,
            department: i.department.clone(),
            legal_limit: limit_out(&i.legal_limit),
            promised_limit: limit_out(&i.promised_limit),
            handling_kind: i.handling_kind.clone(),
            applicant_kinds: i.applicant_kinds.clone(),
            acceptance_conditions: i.acceptance_conditions.clone(),
            legal_basis: i.legal_basis.clone(),
            power_source: i.power_source.clone(),
            materials: i.materials.iter().map(material_out).collect(),
            fees: i
                .fees
                .iter()
                .map(|f| Fee {
                    name: f.name.clone(),
                    amount_fen: f.amount_fen,
                })
                .collect(),
            online_depth: i.online_depth.clone(),
            channels: i.channels.clone(),
            visits_required: i.visits_required,
            high_frequency: i.high_frequency,
            standard_lists: i.standard_lists.clone(),
            status: i.status.clone(),
            version: i.version,
            effective_from: rfc3339(&i.effective_from),
            effective_to: rfc3339(&i.effective_to),
            online_capable: i.online_capable,
            full_online: i.full_online,
            created_at: rfc3339(&i.create_time),
            updated_at: rfc3339(&i.update_time),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ItemList {
    pub items: Vec<Item>,
    /// Empty on the last page.
    pub next_page_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct VersionList {
    pub versions: Vec<Item>,
    pub next_page_token: String,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct OrgUnitInput {
    pub code: String,
    pub name: String,
    /// `department`, `town` or `village`.
    pub kind: String,
    /// GB/T 2260 region code (6, 9 or 12 digits).
    pub region_code: String,
    /// Agency USCC (GB 32100); required for departments and towns.
    #[serde(default)]
    pub uscc: String,
    /// Parent unit (a village's town).
    #[serde(default)]
    pub parent: String,
}

#[derive(Serialize, ToSchema)]
pub struct OrgUnit {
    pub code: String,
    pub name: String,
    pub kind: String,
    pub region_code: String,
    pub uscc: String,
    pub parent: String,
    pub created_at: Option<String>,
}

impl From<&pb::OrgUnit> for OrgUnit {
    fn from(u: &pb::OrgUnit) -> Self {
        OrgUnit {
            code: u.code.clone(),
            name: u.name.clone(),
            kind: u.kind.clone(),
            region_code: u.region_code.clone(),
            uscc: u.uscc.clone(),
            parent: u.parent.clone(),
            created_at: rfc3339(&u.create_time),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct OrgUnitList {
    pub org_units: Vec<OrgUnit>,
    pub next_page_token: String,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct BundleInput {
    pub name: String,
    /// `person` or `legal_person`.
    pub applicant_kind: String,
    /// Item codes (2..30), all published.
    pub items: Vec<String>,
    /// Defaults to the sum of the items' promised limits when they share a unit.
    #[serde(default)]
    pub promised_limit: Option<TimeLimit>,
    #[serde(default)]
    pub description: String,
}

#[derive(Serialize, ToSchema)]
pub struct Bundle {
    pub id: String,
    pub name: String,
    pub applicant_kind: String,
    pub items: Vec<String>,
    /// The items' materials merged, duplicates removed.
    pub materials: Vec<Material>,
    pub promised_limit: Option<TimeLimit>,
    pub description: String,
    pub created_at: Option<String>,
}

impl From<&pb::Bundle> for Bundle {
    fn from(b: &pb::Bundle) -> Self {
        Bundle {
            id: b.id.clone(),
            name: b.name.clone(),
            applicant_kind: b.applicant_kind.clone(),
            items: b.items.clone(),
            materials: b.materials.iter().map(material_out).collect(),
            promised_limit: limit_out(&b.promised_limit),
            description: b.description.clone(),
            created_at: rfc3339(&b.create_time),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct BundleList {
    pub bundles: Vec<Bundle>,
    pub next_page_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct CountByKey {
    pub key: String,
    pub name: String,
    pub count: i64,
}

#[derive(Serialize, ToSchema)]
pub struct CatalogStats {
    pub published_items: i64,
    pub by_department: Vec<CountByKey>,
    pub by_level: Vec<CountByKey>,
    pub by_task_type: Vec<CountByKey>,
    pub online_capable: i64,
    pub online_capable_share: f64,
    pub full_online: i64,
    pub full_online_share: f64,
    pub high_frequency: i64,
    pub bundles: i64,
}

#[derive(Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TransitionInput {
    /// Why (kept in the audit log).
    pub reason: String,
}

type ApiResult<T> = Result<T, Error>;

fn request_id(key: Option<Extension<IdempotencyKey>>) -> String {
    key.map(|Extension(k)| k.0).unwrap_or_default()
}

#[utoipa::path(get, path = "/v1/org-units", tag = "catalog",
    params(("kind" = Option<String>, Query, description = "department | town | village"),
           ("parent" = Option<String>, Query), ("page_size" = Option<i32>, Query), ("page_token" = Option<String>, Query)),
    responses((status = 200, body = OrgUnitList), (status = 400, body = crate::openapi::ErrorBody)))]
pub async fn list_org_units(
    State(s): State<AppState>,
    ctx: Ctx,
    p: Params,
) -> ApiResult<Json<OrgUnitList>> {
    let req = pb::ListOrgUnitsRequest {
        kind: p.str("kind"),
        parent: p.str("parent"),
        page_size: p.i32("page_size")?,
        page_token: p.str("page_token"),
    };
    let r = s
        .catalog
        .clone()
        .list_org_units(ctx.grpc(req))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(OrgUnitList {
        org_units: r.org_units.iter().map(OrgUnit::from).collect(),
        next_page_token: r.next_page_token,
    }))
}

#[utoipa::path(get, path = "/v1/org-units/{code}", tag = "catalog",
    responses((status = 200, body = OrgUnit), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn get_org_unit(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<Json<OrgUnit>> {
    let r = s
        .catalog
        .clone()
        .get_org_unit(ctx.grpc(pb::GetOrgUnitRequest { code }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(OrgUnit::from(&r)))
}

#[utoipa::path(post, path = "/v1/org-units", tag = "catalog", security(("bearer" = [])),
    request_body = OrgUnitInput,
    responses((status = 201, body = OrgUnit), (status = 400, body = crate::openapi::ErrorBody),
              (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody),
              (status = 409, body = crate::openapi::ErrorBody)))]
pub async fn create_org_unit(
    State(s): State<AppState>,
    ctx: Ctx,
    ApiJson(u): ApiJson<OrgUnitInput>,
) -> ApiResult<(StatusCode, Json<OrgUnit>)> {
    let unit = pb::OrgUnit {
        code: u.code,
        name: u.name,
        kind: u.kind,
        region_code: u.region_code,
        uscc: u.uscc,
        parent: u.parent,
        create_time: None,
    };
    let r = s
        .catalog
        .clone()
        .create_org_unit(ctx.grpc(pb::CreateOrgUnitRequest {
            org_unit: Some(unit),
        }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok((StatusCode::CREATED, Json(OrgUnit::from(&r))))
}

#[utoipa::path(get, path = "/v1/items", tag = "catalog",
    params(("q" = Option<String>, Query, description = "keyword: a substring of the name or of a material name"),
           ("department" = Option<String>, Query), ("task_type" = Option<String>, Query), ("level" = Option<u32>, Query),
           ("channel" = Option<String>, Query), ("online" = Option<bool>, Query, description = "online-capable (网上可办)"),
           ("full_online" = Option<bool>, Query, description = "全程网办"), ("high_frequency" = Option<bool>, Query),
           ("page_size" = Option<i32>, Query), ("page_token" = Option<String>, Query)),
    responses((status = 200, body = ItemList), (status = 400, body = crate::openapi::ErrorBody)))]
pub async fn search_items(
    State(s): State<AppState>,
    ctx: Ctx,
    p: Params,
) -> ApiResult<Json<ItemList>> {
    let req = pb::SearchItemsRequest {
        query: p.str("q"),
        department: p.str("department"),
        task_type: p.str("task_type"),
        level: p.u32("level")?,
        channel: p.str("channel"),
        online: p.bool("online")?,
        high_frequency: p.bool("high_frequency")?,
        full_online: p.bool("full_online")?,
        page_size: p.i32("page_size")?,
        page_token: p.str("page_token"),
    };
    let r = s
        .catalog
        .clone()
        .search_items(ctx.grpc(req))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(ItemList {
        items: r.items.iter().map(Item::from).collect(),
        next_page_token: r.next_page_token,
    }))
}

#[utoipa::path(get, path = "/v1/items/{code}", tag = "catalog",
    description = "The current published version (or suspended/retired). Served from the Redis cache when warm.",
    responses((status = 200, body = Item), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn get_item(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<Response> {
    if let Some(body) = s.items.get(&code) {
        metrics::counter!("yiwang_cache_total", "result" => "near_hit").increment(1);
        return Ok(json_bytes(body, "hit"));
    }
    let epoch = s.items.epoch();
    let redis = s.redis.get();
    let mut generation = None;
    if let Some(redis) = redis {
        match cache::lookup(redis, &code).await {
            Ok(cache::Lookup::Hit(body)) => {
                metrics::counter!("yiwang_cache_total", "result" => "hit").increment(1);
                s.items.insert_if_unchanged(&code, body.clone(), epoch);
                return Ok(json_bytes(body, "hit"));
            }
            Ok(cache::Lookup::Miss { generation: g }) => generation = Some(g),
            Err(e) => tracing::warn!(error = %e, "item cache unavailable"),
        }
    }
    metrics::counter!("yiwang_cache_total", "result" => "miss").increment(1);
    let r = s
        .catalog
        .clone()
        .get_item(ctx.grpc(pb::GetItemRequest { code: code.clone() }))
        .await
        .map_err(upstream)?
        .into_inner();
    let body = serde_json::to_vec(&Item::from(&r)).map_err(Error::internal)?;
    if let (Some(redis), Some(g)) = (redis, generation)
        && let Err(e) = cache::fill(redis, &code, g, &body, s.cfg.cache_ttl_secs).await
    {
        tracing::warn!(error = %e, "item cache fill failed");
    }
    let body = bytes::Bytes::from(body);
    if redis.is_some() {
        // Only while changes can be heard (Redis up) may an item be kept in memory.
        s.items.insert_if_unchanged(&code, body.clone(), epoch);
    }
    Ok(json_bytes(body, "miss"))
}

fn json_bytes(body: bytes::Bytes, cache: &'static str) -> Response {
    let mut resp = Response::new(axum::body::Body::from(body));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp.headers_mut()
        .insert("x-cache", http::HeaderValue::from_static(cache));
    resp
}

#[utoipa::path(get, path = "/v1/items/{code}/versions", tag = "catalog",
    description = "Every version, newest first. Drafts only for catalog_admin.",
    params(("page_size" = Option<i32>, Query), ("page_token" = Option<String>, Query)),
    responses((status = 200, body = VersionList), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn list_versions(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    p: Params,
) -> ApiResult<Json<VersionList>> {
    let req = pb::ListItemVersionsRequest {
        code,
        page_size: p.i32("page_size")?,
        page_token: p.str("page_token"),
    };
    let r = s
        .catalog
        .clone()
        .list_item_versions(ctx.grpc(req))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(VersionList {
        versions: r.versions.iter().map(Item::from).collect(),
        next_page_token: r.next_page_token,
    }))
}

#[utoipa::path(get, path = "/v1/items/{code}/versions/{version}", tag = "catalog",
    responses((status = 200, body = Item), (status = 400, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn get_version(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((code, version)): Path<(String, String)>,
) -> ApiResult<Json<Item>> {
    let version: u32 = version
        .parse()
        .map_err(|_| Error::invalid("version", "must be a positive integer"))?;
    let r = s
        .catalog
        .clone()
        .get_item_version(ctx.grpc(pb::GetItemVersionRequest { code, version }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(Item::from(&r)))
}

#[utoipa::path(post, path = "/v1/items", tag = "catalog", security(("bearer" = [])),
    description = "Creates a draft (version 1). Needs catalog_admin. Send `Idempotency-Key` to make retries safe.",
    request_body = ItemInput,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = Item), (status = 400, body = crate::openapi::ErrorBody), (status = 401, body = crate::openapi::ErrorBody),
              (status = 403, body = crate::openapi::ErrorBody), (status = 409, body = crate::openapi::ErrorBody)))]
pub async fn create_item(
    State(s): State<AppState>,
    ctx: Ctx,
    key: Option<Extension<IdempotencyKey>>,
    ApiJson(input): ApiJson<ItemInput>,
) -> ApiResult<(StatusCode, Json<Item>)> {
    let req = pb::CreateItemRequest {
        item: Some(input.into()),
        request_id: request_id(key),
    };
    let r = s
        .catalog
        .clone()
        .create_item(ctx.grpc(req))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok((StatusCode::CREATED, Json(Item::from(&r))))
}

#[utoipa::path(patch, path = "/v1/items/{code}", tag = "catalog", security(("bearer" = [])),
    description = "Edits the open draft, or opens a new draft version of a published item. Only the fields present change.",
    request_body = ItemInput,
    responses((status = 200, body = Item), (status = 400, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn update_item(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> ApiResult<Json<Item>> {
    let Some(obj) = body.as_object() else {
        return Err(Error::invalid("body", "must be a JSON object"));
    };
    if let Some(c) = obj.get("code")
        && c.as_str() != Some(code.as_str())
    {
        return Err(Error::invalid("code", "cannot change; it names the item"));
    }
    let paths: Vec<String> = obj.keys().filter(|k| *k != "code").cloned().collect();
    if paths.is_empty() {
        return Err(Error::invalid("body", "names no field to change"));
    }
    let input: ItemInput = crate::extract::parse_json(body.to_string().as_bytes())?;
    let mut item: pb::Item = input.into();
    item.code = code;
    let req = pb::UpdateItemRequest {
        item: Some(item),
        update_mask: Some(prost_types::FieldMask { paths }),
    };
    let r = s
        .catalog
        .clone()
        .update_item(ctx.grpc(req))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(Item::from(&r)))
}

async fn transition(
    s: AppState,
    ctx: Ctx,
    code: String,
    body: axum::body::Bytes,
    which: &str,
) -> ApiResult<Json<Item>> {
    // The body is optional: empty, or {"reason": "..."}.
    let reason = if body.iter().all(u8::is_ascii_whitespace) {
        String::new()
    } else {
        crate::extract::parse_json::<TransitionInput>(&body)?.reason
    };
    let req = ctx.grpc(pb::ItemTransitionRequest {
        code,
        reason,
        effective_from: None,
    });
    let mut c = s.catalog.clone();
    let r = match which {
        "publish" => c.publish_item(req).await,
        "suspend" => c.suspend_item(req).await,
        _ => c.retire_item(req).await,
    }
    .map_err(upstream)?
    .into_inner();
    Ok(Json(Item::from(&r)))
}

#[utoipa::path(post, path = "/v1/items/{code}/publish", tag = "catalog", security(("bearer" = [])),
    description = "draft → published (the previous version becomes superseded); suspended → published.",
    request_body(content = Option<TransitionInput>), responses((status = 200, body = Item), (status = 400, body = crate::openapi::ErrorBody)))]
pub async fn publish_item(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Item>> {
    transition(s, ctx, code, body, "publish").await
}

#[utoipa::path(post, path = "/v1/items/{code}/suspend", tag = "catalog", security(("bearer" = [])),
    request_body(content = Option<TransitionInput>), responses((status = 200, body = Item), (status = 400, body = crate::openapi::ErrorBody)))]
pub async fn suspend_item(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Item>> {
    transition(s, ctx, code, body, "suspend").await
}

#[utoipa::path(post, path = "/v1/items/{code}/retire", tag = "catalog", security(("bearer" = [])),
    request_body(content = Option<TransitionInput>), responses((status = 200, body = Item), (status = 400, body = crate::openapi::ErrorBody)))]
pub async fn retire_item(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Item>> {
    transition(s, ctx, code, body, "retire").await
}

#[utoipa::path(get, path = "/v1/bundles", tag = "catalog",
    params(("page_size" = Option<i32>, Query), ("page_token" = Option<String>, Query)),
    responses((status = 200, body = BundleList)))]
pub async fn list_bundles(
    State(s): State<AppState>,
    ctx: Ctx,
    p: Params,
) -> ApiResult<Json<BundleList>> {
    let req = pb::ListBundlesRequest {
        page_size: p.i32("page_size")?,
        page_token: p.str("page_token"),
    };
    let r = s
        .catalog
        .clone()
        .list_bundles(ctx.grpc(req))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(BundleList {
        bundles: r.bundles.iter().map(Bundle::from).collect(),
        next_page_token: r.next_page_token,
    }))
}

#[utoipa::path(get, path = "/v1/bundles/{id}", tag = "catalog",
    responses((status = 200, body = Bundle), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn get_bundle(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<Bundle>> {
    let r = s
        .catalog
        .clone()
        .get_bundle(ctx.grpc(pb::GetBundleRequest { id }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(Bundle::from(&r)))
}

#[utoipa::path(post, path = "/v1/bundles", tag = "catalog", security(("bearer" = [])),
    request_body = BundleInput, params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = Bundle), (status = 400, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody)))]
pub async fn create_bundle(
    State(s): State<AppState>,
    ctx: Ctx,
    key: Option<Extension<IdempotencyKey>>,
    ApiJson(b): ApiJson<BundleInput>,
) -> ApiResult<(StatusCode, Json<Bundle>)> {
    let bundle = pb::Bundle {
        name: b.name,
        applicant_kind: b.applicant_kind,
        items: b.items,
        promised_limit: limit_in(b.promised_limit),
        description: b.description,
        ..Default::default()
    };
    let r = s
        .catalog
        .clone()
        .create_bundle(ctx.grpc(pb::CreateBundleRequest {
            bundle: Some(bundle),
            request_id: request_id(key),
        }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok((StatusCode::CREATED, Json(Bundle::from(&r))))
}

#[utoipa::path(get, path = "/v1/catalog/stats", tag = "catalog",
    description = "Published items by department, level and type; online-capable and 全程网办 shares.",
    responses((status = 200, body = CatalogStats)))]
pub async fn stats(State(s): State<AppState>, ctx: Ctx) -> ApiResult<Json<CatalogStats>> {
    let r = s
        .catalog
        .clone()
        .get_catalog_stats(ctx.grpc(pb::GetCatalogStatsRequest {}))
        .await
        .map_err(upstream)?
        .into_inner();
    let counts = |v: &[pb::CountByKey]| {
        v.iter()
            .map(|c| CountByKey {
                key: c.key.clone(),
                name: c.name.clone(),
                count: c.count,
            })
            .collect()
    };
    Ok(Json(CatalogStats {
        published_items: r.published_items,
        by_department: counts(&r.by_department),
        by_level: counts(&r.by_level),
        by_task_type: counts(&r.by_task_type),
        online_capable: r.online_capable,
        online_capable_share: r.online_capable_share,
        full_online: r.full_online,
        full_online_share: r.full_online_share,
        high_frequency: r.high_frequency,
        bundles: r.bundles,
    }))
}

/// `405`/`404` answers in the error format.
pub async fn not_found() -> impl IntoResponse {
    Error::not_found("ROUTE_NOT_FOUND", "no such route; see /openapi.json")
}
