//! The ticket RPCs: who may register, dispatch, answer, transfer, call back and close a ticket,
//! and what each answers. Rules and SQL are in the parent module.

use tonic::{Request, Response, Status};
use uuid::Uuid;
use yiwang_kit::auth::roles;
use yiwang_kit::{Caller, Error, ids};
use yiwang_proto::cases::v1 as pb;

use crate::api::*;
use crate::calendar::{Limit, Unit};
use crate::case_store::Scope;
use crate::ticket::{self, Step};

type Reply<T> = Result<Response<T>, Status>;

pub(crate) async fn create_ticket(
    api: &CasesApi,
    req: Request<pb::CreateTicketRequest>,
) -> Reply<pb::Ticket> {
    let caller = Caller::of(&req);
    caller.require_any_role(&[
        roles::CITIZEN,
        roles::ENTERPRISE,
        roles::WINDOW_CLERK,
        roles::SYSTEM,
    ])?;
    let r = req.into_inner();
    let mut v = yiwang_kit::Violations::new();
    if !ticket::KINDS.contains(&r.kind.as_str()) {
        v.add(
            "kind",
            format!("must be one of {}", ticket::KINDS.join(", ")),
        );
    }
    let (subject, body) = (r.subject.trim(), r.body.trim());
    if subject.is_empty() || subject.chars().count() > 200 {
        v.add("subject", "must be 1 to 200 characters");
    }
    if body.is_empty() || body.chars().count() > 5000 {
        v.add("body", "must be 1 to 5000 characters");
    }
    if r.request_id.len() > 255 {
        v.add("request_id", "must be at most 255 characters");
    }
    // Who may register from which door: the citizen in the app; a window clerk the hall's
    // 办不成事 and 涉企 windows; a department system the website's and the hotline's.
    let own = caller.has_any_role(APPLICANT_ROLES);
    let source = if r.source.is_empty() && own {
        "app"
    } else {
        r.source.as_str()
    };
    let door_ok = match source {
        "app" => own,
        "window_complaint" | "window_enterprise" => caller.has_role(roles::WINDOW_CLERK),
        "leader_mailbox" | "citizen_forum" | "hotline_12345" => caller.has_role(roles::SYSTEM),
        _ => false,
    };
    if !ticket::SOURCES.contains(&source) {
        v.add(
            "source",
            format!("must be one of {}", ticket::SOURCES.join(", ")),
        );
    } else if !door_ok {
        v.add(
            "source",
            "app is the citizen's own; window_* are registered by window clerks; leader_mailbox, citizen_forum and hotline_12345 by department systems",
        );
    }
    let on_behalf = source != "app";
    let contact_name = r.contact_name.trim();
    if on_behalf {
        if contact_name.is_empty() || contact_name.chars().count() > 100 {
            v.add(
                "contact_name",
                "is required for a ticket registered on a citizen's behalf (1 to 100 characters)",
            );
        }
        v.check("contact_phone", ids::check_mobile(r.contact_phone.trim()));
    } else if !contact_name.is_empty() || !r.contact_phone.is_empty() {
        v.add(
            "contact_name",
            "is only for tickets registered on a citizen's behalf",
        );
    }
    let about_staff = r.about_staff.trim();
    if !about_staff.is_empty() {
        if r.kind != "complaint" {
            v.add("about_staff", "names a staff member only in a complaint");
        } else {
            v.check("about_staff", ids::check_account(about_staff));
        }
    }
    v.into_result()?;
    let t = ticket::create(
        &api.pool,
        ticket::NewTicket {
            kind: &r.kind,
            source,
            subject,
            body,
            submitted_by: &caller.sub,
            registered_by: if on_behalf { &caller.sub } else { "" },
            contact_name,
            contact_phone_sealed: on_behalf
                .then(|| api.key.seal(r.contact_phone.trim(), AAD_TICKET_PHONE)),
            request_id: &r.request_id,
            about_staff,
        },
    )
    .await?;
    Ok(Response::new(api.ticket_to_pb(&caller, &t)))
}

pub(crate) async fn get_ticket(
    api: &CasesApi,
    req: Request<pb::GetTicketRequest>,
) -> Reply<pb::Ticket> {
    let caller = Caller::of(&req);
    caller.require_authenticated()?;
    let id = Uuid::parse_str(&req.get_ref().id)
        .map_err(|_| Error::invalid("id", "must be a ticket id (UUID)"))?;
    let t = ticket::get(&api.pool, id).await?;
    if !may_see_ticket(&caller, &t) {
        return Err(ticket::not_found(id).into());
    }
    Ok(Response::new(api.ticket_to_pb(&caller, &t)))
}

