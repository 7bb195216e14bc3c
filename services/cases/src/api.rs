//! The gRPC API (yiwang.cases.v1.CasesService): proto ↔ domain conversion and authorisation.

use std::sync::Arc;

use chrono::SecondsFormat;
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use yiwang_kit::auth::roles;
use yiwang_kit::{Caller, Error, to_timestamp};
use yiwang_proto::cases::v1 as pb;
use yiwang_proto::cases::v1::cases_service_server::CasesService;

use crate::SharedCalendar;
use crate::appointment::{self, AppointmentRow, SlotRow};
use crate::calendar::{Calendar, CalendarError, Limit, SHANGHAI, Unit};
use crate::case_store::{self, Act, CaseRow, NewCase, Scope};
use crate::exchange;
use crate::lifecycle::{self, Action, Party};
use crate::ticket::TicketRow;
use tonic::transport::Channel;
use uuid::Uuid;
use yiwang_kit::crypto::{self, DataKey};
use yiwang_kit::ids;
use yiwang_proto::catalog::v1 as catalog_pb;
use yiwang_proto::catalog::v1::catalog_service_client::CatalogServiceClient;

pub struct CasesApi {
    pub pool: PgPool,
    /// Listings and statistics: a read replica when one is configured (read-your-writes kept).
    pub reads: yiwang_kit::db::Reads,
    /// The legal calendar every deadline is computed on; replaced whole when a year changes.
    pub calendar: SharedCalendar,
    /// Items are read from the catalogue when a case is filed (the case pins the version).
    pub catalog: CatalogServiceClient<Channel>,
    /// Seals applicants' ID and phone numbers at rest.
    pub key: DataKey,
    /// Hands out case numbers (region + date + daily sequence).
    pub numbers: case_store::Numbers,
    /// Working days a department has to put a 差评 right.
    pub rectify_working_days: u32,
    /// Signs e-licences.
    pub licences: Arc<crate::licence::Signer>,
    pub licence_valid_years: u32,
    /// The county's region code (licence numbers).
    pub region: String,
    /// Material files: the sealed store and its limits.
    pub files: Arc<crate::upload::Files>,
}

/// Roles that apply for themselves.
pub(crate) const APPLICANT_ROLES: &[&str] = &[roles::CITIZEN, roles::ENTERPRISE];
/// Staff of a handling department.
pub(crate) const STAFF_ROLES: &[&str] = &[roles::CLERK, roles::OFFICER];
/// Oversight and integration: may read every case, with personal numbers masked.
pub(crate) const OVERSIGHT_ROLES: &[&str] = &[roles::SUPERVISOR, roles::SYSTEM];

const AAD_ID: &[u8] = b"cases.applicant_id";
const AAD_PHONE: &[u8] = b"cases.applicant_phone";
const AAD_QUERY_CODE: &[u8] = b"cases.query_code";
pub(crate) const AAD_ADDRESS: &[u8] = b"cases.delivery_address";
pub(crate) const AAD_PICKUP: &[u8] = b"cases.pickup_code";

/// How a caller relates to a case.
#[derive(PartialEq, Eq, Clone, Copy)]
pub(crate) enum View {
    /// The applicant or the handling department: personal numbers in full.
    Full,
    /// Oversight: personal numbers masked.
    Masked,
}

pub(crate) fn is_staff_of(caller: &Caller, department: &str) -> bool {
    caller
        .roles
        .iter()
        .any(|r| STAFF_ROLES.contains(&r.as_str()))
        && caller.dept.as_deref() == Some(department)
}

/// A call to the catalogue: traced as part of the caller's request, and bounded (a filing
/// waits at most 5 s for it).
pub(crate) fn catalog_request<T>(message: T) -> Request<T> {
    let mut req = Request::new(message);
    yiwang_kit::telemetry::inject_trace_context(req.metadata_mut());
    req.set_timeout(std::time::Duration::from_secs(5));
    req
}

/// The hall of a comprehensive-window clerk (`window_clerk` with the hall as `dept`).
pub(crate) fn window_hall(caller: &Caller) -> Option<&str> {
    caller
        .has_role(roles::WINDOW_CLERK)
        .then_some(caller.dept.as_deref())
        .flatten()
        .filter(|h| !h.is_empty())
}

/// Whether the caller is a clerk of the comprehensive window that received `c`.
pub(crate) fn is_window_of(caller: &Caller, c: &case_store::CaseRow) -> bool {
    !c.hall.is_empty() && window_hall(caller) == Some(c.hall.as_str())
}

pub(crate) fn view_of(caller: &Caller, c: &case_store::CaseRow) -> Option<View> {
    if !caller.is_authenticated() {
        return None;
    }
    if (!c.owner_sub.is_empty() && c.owner_sub == caller.sub)
        || is_staff_of(caller, &c.department)
        || is_window_of(caller, c)
    {
        Some(View::Full)
    } else if caller.has_any_role(OVERSIGHT_ROLES) {
        Some(View::Masked)
    } else {
        None
    }
}

type Reply<T> = Result<Response<T>, Status>;

impl CasesApi {
    /// What a filing stores for `item` (validated input): the item's limit and required
    /// materials pinned, personal numbers sealed.
    pub(crate) fn new_case(
        &self,
        caller: &Caller,
        item: &catalog_pb::Item,
        channel: &str,
        a: &pb::Applicant,
        materials: Vec<crate::material::Given>,
    ) -> NewCase {
        let hall = window_hall(caller).unwrap_or_default().to_string();
        let limit = if item.handling_kind == "instant" {
            Limit::SAME_DAY
        } else {
            let l = item
                .promised_limit
                .clone()
                .or(item.legal_limit.clone())
                .unwrap_or_default();
            let unit = Unit::parse(&l.unit).unwrap_or(Unit::WorkingDays);
            Limit::new(l.value, unit)
        };
        let staff = caller.has_any_role(STAFF_ROLES) || !hall.is_empty();
        let owner = if caller.has_any_role(APPLICANT_ROLES) && !staff {
            caller.sub.clone()
        } else {
            String::new()
        };
        let id_number = a.id_number.trim().to_ascii_uppercase();
        NewCase {
            item_code: item.code.clone(),
            item_version: item.version as i32,
            item_name: item.name.clone(),
            department: item.department.clone(),
            task_type: item.task_type.clone(),
            channel: channel.to_string(),
            applicant_kind: a.kind.clone(),
            applicant_name: a.name.trim().to_string(),
            applicant_id_sealed: (!id_number.is_empty()).then(|| self.key.seal(&id_number, AAD_ID)),
            applicant_id_hash: (!id_number.is_empty())
                .then(|| self.key.lookup_hash("id_number", &id_number).to_vec()),
            applicant_uscc: a.uscc.trim().to_string(),
            applicant_phone_sealed: self.key.seal(a.phone.trim(), AAD_PHONE),
            applicant_phone_hash: self.key.lookup_hash("phone", a.phone.trim()).to_vec(),
            owner_sub: owner,
            filed_by: caller.sub.clone(),
            material_files: crate::material::files(&materials),
            materials: crate::material::names(&materials),
            required_materials: item
                .materials
                .iter()
                .filter(|m| m.required)
                .map(|m| m.name.clone())
                .collect(),
            limit,
            hall,
            partner_region: String::new(),
            cross_direction: String::new(),
            query_code_sealed: self.key.seal(&crypto::random_code(10), AAD_QUERY_CODE),
        }
    }

