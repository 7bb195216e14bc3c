//! The gRPC API (yiwang.insight.v1.InsightService): each method checks the caller and hands
//! the request to the module that owns it.

use chrono::Utc;
use sqlx::PgPool;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use yiwang_kit::auth::roles;
use yiwang_kit::{Caller, Error};
use yiwang_proto::insight::v1 as pb;
use yiwang_proto::insight::v1::insight_service_server::InsightService;

use crate::period::Month;
use crate::period::{Half, beijing};
use crate::sources::Sources;
use crate::{assessment, award, cache, pdf, quality_check, render, report, scorecard, staff};

pub struct InsightApi {
    pub pool: PgPool,
    pub sources: Sources,
}

type Reply<T> = Result<Response<T>, Status>;

/// The bureau's staff read its view.
const READERS: &[&str] = &[roles::SUPERVISOR];

/// Chunks of a rendered document.
const CHUNK: usize = 64 * 1024;

impl InsightApi {
    /// The report of a half-year: kept, or computed now and kept.
    async fn work_report(&self, year: i32, half: i32) -> Result<pb::WorkReport, Error> {
        let half = Half::parse(
            year,
            half,
            Utc::now().with_timezone(&beijing()).date_naive(),
        )?;
        if let Some(r) = cache::get(&self.pool, half).await? {
            return Ok(r);
        }
        let started = std::time::Instant::now();
        let r = report::compute(&self.sources, half).await?;
        metrics::histogram!("yiwang_insight_report_seconds")
            .record(started.elapsed().as_secs_f64());
        // A report with a source missing is not kept: the next request tries again.
        if !r
            .notes
            .iter()
            .any(|n| n.contains(crate::sources::DID_NOT_ANSWER))
        {
            cache::put(&self.pool, half, &r).await?;
        }
        Ok(r)
    }
}

#[tonic::async_trait]
impl InsightService for InsightApi {
    async fn get_scorecard(&self, req: Request<pb::GetScorecardRequest>) -> Reply<pb::Scorecard> {
        Caller::of(&req).require_any_role(READERS)?;
        let r = req.into_inner();
        let from = yiwang_kit::from_timestamp(
            "from",
            r.from
                .as_ref()
                .ok_or_else(|| Error::invalid("from", "is required"))?,
        )?;
        let to = yiwang_kit::from_timestamp(
            "to",
            r.to.as_ref()
                .ok_or_else(|| Error::invalid("to", "is required"))?,
        )?;
        Ok(Response::new(
            scorecard::compute(&self.sources, from, to).await?,
        ))
    }

    async fn get_work_report(
        &self,
        req: Request<pb::GetWorkReportRequest>,
    ) -> Reply<pb::WorkReport> {
        Caller::of(&req).require_any_role(READERS)?;
        let r = req.into_inner();
        Ok(Response::new(self.work_report(r.year, r.half).await?))
    }

    type RenderWorkReportStream = ReceiverStream<Result<pb::ReportChunk, Status>>;

