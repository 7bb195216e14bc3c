//! What each event tells whom: a pure mapping from a service's event to the notifications it
//! puts in inboxes. The events are the other services' own (their outbox topics); the inbox
//! reads nothing else of theirs. A person is addressed by their account (`sub`, the case's
//! owner); a unit's staff by the department or hall code their tokens carry in `dept`.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde_json::{Value, json};

/// Every topic the inbox follows.
pub const TOPICS: &[&str] = &[
    "cases.case.accepted",
    "cases.case.rejected",
    "cases.case.correction_requested",
    "cases.case.decided",
    "cases.case.delivered",
    "cases.case.deadline_warning",
    "cases.case.overdue",
    "cases.case.routed",
    "cases.appointment.reminder",
    "cases.ticket.replied",
    "cases.ticket.overdue",
    "cases.licence.issued",
    "cases.licence.revoked",
    "cases.evaluation.negative",
    "supervision.oversight.opened",
    "alerts.notice.issued",
    "alerts.notice.overdue",
    "content.account.lapsed",
];

/// Every kind of notification (`Notification.kind`).
pub const KINDS: &[&str] = &[
    "case_accepted",
    "case_rejected",
    "correction_needed",
    "case_decided",
    "evaluation_invitation",
    "case_delivered",
    "deadline_warning",
    "case_overdue",
    "case_routed",
    "appointment_reminder",
    "ticket_replied",
    "ticket_overdue",
    "licence_issued",
    "licence_revoked",
    "rectification",
    "oversight_notice",
    "security_notice",
    "security_notice_overdue",
    "media_account_lapsed",
];

/// Who a notification is for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Recipient {
    /// A person, by their account (`sub`).
    User(String),
    /// The staff of a department or hall, by its code.
    Unit(String),
}