    /// A terminal's token names a registered terminal and its hall, and the terminal offers
    /// the item.
    async fn check_terminal(&self, caller: &Caller, item_code: &str) -> Result<(), Error> {
        let req = catalog_request(catalog_pb::GetTerminalRequest {
            code: caller.sub.clone(),
        });
        let t = match self.catalog.clone().get_terminal(req).await {
            Ok(t) => t.into_inner(),
            Err(s) if s.code() == tonic::Code::NotFound => {
                return Err(Error::permission_denied(
                    "this terminal is not registered in the catalogue",
                ));
            }
            Err(s) => return Err(Error::dependency("catalogue", "item_code", &s)),
        };
        if caller.dept.as_deref() != Some(t.hall.as_str()) {
            return Err(Error::permission_denied(
                "the terminal's token names another hall than its registration",
            ));
        }
        if !t.items.iter().any(|i| i == item_code) {
            return Err(Error::permission_denied(format!(
                "terminal {} does not offer item {item_code}",
                t.code
            )));
        }
        Ok(())
    }

    /// The items the comprehensive window of `hall` receives (进驻事项), from the catalogue.
    pub(crate) async fn hall_items(
        &self,
        hall: &str,
    ) -> Result<std::collections::HashSet<String>, Error> {
        let req = crate::api::catalog_request(catalog_pb::GetHallRequest {
            code: hall.to_string(),
        });
        match self.catalog.clone().get_hall(req).await {
            Ok(h) => Ok(h.into_inner().items.into_iter().collect()),
            Err(s) if s.code() == tonic::Code::NotFound => Err(Error::permission_denied(format!(
                "the hall {hall} of this window clerk is not in the catalogue"
            ))),
            Err(s) => Err(Error::dependency("catalogue", "hall", &s)),
        }
    }

    pub(crate) fn ticket_to_pb(&self, caller: &Caller, t: &TicketRow) -> pb::Ticket {
        let now = chrono::Utc::now();
        let beijing = |d: chrono::DateTime<chrono::Utc>| {
            d.with_timezone(&SHANGHAI)
                .to_rfc3339_opts(SecondsFormat::Secs, false)
        };
        // The registrar and the answering departments call the citizen back; others see it
        // masked.
        let phone = t
            .contact_phone_sealed
            .as_deref()
            .map(|s| self.key.open(s, AAD_TICKET_PHONE).unwrap_or_default())
            .unwrap_or_default();
        let full = t.registered_by == caller.sub
            || t.assignments
                .iter()
                .any(|a| is_staff_of(caller, &a.department));
        pb::Ticket {
            id: t.id.to_string(),
            kind: t.kind.clone(),
            subject: t.subject.clone(),
            body: t.body.clone(),
            state: t.state.clone(),
            submitted_by: t.submitted_by.clone(),
            department: t.department.clone(),
            reply_deadline_time: t.reply_deadline.map(to_timestamp),
            reply_deadline: t.reply_deadline.map(beijing).unwrap_or_default(),
            overdue: t.overdue(now),
            reply: t.reply.clone(),
            replied_at: t.replied_at.map(to_timestamp),
            callback_note: t.callback_note.clone(),
            callback_satisfied: t.callback_satisfied,
            created_at: Some(to_timestamp(t.created_at)),
            dispatched_at: t.dispatched_at.map(to_timestamp),
            closed_at: t.closed_at.map(to_timestamp),
            source: t.source.clone(),
            registered_by: t.registered_by.clone(),
            about_staff: t.about_staff.clone(),
            contact_name: t.contact_name.clone(),
            contact_phone: if full || phone.is_empty() {
                phone
            } else {
                crypto::mask_phone(&phone)
            },
            assignments: t
                .assignments
                .iter()
                .map(|a| pb::TicketAssignment {
                    department: a.department.clone(),
                    reply_deadline: beijing(a.reply_deadline),
                    reply_deadline_time: Some(to_timestamp(a.reply_deadline)),
                    reply: a.reply.clone(),
                    replied_at: a.replied_at.map(to_timestamp),
                    overdue: a.overdue(now),
                    transferred_from: a.transferred_from.clone(),
                })
                .collect(),
        }
    }

    pub(crate) fn case_to_pb(&self, c: &CaseRow, view: View) -> pb::Case {
        let calendar = self.calendar();
        let now = chrono::Utc::now();
        let open = |sealed: &[u8], aad: &[u8]| self.key.open(sealed, aad).unwrap_or_default();
        let id_number = c
            .applicant_id_sealed
            .as_deref()
            .map(|s| open(s, AAD_ID))
            .unwrap_or_default();
        let phone = open(&c.applicant_phone_sealed, AAD_PHONE);
        let (id_number, phone) = match view {
            View::Full => (id_number, phone),
            View::Masked => (
                if id_number.is_empty() {
                    id_number
                } else {
                    crypto::mask_id_number(&id_number)
                },
                crypto::mask_phone(&phone),
            ),
        };
        let warning = match (c.clock.as_str(), c.deadline, c.accepted_at) {
            ("running", Some(deadline), Some(started)) => calendar
                .warning(now, started, deadline)
                .map(|w| w.as_str())
                .unwrap_or("none"),
            ("stopped", Some(deadline), _) if c.clock_stopped_at.is_some_and(|t| t > deadline) => {
                "red"
            }
            _ => "none",
        };
        let required_missing: Vec<String> = c
            .required_materials
            .iter()
            .filter(|m| !c.materials.contains(m))
            .cloned()
            .collect();
        pb::Case {
            id: c.id.to_string(),
            case_number: c.case_number.clone(),
            item_code: c.item_code.clone(),
            item_version: c.item_version as u32,
            item_name: c.item_name.clone(),
            department: c.department.clone(),
            task_type: c.task_type.clone(),
            channel: c.channel.clone(),
            applicant: Some(pb::Applicant {
                kind: c.applicant_kind.clone(),
                name: match view {
                    View::Full => c.applicant_name.clone(),
                    View::Masked if c.applicant_kind == "person" => {
                        crypto::mask_name(&c.applicant_name)
                    }
                    View::Masked => c.applicant_name.clone(),
                },
                id_number,
                uscc: c.applicant_uscc.clone(),
                phone,
            }),
            materials: c.materials.clone(),
            missing_materials: required_missing,
            state: c.state.clone(),
            state_code: lifecycle::state_code(&c.state),
            limit_value: c.limit_value.max(0) as u32,
            limit_unit: c.limit_unit.clone(),
            deadline_time: c.deadline.map(to_timestamp),
            deadline: c
                .deadline
                .map(|d| {
                    d.with_timezone(&SHANGHAI)
                        .to_rfc3339_opts(SecondsFormat::Secs, false)
                })
                .unwrap_or_default(),
            clock: c.clock.clone(),
            warning: warning.to_string(),
            calendar_complete: c.calendar_complete,
            outcome_reason: c.outcome_reason.clone(),
            delivery_method: c.delivery_method.clone(),
            tracking_number: c.tracking_number.clone(),
            created_at: Some(to_timestamp(c.created_at)),
            updated_at: Some(to_timestamp(c.updated_at)),
            accepted_at: c.accepted_at.map(to_timestamp),
            decided_at: c.decided_at.map(to_timestamp),
            filed_by: c.filed_by.clone(),
            helper: c.helper.clone(),
            helper_kind: c.helper_kind.clone(),
            application_id: c.application_id.map(|a| a.to_string()).unwrap_or_default(),
            hall: c.hall.clone(),
            cross_province: (!c.partner_region.is_empty()).then(|| pb::CrossProvince {
                partner_region: c.partner_region.clone(),
                direction: c.cross_direction.clone(),
            }),
            delivery_address: c
                .delivery_address_sealed
                .as_deref()
                .map(|s| {
                    let a = self.key.open(s, AAD_ADDRESS).unwrap_or_default();
                    match view {
                        View::Full => a,
                        View::Masked => crypto::mask_generic(&a),
                    }
                })
                .unwrap_or_default(),
            free_mailing: c.free_mailing,
            mail_status: c.mail_status.clone(),
            mail_status_at: c.mail_status_at.map(to_timestamp),
            pickup_code: match (view, &c.pickup_code_sealed) {
                (View::Full, Some(sealed)) => self.key.open(sealed, AAD_PICKUP).unwrap_or_default(),
                _ => String::new(),
            },
            picked_up_at: c.picked_up_at.map(to_timestamp),
            query_code: match (view, &c.query_code_sealed) {
                (View::Full, Some(sealed)) => {
                    self.key.open(sealed, AAD_QUERY_CODE).unwrap_or_default()
                }
                _ => String::new(),
            },
            material_details: self.materials_to_pb(c, view),
            correction_list: if c.state == "correction" && view == View::Full {
                crate::material::correction_list(c)
            } else {
                Vec::new()
            },
        }
    }

