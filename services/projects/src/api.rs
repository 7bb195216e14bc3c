//! The gRPC API (yiwang.projects.v1.ProjectsService): validation, who may do what, proto ↔
//! model. Officers of a department see and edit only their department's projects; experts see
//! only projects on whose panel they sit; project_admin (and admin) see everything. A caller who
//! may not see a project gets NOT_FOUND, so its existence does not leak.

use chrono::{NaiveDate, Utc};
use sqlx::PgPool;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};
use uuid::Uuid;
use yiwang_kit::auth::roles;
use yiwang_kit::{Caller, Error, Violations, to_timestamp};
use yiwang_proto::catalog::v1 as catalog_pb;
use yiwang_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use yiwang_proto::projects::v1 as pb;
use yiwang_proto::projects::v1::projects_service_server::ProjectsService;

use crate::model::{
    self, Acceptance, Construction, Criterion, Decision, Evaluation, Expert, Line, Panel,
    Procurement, Progress, Project, Proposal, Review,
};
use crate::money::{self, Rule};
use crate::store::{self, Change, Scope};
use crate::{cidr, stats};

pub struct ProjectsApi {
    pub pool: PgPool,
    /// Listings and statistics: a read replica when one is configured (read-your-writes kept).
    pub reads: yiwang_kit::db::Reads,
    /// Served items are checked against the catalogue (they must exist and be published).
    pub catalog: CatalogServiceClient<Channel>,
}

type Reply<T> = Result<Response<T>, Status>;

const MAX_LINES: usize = 100;
const MAX_ITEMS: usize = 50;
const MAX_RANGES: usize = 100;
const MAX_EXPERTS: usize = 15;

/// Today in the county (Asia/Shanghai, UTC+8 all year).
pub fn today() -> NaiveDate {
    (Utc::now() + chrono::Duration::hours(8)).date_naive()
}

fn parse_id(id: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(id.trim()).map_err(|_| Error::invalid("id", "must be a project id (UUID)"))
}

fn is_admin(c: &Caller) -> bool {
    c.has_any_role(&[roles::PROJECT_ADMIN])
}

fn is_officer_of(c: &Caller, department: &str) -> bool {
    c.has_role(roles::OFFICER) && c.dept.as_deref() == Some(department)
}

fn can_see(c: &Caller, p: &Project) -> bool {
    is_admin(c)
        || is_officer_of(c, &p.department)
        || (c.has_role(roles::EXPERT) && p.on_panel(&c.sub))
}

fn visible(c: &Caller, p: &Project) -> Result<(), Error> {
    if can_see(c, p) {
        Ok(())
    } else {
        Err(store::not_found(p.id))
    }
}

/// The project's department (its officers) or project_admin.
fn may_manage(c: &Caller, p: &Project, what: &str) -> Result<(), Error> {
    visible(c, p)?;
    if is_admin(c) || is_officer_of(c, &p.department) {
        Ok(())
    } else {
        Err(Error::permission_denied(format!(
            "only project_admin or officers of {} may {what}",
            p.department
        )))
    }
}

fn admin_only(c: &Caller, p: &Project, what: &str) -> Result<(), Error> {
    visible(c, p)?;
    if is_admin(c) {
        Ok(())
    } else {
        Err(Error::permission_denied(format!(
            "only project_admin may {what}"
        )))
    }
}

/// Trimmed text of `min..=max` characters.
fn text(v: &mut Violations, field: &str, s: &str, min: usize, max: usize) -> String {
    let s = s.trim();
    let n = s.chars().count();
    if n < min || n > max {
        if min > 0 && n == 0 {
            v.add(field, "is required");
        } else {
            v.add(field, format!("must be {min} to {max} characters"));
        }
    }
    s.to_string()
}

fn date(v: &mut Violations, field: &str, s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        Ok(d) => Some(d),
        Err(_) => {
            v.add(field, "must be a date YYYY-MM-DD");
            None
        }
    }
}

/// An optional date not after today (default today).
fn past_date(v: &mut Violations, field: &str, s: &str) -> NaiveDate {
    let d = date(v, field, s).unwrap_or_else(today);
    if d > today() {
        v.add(field, "must not be in the future");
    }
    d
}

fn one_of(v: &mut Violations, field: &str, s: &str, allowed: &[&str]) {
    if !allowed.contains(&s) {
        v.add(field, format!("must be one of {}", allowed.join(", ")));
    }
}

/// A validated proposal.
struct Draft {
    department: String,
    year: i32,
    name: String,
    category: String,
    description: String,
    lines: Vec<Line>,
    served_items: Vec<String>,
    network_ranges: Vec<String>,
    planned: Option<NaiveDate>,
}

