//! REST for the projects service (../shared/API.md, Projects): IT-project proposals, the expert
//! panel and its reviews, the decision, procurement, construction, acceptance, evaluation, the
//! annual plan and the saving-rate statistics. Money is integer fen.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use yiwang_kit::Error;
use yiwang_proto::projects::v1 as pb;

use crate::AppState;
use crate::extract::{ApiJson, Ctx, Params, rfc3339, upstream};
use crate::middleware::IdempotencyKey;

type ApiResult<T> = Result<T, Error>;

// --- Bodies ---------------------------------------------------------------------------------

#[derive(Deserialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct BudgetLineInput {
    /// hardware | software | development | system_integration | cloud_services | security |
    /// operation_maintenance | consulting | training | other
    pub category: String,
    /// Requested amount in fen, ≥ 1.
    pub amount_fen: i64,
    #[serde(default)]
    pub justification: String,
}

fn lines_to_pb(lines: Vec<BudgetLineInput>) -> Vec<pb::BudgetLine> {
    lines
        .into_iter()
        .map(|l| pb::BudgetLine {
            category: l.category,
            amount_fen: l.amount_fen,
            justification: l.justification,
            ..Default::default()
        })
        .collect()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectInput {
    /// Proposing department (org unit code); officers may omit it (their own).
    #[serde(default)]
    pub department: String,
    pub year: i32,
    pub name: String,
    /// new_system | upgrade | operation_maintenance | cloud_resources | security
    pub category: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub budget_lines: Vec<BudgetLineInput>,
    /// Implementation codes of the catalogue items the system serves.
    #[serde(default)]
    pub served_items: Vec<String>,
    /// CIDR ranges the system runs on, e.g. `10.12.0.0/16`.
    #[serde(default)]
    pub network_ranges: Vec<String>,
    /// YYYY-MM-DD; required to submit.
    #[serde(default)]
    pub planned_acceptance_date: String,
}

/// The fields to change; those left out stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectPatch {
    pub year: Option<i32>,
    pub name: Option<String>,
    pub category: Option<String>,
    pub description: Option<String>,
    pub budget_lines: Option<Vec<BudgetLineInput>>,
    pub served_items: Option<Vec<String>>,
    pub network_ranges: Option<Vec<String>>,
    pub planned_acceptance_date: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpertIo {
    /// The expert's account (token `sub`).
    pub id: String,
    pub name: String,
    /// The expert's employer; never the proposing department.
    pub department: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CriterionIo {
    pub name: String,
    pub max_score: u32,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PanelInput {
    /// At least 3 distinct experts.
    pub experts: Vec<ExpertIo>,
    /// Criteria besides necessity (40) and feasibility (30); default economy (30).
    #[serde(default)]
    pub extra_criteria: Vec<CriterionIo>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoreIo {
    pub criterion: String,
    pub score: u32,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineProposalIo {
    /// For budget_lines[i] (same order): 0 ≤ approved ≤ requested.
    pub approved_fen: i64,
    pub reason: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewInput {
    pub scores: Vec<ScoreIo>,
    pub lines: Vec<LineProposalIo>,
    #[serde(default)]
    pub comment: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideInput {
    /// approve | reject
    pub outcome: String,
    /// median (default) | mean | min
    #[serde(default)]
    pub rule: String,
    /// Required to reject.
    #[serde(default)]
    pub reason: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcureInput {
    pub vendor: String,
    /// public_tender | invited_tender | competitive_negotiation | competitive_consultation |
    /// single_source | inquiry
    pub method: String,
    /// 1 ≤ contract ≤ approved.
    pub contract_amount_fen: i64,
    /// YYYY-MM-DD (default today).
    #[serde(default)]
    pub signed_on: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConstructionInput {
    /// The third-party supervisor company (监理).
    pub supervisor: String,
    #[serde(default)]
    pub started_on: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgressInput {
    /// 0..=100, never below the previous report.
    pub percent: u32,
    pub note: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInput {
    /// YYYY-MM-DD, not in the future.
    pub accepted_on: String,
    /// passed | failed (a failed acceptance keeps the project under construction)
    pub result: String,
    pub documents: Vec<String>,
    #[serde(default)]
    pub note: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluateInput {
    /// YYYY-MM-DD, 12 to 24 months after acceptance, not in the future.
    pub evaluated_on: String,
    /// 0..=100
    pub score: u32,
    pub findings: String,
}

// --- Answers --------------------------------------------------------------------------------

#[derive(Serialize, ToSchema)]
pub struct BudgetLine {
    pub category: String,
    pub amount_fen: i64,
    pub justification: String,
    /// Set by the decision (0 before).
    pub approved_fen: i64,
    pub cut_fen: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Panel {
    pub experts: Vec<ExpertIo>,
    pub criteria: Vec<CriterionIo>,
    pub formed_by: String,
    pub formed_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Decision {
    /// approved | rejected
    pub outcome: String,
    pub rule: String,
    pub reason: String,
    pub decided_by: String,
    pub decided_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Procurement {
    pub vendor: String,
    pub method: String,
    pub contract_amount_fen: i64,
    /// approved − contract
    pub contract_savings_fen: i64,
    pub signed_on: String,
}

#[derive(Serialize, ToSchema)]
pub struct ProgressReport {
    pub percent: u32,
    pub note: String,
    pub reported_by: String,
    pub reported_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Construction {
    pub supervisor: String,
    pub started_on: String,
    pub progress: Vec<ProgressReport>,
}

#[derive(Serialize, ToSchema)]
pub struct Acceptance {
    pub accepted_on: String,
    pub result: String,
    pub documents: Vec<String>,
    pub note: String,
}

#[derive(Serialize, ToSchema)]
pub struct Evaluation {
    pub evaluated_on: String,
    pub score: u32,
    pub findings: String,
}

#[derive(Serialize, ToSchema)]
pub struct Project {
    pub id: String,
    pub department: String,
    pub year: i32,
    pub name: String,
    pub category: String,
    pub description: String,
    pub budget_lines: Vec<BudgetLine>,
    pub served_items: Vec<String>,
    pub network_ranges: Vec<String>,
    pub planned_acceptance_date: String,
    /// draft | submitted | under_review | approved | rejected | contracted | under_construction |
    /// accepted | evaluated
    pub state: String,
    pub requested_fen: i64,
    pub approved_fen: i64,
    /// requested − approved (核减)
    pub cut_fen: i64,
    pub panel: Option<Panel>,
    pub reviews_received: u32,
    pub decision: Option<Decision>,
    pub procurement: Option<Procurement>,
    pub construction: Option<Construction>,
    pub acceptance: Option<Acceptance>,
    pub failed_acceptances: Vec<Acceptance>,
    pub evaluation: Option<Evaluation>,
    pub created_by: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

fn acceptance(a: pb::Acceptance) -> Acceptance {
    Acceptance {
        accepted_on: a.accepted_on,
        result: a.result,
        documents: a.documents,
        note: a.note,
    }
}

impl From<pb::Project> for Project {
    fn from(p: pb::Project) -> Self {
        Project {
            id: p.id,
            department: p.department,
            year: p.year,
            name: p.name,
            category: p.category,
            description: p.description,
            budget_lines: p
                .budget_lines
                .into_iter()
                .map(|l| BudgetLine {
                    category: l.category,
                    amount_fen: l.amount_fen,
                    justification: l.justification,
                    approved_fen: l.approved_fen,
                    cut_fen: l.cut_fen,
                })
                .collect(),
            served_items: p.served_items,
            network_ranges: p.network_ranges,
            planned_acceptance_date: p.planned_acceptance_date,
            state: p.state,
            requested_fen: p.requested_fen,
            approved_fen: p.approved_fen,
            cut_fen: p.cut_fen,
            panel: p.panel.map(|x| Panel {
                formed_at: rfc3339(&x.formed_at),
                experts: x
                    .experts
                    .into_iter()
                    .map(|e| ExpertIo {
                        id: e.id,
                        name: e.name,
                        department: e.department,
                    })
                    .collect(),
                criteria: x
                    .criteria
                    .into_iter()
                    .map(|c| CriterionIo {
                        name: c.name,
                        max_score: c.max_score,
                    })
                    .collect(),
                formed_by: x.formed_by,
            }),
            reviews_received: p.reviews_received,
            decision: p.decision.map(|x| Decision {
                decided_at: rfc3339(&x.decided_at),
                outcome: x.outcome,
                rule: x.rule,
                reason: x.reason,
                decided_by: x.decided_by,
            }),
            procurement: p.procurement.map(|x| Procurement {
                vendor: x.vendor,
                method: x.method,
                contract_amount_fen: x.contract_amount_fen,
                contract_savings_fen: x.contract_savings_fen,
                signed_on: x.signed_on,
            }),
            construction: p.construction.map(|x| Construction {
                supervisor: x.supervisor,
                started_on: x.started_on,
                progress: x
                    .progress
                    .into_iter()
                    .map(|r| ProgressReport {
                        reported_at: rfc3339(&r.report_time),
                        percent: r.percent,
                        note: r.note,
                        reported_by: r.reported_by,
                    })
                    .collect(),
            }),
            acceptance: p.acceptance.map(acceptance),
            failed_acceptances: p.failed_acceptances.into_iter().map(acceptance).collect(),
            evaluation: p.evaluation.map(|x| Evaluation {
                evaluated_on: x.evaluated_on,
                score: x.score,
                findings: x.findings,
            }),
            created_by: p.created_by,
            created_at: rfc3339(&p.create_time),
            updated_at: rfc3339(&p.update_time),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ProjectList {
    pub projects: Vec<Project>,
    /// Empty on the last page.
    pub next_page_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct Review {
    pub project_id: String,
    pub expert_id: String,
    pub expert_name: String,
    pub scores: Vec<ScoreIo>,
    pub total_score: u32,
    pub lines: Vec<LineProposalIo>,
    pub comment: String,
    pub updated_at: Option<String>,
}

impl From<pb::Review> for Review {
    fn from(r: pb::Review) -> Self {
        Review {
            updated_at: rfc3339(&r.update_time),
            project_id: r.project_id,
            expert_id: r.expert_id,
            expert_name: r.expert_name,
            scores: r
                .scores
                .into_iter()
                .map(|s| ScoreIo {
                    criterion: s.criterion,
                    score: s.score,
                })
                .collect(),
            total_score: r.total_score,
            lines: r
                .lines
                .into_iter()
                .map(|l| LineProposalIo {
                    approved_fen: l.approved_fen,
                    reason: l.reason,
                })
                .collect(),
            comment: r.comment,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ReviewList {
    /// Until every panel member has reviewed, an expert sees only their own.
    pub reviews: Vec<Review>,
    pub received: u32,
    pub expected: u32,
}

#[derive(Serialize, ToSchema)]
pub struct ProjectEvent {
    pub time: Option<String>,
    pub actor: String,
    pub actor_name: String,
    pub action: String,
    pub from_state: String,
    pub to_state: String,
    pub detail: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct ProjectHistory {
    pub events: Vec<ProjectEvent>,
}

#[derive(Serialize, ToSchema)]
pub struct PlanEntry {
    pub project_id: String,
    pub department: String,
    pub name: String,
    pub category: String,
    pub state: String,
    pub requested_fen: i64,
    pub approved_fen: i64,
    pub cut_fen: i64,
    pub planned_acceptance_date: String,
}

#[derive(Serialize, ToSchema)]
pub struct AnnualPlan {
    pub year: i32,
    pub projects: Vec<PlanEntry>,
    pub requested_fen: i64,
    pub approved_fen: i64,
    pub cut_fen: i64,
}

#[derive(Serialize, ToSchema)]
pub struct StatsFigures {
    /// Projects decided (approved or rejected).
    pub reviewed: u64,
    pub approved_projects: u64,
    pub rejected_projects: u64,
    /// Over approved projects, exact fen.
    pub requested_fen: i64,
    pub approved_fen: i64,
    pub cut_fen: i64,
    /// cut / requested in percent, rounded half up to two decimals, e.g. 10.43.
    pub saving_rate: f64,
    /// The same in hundredths of a percent (1043).
    pub saving_rate_bp: i64,
    pub contract_savings_fen: i64,
    /// Approved projects past their planned acceptance date before acceptance (or today).
    pub late: u64,
}

fn figures(f: Option<pb::StatsFigures>) -> StatsFigures {
    let f = f.unwrap_or_default();
    StatsFigures {
        reviewed: f.reviewed,
        approved_projects: f.approved_projects,
        rejected_projects: f.rejected_projects,
        requested_fen: f.requested_fen,
        approved_fen: f.approved_fen,
        cut_fen: f.cut_fen,
        saving_rate: f.saving_rate,
        saving_rate_bp: f.saving_rate_bp,
        contract_savings_fen: f.contract_savings_fen,
        late: f.late,
    }
}

#[derive(Serialize, ToSchema)]
pub struct DepartmentStats {
    pub department: String,
    #[serde(flatten)]
    pub figures: StatsFigures,
}

#[derive(Serialize, ToSchema)]
pub struct ProjectStats {
    pub year: i32,
    #[serde(flatten)]
    pub total: StatsFigures,
    pub by_department: Vec<DepartmentStats>,
}

// --- Handlers -------------------------------------------------------------------------------

fn request_id(key: Option<Extension<IdempotencyKey>>) -> String {
    key.map(|Extension(k)| k.0).unwrap_or_default()
}

/// Service field names are those of the gRPC request; the REST body nests the proposal at the
/// top level, so `project.x` becomes `x`.
fn unnest(mut e: Error) -> Error {
    for v in &mut e.violations {
        if let Some(rest) = v.field.strip_prefix("project.") {
            v.field = rest.to_string();
        }
    }
    e
}

fn project_reply(
    r: Result<tonic::Response<pb::Project>, tonic::Status>,
) -> ApiResult<Json<Project>> {
    Ok(Json(Project::from(r.map_err(upstream)?.into_inner())))
}

#[utoipa::path(post, path = "/v1/projects", tag = "projects", security(("bearer" = [])),
    description = "A department officer proposes an IT project (state draft) for their own department; \
        project_admin may propose for any. Served items are checked against the catalogue. Send \
        `Idempotency-Key` to make retries safe.",
    request_body = ProjectInput,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = Project), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody)))]
pub async fn create_project(
    State(s): State<AppState>,
    ctx: Ctx,
    key: Option<Extension<IdempotencyKey>>,
    ApiJson(b): ApiJson<ProjectInput>,
) -> ApiResult<(StatusCode, Json<Project>)> {
    let req = pb::CreateProjectRequest {
        project: Some(pb::ProjectDraft {
            department: b.department,
            year: b.year,
            name: b.name,
            category: b.category,
            description: b.description,
            budget_lines: lines_to_pb(b.budget_lines),
            served_items: b.served_items,
            network_ranges: b.network_ranges,
            planned_acceptance_date: b.planned_acceptance_date,
        }),
        request_id: request_id(key),
    };
    let r = s
        .projects
        .clone()
        .create_project(ctx.grpc(req))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok((StatusCode::CREATED, Json(Project::from(r))))
}

#[utoipa::path(get, path = "/v1/projects", tag = "projects", security(("bearer" = [])),
    description = "Officers: their department's projects; experts: the projects on whose panel they sit; \
        project_admin: all. Newest first.",
    params(("year" = Option<i32>, Query), ("state" = Option<String>, Query),
        ("department" = Option<String>, Query), ("page_size" = Option<i32>, Query),
        ("page_token" = Option<String>, Query)),
    responses((status = 200, body = ProjectList), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody)))]
pub async fn list_projects(
    State(s): State<AppState>,
    ctx: Ctx,
    p: Params,
) -> ApiResult<Json<ProjectList>> {
    let req = pb::ListProjectsRequest {
        year: p.i32("year")?,
        state: p.str("state"),
        department: p.str("department"),
        page_size: p.i32("page_size")?,
        page_token: p.str("page_token"),
    };
    let r = s
        .projects
        .clone()
        .list_projects(ctx.grpc(req))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(ProjectList {
        projects: r.projects.into_iter().map(Project::from).collect(),
        next_page_token: r.next_page_token,
    }))
}

#[utoipa::path(get, path = "/v1/projects/{id}", tag = "projects", security(("bearer" = [])),
    description = "One project, to its department, its panel's experts and project_admin (others: 404).",
    params(("id" = String, Path)),
    responses((status = 200, body = Project), (status = 401, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn get_project(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<Project>> {
    project_reply(
        s.projects
            .clone()
            .get_project(ctx.grpc(pb::GetProjectRequest { id }))
            .await,
    )
}

#[utoipa::path(patch, path = "/v1/projects/{id}", tag = "projects", security(("bearer" = [])),
    description = "Edits a draft (its department's officers). Only the fields sent change; submitted \
        projects are frozen.",
    params(("id" = String, Path)), request_body = ProjectPatch,
    responses((status = 200, body = Project), (status = 400, body = crate::openapi::ErrorBody),
        (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn update_project(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ProjectPatch>,
) -> ApiResult<Json<Project>> {
    let mut mask = Vec::new();
    let mut d = pb::ProjectDraft::default();
    if let Some(v) = b.year {
        mask.push("year");
        d.year = v;
    }
    if let Some(v) = b.name {
        mask.push("name");
        d.name = v;
    }
    if let Some(v) = b.category {
        mask.push("category");
        d.category = v;
    }
    if let Some(v) = b.description {
        mask.push("description");
        d.description = v;
    }
    if let Some(v) = b.budget_lines {
        mask.push("budget_lines");
        d.budget_lines = lines_to_pb(v);
    }
    if let Some(v) = b.served_items {
        mask.push("served_items");
        d.served_items = v;
    }
    if let Some(v) = b.network_ranges {
        mask.push("network_ranges");
        d.network_ranges = v;
    }
    if let Some(v) = b.planned_acceptance_date {
        mask.push("planned_acceptance_date");
        d.planned_acceptance_date = v;
    }
    if mask.is_empty() {
        return Err(Error::invalid("body", "names no field to change"));
    }
    let req = pb::UpdateProjectRequest {
        id,
        project: Some(d),
        update_mask: mask.into_iter().map(String::from).collect(),
    };
    let r = s
        .projects
        .clone()
        .update_project(ctx.grpc(req))
        .await
        .map_err(|st| unnest(upstream(st)))?;
    Ok(Json(Project::from(r.into_inner())))
}

#[utoipa::path(post, path = "/v1/projects/{id}/submit", tag = "projects", security(("bearer" = [])),
    description = "Submits a draft (its department): draft → submitted; the proposal is frozen. Needs at \
        least one budget line and a planned acceptance date.",
    params(("id" = String, Path)),
    responses((status = 200, body = Project), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn submit_project(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<Project>> {
    project_reply(
        s.projects
            .clone()
            .submit_project(ctx.grpc(pb::ProjectActionRequest {
                id,
                note: String::new(),
            }))
            .await,
    )
}

#[utoipa::path(post, path = "/v1/projects/{id}/panel", tag = "projects", security(("bearer" = [])),
    description = "project_admin forms the expert panel (≥ 3 distinct experts, none from the proposing \
        department): submitted → under_review.",
    params(("id" = String, Path)), request_body = PanelInput,
    responses((status = 200, body = Project), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn form_panel(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<PanelInput>,
) -> ApiResult<Json<Project>> {
    let req = pb::FormPanelRequest {
        id,
        experts: b
            .experts
            .into_iter()
            .map(|e| pb::Expert {
                id: e.id,
                name: e.name,
                department: e.department,
            })
            .collect(),
        extra_criteria: b
            .extra_criteria
            .into_iter()
            .map(|c| pb::Criterion {
                name: c.name,
                max_score: c.max_score,
            })
            .collect(),
    };
    project_reply(s.projects.clone().form_panel(ctx.grpc(req)).await)
}

#[utoipa::path(post, path = "/v1/projects/{id}/reviews", tag = "projects", security(("bearer" = [])),
    description = "An expert of the panel scores the project (every criterion, 0 to its maximum) and \
        proposes an approved amount with a reason for each budget line. Replaces the expert's earlier \
        review until the decision.",
    params(("id" = String, Path)), request_body = ReviewInput,
    responses((status = 200, body = Review), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn submit_review(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ReviewInput>,
) -> ApiResult<Json<Review>> {
    let req = pb::SubmitReviewRequest {
        id,
        scores: b
            .scores
            .into_iter()
            .map(|x| pb::Score {
                criterion: x.criterion,
                score: x.score,
            })
            .collect(),
        lines: b
            .lines
            .into_iter()
            .map(|l| pb::LineProposal {
                approved_fen: l.approved_fen,
                reason: l.reason,
            })
            .collect(),
        comment: b.comment,
    };
    let r = s
        .projects
        .clone()
        .submit_review(ctx.grpc(req))
        .await
        .map_err(upstream)?;
    Ok(Json(Review::from(r.into_inner())))
}

#[utoipa::path(get, path = "/v1/projects/{id}/reviews", tag = "projects", security(("bearer" = [])),
    description = "The panel's reviews: project_admin sees all; an expert only their own until every \
        member has reviewed; the department after the decision.",
    params(("id" = String, Path)),
    responses((status = 200, body = ReviewList), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn list_reviews(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<ReviewList>> {
    let r = s
        .projects
        .clone()
        .list_reviews(ctx.grpc(pb::ListReviewsRequest { id }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(ReviewList {
        reviews: r.reviews.into_iter().map(Review::from).collect(),
        received: r.received,
        expected: r.expected,
    }))
}

#[utoipa::path(post, path = "/v1/projects/{id}/decide", tag = "projects", security(("bearer" = [])),
    description = "project_admin decides: `approve` takes the panel's result per budget line (rule median, \
        mean or min; every expert must have reviewed), `reject` needs a reason. under_review → approved | \
        rejected; cut = requested − approved.",
    params(("id" = String, Path)), request_body = DecideInput,
    responses((status = 200, body = Project), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn decide_project(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<DecideInput>,
) -> ApiResult<Json<Project>> {
    let req = pb::DecideProjectRequest {
        id,
        outcome: b.outcome,
        rule: b.rule,
        reason: b.reason,
    };
    project_reply(s.projects.clone().decide_project(ctx.grpc(req)).await)
}

#[utoipa::path(post, path = "/v1/projects/{id}/procure", tag = "projects", security(("bearer" = [])),
    description = "Procurement (project_admin or the department): approved → contracted; the contract \
        amount is at most the approved amount.",
    params(("id" = String, Path)), request_body = ProcureInput,
    responses((status = 200, body = Project), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn procure(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ProcureInput>,
) -> ApiResult<Json<Project>> {
    let req = pb::RecordProcurementRequest {
        id,
        vendor: b.vendor,
        method: b.method,
        contract_amount_fen: b.contract_amount_fen,
        signed_on: b.signed_on,
    };
    project_reply(s.projects.clone().record_procurement(ctx.grpc(req)).await)
}

#[utoipa::path(post, path = "/v1/projects/{id}/construction", tag = "projects", security(("bearer" = [])),
    description = "Construction starts under a third-party supervisor (监理): contracted → under_construction.",
    params(("id" = String, Path)), request_body = ConstructionInput,
    responses((status = 200, body = Project), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn start_construction(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ConstructionInput>,
) -> ApiResult<Json<Project>> {
    let req = pb::StartConstructionRequest {
        id,
        supervisor: b.supervisor,
        started_on: b.started_on,
    };
    project_reply(s.projects.clone().start_construction(ctx.grpc(req)).await)
}

#[utoipa::path(post, path = "/v1/projects/{id}/progress", tag = "projects", security(("bearer" = [])),
    description = "A progress report while under construction (percent never decreases).",
    params(("id" = String, Path)), request_body = ProgressInput,
    responses((status = 200, body = Project), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn add_progress(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ProgressInput>,
) -> ApiResult<Json<Project>> {
    let req = pb::AddProgressReportRequest {
        id,
        percent: b.percent,
        note: b.note,
    };
    project_reply(s.projects.clone().add_progress_report(ctx.grpc(req)).await)
}

#[utoipa::path(post, path = "/v1/projects/{id}/accept", tag = "projects", security(("bearer" = [])),
    description = "Acceptance (验收): under_construction → accepted when passed; a failed acceptance is \
        recorded and the project stays under construction.",
    params(("id" = String, Path)), request_body = AcceptInput,
    responses((status = 200, body = Project), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn accept_project(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<AcceptInput>,
) -> ApiResult<Json<Project>> {
    let req = pb::AcceptProjectRequest {
        id,
        accepted_on: b.accepted_on,
        result: b.result,
        documents: b.documents,
        note: b.note,
    };
    project_reply(s.projects.clone().accept_project(ctx.grpc(req)).await)
}

#[utoipa::path(post, path = "/v1/projects/{id}/evaluate", tag = "projects", security(("bearer" = [])),
    description = "Performance evaluation by project_admin, 12 to 24 months after acceptance: accepted → evaluated.",
    params(("id" = String, Path)), request_body = EvaluateInput,
    responses((status = 200, body = Project), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn evaluate_project(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<EvaluateInput>,
) -> ApiResult<Json<Project>> {
    let req = pb::EvaluateProjectRequest {
        id,
        evaluated_on: b.evaluated_on,
        score: b.score,
        findings: b.findings,
    };
    project_reply(s.projects.clone().evaluate_project(ctx.grpc(req)).await)
}

#[utoipa::path(get, path = "/v1/projects/{id}/history", tag = "projects", security(("bearer" = [])),
    description = "Every change of the project: who, when, action, from → to, details (project_admin and \
        the department).",
    params(("id" = String, Path)),
    responses((status = 200, body = ProjectHistory), (status = 403, body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn project_history(
    State(s): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<ProjectHistory>> {
    let r = s
        .projects
        .clone()
        .list_project_history(ctx.grpc(pb::GetProjectRequest { id }))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(ProjectHistory {
        events: r
            .events
            .into_iter()
            .map(|e| ProjectEvent {
                time: rfc3339(&e.time),
                actor: e.actor,
                actor_name: e.actor_name,
                action: e.action,
                from_state: e.from_state,
                to_state: e.to_state,
                detail: serde_json::from_str(&e.detail_json).unwrap_or(serde_json::Value::Null),
            })
            .collect(),
    }))
}

fn year_param(p: &Params) -> ApiResult<i32> {
    if p.str("year").trim().is_empty() {
        return Err(Error::invalid("year", "is required, e.g. year=2025"));
    }
    p.i32("year")
}

#[utoipa::path(get, path = "/v1/projects/plan", tag = "projects", security(("bearer" = [])),
    description = "The annual plan: the approved projects of a year with their amounts (project_admin: \
        the county or one department; officers: their own department).",
    params(("year" = i32, Query), ("department" = Option<String>, Query)),
    responses((status = 200, body = AnnualPlan), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody)))]
pub async fn annual_plan(
    State(s): State<AppState>,
    ctx: Ctx,
    p: Params,
) -> ApiResult<Json<AnnualPlan>> {
    let req = pb::GetAnnualPlanRequest {
        year: year_param(&p)?,
        department: p.str("department"),
    };
    let r = s
        .projects
        .clone()
        .get_annual_plan(ctx.grpc(req))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(AnnualPlan {
        year: r.year,
        projects: r
            .projects
            .into_iter()
            .map(|e| PlanEntry {
                project_id: e.project_id,
                department: e.department,
                name: e.name,
                category: e.category,
                state: e.state,
                requested_fen: e.requested_fen,
                approved_fen: e.approved_fen,
                cut_fen: e.cut_fen,
                planned_acceptance_date: e.planned_acceptance_date,
            })
            .collect(),
        requested_fen: r.requested_fen,
        approved_fen: r.approved_fen,
        cut_fen: r.cut_fen,
    }))
}

#[utoipa::path(get, path = "/v1/projects/stats", tag = "projects", security(("bearer" = [])),
    description = "Statistics of a year: projects reviewed, requested, approved, cut (exact fen), saving \
        rate = cut / requested in percent (half up, two decimals), contract savings, late projects; \
        for the county and per department (officers: their own department).",
    params(("year" = i32, Query), ("department" = Option<String>, Query)),
    responses((status = 200, body = ProjectStats), (status = 400, body = crate::openapi::ErrorBody),
        (status = 403, body = crate::openapi::ErrorBody)))]
pub async fn project_stats(
    State(s): State<AppState>,
    ctx: Ctx,
    p: Params,
) -> ApiResult<Json<ProjectStats>> {
    let req = pb::GetProjectStatsRequest {
        year: year_param(&p)?,
        department: p.str("department"),
    };
    let r = s
        .projects
        .clone()
        .get_project_stats(ctx.grpc(req))
        .await
        .map_err(upstream)?
        .into_inner();
    Ok(Json(ProjectStats {
        year: r.year,
        total: figures(r.total),
        by_department: r
            .by_department
            .into_iter()
            .map(|d| DepartmentStats {
                department: d.department,
                figures: figures(d.figures),
            })
            .collect(),
    }))
}