    /// Reads the item a case is filed against: it must exist and be published.
    pub(crate) async fn current_item(&self, code: &str) -> Result<catalog_pb::Item, Error> {
        yiwang_kit::ids::check_code(code, 8, 64).map_err(|e| Error::invalid("item_code", e))?;
        let req = crate::api::catalog_request(catalog_pb::GetItemRequest {
            code: code.to_string(),
        });
        match self.catalog.clone().get_item(req).await {
            Ok(r) => {
                let item = r.into_inner();
                if item.status != "published" {
                    return Err(Error::failed_precondition(
                        "ITEM_NOT_PUBLISHED",
                        format!(
                            "item {code} is {}; cases can be filed only against published items",
                            item.status
                        ),
                    ));
                }
                Ok(item)
            }
            Err(s) if s.code() == tonic::Code::NotFound => Err(Error::invalid(
                "item_code",
                "is not an item of the catalogue (or has no published version)",
            )),
            Err(s) => Err(Error::dependency("catalogue", "item_code", &s)),
        }
    }

    /// `code` names a department of the catalogue (not a town or village).
    pub(crate) async fn check_department(&self, code: &str) -> Result<(), Error> {
        let req = crate::api::catalog_request(catalog_pb::GetOrgUnitRequest {
            code: code.to_string(),
        });
        match self.catalog.clone().get_org_unit(req).await {
            Ok(u) if u.get_ref().kind == "department" => Ok(()),
            Ok(_) => Err(Error::invalid(
                "to_department",
                "is a town or village, not a department",
            )),
            Err(s) if s.code() == tonic::Code::NotFound => Err(Error::invalid(
                "to_department",
                "is not a department of the catalogue",
            )),
            Err(s) => Err(Error::dependency("catalogue", "to_department", &s)),
        }
    }

    /// Materials handed in with a correction are named as the case's pinned item version lists
    /// them, as at filing. The caller's right to act is checked first, so a stranger learns
    /// nothing of the case; the transition checks it again under the row lock.
    async fn check_resubmitted_materials(
        &self,
        caller: &Caller,
        id: Uuid,
        materials: &[crate::material::Given],
    ) -> Result<(), Error> {
        let c = case_store::get(&self.pool, id).await?;
        may_act(caller, &c, Action::SubmitCorrection)?;
        let req = crate::api::catalog_request(catalog_pb::GetItemVersionRequest {
            code: c.item_code.clone(),
            version: c.item_version as u32,
        });
        let item = self
            .catalog
            .clone()
            .get_item_version(req)
            .await
            .map_err(|s| Error::dependency("catalogue", "item_code", &s))?
            .into_inner();
        let mut v = yiwang_kit::Violations::new();
        for m in materials {
            if !item.materials.iter().any(|im| im.name == m.name) {
                v.add(
                    m.field.clone(),
                    format!(
                        "is not a material of item {} version {}",
                        c.item_code, c.item_version
                    ),
                );
            }
        }
        v.into_result()
    }

    async fn act(&self, req: Request<pb::CaseActionRequest>, action: Action) -> Reply<pb::Case> {
        let caller = Caller::of(&req);
        caller.require_authenticated()?;
        let r = req.into_inner();
        let id = parse_id(&r.id)?;
        let reason = r.reason.trim();
        let mut v = yiwang_kit::Violations::new();
        // A correction request may leave the reason to the correction list (the rejected
        // materials and the required ones missing), checked below once the case is read.
        if action.needs_reason() && reason.is_empty() && action != Action::RequestCorrection {
            v.add(
                "reason",
                format!("is required to {}", action.name().replace('_', " ")),
            );
        }
        if reason.chars().count() > 2000 {
            v.add("reason", "must be at most 2000 characters");
        }
        if action == Action::Decide {
            if !lifecycle::OUTCOMES.contains(&r.outcome.as_str()) {
                v.add(
                    "outcome",
                    "must be approved, approved_with_tolerance or denied",
                );
            } else if r.outcome == "denied" && reason.is_empty() {
                v.add("reason", "is required when the outcome is denied");
            }
        }
        if action == Action::Deliver {
            if !lifecycle::DELIVERY_METHODS.contains(&r.delivery_method.as_str()) {
                v.add("delivery_method", "must be window, ems or electronic");
            } else if r.delivery_method == "ems" {
                if r.tracking_number.trim().is_empty() {
                    v.add("tracking_number", "is required for EMS delivery");
                }
                // Optional (clients of the first API deliver with the tracking number alone),
                // but a real address when given.
                let address = r.address.trim().chars().count();
                if address > 0 && !(5..=200).contains(&address) {
                    v.add(
                        "address",
                        "must be a mailing address of 5 to 200 characters",
                    );
                }
            } else {
                if !r.address.trim().is_empty() {
                    v.add("address", "is only for EMS delivery");
                }
                if r.free_mailing {
                    v.add("free_mailing", "is only for EMS delivery");
                }
            }
            if r.tracking_number.chars().count() > 64 {
                v.add("tracking_number", "must be at most 64 characters");
            }
        }
        // The older, names-only form is still taken.
        #[allow(deprecated)]
        let given = crate::material::clean_given(&r.material_names, &r.materials, &mut v);
        v.into_result()?;
        if action == Action::SubmitCorrection && !given.is_empty() {
            self.check_resubmitted_materials(&caller, id, &given)
                .await?;
            crate::material::check_uploads(&self.pool, &caller.sub, &given).await?;
        }
        let materials = crate::material::names(&given);
        let files = crate::material::files(&given);
        let listed;
        let reason = if action == Action::RequestCorrection && reason.is_empty() {
            let c = case_store::get(&self.pool, id).await?;
            may_act(&caller, &c, action)?;
            listed = crate::material::correction_reason(&crate::material::correction_list(&c));
            if listed.is_empty() {
                return Err(Error::invalid(
                    "reason",
                    "is required to request correction when no material is rejected or missing",
                )
                .into());
            }
            listed.as_str()
        } else {
            reason
        };
        let calendar = self.calendar();
        let act = Act {
            action,
            actor: &caller.sub,
            reason,
            outcome: &r.outcome,
            delivery_method: &r.delivery_method,
            tracking_number: r.tracking_number.trim(),
            add_materials: &materials,
            add_files: &files,
            as_of: None,
            record_as: (action == Action::Reject && r.out_of_scope)
                .then_some("reject_out_of_scope"),
            hall: window_hall(&caller).unwrap_or_default(),
        };
        let may = |c: &CaseRow| may_act(&caller, c, action);
        let mut tx = self.pool.begin().await.map_err(Error::from)?;
        let c = if action == Action::Deliver {
            // How it goes out is sealed like the applicant's other data; a window pickup gets
            // a code to show.
            let how = case_store::Delivery {
                address_sealed: (r.delivery_method == "ems" && !r.address.trim().is_empty())
                    .then(|| self.key.seal(r.address.trim(), AAD_ADDRESS)),
                free_mailing: r.free_mailing && r.delivery_method == "ems",
                pickup_code_sealed: (r.delivery_method == "window")
                    .then(|| self.key.seal(&crypto::random_code(6), AAD_PICKUP)),
            };
            case_store::deliver_in(&mut tx, &calendar, id, act, &how, may).await?
        } else {
            case_store::transition_in(&mut tx, &calendar, id, act, may).await?
        };
        // A licence is issued with the approval of a licence item and revoked with the case, in
        // the same transaction.
        if action == Action::Revoke {
            crate::licence::revoke(&mut tx, c.id, reason).await?;
        } else if action == Action::Decide
            && c.task_type == "01"
            && matches!(c.state.as_str(), "approved" | "approved_with_tolerance")
        {
            let id_number = c
                .applicant_id_sealed
                .as_deref()
                .map(|s| self.key.open(s, AAD_ID).unwrap_or_default())
                .unwrap_or_default();
            crate::licence::issue(
                &mut tx,
                &self.licences,
                &c,
                &id_number,
                self.licence_valid_years,
                &self.region,
            )
            .await?;
        }
        tx.commit().await.map_err(Error::from)?;
        tracing::info!(case = %c.case_number, action = action.name(), state = %c.state, actor = %caller.sub, "case transition");
        Ok(Response::new(self.case_to_pb(&c, View::Full)))
    }