fn validate_draft(d: &pb::ProjectDraft, v: &mut Violations) -> Draft {
    if !(2000..=2100).contains(&d.year) {
        v.add("year", "must be a year between 2000 and 2100");
    }
    let name = text(v, "name", &d.name, 1, 200);
    one_of(v, "category", &d.category, model::CATEGORIES);
    let description = text(v, "description", &d.description, 0, 4000);
    if d.budget_lines.len() > MAX_LINES {
        v.add(
            "budget_lines",
            format!("must have at most {MAX_LINES} lines"),
        );
    }
    let mut lines = Vec::new();
    for (i, l) in d.budget_lines.iter().take(MAX_LINES).enumerate() {
        one_of(
            v,
            &format!("budget_lines[{i}].category"),
            &l.category,
            model::LINE_CATEGORIES,
        );
        if l.amount_fen < 1 {
            v.add(
                format!("budget_lines[{i}].amount_fen"),
                format!("must be at least 1 fen; got {}", l.amount_fen),
            );
        }
        let justification = text(
            v,
            &format!("budget_lines[{i}].justification"),
            &l.justification,
            1,
            2000,
        );
        lines.push(Line {
            category: l.category.clone(),
            amount_fen: l.amount_fen,
            justification,
            approved_fen: None,
        });
    }
    if lines.iter().all(|l| l.amount_fen >= 1)
        && money::checked_sum(lines.iter().map(|l| l.amount_fen)).is_none()
    {
        v.add(
            "budget_lines",
            format!(
                "the total of the lines exceeds the largest amount the system carries ({} fen)",
                i64::MAX
            ),
        );
    }
    if d.served_items.len() > MAX_ITEMS {
        v.add(
            "served_items",
            format!("must list at most {MAX_ITEMS} items"),
        );
    }
    let mut served_items: Vec<String> = Vec::new();
    for (i, code) in d.served_items.iter().take(MAX_ITEMS).enumerate() {
        let code = code.trim();
        if code.is_empty() || code.len() > 64 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
            v.add(
                format!("served_items[{i}]"),
                "must be an item implementation code (letters and digits, at most 64)",
            );
        } else if !served_items.iter().any(|c| c == code) {
            served_items.push(code.to_string());
        }
    }
    if d.network_ranges.len() > MAX_RANGES {
        v.add(
            "network_ranges",
            format!("must list at most {MAX_RANGES} ranges"),
        );
    }
    let mut network_ranges: Vec<String> = Vec::new();
    for (i, r) in d.network_ranges.iter().take(MAX_RANGES).enumerate() {
        match cidr::parse(r) {
            Ok(c) if !network_ranges.contains(&c) => network_ranges.push(c),
            Ok(_) => {}
            Err(e) => v.add(format!("network_ranges[{i}]"), e),
        }
    }
    let planned = date(v, "planned_acceptance_date", &d.planned_acceptance_date);
    Draft {
        department: d.department.trim().to_string(),
        year: d.year,
        name,
        category: d.category.clone(),
        description,
        lines,
        served_items,
        network_ranges,
        planned,
    }
}

fn draft_of(p: &Project) -> pb::ProjectDraft {
    pb::ProjectDraft {
        department: p.department.clone(),
        year: p.year,
        name: p.name.clone(),
        category: p.category.clone(),
        description: p.description.clone(),
        budget_lines: p.budget_lines.iter().map(line_to_pb).collect(),
        served_items: p.served_items.clone(),
        network_ranges: p.network_ranges.clone(),
        planned_acceptance_date: p
            .planned_acceptance_date
            .map(|d| d.to_string())
            .unwrap_or_default(),
    }
}

const MASKABLE: &[&str] = &[
    "year",
    "name",
    "category",
    "description",
    "budget_lines",
    "served_items",
    "network_ranges",
    "planned_acceptance_date",
];

fn line_to_pb(l: &Line) -> pb::BudgetLine {
    pb::BudgetLine {
        category: l.category.clone(),
        amount_fen: l.amount_fen,
        justification: l.justification.clone(),
        approved_fen: l.approved_fen.unwrap_or(0),
        cut_fen: l.approved_fen.map(|a| l.amount_fen - a).unwrap_or(0),
    }
}

fn d(date: NaiveDate) -> String {
    date.to_string()
}

fn acceptance_to_pb(a: &Acceptance) -> pb::Acceptance {
    pb::Acceptance {
        accepted_on: d(a.accepted_on),
        result: a.result.clone(),
        documents: a.documents.clone(),
        note: a.note.clone(),
    }
}

pub fn project_to_pb(p: &Project) -> pb::Project {
    pb::Project {
        id: p.id.to_string(),
        department: p.department.clone(),
        year: p.year,
        name: p.name.clone(),
        category: p.category.clone(),
        description: p.description.clone(),
        budget_lines: p.budget_lines.iter().map(line_to_pb).collect(),
        served_items: p.served_items.clone(),
        network_ranges: p.network_ranges.clone(),
        planned_acceptance_date: p.planned_acceptance_date.map(d).unwrap_or_default(),
        state: p.state.clone(),
        requested_fen: p.requested_fen(),
        approved_fen: p.approved_fen(),
        cut_fen: p.cut_fen(),
        panel: p.panel.as_ref().map(|x| pb::Panel {
            experts: x
                .experts
                .iter()
                .map(|e| pb::Expert {
                    id: e.id.clone(),
                    name: e.name.clone(),
                    department: e.department.clone(),
                })
                .collect(),
            criteria: x
                .criteria
                .iter()
                .map(|c| pb::Criterion {
                    name: c.name.clone(),
                    max_score: c.max_score,
                })
                .collect(),
            formed_by: x.formed_by.clone(),
            formed_at: Some(to_timestamp(x.formed_at)),
        }),
        reviews_received: p.reviews.len() as u32,
        decision: p.decision.as_ref().map(|x| pb::Decision {
            outcome: x.outcome.clone(),
            rule: x.rule.clone(),
            reason: x.reason.clone(),
            decided_by: x.decided_by.clone(),
            decided_at: Some(to_timestamp(x.decided_at)),
        }),
        procurement: p.procurement.as_ref().map(|x| pb::Procurement {
            vendor: x.vendor.clone(),
            method: x.method.clone(),
            contract_amount_fen: x.contract_amount_fen,
            contract_savings_fen: p.approved_fen() - x.contract_amount_fen,
            signed_on: d(x.signed_on),
        }),
        construction: p.construction.as_ref().map(|x| pb::Construction {
            supervisor: x.supervisor.clone(),
            started_on: d(x.started_on),
            progress: x
                .progress
                .iter()
                .map(|r| pb::ProgressReport {
                    percent: r.percent,
                    note: r.note.clone(),
                    reported_by: r.reported_by.clone(),
                    reported_at: Some(to_timestamp(r.at)),
                })
                .collect(),
        }),
        acceptance: p.acceptance.as_ref().map(acceptance_to_pb),
        evaluation: p.evaluation.as_ref().map(|x| pb::Evaluation {
            evaluated_on: d(x.evaluated_on),
            score: x.score,
            findings: x.findings.clone(),
        }),
        created_by: p.created_by.clone(),
        created_at: Some(to_timestamp(p.created_at)),
        updated_at: Some(to_timestamp(p.updated_at)),
        failed_acceptances: p.failed_acceptances.iter().map(acceptance_to_pb).collect(),
    }
}

