//! A project as one document: the proposal, the panel and its reviews, the decision and the
//! stages after it. Stored whole (JSON) and changed only under a row lock.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use yiwang_kit::Error;

pub const STATES: &[&str] = &[
    "draft",
    "submitted",
    "under_review",
    "approved",
    "rejected",
    "contracted",
    "under_construction",
    "accepted",
    "evaluated",
];

/// States of a project that was approved (and everything after approval).
pub const APPROVED_STATES: &[&str] = &[
    "approved",
    "contracted",
    "under_construction",
    "accepted",
    "evaluated",
];

pub const CATEGORIES: &[&str] = &[
    "new_system",
    "upgrade",
    "operation_maintenance",
    "cloud_resources",
    "security",
];

pub const LINE_CATEGORIES: &[&str] = &[
    "hardware",
    "software",
    "development",
    "system_integration",
    "cloud_services",
    "security",
    "operation_maintenance",
    "consulting",
    "training",
    "other",
];

pub const METHODS: &[&str] = &[
    "public_tender",
    "invited_tender",
    "competitive_negotiation",
    "competitive_consultation",
    "single_source",
    "inquiry",
];

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Line {
    pub category: String,
    pub amount_fen: i64,
    pub justification: String,
    /// Set by the decision.
    #[serde(default)]
    pub approved_fen: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Expert {
    pub id: String,
    pub name: String,
    pub department: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Criterion {
    pub name: String,
    pub max_score: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Panel {
    pub experts: Vec<Expert>,
    pub criteria: Vec<Criterion>,
    pub formed_by: String,
    pub formed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Proposal {
    pub approved_fen: i64,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Review {
    pub expert_id: String,
    pub expert_name: String,
    /// (criterion, score) in the panel's criteria order.
    pub scores: Vec<(String, u32)>,
    /// One per budget line, same order.
    pub lines: Vec<Proposal>,
    pub comment: String,
    pub updated_at: DateTime<Utc>,
}

impl Review {
    pub fn total(&self) -> u32 {
        self.scores.iter().map(|(_, s)| *s).sum()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Decision {
    pub outcome: String,
    pub rule: String,
    pub reason: String,
    pub decided_by: String,
    pub decided_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Procurement {
    pub vendor: String,
    pub method: String,
    pub contract_amount_fen: i64,
    pub signed_on: NaiveDate,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Progress {
    pub percent: u32,
    pub note: String,
    pub reported_by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Construction {
    pub supervisor: String,
    pub started_on: NaiveDate,
    #[serde(default)]
    pub progress: Vec<Progress>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Acceptance {
    pub accepted_on: NaiveDate,
    pub result: String,
    pub documents: Vec<String>,
    pub note: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Evaluation {
    pub evaluated_on: NaiveDate,
    pub score: u32,
    pub findings: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Project {
    pub id: Uuid,
    pub department: String,
    pub year: i32,
    pub name: String,
    pub category: String,
    pub description: String,
    pub budget_lines: Vec<Line>,
    pub served_items: Vec<String>,
    pub network_ranges: Vec<String>,
    pub planned_acceptance_date: Option<NaiveDate>,
    pub state: String,
    #[serde(default)]
    pub panel: Option<Panel>,
    #[serde(default)]
    pub reviews: Vec<Review>,
    #[serde(default)]
    pub decision: Option<Decision>,
    #[serde(default)]
    pub procurement: Option<Procurement>,
    #[serde(default)]
    pub construction: Option<Construction>,
    #[serde(default)]
    pub acceptance: Option<Acceptance>,
    #[serde(default)]
    pub failed_acceptances: Vec<Acceptance>,
    #[serde(default)]
    pub evaluation: Option<Evaluation>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Project {
    /// Σ requested; validated to fit when the lines were set.
    pub fn requested_fen(&self) -> i64 {
        crate::money::checked_sum(self.budget_lines.iter().map(|l| l.amount_fen))
            .unwrap_or(i64::MAX)
    }

    /// Σ approved (0 before approval or when rejected); ≤ requested.
    pub fn approved_fen(&self) -> i64 {
        if !self.is_approved() {
            return 0;
        }
        crate::money::checked_sum(
            self.budget_lines
                .iter()
                .map(|l| l.approved_fen.unwrap_or(0)),
        )
        .unwrap_or(i64::MAX)
    }

    pub fn cut_fen(&self) -> i64 {
        if self.is_approved() {
            self.requested_fen() - self.approved_fen()
        } else {
            0
        }
    }

    pub fn is_approved(&self) -> bool {
        APPROVED_STATES.contains(&self.state.as_str())
    }

    pub fn on_panel(&self, sub: &str) -> bool {
        self.panel
            .as_ref()
            .is_some_and(|p| p.experts.iter().any(|e| e.id == sub))
    }

    pub fn accepted_on(&self) -> Option<NaiveDate> {
        self.acceptance.as_ref().map(|a| a.accepted_on)
    }

    /// FAILED_PRECONDITION naming the current state unless the project is in one of `states`.
    pub fn require_state(&self, states: &[&str], action: &str) -> Result<(), Error> {
        if states.contains(&self.state.as_str()) {
            return Ok(());
        }
        Err(Error::failed_precondition(
            "PROJECT_STATE",
            format!(
                "project is {}; {action} needs it to be {}",
                self.state,
                states.join(" or ")
            ),
        )
        .with_metadata("state", self.state.clone()))
    }
}