    /// A snapshot of the calendar (an `Arc`: cheap enough for every case answered).
    pub(crate) fn calendar(&self) -> Arc<Calendar> {
        self.calendar
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// A calendar error of a computation, with the request field it is about.
pub(crate) fn compute_error(e: CalendarError) -> Error {
    match e {
        CalendarError::LimitTooLarge { .. } => Error::invalid("value", e.to_string()),
        CalendarError::OutOfRange => Error::invalid("from", "is outside the supported dates"),
        CalendarError::ScanLimit(_) => Error::invalid("value", e.to_string()),
        other => Error::internal(other),
    }
}

#[tonic::async_trait]
impl CasesService for CasesApi {
    type ReadUploadStream = crate::upload::ChunkStream;

    async fn upload_file(
        &self,
        req: Request<tonic::Streaming<pb::UploadFileRequest>>,
    ) -> Reply<pb::Upload> {
        self.upload_file_rpc(req).await
    }

    async fn get_upload(&self, req: Request<pb::GetUploadRequest>) -> Reply<pb::Upload> {
        self.get_upload_rpc(req).await
    }

    async fn read_upload(
        &self,
        req: Request<pb::GetUploadRequest>,
    ) -> Reply<Self::ReadUploadStream> {
        self.read_upload_rpc(req).await
    }

    async fn review_materials(&self, req: Request<pb::ReviewMaterialsRequest>) -> Reply<pb::Case> {
        self.review_materials_rpc(req).await
    }

    type StreamProcessRecordsStream =
        tokio_stream::wrappers::ReceiverStream<Result<pb::ProcessRecord, Status>>;

    async fn get_staff_case_stats(
        &self,
        req: Request<pb::GetStaffCaseStatsRequest>,
    ) -> Reply<pb::GetStaffCaseStatsResponse> {
        crate::staff_stats::get_staff_case_stats(self, req).await
    }

    async fn sample_decided_cases(
        &self,
        req: Request<pb::SampleDecidedCasesRequest>,
    ) -> Reply<pb::SampleDecidedCasesResponse> {
        crate::staff_stats::sample_decided_cases(self, req).await
    }

    async fn create_ticket(&self, req: Request<pb::CreateTicketRequest>) -> Reply<pb::Ticket> {
        crate::ticket_rpc::create_ticket(self, req).await
    }

    async fn get_ticket(&self, req: Request<pb::GetTicketRequest>) -> Reply<pb::Ticket> {
        crate::ticket_rpc::get_ticket(self, req).await
    }

    async fn list_tickets(
        &self,
        req: Request<pb::ListTicketsRequest>,
    ) -> Reply<pb::ListTicketsResponse> {
        crate::ticket_rpc::list_tickets(self, req).await
    }

    async fn dispatch_ticket(&self, req: Request<pb::TicketActionRequest>) -> Reply<pb::Ticket> {
        crate::ticket_rpc::dispatch_ticket(self, req).await
    }

    async fn reply_ticket(&self, req: Request<pb::TicketActionRequest>) -> Reply<pb::Ticket> {
        crate::ticket_rpc::reply_ticket(self, req).await
    }

    async fn transfer_ticket(&self, req: Request<pb::TicketActionRequest>) -> Reply<pb::Ticket> {
        crate::ticket_rpc::transfer_ticket(self, req).await
    }

    async fn callback_ticket(&self, req: Request<pb::TicketActionRequest>) -> Reply<pb::Ticket> {
        crate::ticket_rpc::callback_ticket(self, req).await
    }

    async fn close_ticket(&self, req: Request<pb::TicketActionRequest>) -> Reply<pb::Ticket> {
        crate::ticket_rpc::close_ticket(self, req).await
    }

    async fn list_my_tickets(
        &self,
        req: Request<pb::ListTicketsRequest>,
    ) -> Reply<pb::ListTicketsResponse> {
        crate::ticket_rpc::list_my_tickets(self, req).await
    }

    async fn file_application(
        &self,
        req: Request<pb::FileApplicationRequest>,
    ) -> Reply<pb::Application> {
        let caller = Caller::of(&req);
        let a = self.file_application(&caller, req.into_inner()).await?;
        Ok(Response::new(a))
    }

    async fn get_application(
        &self,
        req: Request<pb::GetApplicationRequest>,
    ) -> Reply<pb::Application> {
        let caller = Caller::of(&req);
        Ok(Response::new(
            self.get_application(&caller, &req.get_ref().id).await?,
        ))
    }

    async fn withdraw_application(
        &self,
        req: Request<pb::ApplicationActionRequest>,
    ) -> Reply<pb::Application> {
        let caller = Caller::of(&req);
        Ok(Response::new(
            self.withdraw_application(&caller, req.into_inner()).await?,
        ))
    }

    async fn deliver_application(
        &self,
        req: Request<pb::ApplicationActionRequest>,
    ) -> Reply<pb::Application> {
        let caller = Caller::of(&req);
        Ok(Response::new(
            self.deliver_application(&caller, req.into_inner()).await?,
        ))
    }

    async fn start_handling(&self, req: Request<pb::CaseActionRequest>) -> Reply<pb::Case> {
        let caller = Caller::of(&req);
        caller.require_any_role(STAFF_ROLES)?;
        let id = parse_id(&req.get_ref().id)?;
        let c = case_store::start_handling(&self.pool, id, &caller.sub, |c| {
            may_act(&caller, c, Action::Decide)
        })
        .await?;
        Ok(Response::new(self.case_to_pb(&c, View::Full)))
    }

    async fn accept_application(
        &self,
        req: Request<pb::ApplicationActionRequest>,
    ) -> Reply<pb::Application> {
        let caller = Caller::of(&req);
        Ok(Response::new(
            self.accept_application(&caller, req.into_inner()).await?,
        ))
    }

    async fn update_mail_status(&self, req: Request<pb::MailStatusRequest>) -> Reply<pb::Case> {
        let caller = Caller::of(&req);
        caller.require_any_role(&[
            roles::CLERK,
            roles::OFFICER,
            roles::WINDOW_CLERK,
            roles::SYSTEM,
        ])?;
        let r = req.into_inner();
        let id = parse_id(&r.id)?;
        if !["posted", "delivered", "returned"].contains(&r.status.as_str()) {
            return Err(Error::invalid("status", "must be posted, delivered or returned").into());
        }
        let system = caller.has_role(roles::SYSTEM);
        let c = case_store::set_mail_status(&self.pool, id, &caller.sub, &r.status, |c| {
            if system || is_staff_of(&caller, &c.department) || is_window_of(&caller, c) {
                Ok(())
            } else {
                Err(case_store::not_found(id))
            }
        })
        .await?;
        Ok(Response::new(self.case_to_pb(
            &c,
            if system { View::Masked } else { View::Full },
        )))
    }

    async fn confirm_pickup(&self, req: Request<pb::ConfirmPickupRequest>) -> Reply<pb::Case> {
        let caller = Caller::of(&req);
        caller.require_any_role(&[roles::CLERK, roles::OFFICER, roles::WINDOW_CLERK])?;
        let r = req.into_inner();
        let id = parse_id(&r.id)?;
        let given = r.pickup_code.trim().to_ascii_uppercase();
        let key = &self.key;
        let c = case_store::confirm_pickup(
            &self.pool,
            id,
            &caller.sub,
            window_hall(&caller).unwrap_or_default(),
            |c| {
                if !(is_staff_of(&caller, &c.department) || is_window_of(&caller, c)) {
                    return Err(case_store::not_found(id));
                }
                if c.state != "delivered" || c.delivery_method != "window" {
                    return Err(Error::failed_precondition(
                        "CASE_STATE",
                        format!("case {} awaits no pickup at a window", c.case_number),
                    ));
                }
                let code = c
                    .pickup_code_sealed
                    .as_deref()
                    .and_then(|s| key.open(s, AAD_PICKUP).ok())
                    .unwrap_or_default();
                if code.is_empty() || !crypto::equal_secrets(code.as_bytes(), given.as_bytes()) {
                    return Err(Error::invalid(
                        "pickup_code",
                        "does not match the case's code",
                    ));
                }
                Ok(())
            },
        )
        .await?;
        Ok(Response::new(self.case_to_pb(&c, View::Full)))
    }

    async fn get_licence(&self, req: Request<pb::GetLicenceRequest>) -> Reply<pb::Licence> {
        Ok(Response::new(
            crate::licence::get(&self.pool, &self.licences, req.get_ref().number.trim()).await?,
        ))
    }

    async fn verify_licence(
        &self,
        req: Request<pb::VerifyLicenceRequest>,
    ) -> Reply<pb::VerifyLicenceResponse> {
        let r = req.into_inner();
        let mut v = yiwang_kit::Violations::new();
        if r.document.is_empty() || r.document.len() > 4096 {
            v.add(
                "document",
                "must be the licence document as presented (at most 4 KiB)",
            );
        }
        if r.signature.is_empty() || r.signature.len() > 200 {
            v.add(
                "signature",
                "must be the base64 signature presented with it",
            );
        }
        v.into_result()?;
        let status =
            crate::licence::verify(&self.pool, &self.licences, &r.document, &r.signature).await?;
        Ok(Response::new(pb::VerifyLicenceResponse {
            status: status.to_string(),
        }))
    }

    async fn list_my_licences(
        &self,
        req: Request<pb::ListMyLicencesRequest>,
    ) -> Reply<pb::ListMyLicencesResponse> {
        let caller = Caller::of(&req);
        caller.require_any_role(APPLICANT_ROLES)?;
        Ok(Response::new(pb::ListMyLicencesResponse {
            licences: crate::licence::of_owner(&self.pool, &self.licences, &caller.sub).await?,
        }))
    }

    async fn list_my_cases(
        &self,
        req: Request<pb::ListCasesRequest>,
    ) -> Reply<pb::ListCasesResponse> {
        let caller = Caller::of(&req);
        caller.require_any_role(APPLICANT_ROLES)?;
        let r = req.into_inner();
        check_state_filter(&r.state)?;
        let (cases, next) = case_store::list(
            self.reads.for_caller(&caller.sub).await,
            &Scope::Owner(caller.sub.clone()),
            &r.state,
            r.page_size,
            &r.page_token,
        )
        .await?;
        Ok(Response::new(pb::ListCasesResponse {
            cases: cases
                .iter()
                .map(|c| self.case_to_pb(c, View::Full))
                .collect(),
            next_page_token: next,
        }))
    }

    async fn list_my_applications(
        &self,
        req: Request<pb::ListMyApplicationsRequest>,
    ) -> Reply<pb::ListMyApplicationsResponse> {
        let caller = Caller::of(&req);
        caller.require_any_role(APPLICANT_ROLES)?;
        Ok(Response::new(pb::ListMyApplicationsResponse {
            applications: self.my_applications(&caller).await?,
        }))
    }

    async fn list_my_appointments(
        &self,
        req: Request<pb::ListMyAppointmentsRequest>,
    ) -> Reply<pb::ListMyAppointmentsResponse> {
        let caller = Caller::of(&req);
        caller.require_any_role(APPLICANT_ROLES)?;
        let list = appointment::list_booked_by(&self.pool, &caller.sub).await?;
        Ok(Response::new(pb::ListMyAppointmentsResponse {
            appointments: list.iter().map(appointment_to_pb).collect(),
        }))
    }

    async fn get_public_progress(
        &self,
        req: Request<pb::GetPublicProgressRequest>,
    ) -> Reply<pb::PublicProgress> {
        let r = req.into_inner();
        // One answer for an unknown case and a wrong code, so a guesser learns nothing; the
        // code is compared in constant time.
        let unknown =
            || Error::not_found("CASE_NOT_FOUND", "no case has this number and query code");
        let number = r.case_number.trim();
        let code = r.query_code.trim().to_ascii_uppercase();
        if number.len() > 40 || code.is_empty() || code.len() > 32 {
            return Err(unknown().into());
        }
        let found = case_store::by_number(&self.pool, number).await?;
        let stored = found
            .as_ref()
            .and_then(|c| c.query_code_sealed.as_deref())
            .and_then(|s| self.key.open(s, AAD_QUERY_CODE).ok())
            .unwrap_or_default();
        let matches = crypto::equal_secrets(stored.as_bytes(), code.as_bytes());
        let (Some(c), true) = (found, matches && !stored.is_empty()) else {
            return Err(unknown().into());
        };
        let steps = case_store::process_steps(&self.pool, c.id)
            .await?
            .into_iter()
            .filter_map(|t| {
                let (code, name) = lifecycle::process_code(&t.action, &t.from_state, &t.to_state);
                (code > 0).then(|| pb::PublicStep {
                    time: Some(to_timestamp(t.time)),
                    code,
                    name: name.to_string(),
                    state: t.to_state,
                })
            })
            .collect();
        let case = self.case_to_pb(&c, View::Masked);
        Ok(Response::new(pb::PublicProgress {
            case_number: case.case_number,
            item_name: case.item_name,
            department: case.department,
            state: case.state,
            state_code: case.state_code,
            deadline: case.deadline,
            deadline_time: case.deadline_time,
            filed_at: case.created_at,
            steps,
        }))
    }

    async fn list_partner_regions(
        &self,
        _req: Request<pb::ListPartnerRegionsRequest>,
    ) -> Reply<pb::ListPartnerRegionsResponse> {
        Ok(Response::new(pb::ListPartnerRegionsResponse {
            regions: crate::partner::list(&self.pool).await?,
        }))
    }

    async fn set_partner_region(
        &self,
        req: Request<pb::SetPartnerRegionRequest>,
    ) -> Reply<pb::PartnerRegion> {
        let caller = Caller::of(&req);
        caller.require_any_role(&[roles::ADMIN])?;
        let r = req.into_inner();
        let region = r
            .region
            .ok_or_else(|| Error::invalid("region", "is required"))?;
        Ok(Response::new(
            crate::partner::set(&self.pool, &caller.sub, &r.region_code, &region).await?,
        ))
    }

    async fn route_case(&self, req: Request<pb::RouteCaseRequest>) -> Reply<pb::Case> {
        let caller = Caller::of(&req);
        caller.require_any_role(STAFF_ROLES)?;
        let r = req.into_inner();
        let id = parse_id(&r.id)?;
        let to = r.to_department.trim();
        let reason = r.reason.trim();
        let mut v = yiwang_kit::Violations::new();
        if to.is_empty() {
            v.add("to_department", "is required");
        } else if to.chars().count() > 64 {
            v.add(
                "to_department",
                "must be a department code (at most 64 characters)",
            );
        }
        if reason.is_empty() {
            v.add("reason", "is required to route a case");
        } else if reason.chars().count() > 2000 {
            v.add("reason", "must be at most 2000 characters");
        }
        v.into_result()?;
        // The caller's right to the case first, so a stranger learns nothing of it; then the
        // target must be a department of the catalogue.
        let c = case_store::get(&self.pool, id).await?;
        may_act(&caller, &c, Action::Accept)?;
        self.check_department(to).await?;
        let c = case_store::route(&self.pool, id, &caller.sub, to, reason, |c| {
            may_act(&caller, c, Action::Accept)
        })
        .await?;
        tracing::info!(case = %c.case_number, to, "case routed");
        // The case is no longer the caller's department's: its answer is masked like oversight's.
        Ok(Response::new(self.case_to_pb(&c, View::Masked)))
    }

    async fn list_process_records(
        &self,
        req: Request<pb::ListProcessRecordsRequest>,
    ) -> Reply<pb::ListProcessRecordsResponse> {
        Caller::of(&req).require_any_role(EXCHANGE_ROLES)?;
        let r = req.into_inner();
        let after = exchange::Cursor::parse(&r.after)?;
        let size = match r.page_size {
            0 => 100,
            n @ 1..=1000 => n as i64,
            _ => return Err(Error::invalid("page_size", "must be 1 to 1000").into()),
        };
        let records = exchange::page(&self.pool, after, size).await?;
        let next_after = records
            .last()
            .map(|rec| rec.cursor)
            .unwrap_or(after)
            .to_string();
        Ok(Response::new(pb::ListProcessRecordsResponse {
            records: records.into_iter().map(process_record_to_pb).collect(),
            next_after,
        }))
    }

    async fn stream_process_records(
        &self,
        req: Request<pb::StreamProcessRecordsRequest>,
    ) -> Reply<Self::StreamProcessRecordsStream> {
        Caller::of(&req).require_any_role(EXCHANGE_ROLES)?;
        let mut after = exchange::Cursor::parse(&req.get_ref().after)?;
        let pool = self.pool.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        tokio::spawn(async move {
            // Pages until caught up, then looks again every half second; ends when the caller
            // hangs up (the channel closes) or on a database failure (the caller resumes from
            // the last cursor it received).
            loop {
                let page = match exchange::page(&pool, after, 500).await {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = tx.send(Err(Status::from(e))).await;
                        return;
                    }
                };
                let caught_up = page.len() < 500;
                for rec in page {
                    after = rec.cursor;
                    if tx.send(Ok(process_record_to_pb(rec))).await.is_err() {
                        return;
                    }
                }
                if caught_up {
                    tokio::select! {
                        _ = tx.closed() => return,
                        _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
                    }
                }
            }
        });
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(
            rx,
        )))
    }

    // The transitions: one rule table (crate::lifecycle), one code path (CasesApi::act).
    async fn accept_case(&self, req: Request<pb::CaseActionRequest>) -> Reply<pb::Case> {
        self.act(req, Action::Accept).await
    }

    async fn reject_case(&self, req: Request<pb::CaseActionRequest>) -> Reply<pb::Case> {
        self.act(req, Action::Reject).await
    }

    async fn request_correction(&self, req: Request<pb::CaseActionRequest>) -> Reply<pb::Case> {
        self.act(req, Action::RequestCorrection).await
    }

    async fn start_special_procedure(
        &self,
        req: Request<pb::CaseActionRequest>,
    ) -> Reply<pb::Case> {
        self.act(req, Action::StartSpecial).await
    }

    async fn end_special_procedure(&self, req: Request<pb::CaseActionRequest>) -> Reply<pb::Case> {
        self.act(req, Action::EndSpecial).await
    }

    async fn decide_case(&self, req: Request<pb::CaseActionRequest>) -> Reply<pb::Case> {
        self.act(req, Action::Decide).await
    }

    async fn deliver_case(&self, req: Request<pb::CaseActionRequest>) -> Reply<pb::Case> {
        self.act(req, Action::Deliver).await
    }

    async fn revoke_case(&self, req: Request<pb::CaseActionRequest>) -> Reply<pb::Case> {
        self.act(req, Action::Revoke).await
    }

    async fn submit_correction(&self, req: Request<pb::CaseActionRequest>) -> Reply<pb::Case> {
        self.act(req, Action::SubmitCorrection).await
    }

    async fn withdraw_case(&self, req: Request<pb::CaseActionRequest>) -> Reply<pb::Case> {
        self.act(req, Action::Withdraw).await
    }

    async fn evaluate_case(&self, req: Request<pb::EvaluateCaseRequest>) -> Reply<pb::Evaluation> {
        crate::evaluation_rpc::evaluate_case(self, req).await
    }

    async fn list_rectifications(
        &self,
        req: Request<pb::ListRectificationsRequest>,
    ) -> Reply<pb::ListRectificationsResponse> {
        crate::evaluation_rpc::list_rectifications(self, req).await
    }

    async fn complete_rectification(
        &self,
        req: Request<pb::RectificationActionRequest>,
    ) -> Reply<pb::Rectification> {
        crate::evaluation_rpc::complete_rectification(self, req).await
    }

    async fn callback_rectification(
        &self,
        req: Request<pb::RectificationActionRequest>,
    ) -> Reply<pb::Rectification> {
        crate::evaluation_rpc::callback_rectification(self, req).await
    }

    async fn create_appointment_slot(
        &self,
        req: Request<pb::CreateAppointmentSlotRequest>,
    ) -> Reply<pb::AppointmentSlot> {
        crate::appointment_rpc::create_appointment_slot(self, req).await
    }

    async fn list_appointment_slots(
        &self,
        req: Request<pb::ListAppointmentSlotsRequest>,
    ) -> Reply<pb::ListAppointmentSlotsResponse> {
        crate::appointment_rpc::list_appointment_slots(self, req).await
    }

    async fn book_appointment(
        &self,
        req: Request<pb::BookAppointmentRequest>,
    ) -> Reply<pb::Appointment> {
        crate::appointment_rpc::book_appointment(self, req).await
    }

    async fn cancel_appointment(
        &self,
        req: Request<pb::CancelAppointmentRequest>,
    ) -> Reply<pb::Appointment> {
        crate::appointment_rpc::cancel_appointment(self, req).await
    }

    async fn assign_case_helper(&self, req: Request<pb::AssignHelperRequest>) -> Reply<pb::Case> {
        let caller = Caller::of(&req);
        caller.require_authenticated()?;
        let r = req.into_inner();
        let id = parse_id(&r.id)?;
        let (helper, kind, note) = check_helper(&r)?;
        let c =
            case_store::assign_helper(&self.pool, id, &caller.sub, &helper, &kind, &note, |c| {
                if is_staff_of(&caller, &c.department) {
                    Ok(())
                } else if view_of(&caller, c).is_some() {
                    Err(Error::permission_denied(format!(
                        "only staff of {} assign helpers",
                        c.department
                    )))
                } else {
                    Err(case_store::not_found(id))
                }
            })
            .await?;
        Ok(Response::new(self.case_to_pb(&c, View::Full)))
    }

    async fn assign_appointment_helper(
        &self,
        req: Request<pb::AssignHelperRequest>,
    ) -> Reply<pb::Appointment> {
        crate::appointment_rpc::assign_appointment_helper(self, req).await
    }

    async fn get_case_stats(&self, req: Request<pb::GetCaseStatsRequest>) -> Reply<pb::CaseStats> {
        crate::stats_rpc::get_case_stats(self, req).await
    }

    async fn file_case(&self, req: Request<pb::FileCaseRequest>) -> Reply<pb::Case> {
        let caller = Caller::of(&req);
        caller.require_any_role(&[
            roles::CITIZEN,
            roles::ENTERPRISE,
            roles::CLERK,
            roles::OFFICER,
            roles::WINDOW_CLERK,
            roles::TERMINAL,
        ])?;
        let r = req.into_inner();
        let mut v = yiwang_kit::Violations::new();
        let terminal = caller.has_role(roles::TERMINAL);
        if terminal {
            if r.channel != "self_service" {
                v.add(
                    "channel",
                    "a self-service terminal files on the self_service channel",
                );
            }
            let a = r.applicant.as_ref();
            if a.is_none_or(|a| a.kind != "person") {
                v.add(
                    "applicant.kind",
                    "a terminal files for a citizen identified at it (person, with id_number)",
                );
            }
        }
        if r.item_code.trim().is_empty() {
            v.add("item_code", "is required");
        } else {
            v.check(
                "item_code",
                yiwang_kit::ids::check_code(r.item_code.trim(), 8, 64),
            );
        }
        if !lifecycle::CHANNELS.contains(&r.channel.as_str()) {
            v.add(
                "channel",
                format!("must be one of {}", lifecycle::CHANNELS.join(", ")),
            );
        }
        if r.request_id.len() > 255 {
            v.add("request_id", "must be at most 255 characters");
        }
        let a = r.applicant.clone().unwrap_or_default();
        check_applicant(&caller, &a, &mut v);
        crate::partner::check(&r.channel, r.cross_province.as_ref(), &mut v);
        // The older, names-only form is still taken.
        #[allow(deprecated)]
        let materials = crate::material::clean_given(&r.material_names, &r.materials, &mut v);
        v.into_result()?;
        if let Some(cp) = r
            .cross_province
            .as_ref()
            .filter(|_| r.channel == "cross_province")
            && !crate::partner::exists(&self.pool, &cp.partner_region).await?
        {
            return Err(Error::invalid(
                "cross_province.partner_region",
                "is not a partner region of this county (GET /v1/partner-regions)",
            )
            .into());
        }

        let item = self.current_item(r.item_code.trim()).await?;
        // Materials are named as the item lists them (the apps show that list), so completeness
        // can be judged; anything else is a mistake the applicant should hear about now.
        let mut v = yiwang_kit::Violations::new();
        for m in &materials {
            if !item.materials.iter().any(|im| im.name == m.name) {
                v.add(
                    m.field.clone(),
                    format!("is not a material of item {}", item.code),
                );
            }
        }
        v.into_result()?;
        crate::material::check_uploads(&self.pool, &caller.sub, &materials).await?;
        if terminal {
            self.check_terminal(&caller, &item.code).await?;
        }
        if let Some(hall) = window_hall(&caller)
            && !self.hall_items(hall).await?.contains(&item.code)
        {
            return Err(Error::permission_denied(format!(
                "the comprehensive window of hall {hall} does not receive item {} (进驻事项)",
                item.code
            ))
            .into());
        }
        let staff = caller.has_any_role(STAFF_ROLES);
        if staff
            && !caller.has_any_role(APPLICANT_ROLES)
            && caller.dept.as_deref() != Some(item.department.as_str())
        {
            return Err(Error::permission_denied(format!(
                "staff file cases only for their own department's items; item {} belongs to {}",
                item.code, item.department
            ))
            .into());
        }
        if r.channel == "weekend_appointment"
            && !item.channels.iter().any(|c| c == "weekend_appointment")
        {
            return Err(
                Error::invalid("channel", "this item offers no weekend appointment").into(),
            );
        }
        if r.channel == "cross_province" && !item.channels.iter().any(|c| c == "cross_province") {
            return Err(Error::invalid(
                "channel",
                "this item is not handled across provinces (跨省通办)",
            )
            .into());
        }
        let mut new = self.new_case(&caller, &item, &r.channel, &a, materials);
        if terminal {
            // Received in the terminal's hall: its windows deliver the result.
            new.hall = caller.dept.clone().unwrap_or_default();
        }
        if let Some(cp) = r
            .cross_province
            .as_ref()
            .filter(|_| r.channel == "cross_province")
        {
            new.partner_region = cp.partner_region.clone();
            new.cross_direction = cp.direction.clone();
        }
        let c =
            case_store::file(&self.pool, &self.numbers, &caller.sub, &r.request_id, new).await?;
        tracing::info!(case = %c.case_number, item = %c.item_code, channel = %c.channel, "case filed");
        Ok(Response::new(self.case_to_pb(&c, View::Full)))
    }

    async fn get_case(&self, req: Request<pb::GetCaseRequest>) -> Reply<pb::Case> {
        let caller = Caller::of(&req);
        caller.require_authenticated()?;
        let id = parse_id(&req.get_ref().id)?;
        let c = case_store::get(&self.pool, id).await?;
        let view = view_of(&caller, &c).ok_or_else(|| case_store::not_found(id))?;
        Ok(Response::new(self.case_to_pb(&c, view)))
    }

    async fn get_case_history(&self, req: Request<pb::GetCaseRequest>) -> Reply<pb::CaseHistory> {
        let caller = Caller::of(&req);
        caller.require_authenticated()?;
        let id = parse_id(&req.get_ref().id)?;
        let c = case_store::get(&self.pool, id).await?;
        view_of(&caller, &c).ok_or_else(|| case_store::not_found(id))?;
        let transitions = case_store::history(&self.pool, id)
            .await?
            .into_iter()
            .map(|t| pb::CaseTransition {
                time: Some(to_timestamp(t.time)),
                actor: t.actor,
                action: t.action,
                from_state: t.from_state,
                to_state: t.to_state,
                reason: t.reason,
                hall: t.hall,
            })
            .collect();
        Ok(Response::new(pb::CaseHistory { transitions }))
    }

    async fn list_cases(&self, req: Request<pb::ListCasesRequest>) -> Reply<pb::ListCasesResponse> {
        let caller = Caller::of(&req);
        caller.require_authenticated()?;
        let r = req.into_inner();
        check_state_filter(&r.state)?;
        // Staff see their department's cases, applicants their own, oversight all (masked).
        let (scope, view) = if caller.has_any_role(STAFF_ROLES) && caller.dept.is_some() {
            (
                Scope::Department(caller.dept.clone().unwrap_or_default()),
                View::Full,
            )
        } else if caller.has_any_role(APPLICANT_ROLES) {
            (Scope::Owner(caller.sub.clone()), View::Full)
        } else if caller.has_any_role(OVERSIGHT_ROLES) {
            (Scope::All, View::Masked)
        } else {
            return Err(Error::permission_denied(
                "listing cases needs an applicant, staff or oversight role",
            )
            .into());
        };
        let pool = self.reads.for_caller(&caller.sub).await;
        let (cases, next) =
            case_store::list(pool, &scope, &r.state, r.page_size, &r.page_token).await?;
        Ok(Response::new(pb::ListCasesResponse {
            cases: cases.iter().map(|c| self.case_to_pb(c, view)).collect(),
            next_page_token: next,
        }))
    }
    async fn compute_deadline(
        &self,
        req: Request<pb::ComputeDeadlineRequest>,
    ) -> Reply<pb::Deadline> {
        crate::calendar_rpc::compute_deadline(self, req).await
    }

    async fn get_calendar_year(
        &self,
        req: Request<pb::GetCalendarYearRequest>,
    ) -> Reply<pb::CalendarYear> {
        crate::calendar_rpc::get_calendar_year(self, req).await
    }

    async fn set_calendar_year(
        &self,
        req: Request<pb::SetCalendarYearRequest>,
    ) -> Reply<pb::CalendarYear> {
        crate::calendar_rpc::set_calendar_year(self, req).await
    }
}

