//! The five services (and the website's) as the insight service reads them: their statistics
//! calls, made as the bureau's system (role `system`), in parallel, each bounded in time. A
//! source that does not answer leaves its figures out, with a note saying so; nothing is
//! guessed.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tonic::transport::Channel;
use yiwang_kit::Config;
use yiwang_proto::alerts::v1::{self as alerts_pb, alerts_service_client::AlertsServiceClient};
use yiwang_proto::cases::v1::{self as cases_pb, cases_service_client::CasesServiceClient};
use yiwang_proto::catalog::v1::{self as catalog_pb, catalog_service_client::CatalogServiceClient};
use yiwang_proto::content::v1::{self as content_pb, content_service_client::ContentServiceClient};
use yiwang_proto::projects::v1::{
    self as projects_pb, projects_service_client::ProjectsServiceClient,
};
use yiwang_proto::supervision::v1::{
    self as supervision_pb, supervision_service_client::SupervisionServiceClient,
};

/// Longest one statistics call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone)]
pub struct Sources {
    catalog: CatalogServiceClient<Channel>,
    cases: CasesServiceClient<Channel>,
    supervision: SupervisionServiceClient<Channel>,
    projects: ProjectsServiceClient<Channel>,
    alerts: AlertsServiceClient<Channel>,
    content: ContentServiceClient<Channel>,
    /// `YIWANG_SERVICE_TOKEN`, or one minted with the development secret.
    pub token: Option<String>,
}

fn channel(url: &str) -> anyhow::Result<Channel> {
    Ok(Channel::from_shared(url.to_string())?
        .connect_timeout(Duration::from_secs(2))
        .connect_lazy())
}

/// What every note of a source that did not answer says (a report with one is not kept).
pub const DID_NOT_ANSWER: &str = "did not answer";

/// A figure's source that did not answer: which call, and why.
pub fn failed(call: &str, e: &tonic::Status) -> String {
    format!(
        "{call} {DID_NOT_ANSWER} ({:?}: {}); its figures are left out",
        e.code(),
        yiwang_kit::error::clip(e.message())
    )
}

impl Sources {
    pub fn new(cfg: &Config) -> anyhow::Result<Sources> {
        Ok(Sources {
            catalog: CatalogServiceClient::new(channel(&cfg.catalog_url)?)
                .max_decoding_message_size(16 * 1024 * 1024),
            cases: CasesServiceClient::new(channel(&cfg.cases_url)?),
            supervision: SupervisionServiceClient::new(channel(&cfg.supervision_url)?),
            projects: ProjectsServiceClient::new(channel(&cfg.projects_url)?),
            alerts: AlertsServiceClient::new(channel(&cfg.alerts_url)?),
            content: ContentServiceClient::new(channel(&cfg.content_url)?),
            token: yiwang_kit::auth::service_token(cfg, "insight-service", "数据资源局"),
        })
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(message);
        if let Some(v) = self
            .token
            .as_ref()
            .and_then(|t| format!("Bearer {t}").parse().ok())
        {
            req.metadata_mut().insert("authorization", v);
        }
        req.set_timeout(CALL_TIMEOUT);
        req
    }

    pub async fn catalog_stats(&self) -> Result<catalog_pb::CatalogStats, tonic::Status> {
        let req = self.request(catalog_pb::GetCatalogStatsRequest {});
        Ok(self
            .catalog
            .clone()
            .get_catalog_stats(req)
            .await?
            .into_inner())
    }

    /// Every org unit of a kind (department, town, village).
    pub async fn org_units(&self, kind: &str) -> Result<Vec<catalog_pb::OrgUnit>, tonic::Status> {
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let req = self.request(catalog_pb::ListOrgUnitsRequest {
                kind: kind.into(),
                parent: String::new(),
                page_size: 1000,
                page_token: token.clone(),
            });
            let page = self.catalog.clone().list_org_units(req).await?.into_inner();
            out.extend(page.org_units);
            if page.next_page_token.is_empty() || out.len() > 100_000 {
                return Ok(out);
            }
            token = page.next_page_token;
        }
    }

    pub async fn case_stats(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<cases_pb::CaseStats, tonic::Status> {
        let req = self.request(cases_pb::GetCaseStatsRequest {
            from: Some(yiwang_kit::to_timestamp(from)),
            to: Some(yiwang_kit::to_timestamp(to)),
            ..Default::default()
        });
        Ok(self.cases.clone().get_case_stats(req).await?.into_inner())
    }

    pub async fn staff_case_stats(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        staff: Vec<String>,
    ) -> Result<Vec<cases_pb::StaffCaseStats>, tonic::Status> {
        if staff.is_empty() {
            return Ok(Vec::new());
        }
        let req = self.request(cases_pb::GetStaffCaseStatsRequest {
            from: Some(yiwang_kit::to_timestamp(from)),
            to: Some(yiwang_kit::to_timestamp(to)),
            staff,
        });
        Ok(self
            .cases
            .clone()
            .get_staff_case_stats(req)
            .await?
            .into_inner()
            .staff)
    }

    pub async fn sample_decided_cases(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        seed: u64,
        size: u32,
    ) -> Result<cases_pb::SampleDecidedCasesResponse, tonic::Status> {
        let req = self.request(cases_pb::SampleDecidedCasesRequest {
            from: Some(yiwang_kit::to_timestamp(from)),
            to: Some(yiwang_kit::to_timestamp(to)),
            seed,
            size,
        });
        Ok(self
            .cases
            .clone()
            .sample_decided_cases(req)
            .await?
            .into_inner())
    }

    /// A hall with its windows, as the catalogue has it.
    pub async fn hall(&self, code: &str) -> Result<catalog_pb::Hall, tonic::Status> {
        let req = self.request(catalog_pb::GetHallRequest { code: code.into() });
        Ok(self.catalog.clone().get_hall(req).await?.into_inner())
    }

    pub async fn supervision_stats(
        &self,
        department: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<supervision_pb::Stats, tonic::Status> {
        let req = self.request(supervision_pb::GetStatsRequest {
            department: department.into(),
            from: from.to_rfc3339(),
            to: to.to_rfc3339(),
        });
        Ok(self.supervision.clone().get_stats(req).await?.into_inner())
    }

    pub async fn project_stats(
        &self,
        year: i32,
    ) -> Result<projects_pb::ProjectStats, tonic::Status> {
        let req = self.request(projects_pb::GetProjectStatsRequest {
            year,
            department: String::new(),
        });
        Ok(self
            .projects
            .clone()
            .get_project_stats(req)
            .await?
            .into_inner())
    }

    pub async fn alert_stats(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<alerts_pb::AlertStats, tonic::Status> {
        let req = self.request(alerts_pb::GetAlertStatsRequest {
            from: Some(yiwang_kit::to_timestamp(from)),
            to: Some(yiwang_kit::to_timestamp(to)),
        });
        Ok(self.alerts.clone().get_alert_stats(req).await?.into_inner())
    }

    pub async fn content_stats(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<content_pb::ContentStats, tonic::Status> {
        let req = self.request(content_pb::GetContentStatsRequest {
            from: Some(yiwang_kit::to_timestamp(from)),
            to: Some(yiwang_kit::to_timestamp(to)),
        });
        Ok(self
            .content
            .clone()
            .get_content_stats(req)
            .await?
            .into_inner())
    }
}
