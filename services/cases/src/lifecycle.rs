//! The case lifecycle: states of the national exchange model (codes.md, 15 codes) plus delivery,
//! and who may move a case from which state to which. Pure rules; the store applies them under a
//! row lock so that of two clerks acting at once exactly one wins.

/// Who is acting, relative to the case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// The applicant who filed it (citizen or enterprise account).
    Applicant,
    /// A clerk or officer of the handling department.
    Department,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Accept,
    Reject,
    RequestCorrection,
    SubmitCorrection,
    StartSpecial,
    EndSpecial,
    Decide,
    Deliver,
    Withdraw,
    Revoke,
}

/// What happens to the deadline clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// Start it (acceptance): the deadline is set from the item's promised limit.
    Start,
    /// Stop it if running (correction, special procedure).
    Stop,
    /// Resume it if it was stopped: the deadline moves out by the stopped working time.
    Resume,
    /// The case is finished: no clock any more.
    Finish,
    Unchanged,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::Reject => "reject",
            Action::RequestCorrection => "request_correction",
            Action::SubmitCorrection => "submit_correction",
            Action::StartSpecial => "start_special",
            Action::EndSpecial => "end_special",
            Action::Decide => "decide",
            Action::Deliver => "deliver",
            Action::Withdraw => "withdraw",
            Action::Revoke => "revoke",
        }
    }

    pub fn party(self) -> Party {
        match self {
            Action::SubmitCorrection | Action::Withdraw => Party::Applicant,
            _ => Party::Department,
        }
    }

    /// States the action may start from.
    pub fn from_states(self) -> &'static [&'static str] {
        match self {
            Action::Accept | Action::Reject => &["received"],
            Action::RequestCorrection => &["received", "accepted"],
            Action::SubmitCorrection => &["correction"],
            Action::StartSpecial => &["accepted"],
            Action::EndSpecial => &["special_procedure"],
            Action::Decide => &["accepted"],
            Action::Deliver => &["approved", "approved_with_tolerance", "denied"],
            Action::Withdraw => &["received", "accepted", "correction", "special_procedure"],
            Action::Revoke => &["approved", "approved_with_tolerance", "delivered"],
        }
    }

    /// Whether a reason must be given.
    pub fn needs_reason(self) -> bool {
        matches!(
            self,
            Action::Reject | Action::RequestCorrection | Action::StartSpecial | Action::Revoke
        )
    }

    pub fn clock(self) -> Clock {
        match self {
            Action::Accept => Clock::Start,
            Action::RequestCorrection | Action::StartSpecial => Clock::Stop,
            Action::SubmitCorrection | Action::EndSpecial => Clock::Resume,
            Action::Reject | Action::Decide | Action::Withdraw | Action::Revoke => Clock::Finish,
            Action::Deliver => Clock::Unchanged,
        }
    }
}

/// The national model's code of a state (delivery, not in the model's list, is 16).
pub fn state_code(state: &str) -> u32 {
    match state {
        "received" => 1,
        "accepted" => 3,
        "not_accepted" => 5,
        "correction" => 6,
        "special_procedure" => 9,
        "approved" => 11,
        "approved_with_tolerance" => 12,
        "denied" => 13,
        "withdrawn" => 14,
        "revoked" => 15,
        "delivered" => 16,
        _ => 0,
    }
}

/// The code and name of the national exchange model's process record (办件过程) a transition
/// produces; `(0, "")` for history entries that are not exchanged (a helper assigned). Delivery
/// (送达), not in the model's list, is 16 as in [`state_code`].
pub fn process_code(action: &str, from: &str, to: &str) -> (u32, &'static str) {
    match action {
        "file" => (1, "已接件"),
        // Before acceptance the application is simply withdrawn (已撤件); after, the accepted
        // case is withdrawn (撤回).
        "withdraw" if from == "received" => (2, "已撤件"),
        "withdraw" => (14, "撤回"),
        "accept" | "accept_on_receipt" => (3, "已受理"),
        "reject_out_of_scope" => (4, "不受理"),
        "reject" => (5, "不予受理"),
        "request_correction" => (6, "补正开始"),
        "submit_correction" => (7, "补正结束"),
        "start_handling" => (8, "部门开始办理"),
        "start_special" => (9, "特别程序开始"),
        "end_special" => (10, "特别程序结束"),
        "decide" => match to {
            "approved" => (11, "办结通过"),
            "approved_with_tolerance" => (12, "容缺通过"),
            _ => (13, "办结不通过"),
        },
        "revoke" => (15, "撤销"),
        "deliver" => (16, "送达"),
        _ => (0, ""),
    }
}

pub const STATES: &[&str] = &[
    "received",
    "accepted",
    "not_accepted",
    "correction",
    "special_procedure",
    "approved",
    "approved_with_tolerance",
    "denied",
    "delivered",
    "withdrawn",
    "revoked",
];

pub const CHANNELS: &[&str] = &[
    "online",
    "mobile",
    "window",
    "self_service",
    "cross_province",
    "weekend_appointment",
];

/// Decision outcomes.
pub const OUTCOMES: &[&str] = &["approved", "approved_with_tolerance", "denied"];

pub const DELIVERY_METHODS: &[&str] = &["window", "ems", "electronic"];

/// The state after `action` from `from`. `resume_to` is where a submitted correction returns
/// (the state the case was in when the correction was requested); `outcome` is the decision.
pub fn next_state(action: Action, resume_to: &str, outcome: &str) -> String {
    match action {
        Action::Accept => "accepted".into(),
        Action::Reject => "not_accepted".into(),
        Action::RequestCorrection => "correction".into(),
        Action::SubmitCorrection => resume_to.to_string(),
        Action::StartSpecial => "special_procedure".into(),
        Action::EndSpecial => "accepted".into(),
        Action::Decide => outcome.to_string(),
        Action::Deliver => "delivered".into(),
        Action::Withdraw => "withdrawn".into(),
        Action::Revoke => "revoked".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_from_state_is_a_state_and_every_target_too() {
        let all = [
            Action::Accept,
            Action::Reject,
            Action::RequestCorrection,
            Action::SubmitCorrection,
            Action::StartSpecial,
            Action::EndSpecial,
            Action::Decide,
            Action::Deliver,
            Action::Withdraw,
            Action::Revoke,
        ];
        for a in all {
            for s in a.from_states() {
                assert!(STATES.contains(s), "{a:?} from {s}");
                assert_ne!(state_code(s), 0);
            }
            let to = next_state(a, "accepted", "denied");
            assert!(STATES.contains(&to.as_str()), "{a:?} to {to}");
        }
        // Every action is an exchange record, each code at most once per action.
        for a in all {
            let (code, name) = process_code(a.name(), "accepted", "approved");
            assert!(code > 0 && !name.is_empty(), "{a:?}");
        }
        assert_eq!(process_code("withdraw", "received", "withdrawn").0, 2);
        assert_eq!(process_code("withdraw", "accepted", "withdrawn").0, 14);
        assert_eq!(process_code("decide", "accepted", "denied").0, 13);
        assert_eq!(process_code("assign_helper", "accepted", "accepted").0, 0);
        // Nothing leaves a final state except delivery and revocation of decisions.
        for final_state in ["not_accepted", "withdrawn", "revoked"] {
            assert!(all.iter().all(|a| !a.from_states().contains(&final_state)));
        }
    }
}
