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

use crate::period::{Half, beijing};
use crate::sources::Sources;
use crate::{cache, pdf, render, report, scorecard};

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
}