fn review_to_pb(p: &Project, r: &Review) -> pb::Review {
    pb::Review {
        project_id: p.id.to_string(),
        expert_id: r.expert_id.clone(),
        expert_name: r.expert_name.clone(),
        scores: r
            .scores
            .iter()
            .map(|(c, s)| pb::Score {
                criterion: c.clone(),
                score: *s,
            })
            .collect(),
        total_score: r.total(),
        lines: r
            .lines
            .iter()
            .map(|l| pb::LineProposal {
                approved_fen: l.approved_fen,
                reason: l.reason.clone(),
            })
            .collect(),
        comment: r.comment.clone(),
        updated_at: Some(to_timestamp(r.updated_at)),
    }
}

/// The figures of a year as one of the two flat stats messages (the county's, a department's).
macro_rules! figures {
    ($message:path, $f:expr, { $($field:ident: $value:expr),* }) => {{
        let f: &stats::Figures = $f;
        $message {
            $($field: $value,)*
            reviewed: f.reviewed,
            approved_projects: f.approved_projects,
            rejected_projects: f.rejected_projects,
            requested_fen: f.requested_fen,
            approved_fen: f.approved_fen,
            cut_fen: f.cut_fen,
            saving_rate: f.saving_rate_bp as f64 / 100.0,
            saving_rate_bp: f.saving_rate_bp,
            contract_savings_fen: f.contract_savings_fen,
            late: f.late,
        }
    }};
}

impl ProjectsApi {
    /// Every served item must exist in the catalogue and be published.
    async fn check_items(&self, items: &[String]) -> Result<(), Error> {
        let mut v = Violations::new();
        for (i, code) in items.iter().enumerate() {
            let mut req = Request::new(catalog_pb::GetItemRequest { code: code.clone() });
            yiwang_kit::telemetry::inject_trace_context(req.metadata_mut());
            req.set_timeout(std::time::Duration::from_secs(5));
            match self.catalog.clone().get_item(req).await {
                Ok(r) => {
                    let item = r.into_inner();
                    if item.status != "published" {
                        v.add(
                            format!("served_items[{i}]"),
                            format!(
                                "item {code} is {}; only published items can be served",
                                item.status
                            ),
                        );
                    }
                }
                Err(s) if s.code() == tonic::Code::NotFound => v.add(
                    format!("served_items[{i}]"),
                    format!("{code} is not an item of the catalogue"),
                ),
                Err(s) => {
                    return Err(Error::dependency(
                        "catalogue",
                        &format!("served_items[{i}]"),
                        &s,
                    ));
                }
            }
        }
        v.into_result()
    }

    /// Officers (non-admin) get their own department; `requested` must then be empty or theirs.
    fn reporting_department(caller: &Caller, requested: &str) -> Result<String, Error> {
        caller.require_any_role(&[
            roles::PROJECT_ADMIN,
            roles::OFFICER,
            roles::SUPERVISOR,
            roles::SYSTEM,
        ])?;
        // The bureau (supervisor) and its systems (the insight service) see every department.
        if is_admin(caller) || caller.has_any_role(&[roles::SUPERVISOR, roles::SYSTEM]) {
            return Ok(requested.trim().to_string());
        }
        let own = caller.dept.clone().ok_or_else(|| {
            Error::permission_denied("officers need a department (dept) in their token")
        })?;
        if !requested.trim().is_empty() && requested.trim() != own {
            return Err(Error::permission_denied(format!(
                "officers see only their own department's figures ({own})"
            )));
        }
        Ok(own)
    }
}

fn check_year(year: i32) -> Result<(), Error> {
    if (2000..=2100).contains(&year) {
        Ok(())
    } else {
        Err(Error::invalid(
            "year",
            "is required: a year between 2000 and 2100",
        ))
    }
}

#[tonic::async_trait]
impl ProjectsService for ProjectsApi {
    async fn create_project(&self, req: Request<pb::CreateProjectRequest>) -> Reply<pb::Project> {
        let caller = Caller::of(&req);
        caller.require_any_role(&[roles::OFFICER, roles::PROJECT_ADMIN])?;
        let r = req.into_inner();
        let input = r.project.unwrap_or_default();
        let mut v = Violations::new();
        if r.request_id.len() > 255 {
            v.add("request_id", "must be at most 255 characters");
        }
        let draft = validate_draft(&input, &mut v);
        let department = if is_admin(&caller) {
            if draft.department.is_empty() {
                v.add("department", "is required");
            } else if draft.department.chars().count() > 100 {
                v.add("department", "must be at most 100 characters");
            }
            draft.department.clone()
        } else {
            let own = caller.dept.clone().ok_or_else(|| {
                Error::permission_denied("officers need a department (dept) in their token")
            })?;
            if !draft.department.is_empty() && draft.department != own {
                return Err(Error::permission_denied(format!(
                    "officers propose projects only for their own department ({own})"
                ))
                .into());
            }
            own
        };
        v.into_result()?;
        self.check_items(&draft.served_items).await?;
        let now = Utc::now();
        let p = Project {
            id: Uuid::now_v7(),
            department,
            year: draft.year,
            name: draft.name,
            category: draft.category,
            description: draft.description,
            budget_lines: draft.lines,
            served_items: draft.served_items,
            network_ranges: draft.network_ranges,
            planned_acceptance_date: draft.planned,
            state: "draft".to_string(),
            panel: None,
            reviews: Vec::new(),
            decision: None,
            procurement: None,
            construction: None,
            acceptance: None,
            failed_acceptances: Vec::new(),
            evaluation: None,
            created_by: caller.sub.clone(),
            created_at: now,
            updated_at: now,
        };
        let p = store::create(&self.pool, &caller, r.request_id.trim(), p).await?;
        tracing::info!(project = %p.id, department = %p.department, "project proposed");
        Ok(Response::new(project_to_pb(&p)))
    }

