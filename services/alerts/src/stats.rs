//! Statistics over a period: events and incidents by severity, category, unit and month, the
//! same dates a year earlier, notices issued and the on-time rectification rate. Events are
//! counted from the per-day rollup (`event_counts`), so the figures outlive the raw events'
//! retention and never scan the partitions.

use chrono::{Months, NaiveDate};
use sqlx::{PgPool, Row};
use yiwang_kit::error::Result;
use yiwang_proto::alerts::v1 as pb;

fn counts(rows: Vec<sqlx::postgres::PgRow>) -> Result<Vec<pb::Count>> {
    rows.iter()
        .map(|r| {
            Ok(pb::Count {
                key: r.try_get::<Option<String>, _>("k")?.unwrap_or_default(),
                count: r.try_get::<i64, _>("n")?.max(0) as u64,
            })
        })
        .collect()
}

/// Dates are Asia/Shanghai days, `[from, to)`.
pub async fn period(pool: &PgPool, from: NaiveDate, to: NaiveDate) -> Result<pb::PeriodCounts> {
    let by = |dimension: &str| {
        format!(
            "SELECT {dimension} AS k, sum(c.n)::bigint AS n FROM event_counts c JOIN incidents i ON i.id = c.incident_id
              WHERE c.day >= $1 AND c.day < $2 GROUP BY 1 ORDER BY 1"
        )
    };
    let incidents_by = |dimension: &str| {
        format!(
            "SELECT {dimension} AS k, count(*)::bigint AS n FROM incidents i
              WHERE (i.first_seen AT TIME ZONE 'Asia/Shanghai')::date >= $1
                AND (i.first_seen AT TIME ZONE 'Asia/Shanghai')::date < $2 GROUP BY 1 ORDER BY 1"
        )
    };
    let mut p = pb::PeriodCounts {
        from_date: from.to_string(),
        to_date: to.to_string(),
        ..Default::default()
    };
    let q = |sql: String| async move {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await
    };
    p.events_by_severity = counts(q(by("c.severity")).await?)?;
    p.events_by_category = counts(q(by("i.category")).await?)?;
    p.events_by_unit = counts(q(by("coalesce(i.unit_code, '')")).await?)?;
    p.events_by_month = counts(q(by("to_char(c.day, 'YYYY-MM')")).await?)?;
    p.events = p.events_by_severity.iter().map(|c| c.count).sum();
    p.incidents_by_severity = counts(q(incidents_by("i.severity")).await?)?;
    p.incidents_by_category = counts(q(incidents_by("i.category")).await?)?;
    p.incidents_by_unit = counts(q(incidents_by("coalesce(i.unit_code, '')")).await?)?;
    p.incidents_by_month = counts(
        q(incidents_by(
            "to_char(i.first_seen AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')",
        ))
        .await?,
    )?;
    p.incidents = p.incidents_by_severity.iter().map(|c| c.count).sum();
    // Every notice belongs to a unit: the county's notices are the units' sum.
    p.units = units(pool, from, to).await?;
    p.notices_issued = p.units.iter().map(|u| u.notices_issued).sum();
    p.notices_due = p.units.iter().map(|u| u.notices_due).sum();
    p.notices_on_time = p.units.iter().map(|u| u.notices_on_time).sum();
    p.on_time_rate = yiwang_kit::percent(p.notices_on_time as i64, p.notices_due as i64);
    Ok(p)
}

/// Each owning unit's incidents by severity and its notices, over the same dates.
async fn units(pool: &PgPool, from: NaiveDate, to: NaiveDate) -> Result<Vec<pb::UnitSecurity>> {
    let mut by: std::collections::BTreeMap<String, pb::UnitSecurity> = Default::default();
    let rows = sqlx::query(
        "SELECT i.unit_code AS k, i.severity, count(*)::bigint AS n FROM incidents i
          WHERE i.unit_code IS NOT NULL
            AND (i.first_seen AT TIME ZONE 'Asia/Shanghai')::date >= $1
            AND (i.first_seen AT TIME ZONE 'Asia/Shanghai')::date < $2
          GROUP BY 1, 2",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    for r in rows {
        let unit: String = r.try_get("k")?;
        let n = r.try_get::<i64, _>("n")?.max(0) as u64;
        let u = by.entry(unit.clone()).or_insert_with(|| pb::UnitSecurity {
            unit,
            ..Default::default()
        });
        match r.try_get::<String, _>("severity")?.as_str() {
            "high" => u.incidents_high += n,
            "medium" => u.incidents_medium += n,
            _ => u.incidents_low += n,
        }
    }
    let rows = sqlx::query(
        "SELECT unit_code AS k, count(*)::bigint AS issued,
                count(*) FILTER (WHERE reported_at IS NOT NULL OR deadline < now())::bigint AS due,
                count(*) FILTER (WHERE reported_at IS NOT NULL AND reported_at <= deadline)::bigint AS on_time
           FROM notices
          WHERE (issued_at AT TIME ZONE 'Asia/Shanghai')::date >= $1
            AND (issued_at AT TIME ZONE 'Asia/Shanghai')::date < $2
          GROUP BY 1",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    for r in rows {
        let unit: String = r.try_get("k")?;
        let u = by.entry(unit.clone()).or_insert_with(|| pb::UnitSecurity {
            unit,
            ..Default::default()
        });
        let (issued, due, on_time): (i64, i64, i64) = (
            r.try_get("issued")?,
            r.try_get("due")?,
            r.try_get("on_time")?,
        );
        u.notices_issued = issued.max(0) as u64;
        u.notices_due = due.max(0) as u64;
        u.notices_on_time = on_time.max(0) as u64;
        u.on_time_rate = yiwang_kit::percent(on_time, due);
    }
    Ok(by.into_values().collect())
}

/// The period and the same dates a year earlier.
pub async fn compare(pool: &PgPool, from: NaiveDate, to: NaiveDate) -> Result<pb::AlertStats> {
    let back = |d: NaiveDate| d.checked_sub_months(Months::new(12)).unwrap_or(d);
    Ok(pb::AlertStats {
        period: Some(period(pool, from, to).await?),
        year_earlier: Some(period(pool, back(from), back(to)).await?),
    })
}
