//! What the bureau's monthly assessment takes from the cases: each staff account's work over a
//! period (from the case history, by actor) and a reproducible sample of decided cases for the
//! 办件质量检查. Oversight only (the bureau and its insight service).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};
use tonic::{Request, Response, Status};
use uuid::Uuid;
use yiwang_kit::{Caller, Error, Violations, from_timestamp, ids, to_timestamp};
use yiwang_proto::cases::v1 as pb;

use crate::api::{CasesApi, OVERSIGHT_ROLES};
use crate::calendar::Calendar;

type Reply<T> = Result<Response<T>, Status>;

/// At most this many accounts per call.
const MAX_STAFF: usize = 1000;
/// At most this many cases per sample.
const MAX_SAMPLE: u32 = 500;

pub const SAMPLE_METHOD: &str = "the cases decided in [from, to), ordered by decision time and then \
case id, drawn without replacement by a partial Fisher–Yates shuffle driven by SplitMix64 seeded \
with `seed` (draw i swaps position i with i + next() mod (population − i))";

fn period(
    v: &mut Violations,
    from: &Option<prost_types::Timestamp>,
    to: &Option<prost_types::Timestamp>,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let mut at = |field: &str, t: &Option<prost_types::Timestamp>| match t {
        None => {
            v.add(field, "is required");
            None
        }
        Some(t) => match from_timestamp(field, t) {
            Ok(t) => Some(t),
            Err(e) => {
                v.add(field, e.message);
                None
            }
        },
    };
    let (from, to) = (at("from", from), at("to", to));
    let (from, to) = (from?, to?);
    if from >= to {
        v.add("to", "must be after from");
        return None;
    }
    Some((from, to))
}

pub(crate) async fn get_staff_case_stats(
    api: &CasesApi,
    req: Request<pb::GetStaffCaseStatsRequest>,
) -> Reply<pb::GetStaffCaseStatsResponse> {
    let caller = Caller::of(&req);
    caller.require_any_role(OVERSIGHT_ROLES)?;
    let r = req.into_inner();
    let mut v = Violations::new();
    let range = period(&mut v, &r.from, &r.to);
    if r.staff.is_empty() || r.staff.len() > MAX_STAFF {
        v.add("staff", format!("must name 1 to {MAX_STAFF} accounts"));
    }
    for s in &r.staff {
        if let Err(e) = ids::check_account(s) {
            v.add("staff", e);
            break;
        }
    }
    v.into_result()?;
    let (from, to) = range.ok_or_else(|| Error::invalid("from", "is required"))?;
    let pool = api.reads.for_caller(&caller.sub).await;
    let staff = compute(pool, &api.calendar(), &r.staff, from, to).await?;
    Ok(Response::new(pb::GetStaffCaseStatsResponse { staff }))
}

