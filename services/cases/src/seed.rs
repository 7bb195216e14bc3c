//! Sample cases for the demo county (`yiwang up --demo`): the reference half-year (the most
//! recent completed January–June) at the county's real scale — 227,000 cases January–May, in
//! its proportions (62.97 % online, exact to the case) — and a live tail to today, filed against
//! the catalogue's demo items, worked through the lifecycle, evaluated, with a few 差评
//! rectifications and tickets. Loaded in bulk (one UNNEST insert per table and batch).
//!
//! The launcher hands in the items (this crate does not depend on the catalogue's); everything
//! else is generated here, deterministically.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use sqlx::PgPool;
use uuid::Uuid;
use yiwang_kit::crypto::DataKey;

use crate::calendar::{Calendar, Limit, SHANGHAI, Unit};

/// The county hall's comprehensive-window clerks of the demo: (account, name, window). The
/// launcher registers them with the insight service for the monthly assessment.
pub const DEMO_WINDOW_CLERKS: &[(&str, &str, &str)] = &[
    ("hs-window-a01", "陈静", "A01"),
    ("hs-window-a02", "王磊", "A02"),
    ("hs-window-a03", "刘芳", "A03"),
    ("hs-window-a04", "张伟", "A04"),
    ("hs-window-a05", "李娜", "A05"),
    ("hs-window-a06", "杨洋", "A06"),
];

/// Cases this recent carry their acceptance and decision in the history, by actor.
const RECENT_DAYS: i64 = 62;

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

type Rng = yiwang_kit::demo_rng::SplitMix64;

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

/// The reference half-year: the most recent completed January–June before `today`.
pub fn reference_year(today: NaiveDate) -> i32 {
    if today.month() >= 7 {
        today.year()
    } else {
        today.year() - 1
    }
}

/// Cases a day takes, as a weight: a working day ten, a rest day one.
fn weight(calendar: &Calendar, day: NaiveDate) -> u64 {
    if calendar.is_working_day(day) { 10 } else { 1 }
}

/// Shares given out in exact proportion along a sequence (so the first n cases hold the
/// shares to the nearest case): the category furthest behind its share takes the next.
struct Proportions<const N: usize> {
    shares: [u64; N],
    given: [u64; N],
    n: u64,
}

impl<const N: usize> Proportions<N> {
    fn new(shares: [u64; N]) -> Self {
        Proportions {
            shares,
            given: [0; N],
            n: 0,
        }
    }
    fn next(&mut self) -> usize {
        self.n += 1;
        let total: u64 = self.shares.iter().sum();
        let behind = |i: usize| (self.n * self.shares[i]) as i128 - (self.given[i] * total) as i128;
        let pick = (0..N)
            .max_by_key(|&i| (behind(i), std::cmp::Reverse(i)))
            .unwrap_or(0);
        self.given[pick] += 1;
        pick
    }
}

/// The channels, in the reference county's mix: 62.97 % online (web 40.00 %, app 22.97 %),
/// windows 29.03 %, self-service terminals 6 %, 跨省通办 1 %.
const CHANNELS: [&str; 5] = [
    "online",
    "mobile",
    "window",
    "self_service",
    "cross_province",
];
const CHANNEL_SHARES: [u64; 5] = [4000, 2297, 2903, 600, 200];