pub(crate) fn parse_id(id: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(id).map_err(|_| Error::invalid("id", "must be a case id (UUID)"))
}

/// Who may take `action` on the case: the handling department's staff for department actions;
/// the applicant for theirs (and, for a case filed at a window with no applicant account, the
/// department's staff on the applicant's behalf). Anyone else does not see the case at all.
pub(crate) fn may_act(caller: &Caller, c: &CaseRow, action: Action) -> Result<(), Error> {
    let staff = is_staff_of(caller, &c.department);
    let owner = !c.owner_sub.is_empty() && c.owner_sub == caller.sub;
    // The comprehensive window that received the case examines it formally (accepts, refuses,
    // or asks for corrections at receipt) and delivers the result (综合出件); the department's
    // back office does the rest.
    let window = is_window_of(caller, c);
    let window_step = window
        && match action {
            Action::Accept | Action::Reject | Action::Deliver => true,
            Action::RequestCorrection => c.state == "received",
            _ => false,
        };
    let allowed = match action.party() {
        Party::Department => staff || window_step,
        Party::Applicant => owner || (c.owner_sub.is_empty() && (staff || window)),
    };
    if allowed {
        return Ok(());
    }
    if owner || staff || window || caller.has_any_role(OVERSIGHT_ROLES) {
        Err(Error::permission_denied(match action.party() {
            Party::Department => format!(
                "only staff of the handling department ({}) may {}",
                c.department,
                action.name().replace('_', " ")
            ),
            Party::Applicant => {
                format!("only the applicant may {}", action.name().replace('_', " "))
            }
        }))
    } else {
        Err(case_store::not_found(c.id))
    }
}

