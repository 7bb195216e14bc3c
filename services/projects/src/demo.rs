//! The reference county's year of IT projects for `yiwang up --demo`: 10 department projects,
//! 2,110,000,000 fen (21.1 million yuan) requested, 220,000,000 fen cut — a saving rate of
//! exactly 10.43 % — each reviewed by a panel of three, every one built under a third-party
//! supervisor (监理), at various stages.

use chrono::{NaiveDate, TimeZone, Utc};
use uuid::Uuid;
use yiwang_kit::Caller;

use crate::model::*;

/// A department of the demo county and some published items it handles.
pub struct DemoDepartment {
    pub code: String,
    pub items: Vec<String>,
}

/// (name, category, requested fen, cut fen, served-network range).
const PROJECTS: &[(&str, &str, i64, i64, &str)] = &[
    (
        "县政务服务一体化平台升级",
        "upgrade",
        480_000_000,
        52_000_000,
        "10.12.0.0/20",
    ),
    (
        "智慧城管综合指挥系统",
        "new_system",
        350_000_000,
        38_000_000,
        "10.12.16.0/22",
    ),
    (
        "县政务云资源扩容",
        "cloud_resources",
        260_000_000,
        27_000_000,
        "10.20.0.0/16",
    ),
    (
        "网络安全态势感知平台",
        "security",
        215_000_000,
        24_000_000,
        "10.12.32.0/24",
    ),
    (
        "不动产登记信息系统运维",
        "operation_maintenance",
        190_000_000,
        19_000_000,
        "10.12.40.0/24",
    ),
    (
        "智慧教育公共服务平台",
        "new_system",
        168_000_000,
        17_500_000,
        "10.12.48.0/22",
    ),
    (
        "医保经办信息系统升级",
        "upgrade",
        142_000_000,
        14_000_000,
        "10.12.56.0/24",
    ),
    (
        "应急指挥调度系统",
        "new_system",
        120_000_000,
        12_500_000,
        "10.12.60.0/24",
    ),
    (
        "市场监管移动执法系统",
        "new_system",
        105_000_000,
        9_000_000,
        "10.12.64.0/24",
    ),
    (
        "电子政务外网安全加固",
        "security",
        80_000_000,
        7_000_000,
        "10.12.72.0/24",
    ),
];

const EXPERTS: &[(&str, &str)] = &[
    ("expert-1", "王建国"),
    ("expert-2", "李慧敏"),
    ("expert-3", "陈志远"),
];

const SUPERVISORS: &[&str] = &[
    "安徽省信息工程监理有限公司",
    "马鞍山市信息化建设监理中心",
    "合肥华信工程监理有限公司",
];

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

