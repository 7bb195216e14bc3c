//! The OpenAPI 3.1 document served at `/openapi.json`, generated from the handlers' annotations.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::{alerts, cases, catalog, projects, supervision};

/// The REST error body: `{"error":{"code","status","message","details"}}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    code: u16,
    status: String,
    message: String,
    details: Vec<serde_json::Value>,
}

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("JWT".to_string());
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(http));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Yiwang REST API", description = "The county government-services platform: catalogue of service items, case handling, supervision (互联网+监管), IT-project review, security alerts."),
    paths(
        catalog::list_org_units, catalog::get_org_unit, catalog::create_org_unit,
        catalog::search_items, catalog::get_item, catalog::list_versions, catalog::get_version,
        catalog::create_item, catalog::update_item, catalog::publish_item, catalog::suspend_item, catalog::retire_item,
        catalog::list_bundles, catalog::get_bundle, catalog::create_bundle, catalog::stats,
        cases::deadline, cases::get_year, cases::put_year,
        cases::file_case, cases::list_cases, cases::get_case, cases::get_case_history,
        cases::accept_case, cases::reject_case, cases::request_correction, cases::submit_correction,
        cases::start_special, cases::end_special, cases::decide_case, cases::deliver_case,
        cases::withdraw_case, cases::revoke_case, cases::evaluate_case,
        cases::list_rectifications, cases::complete_rectification, cases::callback_rectification,
        cases::list_slots, cases::create_slot, cases::book_appointment, cases::cancel_appointment,
        cases::create_ticket, cases::list_tickets, cases::get_ticket, cases::dispatch_ticket,
        cases::reply_ticket, cases::callback_ticket, cases::close_ticket, cases::case_stats,
        cases::assign_case_helper, cases::assign_appointment_helper,
        alerts::ingest, alerts::list_incidents, alerts::get_incident, alerts::false_positive,
        alerts::create_asset, alerts::list_assets, alerts::delete_asset,
        alerts::issue_notice, alerts::list_notices, alerts::get_notice, alerts::acknowledge_notice,
        alerts::report_notice, alerts::verify_notice, alerts::close_notice,
        alerts::create_block, alerts::list_blocks, alerts::blocklist_text, alerts::lift_block, alerts::stats,
        projects::create_project, projects::list_projects, projects::get_project, projects::update_project,
        projects::submit_project, projects::form_panel, projects::submit_review, projects::list_reviews,
        projects::decide_project, projects::procure, projects::start_construction, projects::add_progress,
        projects::accept_project, projects::evaluate_project, projects::project_history,
        projects::annual_plan, projects::project_stats,
        supervision::list_items, supervision::create_item, supervision::claim_item,
        supervision::list_check_lists, supervision::create_check_list,
        supervision::list_entities, supervision::create_entity, supervision::get_entity,
        supervision::list_inspectors, supervision::create_inspector, supervision::patch_inspector,
        supervision::add_relation,
        supervision::list_plans, supervision::create_plan, supervision::get_plan, supervision::update_plan,
        supervision::draw_plan, supervision::publish_plan, supervision::get_draw_document,
        supervision::verify_plan, supervision::verify_draw,
        supervision::list_inspections, supervision::create_inspection, supervision::get_inspection,
        supervision::complete_rectification, supervision::list_tasks,
        supervision::list_notices, supervision::acknowledge_notice, supervision::close_notice,
        supervision::list_publications, supervision::create_publication, supervision::stats,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&Bearer),
)]
pub struct ApiDoc;
