//! 跨省通办 partner regions: the regions the county has agreements with (data an administrator
//! keeps). A cross-province case names one of them and the direction of the service.

use chrono::NaiveDate;
use sqlx::{PgPool, Row};
use yiwang_kit::{Result, Violations, ids};
use yiwang_proto::cases::v1 as pb;

pub const DIRECTIONS: &[&str] = &["here_for_there", "there_for_here"];

fn to_pb(r: &sqlx::postgres::PgRow) -> Result<pb::PartnerRegion> {
    Ok(pb::PartnerRegion {
        region_code: r.try_get("region_code")?,
        name: r.try_get("name")?,
        agreement: r.try_get("agreement")?,
        since: r
            .try_get::<Option<NaiveDate>, _>("since")?
            .map(|d| d.to_string())
            .unwrap_or_default(),
    })
}

pub async fn list(pool: &PgPool) -> Result<Vec<pb::PartnerRegion>> {
    let rows = sqlx::query(
        "SELECT region_code, name, agreement, since FROM partner_regions ORDER BY region_code",
    )
    .fetch_all(pool)
    .await?;
    rows.iter().map(to_pb).collect()
}

pub async fn exists(pool: &PgPool, region_code: &str) -> Result<bool> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM partner_regions WHERE region_code = $1)")
            .bind(region_code)
            .fetch_one(pool)
            .await?,
    )
}

/// Records or updates the agreement with `region_code`.
pub async fn set(
    pool: &PgPool,
    actor: &str,
    region_code: &str,
    r: &pb::PartnerRegion,
) -> Result<pb::PartnerRegion> {
    let mut v = Violations::new();
    v.check("region_code", ids::check_region_code(region_code));
    if !r.region_code.is_empty() && r.region_code != region_code {
        v.add("region.region_code", "cannot differ from the path");
    }
    let name = r.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        v.add("region.name", "must be 1 to 100 characters");
    }
    if r.agreement.chars().count() > 500 {
        v.add("region.agreement", "must be at most 500 characters");
    }
    let since = if r.since.is_empty() {
        None
    } else {
        match NaiveDate::parse_from_str(&r.since, "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                v.add("region.since", "must be a date, YYYY-MM-DD");
                None
            }
        }
    };
    v.into_result()?;
    let row = sqlx::query(
        "INSERT INTO partner_regions (region_code, name, agreement, since, updated_by)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (region_code) DO UPDATE SET name = $2, agreement = $3, since = $4,
             updated_by = $5, updated_at = now()
         RETURNING region_code, name, agreement, since",
    )
    .bind(region_code)
    .bind(name)
    .bind(r.agreement.trim())
    .bind(since)
    .bind(actor)
    .fetch_one(pool)
    .await?;
    to_pb(&row)
}

/// Checks a filing's cross-province part against its channel; the partner's existence is
/// checked by the caller (a query).
pub fn check(channel: &str, cp: Option<&pb::CrossProvince>, v: &mut Violations) {
    match (channel == "cross_province", cp) {
        (true, None) => v.add(
            "cross_province",
            "is required for channel cross_province (partner_region and direction)",
        ),
        (true, Some(cp)) => {
            if !DIRECTIONS.contains(&cp.direction.as_str()) {
                v.add(
                    "cross_province.direction",
                    "must be here_for_there or there_for_here",
                );
            }
            if let Err(e) = ids::check_region_code(&cp.partner_region) {
                v.add("cross_province.partner_region", e);
            }
        }
        (false, Some(cp)) if !cp.partner_region.is_empty() || !cp.direction.is_empty() => {
            v.add("cross_province", "is only for channel cross_province")
        }
        _ => {}
    }
}

/// The county's demo partners (agreements named in its report).
pub const DEMO: &[(&str, &str, &str)] = &[
    ("320114", "江苏省南京市雨花台区", "跨省通办合作协议"),
    ("320105", "江苏省南京市建邺区", "跨省通办合作协议"),
    ("371326", "山东省临沂市平邑县", "跨省通办合作协议"),
];