/// The applicant's rules, as every filing checks them (cases and bundle applications).
pub(crate) fn check_applicant(caller: &Caller, a: &pb::Applicant, v: &mut yiwang_kit::Violations) {
    match a.kind.as_str() {
        "person" => {
            v.check("applicant.id_number", ids::check_resident_id(&a.id_number));
            if !a.uscc.is_empty() {
                v.add(
                    "applicant.uscc",
                    "is for legal persons; a person gives id_number",
                );
            }
            if caller.has_role(roles::ENTERPRISE) && !caller.has_any_role(STAFF_ROLES) {
                v.add(
                    "applicant.kind",
                    "an enterprise account files as legal_person",
                );
            }
        }
        "legal_person" => {
            v.check("applicant.uscc", ids::check_uscc(&a.uscc));
            if !a.id_number.is_empty() {
                v.check("applicant.id_number", ids::check_resident_id(&a.id_number));
            }
            if caller.has_role(roles::CITIZEN)
                && !caller.has_any_role(STAFF_ROLES)
                && !caller.has_role(roles::ENTERPRISE)
            {
                v.add("applicant.kind", "a citizen account files as person");
            }
        }
        _ => v.add("applicant.kind", "must be person or legal_person"),
    }
    let name = a.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        v.add("applicant.name", "must be 1 to 100 characters");
    }
    v.check("applicant.phone", ids::check_mobile(&a.phone));
}