    async fn update_project(&self, req: Request<pb::UpdateProjectRequest>) -> Reply<pb::Project> {
        let caller = Caller::of(&req);
        caller.require_authenticated()?;
        let r = req.into_inner();
        let id = parse_id(&r.id)?;
        let current = store::get(&self.pool, id).await?;
        let editable = |p: &Project| -> Result<(), Error> {
            visible(&caller, p)?;
            if !is_officer_of(&caller, &p.department) {
                return Err(Error::permission_denied(format!(
                    "only officers of {} edit its drafts",
                    p.department
                )));
            }
            p.require_state(&["draft"], "editing")
        };
        editable(&current)?;
        let mut mask: Vec<&str> = Vec::new();
        let mut v = Violations::new();
        for (i, m) in r.update_mask.iter().enumerate() {
            match m.trim() {
                "department" => v.add(
                    format!("update_mask[{i}]"),
                    "department cannot change; propose the project again",
                ),
                f => match MASKABLE.iter().find(|x| **x == f) {
                    Some(known) => mask.push(known),
                    None => v.add(
                        format!("update_mask[{i}]"),
                        format!("must be one of {}", MASKABLE.join(", ")),
                    ),
                },
            }
        }
        if mask.is_empty() {
            mask = MASKABLE.to_vec();
        }
        let given = r.project.unwrap_or_default();
        let mut merged = draft_of(&current);
        for f in &mask {
            match *f {
                "year" => merged.year = given.year,
                "name" => merged.name = given.name.clone(),
                "category" => merged.category = given.category.clone(),
                "description" => merged.description = given.description.clone(),
                "budget_lines" => merged.budget_lines = given.budget_lines.clone(),
                "served_items" => merged.served_items = given.served_items.clone(),
                "network_ranges" => merged.network_ranges = given.network_ranges.clone(),
                _ => merged.planned_acceptance_date = given.planned_acceptance_date.clone(),
            }
        }
        let draft = validate_draft(&merged, &mut v);
        v.into_result()?;
        if mask.contains(&"served_items") {
            self.check_items(&draft.served_items).await?;
        }
        let p = store::mutate(&self.pool, id, &caller, |p| {
            editable(p)?;
            let before = serde_json::to_value(draft_of(p).budget_lines.iter().map(|l| l.amount_fen).collect::<Vec<_>>()).unwrap_or_default();
            for f in &mask {
                match *f {
                    "year" => p.year = draft.year,
                    "name" => p.name = draft.name.clone(),
                    "category" => p.category = draft.category.clone(),
                    "description" => p.description = draft.description.clone(),
                    "budget_lines" => p.budget_lines = draft.lines.clone(),
                    "served_items" => p.served_items = draft.served_items.clone(),
                    "network_ranges" => p.network_ranges = draft.network_ranges.clone(),
                    _ => p.planned_acceptance_date = draft.planned,
                }
            }
            Ok(Change::new(
                "update",
                serde_json::json!({"fields": mask, "line_amounts_before": before,
                    "line_amounts_after": p.budget_lines.iter().map(|l| l.amount_fen).collect::<Vec<_>>()}),
            ))
        })
        .await?;
        Ok(Response::new(project_to_pb(&p)))
    }

    async fn get_project(&self, req: Request<pb::GetProjectRequest>) -> Reply<pb::Project> {
        let caller = Caller::of(&req);
        caller.require_authenticated()?;
        let id = parse_id(&req.get_ref().id)?;
        let p = store::get(&self.pool, id).await?;
        visible(&caller, &p)?;
        Ok(Response::new(project_to_pb(&p)))
    }

    async fn list_projects(
        &self,
        req: Request<pb::ListProjectsRequest>,
    ) -> Reply<pb::ListProjectsResponse> {
        let caller = Caller::of(&req);
        caller.require_authenticated()?;
        let r = req.into_inner();
        if !r.state.is_empty() && !model::STATES.contains(&r.state.as_str()) {
            return Err(Error::invalid(
                "state",
                format!("must be one of {}", model::STATES.join(", ")),
            )
            .into());
        }
        if r.year != 0 {
            check_year(r.year)?;
        }
        let scope = if is_admin(&caller) {
            Scope::All
        } else if caller.has_role(roles::OFFICER) && caller.dept.is_some() {
            Scope::Department(caller.dept.clone().unwrap_or_default())
        } else if caller.has_role(roles::EXPERT) {
            Scope::Expert(caller.sub.clone())
        } else {
            return Err(Error::permission_denied(
                "listing projects needs the role officer (with a department), expert or project_admin",
            )
            .into());
        };
        let (projects, next) = store::list(
            self.reads.for_caller(&caller.sub).await,
            &scope,
            r.year,
            &r.state,
            r.department.trim(),
            r.page_size,
            &r.page_token,
        )
        .await?;
        Ok(Response::new(pb::ListProjectsResponse {
            projects: projects.iter().map(project_to_pb).collect(),
            next_page_token: next,
        }))
    }

    async fn submit_project(&self, req: Request<pb::ProjectActionRequest>) -> Reply<pb::Project> {
        let caller = Caller::of(&req);
        caller.require_authenticated()?;
        let id = parse_id(&req.get_ref().id)?;
        let note = req
            .get_ref()
            .note
            .trim()
            .chars()
            .take(2000)
            .collect::<String>();
        let p = store::mutate(&self.pool, id, &caller, |p| {
            visible(&caller, p)?;
            if !is_officer_of(&caller, &p.department) {
                return Err(Error::permission_denied(format!(
                    "only officers of {} submit its proposals",
                    p.department
                )));
            }
            p.require_state(&["draft"], "submission")?;
            let mut v = Violations::new();
            if p.budget_lines.is_empty() {
                v.add("budget_lines", "at least one line is required");
            }
            if p.planned_acceptance_date.is_none() {
                v.add("planned_acceptance_date", "is required to submit");
            }
            v.into_result()?;
            p.state = "submitted".to_string();
            Ok(Change::new(
                "submit",
                serde_json::json!({"requested_fen": p.requested_fen(), "note": note}),
            ))
        })
        .await?;
        Ok(Response::new(project_to_pb(&p)))
    }

