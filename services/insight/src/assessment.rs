//! The monthly assessment of window staff and windows (月度考核): each measure computed from the
//! platform's own records (the cases service's account of each person's month, the quality
//! checks' findings) and the bureau's manual scores, scored 0–100, weighted with the month's
//! weights (an administrator's, or the defaults) and ranked. A window's figures are the sums of
//! the figures of the staff posted there in the month.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};
use yiwang_kit::{Caller, Error, Result, Violations, ids, to_timestamp};
use yiwang_proto::cases::v1::StaffCaseStats;
use yiwang_proto::insight::v1 as pb;

use crate::period::Month;
use crate::sources::Sources;

/// The measures and their default weights (together 100).
pub const MEASURES: &[(&str, f64, &str)] = &[
    (
        "volume",
        10.0,
        "cases received, accepted and decided, against the month's busiest (100)",
    ),
    (
        "on_time",
        20.0,
        "decided by the deadline / decided with a deadline",
    ),
    (
        "satisfaction",
        15.0,
        "mean 好差评 level of their cases' evaluations, 1 → 0 and 5 → 100",
    ),
    ("bad_reviews", 10.0, "100 − 20 per 差评 (levels 1–2)"),
    (
        "complaints",
        10.0,
        "100 − 25 per 办不成事 complaint naming them",
    ),
    (
        "corrections",
        10.0,
        "一次性告知: 100 − 100 × correction requests per accepted case",
    ),
    (
        "speed",
        5.0,
        "mean working days from acceptance to decision, the month's fastest = 100",
    ),
    (
        "quality",
        10.0,
        "办件质量检查: 100 − 3 per minor and − 10 per major finding on their sampled cases",
    ),
    ("inspection", 5.0, "the bureau's inspection score (manual)"),
    ("attendance", 5.0, "attendance (manual)"),
];

pub const MANUAL_ITEMS: &[&str] = &["inspection", "attendance"];

fn default_weights() -> BTreeMap<String, f64> {
    MEASURES
        .iter()
        .map(|(m, w, _)| (m.to_string(), *w))
        .collect()
}

/// The month's weights: its own, or the defaults.
pub async fn weights(pool: &PgPool, month: Month) -> Result<pb::AssessmentWeights> {
    let row =
        sqlx::query("SELECT weights, set_by, set_at FROM assessment_weights WHERE month = $1")
            .bind(month.key())
            .fetch_optional(pool)
            .await?;
    Ok(match row {
        Some(r) => {
            let w: sqlx::types::Json<HashMap<String, f64>> = r.try_get("weights")?;
            let set_at: DateTime<Utc> = r.try_get("set_at")?;
            pb::AssessmentWeights {
                month: month.key(),
                weights: w.0,
                is_default: false,
                set_by: r.try_get("set_by")?,
                set_at: Some(to_timestamp(set_at)),
            }
        }
        None => pb::AssessmentWeights {
            month: month.key(),
            weights: default_weights().into_iter().collect(),
            is_default: true,
            set_by: String::new(),
            set_at: None,
        },
    })
}

pub async fn set_weights(
    pool: &PgPool,
    caller: &Caller,
    r: pb::SetAssessmentWeightsRequest,
) -> Result<pb::AssessmentWeights> {
    let month = Month::parse("month", &r.month)?;
    let mut v = Violations::new();
    let known: Vec<&str> = MEASURES.iter().map(|m| m.0).collect();
    let mut all: BTreeMap<String, f64> = known.iter().map(|m| (m.to_string(), 0.0)).collect();
    for (k, w) in &r.weights {
        if !known.contains(&k.as_str()) {
            v.add(
                "weights",
                format!(
                    "{} is not a measure; the measures are {}",
                    yiwang_kit::error::clip(k),
                    known.join(", ")
                ),
            );
        } else if !w.is_finite() || !(0.0..=100.0).contains(w) {
            v.add("weights", format!("{k} must weigh 0 to 100"));
        } else {
            all.insert(k.clone(), *w);
        }
    }
    let sum: f64 = all.values().sum();
    if v.is_empty() && (sum - 100.0).abs() > 0.001 {
        v.add(
            "weights",
            format!("must add up to 100 (they add up to {sum})"),
        );
    }
    v.into_result()?;
    sqlx::query(
        "INSERT INTO assessment_weights (month, weights, set_by) VALUES ($1, $2, $3)
         ON CONFLICT (month) DO UPDATE SET weights = $2, set_by = $3, set_at = now()",
    )
    .bind(month.key())
    .bind(sqlx::types::Json(&all))
    .bind(&caller.sub)
    .execute(pool)
    .await?;
    weights(pool, month).await
}

