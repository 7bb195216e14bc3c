//! Loads the demo county (see [`crate::demo`]) into an empty catalogue: org units and items in
//! bulk (all published as version 1), bundles through the normal create path.

use serde_json::json;
use sqlx::PgPool;
use yiwang_kit::Caller;

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
    Ok(Some(Loaded {
        org_units: county.org_units.len(),
        items: county.items.len(),
        bundles,
    }))
}