pub(crate) async fn list_tickets(
    api: &CasesApi,
    req: Request<pb::ListTicketsRequest>,
) -> Reply<pb::ListTicketsResponse> {
    let caller = Caller::of(&req);
    caller.require_authenticated()?;
    let r = req.into_inner();
    check_list_filters(&r)?;
    let scope = if caller.has_any_role(&[roles::SUPERVISOR]) {
        Scope::All
    } else if caller.has_any_role(STAFF_ROLES) && caller.dept.is_some() {
        Scope::Department(caller.dept.clone().unwrap_or_default())
    } else if caller.has_any_role(&[
        roles::CITIZEN,
        roles::ENTERPRISE,
        roles::WINDOW_CLERK,
        roles::SYSTEM,
    ]) {
        // Their own, and what they registered on citizens' behalf.
        Scope::Owner(caller.sub.clone())
    } else {
        return Err(Error::permission_denied(
            "listing tickets needs an applicant, staff or supervisor role",
        )
        .into());
    };
    let (list, next) = ticket::list(
        &api.pool,
        &scope,
        &r.state,
        &r.kind,
        r.page_size,
        &r.page_token,
    )
    .await?;
    Ok(Response::new(pb::ListTicketsResponse {
        tickets: list.iter().map(|t| api.ticket_to_pb(&caller, t)).collect(),
        next_page_token: next,
    }))
}

pub(crate) async fn dispatch_ticket(
    api: &CasesApi,
    req: Request<pb::TicketActionRequest>,
) -> Reply<pb::Ticket> {
    let caller = Caller::of(&req);
    caller.require_any_role(&[roles::SUPERVISOR])?;
    let r = req.into_inner();
    let id = parse_ticket_id(&r.id)?;
    let mut v = yiwang_kit::Violations::new();
    // One department (`department`) or several (`departments`, 分办).
    let mut departments: Vec<String> = r.departments.iter().map(|d| d.trim().to_string()).collect();
    if departments.is_empty() {
        departments.push(r.department.trim().to_string());
    } else if !r.department.trim().is_empty() {
        v.add("department", "give department or departments, not both");
    }
    if departments.len() > ticket::MAX_DEPARTMENTS {
        v.add(
            "departments",
            format!("at most {} departments", ticket::MAX_DEPARTMENTS),
        );
    }
    let field = if r.departments.is_empty() {
        |_: usize| "department".to_string()
    } else {
        |i: usize| format!("departments[{i}]")
    };
    for (i, d) in departments.iter().enumerate() {
        if d.is_empty() || d.chars().count() > 64 {
            v.add(
                field(i),
                "must be the org unit code of the department to answer",
            );
        } else if departments[..i].contains(d) {
            v.add(field(i), "is named twice");
        }
    }
    if !(1..=60).contains(&r.reply_working_days) {
        v.add("reply_working_days", "must be 1 to 60");
    }
    v.into_result()?;
    let deadline = api
        .calendar()
        .deadline(
            chrono::Utc::now(),
            Limit::new(r.reply_working_days, Unit::WorkingDays),
        )
        .map_err(compute_error)?;
    let t = ticket::advance(
        &api.pool,
        id,
        &caller.sub,
        Step::Dispatch {
            departments: &departments,
            deadline: deadline.at.to_utc(),
        },
        |_| Ok(()),
    )
    .await?;
    Ok(Response::new(api.ticket_to_pb(&caller, &t)))
}

