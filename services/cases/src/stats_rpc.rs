//! The statistics RPC: a department's figures or the county's; the SQL is in `stats`.

use tonic::{Request, Response, Status};
use yiwang_kit::auth::roles;
use yiwang_kit::{Caller, Error, from_timestamp, to_timestamp};
use yiwang_proto::cases::v1 as pb;

use crate::api::*;
use crate::case_counts::Scope;
use crate::stats;

type Reply<T> = Result<Response<T>, Status>;

pub(crate) async fn get_case_stats(
    api: &CasesApi,
    req: Request<pb::GetCaseStatsRequest>,
) -> Reply<pb::CaseStats> {
    let caller = Caller::of(&req);
    caller.require_any_role(&[
        roles::SUPERVISOR,
        roles::SYSTEM,
        roles::CLERK,
        roles::OFFICER,
    ])?;
    let r = req.into_inner();
    // Staff see their department's figures; oversight everyone's or one county's.
    let scope = if caller.has_any_role(OVERSIGHT_ROLES) {
        match r.region.as_str() {
            "" => Scope::All,
            code if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) => {
                Scope::Region(code.to_string())
            }
            _ => return Err(Error::invalid("region", "must be a six-digit region code").into()),
        }
    } else if !r.region.is_empty() {
        return Err(Error::permission_denied(
            "staff see their own department's statistics; region is for oversight roles",
        )
        .into());
    } else {
        Scope::Department(caller.dept.clone().ok_or_else(|| {
            Error::permission_denied("staff statistics need a department (dept) in the token")
        })?)
    };
    let from = from_timestamp(
        "from",
        r.from
            .as_ref()
            .ok_or_else(|| Error::invalid("from", "is required"))?,
    )?;
    let to = from_timestamp(
        "to",
        r.to.as_ref()
            .ok_or_else(|| Error::invalid("to", "is required"))?,
    )?;
    if to <= from {
        return Err(Error::invalid("to", "must be after from").into());
    }
    if to - from > chrono::Duration::days(3660) {
        return Err(Error::invalid("to", "the period can be at most ten years").into());
    }
    let pool = api.reads.for_caller(&caller.sub).await;
    let st = stats::compute(pool, &api.calendar(), &scope, from, to).await?;
    Ok(Response::new(pb::CaseStats {
        filed: st.filed,
        by_channel: st.by_channel,
        by_department: st.by_department,
        by_state: st.by_state,
        top_items: st
            .top_items
            .into_iter()
            .map(|(item_code, item_name, count)| pb::ItemCount {
                item_code,
                item_name,
                count,
            })
            .collect(),
        online_share: st.online_share,
        decided: st.decided,
        on_time_rate: st.on_time_rate,
        avg_handling_working_days: st.avg_handling_working_days,
        evaluations: st.evaluations,
        good_rate: st.good_rate,
        mean_level: st.mean_level,
        rectifications: st.rectifications,
        rectified_rate: st.rectified_rate,
        callback_rate: st.callback_rate,
        tickets: st.tickets,
        dispatch_rate: st.dispatch_rate,
        reply_rate: st.reply_rate,
        on_time_reply_rate: st.on_time_reply_rate,
        closure_rate: st.closure_rate,
        routed: st.routed,
        cross_province: st.cross_province.clone(),
        free_mailings: st.free_mailings,
        weekend_appointments: st.weekend_appointments,
        by_month: st
            .by_month
            .into_iter()
            .map(|(month, by_channel)| pb::MonthChannels { month, by_channel })
            .collect(),
        departments: st
            .departments
            .into_iter()
            .map(|d| pb::DepartmentCaseStats {
                department: d.department,
                filed: d.filed,
                online: d.online,
                online_share: d.online_share,
                items_with_cases: d.items_with_cases,
                decided: d.decided,
                on_time_rate: d.on_time_rate,
                evaluations: d.evaluations,
                good_rate: d.good_rate,
                rectifications: d.rectifications,
            })
            .collect(),
        tickets_by_source: st
            .tickets_by_source
            .iter()
            .map(|(k, t)| {
                (
                    k.clone(),
                    pb::TicketRates {
                        submitted: t.submitted,
                        dispatch_rate: t.dispatch_rate,
                        reply_rate: t.reply_rate,
                        closure_rate: t.closure_rate,
                        callback_rate: t.callback_rate,
                        satisfaction_rate: t.satisfaction_rate,
                    },
                )
            })
            .collect(),
        department: match scope {
            Scope::Department(d) => d,
            _ => String::new(),
        },
        from: Some(to_timestamp(from)),
        to: Some(to_timestamp(to)),
    }))
}