/// The cases of one batch, column by column (inserted with one UNNEST).
#[derive(Default)]
struct Batch {
    id: Vec<Uuid>,
    number: Vec<String>,
    item_code: Vec<String>,
    item_name: Vec<String>,
    department: Vec<String>,
    task_type: Vec<String>,
    channel: Vec<&'static str>,
    kind: Vec<&'static str>,
    name: Vec<String>,
    id_sealed: Vec<Vec<u8>>,
    id_hash: Vec<Vec<u8>>,
    uscc: Vec<String>,
    phone_sealed: Vec<Vec<u8>>,
    phone_hash: Vec<Vec<u8>>,
    owner: Vec<String>,
    filed_by: Vec<&'static str>,
    materials: Vec<String>,
    required: Vec<String>,
    state: Vec<&'static str>,
    limit_value: Vec<i32>,
    limit_unit: Vec<&'static str>,
    deadline: Vec<Option<DateTime<Utc>>>,
    clock: Vec<&'static str>,
    stopped_at: Vec<Option<DateTime<Utc>>>,
    outcome: Vec<&'static str>,
    delivery: Vec<&'static str>,
    tracking: Vec<String>,
    created: Vec<DateTime<Utc>>,
    updated: Vec<DateTime<Utc>>,
    accepted: Vec<Option<DateTime<Utc>>>,
    decided: Vec<Option<DateTime<Utc>>>,
    partner: Vec<&'static str>,
    direction: Vec<&'static str>,
    // Evaluations (and the rectification of a 差评).
    eval_id: Vec<Uuid>,
    eval_case: Vec<Uuid>,
    eval_level: Vec<i32>,
    eval_at: Vec<DateTime<Utc>>,
    rect_eval: Vec<Uuid>,
    rect_case: Vec<Uuid>,
    rect_department: Vec<String>,
    rect_deadline: Vec<DateTime<Utc>>,
    rect_at: Vec<DateTime<Utc>>,
    // The recent cases' acceptances and decisions by the accounts that made them.
    tr_case: Vec<Uuid>,
    tr_at: Vec<DateTime<Utc>>,
    tr_actor: Vec<String>,
    tr_action: Vec<&'static str>,
    tr_from: Vec<&'static str>,
    tr_to: Vec<&'static str>,
    tr_code: Vec<i32>,
    // Case numbers given per day.
    days: Vec<NaiveDate>,
    day_last: Vec<i32>,
}

/// Materials as one string for UNNEST (arrays of arrays flatten); split again in SQL.
const SEP: &str = "\u{1f}";

impl Batch {
    async fn flush(&mut self, pool: &PgPool, region: &str) -> anyhow::Result<()> {
        if self.id.is_empty() && self.days.is_empty() {
            return Ok(());
        }
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO cases (id, case_number, item_code, item_version, item_name, department, task_type, channel,
                applicant_kind, applicant_name, applicant_id_sealed, applicant_id_hash, applicant_uscc,
                applicant_phone_sealed, applicant_phone_hash, owner_sub, filed_by, materials, required_materials,
                state, limit_value, limit_unit, deadline, clock, clock_stopped_at, outcome_reason, delivery_method,
                tracking_number, overdue_notified, created_at, updated_at, accepted_at, decided_at,
                partner_region, cross_direction)
             SELECT id, num, code, 1, iname, dept, tt, ch, kind, nm, ids, idh, uscc, phs, phh, owner, fb,
                    string_to_array(mat, E'\\x1f'), string_to_array(req, E'\\x1f'), st, lv, lu, dl, clk, stp,
                    outc, dlv, trk, false, cr, up, acc, dec, pr, dir
               FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                           $8::text[], $9::text[], $10::bytea[], $11::bytea[], $12::text[], $13::bytea[],
                           $14::bytea[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[],
                           $20::int4[], $21::text[], $22::timestamptz[], $23::text[], $24::timestamptz[],
                           $25::text[], $26::text[], $27::text[], $28::timestamptz[], $29::timestamptz[],
                           $30::timestamptz[], $31::timestamptz[], $32::text[], $33::text[])
                 AS t(id, num, code, iname, dept, tt, ch, kind, nm, ids, idh, uscc, phs, phh, owner, fb, mat,
                      req, st, lv, lu, dl, clk, stp, outc, dlv, trk, cr, up, acc, dec, pr, dir)",
        )
        .bind(&self.id)
        .bind(&self.number)
        .bind(&self.item_code)
        .bind(&self.item_name)
        .bind(&self.department)
        .bind(&self.task_type)
        .bind(&self.channel)
        .bind(&self.kind)
        .bind(&self.name)
        .bind(&self.id_sealed)
        .bind(&self.id_hash)
        .bind(&self.uscc)
        .bind(&self.phone_sealed)
        .bind(&self.phone_hash)
        .bind(&self.owner)
        .bind(&self.filed_by)
        .bind(&self.materials)
        .bind(&self.required)
        .bind(&self.state)
        .bind(&self.limit_value)
        .bind(&self.limit_unit)
        .bind(&self.deadline)
        .bind(&self.clock)
        .bind(&self.stopped_at)
        .bind(&self.outcome)
        .bind(&self.delivery)
        .bind(&self.tracking)
        .bind(&self.created)
        .bind(&self.updated)
        .bind(&self.accepted)
        .bind(&self.decided)
        .bind(&self.partner)
        .bind(&self.direction)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO case_transitions (case_id, at, actor, action, from_state, to_state, code)
             SELECT c, a, 'demo', 'file', '', 'received', 1 FROM unnest($1::uuid[], $2::timestamptz[]) AS t(c, a)",
        )
        .bind(&self.id)
        .bind(&self.created)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO case_transitions (case_id, at, actor, action, from_state, to_state, code)
             SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int4[])",
        )
        .bind(&self.tr_case)
        .bind(&self.tr_at)
        .bind(&self.tr_actor)
        .bind(&self.tr_action)
        .bind(&self.tr_from)
        .bind(&self.tr_to)
        .bind(&self.tr_code)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO evaluations (id, case_id, level, evaluator, created_at)
             SELECT i, c, l, 'demo', a FROM unnest($1::uuid[], $2::uuid[], $3::int4[], $4::timestamptz[]) AS t(i, c, l, a)",
        )
        .bind(&self.eval_id)
        .bind(&self.eval_case)
        .bind(&self.eval_level)
        .bind(&self.eval_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO rectifications (id, evaluation_id, case_id, department, state, deadline, completion_note,
                completed_at, callback_note, callback_satisfied, called_back_at, created_at)
             SELECT gen_random_uuid(), e, c, d, 'called_back', dl, '已整改', dl - interval '4 hours', '已回访', true,
                    dl - interval '4 hours', a
               FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::timestamptz[]) AS t(e, c, d, dl, a)",
        )
        .bind(&self.rect_eval)
        .bind(&self.rect_case)
        .bind(&self.rect_department)
        .bind(&self.rect_deadline)
        .bind(&self.rect_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO case_number_days (region, day, last) SELECT $1, d, l FROM unnest($2::date[], $3::int4[]) AS t(d, l)
             ON CONFLICT (region, day) DO UPDATE SET last = greatest(case_number_days.last, EXCLUDED.last)",
        )
        .bind(region)
        .bind(&self.days)
        .bind(&self.day_last)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        *self = Batch::default();
        Ok(())
    }
}

