//! Sample cases for the demo county (`yiwang up --demo`): five months of filings against the
//! catalogue's demo items, in the reference county's proportions (62.97 % online), worked
//! through the lifecycle, evaluated, with a few 差评 rectifications and tickets.
//!
//! The launcher hands in the items (this crate does not depend on the catalogue's); everything
//! else is generated here, deterministically.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use sqlx::PgPool;
use uuid::Uuid;
use yiwang_kit::crypto::DataKey;

use crate::calendar::{Calendar, Limit, SHANGHAI, Unit};

/// What the demo needs of a published catalogue item.
pub struct DemoItem {
    pub code: String,
    pub name: String,
    pub department: String,
    pub task_type: String,
    pub required_materials: Vec<String>,
    pub limit: Limit,
    pub high_frequency: bool,
}

pub struct Loaded {
    pub cases: usize,
    pub evaluations: usize,
    pub tickets: usize,
}

/// splitmix64: tiny, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// True with probability `per_10000` / 10000.
    fn chance(&mut self, per_10000: u64) -> bool {
        self.below(10_000) < per_10000
    }
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀英", "桂英", "建华", "志强", "海燕", "晓东", "文静",
];

fn resident_id(rng: &mut Rng) -> String {
    let birth = NaiveDate::from_ymd_opt(1950, 1, 1).expect("valid date")
        + Duration::days(rng.below(365 * 55) as i64);
    let first17 = format!("340522{}{:03}", birth.format("%Y%m%d"), rng.below(1000));
    yiwang_kit::ids::resident_id_with_check(&first17).expect("17 digits")
}

fn phone(rng: &mut Rng) -> String {
    let prefixes = [
        "138", "139", "150", "151", "155", "177", "180", "186", "187", "199",
    ];
    format!(
        "{}{:08}",
        prefixes[rng.below(prefixes.len() as u64) as usize],
        rng.below(100_000_000)
    )
}

