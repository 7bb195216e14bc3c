//! The half-year work report (上半年/下半年工作总结) written from live data, in the structure of the
//! county's own report: 互联网+政务服务; 标准化规范化便利化; 服务方式; 互联网+监管; 信息化项目和
//! 网络安全; 政府网站和政务新媒体. Every figure carries how it is counted and the call that
//! produced it; the paragraphs are written from the figures, never the other way round, so
//! the document cannot contradict its own numbers (the security events by severity add up to
//! the total, which the county's hand-written report did not manage).

use std::collections::BTreeMap;

use chrono::Utc;
use yiwang_kit::Result;
use yiwang_proto::insight::v1 as pb;

use crate::period::Half;
use crate::sources::{Sources, failed};

/// The report's figures as they are gathered: key → figure.
#[derive(Default)]
struct Figures {
    list: Vec<pb::Figure>,
}

impl Figures {
    fn add(
        &mut self,
        key: &str,
        label: &str,
        value: f64,
        unit: &str,
        counted_as: &str,
        source: &str,
    ) {
        self.list.push(pb::Figure {
            key: key.into(),
            label: label.into(),
            value,
            unit: unit.into(),
            counted_as: counted_as.into(),
            source: source.into(),
        });
    }
}

/// A whole number as the report writes it (thousands grouped).
pub fn int(v: f64) -> String {
    let n = v.round() as i64;
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// A rate as the report writes it: two decimals.
pub fn pct(v: f64) -> String {
    format!("{v:.2}%")
}

/// Fen as 万元 with two decimals.
fn wan(fen: f64) -> String {
    format!("{:.2}万元", fen / 1_000_000.0)
}

const CHANNELS: [(&str, &str); 5] = [
    ("online", "网上（PC端）"),
    ("mobile", "掌上（皖事通）"),
    ("window", "窗口"),
    ("self_service", "自助终端"),
    ("cross_province", "跨省通办"),
];

/// The doors a ticket comes in by, as the report names them.
const TICKET_SOURCES: [(&str, &str); 6] = [
    ("window_complaint", "“办不成事”窗口"),
    ("window_enterprise", "涉企服务窗口"),
    ("leader_mailbox", "领导信箱"),
    ("citizen_forum", "市民心声论坛"),
    ("hotline_12345", "12345热线"),
    ("app", "网上和掌上"),
];

const SEVERITIES: [(&str, &str); 3] = [("high", "高危"), ("medium", "中危"), ("low", "低危")];

fn count_of(counts: &[yiwang_proto::alerts::v1::Count], key: &str) -> f64 {
    counts
        .iter()
        .filter(|c| c.key == key)
        .map(|c| c.count as f64)
        .sum()
}

pub async fn compute(sources: &Sources, half: Half) -> Result<pb::WorkReport> {
    let (from, to) = (half.from(), half.to());
    let five_label = if half.half == 1 {
        "1—5月"
    } else {
        "7—11月"
    };
    let months = half.months();
    let half_label = if half.half == 1 {
        "上半年"
    } else {
        "下半年"
    };
    let (catalog, departments, towns, villages, cases, supervision, projects, alerts, content) = tokio::join!(
        sources.catalog_stats(),
        sources.org_units("department"),
        sources.org_units("town"),
        sources.org_units("village"),
        sources.case_stats(from, to),
        sources.supervision_stats("", from, to),
        sources.project_stats(half.year),
        sources.alert_stats(from, to),
        sources.content_stats(from, to),
    );
    // Cases per month and channel, from the half's one statistics call.
    let month_counts: Vec<std::collections::HashMap<String, u64>> = months
        .iter()
        .map(|(m, _, _)| {
            cases
                .as_ref()
                .ok()
                .and_then(|c| c.by_month.iter().find(|b| &b.month == m))
                .map(|b| b.by_channel.clone())
                .unwrap_or_default()
        })
        .collect();
    let period = format!("{}–{}", half.first_day(), half.end_day());
    let mut f = Figures::default();
    let mut notes: Vec<String> = vec![
        "Dates are Beijing time; a period is [first day, first day after) — the half-year's cases are those filed from its first day to its last, inclusive.".into(),
        "Rates are percentages rounded half up to two decimals, from exact counts.".into(),
    ];
    let mut sections = Vec::new();
    let mut charts = Vec::new();
    let names: BTreeMap<String, String> = departments
        .as_ref()
        .map(|units| {
            units
                .iter()
                .map(|u| (u.code.clone(), u.name.clone()))
                .collect()
        })
        .unwrap_or_default();

    // 一、互联网+政务服务
    let mut p1 = Vec::new();
    match (&catalog, &departments, &towns, &villages) {
        (Ok(c), Ok(d), Ok(t), Ok(v)) => {
            f.add(
                "catalog.items",
                "政务服务事项",
                c.published_items as f64,
                "项",
                "items published in the catalogue now (one per item code, its current version)",
                "catalog.GetCatalogStats",
            );
            f.add(
                "catalog.departments",
                "实施部门",
                d.len() as f64,
                "个",
                "org units of kind department",
                "catalog.ListOrgUnits(kind=department)",
            );
            f.add(
                "catalog.towns",
                "乡镇",
                t.len() as f64,
                "个",
                "org units of kind town",
                "catalog.ListOrgUnits(kind=town)",
            );
            f.add(
                "catalog.villages",
                "村（社区）",
                v.len() as f64,
                "个",
                "org units of kind village",
                "catalog.ListOrgUnits(kind=village)",
            );
            f.add(
                "catalog.full_online_share",
                "全程网办事项占比",
                c.full_online_share * 100.0,
                "%",
                "published items that can be handled entirely online / published items",
                "catalog.GetCatalogStats",
            );
            p1.push(format!(
                "全县政务服务事项目录共{}项，覆盖{}个县直部门、{}个乡镇和{}个村（社区），全程网办事项占{}。",
                int(c.published_items as f64),
                d.len(),
                t.len(),
                v.len(),
                pct(c.full_online_share * 100.0)
            ));
        }
        _ => {
            for (call, r) in [
                ("catalog.GetCatalogStats", catalog.as_ref().err()),
                ("catalog.ListOrgUnits", departments.as_ref().err()),
            ] {
                if let Some(e) = r {
                    notes.push(failed(call, e));
                }
            }
        }
    }
    if cases.is_ok() {
        let first5 = &month_counts[..5];
        let filed: u64 = first5.iter().flat_map(|m| m.values()).sum();
        let online: u64 = first5
            .iter()
            .flat_map(|m| ["online", "mobile"].map(|k| m.get(k).copied().unwrap_or(0)))
            .sum();
        let share = yiwang_kit::percent(online as i64, filed as i64);
        f.add("cases.filed_five_months", &format!("{five_label}办件量"), filed as f64, "件", "cases filed in the half's first five months (the window of a report written in its sixth)", &format!("cases.GetCaseStats({period}).by_month, first five months"));
        f.add(
            "cases.online_share_five_months",
            &format!("{five_label}网上办件占比"),
            share,
            "%",
            "cases filed on the web or the app / cases filed, same window",
            "cases.GetCaseStats(by_month)",
        );
        p1.push(format!(
            "{five_label}，全县共受理办件{}件，其中网上（含掌上）办件占{}。",
            int(filed as f64),
            pct(share)
        ));
    }
    match &cases {
        Ok(c) => {
            f.add(
                "cases.filed",
                "半年办件量",
                c.filed as f64,
                "件",
                "cases filed in the half-year",
                &format!("cases.GetCaseStats({period})"),
            );
            f.add(
                "cases.online_share",
                "网上办件占比",
                c.online_share,
                "%",
                "cases filed on the web or the app / cases filed",
                "cases.GetCaseStats",
            );
            f.add(
                "cases.decided",
                "办结量",
                c.decided as f64,
                "件",
                "cases decided (approved or denied) in the half-year",
                "cases.GetCaseStats",
            );
            f.add("cases.on_time_rate", "按时办结率", c.on_time_rate, "%", "decided by their deadline on the legal working-day calendar / decided with a deadline", "cases.GetCaseStats");
            f.add(
                "cases.avg_handling_working_days",
                "平均办理时长",
                c.avg_handling_working_days,
                "工作日",
                "office time from acceptance to decision, in working days",
                "cases.GetCaseStats",
            );
            f.add(
                "cases.evaluations",
                "好差评",
                c.evaluations as f64,
                "条",
                "evaluations made in the half-year",
                "cases.GetCaseStats",
            );
            f.add(
                "cases.good_rate",
                "好评率",
                c.good_rate,
                "%",
                "evaluations of level 3 or more / evaluations",
                "cases.GetCaseStats",
            );
            f.add(
                "cases.rectifications",
                "差评整改",
                c.rectifications as f64,
                "件",
                "rectifications opened for bad evaluations in the half-year",
                "cases.GetCaseStats",
            );
            f.add(
                "cases.rectified_rate",
                "差评整改率",
                c.rectified_rate,
                "%",
                "rectifications completed or called back / opened",
                "cases.GetCaseStats",
            );
            p1.push(format!(
                "{}共受理办件{}件，办结{}件，按时办结率{}，平均办理时长{:.2}个工作日；收到好差评{}条，好评率{}；差评整改{}件，整改完成率{}。",
                half_label,
                int(c.filed as f64),
                int(c.decided as f64),
                pct(c.on_time_rate),
                c.avg_handling_working_days,
                int(c.evaluations as f64),
                pct(c.good_rate),
                int(c.rectifications as f64),
                pct(c.rectified_rate)
            ));
            // On-time rate by department (the fifteen with most cases decided).
            let mut ds: Vec<_> = c.departments.iter().filter(|d| d.decided > 0).collect();
            ds.sort_by(|a, b| {
                b.decided
                    .cmp(&a.decided)
                    .then(a.department.cmp(&b.department))
            });
            ds.truncate(15);
            charts.push(pb::Chart {
                key: "cases.on_time_by_department".into(),
                title: "各部门按时办结率（办结量前15）".into(),
                kind: "bar".into(),
                unit: "%".into(),
                categories: ds
                    .iter()
                    .map(|d| {
                        names
                            .get(&d.department)
                            .cloned()
                            .unwrap_or_else(|| d.department.clone())
                    })
                    .collect(),
                series: vec![pb::Series {
                    name: "按时办结率".into(),
                    values: ds.iter().map(|d| d.on_time_rate).collect(),
                }],
            });
        }
        Err(e) => notes.push(failed("cases.GetCaseStats", e)),
    }
    sections.push(pb::ReportSection {
        key: "services".into(),
        title: "一、“互联网+政务服务”".into(),
        paragraphs: p1,
    });

    // 二、标准化规范化便利化
    let mut p2 = Vec::new();
    if let Ok(c) = &catalog {
        f.add(
            "catalog.bundles",
            "一件事一次办套餐",
            c.bundles as f64,
            "个",
            "bundles (一件事) in the catalogue",
            "catalog.GetCatalogStats",
        );
        f.add(
            "catalog.bundles_legal_person",
            "法人一件事",
            c.bundles_legal_person as f64,
            "个",
            "bundles whose applicant is a legal person",
            "catalog.GetCatalogStats",
        );
        f.add(
            "catalog.bundles_person",
            "个人一件事",
            c.bundles_person as f64,
            "个",
            "bundles whose applicant is a natural person",
            "catalog.GetCatalogStats",
        );
        f.add(
            "catalog.bundles_high_frequency",
            "高频一件事",
            c.bundles_high_frequency as f64,
            "个",
            "bundles marked high-frequency (with promised limits such as 4 working hours for opening a company)",
            "catalog.GetCatalogStats",
        );
        f.add(
            "catalog.high_frequency",
            "高频事项",
            c.high_frequency as f64,
            "项",
            "published items marked high-frequency",
            "catalog.GetCatalogStats",
        );
        f.add(
            "catalog.online_capable_share",
            "可网办事项占比",
            c.online_capable_share * 100.0,
            "%",
            "published items with an online channel / published items",
            "catalog.GetCatalogStats",
        );
        p2.push(format!(
            "推进事项标准化，梳理“一件事一次办”套餐{}个（法人{}个、个人{}个，其中高频{}个），高频事项{}项，可网办事项占{}。",
            int(c.bundles as f64),
            int(c.bundles_legal_person as f64),
            int(c.bundles_person as f64),
            int(c.bundles_high_frequency as f64),
            int(c.high_frequency as f64),
            pct(c.online_capable_share * 100.0)
        ));
    }
    sections.push(pb::ReportSection {
        key: "standards".into(),
        title: "二、标准化、规范化、便利化".into(),
        paragraphs: p2,
    });

    // 三、服务方式
    let mut p3 = Vec::new();
    if let Ok(c) = &cases {
        let by = |k: &str| c.by_channel.get(k).copied().unwrap_or(0) as f64;
        for (k, label) in CHANNELS {
            f.add(
                &format!("cases.channel.{k}"),
                &format!("{label}办件"),
                by(k),
                "件",
                "cases filed in the half-year through this channel",
                "cases.GetCaseStats(by_channel)",
            );
        }
        f.add(
            "cases.routed",
            "转办",
            c.routed as f64,
            "件",
            "cases routed to another department in the half-year",
            "cases.GetCaseStats",
        );
        f.add(
            "cases.free_mailings",
            "免费邮寄",
            c.free_mailings as f64,
            "件",
            "results delivered by EMS at the county's expense",
            "cases.GetCaseStats",
        );
        f.add(
            "tickets.submitted",
            "诉求（办不成事、涉企、12345等）",
            c.tickets as f64,
            "件",
            "tickets submitted in the half-year, from every door",
            "cases.GetCaseStats",
        );
        f.add(
            "tickets.reply_rate",
            "诉求回复率",
            c.reply_rate,
            "%",
            "replied / dispatched",
            "cases.GetCaseStats",
        );
        f.add(
            "tickets.closure_rate",
            "诉求办结率",
            c.closure_rate,
            "%",
            "closed / submitted",
            "cases.GetCaseStats",
        );
        p3.push(format!(
            "线上线下融合服务：网上办件{}件、掌上办件{}件、窗口办件{}件、自助终端办件{}件、跨省通办{}件；免费邮寄{}件；部门间转办{}件。",
            int(by("online")),
            int(by("mobile")),
            int(by("window")),
            int(by("self_service")),
            int(by("cross_province")),
            int(c.free_mailings as f64),
            int(c.routed as f64)
        ));
        f.add(
            "cases.weekend_appointments",
            "周末预约服务",
            c.weekend_appointments as f64,
            "次",
            "appointments kept on rest-day slots dated in the half-year (周末不打烊)",
            "cases.GetCaseStats",
        );
        p3.push(format!(
            "受理企业群众诉求{}件，回复率{}，办结率{}；周末预约服务{}次。",
            int(c.tickets as f64),
            pct(c.reply_rate),
            pct(c.closure_rate),
            int(c.weekend_appointments as f64)
        ));
        let mut doors = Vec::new();
        for (source, label) in TICKET_SOURCES {
            let Some(t) = c.tickets_by_source.get(source) else {
                continue;
            };
            let query = "cases.GetCaseStats(tickets_by_source)";
            let key = |m: &str| format!("tickets.{source}.{m}");
            f.add(
                &key("submitted"),
                label,
                t.submitted as f64,
                "件",
                "tickets that came in by this door in the half-year",
                query,
            );
            f.add(
                &key("dispatch_rate"),
                &format!("{label}交办率"),
                t.dispatch_rate,
                "%",
                "dispatched / submitted",
                query,
            );
            f.add(
                &key("reply_rate"),
                &format!("{label}回复率"),
                t.reply_rate,
                "%",
                "replied / dispatched",
                query,
            );
            f.add(
                &key("closure_rate"),
                &format!("{label}办结率"),
                t.closure_rate,
                "%",
                "closed / submitted",
                query,
            );
            f.add(
                &key("satisfaction_rate"),
                &format!("{label}回访满意率"),
                t.satisfaction_rate,
                "%",
                "satisfied / called back",
                query,
            );
            doors.push(format!(
                "{label}{}件（交办率{}、回复率{}、办结率{}、回访满意率{}）",
                int(t.submitted as f64),
                pct(t.dispatch_rate),
                pct(t.reply_rate),
                pct(t.closure_rate),
                pct(t.satisfaction_rate)
            ));
        }
        if !doors.is_empty() {
            p3.push(format!("按来源：{}。", doors.join("；")));
        }
    }
    let month_names: Vec<String> = months.iter().map(|(m, _, _)| m.clone()).collect();
    if cases.is_ok() {
        charts.push(pb::Chart {
            key: "cases.by_month_channel".into(),
            title: "各月办件量（按渠道）".into(),
            kind: "bar".into(),
            unit: "件".into(),
            categories: month_names.clone(),
            series: CHANNELS
                .iter()
                .map(|(k, label)| pb::Series {
                    name: (*label).into(),
                    values: month_counts
                        .iter()
                        .map(|m| m.get(*k).copied().unwrap_or(0) as f64)
                        .collect(),
                })
                .collect(),
        });
    }
    sections.push(pb::ReportSection {
        key: "channels".into(),
        title: "三、服务方式".into(),
        paragraphs: p3,
    });

    // 四、互联网+监管
    let mut p4 = Vec::new();
    match &supervision {
        Ok(s) => {
            f.add(
                "supervision.inspectors",
                "监管执法人员（用户）",
                s.inspectors as f64,
                "名",
                "inspectors registered (the users of the supervision system)",
                "supervision.GetStats",
            );
            f.add(
                "supervision.items",
                "监管事项",
                s.items as f64,
                "项",
                "supervision items in the catalogue of supervision",
                "supervision.GetStats",
            );
            f.add(
                "supervision.check_lists",
                "检查实施清单",
                s.check_lists as f64,
                "个",
                "check lists of claimed items",
                "supervision.GetStats",
            );
            f.add(
                "supervision.records",
                "监管行为记录",
                s.inspections as f64,
                "条",
                "inspection records in the half-year",
                &format!("supervision.GetStats({period})"),
            );
            f.add(
                "supervision.coverage",
                "监管事项覆盖率",
                s.coverage,
                "%",
                "claimed items with at least one inspection record / items",
                "supervision.GetStats",
            );
            p4.push(format!(
                "“互联网+监管”系统注册执法人员{}名，认领监管事项{}项（认领率{}），编制检查实施清单{}个，{}汇集监管行为记录{}条，监管事项覆盖率{}。",
                int(s.inspectors as f64),
                int(s.items_claimed as f64),
                pct(s.claim_rate),
                int(s.check_lists as f64),
                half_label,
                int(s.inspections as f64),
                pct(s.coverage)
            ));
        }
        Err(e) => notes.push(failed("supervision.GetStats", e)),
    }
    sections.push(pb::ReportSection {
        key: "supervision".into(),
        title: "四、“互联网+监管”".into(),
        paragraphs: p4,
    });

    // 五、信息化项目和网络安全
    let mut p5 = Vec::new();
    match &projects {
        Ok(p) => {
            f.add(
                "projects.reviewed",
                "审核信息化项目",
                p.reviewed as f64,
                "个",
                &format!("projects of {} decided (approved or rejected)", half.year),
                &format!("projects.GetProjectStats(year={})", half.year),
            );
            f.add(
                "projects.requested_yuan",
                "申报金额",
                p.requested_fen as f64 / 100.0,
                "元",
                "requested amount of approved projects",
                "projects.GetProjectStats",
            );
            f.add(
                "projects.approved_yuan",
                "审定金额",
                p.approved_fen as f64 / 100.0,
                "元",
                "approved amount",
                "projects.GetProjectStats",
            );
            f.add(
                "projects.cut_yuan",
                "核减金额",
                p.cut_fen as f64 / 100.0,
                "元",
                "requested − approved",
                "projects.GetProjectStats",
            );
            f.add(
                "projects.saving_rate",
                "核减率",
                p.saving_rate,
                "%",
                "cut / requested, from exact fen",
                "projects.GetProjectStats",
            );
            p5.push(format!(
                "{}年度共审核县级政务信息化项目{}个，申报金额{}，审定金额{}，核减{}，核减率{}。",
                half.year,
                p.reviewed,
                wan(p.requested_fen as f64),
                wan(p.approved_fen as f64),
                wan(p.cut_fen as f64),
                pct(p.saving_rate)
            ));
            let mut by: Vec<_> = p
                .by_department
                .iter()
                .filter(|d| d.requested_fen > 0)
                .collect();
            by.sort_by(|a, b| b.requested_fen.cmp(&a.requested_fen));
            charts.push(pb::Chart {
                key: "projects.requested_vs_approved".into(),
                title: "信息化项目申报与审定金额（万元）".into(),
                kind: "bar".into(),
                unit: "万元".into(),
                categories: by
                    .iter()
                    .map(|d| {
                        names
                            .get(&d.department)
                            .cloned()
                            .unwrap_or_else(|| d.department.clone())
                    })
                    .collect(),
                series: vec![
                    pb::Series {
                        name: "申报".into(),
                        values: by
                            .iter()
                            .map(|d| d.requested_fen as f64 / 1_000_000.0)
                            .collect(),
                    },
                    pb::Series {
                        name: "审定".into(),
                        values: by
                            .iter()
                            .map(|d| d.approved_fen as f64 / 1_000_000.0)
                            .collect(),
                    },
                ],
            });
        }
        Err(e) => notes.push(failed("projects.GetProjectStats", e)),
    }
    match &alerts {
        Ok(a) => {
            let now = a.period.clone().unwrap_or_default();
            let before = a.year_earlier.clone().unwrap_or_default();
            f.add("alerts.events", "网络安全事件", now.events as f64, "起", "security events received in the half-year, each once (a replayed event counts once)", &format!("alerts.GetAlertStats({period})"));
            for (k, label) in SEVERITIES {
                f.add(
                    &format!("alerts.events.{k}"),
                    &format!("{label}事件"),
                    count_of(&now.events_by_severity, k),
                    "起",
                    "events of this severity; high + medium + low = all events",
                    "alerts.GetAlertStats",
                );
            }
            f.add(
                "alerts.incidents",
                "安全事件（归并）",
                now.incidents as f64,
                "个",
                "incidents: events of one fingerprint within the window merged into one",
                "alerts.GetAlertStats",
            );
            f.add(
                "alerts.notices",
                "整改通知",
                now.notices_issued as f64,
                "份",
                "remediation notices issued in the half-year",
                "alerts.GetAlertStats",
            );
            f.add(
                "alerts.notices_on_time_rate",
                "按期整改率",
                now.on_time_rate,
                "%",
                "notices reported by their deadline / notices due",
                "alerts.GetAlertStats",
            );
            f.add(
                "alerts.events_year_earlier",
                "上年同期安全事件",
                before.events as f64,
                "起",
                "the same half a year earlier",
                "alerts.GetAlertStats(year_earlier)",
            );
            let sum: f64 = SEVERITIES
                .iter()
                .map(|(k, _)| count_of(&now.events_by_severity, k))
                .sum();
            if (sum - now.events as f64).abs() > 0.5 {
                notes.push(format!(
                    "Security events by severity add up to {} of {} events: the rest carry no severity.",
                    int(sum),
                    int(now.events as f64)
                ));
            }
            notes.push("Security events are counted once each by the alerts service (a replayed event adds nothing), and each by exactly one severity: high + medium + low equals the total — unlike the county's hand-written report, whose high and medium events exceeded its total.".into());
            let change = if before.events > 0 {
                format!(
                    "，同比{}{}",
                    if now.events >= before.events {
                        "上升"
                    } else {
                        "下降"
                    },
                    pct((now.events as f64 - before.events as f64).abs() * 100.0
                        / before.events as f64)
                )
            } else {
                "（上年同期无数据）".to_string()
            };
            p5.push(format!(
                "网络安全方面，监测发现网络安全事件{}起{}，其中高危{}起、中危{}起、低危{}起，归并为安全事件{}个；下发整改通知{}份，按期整改率{}。",
                int(now.events as f64),
                change,
                int(count_of(&now.events_by_severity, "high")),
                int(count_of(&now.events_by_severity, "medium")),
                int(count_of(&now.events_by_severity, "low")),
                int(now.incidents as f64),
                int(now.notices_issued as f64),
                pct(now.on_time_rate)
            ));
            charts.push(pb::Chart {
                key: "alerts.by_severity".into(),
                title: "网络安全事件（按等级，与上年同期比较）".into(),
                kind: "bar".into(),
                unit: "起".into(),
                categories: SEVERITIES.iter().map(|(_, l)| (*l).to_string()).collect(),
                series: vec![
                    pb::Series {
                        name: half.name(),
                        values: SEVERITIES
                            .iter()
                            .map(|(k, _)| count_of(&now.events_by_severity, k))
                            .collect(),
                    },
                    pb::Series {
                        name: "上年同期".into(),
                        values: SEVERITIES
                            .iter()
                            .map(|(k, _)| count_of(&before.events_by_severity, k))
                            .collect(),
                    },
                ],
            });
            let mut categories: Vec<String> = now
                .events_by_category
                .iter()
                .chain(before.events_by_category.iter())
                .map(|c| c.key.clone())
                .collect();
            categories.sort();
            categories.dedup();
            charts.push(pb::Chart {
                key: "alerts.by_category".into(),
                title: "网络安全事件（按类别，与上年同期比较）".into(),
                kind: "bar".into(),
                unit: "起".into(),
                series: vec![
                    pb::Series {
                        name: half.name(),
                        values: categories
                            .iter()
                            .map(|k| count_of(&now.events_by_category, k))
                            .collect(),
                    },
                    pb::Series {
                        name: "上年同期".into(),
                        values: categories
                            .iter()
                            .map(|k| count_of(&before.events_by_category, k))
                            .collect(),
                    },
                ],
                categories,
            });
        }
        Err(e) => notes.push(failed("alerts.GetAlertStats", e)),
    }
    sections.push(pb::ReportSection {
        key: "projects_security".into(),
        title: "五、信息化项目和网络安全".into(),
        paragraphs: p5,
    });

    // 六、政府网站和政务新媒体
    let mut p6 = Vec::new();
    match &content {
        Ok(c) => {
            let received: i64 = c.messages.iter().map(|m| m.received).sum();
            let answered: i64 = c.messages.iter().map(|m| m.answered).sum();
            f.add(
                "content.posts",
                "网站发布信息",
                c.posts as f64,
                "条",
                "posts published in the half-year and not withdrawn",
                "content.GetContentStats",
            );
            f.add(
                "content.special_topic_posts",
                "专题专栏信息",
                c.special_topic_posts as f64,
                "条",
                "of which in special-topic columns",
                "content.GetContentStats",
            );
            f.add(
                "content.media_accounts",
                "政务新媒体账号",
                c.media_accounts as f64,
                "个",
                "accounts in the register",
                "content.GetContentStats",
            );
            f.add(
                "content.messages",
                "领导信箱和论坛留言",
                received as f64,
                "条",
                "messages received in the half-year",
                "content.GetContentStats",
            );
            f.add(
                "content.findings",
                "错敏词",
                c.findings as f64,
                "处",
                "findings standing in what the half-year published",
                "content.GetContentStats",
            );
            p6.push(format!(
                "政府网站发布信息{}条，其中专题专栏{}条；管理政务新媒体账号{}个；办理领导信箱和市民心声论坛留言{}条，答复公开{}条。",
                int(c.posts as f64),
                int(c.special_topic_posts as f64),
                c.media_accounts,
                int(received as f64),
                int(answered as f64)
            ));
        }
        Err(e) => notes.push(failed("content.GetContentStats", e)),
    }
    sections.push(pb::ReportSection {
        key: "website".into(),
        title: "六、政府网站和政务新媒体".into(),
        paragraphs: p6,
    });

    Ok(pb::WorkReport {
        year: half.year,
        half: half.half,
        from: Some(yiwang_kit::to_timestamp(from)),
        to: Some(yiwang_kit::to_timestamp(to)),
        generated_at: Some(yiwang_kit::to_timestamp(Utc::now())),
        title: format!("数据资源局{}工作总结（数据部分）", half.name()),
        sections,
        figures: f.list,
        charts,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_as_the_report_writes_them() {
        assert_eq!(int(227_000.0), "227,000");
        assert_eq!(int(7_107.0), "7,107");
        assert_eq!(int(65.0), "65");
        assert_eq!(pct(62.97), "62.97%");
        assert_eq!(wan(2_110_000_000.0), "2110.00万元");
    }
}
