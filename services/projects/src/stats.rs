//! Statistics of a year: projects reviewed, requested, approved, cut, saving rate, contract
//! savings and late projects, for the county and per department. Exact integer arithmetic in
//! fen (i128 while summing); rates in hundredths of a percent, rounded half up.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use yiwang_kit::{Error, Result};

use crate::model::Project;
use crate::money;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Figures {
    pub reviewed: u64,
    pub approved_projects: u64,
    pub rejected_projects: u64,
    pub requested_fen: i64,
    pub approved_fen: i64,
    pub cut_fen: i64,
    pub saving_rate_bp: i64,
    pub contract_savings_fen: i64,
    pub late: u64,
}

#[derive(Default)]
struct Acc {
    reviewed: u64,
    approved_projects: u64,
    rejected_projects: u64,
    requested: i128,
    approved: i128,
    savings: i128,
    late: u64,
}

impl Acc {
    fn add(&mut self, p: &Project, today: NaiveDate) {
        if p.state == "rejected" {
            self.reviewed += 1;
            self.rejected_projects += 1;
            return;
        }
        if !p.is_approved() {
            return;
        }
        self.reviewed += 1;
        self.approved_projects += 1;
        self.requested += p.requested_fen() as i128;
        self.approved += p.approved_fen() as i128;
        if let Some(pr) = &p.procurement {
            self.savings += (p.approved_fen() - pr.contract_amount_fen) as i128;
        }
        if let Some(planned) = p.planned_acceptance_date
            && planned < p.accepted_on().unwrap_or(today)
        {
            self.late += 1;
        }
    }

    fn figures(&self) -> Result<Figures> {
        let fit = |v: i128| {
            i64::try_from(v).map_err(|_| {
                Error::failed_precondition(
                    "TOTAL_OUT_OF_RANGE",
                    "the year's totals exceed the largest amount an int64 carries (9223372036854775807 fen)",
                )
            })
        };
        let requested = fit(self.requested)?;
        let approved = fit(self.approved)?;
        let cut = requested - approved;
        Ok(Figures {
            reviewed: self.reviewed,
            approved_projects: self.approved_projects,
            rejected_projects: self.rejected_projects,
            requested_fen: requested,
            approved_fen: approved,
            cut_fen: cut,
            saving_rate_bp: money::rate_bp(cut, requested),
            contract_savings_fen: fit(self.savings)?,
            late: self.late,
        })
    }
}

/// County (or single-department) figures and per-department figures.
pub fn compute(
    projects: &[Project],
    today: NaiveDate,
) -> Result<(Figures, Vec<(String, Figures)>)> {
    let mut total = Acc::default();
    let mut by: BTreeMap<&str, Acc> = BTreeMap::new();
    for p in projects {
        total.add(p, today);
        by.entry(p.department.as_str()).or_default().add(p, today);
    }
    let departments = by
        .into_iter()
        .filter(|(_, a)| a.reviewed > 0)
        .map(|(d, a)| Ok((d.to_string(), a.figures()?)))
        .collect::<Result<_>>()?;
    Ok((total.figures()?, departments))
}
