//! The 好差评 RPCs: evaluations of decided cases and the rectifications a 差评 opens, completed and called back; rules and SQL are in `evaluation`.

use chrono::SecondsFormat;
use tonic::{Request, Response, Status};
use uuid::Uuid;
use yiwang_kit::{Caller, Error, to_timestamp};
use yiwang_proto::cases::v1 as pb;

use crate::api::*;
use crate::calendar::SHANGHAI;
use crate::case_store::{self, Scope};
use crate::evaluation::{self, NewEvaluation, RectificationRow};

type Reply<T> = Result<Response<T>, Status>;

pub(crate) async fn evaluate_case(
    api: &CasesApi,
    req: Request<pb::EvaluateCaseRequest>,
) -> Reply<pb::Evaluation> {
    let caller = Caller::of(&req);
    caller.require_authenticated()?;
    let r = req.into_inner();
    let id = parse_id(&r.case_id)?;
    let mut v = yiwang_kit::Violations::new();
    if !(1..=5).contains(&r.level) {
        v.add("level", "must be 1 (非常不满意) to 5 (非常满意)");
    }
    if r.dimensions.len() > 10 {
        v.add("dimensions", "must have at most 10 entries");
    }
    for (k, val) in &r.dimensions {
        if k.trim().is_empty() || k.chars().count() > 30 {
            v.add(
                format!("dimensions.{k}"),
                "names must be 1 to 30 characters",
            );
        }
        if !(1..=5).contains(val) {
            v.add(format!("dimensions.{k}"), "must be 1 to 5");
        }
    }
    if r.comment.chars().count() > 1000 {
        v.add("comment", "must be at most 1000 characters");
    }
    v.into_result()?;
    let c = case_store::get(&api.pool, id).await?;
    if c.owner_sub.is_empty() || c.owner_sub != caller.sub {
        // Only the applicant evaluates; to anyone else who cannot see the case it does not exist.
        return Err(match view_of(&caller, &c) {
            Some(_) => Error::permission_denied("only the applicant may evaluate a case"),
            None => case_store::not_found(id),
        }
        .into());
    }
    let dimensions = serde_json::to_value(&r.dimensions).map_err(Error::internal)?;
    let e = evaluation::evaluate(
        &api.pool,
        &api.calendar(),
        &c,
        NewEvaluation {
            level: r.level as i32,
            dimensions,
            comment: r.comment.trim().to_string(),
            evaluator: caller.sub.clone(),
        },
        api.rectify_working_days,
    )
    .await?;
    Ok(Response::new(pb::Evaluation {
        id: e.id.to_string(),
        case_id: e.case_id.to_string(),
        case_number: c.case_number.clone(),
        level: e.level as u32,
        dimensions: r.dimensions,
        comment: e.comment,
        created_at: Some(to_timestamp(e.created_at)),
        rectification_id: e
            .rectification_id
            .map(|i| i.to_string())
            .unwrap_or_default(),
    }))
}

pub(crate) async fn list_rectifications(
    api: &CasesApi,
    req: Request<pb::ListRectificationsRequest>,
) -> Reply<pb::ListRectificationsResponse> {
    let caller = Caller::of(&req);
    caller.require_authenticated()?;
    let r = req.into_inner();
    if !["", "open", "completed", "called_back"].contains(&r.state.as_str()) {
        return Err(Error::invalid("state", "must be open, completed or called_back").into());
    }
    let scope = if caller.has_any_role(STAFF_ROLES) && caller.dept.is_some() {
        Scope::Department(caller.dept.clone().unwrap_or_default())
    } else if caller.has_any_role(OVERSIGHT_ROLES) {
        Scope::All
    } else {
        return Err(Error::permission_denied(
            "rectifications are for department staff and oversight",
        )
        .into());
    };
    let (list, next) =
        evaluation::list_rectifications(&api.pool, &scope, &r.state, r.page_size, &r.page_token)
            .await?;
    Ok(Response::new(pb::ListRectificationsResponse {
        rectifications: list.iter().map(|r| rect_to_pb(r)).collect(),
        next_page_token: next,
    }))
}

pub(crate) async fn complete_rectification(
    api: &CasesApi,
    req: Request<pb::RectificationActionRequest>,
) -> Reply<pb::Rectification> {
    advance_rectification(api, req, false).await
}

pub(crate) async fn callback_rectification(
    api: &CasesApi,
    req: Request<pb::RectificationActionRequest>,
) -> Reply<pb::Rectification> {
    advance_rectification(api, req, true).await
}

fn rect_to_pb(r: &RectificationRow) -> pb::Rectification {
    pb::Rectification {
        id: r.id.to_string(),
        case_id: r.case_id.to_string(),
        case_number: r.case_number.clone(),
        department: r.department.clone(),
        level: r.level as u32,
        comment: r.comment.clone(),
        state: r.state.clone(),
        deadline_time: Some(to_timestamp(r.deadline)),
        deadline: r
            .deadline
            .with_timezone(&SHANGHAI)
            .to_rfc3339_opts(SecondsFormat::Secs, false),
        overdue: r.state == "open" && r.deadline < chrono::Utc::now(),
        completion_note: r.completion_note.clone(),
        completed_at: r.completed_at.map(to_timestamp),
        callback_note: r.callback_note.clone(),
        callback_satisfied: r.callback_satisfied,
        called_back_at: r.called_back_at.map(to_timestamp),
        created_at: Some(to_timestamp(r.created_at)),
    }
}

async fn advance_rectification(
    api: &CasesApi,
    req: Request<pb::RectificationActionRequest>,
    callback: bool,
) -> Reply<pb::Rectification> {
    let caller = Caller::of(&req);
    caller.require_authenticated()?;
    let r = req.into_inner();
    let id = Uuid::parse_str(&r.id)
        .map_err(|_| Error::invalid("id", "must be a rectification id (UUID)"))?;
    let note = r.note.trim();
    if note.is_empty() || note.chars().count() > 2000 {
        return Err(Error::invalid(
            "note",
            if callback {
                "must say what the applicant answered (1 to 2000 characters)"
            } else {
                "must say what was put right (1 to 2000 characters)"
            },
        )
        .into());
    }
    let row = evaluation::advance(
        &api.pool,
        id,
        callback,
        &caller.sub,
        note,
        r.satisfied,
        |dept| {
            if is_staff_of(&caller, dept) {
                Ok(())
            } else if caller.has_any_role(OVERSIGHT_ROLES) {
                Err(Error::permission_denied(format!(
                    "only staff of {dept} may do this"
                )))
            } else {
                Err(evaluation::rect_not_found(id))
            }
        },
    )
    .await?;
    Ok(Response::new(rect_to_pb(&row)))
}
