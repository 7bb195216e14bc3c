//! Sample data at the reference county's scale for `yiwang up --demo`: 805 supervision items,
//! all claimed; 843 inspection lists; 1,459 inspectors; 6,000 regulated entities; drawn and
//! published 双随机 plans; 2,767 inspection records covering 78 % of the claimed items; 64
//! publications; 120 follow-up tasks of licences (督办 notices come from the cases' own overdue events). Deterministic, batch-inserted with UNNEST, and loaded only into an empty
//! database.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;
use uuid::Uuid;
use yiwang_kit::crypto::{self, DataKey};
use yiwang_kit::ids;

use crate::draw;
use crate::registers::AAD_ID;

pub const ITEMS: usize = 805;
pub const LISTS: usize = 843;
pub const INSPECTORS: usize = 1_459;
pub const ENTITIES: usize = 6_000;
pub const RECORDS: usize = 2_767;
pub const COVERED: usize = 628; // 78 % of 805
pub const PUBLICATIONS: usize = 64;
/// Follow-up tasks of approved licences (审管联动), a third of them done.
pub const TASKS: usize = 120;
/// Oversight notices loaded by the demo itself: none. The 督办 notices of the demo are opened by
/// the running platform, from the cases service's announcements of its really overdue cases, so
/// each points at a case that exists.
pub const NOTICES: usize = 0;
const PLANS_PUBLISHED: usize = 30;

/// A department of the county (catalogue org unit).
#[derive(Debug, Clone)]
pub struct DemoDepartment {
    pub code: String,
    pub name: String,
    pub uscc: String,
}

#[derive(Debug, Default)]
pub struct Loaded {
    pub items: usize,
    pub check_lists: usize,
    pub inspectors: usize,
    pub entities: usize,
    pub plans: usize,
    pub inspections: usize,
    pub publications: usize,
    pub tasks: usize,
    pub notices: usize,
}

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

const INDUSTRIES: &[&str] = &[
    "餐饮服务",
    "食品销售",
    "药品零售",
    "医疗器械",
    "特种设备",
    "建筑施工",
    "危险化学品",
    "道路运输",
    "娱乐场所",
    "住宿",
    "农资经营",
    "加油站",
    "印刷",
    "旅游",
    "教育培训",
    "环境保护",
];
const ACTIONS: &[&str] = &["监督检查", "日常检查", "专项检查", "抽样检验", "现场核查"];
const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明", "超", "华",
];
const TOWNS: &[(&str, &str)] = &[
    ("340522100", "环峰镇"),
    ("340522101", "运漕镇"),
    ("340522102", "铜闸镇"),
    ("340522103", "陶厂镇"),
    ("340522104", "林头镇"),
    ("340522105", "清溪镇"),
    ("340522106", "仙踪镇"),
    ("340522107", "昭关镇"),
];

fn uscc(rng: &mut Rng, prefix: &str) -> String {
    const CH: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    let mut s = prefix.to_string();
    while s.len() < 17 {
        s.push(CH[rng.below(31)] as char);
    }
    ids::uscc_with_check(&s).expect("17 valid characters")
}

