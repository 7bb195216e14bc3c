//! The department scorecard: one row per department over a period, each figure from its own
//! service's statistics — the catalogue's items, the cases service's per-department figures,
//! supervision's per-department stats, the projects of the period's year, the security
//! incidents per unit — and the county's row: the sum of the departments' where the measure adds
//! up, the county's own rate where it does not (a rate is never averaged).

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};
use futures::StreamExt;
use yiwang_kit::{Error, Result};
use yiwang_proto::insight::v1 as pb;

use crate::period::beijing;
use crate::sources::{Sources, failed};

/// Supervision statistics fetched at once, one per department.
const SUPERVISION_CONCURRENCY: usize = 8;

fn row(department: &str, name: &str) -> pb::ScorecardRow {
    pb::ScorecardRow {
        department: department.into(),
        name: name.into(),
        ..Default::default()
    }
}

pub async fn compute(
    sources: &Sources,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<pb::Scorecard> {
    if to <= from {
        return Err(Error::invalid("to", "must be after from"));
    }
    if to - from > chrono::Duration::days(3700) {
        return Err(Error::invalid("from", "the period is at most ten years"));
    }
    let year = from.with_timezone(&beijing()).year();
    let mut notes = vec![
        "Rates are percentages rounded half up to two decimals; the county's rates are its own, never an average of the departments'.".to_string(),
        format!("Projects are those of {year}, the year the period begins in."),
    ];
    let (units, catalog, cases, projects, alerts, county_supervision) = tokio::join!(
        sources.org_units("department"),
        sources.catalog_stats(),
        sources.case_stats(from, to),
        sources.project_stats(year),
        sources.alert_stats(from, to),
        sources.supervision_stats("", from, to),
    );
    let units = units.map_err(|e| {
        Error::unavailable(format!(
            "the catalogue's departments are needed for the scorecard: {}",
            e.message()
        ))
    })?;
    let mut rows: BTreeMap<String, pb::ScorecardRow> = units
        .iter()
        .map(|u| (u.code.clone(), row(&u.code, &u.name)))
        .collect();
    let mut county = row("", "全县");
    // Items and cases of units that are not county departments (towns' and villages' own
    // items) get rows of their own, so the rows add up to the county.
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    fn unit<'a>(
        rows: &'a mut BTreeMap<String, pb::ScorecardRow>,
        names: &BTreeMap<String, String>,
        code: &str,
    ) -> &'a mut pb::ScorecardRow {
        rows.entry(code.to_string())
            .or_insert_with(|| row(code, names.get(code).map(String::as_str).unwrap_or(code)))
    }

    match catalog {
        Ok(c) => {
            for d in &c.by_department {
                names.insert(d.key.clone(), d.name.clone());
                unit(&mut rows, &names, &d.key).items_published = d.count;
            }
            for d in &c.departments {
                names.insert(d.department.clone(), d.name.clone());
                let r = unit(&mut rows, &names, &d.department);
                r.items = d.items;
                r.items_province_list = d.province_list;
                r.items_city_list = d.city_list;
                r.items_suspended = d.suspended;
                county.items += d.items;
                county.items_province_list += d.province_list;
                county.items_city_list += d.city_list;
                county.items_suspended += d.suspended;
            }
            county.items_published = c.published_items;
        }
        Err(e) => notes.push(failed("catalog.GetCatalogStats", &e)),
    }
    match cases {
        Ok(c) => {
            for d in &c.departments {
                {
                    let r = unit(&mut rows, &names, &d.department);
                    r.cases_filed = d.filed;
                    r.online_share = d.online_share;
                    r.items_with_cases = d.items_with_cases;
                    r.on_time_rate = d.on_time_rate;
                    r.good_rate = d.good_rate;
                    r.evaluations = d.evaluations;
                    r.rectifications = d.rectifications;
                }
            }
            county.cases_filed = c.filed;
            county.online_share = c.online_share;
            county.on_time_rate = c.on_time_rate;
            county.good_rate = c.good_rate;
            county.evaluations = c.evaluations;
            county.rectifications = c.rectifications;
            county.items_with_cases = c.departments.iter().map(|d| d.items_with_cases).sum();
        }
        Err(e) => notes.push(failed("cases.GetCaseStats", &e)),
    }
    for r in rows.values_mut().chain(std::iter::once(&mut county)) {
        r.case_coverage = yiwang_kit::percent(r.items_with_cases as i64, r.items_published);
    }
    match projects {
        Ok(p) => {
            for d in &p.by_department {
                {
                    let r = unit(&mut rows, &names, &d.department);
                    r.projects_requested_fen = d.requested_fen;
                    r.projects_approved_fen = d.approved_fen;
                    r.projects_cut_fen = d.cut_fen;
                    r.projects_saving_rate = d.saving_rate;
                    r.projects_late = d.late;
                }
            }
            county.projects_requested_fen = p.requested_fen;
            county.projects_approved_fen = p.approved_fen;
            county.projects_cut_fen = p.cut_fen;
            county.projects_saving_rate = p.saving_rate;
            county.projects_late = p.late;
        }
        Err(e) => notes.push(failed("projects.GetProjectStats", &e)),
    }
    match alerts {
        Ok(a) => {
            let period = a.period.unwrap_or_default();
            for c in &period.incidents_by_unit {
                if let Some(r) = rows.get_mut(&c.key) {
                    r.incidents = c.count;
                }
            }
            county.incidents = period.incidents;
            for u in &period.units {
                if let Some(r) = rows.get_mut(&u.unit) {
                    r.incidents_high = u.incidents_high;
                    r.incidents_medium = u.incidents_medium;
                    r.incidents_low = u.incidents_low;
                    r.notices = u.notices_issued;
                    r.notices_on_time_rate = u.on_time_rate;
                }
            }
            let severity = |k: &str| {
                period
                    .incidents_by_severity
                    .iter()
                    .filter(|c| c.key == k)
                    .map(|c| c.count)
                    .sum::<u64>()
            };
            county.incidents_high = severity("high");
            county.incidents_medium = severity("medium");
            county.incidents_low = severity("low");
            county.notices = period.notices_issued;
            county.notices_on_time_rate = period.on_time_rate;
            let unattributed = period
                .incidents_by_unit
                .iter()
                .filter(|c| !rows.contains_key(&c.key))
                .map(|c| c.count)
                .sum::<u64>();
            if unattributed > 0 {
                notes.push(format!(
                    "{unattributed} security incident(s) were on hosts of no department (unregistered addresses or other units); they count in the county's row only."
                ));
            }
        }
        Err(e) => notes.push(failed("alerts.GetAlertStats", &e)),
    }
    match county_supervision {
        Ok(s) => {
            county.claim_rate = s.claim_rate;
            county.list_rate = s.list_rate;
            county.supervision_coverage = s.coverage;
            county.inspections = s.inspections;
        }
        Err(e) => notes.push(failed("supervision.GetStats", &e)),
    }
    let codes: Vec<String> = rows.keys().cloned().collect();
    let per_department: Vec<(String, _)> = futures::stream::iter(codes)
        .map(|code| async move {
            let s = sources.supervision_stats(&code, from, to).await;
            (code, s)
        })
        .buffer_unordered(SUPERVISION_CONCURRENCY)
        .collect()
        .await;
    let mut supervision_failed = 0;
    for (code, s) in per_department {
        match (s, rows.get_mut(&code)) {
            (Ok(s), Some(r)) => {
                r.claim_rate = s.claim_rate;
                r.list_rate = s.list_rate;
                r.supervision_coverage = s.coverage;
                r.inspections = s.inspections;
            }
            (Err(_), _) => supervision_failed += 1,
            _ => {}
        }
    }
    if supervision_failed > 0 {
        notes.push(format!(
            "supervision.GetStats did not answer for {supervision_failed} department(s); their supervision figures are left out"
        ));
    }
    Ok(pb::Scorecard {
        from: Some(yiwang_kit::to_timestamp(from)),
        to: Some(yiwang_kit::to_timestamp(to)),
        departments: rows.into_values().collect(),
        county: Some(county),
        notes,
    })
}