/// Loads the demo cases unless the service already has cases: `jan_may` cases in January–May
/// of the reference half-year ([`reference_year`]), and at the same daily rate from its first
/// day to `now` (a rest day takes a tenth of a working day's), in bulk.
pub async fn load_demo(
    pool: &PgPool,
    key: &DataKey,
    calendar: &Calendar,
    region: &str,
    items: &[DemoItem],
    jan_may: u64,
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
    let mut rng = Rng::new(340_522);
    // A few dozen high-frequency items take most filings, as in a real county.
    let hot: Vec<&DemoItem> = items.iter().filter(|i| i.high_frequency).collect();
    let today = now.with_timezone(&SHANGHAI).date_naive();
    let year = reference_year(today);
    let first = NaiveDate::from_ymd_opt(year, 1, 1).expect("valid date");
    let june = NaiveDate::from_ymd_opt(year, 6, 1).expect("valid date");
    let jan_may_weight: u64 = first
        .iter_days()
        .take_while(|d| *d < june)
        .map(|d| weight(calendar, d))
        .sum();
    let mut loaded = Loaded {
        cases: 0,
        evaluations: 0,
        tickets: 0,
    };
    let mut channels = Proportions::new(CHANNEL_SHARES);
    let mut batch = Batch::default();
    let (mut cumulative, mut given) = (0u64, 0u64);
    let mut day = first;
    while day <= today {
        let working = calendar.is_working_day(day);
        // Exactly `jan_may` by the end of May: the running total follows the weights.
        cumulative += weight(calendar, day);
        let due = jan_may * cumulative / jan_may_weight.max(1);
        let n = due - given;
        given = due;
        for seq in 1..=n {
            let item = if !hot.is_empty() && rng.chance(7_000) {
                hot[rng.index(hot.len())]
            } else {
                &items[rng.index(items.len())]
            };
            let channel = CHANNELS[channels.next()];
            let hour = 9 + rng.below(8) as u32;
            let filed = SHANGHAI
                .from_local_datetime(
                    &day.and_hms_opt(hour, rng.below(60) as u32, 0)
                        .expect("valid time"),
                )
                .single()
                .expect("fixed offset")
                .to_utc();
            if filed > now {
                continue;
            }
            let person = !item.task_type.starts_with('0') || rng.chance(6_500);
            let name = format!(
                "{}{}",
                SURNAMES[rng.index(SURNAMES.len())],
                GIVEN[rng.index(GIVEN.len())]
            );
            let id_number = resident_id(&mut rng);
            let tel = phone(&mut rng);
            let id = Uuid::now_v7();
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
            // 99.5 % decided within the limit.
            let decided_at = match (decided, accepted_at, deadline) {
                (true, Some(a), Some(d)) => {
                    let span = (d - a).num_minutes().max(60);
                    let at = if rng.chance(50) {
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
                ["window", "ems", "electronic"][rng.index(3)]
            } else {
                ""
            };
            let online = channel == "online" || channel == "mobile";
            let b = &mut batch;
            b.id.push(id);
            b.number
                .push(format!("{region}-{}-{seq:06}", day.format("%Y%m%d")));
            b.item_code.push(item.code.clone());
            b.item_name.push(item.name.clone());
            b.department.push(item.department.clone());
            b.task_type.push(item.task_type.clone());
            b.channel.push(channel);
            b.kind.push(kind);
            b.name.push(name);
            b.id_sealed
                .push(key.seal(&id_number, b"cases.applicant_id"));
            b.id_hash
                .push(key.lookup_hash("id_number", &id_number).to_vec());
            b.uscc.push(uscc);
            b.phone_sealed
                .push(key.seal(&tel, b"cases.applicant_phone"));
            b.phone_hash.push(key.lookup_hash("phone", &tel).to_vec());
            b.owner.push(if online {
                format!("demo-citizen-{}", rng.below(5000))
            } else {
                String::new()
            });
            b.filed_by
                .push(if online { "demo-citizen" } else { "demo-clerk" });
            b.materials.push(materials.join(SEP));
            b.required.push(item.required_materials.join(SEP));
            b.state.push(state);
            b.limit_value.push(item.limit.value as i32);
            b.limit_unit.push(item.limit.unit.as_str());
            b.deadline.push(deadline);
            b.clock.push(clock);
            b.stopped_at
                .push((clock == "stopped").then_some(now - Duration::hours(2)));
            b.outcome.push(if state == "denied" {
                "不符合法定条件"
            } else {
                ""
            });
            b.delivery.push(delivery);
            b.tracking.push(if delivery == "ems" {
                format!("EA{:09}CN", rng.below(1_000_000_000))
            } else {
                String::new()
            });
            b.created.push(filed);
            b.updated.push(decided_at.or(accepted_at).unwrap_or(filed));
            b.accepted.push(accepted_at);
            b.decided.push(decided_at);
            // The last two months' cases carry who accepted and decided them (the monthly
            // assessment reads the history by actor): at the county hall's comprehensive
            // windows for window filings, the department's officer otherwise. From the
            // sequence, not the generator.
            if age <= RECENT_DAYS {
                let clerk = DEMO_WINDOW_CLERKS[(seq % DEMO_WINDOW_CLERKS.len() as u64) as usize].0;
                let officer = format!("demo-officer-{}", item.department);
                if let Some(at) = accepted_at {
                    let actor = if channel == "window" {
                        clerk.to_string()
                    } else {
                        officer.clone()
                    };
                    b.tr_case.push(id);
                    b.tr_at.push(at);
                    b.tr_actor.push(actor);
                    b.tr_action.push("accept");
                    b.tr_from.push("received");
                    b.tr_to.push("accepted");
                    b.tr_code.push(
                        crate::lifecycle::process_code("accept", "received", "accepted").0 as i32,
                    );
                }
                if let Some(at) = decided_at {
                    let to = if state == "denied" {
                        "denied"
                    } else {
                        "approved"
                    };
                    b.tr_case.push(id);
                    b.tr_at.push(at);
                    b.tr_actor.push(if channel == "window" {
                        clerk.to_string()
                    } else {
                        officer
                    });
                    b.tr_action.push("decide");
                    b.tr_from.push("accepted");
                    b.tr_to.push(to);
                    b.tr_code
                        .push(crate::lifecycle::process_code("decide", "accepted", to).0 as i32);
                }
            }
            // From the sequence, not the generator: the rest of the demo stays as it was.
            let cross = channel == "cross_province";
            b.partner.push(if cross {
                crate::partner::DEMO[(seq % 3) as usize].0
            } else {
                ""
            });
            b.direction.push(if cross {
                crate::partner::DIRECTIONS[(seq / 3 % 2) as usize]
            } else {
                ""
            });
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
                b.eval_id.push(eid);
                b.eval_case.push(id);
                b.eval_level.push(level);
                b.eval_at.push(at + Duration::hours(2));
                if level <= 2 {
                    b.rect_eval.push(eid);
                    b.rect_case.push(id);
                    b.rect_department.push(item.department.clone());
                    b.rect_deadline.push(
                        calendar
                            .deadline(at, Limit::new(5, Unit::WorkingDays))
                            .map(|d| d.at.to_utc())
                            .unwrap_or(at),
                    );
                    b.rect_at.push(at + Duration::hours(2));
                }
                loaded.evaluations += 1;
            }
        }
        if n > 0 {
            batch.days.push(day);
            batch.day_last.push(n as i32);
        }
        if batch.id.len() >= 5_000 {
            batch.flush(pool, region).await?;
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
                let item = &items[rng.index(items.len())];
                // The doors other than the website (whose messages come as their own tickets).
                let (kind, source) = [
                    ("enterprise_request", "window_enterprise"),
                    ("complaint", "window_complaint"),
                    ("complaint", "hotline_12345"),
                    ("enterprise_request", "app"),
                ][rng.index(4)];
                let deadline = calendar
                    .deadline(at, Limit::new(3, Unit::WorkingDays))
                    .map(|d| d.at.to_utc())
                    .unwrap_or(at);
                let ticket_id = Uuid::now_v7();
                let mut tx = pool.begin().await?;
                sqlx::query(
                    "INSERT INTO tickets (id, kind, source, subject, body, state, submitted_by, department, dispatched_by, dispatched_at,
                        reply_deadline, reply, replied_by, replied_at, callback_note, callback_satisfied, called_back_at,
                        close_note, closed_at, created_at)
                     VALUES ($1,$2,$11,$3,$4,'closed','demo-citizen',$5,'demo-supervisor',$6,$7,'已答复','demo-officer',$8,'已回访',true,$9,'',$9,$10)",
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
                .bind(source)
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
                tx.commit().await?;
                loaded.tickets += 1;
            }
        }
        day += Duration::days(1);
    }
    batch.flush(pool, region).await?;
    crate::case_counts::backfill_handling_times(pool, calendar).await?;
    Ok(Some(loaded))
}