/// Loads the sample data unless the database already has items.
pub async fn load_demo(
    pool: &PgPool,
    key: &DataKey,
    departments: &[DemoDepartment],
    now: DateTime<Utc>,
) -> anyhow::Result<Option<Loaded>> {
    let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM items")
        .fetch_one(pool)
        .await?;
    if existing > 0 || departments.is_empty() {
        return Ok(None);
    }
    let mut rng = Rng(340_522_053);
    let mut loaded = Loaded::default();
    let mut tx = pool.begin().await?;

    // Items (every fourth a 子项 of the 主项 before it), each claimed by its department.
    let (mut codes, mut names, mut parents, mut types, mut bases, mut depts) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut item_dept: Vec<usize> = vec![];
    let mut last_main = String::new();
    for i in 0..ITEMS {
        let d = i % departments.len();
        let code = format!("3405{:04}{:06}", d + 1, i + 1);
        let industry = INDUSTRIES[i % INDUSTRIES.len()];
        let sub = i % 4 == 3 && !last_main.is_empty() && item_dept.last() == Some(&d);
        let admin_type = match i % 10 {
            0..=6 => "0",
            7 => "1",
            8 => "2",
            _ => "3",
        };
        names.push(format!(
            "对{}{}的{}",
            industry,
            if sub {
                "经营者许可条件"
            } else {
                "经营活动"
            },
            ACTIONS[i % ACTIONS.len()]
        ));
        parents.push(if sub {
            last_main.clone()
        } else {
            String::new()
        });
        if !sub {
            last_main = code.clone();
        }
        types.push(admin_type.to_string());
        bases.push(format!(
            "《中华人民共和国{}管理条例》第{}条",
            industry,
            10 + i % 40
        ));
        depts.push(departments[d].code.clone());
        item_dept.push(d);
        codes.push(code);
    }
    sqlx::query(
        "INSERT INTO items (code, name, parent_code, admin_type, legal_basis, department, created_by, created_at)
         SELECT *, 'demo', $7 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])",
    )
    .bind(&codes)
    .bind(&names)
    .bind(&parents)
    .bind(&types)
    .bind(&bases)
    .bind(&depts)
    .bind(now - Duration::days(400))
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO claims (item_code, department, claimed_by, claimed_at)
         SELECT *, 'demo', $3 FROM UNNEST($1::text[], $2::text[])",
    )
    .bind(&codes)
    .bind(&depts)
    .bind(now - Duration::days(390))
    .execute(&mut *tx)
    .await?;
    loaded.items = ITEMS;

    // Inspection lists: one per item, a second for 38 of them.
    let (mut ids_, mut lcodes, mut litems, mut ldepts, mut lusccs, mut lnames) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for n in 0..LISTS {
        let i = if n < ITEMS {
            n
        } else {
            (n - ITEMS) * 21 % ITEMS
        };
        let dept = &departments[item_dept[i]];
        ids_.push(Uuid::now_v7());
        lcodes.push(format!("{}{:06}", dept.uscc, n + 1));
        litems.push(codes[i].clone());
        ldepts.push(dept.code.clone());
        lusccs.push(dept.uscc.clone());
        lnames.push(format!(
            "{}检查实施清单{}",
            names[i],
            if n < ITEMS { "" } else { "（二）" }
        ));
    }
    sqlx::query(
        "INSERT INTO check_lists (id, code, item_code, department, agency_uscc, name, contents, methods, legal_basis, frequency, created_by)
         SELECT id, code, item, dept, uscc, name, ARRAY['资质证照', '经营场所', '制度落实', '台账记录'],
                ARRAY['现场检查', '书面检查'], '见监管事项法律依据', '每年不少于一次', 'demo'
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
              AS t(id, code, item, dept, uscc, name)",
    )
    .bind(&ids_)
    .bind(&lcodes)
    .bind(&litems)
    .bind(&ldepts)
    .bind(&lusccs)
    .bind(&lnames)
    .execute(&mut *tx)
    .await?;
    loaded.check_lists = LISTS;

    // Inspectors.
    let (mut inames, mut idepts, mut certs, mut posts) = (vec![], vec![], vec![], vec![]);
    for n in 0..INSPECTORS {
        inames.push(format!(
            "{}{}{}",
            rng.pick(SURNAMES),
            rng.pick(GIVEN),
            rng.pick(GIVEN)
        ));
        idepts.push(departments[n % departments.len()].code.clone());
        certs.push(format!("34052200{:06}", n + 1));
        posts.push(
            if n % 5 == 4 {
                "technical"
            } else {
                "enforcement"
            }
            .to_string(),
        );
    }
    sqlx::query(
        "INSERT INTO inspectors (name, department, certificate_number, post_type, user_sub)
         SELECT n, d, c, p, 'inspector-' || c FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) AS t(n, d, c, p)",
    )
    .bind(&inames)
    .bind(&idepts)
    .bind(&certs)
    .bind(&posts)
    .execute(&mut *tx)
    .await?;
    loaded.inspectors = INSPECTORS;

    // Entities: legal persons with valid USCCs; one in ten a natural person (sealed ID).
    let (mut en, mut eu, mut ei, mut er, mut ea, mut ek) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut pn, mut ps, mut ph, mut pm, mut pi, mut pr, mut pa, mut pk) = (
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
    );
    for n in 0..ENTITIES {
        let industry = INDUSTRIES[rng.below(INDUSTRIES.len())];
        let (town_code, town) = TOWNS[rng.below(TOWNS.len())];
        let region = town_code[..6].to_string();
        let address = format!(
            "含山县{}{}路{}号",
            town,
            rng.pick(&["人民", "解放", "建设", "新华", "和平"]),
            1 + rng.below(300)
        );
        let risk = match rng.below(10) {
            0..=5 => "low",
            6..=8 => "medium",
            _ => "high",
        };
        if n % 10 == 9 {
            let id = ids::resident_id_with_check(&format!(
                "340522{}{:02}{:02}{:03}",
                1960 + rng.below(40),
                1 + rng.below(12),
                1 + rng.below(28),
                rng.below(1000)
            ))
            .expect("17 digits");
            pn.push(format!(
                "{}{}{}（个体工商户）",
                rng.pick(SURNAMES),
                rng.pick(GIVEN),
                rng.pick(GIVEN)
            ));
            ps.push(key.seal(&id, AAD_ID));
            ph.push(key.lookup_hash("id_number", &id).to_vec());
            pm.push(crypto::mask_id_number(&id));
            pi.push(industry.to_string());
            pr.push(region);
            pa.push(address);
            pk.push(risk.to_string());
        } else {
            en.push(format!(
                "含山县{}{}有限公司",
                rng.pick(&["华", "鑫", "诚", "泰", "瑞", "恒", "德", "安"]),
                industry
            ));
            eu.push(uscc(&mut rng, "9134052"));
            ei.push(industry.to_string());
            er.push(region);
            ea.push(address);
            ek.push(risk.to_string());
        }
    }
    sqlx::query(
        "INSERT INTO entities (name, kind, uscc, industry, region, address, risk_level, source)
         SELECT n, 'legal_person', u, i, r, a, k, 'import'
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS t(n, u, i, r, a, k)
         ON CONFLICT DO NOTHING",
    )
    .bind(&en)
    .bind(&eu)
    .bind(&ei)
    .bind(&er)
    .bind(&ea)
    .bind(&ek)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO entities (name, kind, id_sealed, id_hash, id_masked, industry, region, address, risk_level, source)
         SELECT n, 'person', s, h, m, i, r, a, k, 'import'
         FROM UNNEST($1::text[], $2::bytea[], $3::bytea[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
              AS t(n, s, h, m, i, r, a, k)
         ON CONFLICT DO NOTHING",
    )
    .bind(&pn)
    .bind(&ps)
    .bind(&ph)
    .bind(&pm)
    .bind(&pi)
    .bind(&pr)
    .bind(&pa)
    .bind(&pk)
    .execute(&mut *tx)
    .await?;
    let entities: Vec<(i64, String, String, String, String, String)> =
        sqlx::query_as("SELECT id, industry, name, kind, uscc, region FROM entities ORDER BY id")
            .fetch_all(&mut *tx)
            .await?;
    loaded.entities = entities.len();
    let inspectors: Vec<(i64, String, String, String)> = sqlx::query_as(
        "SELECT id, department, name, certificate_number FROM inspectors ORDER BY id",
    )
    .fetch_all(&mut *tx)
    .await?;

    // Plans: one per department with items, drawn with the real algorithm; 30 published.
    struct DemoPlan {
        id: Uuid,
        dept: usize,
        items: Vec<String>,
        picks: Vec<draw::Pick>,
    }
    let mut plans: Vec<DemoPlan> = vec![];
    for (d, dept) in departments.iter().enumerate() {
        let items: Vec<String> = codes
            .iter()
            .zip(&item_dept)
            .filter(|(_, x)| **x == d)
            .map(|(c, _)| c.clone())
            .take(2)
            .collect();
        if items.is_empty() {
            continue;
        }
        let industry = INDUSTRIES[d % INDUSTRIES.len()];
        let pool_ids: Vec<i64> = entities
            .iter()
            .filter(|e| e.1 == industry)
            .map(|e| e.0)
            .collect();
        let insp_ids: Vec<i64> = inspectors
            .iter()
            .filter(|i| i.1 == dept.code)
            .map(|i| i.0)
            .collect();
        if pool_ids.len() < 10 || insp_ids.len() < 2 {
            continue;
        }
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&rng.next().to_be_bytes());
        seed[8..16].copy_from_slice(&rng.next().to_be_bytes());
        seed[16..24].copy_from_slice(&rng.next().to_be_bytes());
        seed[24..32].copy_from_slice(&rng.next().to_be_bytes());
        let id = Uuid::now_v7();
        let inputs = draw::Inputs {
            algorithm: draw::ALGORITHM.into(),
            seed: draw::seed_hex(&seed),
            entity_ids: pool_ids,
            inspector_ids: insp_ids,
            exclusions: vec![],
            targets: 0,
            inspectors_per_target: 2,
            picks: vec![],
            plan_id: id.to_string(),
        };
        let targets = (inputs.entity_ids.len() as u32 * 5).div_ceil(100);
        let inputs = draw::Inputs { targets, ..inputs };
        let picks = draw::draw(&inputs)?;
        let published = plans.len() < PLANS_PUBLISHED;
        let drawn_at = now - Duration::days(200 - 5 * d as i64);
        let name = format!("{}{}年度双随机抽查计划", dept.name, 2026);
        sqlx::query(
            "INSERT INTO plans (id, department, name, item_codes, entity_filter, sample_percent, sample_count, inspector_filter,
                inspectors_per_target, state, seed, algorithm, inputs, picks, candidate_count, inspector_count, exclusion_count,
                created_by, created_at, drawn_at, published_at)
             VALUES ($1, $2, $3, $4, $5, 5, 0, $6, 2, $7, $8, $9, $10, $11, $12, $13, 0, 'demo', $14, $14, $15)",
        )
        .bind(id)
        .bind(&dept.code)
        .bind(&name)
        .bind(&items)
        .bind(serde_json::json!({"industry": industry, "region": "", "risk_levels": []}))
        .bind(serde_json::json!({"department": dept.code, "post_type": ""}))
        .bind(if published { "published" } else { "drawn" })
        .bind(&inputs.seed)
        .bind(draw::ALGORITHM)
        .bind(serde_json::to_value(&inputs)?)
        .bind(serde_json::to_value(&picks)?)
        .bind(inputs.entity_ids.len() as i32)
        .bind(inputs.inspector_ids.len() as i32)
        .bind(drawn_at)
        .bind(published.then_some(drawn_at + Duration::days(1)))
        .execute(&mut *tx)
        .await?;
        let (mut ae, mut ai, mut ap) = (vec![], vec![], vec![]);
        for (pos, p) in picks.iter().enumerate() {
            for &i in &p.inspector_ids {
                ae.push(p.entity_id);
                ai.push(i);
                ap.push(pos as i32);
            }
        }
        sqlx::query(
            "INSERT INTO plan_assignments (plan_id, entity_id, inspector_id, position)
             SELECT $1, * FROM UNNEST($2::bigint[], $3::bigint[], $4::int[])",
        )
        .bind(id)
        .bind(&ae)
        .bind(&ai)
        .bind(&ap)
        .execute(&mut *tx)
        .await?;
        if published {
            sqlx::query(
                "INSERT INTO publications (id, kind, title, department, plan_id, content, published_by, published_at)
                 VALUES ($1, 'plan', $2, $3, $4, $5, 'demo', $6)",
            )
            .bind(Uuid::now_v7())
            .bind(format!("双随机抽查计划及抽取结果：{name}"))
            .bind(&dept.code)
            .bind(id)
            .bind(serde_json::json!({"plan_id": id, "name": name, "seed": inputs.seed, "targets": picks.len(),
                "inputs": format!("/v1/supervision/plans/{id}/draw")}).to_string())
            .bind(drawn_at + Duration::days(1))
            .execute(&mut *tx)
            .await?;
            loaded.publications += 1;
        }
        plans.push(DemoPlan {
            id,
            dept: d,
            items,
            picks,
        });
    }
    loaded.plans = plans.len();
    // Free-text publications up to 64.
    let mut n = 0;
    while loaded.publications < PUBLICATIONS {
        let dept = &departments[n % departments.len()];
        sqlx::query(
            "INSERT INTO publications (id, kind, title, department, content, published_by, published_at)
             VALUES ($1, 'information', $2, $3, $4, 'demo', $5)",
        )
        .bind(Uuid::now_v7())
        .bind(format!("{}监管信息公示（第{}期）", dept.name, n / departments.len() + 1))
        .bind(&dept.code)
        .bind("本期监督检查结果：未发现问题的予以公示，责令整改的已限期整改完毕。")
        .bind(now - Duration::days(5 * n as i64 + 3))
        .execute(&mut *tx)
        .await?;
        loaded.publications += 1;
        n += 1;
    }

    // Inspection records: the plans' targets first (form random), then routine inspections,
    // covering the first 628 items (78 %) each at least once.
    let by_id = |id: i64| {
        entities
            .binary_search_by_key(&id, |e| e.0)
            .ok()
            .map(|i| &entities[i])
    };
    let ins_by_id = |id: i64| {
        inspectors
            .binary_search_by_key(&id, |i| i.0)
            .ok()
            .map(|i| &inspectors[i])
    };
    let mut covered_next = 0usize;
    let mut cols = Records::default();
    for p in &plans {
        for pick in &p.picks {
            if cols.len() >= RECORDS / 3 {
                break;
            }
            let item = p.items[cols.len() % p.items.len()].clone();
            let e = by_id(pick.entity_id).expect("drawn from the register");
            let ins: Vec<_> = pick
                .inspector_ids
                .iter()
                .filter_map(|i| ins_by_id(*i))
                .collect();
            cols.push(
                &mut rng,
                now,
                Some(p.id),
                item,
                &departments[p.dept].code,
                e,
                &ins,
            );
        }
    }
    let covered_items: Vec<usize> = (0..COVERED).collect();
    let dept_inspectors: Vec<Vec<&(i64, String, String, String)>> = departments
        .iter()
        .map(|d| inspectors.iter().filter(|i| i.1 == d.code).collect())
        .collect();
    while cols.len() < RECORDS {
        let i = if covered_next < COVERED {
            covered_next += 1;
            covered_items[covered_next - 1]
        } else {
            covered_items[rng.below(COVERED)]
        };
        let d = item_dept[i];
        let pool = &dept_inspectors[d];
        if pool.len() < 2 {
            continue;
        }
        let a = rng.below(pool.len());
        let b = (a + 1 + rng.below(pool.len() - 1)) % pool.len();
        let e = &entities[rng.below(entities.len())];
        cols.push(
            &mut rng,
            now,
            None,
            codes[i].clone(),
            &departments[d].code,
            e,
            &[pool[a], pool[b]],
        );
    }
    // Records of plan items count toward coverage only if among the covered items: keep the
    // plans' first items inside the covered range by construction (items are taken in order).
    loaded.inspections = cols.len();
    cols.insert(&mut tx).await?;

    // 审管联动 and 督办 as the case events would have left them.
    let legal: Vec<&(i64, String, String, String, String, String)> =
        entities.iter().filter(|e| e.3 == "legal_person").collect();
    let (mut tid, mut tcase, mut tnum, mut titem, mut tdept, mut tent, mut tstate, mut tat) = (
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
    );
    for n in 0..TASKS {
        let d = n % departments.len();
        let at = now - Duration::days(1 + (n as i64 * 3) % 150);
        tid.push(Uuid::now_v7());
        tcase.push(Uuid::new_v4());
        tnum.push(format!("340522-{}-{:06}", at.format("%Y%m%d"), 900_000 + n));
        titem.push(format!("{}4{:012}", departments[d].uscc, n + 1));
        tdept.push(departments[d].code.clone());
        tent.push(legal[rng.below(legal.len())].0);
        tstate.push(if n % 3 == 0 { "done" } else { "open" }.to_string());
        tat.push(at);
    }
    sqlx::query(
        "INSERT INTO tasks (id, source, case_id, case_number, item_code, item_name, department, entity_id, state, event_id, created_at, done_at)
         SELECT id, 'licence', c, num, item, '食品经营许可证核发', dept, e, st, gen_random_uuid(), at,
                CASE WHEN st = 'done' THEN at + interval '10 days' END
         FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::timestamptz[])
              AS t(id, c, num, item, dept, e, st, at)",
    )
    .bind(&tid)
    .bind(&tcase)
    .bind(&tnum)
    .bind(&titem)
    .bind(&tdept)
    .bind(&tent)
    .bind(&tstate)
    .bind(&tat)
    .execute(&mut *tx)
    .await?;
    loaded.tasks = TASKS;
    loaded.notices = NOTICES;
    tx.commit().await?;
    Ok(Some(loaded))
}