    async fn form_panel(&self, req: Request<pb::FormPanelRequest>) -> Reply<pb::Project> {
        let caller = Caller::of(&req);
        caller.require_authenticated()?;
        let r = req.into_inner();
        let id = parse_id(&r.id)?;
        let p = store::mutate(&self.pool, id, &caller, |p| {
            admin_only(&caller, p, "form a review panel")?;
            p.require_state(&["submitted"], "forming a panel")?;
            let mut v = Violations::new();
            if r.experts.len() < 3 {
                v.add(
                    "experts",
                    format!("a panel needs at least 3 experts; got {}", r.experts.len()),
                );
            }
            if r.experts.len() > MAX_EXPERTS {
                v.add("experts", format!("a panel has at most {MAX_EXPERTS} experts"));
            }
            let mut experts: Vec<Expert> = Vec::new();
            for (i, e) in r.experts.iter().enumerate() {
                let eid = text(&mut v, &format!("experts[{i}].id"), &e.id, 1, 100);
                let name = text(&mut v, &format!("experts[{i}].name"), &e.name, 1, 100);
                let dept = text(&mut v, &format!("experts[{i}].department"), &e.department, 1, 100);
                if dept == p.department {
                    v.add(
                        format!("experts[{i}].department"),
                        format!(
                            "is the proposing department ({}); its staff cannot review its project",
                            p.department
                        ),
                    );
                }
                if !eid.is_empty() && experts.iter().any(|x| x.id == eid) {
                    v.add(format!("experts[{i}].id"), "appears twice on the panel");
                }
                experts.push(Expert {
                    id: eid,
                    name,
                    department: dept,
                });
            }
            let mut criteria = vec![
                Criterion {
                    name: "necessity".into(),
                    max_score: 40,
                },
                Criterion {
                    name: "feasibility".into(),
                    max_score: 30,
                },
            ];
            if r.extra_criteria.is_empty() {
                criteria.push(Criterion {
                    name: "economy".into(),
                    max_score: 30,
                });
            }
            if r.extra_criteria.len() > 10 {
                v.add("extra_criteria", "at most 10 extra criteria");
            }
            for (i, c) in r.extra_criteria.iter().take(10).enumerate() {
                let name = c.name.trim();
                if name.is_empty()
                    || name.len() > 50
                    || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                {
                    v.add(
                        format!("extra_criteria[{i}].name"),
                        "must be 1 to 50 characters of a-z, 0-9 and _",
                    );
                } else if criteria.iter().any(|x| x.name == name) {
                    v.add(format!("extra_criteria[{i}].name"), "is already a criterion");
                }
                if !(1..=100).contains(&c.max_score) {
                    v.add(format!("extra_criteria[{i}].max_score"), "must be 1 to 100");
                }
                criteria.push(Criterion {
                    name: name.to_string(),
                    max_score: c.max_score,
                });
            }
            v.into_result()?;
            let detail = serde_json::json!({
                "experts": experts.iter().map(|e| serde_json::json!({"id": e.id, "name": e.name, "department": e.department})).collect::<Vec<_>>(),
                "criteria": criteria.iter().map(|c| serde_json::json!({"name": c.name, "max_score": c.max_score})).collect::<Vec<_>>(),
            });
            p.panel = Some(Panel {
                experts,
                criteria,
                formed_by: caller.sub.clone(),
                formed_at: Utc::now(),
            });
            p.state = "under_review".to_string();
            Ok(Change::new("form_panel", detail))
        })
        .await?;
        Ok(Response::new(project_to_pb(&p)))
    }

    async fn submit_review(&self, req: Request<pb::SubmitReviewRequest>) -> Reply<pb::Review> {
        let caller = Caller::of(&req);
        caller.require_authenticated()?;
        let r = req.into_inner();
        let id = parse_id(&r.id)?;
        let p = store::mutate(&self.pool, id, &caller, |p| {
            visible(&caller, p)?;
            if !(caller.has_role(roles::EXPERT) && p.on_panel(&caller.sub)) {
                return Err(Error::permission_denied(
                    "only experts on the project's panel review it",
                ));
            }
            if caller.dept.as_deref() == Some(p.department.as_str()) {
                return Err(Error::permission_denied(format!(
                    "the token says the expert works for the proposing department ({}); they cannot review its project",
                    p.department
                )));
            }
            p.require_state(&["under_review"], "reviewing")?;
            let panel = p
                .panel
                .clone()
                .ok_or_else(|| Error::internal("panel missing under review"))?;
            let mut v = Violations::new();
            let names: Vec<&str> = panel.criteria.iter().map(|c| c.name.as_str()).collect();
            let mut scores: Vec<(String, u32)> = Vec::new();
            for (i, s) in r.scores.iter().enumerate() {
                match panel.criteria.iter().find(|c| c.name == s.criterion.trim()) {
                    None => v.add(
                        format!("scores[{i}].criterion"),
                        format!("must be one of {}", names.join(", ")),
                    ),
                    Some(c) if scores.iter().any(|(n, _)| *n == c.name) => {
                        v.add(format!("scores[{i}].criterion"), "is scored twice")
                    }
                    Some(c) => {
                        if s.score > c.max_score {
                            v.add(
                                format!("scores[{i}].score"),
                                format!(
                                    "{} is scored 0 to {}; got {}",
                                    c.name, c.max_score, s.score
                                ),
                            );
                        }
                        scores.push((c.name.clone(), s.score));
                    }
                }
            }
            let missing: Vec<&str> = names
                .iter()
                .copied()
                .filter(|n| !r.scores.iter().any(|s| s.criterion.trim() == *n))
                .collect();
            if !missing.is_empty() {
                v.add(
                    "scores",
                    format!(
                        "every criterion must be scored; missing {}",
                        missing.join(", ")
                    ),
                );
            }
            // In the panel's order.
            scores.sort_by_key(|(n, _)| names.iter().position(|x| *x == n.as_str()));
            if r.lines.len() != p.budget_lines.len() {
                v.add(
                    "lines",
                    format!(
                        "must propose an approved amount for each of the {} budget lines; got {}",
                        p.budget_lines.len(),
                        r.lines.len()
                    ),
                );
            }
            let mut lines = Vec::new();
            for (i, (l, b)) in r.lines.iter().zip(&p.budget_lines).enumerate() {
                if l.approved_fen < 0 || l.approved_fen > b.amount_fen {
                    v.add(
                        format!("lines[{i}].approved_fen"),
                        format!(
                            "must be between 0 and the requested {} fen; got {}",
                            b.amount_fen, l.approved_fen
                        ),
                    );
                }
                let reason = text(&mut v, &format!("lines[{i}].reason"), &l.reason, 1, 2000);
                lines.push(Proposal {
                    approved_fen: l.approved_fen,
                    reason,
                });
            }
            let comment = text(&mut v, "comment", &r.comment, 0, 4000);
            v.into_result()?;
            let expert_name = panel
                .experts
                .iter()
                .find(|e| e.id == caller.sub)
                .map(|e| e.name.clone())
                .unwrap_or_default();
            let review = Review {
                expert_id: caller.sub.clone(),
                expert_name,
                scores,
                lines,
                comment,
                updated_at: Utc::now(),
            };
            let replaced = p.reviews.iter().any(|x| x.expert_id == caller.sub);
            let detail = serde_json::json!({
                "expert": caller.sub,
                "replaced": replaced,
                "total_score": review.total(),
                "proposed_fen": money::checked_sum(review.lines.iter().map(|l| l.approved_fen)),
            });
            p.reviews.retain(|x| x.expert_id != caller.sub);
            p.reviews.push(review);
            Ok(Change::new("review", detail))
        })
        .await?;
        let review = p
            .reviews
            .iter()
            .find(|x| x.expert_id == caller.sub)
            .ok_or_else(|| Error::internal("review not stored"))?;
        Ok(Response::new(review_to_pb(&p, review)))
    }