/// The demo projects of `year` (the launcher uses last year, so acceptances lie in the past).
pub fn projects(year: i32, departments: &[DemoDepartment]) -> Vec<Project> {
    let mut out = Vec::new();
    if departments.is_empty() {
        return out;
    }
    for (i, &(name, category, requested, cut, range)) in PROJECTS.iter().enumerate() {
        let dept = &departments[i % departments.len()];
        // Two lines: 60 % development/integration, 40 % the rest; the cut split the same way.
        let first = requested * 6 / 10;
        let first_cut = cut * 6 / 10;
        let (c1, c2) = match category {
            "cloud_resources" => ("cloud_services", "operation_maintenance"),
            "security" => ("security", "consulting"),
            "operation_maintenance" => ("operation_maintenance", "hardware"),
            _ => ("development", "system_integration"),
        };
        let lines = vec![
            Line {
                category: c1.into(),
                amount_fen: first,
                justification: "按功能点与工作量测算".into(),
                approved_fen: Some(first - first_cut),
            },
            Line {
                category: c2.into(),
                amount_fen: requested - first,
                justification: "参照同类项目市场询价".into(),
                approved_fen: Some(requested - first - (cut - first_cut)),
            },
        ];
        let created = Utc
            .with_ymd_and_hms(year, 3, 1 + (i as u32 % 20), 1, 30, 0)
            .single()
            .unwrap_or_else(Utc::now);
        let decided = created + chrono::Duration::days(30);
        let reviews = EXPERTS
            .iter()
            .enumerate()
            .map(|(k, (id, name))| Review {
                expert_id: id.to_string(),
                expert_name: name.to_string(),
                scores: vec![
                    ("necessity".into(), 32 + k as u32),
                    ("feasibility".into(), 24 + k as u32),
                    ("economy".into(), 22 + k as u32),
                ],
                // The median of (approved − 1 %, approved, approved + 1 % capped) is the approved.
                lines: lines
                    .iter()
                    .map(|l| {
                        let a = l.approved_fen.unwrap_or(0);
                        let delta = (l.amount_fen - a).min(a / 100);
                        Proposal {
                            approved_fen: match k {
                                0 => a - a / 100,
                                1 => a,
                                _ => a + delta,
                            },
                            reason: "部分功能与既有平台重复，按市场价核减".into(),
                        }
                    })
                    .collect(),
                comment: String::new(),
                updated_at: decided - chrono::Duration::days(3),
            })
            .collect();
        let approved: i64 = lines.iter().filter_map(|l| l.approved_fen).sum();
        let stage = match i {
            0..=2 => "accepted",
            3..=5 => "under_construction",
            6..=7 => "contracted",
            _ => "approved",
        };
        let procurement = (stage != "approved").then(|| Procurement {
            vendor: format!(
                "安徽{}信息技术有限公司",
                [
                    "科大", "皖通", "华云", "联创", "正信", "天成", "中科", "博达"
                ][i % 8]
            ),
            method: if i % 3 == 0 {
                "public_tender"
            } else {
                "competitive_consultation"
            }
            .into(),
            contract_amount_fen: approved - approved / 20,
            signed_on: day(year, 5, 10 + i as u32),
        });
        let construction =
            matches!(stage, "accepted" | "under_construction").then(|| Construction {
                supervisor: SUPERVISORS[i % SUPERVISORS.len()].into(),
                started_on: day(year, 6, 1 + i as u32),
                progress: vec![Progress {
                    percent: if stage == "accepted" {
                        100
                    } else {
                        40 + 10 * i as u32
                    },
                    note: "按监理月报".into(),
                    reported_by: "demo".into(),
                    at: created + chrono::Duration::days(120),
                }],
            });
        let acceptance = (stage == "accepted").then(|| Acceptance {
            accepted_on: day(year, 11, 20 + i as u32),
            result: "passed".into(),
            documents: vec![
                "初步验收报告".into(),
                "监理总结报告".into(),
                "等保测评报告".into(),
            ],
            note: String::new(),
        });
        out.push(Project {
            id: Uuid::now_v7(),
            department: dept.code.clone(),
            year,
            name: name.into(),
            category: category.into(),
            description: format!("{name}：{}年度县级政务信息化项目。", year),
            budget_lines: lines,
            served_items: dept.items.iter().take(2).cloned().collect(),
            network_ranges: vec![range.into()],
            // The accepted ones were planned for the year's end (one for October: accepted late);
            // the rest, still being bought or built, for the end of the next (the current) year.
            planned_acceptance_date: Some(match i {
                1 => day(year, 10, 31),
                0..=2 => day(year, 12, 31),
                _ => day(year + 1, 12, 31),
            }),
            state: stage.into(),
            panel: Some(Panel {
                experts: EXPERTS
                    .iter()
                    .map(|(id, name)| Expert {
                        id: id.to_string(),
                        name: name.to_string(),
                        department: "省政务信息化专家库".into(),
                    })
                    .collect(),
                criteria: vec![
                    Criterion {
                        name: "necessity".into(),
                        max_score: 40,
                    },
                    Criterion {
                        name: "feasibility".into(),
                        max_score: 30,
                    },
                    Criterion {
                        name: "economy".into(),
                        max_score: 30,
                    },
                ],
                formed_by: "demo".into(),
                formed_at: created + chrono::Duration::days(7),
            }),
            reviews,
            decision: Some(Decision {
                outcome: "approved".into(),
                rule: "median".into(),
                reason: "专家组评审通过".into(),
                decided_by: "demo".into(),
                decided_at: decided,
            }),
            procurement,
            construction,
            acceptance,
            failed_acceptances: Vec::new(),
            evaluation: None,
            created_by: "demo".into(),
            created_at: created,
            updated_at: decided,
        });
    }
    out
}

/// Loads the demo projects of `year` into an empty database (their acceptances lie in late
/// November of it); `None` when projects exist.
pub async fn load_demo(
    pool: &sqlx::PgPool,
    departments: &[DemoDepartment],
    year: i32,
) -> anyhow::Result<Option<usize>> {
    if departments.is_empty() || crate::store::any(pool).await? {
        return Ok(None);
    }
    let demo = Caller {
        sub: "demo".into(),
        name: "demo loader".into(),
        ..Default::default()
    };
    let projects = projects(year, departments);
    for p in &projects {
        crate::store::insert_as_is(pool, &demo, p, "demo_load").await?;
    }
    Ok(Some(projects.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_year_saves_exactly_10_43_percent() {
        let depts = vec![DemoDepartment {
            code: "340522-A".into(),
            items: vec![],
        }];
        let ps = projects(2025, &depts);
        assert_eq!(ps.len(), 10);
        let (total, _) = crate::stats::compute(&ps, day(2026, 6, 1)).unwrap();
        assert_eq!(total.requested_fen, 2_110_000_000);
        assert_eq!(total.cut_fen, 220_000_000);
        assert_eq!(total.approved_fen, 1_890_000_000);
        assert_eq!(total.saving_rate_bp, 1043);
        assert_eq!(total.reviewed, 10);
        // Only the project planned for October and accepted in November is late.
        assert_eq!(total.late, 1);
        assert_eq!(total.contract_savings_fen, 86_050_000);
        for p in &ps {
            // The panel's median reproduces each approved line.
            for (i, l) in p.budget_lines.iter().enumerate() {
                let props: Vec<i64> = p.reviews.iter().map(|r| r.lines[i].approved_fen).collect();
                assert_eq!(crate::money::median(&props), l.approved_fen);
                assert!(props.iter().all(|&a| a >= 0 && a <= l.amount_fen));
            }
        }
    }
}