/// Each account's figures, in the order asked (an account that did nothing has zeros).
pub async fn compute(
    pool: &PgPool,
    calendar: &Calendar,
    staff: &[String],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<pb::StaffCaseStats>, Error> {
    let mut by: HashMap<&str, pb::StaffCaseStats> = staff
        .iter()
        .map(|s| {
            (
                s.as_str(),
                pb::StaffCaseStats {
                    staff: s.clone(),
                    ..Default::default()
                },
            )
        })
        .collect();
    let rows = sqlx::query(
        "SELECT actor,
                count(*) FILTER (WHERE action = 'file') AS received,
                count(*) FILTER (WHERE action = 'accept') AS accepted,
                count(*) FILTER (WHERE action = 'request_correction') AS corrections
           FROM case_transitions
          WHERE actor = ANY($1) AND at >= $2 AND at < $3
          GROUP BY actor",
    )
    .bind(staff)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    for r in rows {
        let actor: String = r.try_get("actor")?;
        if let Some(s) = by.get_mut(actor.as_str()) {
            s.received = r.try_get::<i64, _>("received")? as u64;
            s.accepted = r.try_get::<i64, _>("accepted")? as u64;
            s.corrections = r.try_get::<i64, _>("corrections")? as u64;
        }
    }
    // Decisions: on time against the case's deadline, office time from its acceptance.
    let rows = sqlx::query(
        "SELECT t.actor, c.accepted_at, t.at AS decided_at, c.deadline
           FROM case_transitions t JOIN cases c ON c.id = t.case_id
          WHERE t.actor = ANY($1) AND t.at >= $2 AND t.at < $3 AND t.action = 'decide'",
    )
    .bind(staff)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    for r in rows {
        let actor: String = r.try_get("actor")?;
        let Some(s) = by.get_mut(actor.as_str()) else {
            continue;
        };
        let accepted: Option<DateTime<Utc>> = r.try_get("accepted_at")?;
        let decided: DateTime<Utc> = r.try_get("decided_at")?;
        let deadline: Option<DateTime<Utc>> = r.try_get("deadline")?;
        s.decided += 1;
        if let Some(d) = deadline {
            s.decided_with_deadline += 1;
            if decided <= d {
                s.decided_on_time += 1;
            }
        }
        if let Some(a) = accepted
            && let Ok(t) = calendar.office_time_between(a, decided)
        {
            s.handling_office_hours += t.duration.num_seconds() as f64 / 3600.0;
        }
    }
    let rows = sqlx::query(
        "SELECT x.actor, count(*) AS n, coalesce(sum(e.level), 0)::int8 AS levels,
                count(*) FILTER (WHERE e.level <= 2) AS bad
           FROM evaluations e
           JOIN (SELECT DISTINCT actor, case_id FROM case_transitions
                  WHERE actor = ANY($1) AND action IN ('file', 'accept', 'decide')) x ON x.case_id = e.case_id
          WHERE e.created_at >= $2 AND e.created_at < $3
          GROUP BY x.actor",
    )
    .bind(staff)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    for r in rows {
        let actor: String = r.try_get("actor")?;
        if let Some(s) = by.get_mut(actor.as_str()) {
            s.evaluations = r.try_get::<i64, _>("n")? as u64;
            s.evaluation_level_sum = r.try_get::<i64, _>("levels")? as u64;
            s.bad_reviews = r.try_get::<i64, _>("bad")? as u64;
        }
    }
    let rows = sqlx::query(
        "SELECT about_staff, count(*) AS n FROM tickets
          WHERE about_staff = ANY($1) AND created_at >= $2 AND created_at < $3
          GROUP BY about_staff",
    )
    .bind(staff)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    for r in rows {
        let about: String = r.try_get("about_staff")?;
        if let Some(s) = by.get_mut(about.as_str()) {
            s.complaints = r.try_get::<i64, _>("n")? as u64;
        }
    }
    Ok(staff.iter().filter_map(|s| by.remove(s.as_str())).collect())
}

pub(crate) async fn sample_decided_cases(
    api: &CasesApi,
    req: Request<pb::SampleDecidedCasesRequest>,
) -> Reply<pb::SampleDecidedCasesResponse> {
    Caller::of(&req).require_any_role(OVERSIGHT_ROLES)?;
    let r = req.into_inner();
    let mut v = Violations::new();
    let range = period(&mut v, &r.from, &r.to);
    if r.size == 0 || r.size > MAX_SAMPLE {
        v.add("size", format!("must be 1 to {MAX_SAMPLE}"));
    }
    v.into_result()?;
    let (from, to) = range.ok_or_else(|| Error::invalid("from", "is required"))?;
    Ok(Response::new(
        sample(&api.pool, from, to, r.seed, r.size as usize).await?,
    ))
}

/// The drawn positions of `size` out of `population` for `seed` ([`SAMPLE_METHOD`]).
pub fn draw(population: usize, seed: u64, size: usize) -> Vec<usize> {
    let mut rng = yiwang_kit::demo_rng::SplitMix64::new(seed);
    let mut order: Vec<usize> = (0..population).collect();
    let k = size.min(population);
    for i in 0..k {
        let j = i + rng.below((population - i) as u64) as usize;
        order.swap(i, j);
    }
    order.truncate(k);
    order
}

pub async fn sample(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    seed: u64,
    size: usize,
) -> Result<pb::SampleDecidedCasesResponse, Error> {
    let population: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM cases WHERE decided_at >= $1 AND decided_at < $2 ORDER BY decided_at, id",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let chosen: Vec<Uuid> = draw(population.len(), seed, size)
        .into_iter()
        .map(|i| population[i])
        .collect();
    let rows = sqlx::query(
        "SELECT c.id, c.case_number, c.department, c.item_code, c.item_name, c.state, c.decided_at,
                coalesce((SELECT actor FROM case_transitions t WHERE t.case_id = c.id AND t.action = 'file'
                           AND c.owner_sub = '' ORDER BY t.id LIMIT 1), '') AS received_by,
                coalesce((SELECT actor FROM case_transitions t WHERE t.case_id = c.id AND t.action = 'accept'
                           ORDER BY t.id LIMIT 1), '') AS accepted_by,
                coalesce((SELECT actor FROM case_transitions t WHERE t.case_id = c.id AND t.action = 'decide'
                           ORDER BY t.id DESC LIMIT 1), '') AS decided_by
           FROM cases c WHERE c.id = ANY($1)",
    )
    .bind(&chosen)
    .fetch_all(pool)
    .await?;
    let mut by_id: HashMap<Uuid, pb::SampledCase> = HashMap::with_capacity(rows.len());
    for r in rows {
        let id: Uuid = r.try_get("id")?;
        let decided_at: Option<DateTime<Utc>> = r.try_get("decided_at")?;
        by_id.insert(
            id,
            pb::SampledCase {
                case_id: id.to_string(),
                case_number: r.try_get("case_number")?,
                department: r.try_get("department")?,
                item_code: r.try_get("item_code")?,
                item_name: r.try_get("item_name")?,
                state: r.try_get("state")?,
                decided_at: decided_at.map(to_timestamp),
                received_by: r.try_get("received_by")?,
                accepted_by: r.try_get("accepted_by")?,
                decided_by: r.try_get("decided_by")?,
            },
        );
    }
    Ok(pb::SampleDecidedCasesResponse {
        population: population.len() as u64,
        cases: chosen.iter().filter_map(|id| by_id.remove(id)).collect(),
        method: SAMPLE_METHOD.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::draw;

    #[test]
    fn a_draw_is_reproducible_without_repeats_and_depends_on_the_seed() {
        let a = draw(1000, 42, 50);
        assert_eq!(a, draw(1000, 42, 50));
        assert_ne!(a, draw(1000, 43, 50));
        let mut sorted = a.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 50);
        assert!(a.iter().all(|i| *i < 1000));
        // Asked for more than there are: every one, once.
        let mut all = draw(7, 1, 50);
        all.sort();
        assert_eq!(all, (0..7).collect::<Vec<_>>());
    }
}