pub(crate) async fn reply_ticket(
    api: &CasesApi,
    req: Request<pb::TicketActionRequest>,
) -> Reply<pb::Ticket> {
    let caller = Caller::of(&req);
    caller.require_authenticated()?;
    let r = req.into_inner();
    let id = parse_ticket_id(&r.id)?;
    let text = r.text.trim();
    if text.is_empty() || text.chars().count() > 5000 {
        return Err(Error::invalid("text", "must be the reply, 1 to 5000 characters").into());
    }
    let department = caller.dept.clone().unwrap_or_default();
    let t = ticket::advance(
        &api.pool,
        id,
        &caller.sub,
        Step::Reply {
            department: &department,
            text,
        },
        |t| {
            if t.assigned_to(&department) && is_staff_of(&caller, &department) {
                Ok(())
            } else if may_see_ticket(&caller, t) {
                Err(Error::permission_denied(format!(
                    "only staff of a department the ticket was dispatched to ({}) may reply",
                    t.assignments
                        .iter()
                        .map(|a| a.department.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            } else {
                Err(ticket::not_found(id))
            }
        },
    )
    .await?;
    Ok(Response::new(api.ticket_to_pb(&caller, &t)))
}

pub(crate) async fn transfer_ticket(
    api: &CasesApi,
    req: Request<pb::TicketActionRequest>,
) -> Reply<pb::Ticket> {
    let caller = Caller::of(&req);
    caller.require_any_role(&[roles::CLERK, roles::OFFICER, roles::SUPERVISOR])?;
    let r = req.into_inner();
    let id = parse_ticket_id(&r.id)?;
    let supervisor = caller.has_role(roles::SUPERVISOR);
    let from = if r.department.trim().is_empty() && !supervisor {
        caller.dept.clone().unwrap_or_default()
    } else {
        r.department.trim().to_string()
    };
    let to = r.to_department.trim();
    let note = r.text.trim();
    let mut v = yiwang_kit::Violations::new();
    if from.is_empty() {
        v.add("department", "is required: the department whose part moves");
    }
    if to.is_empty() || to.chars().count() > 64 {
        v.add(
            "to_department",
            "must be the org unit code of the department to answer",
        );
    } else if to == from {
        v.add("to_department", "is the part's department already");
    }
    if note.is_empty() || note.chars().count() > 2000 {
        v.add("text", "must say why (1 to 2000 characters)");
    }
    v.into_result()?;
    api.check_department(to).await?;
    let t = ticket::advance(
        &api.pool,
        id,
        &caller.sub,
        Step::Transfer {
            from: &from,
            to,
            note,
        },
        |t| {
            if supervisor || (t.assigned_to(&from) && is_staff_of(&caller, &from)) {
                Ok(())
            } else if may_see_ticket(&caller, t) {
                Err(Error::permission_denied(
                    "only the department holding the part (or a supervisor) may transfer it",
                ))
            } else {
                Err(ticket::not_found(id))
            }
        },
    )
    .await?;
    Ok(Response::new(api.ticket_to_pb(&caller, &t)))
}

pub(crate) async fn callback_ticket(
    api: &CasesApi,
    req: Request<pb::TicketActionRequest>,
) -> Reply<pb::Ticket> {
    let caller = Caller::of(&req);
    caller.require_any_role(&[roles::SUPERVISOR])?;
    let r = req.into_inner();
    let id = parse_ticket_id(&r.id)?;
    let note = r.text.trim();
    if note.is_empty() || note.chars().count() > 2000 {
        return Err(Error::invalid(
            "text",
            "must say what the submitter answered (1 to 2000 characters)",
        )
        .into());
    }
    let t = ticket::advance(
        &api.pool,
        id,
        &caller.sub,
        Step::Callback {
            note,
            satisfied: r.satisfied,
        },
        |_| Ok(()),
    )
    .await?;
    Ok(Response::new(api.ticket_to_pb(&caller, &t)))
}

pub(crate) async fn close_ticket(
    api: &CasesApi,
    req: Request<pb::TicketActionRequest>,
) -> Reply<pb::Ticket> {
    let caller = Caller::of(&req);
    caller.require_any_role(&[roles::SUPERVISOR])?;
    let r = req.into_inner();
    let id = parse_ticket_id(&r.id)?;
    let t = ticket::advance(
        &api.pool,
        id,
        &caller.sub,
        Step::Close(r.text.trim()),
        |_| Ok(()),
    )
    .await?;
    Ok(Response::new(api.ticket_to_pb(&caller, &t)))
}

pub(crate) async fn list_my_tickets(
    api: &CasesApi,
    req: Request<pb::ListTicketsRequest>,
) -> Reply<pb::ListTicketsResponse> {
    let caller = Caller::of(&req);
    caller.require_any_role(APPLICANT_ROLES)?;
    let r = req.into_inner();
    check_list_filters(&r)?;
    let (list, next) = ticket::list(
        &api.pool,
        &Scope::Owner(caller.sub.clone()),
        &r.state,
        &r.kind,
        r.page_size,
        &r.page_token,
    )
    .await?;
    Ok(Response::new(pb::ListTicketsResponse {
        tickets: list.iter().map(|t| api.ticket_to_pb(&caller, t)).collect(),
        next_page_token: next,
    }))
}

/// The filters of a ticket list (either list): an unknown state or kind is named, not ignored.
fn check_list_filters(r: &pb::ListTicketsRequest) -> Result<(), Error> {
    if !r.state.is_empty() && !ticket::STATES.contains(&r.state.as_str()) {
        return Err(Error::invalid(
            "state",
            format!("must be one of {}", ticket::STATES.join(", ")),
        ));
    }
    if !r.kind.is_empty() && !ticket::KINDS.contains(&r.kind.as_str()) {
        return Err(Error::invalid(
            "kind",
            format!("must be one of {}", ticket::KINDS.join(", ")),
        ));
    }
    Ok(())
}