/// Loads the demo cases unless the service already has cases. `now` anchors the five months.
pub async fn load_demo(
    pool: &PgPool,
    key: &DataKey,
    calendar: &Calendar,
    region: &str,
    items: &[DemoItem],
    cases_per_day: u64,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<Loaded>> {
    let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM cases")
        .fetch_one(pool)
        .await?;
    if existing > 0 || items.is_empty() {
        return Ok(None);
    }
    for (code, name, agreement) in crate::partner::DEMO {
        sqlx::query(
            "INSERT INTO partner_regions (region_code, name, agreement, since, updated_by)
             VALUES ($1, $2, $3, DATE '2021-06-01', 'demo') ON CONFLICT DO NOTHING",
        )
        .bind(code)
        .bind(name)
        .bind(agreement)
        .execute(pool)
        .await?;
    }
    let mut rng = Rng(340_522);
    // A few dozen high-frequency items take most filings, as in a real county.
    let hot: Vec<&DemoItem> = items.iter().filter(|i| i.high_frequency).collect();
    let today = now.with_timezone(&SHANGHAI).date_naive();
    let first = today - Duration::days(150);
    let mut loaded = Loaded {
        cases: 0,
        evaluations: 0,
        tickets: 0,
    };
    let mut day = first;
    while day <= today {
        let working = calendar.is_working_day(day);
        let n = if working {
            cases_per_day
        } else {
            cases_per_day / 10
        };
        let mut tx = pool.begin().await?;
        for seq in 1..=n {
            let item = if !hot.is_empty() && rng.chance(7_000) {
                hot[rng.below(hot.len() as u64) as usize]
            } else {
                &items[rng.below(items.len() as u64) as usize]
            };
            // 62.97 % online (web 40 %, app 22.97 %), the rest at halls and terminals.
            let r = rng.below(10_000);
            let channel = match r {
                0..4000 => "online",
                4000..6297 => "mobile",
                6297..9200 => "window",
                9200..9800 => "self_service",
                _ => "cross_province",
            };
            let hour = 9 + rng.below(8) as u32;
            let filed_local = SHANGHAI
                .from_local_datetime(
                    &day.and_hms_opt(hour, rng.below(60) as u32, 0)
                        .expect("valid time"),
                )
                .single()
                .expect("fixed offset");
            let filed = filed_local.to_utc();
            if filed > now {
                continue;
            }
            let person = !item.task_type.starts_with('0') || rng.chance(6_500);
            let name = format!(
                "{}{}",
                SURNAMES[rng.below(SURNAMES.len() as u64) as usize],
                GIVEN[rng.below(GIVEN.len() as u64) as usize]
            );
            let id_number = resident_id(&mut rng);
            let tel = phone(&mut rng);
            let id = Uuid::now_v7();
            let number = format!("{region}-{}-{seq:06}", day.format("%Y%m%d"));
            // Most cases are finished; the last two weeks' are still moving.
            let age = (today - day).num_days();
            let roll = rng.below(100);
            let state = if age > 14 {
                match roll {
                    0..3 => "not_accepted",
                    3..5 => "withdrawn",
                    5..8 => "denied",
                    8..60 => "delivered",
                    _ => "approved",
                }
            } else {
                match roll {
                    0..20 => "received",
                    20..55 => "accepted",
                    55..60 => "correction",
                    _ => "approved",
                }
            };
            let accepted_at =
                (state != "received" && state != "not_accepted" && state != "withdrawn")
                    .then(|| filed + Duration::minutes(30 + rng.below(600) as i64));
            let deadline = match accepted_at {
                Some(a) => calendar.deadline(a, item.limit).ok().map(|d| d.at.to_utc()),
                None => None,
            };
            let decided = matches!(state, "approved" | "denied" | "delivered");
            // 98 % decided within the limit.
            let decided_at = match (decided, accepted_at, deadline) {
                (true, Some(a), Some(d)) => {
                    let span = (d - a).num_minutes().max(60);
                    let late = rng.chance(200);
                    let at = if late {
                        d + Duration::hours(1 + rng.below(48) as i64)
                    } else {
                        a + Duration::minutes((span as u64 * (30 + rng.below(65)) / 100) as i64)
                    };
                    Some(at.min(now))
                }
                _ => None,
            };
            let clock = match state {
                "accepted" => "running",
                "correction" => "stopped",
                _ => "none",
            };
            let materials: Vec<String> = if state == "correction" {
                item.required_materials.iter().skip(1).cloned().collect()
            } else {
                item.required_materials.clone()
            };
            let outcome = if state == "denied" {
                "不符合法定条件"
            } else {
                ""
            };
            let (kind, uscc) = if person {
                ("person", String::new())
            } else {
                (
                    "legal_person",
                    yiwang_kit::ids::uscc_with_check(&format!(
                        "91340522MA{:07}",
                        rng.below(10_000_000)
                    ))
                    .unwrap_or_default(),
                )
            };
            let delivery = if state == "delivered" {
                ["window", "ems", "electronic"][rng.below(3) as usize]
            } else {
                ""
            };
            sqlx::query(
                "INSERT INTO cases (id, case_number, item_code, item_version, item_name, department, task_type, channel,
                    applicant_kind, applicant_name, applicant_id_sealed, applicant_id_hash, applicant_uscc,
                    applicant_phone_sealed, applicant_phone_hash, owner_sub, filed_by, materials, required_materials,
                    state, limit_value, limit_unit, deadline, clock, clock_stopped_at, outcome_reason, delivery_method,
                    tracking_number, overdue_notified, created_at, updated_at, accepted_at, decided_at,
                    partner_region, cross_direction)
                 VALUES ($1,$2,$3,1,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,
                         $27,$28,$29,$30,$31,$32,$33,$34)",
            )
            .bind(id)
            .bind(&number)
            .bind(&item.code)
            .bind(&item.name)
            .bind(&item.department)
            .bind(&item.task_type)
            .bind(channel)
            .bind(kind)
            .bind(&name)
            .bind(key.seal(&id_number, b"cases.applicant_id"))
            .bind(key.lookup_hash("id_number", &id_number).to_vec())
            .bind(&uscc)
            .bind(key.seal(&tel, b"cases.applicant_phone"))
            .bind(key.lookup_hash("phone", &tel).to_vec())
            .bind(if channel == "online" || channel == "mobile" { format!("demo-citizen-{}", rng.below(5000)) } else { String::new() })
            .bind(if channel == "online" || channel == "mobile" { "demo-citizen".to_string() } else { "demo-clerk".to_string() })
            .bind(&materials)
            .bind(&item.required_materials)
            .bind(state)
            .bind(item.limit.value as i32)
            .bind(item.limit.unit.as_str())
            .bind(deadline)
            .bind(clock)
            .bind((clock == "stopped").then_some(now - Duration::hours(2)))
            .bind(outcome)
            .bind(delivery)
            .bind(if delivery == "ems" { format!("EA{:09}CN", rng.below(1_000_000_000)) } else { String::new() })
            // Not yet announced: the first overdue sweep of the running platform announces each
            // once, and supervision opens its 督办 notice on the real case.
            .bind(false)
            .bind(filed)
            .bind(decided_at.or(accepted_at).unwrap_or(filed))
            .bind(accepted_at)
            .bind(decided_at)
            .bind(if channel == "cross_province" {
                // From the sequence, not the generator: the rest of the demo stays as it was.
                crate::partner::DEMO[(seq % 3) as usize].0
            } else {
                ""
            })
            .bind(if channel == "cross_province" {
                crate::partner::DIRECTIONS[(seq / 3 % 2) as usize]
            } else {
                ""
            })
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO case_transitions (case_id, at, actor, action, from_state, to_state, code) VALUES ($1, $2, 'demo', 'file', '', 'received', 1)",
            )
            .bind(id)
            .bind(filed)
            .execute(&mut *tx)
            .await?;
            loaded.cases += 1;
            // About 60 % of decided cases are evaluated; 99 % of those are 好评.
            if let Some(at) = decided_at
                && rng.chance(6_000)
            {
                let level: i32 = if rng.chance(100) {
                    1 + rng.below(2) as i32
                } else {
                    3 + (rng.below(100) / 40).min(2) as i32 + i32::from(rng.chance(8_000))
                };
                let level = level.clamp(1, 5);
                let eid = Uuid::now_v7();
                sqlx::query("INSERT INTO evaluations (id, case_id, level, evaluator, created_at) VALUES ($1,$2,$3,'demo',$4)")
                    .bind(eid)
                    .bind(id)
                    .bind(level)
                    .bind(at + Duration::hours(2))
                    .execute(&mut *tx)
                    .await?;
                if level <= 2 {
                    let d = calendar
                        .deadline(at, Limit::new(5, Unit::WorkingDays))
                        .map(|d| d.at.to_utc())
                        .unwrap_or(at);
                    sqlx::query(
                        "INSERT INTO rectifications (id, evaluation_id, case_id, department, state, deadline, completion_note,
                            completed_at, callback_note, callback_satisfied, called_back_at, created_at)
                         VALUES ($1,$2,$3,$4,'called_back',$5,'已整改',$6,'已回访',true,$6,$7)",
                    )
                    .bind(Uuid::now_v7())
                    .bind(eid)
                    .bind(id)
                    .bind(&item.department)
                    .bind(d)
                    .bind(d - Duration::hours(4))
                    .bind(at + Duration::hours(2))
                    .execute(&mut *tx)
                    .await?;
                }
                loaded.evaluations += 1;
            }
        }
        if n > 0 {
            sqlx::query("INSERT INTO case_number_days (region, day, last) VALUES ($1, $2, $3) ON CONFLICT (region, day) DO UPDATE SET last = greatest(case_number_days.last, $3)")
                .bind(region)
                .bind(day)
                .bind(n as i32)
                .execute(&mut *tx)
                .await?;
        }
        // Two tickets a working day, all dispatched, replied within three working days and closed.
        if working {
            for k in 0..2u64 {
                let at = SHANGHAI
                    .from_local_datetime(
                        &day.and_hms_opt(10 + k as u32 * 3, 0, 0)
                            .expect("valid time"),
                    )
                    .single()
                    .expect("fixed offset")
                    .to_utc();
                if at + Duration::days(7) > now {
                    continue;
                }
                let item = &items[rng.below(items.len() as u64) as usize];
                let kind =
                    ["enterprise_request", "complaint", "web_message"][rng.below(3) as usize];
                let deadline = calendar
                    .deadline(at, Limit::new(3, Unit::WorkingDays))
                    .map(|d| d.at.to_utc())
                    .unwrap_or(at);
                let ticket_id = Uuid::now_v7();
                sqlx::query(
                    "INSERT INTO tickets (id, kind, subject, body, state, submitted_by, department, dispatched_by, dispatched_at,
                        reply_deadline, reply, replied_by, replied_at, callback_note, callback_satisfied, called_back_at,
                        close_note, closed_at, created_at)
                     VALUES ($1,$2,$3,$4,'closed','demo-citizen',$5,'demo-supervisor',$6,$7,'已答复','demo-officer',$8,'已回访',true,$9,'',$9,$10)",
                )
                .bind(ticket_id)
                .bind(kind)
                .bind(format!("关于“{}”的咨询", item.name))
                .bind("请问办理需要哪些材料，多久能办好？")
                .bind(&item.department)
                .bind(at + Duration::hours(1))
                .bind(deadline)
                .bind(at + Duration::hours(20))
                .bind(at + Duration::days(2))
                .bind(at)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO ticket_assignments (ticket_id, department, reply_deadline, reply, replied_by,
                        replied_at, overdue_notified, assigned_at)
                     VALUES ($1, $2, $3, '已答复', 'demo-officer', $4, true, $5)",
                )
                .bind(ticket_id)
                .bind(&item.department)
                .bind(deadline)
                .bind(at + Duration::hours(20))
                .bind(at + Duration::hours(1))
                .execute(&mut *tx)
                .await?;
                loaded.tickets += 1;
            }
        }
        tx.commit().await?;
        day += Duration::days(1);
    }
    Ok(Some(loaded))
}