pub async fn record_manual_score(
    pool: &PgPool,
    caller: &Caller,
    r: pb::RecordManualScoreRequest,
) -> Result<pb::ManualScore> {
    let month = Month::parse("month", &r.month)?;
    let mut v = Violations::new();
    let account = r.account.trim();
    v.check("account", ids::check_account(account));
    v.one_of("item", r.item.trim(), MANUAL_ITEMS);
    if !r.score.is_finite() || !(0.0..=100.0).contains(&r.score) {
        v.add("score", "must be 0 to 100");
    }
    let note = v.text("note", &r.note, false, 1000);
    v.into_result()?;
    crate::staff::get(pool, account).await?;
    let row = sqlx::query(
        "INSERT INTO manual_scores (month, account, item, score, note, recorded_by) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (month, account, item) DO UPDATE SET score = $4, note = $5, recorded_by = $6, recorded_at = now()
         RETURNING recorded_at",
    )
    .bind(month.key())
    .bind(account)
    .bind(r.item.trim())
    .bind(r.score)
    .bind(&note)
    .bind(&caller.sub)
    .fetch_one(pool)
    .await?;
    let at: DateTime<Utc> = row.try_get("recorded_at")?;
    Ok(pb::ManualScore {
        month: month.key(),
        account: account.into(),
        item: r.item.trim().into(),
        score: r.score,
        note,
        recorded_by: caller.sub.clone(),
        recorded_at: Some(to_timestamp(at)),
    })
}

/// One row's raw figures before scoring.
#[derive(Default, Clone)]
struct Figures {
    cases: StaffCaseStats,
    manual: BTreeMap<String, Vec<f64>>,
    checked: u32,
    minor: u32,
    major: u32,
}

impl Figures {
    fn add(&mut self, o: &Figures) {
        let (a, b) = (&mut self.cases, &o.cases);
        a.received += b.received;
        a.accepted += b.accepted;
        a.decided += b.decided;
        a.decided_with_deadline += b.decided_with_deadline;
        a.decided_on_time += b.decided_on_time;
        a.corrections += b.corrections;
        a.evaluations += b.evaluations;
        a.evaluation_level_sum += b.evaluation_level_sum;
        a.bad_reviews += b.bad_reviews;
        a.complaints += b.complaints;
        a.handling_office_hours += b.handling_office_hours;
        for (k, v) in &o.manual {
            self.manual.entry(k.clone()).or_default().extend(v);
        }
        self.checked += o.checked;
        self.minor += o.minor;
        self.major += o.major;
    }

    fn volume(&self) -> u64 {
        self.cases.received + self.cases.accepted + self.cases.decided
    }