#[derive(Default)]
struct Records {
    id: Vec<Uuid>,
    plan: Vec<Option<Uuid>>,
    item: Vec<String>,
    dept: Vec<String>,
    entity: Vec<i64>,
    name: Vec<String>,
    kind: Vec<String>,
    uscc: Vec<String>,
    region: Vec<String>,
    form: Vec<String>,
    category: Vec<String>,
    method: Vec<String>,
    result: Vec<String>,
    inspected: Vec<DateTime<Utc>>,
    reported: Vec<DateTime<Utc>>,
    inspectors: Vec<serde_json::Value>,
    rect_state: Vec<String>,
    rect_deadline: Vec<Option<DateTime<Utc>>>,
    rectified: Vec<Option<DateTime<Utc>>>,
}

impl Records {
    fn len(&self) -> usize {
        self.id.len()
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        rng: &mut Rng,
        now: DateTime<Utc>,
        plan: Option<Uuid>,
        item: String,
        dept: &str,
        e: &(i64, String, String, String, String, String),
        ins: &[&(i64, String, String, String)],
    ) {
        // Over the half-year before `now` (the launcher anchors it at the reference half-year's end).
        let inspected = now - Duration::hours(24 + rng.below(24 * 175) as i64);
        let reported = inspected + Duration::hours(1 + rng.below(48) as i64);
        let result = match rng.below(100) {
            0..=79 => "no_problem",
            80..=91 => "ordered_to_rectify",
            92..=96 => "case_opened",
            _ => "other",
        };
        let (rs, rd, rt) = if result == "ordered_to_rectify" {
            let deadline = inspected + Duration::days(15);
            if deadline < now && rng.below(10) < 8 {
                (
                    "completed",
                    Some(deadline),
                    Some(deadline - Duration::days(2)),
                )
            } else {
                ("open", Some(deadline), None)
            }
        } else {
            ("none", None, None)
        };
        self.id.push(Uuid::now_v7());
        self.plan.push(plan);
        self.item.push(item);
        self.dept.push(dept.to_string());
        self.entity.push(e.0);
        self.name.push(e.2.clone());
        self.kind.push(e.3.clone());
        self.uscc.push(e.4.clone());
        self.region.push(e.5.clone());
        self.form
            .push(if plan.is_some() { "random" } else { "routine" }.into());
        self.category.push("on_site".into());
        self.method.push("现场检查".into());
        self.result.push(result.into());
        self.inspected.push(inspected);
        self.reported.push(reported);
        self.inspectors.push(serde_json::json!(
            ins.iter()
                .map(|i| serde_json::json!({"id": i.0, "name": i.2, "certificate_number": i.3}))
                .collect::<Vec<_>>()
        ));
        self.rect_state.push(rs.into());
        self.rect_deadline.push(rd);
        self.rectified.push(rt);
    }