    async fn list_reviews(
        &self,
        req: Request<pb::ListReviewsRequest>,
    ) -> Reply<pb::ListReviewsResponse> {
        let caller = Caller::of(&req);
        caller.require_authenticated()?;
        let id = parse_id(&req.get_ref().id)?;
        let p = store::get(self.reads.for_caller(&caller.sub).await, id).await?;
        visible(&caller, &p)?;
        let expected = p.panel.as_ref().map(|x| x.experts.len()).unwrap_or(0);
        let all_in = expected > 0 && p.reviews.len() >= expected;
        let decided = p.decision.is_some();
        let reviews = p
            .reviews
            .iter()
            .filter(|r| {
                is_admin(&caller)
                    || decided
                    || (all_in && p.on_panel(&caller.sub))
                    || r.expert_id == caller.sub
            })
            .map(|r| review_to_pb(&p, r))
            .collect();
        Ok(Response::new(pb::ListReviewsResponse {
            reviews,
            received: p.reviews.len() as u32,
            expected: expected as u32,
        }))
    }

    async fn decide_project(&self, req: Request<pb::DecideProjectRequest>) -> Reply<pb::Project> {
        let caller = Caller::of(&req);
        caller.require_authenticated()?;
        let r = req.into_inner();
        let id = parse_id(&r.id)?;
        let mut v = Violations::new();
        let approve = matches!(r.outcome.trim(), "approve" | "approved");
        let reject = matches!(r.outcome.trim(), "reject" | "rejected");
        if !approve && !reject {
            v.add("outcome", "must be approve or reject");
        }
        let rule = Rule::parse(r.rule.trim());
        if rule.is_none() {
            v.add("rule", "must be median, mean or min");
        }
        let reason = text(&mut v, "reason", &r.reason, 0, 2000);
        if reject && reason.is_empty() {
            v.add("reason", "is required to reject");
        }
        v.into_result()?;
        let rule = rule.unwrap_or(Rule::Median);
        let p = store::mutate(&self.pool, id, &caller, |p| {
            admin_only(&caller, p, "decide on a project")?;
            p.require_state(&["under_review"], "the decision")?;
            let expected = p.panel.as_ref().map(|x| x.experts.len()).unwrap_or(0);
            if approve {
                if p.reviews.len() < expected {
                    return Err(Error::failed_precondition(
                        "REVIEWS_MISSING",
                        format!(
                            "{} of {expected} experts have reviewed; approval takes the whole panel's result",
                            p.reviews.len()
                        ),
                    ));
                }
                for i in 0..p.budget_lines.len() {
                    let proposals: Vec<i64> = p
                        .reviews
                        .iter()
                        .filter_map(|r| r.lines.get(i).map(|l| l.approved_fen))
                        .collect();
                    let amount = rule
                        .apply(&proposals)
                        .unwrap_or(0)
                        .clamp(0, p.budget_lines[i].amount_fen);
                    p.budget_lines[i].approved_fen = Some(amount);
                }
                p.state = "approved".to_string();
                if p.approved_fen() == 0 {
                    return Err(Error::failed_precondition(
                        "NOTHING_APPROVED",
                        "the panel's result approves 0 fen; reject the project instead",
                    ));
                }
            } else {
                p.state = "rejected".to_string();
            }
            p.decision = Some(Decision {
                outcome: p.state.clone(),
                rule: if approve { rule.as_str().to_string() } else { String::new() },
                reason: reason.clone(),
                decided_by: caller.sub.clone(),
                decided_at: Utc::now(),
            });
            let payload = serde_json::json!({
                "project_id": p.id,
                "department": p.department,
                "year": p.year,
                "name": p.name,
                "outcome": p.state,
                "requested_fen": p.requested_fen(),
                "approved_fen": p.approved_fen(),
                "cut_fen": p.cut_fen(),
            });
            Ok(Change {
                action: "decide",
                detail: serde_json::json!({
                    "outcome": p.state, "rule": rule.as_str(), "reason": reason,
                    "approved_lines": p.budget_lines.iter().map(|l| l.approved_fen).collect::<Vec<_>>(),
                    "approved_fen": p.approved_fen(), "cut_fen": p.cut_fen(),
                }),
                event: Some((store::PROJECT_DECIDED, payload)),
            })
        })
        .await?;
        tracing::info!(project = %p.id, state = %p.state, approved_fen = p.approved_fen(), "project decided");
        Ok(Response::new(project_to_pb(&p)))
    }