/// A case list's state filter: an unknown state is named, not ignored.
fn check_state_filter(state: &str) -> Result<(), Error> {
    if !state.is_empty() && !lifecycle::STATES.contains(&state) {
        return Err(Error::invalid(
            "state",
            format!("must be one of {}", lifecycle::STATES.join(", ")),
        ));
    }
    Ok(())
}

/// The provincial platform (a `system` account) and administrators read the exchange feed.
const EXCHANGE_ROLES: &[&str] = &[roles::SYSTEM, roles::ADMIN];

fn process_record_to_pb(r: exchange::Record) -> pb::ProcessRecord {
    let (code, name) = lifecycle::process_code(&r.action, &r.from_state, &r.to_state);
    pb::ProcessRecord {
        cursor: r.cursor.to_string(),
        case_id: r.case_id.to_string(),
        case_number: r.case_number,
        item_code: r.item_code,
        department: r.department,
        // The stored code is what was exchanged; the name is the model's for that code.
        code: r.code,
        code_name: if code == r.code {
            name.to_string()
        } else {
            String::new()
        },
        action: r.action,
        from_state: r.from_state,
        to_state: r.to_state,
        actor: r.actor,
        time: Some(to_timestamp(r.at)),
        reason: r.reason,
    }
}

pub(crate) fn slot_to_pb(s: &SlotRow) -> pb::AppointmentSlot {
    pb::AppointmentSlot {
        id: s.id.to_string(),
        item_code: s.item_code.clone(),
        department: s.department.clone(),
        hall: s.hall.clone(),
        date: s.date.to_string(),
        start_time: s.start_time.format("%H:%M").to_string(),
        end_time: s.end_time.format("%H:%M").to_string(),
        capacity: s.capacity.max(0) as u32,
        booked: s.booked.max(0) as u32,
        available: (s.capacity - s.booked).max(0) as u32,
        rest_day: s.rest_day,
    }
}

