//! Statistics: claim rate (认领率 = claimed / items), list completion rate (编制率 = claimed items
//! with an inspection list / claimed items), coverage (监管覆盖率 = claimed items with ≥1
//! inspection record / claimed items), records per department, month and result in a period,
//! publications, follow-up tasks, notices and rectifications.

use chrono::{Duration, Utc};
use sqlx::Row;
use yiwang_kit::{Caller, Result};
use yiwang_proto::supervision::v1 as pb;

use crate::api::SupervisionApi;
use crate::{access, request_fields};

/// `part / whole` as a percentage rounded half up to two decimals (0 for an empty whole).
pub fn rate(part: i64, whole: i64) -> f64 {
    if whole <= 0 {
        return 0.0;
    }
    let hundredths = (part as i128 * 20_000 + whole as i128) / (2 * whole as i128);
    hundredths as f64 / 100.0
}

fn counts(rows: Vec<(String, i64)>) -> Vec<pb::Count> {
    rows.into_iter()
        .map(|(key, n)| pb::Count {
            key,
            count: n as u64,
        })
        .collect()
}

impl SupervisionApi {
    pub async fn stats(&self, caller: &Caller, r: pb::GetStatsRequest) -> Result<pb::Stats> {
        caller.require_any_role(access::STAFF)?;
        let to = match r.to.trim() {
            "" => Utc::now(),
            s => request_fields::parse_time("to", s, true)?,
        };
        let from = match r.from.trim() {
            "" => to - Duration::days(365),
            s => request_fields::parse_time("from", s, true)?,
        };
        if from > to {
            return Err(yiwang_kit::Error::invalid("from", "must not be after to"));
        }
        let dept = r.department.trim();
        let pool = self.reads.for_caller(&caller.sub).await;
        // Items "applicable" to a department are its own; claims are by any department.
        let row = sqlx::query(
            "WITH scope AS (SELECT code FROM items WHERE $1 = '' OR department = $1),
                  claimed AS (SELECT DISTINCT item_code AS code FROM claims WHERE item_code IN (SELECT code FROM scope)
                              AND ($1 = '' OR department = $1))
             SELECT (SELECT count(*) FROM scope) AS items,
                    (SELECT count(*) FROM claimed) AS claimed,
                    (SELECT count(*) FROM check_lists WHERE item_code IN (SELECT code FROM claimed)) AS lists,
                    (SELECT count(*) FROM claimed c WHERE EXISTS (SELECT 1 FROM check_lists l WHERE l.item_code = c.code)) AS with_list,
                    (SELECT count(*) FROM claimed c WHERE EXISTS (SELECT 1 FROM inspections i WHERE i.item_code = c.code)) AS covered",
        )
        .bind(dept)
        .fetch_one(pool)
        .await?;
        let items: i64 = row.try_get("items")?;
        let claimed: i64 = row.try_get("claimed")?;
        let with_list: i64 = row.try_get("with_list")?;
        let covered: i64 = row.try_get("covered")?;
        let period = "inspected_at >= $2 AND inspected_at < $3 AND ($1 = '' OR department = $1)";
        let by = |col: &str| {
            format!(
                "SELECT {col} AS k, count(*) AS n FROM inspections WHERE {period} GROUP BY 1 ORDER BY 1"
            )
        };
        let by_dept: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(by("department")))
            .bind(dept)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?;
        let by_month: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(by(
            "to_char(inspected_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')",
        )))
        .bind(dept)
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await?;
        let by_result: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(by("result")))
            .bind(dept)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?;
        let inspections: i64 = by_dept.iter().map(|(_, n)| n).sum();
        let other = sqlx::query(
            "SELECT (SELECT count(*) FROM publications WHERE $1 = '' OR department = $1) AS publications,
                    (SELECT count(*) FROM entities) AS entities,
                    (SELECT count(*) FROM inspectors WHERE active AND ($1 = '' OR department = $1)) AS inspectors,
                    (SELECT count(*) FROM plans WHERE state <> 'draft' AND ($1 = '' OR department = $1)) AS plans_drawn,
                    (SELECT count(*) FROM tasks WHERE state = 'open' AND ($1 = '' OR department = $1)) AS tasks_open,
                    (SELECT count(*) FROM tasks WHERE state = 'done' AND ($1 = '' OR department = $1)) AS tasks_done,
                    (SELECT count(*) FROM notices WHERE state <> 'closed' AND ($1 = '' OR department = $1)) AS notices_open,
                    (SELECT count(*) FROM notices WHERE state = 'closed' AND ($1 = '' OR department = $1)) AS notices_closed,
                    (SELECT count(*) FROM inspections WHERE rectification_state = 'open' AND ($1 = '' OR department = $1)) AS rect_open,
                    (SELECT count(*) FROM inspections WHERE rectification_state = 'completed' AND ($1 = '' OR department = $1)) AS rect_done",
        )
        .bind(dept)
        .fetch_one(pool)
        .await?;
        let g = |k: &str| -> Result<u64> { Ok(other.try_get::<i64, _>(k)? as u64) };
        Ok(pb::Stats {
            items: items as u64,
            items_claimed: claimed as u64,
            claim_rate: rate(claimed, items),
            check_lists: row.try_get::<i64, _>("lists")? as u64,
            items_with_list: with_list as u64,
            list_rate: rate(with_list, claimed),
            items_covered: covered as u64,
            coverage: rate(covered, claimed),
            inspections: inspections as u64,
            inspections_by_department: counts(by_dept),
            inspections_by_month: counts(by_month),
            inspections_by_result: counts(by_result),
            publications: g("publications")?,
            entities: g("entities")?,
            inspectors: g("inspectors")?,
            plans_drawn: g("plans_drawn")?,
            tasks_open: g("tasks_open")?,
            tasks_done: g("tasks_done")?,
            notices_open: g("notices_open")?,
            notices_closed: g("notices_closed")?,
            rectifications_open: g("rect_open")?,
            rectifications_completed: g("rect_done")?,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rate_rounds_half_up() {
        assert_eq!(super::rate(0, 0), 0.0);
        assert_eq!(super::rate(628, 805), 78.01);
        assert_eq!(super::rate(1, 3), 33.33);
        assert_eq!(super::rate(2, 3), 66.67);
        assert_eq!(super::rate(805, 805), 100.0);
    }
}
