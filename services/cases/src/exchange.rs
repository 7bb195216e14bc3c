//! The provincial exchange (办件过程信息): the process records the provincial platform collects.
//! A record is a case transition with a national code (`case_transitions.code > 0`), read in
//! (transaction id, row id) order and only below the oldest transaction still running, so a
//! cursor over that order never passes a record that commits later: each transition is handed
//! out exactly once, whatever the interleaving of the writers.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};
use uuid::Uuid;
use yiwang_kit::{Error, Result};

/// A position in the feed: behind the record of (transaction id, row id).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    xid: u64,
    id: i64,
}

impl Cursor {
    /// `""` is the start; otherwise what [`Cursor::to_string`] gave.
    pub fn parse(s: &str) -> Result<Cursor> {
        if s.is_empty() {
            return Ok(Cursor::default());
        }
        let bad = || Error::invalid("after", "must be a cursor this feed gave (or empty)");
        let (xid, id) = s.split_once('-').ok_or_else(bad)?;
        Ok(Cursor {
            xid: xid.parse().map_err(|_| bad())?,
            id: id.parse().map_err(|_| bad())?,
        })
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.xid, self.id)
    }
}

pub struct Record {
    pub cursor: Cursor,
    pub case_id: Uuid,
    pub case_number: String,
    pub item_code: String,
    pub department: String,
    pub code: u32,
    pub action: String,
    pub from_state: String,
    pub to_state: String,
    pub actor: String,
    pub at: DateTime<Utc>,
    pub reason: String,
}

/// Up to `limit` records after `after`, in feed order.
pub async fn page(pool: &PgPool, after: Cursor, limit: i64) -> Result<Vec<Record>> {
    let rows = sqlx::query(
        "SELECT t.id, t.xid::text AS xid, t.case_id, c.case_number, c.item_code, c.department,
                t.code, t.action, t.from_state, t.to_state, t.actor, t.at, t.reason
           FROM case_transitions t JOIN cases c ON c.id = t.case_id
          WHERE t.code > 0
            AND (t.xid, t.id) > ($1::text::xid8, $2)
            AND t.xid < pg_snapshot_xmin(pg_current_snapshot())
          ORDER BY t.xid, t.id
          LIMIT $3",
    )
    .bind(after.xid.to_string())
    .bind(after.id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let xid: String = r.try_get("xid")?;
            Ok(Record {
                cursor: Cursor {
                    xid: xid.parse().map_err(Error::internal)?,
                    id: r.try_get("id")?,
                },
                case_id: r.try_get("case_id")?,
                case_number: r.try_get("case_number")?,
                item_code: r.try_get("item_code")?,
                department: r.try_get("department")?,
                code: r.try_get::<i32, _>("code")? as u32,
                action: r.try_get("action")?,
                from_state: r.try_get("from_state")?,
                to_state: r.try_get("to_state")?,
                actor: r.try_get("actor")?,
                at: r.try_get("at")?,
                reason: r.try_get("reason")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_bad_ones_name_the_parameter() {
        let c = Cursor {
            xid: 7_000_001,
            id: 42,
        };
        assert_eq!(Cursor::parse(&c.to_string()).unwrap(), c);
        assert_eq!(Cursor::parse("").unwrap(), Cursor::default());
        for bad in ["x", "1-", "-1", "1-2-3", "18446744073709551616-1"] {
            let e = Cursor::parse(bad).unwrap_err();
            assert_eq!(e.violations[0].field, "after", "{bad}");
        }
    }
}