    async fn insert(self, tx: &mut sqlx::Transaction<'_, sqlx::Postgres>) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO inspections (id, plan_id, item_code, department, entity_id, target_name, target_kind, target_uscc,
                target_region, form, category, method, result, inspected_at, reported_at, inspectors,
                rectification_state, rectification_deadline, rectified_at, rectification_note, created_by)
             SELECT *, CASE WHEN t.rs = 'completed' THEN '已按期整改到位' ELSE '' END, 'demo'
             FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[],
                $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::timestamptz[], $15::timestamptz[],
                $16::jsonb[], $17::text[], $18::timestamptz[], $19::timestamptz[])
                AS t(id, plan, item, dept, entity, name, kind, uscc, region, form, category, method, result, i, r, ins, rs, rd, rt)",
        )
        .bind(&self.id)
        .bind(&self.plan)
        .bind(&self.item)
        .bind(&self.dept)
        .bind(&self.entity)
        .bind(&self.name)
        .bind(&self.kind)
        .bind(&self.uscc)
        .bind(&self.region)
        .bind(&self.form)
        .bind(&self.category)
        .bind(&self.method)
        .bind(&self.result)
        .bind(&self.inspected)
        .bind(&self.reported)
        .bind(&self.inspectors)
        .bind(&self.rect_state)
        .bind(&self.rect_deadline)
        .bind(&self.rectified)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}
