//! The gRPC API (yiwang.supervision.v1.SupervisionService): each method reads the caller from
//! the request and delegates to the module that owns the resource; errors become
//! `google.rpc.Status` with ErrorInfo and field violations.

use sqlx::PgPool;
use tonic::{Request, Response, Status};
use yiwang_kit::crypto::DataKey;
use yiwang_kit::{Caller, Error};
use yiwang_proto::supervision::v1 as pb;
use yiwang_proto::supervision::v1::supervision_service_server::SupervisionService;

use crate::plans;

pub struct SupervisionApi {
    pub pool: PgPool,
    /// Where listings and statistics are read (a replica when one is configured); each listing
    /// picks its pool with `reads.for_caller`.
    pub reads: yiwang_kit::db::Reads,
    /// Seals natural persons' ID numbers in the entity register.
    pub key: DataKey,
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl SupervisionService for SupervisionApi {
    async fn create_item(&self, req: Request<pb::CreateItemRequest>) -> Reply<pb::Item> {
        let c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(self.create_item(&c, r).await?))
    }

    async fn list_items(&self, req: Request<pb::ListItemsRequest>) -> Reply<pb::ListItemsResponse> {
        let c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(self.list_items(&c, r).await?))
    }

    async fn claim_item(&self, req: Request<pb::ClaimItemRequest>) -> Reply<pb::Item> {
        let c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(self.claim_item(&c, r).await?))
    }

    async fn create_check_list(
        &self,
        req: Request<pb::CreateCheckListRequest>,
    ) -> Reply<pb::CheckList> {
        let c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(self.create_check_list(&c, r).await?))
    }

    async fn list_check_lists(
        &self,
        req: Request<pb::ListCheckListsRequest>,
    ) -> Reply<pb::ListCheckListsResponse> {
        let c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(self.list_check_lists(&c, r).await?))
    }

    async fn create_entity(&self, req: Request<pb::CreateEntityRequest>) -> Reply<pb::Entity> {
        let c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(self.create_entity(&c, r).await?))
    }

    async fn get_entity(&self, req: Request<pb::GetByIdRequest>) -> Reply<pb::Entity> {
        let c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(self.get_entity(&c, r.id).await?))
    }

    async fn list_entity_licences(
        &self,
        req: Request<pb::ListEntityLicencesRequest>,
    ) -> Reply<pb::ListEntityLicencesResponse> {
        let c = Caller::of(&req);
        c.require_authenticated()?;
        let uscc = req.get_ref().uscc.trim().to_uppercase();
        yiwang_kit::ids::check_uscc(&uscc).map_err(|e| Error::invalid("uscc", e))?;
        let rows = sqlx::query(
            "SELECT number, uscc, case_id, item_code, department, valid_until, issued_at, revoked_at,
                    revoke_reason
               FROM entity_licences WHERE uscc = $1 ORDER BY number",
        )
        .bind(&uscc)
        .fetch_all(self.reads.for_caller(&c.sub).await)
        .await
        .map_err(Error::from)?;
        let licences = rows
            .iter()
            .map(|r| {
                use sqlx::Row;
                Ok(pb::EntityLicence {
                    number: r.try_get("number")?,
                    uscc: r.try_get("uscc")?,
                    case_id: r.try_get::<uuid::Uuid, _>("case_id")?.to_string(),
                    item_code: r.try_get("item_code")?,
                    department: r.try_get("department")?,
                    valid_until: yiwang_kit::opt_timestamp(r.try_get("valid_until")?),
                    issued_at: yiwang_kit::opt_timestamp(r.try_get("issued_at")?),
                    revoked_at: yiwang_kit::opt_timestamp(r.try_get("revoked_at")?),
                    revoke_reason: r.try_get("revoke_reason")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(Error::from)?;
        Ok(Response::new(pb::ListEntityLicencesResponse { licences }))
    }

    async fn list_entities(
        &self,
        req: Request<pb::ListEntitiesRequest>,
    ) -> Reply<pb::ListEntitiesResponse> {
        let c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(self.list_entities(&c, r).await?))
    }

    async fn create_inspector(
        &self,
        req: Request<pb::CreateInspectorRequest>,
    ) -> Reply<pb::Inspector> {
        let c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(self.create_inspector(&c, r).await?))
    }

    async fn list_inspectors(
        &self,
        req: Request<pb::ListInspectorsRequest>,
    ) -> Reply<pb::ListInspectorsResponse> {
        let c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(self.list_inspectors(&c, r).await?))
    }

    async fn set_inspector_active(
        &self,
        req: Request<pb::SetInspectorActiveRequest>,
    ) -> Reply<pb::Inspector> {
        let c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(self.set_inspector_active(&c, r).await?))
    }

    async fn add_relation(&self, req: Request<pb::AddRelationRequest>) -> Reply<pb::Relation> {
        let c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(self.add_relation(&c, r).await?))
    }

    async fn create_plan(&self, req: Request<pb::CreatePlanRequest>) -> Reply<pb::Plan> {
        let c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(self.create_plan(&c, r).await?))
    }

    async fn get_plan(&self, req: Request<pb::GetPlanRequest>) -> Reply<pb::Plan> {
        let c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(self.get_plan(&c, &r.id).await?))
    }

    async fn list_plans(&self, req: Request<pb::ListPlansRequest>) -> Reply<pb::ListPlansResponse> {
        let c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(self.list_plans(&c, r).await?))
    }

    async fn update_plan(&self, req: Request<pb::UpdatePlanRequest>) -> Reply<pb::Plan> {
        let c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(self.update_plan(&c, r).await?))
    }

    async fn draw_plan(&self, req: Request<pb::DrawPlanRequest>) -> Reply<pb::Plan> {
        let c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(self.draw_plan(&c, r).await?))
    }

    async fn publish_plan(&self, req: Request<pb::GetPlanRequest>) -> Reply<pb::Plan> {
        let c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(self.publish_plan(&c, &r.id).await?))
    }

    async fn get_draw_document(&self, req: Request<pb::GetPlanRequest>) -> Reply<pb::DrawDocument> {
        let c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(self.get_draw_document(&c, &r.id).await?))
    }

    async fn verify_plan_draw(
        &self,
        req: Request<pb::GetPlanRequest>,
    ) -> Reply<pb::VerifyDrawResponse> {
        let c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(self.verify_plan_draw(&c, &r.id).await?))
    }

    async fn verify_draw(&self, req: Request<pb::DrawDocument>) -> Reply<pb::VerifyDrawResponse> {
        let _c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(async { plans::verify_document(r) }.await?))
    }

    async fn create_inspection(
        &self,
        req: Request<pb::CreateInspectionRequest>,
    ) -> Reply<pb::Inspection> {
        let c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(self.create_inspection(&c, r).await?))
    }

    async fn get_inspection(&self, req: Request<pb::GetByUuidRequest>) -> Reply<pb::Inspection> {
        let c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(self.get_inspection(&c, &r.id).await?))
    }

    async fn list_inspections(
        &self,
        req: Request<pb::ListInspectionsRequest>,
    ) -> Reply<pb::ListInspectionsResponse> {
        let c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(self.list_inspections(&c, r).await?))
    }

    async fn complete_rectification(
        &self,
        req: Request<pb::CompleteRectificationRequest>,
    ) -> Reply<pb::Inspection> {
        let c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(self.complete_rectification(&c, r).await?))
    }

    async fn list_tasks(&self, req: Request<pb::ListTasksRequest>) -> Reply<pb::ListTasksResponse> {
        let c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(self.list_tasks(&c, r).await?))
    }

    async fn list_notices(
        &self,
        req: Request<pb::ListNoticesRequest>,
    ) -> Reply<pb::ListNoticesResponse> {
        let c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(self.list_notices(&c, r).await?))
    }

    async fn acknowledge_notice(&self, req: Request<pb::NoticeActionRequest>) -> Reply<pb::Notice> {
        let c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(self.notice_action(&c, r, false).await?))
    }

    async fn close_notice(&self, req: Request<pb::NoticeActionRequest>) -> Reply<pb::Notice> {
        let c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(self.notice_action(&c, r, true).await?))
    }

    async fn create_publication(
        &self,
        req: Request<pb::CreatePublicationRequest>,
    ) -> Reply<pb::Publication> {
        let c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(self.create_publication(&c, r).await?))
    }

    async fn list_publications(
        &self,
        req: Request<pb::ListPublicationsRequest>,
    ) -> Reply<pb::ListPublicationsResponse> {
        let c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(self.list_publications(&c, r).await?))
    }

    async fn get_stats(&self, req: Request<pb::GetStatsRequest>) -> Reply<pb::Stats> {
        let c = Caller::of(&req);
        let r = req.into_inner();
        Ok(Response::new(self.stats(&c, r).await?))
    }
}