    async fn record_procurement(
        &self,
        req: Request<pb::RecordProcurementRequest>,
    ) -> Reply<pb::Project> {
        let caller = Caller::of(&req);
        caller.require_authenticated()?;
        let r = req.into_inner();
        let id = parse_id(&r.id)?;
        let p = store::mutate(&self.pool, id, &caller, |p| {
            may_manage(&caller, p, "record the procurement")?;
            p.require_state(&["approved"], "procurement")?;
            let mut v = Violations::new();
            let vendor = text(&mut v, "vendor", &r.vendor, 1, 200);
            one_of(&mut v, "method", r.method.trim(), model::METHODS);
            let approved = p.approved_fen();
            if r.contract_amount_fen < 1 || r.contract_amount_fen > approved {
                v.add(
                    "contract_amount_fen",
                    format!(
                        "must be between 1 and the approved {approved} fen; got {}",
                        r.contract_amount_fen
                    ),
                );
            }
            let signed_on = past_date(&mut v, "signed_on", &r.signed_on);
            v.into_result()?;
            p.procurement = Some(Procurement {
                vendor: vendor.clone(),
                method: r.method.trim().to_string(),
                contract_amount_fen: r.contract_amount_fen,
                signed_on,
            });
            p.state = "contracted".to_string();
            Ok(Change::new(
                "procure",
                serde_json::json!({"vendor": vendor, "method": r.method.trim(),
                    "contract_amount_fen": r.contract_amount_fen,
                    "contract_savings_fen": approved - r.contract_amount_fen, "signed_on": signed_on}),
            ))
        })
        .await?;
        Ok(Response::new(project_to_pb(&p)))
    }

    async fn start_construction(
        &self,
        req: Request<pb::StartConstructionRequest>,
    ) -> Reply<pb::Project> {
        let caller = Caller::of(&req);
        caller.require_authenticated()?;
        let r = req.into_inner();
        let id = parse_id(&r.id)?;
        let p = store::mutate(&self.pool, id, &caller, |p| {
            may_manage(&caller, p, "start construction")?;
            p.require_state(&["contracted"], "starting construction")?;
            let mut v = Violations::new();
            let supervisor = text(&mut v, "supervisor", &r.supervisor, 1, 200);
            let started_on = past_date(&mut v, "started_on", &r.started_on);
            v.into_result()?;
            p.construction = Some(Construction {
                supervisor: supervisor.clone(),
                started_on,
                progress: Vec::new(),
            });
            p.state = "under_construction".to_string();
            Ok(Change::new(
                "start_construction",
                serde_json::json!({"supervisor": supervisor, "started_on": started_on}),
            ))
        })
        .await?;
        Ok(Response::new(project_to_pb(&p)))
    }

    async fn add_progress_report(
        &self,
        req: Request<pb::AddProgressReportRequest>,
    ) -> Reply<pb::Project> {
        let caller = Caller::of(&req);
        caller.require_authenticated()?;
        let r = req.into_inner();
        let id = parse_id(&r.id)?;
        let p = store::mutate(&self.pool, id, &caller, |p| {
            may_manage(&caller, p, "report progress")?;
            p.require_state(&["under_construction"], "a progress report")?;
            let mut v = Violations::new();
            let note = text(&mut v, "note", &r.note, 1, 2000);
            let last = p
                .construction
                .as_ref()
                .and_then(|c| c.progress.last())
                .map(|x| x.percent)
                .unwrap_or(0);
            if r.percent > 100 {
                v.add("percent", "must be 0 to 100");
            } else if r.percent < last {
                v.add(
                    "percent",
                    format!("must not be below the previous report's {last}"),
                );
            }
            v.into_result()?;
            if let Some(c) = p.construction.as_mut() {
                c.progress.push(Progress {
                    percent: r.percent,
                    note: note.clone(),
                    reported_by: caller.sub.clone(),
                    at: Utc::now(),
                });
            }
            Ok(Change::new(
                "progress",
                serde_json::json!({"percent": r.percent, "previous": last, "note": note}),
            ))
        })
        .await?;
        Ok(Response::new(project_to_pb(&p)))
    }

    async fn accept_project(&self, req: Request<pb::AcceptProjectRequest>) -> Reply<pb::Project> {
        let caller = Caller::of(&req);
        caller.require_authenticated()?;
        let r = req.into_inner();
        let id = parse_id(&r.id)?;
        let p = store::mutate(&self.pool, id, &caller, |p| {
            may_manage(&caller, p, "record the acceptance")?;
            p.require_state(&["under_construction"], "acceptance")?;
            let mut v = Violations::new();
            let accepted_on = date(&mut v, "accepted_on", &r.accepted_on);
            match accepted_on {
                None if r.accepted_on.trim().is_empty() => v.add("accepted_on", "is required"),
                Some(d) if d > today() => v.add("accepted_on", "must not be in the future"),
                Some(d) if p.construction.as_ref().is_some_and(|c| d < c.started_on) => v.add(
                    "accepted_on",
                    "must not be before construction started",
                ),
                _ => {}
            }
            one_of(&mut v, "result", r.result.trim(), &["passed", "failed"]);
            if r.documents.is_empty() {
                v.add("documents", "at least one acceptance document is required");
            }
            if r.documents.len() > 50 {
                v.add("documents", "at most 50 documents");
            }
            let documents: Vec<String> = r
                .documents
                .iter()
                .take(50)
                .enumerate()
                .map(|(i, doc)| text(&mut v, &format!("documents[{i}]"), doc, 1, 200))
                .collect();
            let note = text(&mut v, "note", &r.note, 0, 2000);
            v.into_result()?;
            let a = Acceptance {
                accepted_on: accepted_on.unwrap_or_else(today),
                result: r.result.trim().to_string(),
                documents,
                note,
            };
            let detail = serde_json::json!({"accepted_on": a.accepted_on, "result": a.result, "documents": a.documents});
            if a.result == "passed" {
                p.acceptance = Some(a);
                p.state = "accepted".to_string();
                Ok(Change::new("accept", detail))
            } else {
                p.failed_acceptances.push(a);
                Ok(Change::new("acceptance_failed", detail))
            }
        })
        .await?;
        Ok(Response::new(project_to_pb(&p)))
    }