    async fn render_work_report(
        &self,
        req: Request<pb::RenderWorkReportRequest>,
    ) -> Reply<Self::RenderWorkReportStream> {
        Caller::of(&req).require_any_role(READERS)?;
        let r = req.into_inner();
        let pdf = match r.format.trim() {
            "" | "html" => false,
            "pdf" => true,
            _ => return Err(Error::invalid("format", "must be html or pdf").into()),
        };
        let report = self.work_report(r.year, r.half).await?;
        let (content_type, body) = if pdf {
            let started = std::time::Instant::now();
            // Shaping and subsetting take a moment of CPU: off the async workers.
            let body = tokio::task::spawn_blocking(move || pdf::render(&report))
                .await
                .map_err(Error::internal)??;
            metrics::histogram!("yiwang_insight_pdf_seconds")
                .record(started.elapsed().as_secs_f64());
            ("application/pdf", body)
        } else {
            (
                "text/html; charset=utf-8",
                render::html(&report).into_bytes(),
            )
        };
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            for (i, part) in body.chunks(CHUNK).enumerate() {
                let chunk = pb::ReportChunk {
                    content_type: if i == 0 {
                        content_type.into()
                    } else {
                        String::new()
                    },
                    data: part.to_vec(),
                };
                if tx.send(Ok(chunk)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn put_staff(&self, req: Request<pb::PutStaffRequest>) -> Reply<pb::Staff> {
        let caller = Caller::of(&req);
        caller.require_any_role(READERS)?;
        Ok(Response::new(
            staff::put(&self.pool, &caller, req.into_inner()).await?,
        ))
    }

    async fn get_staff(&self, req: Request<pb::GetStaffRequest>) -> Reply<pb::Staff> {
        Caller::of(&req).require_any_role(READERS)?;
        Ok(Response::new(
            staff::get(&self.pool, &req.get_ref().account).await?,
        ))
    }

    async fn list_staff(&self, req: Request<pb::ListStaffRequest>) -> Reply<pb::ListStaffResponse> {
        Caller::of(&req).require_any_role(READERS)?;
        Ok(Response::new(pb::ListStaffResponse {
            staff: staff::list(&self.pool, req.into_inner()).await?,
        }))
    }

    async fn post_staff(&self, req: Request<pb::PostStaffRequest>) -> Reply<pb::Staff> {
        let caller = Caller::of(&req);
        caller.require_any_role(READERS)?;
        Ok(Response::new(
            staff::post(&self.pool, &self.sources, &caller, req.into_inner()).await?,
        ))
    }

    async fn set_assessment_weights(
        &self,
        req: Request<pb::SetAssessmentWeightsRequest>,
    ) -> Reply<pb::AssessmentWeights> {
        let caller = Caller::of(&req);
        caller.require_any_role(&[roles::ADMIN])?;
        Ok(Response::new(
            assessment::set_weights(&self.pool, &caller, req.into_inner()).await?,
        ))
    }

    async fn get_assessment_weights(
        &self,
        req: Request<pb::GetAssessmentWeightsRequest>,
    ) -> Reply<pb::AssessmentWeights> {
        Caller::of(&req).require_any_role(READERS)?;
        let month = Month::parse("month", &req.get_ref().month)?;
        Ok(Response::new(assessment::weights(&self.pool, month).await?))
    }

    async fn record_manual_score(
        &self,
        req: Request<pb::RecordManualScoreRequest>,
    ) -> Reply<pb::ManualScore> {
        let caller = Caller::of(&req);
        caller.require_any_role(READERS)?;
        Ok(Response::new(
            assessment::record_manual_score(&self.pool, &caller, req.into_inner()).await?,
        ))
    }

    async fn get_assessment(
        &self,
        req: Request<pb::GetAssessmentRequest>,
    ) -> Reply<pb::Assessment> {
        Caller::of(&req).require_any_role(READERS)?;
        let month = Month::parse("month", &req.get_ref().month)?;
        Ok(Response::new(
            assessment::compute(&self.pool, &self.sources, month).await?,
        ))
    }

    async fn get_my_assessment(
        &self,
        req: Request<pb::GetAssessmentRequest>,
    ) -> Reply<pb::MyAssessment> {
        let caller = Caller::of(&req);
        caller.require_any_role(&[roles::WINDOW_CLERK, roles::CLERK, roles::OFFICER])?;
        let month = Month::parse("month", &req.get_ref().month)?;
        // Only someone in the register has a month to read.
        staff::get(&self.pool, &caller.sub).await?;
        let a = assessment::compute(&self.pool, &self.sources, month).await?;
        Ok(Response::new(assessment::own(a, &caller.sub)))
    }

    async fn record_award(&self, req: Request<pb::RecordAwardRequest>) -> Reply<pb::Award> {
        let caller = Caller::of(&req);
        caller.require_any_role(READERS)?;
        Ok(Response::new(
            award::record(&self.pool, &self.sources, &caller, req.into_inner()).await?,
        ))
    }

    async fn list_awards(
        &self,
        req: Request<pb::ListAwardsRequest>,
    ) -> Reply<pb::ListAwardsResponse> {
        Caller::of(&req).require_any_role(READERS)?;
        Ok(Response::new(pb::ListAwardsResponse {
            awards: award::list(&self.pool, req.into_inner()).await?,
        }))
    }

    async fn start_quality_check(
        &self,
        req: Request<pb::StartQualityCheckRequest>,
    ) -> Reply<pb::QualityCheck> {
        let caller = Caller::of(&req);
        caller.require_any_role(READERS)?;
        Ok(Response::new(
            quality_check::start(&self.pool, &self.sources, &caller, req.into_inner()).await?,
        ))
    }

    async fn get_quality_check(
        &self,
        req: Request<pb::GetQualityCheckRequest>,
    ) -> Reply<pb::QualityCheck> {
        Caller::of(&req).require_any_role(READERS)?;
        Ok(Response::new(
            quality_check::get(&self.pool, &req.get_ref().id).await?,
        ))
    }

    async fn record_finding(
        &self,
        req: Request<pb::RecordFindingRequest>,
    ) -> Reply<pb::QualityCheck> {
        let caller = Caller::of(&req);
        caller.require_any_role(READERS)?;
        Ok(Response::new(
            quality_check::record_finding(&self.pool, &caller, req.into_inner()).await?,
        ))
    }
}
