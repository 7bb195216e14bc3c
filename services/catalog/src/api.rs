//! The gRPC API (yiwang.catalog.v1.CatalogService): proto ↔ domain conversion, authorisation,
//! and the calls into [`crate::store`].

use std::sync::Arc;

use sqlx::PgPool;
use tonic::{Request, Response, Status};
use yiwang_kit::auth::roles;
use yiwang_kit::nearcache::{NearCache, Weigh};
use yiwang_kit::{Caller, Error, to_timestamp};
use yiwang_proto::catalog::v1 as pb;
use yiwang_proto::catalog::v1::catalog_service_server::CatalogService;

use crate::model::{self, ItemContent};
use crate::store::{self, ItemVersion, SearchFilter, Transition};

pub struct CatalogApi {
    pub pool: PgPool,
    /// Where listings, search and statistics are read (a replica when one is configured).
    pub reads: yiwang_kit::db::Reads,
    /// Current versions of hot items (GetItem). Dropped here on every change this replica makes,
    /// and on every `catalog.item.changed` event for changes other replicas make (lib.rs).
    pub items: Arc<NearCache<CachedItem>>,
}

#[derive(Clone)]
pub struct CachedItem(Arc<pb::Item>);

impl Weigh for CachedItem {
    fn weight(&self) -> u64 {
        // Decoded messages take roughly twice their wire size.
        2 * prost::Message::encoded_len(&*self.0) as u64
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn admin(caller: &Caller) -> Result<(), Status> {
    caller
        .require_any_role(&[roles::CATALOG_ADMIN])
        .map_err(Status::from)
}

fn limit_to_pb(l: &Option<model::TimeLimit>) -> Option<pb::TimeLimit> {
    l.as_ref().map(|l| pb::TimeLimit {
        value: l.value,
        unit: l.unit.clone(),
    })
}

fn limit_from_pb(l: Option<pb::TimeLimit>) -> Option<model::TimeLimit> {
    l.map(|l| model::TimeLimit {
        value: l.value,
        unit: l.unit,
    })
}

fn material_to_pb(m: &model::Material) -> pb::Material {
    pb::Material {
        name: m.name.clone(),
        required: m.required,
        format: m.format.clone(),
        source: m.source.clone(),
    }
}

pub fn item_to_pb(v: &ItemVersion) -> pb::Item {
    let c = &v.content;
    pb::Item {
        code: v.code.clone(),
        catalog_code: c.catalog_code.clone(),
        name: c.name.clone(),
        task_type: c.task_type.clone(),
        level: c.level,
        department: c.department.clone(),
        legal_limit: limit_to_pb(&c.legal_limit),
        promised_limit: limit_to_pb(&c.promised_limit),
        handling_kind: c.handling_kind.clone(),
        applicant_kinds: c.applicant_kinds.clone(),
        acceptance_conditions: c.acceptance_conditions.clone(),
        legal_basis: c.legal_basis.clone(),
        power_source: c.power_source.clone(),
        materials: c.materials.iter().map(material_to_pb).collect(),
        fees: c
            .fees
            .iter()
            .map(|f| pb::Fee {
                name: f.name.clone(),
                amount_fen: f.amount_fen,
            })
            .collect(),
        online_depth: c.online_depth.clone(),
        channels: c.channels.clone(),
        visits_required: c.visits_required,
        high_frequency: c.high_frequency,
        standard_lists: c.standard_lists.clone(),
        status: v.status.clone(),
        version: v.version as u32,
        effective_from: v.effective_from.map(to_timestamp),
        effective_to: v.effective_to.map(to_timestamp),
        online_capable: c.online_capable(),
        full_online: c.full_online(),
        created_at: Some(to_timestamp(v.created_at)),
        updated_at: Some(to_timestamp(v.updated_at)),
        updated_by: v.updated_by.clone(),
    }
}

/// The content fields of a proto item (output-only fields are ignored).
fn content_from_pb(i: &pb::Item) -> ItemContent {
    ItemContent {
        catalog_code: i.catalog_code.clone(),
        name: i.name.clone(),
        task_type: i.task_type.clone(),
        level: i.level,
        department: i.department.clone(),
        legal_limit: limit_from_pb(i.legal_limit.clone()),
        promised_limit: limit_from_pb(i.promised_limit.clone()),
        handling_kind: i.handling_kind.clone(),
        applicant_kinds: i.applicant_kinds.clone(),
        acceptance_conditions: i.acceptance_conditions.clone(),
        legal_basis: i.legal_basis.clone(),
        power_source: i.power_source.clone(),
        materials: i
            .materials
            .iter()
            .map(|m| model::Material {
                name: m.name.clone(),
                required: m.required,
                format: m.format.clone(),
                source: m.source.clone(),
            })
            .collect(),
        fees: i
            .fees
            .iter()
            .map(|f| model::Fee {
                name: f.name.clone(),
                amount_fen: f.amount_fen,
            })
            .collect(),
        online_depth: i.online_depth.clone(),
        channels: i.channels.clone(),
        visits_required: i.visits_required,
        high_frequency: i.high_frequency,
        standard_lists: i.standard_lists.clone(),
    }
}

/// The fields an update mask may name.
pub const UPDATABLE: &[&str] = &[
    "catalog_code",
    "name",
    "task_type",
    "level",
    "department",
    "legal_limit",
    "promised_limit",
    "handling_kind",
    "applicant_kinds",
    "acceptance_conditions",
    "legal_basis",
    "power_source",
    "materials",
    "fees",
    "online_depth",
    "channels",
    "visits_required",
    "high_frequency",
    "standard_lists",
];

/// Copies the masked fields of `src` into `dst`; an empty mask replaces every content field.
fn apply_mask(
    dst: &mut ItemContent,
    src: &ItemContent,
    paths: &[String],
) -> yiwang_kit::Result<()> {
    if paths.is_empty() {
        *dst = src.clone();
        return Ok(());
    }
    for p in paths {
        match p.as_str() {
            "catalog_code" => dst.catalog_code = src.catalog_code.clone(),
            "name" => dst.name = src.name.clone(),
            "task_type" => dst.task_type = src.task_type.clone(),
            "level" => dst.level = src.level,
            "department" => dst.department = src.department.clone(),
            "legal_limit" => dst.legal_limit = src.legal_limit.clone(),
            "promised_limit" => dst.promised_limit = src.promised_limit.clone(),
            "handling_kind" => dst.handling_kind = src.handling_kind.clone(),
            "applicant_kinds" => dst.applicant_kinds = src.applicant_kinds.clone(),
            "acceptance_conditions" => {
                dst.acceptance_conditions = src.acceptance_conditions.clone()
            }
            "legal_basis" => dst.legal_basis = src.legal_basis.clone(),
            "power_source" => dst.power_source = src.power_source.clone(),
            "materials" => dst.materials = src.materials.clone(),
            "fees" => dst.fees = src.fees.clone(),
            "online_depth" => dst.online_depth = src.online_depth.clone(),
            "channels" => dst.channels = src.channels.clone(),
            "visits_required" => dst.visits_required = src.visits_required,
            "high_frequency" => dst.high_frequency = src.high_frequency,
            "standard_lists" => dst.standard_lists = src.standard_lists.clone(),
            other => {
                return Err(Error::invalid(
                    "update_mask",
                    format!(
                        "{other:?} cannot be updated; updatable fields: {}",
                        UPDATABLE.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn org_to_pb(u: &store::StoredOrgUnit) -> pb::OrgUnit {
    pb::OrgUnit {
        code: u.unit.code.clone(),
        name: u.unit.name.clone(),
        kind: u.unit.kind.clone(),
        region_code: u.unit.region_code.clone(),
        uscc: u.unit.uscc.clone(),
        parent: u.unit.parent.clone().unwrap_or_default(),
        created_at: Some(to_timestamp(u.created_at)),
    }
}

fn bundle_to_pb(b: &store::Bundle) -> pb::Bundle {
    pb::Bundle {
        id: b.id.to_string(),
        name: b.spec.name.clone(),
        applicant_kind: b.spec.applicant_kind.clone(),
        items: b.spec.items.clone(),
        materials: b.materials.iter().map(material_to_pb).collect(),
        promised_limit: limit_to_pb(&b.spec.promised_limit),
        description: b.spec.description.clone(),
        created_at: Some(to_timestamp(b.created_at)),
        high_frequency: b.spec.high_frequency,
    }
}

fn parse_uuid(field: &str, s: &str) -> Result<uuid::Uuid, Status> {
    s.parse()
        .map_err(|_| Status::from(Error::invalid(field, "must be a UUID")))
}

fn transition_request(
    req: Request<pb::ItemTransitionRequest>,
) -> Result<(Caller, pb::ItemTransitionRequest), Status> {
    let caller = Caller::of(&req);
    admin(&caller)?;
    let r = req.into_inner();
    if let Some(t) = &r.effective_from {
        let at = yiwang_kit::from_timestamp("effective_from", t)?;
        if at > chrono::Utc::now() + chrono::Duration::seconds(5) {
            return Err(Error::invalid(
                "effective_from",
                "scheduled publication is not supported: a version takes effect when published",
            )
            .into());
        }
    }
    Ok((caller, r))
}

#[tonic::async_trait]
impl CatalogService for CatalogApi {
    async fn create_org_unit(&self, req: Request<pb::CreateOrgUnitRequest>) -> Reply<pb::OrgUnit> {
        let caller = Caller::of(&req);
        caller.require_any_role(&[roles::ADMIN])?;
        let u = req
            .into_inner()
            .org_unit
            .ok_or_else(|| Error::invalid("org_unit", "is required"))?;
        let unit = model::OrgUnit {
            code: u.code,
            name: u.name,
            kind: u.kind,
            region_code: u.region_code,
            uscc: u.uscc,
            parent: Some(u.parent).filter(|p| !p.is_empty()),
        };
        let stored = store::create_org_unit(&self.pool, &caller, unit).await?;
        Ok(Response::new(org_to_pb(&stored)))
    }

    async fn create_hall(&self, req: Request<pb::CreateHallRequest>) -> Reply<pb::Hall> {
        let caller = Caller::of(&req);
        admin(&caller)?;
        let h = req
            .into_inner()
            .hall
            .ok_or_else(|| Error::invalid("hall", "is required"))?;
        Ok(Response::new(
            crate::hall::create(&self.pool, &caller, h).await?.to_pb(),
        ))
    }

    async fn create_terminal(
        &self,
        req: Request<pb::CreateTerminalRequest>,
    ) -> Reply<pb::Terminal> {
        let caller = Caller::of(&req);
        admin(&caller)?;
        let t = req
            .into_inner()
            .terminal
            .ok_or_else(|| Error::invalid("terminal", "is required"))?;
        Ok(Response::new(
            crate::hall::create_terminal(&self.pool, &caller, t).await?,
        ))
    }

    async fn get_terminal(&self, req: Request<pb::GetTerminalRequest>) -> Reply<pb::Terminal> {
        Ok(Response::new(
            crate::hall::get_terminal(&self.pool, &req.get_ref().code).await?,
        ))
    }

    async fn get_hall(&self, req: Request<pb::GetHallRequest>) -> Reply<pb::Hall> {
        Ok(Response::new(
            crate::hall::get(&self.pool, &req.get_ref().code)
                .await?
                .to_pb(),
        ))
    }

    async fn list_halls(&self, req: Request<pb::ListHallsRequest>) -> Reply<pb::ListHallsResponse> {
        let caller = Caller::of(&req);
        let pool = self.reads.for_caller(&caller.sub).await;
        let halls = crate::hall::list(pool).await?;
        Ok(Response::new(pb::ListHallsResponse {
            halls: halls.iter().map(|h| h.to_pb()).collect(),
        }))
    }

    async fn set_hall_items(&self, req: Request<pb::SetHallItemsRequest>) -> Reply<pb::Hall> {
        admin(&Caller::of(&req))?;
        let r = req.into_inner();
        Ok(Response::new(
            crate::hall::set_items(&self.pool, &r.code, &r.item_codes)
                .await?
                .to_pb(),
        ))
    }

    async fn get_org_unit(&self, req: Request<pb::GetOrgUnitRequest>) -> Reply<pb::OrgUnit> {
        let u = store::get_org_unit(&self.pool, &req.get_ref().code).await?;
        Ok(Response::new(org_to_pb(&u)))
    }

    async fn list_org_units(
        &self,
        req: Request<pb::ListOrgUnitsRequest>,
    ) -> Reply<pb::ListOrgUnitsResponse> {
        let caller = Caller::of(&req);
        let r = req.into_inner();
        let pool = self.reads.for_caller(&caller.sub).await;
        let (units, next) =
            store::list_org_units(pool, &r.kind, &r.parent, r.page_size, &r.page_token).await?;
        Ok(Response::new(pb::ListOrgUnitsResponse {
            org_units: units.iter().map(org_to_pb).collect(),
            next_page_token: next,
        }))
    }

    async fn create_item(&self, req: Request<pb::CreateItemRequest>) -> Reply<pb::Item> {
        let caller = Caller::of(&req);
        admin(&caller)?;
        let r = req.into_inner();
        let item = r
            .item
            .ok_or_else(|| Error::invalid("item", "is required"))?;
        let v = store::create_item(
            &self.pool,
            &caller,
            &item.code,
            content_from_pb(&item),
            &r.request_id,
        )
        .await?;
        Ok(Response::new(item_to_pb(&v)))
    }

    async fn get_item(&self, req: Request<pb::GetItemRequest>) -> Reply<pb::Item> {
        let code = &req.get_ref().code;
        if let Some(hit) = self.items.get(code) {
            return Ok(Response::new((*hit.0).clone()));
        }
        let epoch = self.items.epoch();
        let v = store::get_current(&self.pool, code).await?;
        let item = item_to_pb(&v);
        self.items
            .insert_if_unchanged(code, CachedItem(Arc::new(item.clone())), epoch);
        Ok(Response::new(item))
    }

    async fn get_item_version(&self, req: Request<pb::GetItemVersionRequest>) -> Reply<pb::Item> {
        let drafts = Caller::of(&req).has_any_role(&[roles::CATALOG_ADMIN]);
        let r = req.into_inner();
        let version =
            i32::try_from(r.version).map_err(|_| Error::invalid("version", "is too large"))?;
        let v = store::get_version(&self.pool, &r.code, version, drafts).await?;
        Ok(Response::new(item_to_pb(&v)))
    }

    async fn list_item_versions(
        &self,
        req: Request<pb::ListItemVersionsRequest>,
    ) -> Reply<pb::ListItemVersionsResponse> {
        let caller = Caller::of(&req);
        let drafts = caller.has_any_role(&[roles::CATALOG_ADMIN]);
        let r = req.into_inner();
        let pool = self.reads.for_caller(&caller.sub).await;
        let (versions, next) =
            store::list_versions(pool, &r.code, drafts, r.page_size, &r.page_token).await?;
        Ok(Response::new(pb::ListItemVersionsResponse {
            versions: versions.iter().map(item_to_pb).collect(),
            next_page_token: next,
        }))
    }

    async fn update_item(&self, req: Request<pb::UpdateItemRequest>) -> Reply<pb::Item> {
        let caller = Caller::of(&req);
        admin(&caller)?;
        let r = req.into_inner();
        let item = r
            .item
            .ok_or_else(|| Error::invalid("item", "is required"))?;
        let paths = r.update_mask.map(|m| m.paths).unwrap_or_default();
        let src = content_from_pb(&item);
        let v = store::update_item(&self.pool, &caller, &item.code, |dst| {
            apply_mask(dst, &src, &paths)
        })
        .await;
        self.items.invalidate(&item.code);
        let v = v?;
        Ok(Response::new(item_to_pb(&v)))
    }

    async fn publish_item(&self, req: Request<pb::ItemTransitionRequest>) -> Reply<pb::Item> {
        let (caller, r) = transition_request(req)?;
        let v =
            store::transition(&self.pool, &caller, &r.code, Transition::Publish, &r.reason).await;
        self.items.invalidate(&r.code);
        let v = v?;
        Ok(Response::new(item_to_pb(&v)))
    }

    async fn suspend_item(&self, req: Request<pb::ItemTransitionRequest>) -> Reply<pb::Item> {
        let (caller, r) = transition_request(req)?;
        let v =
            store::transition(&self.pool, &caller, &r.code, Transition::Suspend, &r.reason).await;
        self.items.invalidate(&r.code);
        let v = v?;
        Ok(Response::new(item_to_pb(&v)))
    }

    async fn retire_item(&self, req: Request<pb::ItemTransitionRequest>) -> Reply<pb::Item> {
        let (caller, r) = transition_request(req)?;
        let v =
            store::transition(&self.pool, &caller, &r.code, Transition::Retire, &r.reason).await;
        self.items.invalidate(&r.code);
        let v = v?;
        Ok(Response::new(item_to_pb(&v)))
    }

    async fn search_items(
        &self,
        req: Request<pb::SearchItemsRequest>,
    ) -> Reply<pb::SearchItemsResponse> {
        let caller = Caller::of(&req);
        let r = req.into_inner();
        let f = SearchFilter {
            query: r.query,
            department: r.department,
            task_type: r.task_type,
            level: r.level,
            channel: r.channel,
            online: r.online,
            high_frequency: r.high_frequency,
            full_online: r.full_online,
        };
        let pool = self.reads.for_caller(&caller.sub).await;
        let (items, next) = store::search(pool, &f, r.page_size, &r.page_token).await?;
        Ok(Response::new(pb::SearchItemsResponse {
            items: items.iter().map(item_to_pb).collect(),
            next_page_token: next,
        }))
    }

    async fn create_bundle(&self, req: Request<pb::CreateBundleRequest>) -> Reply<pb::Bundle> {
        let caller = Caller::of(&req);
        admin(&caller)?;
        let r = req.into_inner();
        let b = r
            .bundle
            .ok_or_else(|| Error::invalid("bundle", "is required"))?;
        let spec = model::BundleSpec {
            name: b.name,
            applicant_kind: b.applicant_kind,
            items: b.items,
            promised_limit: limit_from_pb(b.promised_limit),
            description: b.description,
            high_frequency: b.high_frequency,
        };
        let bundle = store::create_bundle(&self.pool, &caller, spec, &r.request_id).await?;
        Ok(Response::new(bundle_to_pb(&bundle)))
    }

    async fn get_bundle(&self, req: Request<pb::GetBundleRequest>) -> Reply<pb::Bundle> {
        let id = parse_uuid("id", &req.get_ref().id)?;
        let b = store::get_bundle(&self.pool, id).await?;
        Ok(Response::new(bundle_to_pb(&b)))
    }

    async fn list_bundles(
        &self,
        req: Request<pb::ListBundlesRequest>,
    ) -> Reply<pb::ListBundlesResponse> {
        let caller = Caller::of(&req);
        let r = req.into_inner();
        let (bundles, next) = store::list_bundles(
            self.reads.for_caller(&caller.sub).await,
            r.page_size,
            &r.page_token,
            &r.applicant_kind,
            r.high_frequency_only,
        )
        .await?;
        Ok(Response::new(pb::ListBundlesResponse {
            bundles: bundles.iter().map(bundle_to_pb).collect(),
            next_page_token: next,
        }))
    }

    async fn get_catalog_stats(
        &self,
        req: Request<pb::GetCatalogStatsRequest>,
    ) -> Reply<pb::CatalogStats> {
        let caller = Caller::of(&req);
        let s = store::stats(self.reads.for_caller(&caller.sub).await).await?;
        let share = |n: i64| {
            if s.published == 0 {
                0.0
            } else {
                n as f64 / s.published as f64
            }
        };
        let task_name = |code: &str| {
            model::TASK_TYPES
                .iter()
                .find(|t| t.0 == code)
                .map(|t| t.1)
                .unwrap_or("")
                .to_string()
        };
        let level_name = |l: i32| {
            model::LEVELS
                .iter()
                .find(|x| x.0 as i32 == l)
                .map(|x| x.1)
                .unwrap_or("")
                .to_string()
        };
        Ok(Response::new(pb::CatalogStats {
            published_items: s.published,
            by_department: s
                .by_department
                .iter()
                .map(|(k, n, c)| pb::CountByKey {
                    key: k.clone(),
                    name: n.clone(),
                    count: *c,
                })
                .collect(),
            by_level: s
                .by_level
                .iter()
                .map(|(l, c)| pb::CountByKey {
                    key: l.to_string(),
                    name: level_name(*l),
                    count: *c,
                })
                .collect(),
            by_task_type: s
                .by_task_type
                .iter()
                .map(|(t, c)| pb::CountByKey {
                    key: t.clone(),
                    name: task_name(t),
                    count: *c,
                })
                .collect(),
            online_capable: s.online_capable,
            online_capable_share: share(s.online_capable),
            full_online: s.full_online,
            full_online_share: share(s.full_online),
            high_frequency: s.high_frequency,
            bundles: s.bundles,
            bundles_legal_person: s.bundles_legal_person,
            bundles_person: s.bundles_person,
            bundles_high_frequency: s.bundles_high_frequency,
            departments: s
                .departments
                .into_iter()
                .map(
                    |(department, name, items, published, province_list, city_list, suspended)| {
                        pb::DepartmentItems {
                            department,
                            name,
                            items,
                            published,
                            province_list,
                            city_list,
                            suspended,
                        }
                    },
                )
                .collect(),
        }))
    }
}