impl Recipient {
    /// The key inboxes are stored under.
    pub fn key(&self) -> String {
        match self {
            Recipient::User(sub) => format!("user:{sub}"),
            Recipient::Unit(code) => format!("unit:{code}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub recipient: Recipient,
    pub kind: &'static str,
    pub title: String,
    pub body: String,
    pub subject_type: &'static str,
    pub subject_id: String,
    pub subject_number: String,
    pub details: Value,
}

fn s<'a>(p: &'a Value, k: &str) -> &'a str {
    p.get(k).and_then(Value::as_str).unwrap_or("")
}

/// Beijing time, as the county reads it (China keeps no daylight saving).
fn local(t: &str) -> String {
    let beijing = FixedOffset::east_opt(8 * 3600).expect("a valid offset");
    DateTime::parse_from_rfc3339(t)
        .map(|d| {
            d.with_timezone(&Utc)
                .with_timezone(&beijing)
                .format("%Y年%-m月%-d日 %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

fn date(d: &str) -> String {
    NaiveDate::parse_from_str(d, "%Y-%m-%d")
        .map(|d| d.format("%Y年%-m月%-d日").to_string())
        .unwrap_or_else(|_| d.to_string())
}

/// An item's name, or its code when the event carries no name.
fn item(p: &Value) -> &str {
    match s(p, "item_name") {
        "" => s(p, "item_code"),
        name => name,
    }
}

fn user(p: &Value, field: &str) -> Option<Recipient> {
    match s(p, field).trim() {
        "" => None,
        sub => Some(Recipient::User(sub.to_string())),
    }
}

fn unit(p: &Value, field: &str) -> Option<Recipient> {
    match s(p, field).trim() {
        "" => None,
        code => Some(Recipient::Unit(code.to_string())),
    }
}

struct About {
    subject_type: &'static str,
    id: String,
    number: String,
}

fn case(p: &Value) -> About {
    About {
        subject_type: "case",
        id: s(p, "case_id").to_string(),
        number: s(p, "case_number").to_string(),
    }
}

fn notice(
    to: Option<Recipient>,
    kind: &'static str,
    title: impl Into<String>,
    body: impl Into<String>,
    about: &About,
    details: Value,
) -> Option<Notice> {
    Some(Notice {
        recipient: to?,
        kind,
        title: title.into(),
        body: body.into(),
        subject_type: about.subject_type,
        subject_id: about.id.clone(),
        subject_number: about.number.clone(),
        details,
    })
}

/// The notifications an event puts in inboxes (none for a topic or payload it does not know).
pub fn notices(topic: &str, p: &Value) -> Vec<Notice> {
    let mut out: Vec<Option<Notice>> = Vec::new();
    match topic {
        "cases.case.accepted" => {
            let about = case(p);
            let deadline = local(s(p, "deadline"));
            let promise = if deadline.is_empty() {
                String::new()
            } else {
                format!("，承诺于{deadline}前办结")
            };
            out.push(notice(
                user(p, "owner_sub"),
                "case_accepted",
                "办件已受理",
                format!(
                    "您申请的“{}”（办件号 {}）已受理{promise}。",
                    item(p),
                    about.number
                ),
                &about,
                json!({"deadline": p.get("deadline"), "department": s(p, "department")}),
            ));
        }
        "cases.case.rejected" => {
            let about = case(p);
            out.push(notice(
                user(p, "owner_sub"),
                "case_rejected",
                "办件不予受理",
                format!(
                    "您申请的“{}”（办件号 {}）不予受理：{}",
                    item(p),
                    about.number,
                    s(p, "reason")
                ),
                &about,
                json!({"reason": s(p, "reason")}),
            ));
        }
        "cases.case.correction_requested" => {
            let about = case(p);
            let list = p.get("corrections").cloned().unwrap_or(json!([]));
            let names: Vec<&str> = list
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e.get("name").and_then(Value::as_str))
                .collect();
            let what = if names.is_empty() {
                s(p, "reason").to_string()
            } else {
                format!("请补正以下材料：{}", names.join("、"))
            };
            out.push(notice(
                user(p, "owner_sub"),
                "correction_needed",
                "办件需要补正材料",
                format!(
                    "您申请的“{}”（办件号 {}）需要补正。{what}",
                    item(p),
                    about.number
                ),
                &about,
                json!({"corrections": list, "reason": s(p, "reason")}),
            ));
        }
        "cases.case.decided" => {
            let about = case(p);
            let outcome = s(p, "outcome");
            let (title, verdict) = match outcome {
                "approved" | "approved_with_tolerance" => {
                    ("办件已办结：准予许可", "已办结，准予许可")
                }
                _ => ("办件已办结：不予许可", "已办结，不予许可"),
            };
            let reason = match s(p, "outcome_reason") {
                "" => String::new(),
                r => format!("（{r}）"),
            };
            out.push(notice(
                user(p, "owner_sub"),
                "case_decided",
                title,
                format!(
                    "您申请的“{}”（办件号 {}）{verdict}{reason}。",
                    item(p),
                    about.number
                ),
                &about,
                json!({"outcome": outcome}),
            ));
            out.push(notice(
                user(p, "owner_sub"),
                "evaluation_invitation",
                "请对本次服务作出评价",
                format!(
                    "“{}”（办件号 {}）已办结，欢迎对本次政务服务作出评价（好差评）。",
                    item(p),
                    about.number
                ),
                &about,
                Value::Null,
            ));
        }
        "cases.case.delivered" => {
            let about = case(p);
            let how = match s(p, "method") {
                "ems" => match s(p, "tracking_number") {
                    "" => "已通过邮政寄出".to_string(),
                    t => format!("已通过邮政寄出，运单号 {t}"),
                },
                "window" | "pickup" => "已在窗口领取".to_string(),
                "online" | "electronic" => "已在线送达".to_string(),
                _ => "已送达".to_string(),
            };
            out.push(notice(
                user(p, "owner_sub"),
                "case_delivered",
                "办理结果已送达",
                format!("“{}”（办件号 {}）的办理结果{how}。", item(p), about.number),
                &about,
                json!({"method": s(p, "method"), "tracking_number": s(p, "tracking_number")}),
            ));
        }
        "cases.case.deadline_warning" => {
            let about = case(p);
            let deadline = local(s(p, "deadline"));
            out.push(notice(
                unit(p, "department"),
                "deadline_warning",
                "办件即将到期",
                format!(
                    "办件 {}（{}）将于{deadline}到期，请及时办结。",
                    about.number,
                    item(p)
                ),
                &about,
                json!({"deadline": p.get("deadline")}),
            ));
            out.push(notice(
                user(p, "owner_sub"),
                "deadline_warning",
                "办件临近承诺期限",
                format!(
                    "您申请的“{}”（办件号 {}）承诺于{deadline}前办结，部门正在办理。",
                    item(p),
                    about.number
                ),
                &about,
                json!({"deadline": p.get("deadline")}),
            ));
        }
        "cases.case.overdue" => {
            let about = case(p);
            out.push(notice(
                unit(p, "department"),
                "case_overdue",
                "办件已超期",
                format!(
                    "办件 {}（{}）已超过办理期限（{}），请尽快办结。",
                    about.number,
                    item(p),
                    local(s(p, "deadline"))
                ),
                &about,
                json!({"deadline": p.get("deadline")}),
            ));
        }
        "cases.case.routed" => {
            let about = case(p);
            out.push(notice(
                unit(p, "to_department"),
                "case_routed",
                "有办件转入",
                format!(
                    "办件 {}（{}）由 {} 转至本单位办理。",
                    about.number,
                    item(p),
                    s(p, "from_department")
                ),
                &about,
                json!({"from_department": s(p, "from_department")}),
            ));
        }
        "cases.appointment.reminder" => {
            let about = About {
                subject_type: "appointment",
                id: s(p, "appointment_id").to_string(),
                number: String::new(),
            };
            out.push(notice(
                user(p, "booked_by"),
                "appointment_reminder",
                "预约办事提醒",
                format!(
                    "您预约了{} {}—{}到{}办理“{}”，请按时前往。",
                    date(s(p, "date")),
                    s(p, "start_time"),
                    s(p, "end_time"),
                    s(p, "hall"),
                    item(p)
                ),
                &about,
                json!({"date": s(p, "date"), "start_time": s(p, "start_time"),
                       "end_time": s(p, "end_time"), "hall": s(p, "hall")}),
            ));
        }
        "cases.ticket.replied" => {
            let about = About {
                subject_type: "ticket",
                id: s(p, "ticket_id").to_string(),
                number: String::new(),
            };
            out.push(notice(
                user(p, "submitted_by"),
                "ticket_replied",
                "您的诉求已答复",
                format!("您反映的“{}”已有答复，请查看。", s(p, "subject")),
                &about,
                Value::Null,
            ));
        }
        "cases.ticket.overdue" => {
            let about = About {
                subject_type: "ticket",
                id: s(p, "ticket_id").to_string(),
                number: String::new(),
            };
            out.push(notice(
                unit(p, "department"),
                "ticket_overdue",
                "诉求答复已超期",
                format!(
                    "诉求“{}”已超过答复期限（{}），请尽快答复。",
                    s(p, "subject"),
                    local(s(p, "deadline"))
                ),
                &about,
                json!({"deadline": p.get("deadline")}),
            ));
        }
        "cases.licence.issued" => {
            let about = About {
                subject_type: "licence",
                id: s(p, "number").to_string(),
                number: s(p, "number").to_string(),
            };
            out.push(notice(
                user(p, "owner_sub"),
                "licence_issued",
                "电子证照已签发",
                format!(
                    "“{}”的电子证照（编号 {}）已签发，可在“我的证照”中查看。",
                    item(p),
                    about.number
                ),
                &about,
                json!({"valid_until": p.get("valid_until")}),
            ));
        }
        "cases.licence.revoked" => {
            let about = About {
                subject_type: "licence",
                id: s(p, "number").to_string(),
                number: s(p, "number").to_string(),
            };
            out.push(notice(
                user(p, "owner_sub"),
                "licence_revoked",
                "电子证照已撤销",
                format!(
                    "您的电子证照（编号 {}）已撤销：{}",
                    about.number,
                    s(p, "reason")
                ),
                &about,
                json!({"reason": s(p, "reason")}),
            ));
        }
        "cases.evaluation.negative" => {
            let about = case(p);
            out.push(notice(
                unit(p, "department"),
                "rectification",
                "差评整改",
                format!(
                    "办件 {} 收到差评，请于{}前完成整改并反馈。",
                    about.number,
                    local(s(p, "deadline"))
                ),
                &about,
                json!({"rectification_id": s(p, "rectification_id"), "level": p.get("level"),
                       "deadline": p.get("deadline")}),
            ));
        }
        "supervision.oversight.opened" => {
            let about = About {
                subject_type: "oversight_notice",
                id: s(p, "notice_id").to_string(),
                number: s(p, "number").to_string(),
            };
            let what = match s(p, "subject") {
                "ticket" => "诉求答复",
                _ => "办件",
            };
            out.push(notice(
                unit(p, "department"),
                "oversight_notice",
                "督办通知",
                format!(
                    "{what} {}（{}）已超期，现予督办，请尽快办理并反馈。",
                    about.number,
                    item(p)
                ),
                &about,
                json!({"subject": s(p, "subject"), "subject_id": s(p, "subject_id")}),
            ));
        }
        "alerts.notice.issued" | "alerts.notice.overdue" => {
            let about = About {
                subject_type: "security_notice",
                id: s(p, "notice_id").to_string(),
                number: s(p, "number").to_string(),
            };
            let severity = match s(p, "severity") {
                "high" => "高危",
                "medium" => "中危",
                _ => "低危",
            };
            let (kind, title, body) = if topic == "alerts.notice.issued" {
                (
                    "security_notice",
                    "网络安全处置通知",
                    format!(
                        "本单位资产发生{severity}安全事件，处置函 {} 要求于{}前完成整改并报告。",
                        about.number,
                        local(s(p, "deadline"))
                    ),
                )
            } else {
                (
                    "security_notice_overdue",
                    "网络安全处置已超期",
                    format!(
                        "处置函 {}（{severity}）已超过整改期限（{}），请立即处置并报告。",
                        about.number,
                        local(s(p, "deadline"))
                    ),
                )
            };
            out.push(notice(
                unit(p, "unit_code"),
                kind,
                title,
                body,
                &about,
                json!({"severity": s(p, "severity"), "deadline": p.get("deadline")}),
            ));
        }
        "content.account.lapsed" => {
            let about = About {
                subject_type: "media_account",
                id: s(p, "account_id").to_string(),
                number: String::new(),
            };
            let last = match local(s(p, "last_post_at")) {
                t if t.is_empty() => "开设以来未发布内容".to_string(),
                t => format!("最近一次发布于{t}"),
            };
            out.push(notice(
                unit(p, "department"),
                "media_account_lapsed",
                "政务新媒体账号未按期更新",
                format!(
                    "本单位运营的“{}”已连续{}天未更新（{last}），请及时发布内容。",
                    s(p, "name"),
                    p.get("days").and_then(Value::as_i64).unwrap_or(7)
                ),
                &about,
                json!({"platform": s(p, "platform"), "last_post_at": p.get("last_post_at")}),
            ));
        }
        _ => {}
    }
    out.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_has_a_mapping() {
        // Each followed topic, with a payload naming everyone, tells someone.
        let p = json!({"owner_sub": "u1", "booked_by": "u1", "submitted_by": "u1",
            "department": "D", "to_department": "D", "unit_code": "D", "case_number": "N"});
        for topic in TOPICS {
            let told = notices(topic, &p);
            assert!(!told.is_empty(), "{topic}");
            for n in told {
                assert!(KINDS.contains(&n.kind), "{topic}: {}", n.kind);
            }
        }
        assert!(notices("cases.case.filed", &p).is_empty());
    }

    #[test]
    fn a_case_filed_at_a_window_tells_no_person() {
        let p = json!({"case_id": "c", "case_number": "N", "owner_sub": "", "department": "D"});
        assert!(notices("cases.case.accepted", &p).is_empty());
        let w = notices("cases.case.deadline_warning", &p);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].recipient, Recipient::Unit("D".into()));
    }

    #[test]
    fn correction_lists_every_material_and_decisions_invite_evaluation() {
        let p = json!({"case_id": "c", "case_number": "340522-1", "item_name": "食品经营许可",
            "owner_sub": "u1", "corrections": [{"name": "营业执照", "reason": "模糊"},
            {"name": "身份证", "reason": "缺页"}]});
        let n = notices("cases.case.correction_requested", &p);
        assert_eq!(n.len(), 1);
        assert!(n[0].body.contains("营业执照、身份证"), "{}", n[0].body);
        assert_eq!(n[0].details["corrections"][1]["reason"], "缺页");
        assert_eq!(n[0].recipient.key(), "user:u1");
        let d = notices(
            "cases.case.decided",
            &json!({"case_number": "N", "owner_sub": "u1", "outcome": "denied"}),
        );
        let kinds: Vec<&str> = d.iter().map(|n| n.kind).collect();
        assert_eq!(kinds, ["case_decided", "evaluation_invitation"]);
        assert!(d[0].title.contains("不予"));
    }

    #[test]
    fn times_read_as_beijing_time() {
        assert_eq!(local("2026-02-13T09:30:00Z"), "2026年2月13日 17:30");
        assert_eq!(local("nonsense"), "");
        assert_eq!(date("2026-02-16"), "2026年2月16日");
    }
}