    async fn evaluate_project(
        &self,
        req: Request<pb::EvaluateProjectRequest>,
    ) -> Reply<pb::Project> {
        let caller = Caller::of(&req);
        caller.require_authenticated()?;
        let r = req.into_inner();
        let id = parse_id(&r.id)?;
        let p = store::mutate(&self.pool, id, &caller, |p| {
            admin_only(&caller, p, "evaluate a project")?;
            p.require_state(&["accepted"], "performance evaluation")?;
            let accepted = p.accepted_on().ok_or_else(|| Error::internal("accepted without a date"))?;
            let mut v = Violations::new();
            let on = date(&mut v, "evaluated_on", &r.evaluated_on);
            let earliest = accepted.checked_add_months(chrono::Months::new(12));
            let latest = accepted.checked_add_months(chrono::Months::new(24));
            match (on, earliest, latest) {
                (None, _, _) if r.evaluated_on.trim().is_empty() => {
                    v.add("evaluated_on", "is required")
                }
                (Some(d), _, _) if d > today() => v.add("evaluated_on", "must not be in the future"),
                (Some(d), Some(e), Some(l)) if d < e || d > l => v.add(
                    "evaluated_on",
                    format!(
                        "must be 12 to 24 months after acceptance on {accepted}: between {e} and {l}"
                    ),
                ),
                _ => {}
            }
            if r.score > 100 {
                v.add("score", "must be 0 to 100");
            }
            let findings = text(&mut v, "findings", &r.findings, 1, 4000);
            v.into_result()?;
            let evaluated_on = on.unwrap_or_else(today);
            p.evaluation = Some(Evaluation {
                evaluated_on,
                score: r.score,
                findings: findings.clone(),
            });
            p.state = "evaluated".to_string();
            Ok(Change::new(
                "evaluate",
                serde_json::json!({"evaluated_on": evaluated_on, "score": r.score, "findings": findings}),
            ))
        })
        .await?;
        Ok(Response::new(project_to_pb(&p)))
    }

    async fn list_project_history(
        &self,
        req: Request<pb::GetProjectRequest>,
    ) -> Reply<pb::ProjectHistory> {
        let caller = Caller::of(&req);
        caller.require_authenticated()?;
        let id = parse_id(&req.get_ref().id)?;
        let pool = self.reads.for_caller(&caller.sub).await;
        let p = store::get(pool, id).await?;
        // Experts read their reviews through ListReviews; the history is the administration's
        // and the department's.
        may_manage(&caller, &p, "read the history")?;
        let events = store::history(pool, id)
            .await?
            .into_iter()
            .map(|e| pb::ProjectEvent {
                time: Some(to_timestamp(e.at)),
                actor: e.actor_sub,
                actor_name: e.actor_name,
                action: e.action,
                from_state: e.from_state,
                to_state: e.to_state,
                detail: Some(yiwang_kit::to_proto_value(&e.detail)),
            })
            .collect();
        Ok(Response::new(pb::ProjectHistory { events }))
    }

    async fn get_annual_plan(
        &self,
        req: Request<pb::GetAnnualPlanRequest>,
    ) -> Reply<pb::AnnualPlan> {
        let caller = Caller::of(&req);
        let r = req.get_ref();
        let department = Self::reporting_department(&caller, &r.department)?;
        check_year(r.year)?;
        let projects = store::of_year(&self.pool, r.year, &department).await?;
        let approved: Vec<&Project> = projects.iter().filter(|p| p.is_approved()).collect();
        let sum = |f: fn(&Project) -> i64| {
            money::checked_sum(approved.iter().map(|p| f(p))).ok_or_else(|| {
                Error::failed_precondition(
                    "TOTAL_OUT_OF_RANGE",
                    "the plan's totals exceed the largest amount an int64 carries",
                )
            })
        };
        Ok(Response::new(pb::AnnualPlan {
            year: r.year,
            requested_fen: sum(Project::requested_fen)?,
            approved_fen: sum(Project::approved_fen)?,
            cut_fen: sum(Project::cut_fen)?,
            projects: approved
                .iter()
                .map(|p| pb::PlanEntry {
                    project_id: p.id.to_string(),
                    department: p.department.clone(),
                    name: p.name.clone(),
                    category: p.category.clone(),
                    state: p.state.clone(),
                    requested_fen: p.requested_fen(),
                    approved_fen: p.approved_fen(),
                    cut_fen: p.cut_fen(),
                    planned_acceptance_date: p.planned_acceptance_date.map(d).unwrap_or_default(),
                })
                .collect(),
        }))
    }

    async fn get_project_stats(
        &self,
        req: Request<pb::GetProjectStatsRequest>,
    ) -> Reply<pb::ProjectStats> {
        let caller = Caller::of(&req);
        let r = req.get_ref();
        let department = Self::reporting_department(&caller, &r.department)?;
        check_year(r.year)?;
        let pool = self.reads.for_caller(&caller.sub).await;
        let projects = store::of_year(pool, r.year, &department).await?;
        let (total, by) = stats::compute(&projects, today())?;
        let by_department = by
            .iter()
            .map(|(dept, f)| figures!(pb::DepartmentStats, f, { department: dept.clone() }))
            .collect();
        Ok(Response::new(figures!(pb::ProjectStats, &total, {
            year: r.year,
            by_department: by_department
        })))
    }
}