/// A website message (领导信箱, 市民心声论坛) as the ticket it became: the launcher hands the
/// content service's demo messages over, so both services hold the same ones.
pub struct DemoTicket {
    pub id: Uuid,
    pub source: String,
    pub subject: String,
    pub body: String,
    /// The forwarding service's account, as when the content service forwards a message.
    pub submitted_by: String,
    pub request_id: String,
    pub department: String,
    pub created_at: DateTime<Utc>,
    /// When the department replied (the content service publishes the reply as the answer).
    pub replied_at: DateTime<Utc>,
    pub reply: String,
}

/// Loads the website's tickets, each dispatched within the hour, replied by its deadline, called
/// back satisfied and closed (the county's 100 % rates), with their history. Once: tickets
/// already there are left alone.
pub async fn load_demo_tickets(
    pool: &PgPool,
    calendar: &Calendar,
    tickets: &[DemoTicket],
) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let mut loaded = 0;
    for t in tickets {
        let dispatched = t.created_at + Duration::hours(1);
        let deadline = calendar
            .deadline(dispatched, Limit::new(5, Unit::WorkingDays))
            .map(|d| d.at.to_utc())
            .unwrap_or(t.replied_at);
        let called_back = t.replied_at + Duration::days(1);
        let inserted = sqlx::query(
            "INSERT INTO tickets (id, kind, source, subject, body, state, submitted_by, registered_by, request_id,
                department, dispatched_by, dispatched_at, reply_deadline, reply, replied_by, replied_at,
                callback_note, callback_satisfied, called_back_at, close_note, closed_at, created_at)
             VALUES ($1, 'web_message', $2, $3, $4, 'closed', $5, $5, $6, $7, 'demo-supervisor', $8, $9, $10,
                     'demo-officer', $11, '已电话回访，满意', true, $12, '', $12, $13)
             ON CONFLICT DO NOTHING",
        )
        .bind(t.id)
        .bind(&t.source)
        .bind(&t.subject)
        .bind(&t.body)
        .bind(&t.submitted_by)
        .bind(&t.request_id)
        .bind(&t.department)
        .bind(dispatched)
        .bind(deadline)
        .bind(&t.reply)
        .bind(t.replied_at)
        .bind(called_back)
        .bind(t.created_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            continue;
        }
        sqlx::query(
            "INSERT INTO ticket_assignments (ticket_id, department, reply_deadline, reply, replied_by,
                replied_at, overdue_notified, assigned_at)
             VALUES ($1, $2, $3, $4, 'demo-officer', $5, false, $6)",
        )
        .bind(t.id)
        .bind(&t.department)
        .bind(deadline)
        .bind(&t.reply)
        .bind(t.replied_at)
        .bind(dispatched)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO ticket_events (ticket_id, at, actor, action, from_state, to_state, note)
             SELECT $1, at, actor, action, f, s, n
               FROM unnest($2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
                    AS e(at, actor, action, f, s, n)",
        )
        .bind(t.id)
        .bind(vec![t.created_at, dispatched, t.replied_at, called_back, called_back])
        .bind(vec![
            t.submitted_by.as_str(),
            "demo-supervisor",
            "demo-officer",
            "demo-supervisor",
            "demo-supervisor",
        ])
        .bind(vec!["create", "dispatch", "reply", "callback", "close"])
        .bind(vec!["", "received", "dispatched", "replied", "called_back"])
        .bind(vec!["received", "dispatched", "replied", "called_back", "closed"])
        .bind(vec![t.source.as_str(), t.department.as_str(), "", "满意", ""])
        .execute(&mut *tx)
        .await?;
        loaded += 1;
    }
    tx.commit().await?;
    Ok(loaded)
}