pub(crate) fn appointment_to_pb(a: &AppointmentRow) -> pb::Appointment {
    pb::Appointment {
        id: a.id.to_string(),
        slot: Some(slot_to_pb(&a.slot)),
        state: a.state.clone(),
        booked_by: a.booked_by.clone(),
        created_at: Some(to_timestamp(a.created_at)),
        cancelled_at: a.cancelled_at.map(to_timestamp),
        helper: a.helper.clone(),
        helper_kind: a.helper_kind.clone(),
    }
}

pub(crate) fn parse_ticket_id(id: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(id).map_err(|_| Error::invalid("id", "must be a ticket id (UUID)"))
}

pub(crate) fn may_see_ticket(caller: &Caller, t: &TicketRow) -> bool {
    t.submitted_by == caller.sub
        || (!t.registered_by.is_empty() && t.registered_by == caller.sub)
        || t.assignments
            .iter()
            .any(|a| is_staff_of(caller, &a.department))
        || caller.has_any_role(&[roles::SUPERVISOR])
}

/// Seals the phone of a ticket registered on a citizen's behalf.
pub(crate) const AAD_TICKET_PHONE: &[u8] = b"cases.ticket_contact_phone";

pub(crate) fn check_helper(r: &pb::AssignHelperRequest) -> Result<(String, String, String), Error> {
    let mut v = yiwang_kit::Violations::new();
    let helper = r.helper.trim();
    if helper.is_empty() || helper.chars().count() > 100 {
        v.add(
            "helper",
            "must be the helper's name or account, 1 to 100 characters",
        );
    }
    if !["staff", "volunteer"].contains(&r.helper_kind.as_str()) {
        v.add("helper_kind", "must be staff or volunteer");
    }
    if r.note.chars().count() > 1000 {
        v.add("note", "must be at most 1000 characters");
    }
    v.into_result()?;
    Ok((
        helper.to_string(),
        r.helper_kind.clone(),
        r.note.trim().to_string(),
    ))
}