    /// Mean working days (7 office hours) from acceptance to decision.
    fn avg_days(&self) -> Option<f64> {
        (self.cases.decided > 0)
            .then(|| self.cases.handling_office_hours / 7.0 / self.cases.decided as f64)
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Scores every row 0–100 per measure, the weighted total and the rank.
fn score(rows: &mut [(pb::AssessmentRow, Figures)], weights: &HashMap<String, f64>) {
    let max_volume = rows.iter().map(|(_, f)| f.volume()).max().unwrap_or(0);
    let fastest = rows
        .iter()
        .filter_map(|(_, f)| f.avg_days())
        .fold(f64::INFINITY, f64::min);
    for (row, f) in rows.iter_mut() {
        let c = &f.cases;
        let mut s: BTreeMap<&str, f64> = BTreeMap::new();
        if max_volume > 0 {
            s.insert("volume", 100.0 * f.volume() as f64 / max_volume as f64);
        }
        if c.decided_with_deadline > 0 {
            s.insert(
                "on_time",
                100.0 * c.decided_on_time as f64 / c.decided_with_deadline as f64,
            );
        }
        if c.evaluations > 0 {
            let mean = c.evaluation_level_sum as f64 / c.evaluations as f64;
            s.insert("satisfaction", (mean - 1.0) / 4.0 * 100.0);
        }
        s.insert(
            "bad_reviews",
            (100.0 - 20.0 * c.bad_reviews as f64).max(0.0),
        );
        s.insert("complaints", (100.0 - 25.0 * c.complaints as f64).max(0.0));
        if c.accepted > 0 {
            s.insert(
                "corrections",
                (100.0 - 100.0 * c.corrections as f64 / c.accepted as f64).max(0.0),
            );
        }
        if let Some(d) = f.avg_days() {
            s.insert("speed", if d <= 0.0 { 100.0 } else { 100.0 * fastest / d });
        }
        if f.checked > 0 {
            s.insert(
                "quality",
                (100.0 - 3.0 * f.minor as f64 - 10.0 * f.major as f64).max(0.0),
            );
        }
        for item in MANUAL_ITEMS {
            if let Some(v) = f.manual.get(*item).filter(|v| !v.is_empty()) {
                let mean = v.iter().sum::<f64>() / v.len() as f64;
                s.insert(item, mean);
                row.manual.insert(item.to_string(), round2(mean));
            }
        }
        // Measures without data are left out; the weights of the rest count.
        let (mut total, mut weight) = (0.0, 0.0);
        for (m, v) in &s {
            let w = weights.get(*m).copied().unwrap_or(0.0);
            total += w * v;
            weight += w;
        }
        row.total = if weight > 0.0 {
            round2(total / weight)
        } else {
            0.0
        };
        row.scores = s.into_iter().map(|(k, v)| (k.into(), round2(v))).collect();
        row.received = c.received;
        row.accepted = c.accepted;
        row.decided = c.decided;
        row.on_time_rate =
            yiwang_kit::percent(c.decided_on_time as i64, c.decided_with_deadline as i64);
        row.evaluations = c.evaluations;
        row.mean_level = if c.evaluations > 0 {
            round2(c.evaluation_level_sum as f64 / c.evaluations as f64)
        } else {
            0.0
        };
        row.bad_reviews = c.bad_reviews;
        row.complaints = c.complaints;
        row.corrections_per_case = if c.accepted > 0 {
            round2(c.corrections as f64 / c.accepted as f64)
        } else {
            0.0
        };
        row.avg_handling_working_days = f.avg_days().map(round2).unwrap_or(0.0);
        row.quality_checked = f.checked;
        row.quality_minor = f.minor;
        row.quality_major = f.major;
    }
    rows.sort_by(|(a, _), (b, _)| {
        b.total
            .total_cmp(&a.total)
            .then_with(|| a.account.cmp(&b.account))
            .then_with(|| (&a.hall, &a.window).cmp(&(&b.hall, &b.window)))
    });
    // Equal totals share a rank (1, 2, 2, 4).
    let mut prev: Option<(f64, u32)> = None;
    for (i, (row, _)) in rows.iter_mut().enumerate() {
        let rank = match prev {
            Some((t, r)) if t == row.total => r,
            _ => i as u32 + 1,
        };
        row.rank = rank;
        prev = Some((row.total, rank));
    }
}

pub async fn compute(pool: &PgPool, sources: &Sources, month: Month) -> Result<pb::Assessment> {
    let weights = weights(pool, month).await?;
    let postings = crate::staff::postings_in(pool, month.first_day, month.end_day()).await?;
    // Staff: everyone active now or posted in the month.
    let rows = sqlx::query(
        "SELECT account, name FROM staff s
          WHERE active OR EXISTS (SELECT 1 FROM staff_postings p WHERE p.account = s.account
                                     AND p.from_date < $2 AND (p.to_date IS NULL OR p.to_date >= $1))
          ORDER BY account",
    )
    .bind(month.first_day)
    .bind(month.end_day())
    .fetch_all(pool)
    .await?;
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for r in &rows {
        names.insert(r.try_get("account")?, r.try_get("name")?);
    }
    let accounts: Vec<String> = names.keys().cloned().collect();
    let mut notes: Vec<String> = MEASURES
        .iter()
        .map(|(m, _, how)| format!("{m}: {how}"))
        .collect();
    notes.push(
        "a measure without data for a row (no decisions, no evaluations, no sampled case, no manual score) is left out of that row's total, whose weight is then the rest's".into(),
    );
    let mut figures: HashMap<String, Figures> = HashMap::new();
    for chunk in accounts.chunks(1000) {
        match sources
            .staff_case_stats(month.from(), month.to(), chunk.to_vec())
            .await
        {
            Ok(list) => {
                for c in list {
                    let account = c.staff.clone();
                    figures.entry(account).or_default().cases = c;
                }
            }
            Err(e) => {
                // Without the cases' figures a ranking would mislead: 503, retry.
                tracing::warn!(error = %e, "cases staff statistics unavailable");
                return Err(Error::dependency("cases service", "month", &e));
            }
        }
    }
    let manual = sqlx::query("SELECT account, item, score FROM manual_scores WHERE month = $1")
        .bind(month.key())
        .fetch_all(pool)
        .await?;
    for r in &manual {
        let account: String = r.try_get("account")?;
        figures
            .entry(account)
            .or_default()
            .manual
            .entry(r.try_get("item")?)
            .or_default()
            .push(r.try_get("score")?);
    }
    // Findings of the month's quality checks count for everyone who received, accepted or
    // decided the case.
    let findings = sqlx::query(
        "SELECT c.received_by, c.accepted_by, c.decided_by, c.finding
           FROM quality_check_cases c JOIN quality_checks q ON q.id = c.check_id
          WHERE q.month = $1 AND c.finding <> ''",
    )
    .bind(month.key())
    .fetch_all(pool)
    .await?;
    for r in &findings {
        let finding: String = r.try_get("finding")?;
        let mut people: Vec<String> = ["received_by", "accepted_by", "decided_by"]
            .iter()
            .filter_map(|c| r.try_get::<String, _>(*c).ok())
            .filter(|a| !a.is_empty())
            .collect();
        people.sort();
        people.dedup();
        for p in people {
            let f = figures.entry(p).or_default();
            f.checked += 1;
            match finding.as_str() {
                "minor" => f.minor += 1,
                "major" => f.major += 1,
                _ => {}
            }
        }
    }
    let mut staff_rows: Vec<(pb::AssessmentRow, Figures)> = accounts
        .iter()
        .map(|a| {
            let f = figures.get(a).cloned().unwrap_or_default();
            let current = postings.iter().rev().find(|(acc, _, _)| acc == a);
            (
                pb::AssessmentRow {
                    account: a.clone(),
                    name: names.get(a).cloned().unwrap_or_default(),
                    hall: current.map(|p| p.1.clone()).unwrap_or_default(),
                    window: current.map(|p| p.2.clone()).unwrap_or_default(),
                    ..Default::default()
                },
                f,
            )
        })
        .collect();
    // Windows: the sums of the staff who served there in the month.
    let mut windows: BTreeMap<(String, String), (Vec<String>, Figures)> = BTreeMap::new();
    for (account, hall, window) in &postings {
        let w = windows.entry((hall.clone(), window.clone())).or_default();
        w.0.push(account.clone());
        if let Some(f) = figures.get(account) {
            w.1.add(f);
        }
    }
    let mut window_rows: Vec<(pb::AssessmentRow, Figures)> = windows
        .into_iter()
        .map(|((hall, window), (members, f))| {
            (
                pb::AssessmentRow {
                    hall,
                    window,
                    members,
                    ..Default::default()
                },
                f,
            )
        })
        .collect();
    score(&mut staff_rows, &weights.weights);
    score(&mut window_rows, &weights.weights);
    let awards = crate::award::list(
        pool,
        pb::ListAwardsRequest {
            month: month.key(),
            kind: String::new(),
        },
    )
    .await?;
    Ok(pb::Assessment {
        month: month.key(),
        weights: Some(weights),
        staff: staff_rows.into_iter().map(|(r, _)| r).collect(),
        windows: window_rows.into_iter().map(|(r, _)| r).collect(),
        awards,
        notes,
    })
}

/// One staff member's view of the month: their row and their window's, nobody else's.
pub fn own(a: pb::Assessment, account: &str) -> pb::MyAssessment {
    let staff_ranked = a.staff.len() as u32;
    let windows_ranked = a.windows.len() as u32;
    let staff = a.staff.into_iter().find(|r| r.account == account);
    let window = staff.as_ref().and_then(|s| {
        a.windows
            .into_iter()
            .find(|w| w.hall == s.hall && w.window == s.window)
    });
    pb::MyAssessment {
        month: a.month,
        weights: a.weights,
        staff,
        window,
        staff_ranked,
        windows_ranked,
        notes: a.notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(account: &str, f: Figures) -> (pb::AssessmentRow, Figures) {
        (
            pb::AssessmentRow {
                account: account.into(),
                ..Default::default()
            },
            f,
        )
    }

    fn cases(decided: u64, on_time: u64, evaluations: u64, levels: u64) -> Figures {
        Figures {
            cases: StaffCaseStats {
                received: decided,
                accepted: decided,
                decided,
                decided_with_deadline: decided,
                decided_on_time: on_time,
                evaluations,
                evaluation_level_sum: levels,
                handling_office_hours: 7.0 * decided as f64,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn default_weights_add_up_to_100() {
        assert_eq!(default_weights().values().sum::<f64>(), 100.0);
    }

    #[test]
    fn scores_follow_the_weights_and_ranks_share_ties() {
        let weights: HashMap<String, f64> = default_weights().into_iter().collect();
        let mut complained = cases(10, 10, 4, 20);
        complained.cases.complaints = 2;
        let mut rows = vec![
            row("a", cases(10, 10, 4, 20)),
            row("b", cases(10, 5, 4, 20)),
            row("c", complained),
            row("d", cases(10, 10, 4, 20)),
        ];
        score(&mut rows, &weights);
        let order: Vec<(&str, u32)> = rows
            .iter()
            .map(|(r, _)| (r.account.as_str(), r.rank))
            .collect();
        assert_eq!(order, [("a", 1), ("d", 1), ("c", 3), ("b", 4)]);
        let a = &rows[0].0;
        assert_eq!(a.total, 100.0);
        assert_eq!(a.scores["on_time"], 100.0);
        assert_eq!(a.avg_handling_working_days, 1.0);
        // b: on time 50 % at weight 20 of the 80 that have data (no quality, no manual).
        let b = &rows.iter().find(|(r, _)| r.account == "b").unwrap().0;
        assert_eq!(b.on_time_rate, 50.0);
        assert_eq!(b.total, round2(100.0 - 50.0 * 20.0 / 80.0));
        // c: two complaints cost it half of that measure.
        let c = &rows.iter().find(|(r, _)| r.account == "c").unwrap().0;
        assert_eq!(c.scores["complaints"], 50.0);
    }

    #[test]
    fn a_measure_weighted_zero_does_not_count() {
        let mut weights: HashMap<String, f64> = default_weights().into_iter().collect();
        weights.insert("complaints".into(), 0.0);
        let mut complained = cases(10, 10, 4, 20);
        complained.cases.complaints = 4;
        let mut rows = vec![row("a", complained)];
        score(&mut rows, &weights);
        assert_eq!(rows[0].0.scores["complaints"], 0.0);
        assert_eq!(rows[0].0.total, 100.0);
    }
}