/// The county hall's 周末不打烊: `count` appointments kept on rest days of the reference
/// half-year's January–June, one per rest-day slot, spread over the items that offer weekend
/// appointments (`(item code, department)`). Once: a hall that has demo slots is left alone.
pub async fn load_demo_weekend_appointments(
    pool: &PgPool,
    calendar: &Calendar,
    hall: &str,
    items: &[(String, String)],
    year: i32,
    count: usize,
) -> anyhow::Result<usize> {
    let has: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM appointment_slots WHERE hall = $1 AND created_by = 'demo'",
    )
    .bind(hall)
    .fetch_one(pool)
    .await?;
    if has > 0 || items.is_empty() {
        return Ok(0);
    }
    let first = NaiveDate::from_ymd_opt(year, 1, 1).expect("valid date");
    let july = NaiveDate::from_ymd_opt(year, 7, 1).expect("valid date");
    let rest_days: Vec<NaiveDate> = first
        .iter_days()
        .take_while(|d| *d < july)
        .filter(|d| !calendar.is_working_day(*d))
        .collect();
    let mut rng = Rng::new(26);
    let mut tx = pool.begin().await?;
    for n in 0..count.min(rest_days.len()) {
        // Evenly over the half-year's rest days, so every month has its weekends served.
        let date = rest_days[n * rest_days.len() / count.max(1)];
        let (code, department) = &items[rng.index(items.len())];
        let slot = Uuid::now_v7();
        let booked_at = SHANGHAI
            .from_local_datetime(
                &(date - Duration::days(2 + rng.below(5) as i64))
                    .and_hms_opt(20, 0, 0)
                    .expect("valid time"),
            )
            .single()
            .expect("fixed offset")
            .to_utc();
        sqlx::query(
            "INSERT INTO appointment_slots (id, item_code, department, hall, date, start_time, end_time, capacity,
                booked, rest_day, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, TIME '09:00', TIME '12:00', 5, 1, true, 'demo', $6)",
        )
        .bind(slot)
        .bind(code)
        .bind(department)
        .bind(hall)
        .bind(date)
        .bind(booked_at - Duration::days(7))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO appointments (id, slot_id, state, booked_by, created_at) VALUES ($1, $2, 'booked', $3, $4)",
        )
        .bind(Uuid::now_v7())
        .bind(slot)
        .bind(format!("demo-citizen-{}", rng.below(5000)))
        .bind(booked_at)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(count.min(rest_days.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_half_year_is_the_last_completed_one() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(reference_year(d(2026, 12, 1)), 2026);
        assert_eq!(reference_year(d(2026, 7, 1)), 2026);
        assert_eq!(reference_year(d(2026, 6, 30)), 2025);
    }

    #[test]
    fn channels_hold_their_shares_to_the_case() {
        let mut p = Proportions::new(CHANNEL_SHARES);
        let mut counts = [0u64; 5];
        for n in 1..=227_000u64 {
            counts[p.next()] += 1;
            for (i, c) in counts.iter().enumerate() {
                let exact = n as f64 * CHANNEL_SHARES[i] as f64 / 10_000.0;
                assert!((*c as f64 - exact).abs() <= 1.0, "{n}: {counts:?}");
            }
        }
        let online = counts[0] + counts[1];
        assert_eq!(format!("{:.2}", online as f64 * 100.0 / 227_000.0), "62.97");
    }
}
