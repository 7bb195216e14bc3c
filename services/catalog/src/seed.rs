//! Loads the demo county (see [`crate::demo`]) into an empty catalogue: org units and items in
//! bulk (all published as version 1), bundles through the normal create path.

use serde_json::json;
use sqlx::PgPool;
use yiwang_kit::Caller;
use yiwang_proto::catalog::v1 as pb;

use crate::model::grams;
use crate::{demo, store};

pub struct Loaded {
    pub org_units: usize,
    pub items: usize,
    pub bundles: usize,
}

/// Loads the demo county unless the catalogue already has items (then loads nothing).
pub async fn load_demo(pool: &PgPool) -> anyhow::Result<Option<Loaded>> {
    let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM items")
        .fetch_one(pool)
        .await?;
    if existing > 0 {
        return Ok(None);
    }
    let county = demo::generate(340522);
    let mut tx = pool.begin().await?;
    for u in &county.org_units {
        sqlx::query("INSERT INTO org_units (code, name, kind, region_code, uscc, parent) VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING")
            .bind(&u.code)
            .bind(&u.name)
            .bind(&u.kind)
            .bind(&u.region_code)
            .bind(&u.uscc)
            .bind(&u.parent)
            .execute(&mut *tx)
            .await?;
    }
    for chunk in county.items.chunks(1000) {
        let mut codes = Vec::new();
        let mut contents = Vec::new();
        let mut names = Vec::new();
        let mut departments = Vec::new();
        let mut task_types = Vec::new();
        let mut levels = Vec::new();
        let mut channels = Vec::new();
        let mut online = Vec::new();
        let mut full = Vec::new();
        let mut hf = Vec::new();
        let mut texts = Vec::new();
        let mut gram_lists = Vec::new();
        for (code, c) in chunk {
            crate::validate::item(code, c)
                .map_err(|e| anyhow::anyhow!("demo item {code} is invalid: {e}"))?;
            codes.push(code.clone());
            contents.push(json!(c));
            names.push(c.name.clone());
            departments.push(c.department.clone());
            task_types.push(c.task_type.clone());
            levels.push(c.level as i32);
            // Postgres arrays of arrays must be rectangular; channels travel as a joined string.
            channels.push(c.channels.join(","));
            online.push(c.online_capable());
            full.push(c.full_online());
            hf.push(c.high_frequency);
            let text = c.search_text();
            gram_lists.push(grams(&text).join("\u{1e}"));
            texts.push(text);
        }
        sqlx::query(
            "INSERT INTO items (code, latest_version, current_version, status, name, department, task_type, level, channels,
                                online_capable, full_online, high_frequency, search_text, search_grams)
             SELECT code, 1, 1, 'published', name, dept, tt, lvl, string_to_array(NULLIF(ch, ''), ','), ol, fo, hf, st,
                    string_to_array(gr, chr(30))
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::bool[], $8::bool[],
                         $9::bool[], $10::text[], $11::text[]) AS t(code, name, dept, tt, lvl, ch, ol, fo, hf, st, gr)",
        )
        .bind(&codes)
        .bind(&names)
        .bind(&departments)
        .bind(&task_types)
        .bind(&levels)
        .bind(&channels)
        .bind(&online)
        .bind(&full)
        .bind(&hf)
        .bind(&texts)
        .bind(&gram_lists)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO item_versions (code, version, status, content, effective_from, updated_by)
             SELECT code, 1, 'published', content, now(), 'demo' FROM unnest($1::text[], $2::jsonb[]) AS t(code, content)",
        )
        .bind(&codes)
        .bind(&contents)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    let loader = Caller {
        sub: "demo-loader".into(),
        name: "demo".into(),
        roles: vec!["catalog_admin".into()],
        dept: None,
    };
    let mut bundles = 0;
    for b in county.bundles {
        store::create_bundle(pool, &loader, b, "")
            .await
            .map_err(|e| anyhow::anyhow!("demo bundle: {e}"))?;
        bundles += 1;
    }
    // The county hall's comprehensive windows receive every item offered at a window; the 7×24
    // self-service area's terminal offers 72 high-frequency items.
    let departments: Vec<&str> = county
        .org_units
        .iter()
        .filter(|u| u.kind == "department")
        .map(|u| u.code.as_str())
        .take(5)
        .collect();
    let window = |number: String, name: &str, kind: &str, department: &str| pb::HallWindow {
        number,
        name: name.into(),
        kind: kind.into(),
        department: department.into(),
    };
    let mut windows: Vec<pb::HallWindow> = (1..=6)
        .map(|n| {
            window(
                format!("A{n:02}"),
                &format!("综合受理{n}号窗"),
                "comprehensive",
                "",
            )
        })
        .collect();
    windows.extend(
        departments
            .iter()
            .enumerate()
            .map(|(i, d)| window(format!("B{:02}", i + 1), "部门窗口", "department", d)),
    );
    windows.push(window("C01".into(), "涉企服务窗口", "enterprise", ""));
    windows.push(window("C02".into(), "办不成事反映窗口", "complaint", ""));
    let hall = |code: &str, name: &str, windows: Vec<pb::HallWindow>| pb::Hall {
        code: code.into(),
        name: name.into(),
        level: "county".into(),
        region_code: "340522".into(),
        address: "含山县环峰镇".into(),
        windows,
        ..Default::default()
    };
    crate::hall::create(
        pool,
        &loader,
        hall(DEMO_HALL, "含山县政务服务中心", windows),
    )
    .await
    .map_err(|e| anyhow::anyhow!("demo hall: {e}"))?;
    let at_windows: Vec<String> = county
        .items
        .iter()
        .filter(|(_, c)| c.channels.iter().any(|ch| ch == "window"))
        .map(|(code, _)| code.clone())
        .collect();
    crate::hall::set_items(pool, DEMO_HALL, &at_windows)
        .await
        .map_err(|e| anyhow::anyhow!("demo hall items: {e}"))?;
    crate::hall::create(
        pool,
        &loader,
        hall(DEMO_SELF_SERVICE_HALL, "含山县7×24小时自助服务区", vec![]),
    )
    .await
    .map_err(|e| anyhow::anyhow!("demo self-service hall: {e}"))?;
    let mut offered: Vec<String> = county
        .items
        .iter()
        .filter(|(_, c)| c.high_frequency)
        .map(|(code, _)| code.clone())
        .take(72)
        .collect();
    offered.extend(
        county
            .items
            .iter()
            .filter(|(_, c)| !c.high_frequency)
            .map(|(code, _)| code.clone())
            .take(72 - offered.len()),
    );
    crate::hall::create_terminal(
        pool,
        &loader,
        pb::Terminal {
            code: "340522-T01".into(),
            hall: DEMO_SELF_SERVICE_HALL.into(),
            name: "一号自助终端".into(),
            items: offered,
            created_at: None,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("demo terminal: {e}"))?;
    Ok(Some(Loaded {
        org_units: county.org_units.len(),
        items: county.items.len(),
        bundles,
    }))
}

/// The demo county's hall (its comprehensive windows receive every window item) and its 7×24
/// self-service area (terminal `340522-T01`, 72 items).
pub const DEMO_HALL: &str = "340522-ZWFWZX";
pub const DEMO_SELF_SERVICE_HALL: &str = "340522-ZZFW24";
