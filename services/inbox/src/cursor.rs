//! A position in one person's inbox: the number of the last notification seen of their own
//! and of their unit's (staff hear both). Written `<personal>-<unit>`, e.g. `12-3`; it is the
//! `id:` of each Server-Sent Event, so `Last-Event-ID` resumes exactly there.

use yiwang_kit::{Error, Result};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    pub personal: i64,
    pub unit: i64,
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.personal, self.unit)
    }
}

impl Cursor {
    /// Parses a cursor given in `field`; `None` for an empty one.
    pub fn parse(field: &str, s: &str) -> Result<Option<Cursor>> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        let bad = || {
            Error::invalid(
                field,
                "must be a cursor of this inbox: two whole numbers joined by '-', e.g. 12-3",
            )
        };
        if s.len() > 40 {
            return Err(bad());
        }
        let (p, u) = s.split_once('-').ok_or_else(bad)?;
        let num = |x: &str| {
            if x.is_empty() || !x.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            x.parse::<i64>().map_err(|_| bad())
        };
        Ok(Some(Cursor {
            personal: num(p)?,
            unit: num(u)?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let c = Cursor {
            personal: 12,
            unit: 3,
        };
        assert_eq!(Cursor::parse("after", &c.to_string()).unwrap(), Some(c));
        assert_eq!(Cursor::parse("after", "").unwrap(), None);
        for bad in [
            "12",
            "-1-2",
            "1--2",
            "a-b",
            "1-2-3",
            "99999999999999999999-1",
            "1 -2",
            "+1-2",
        ] {
            let e = Cursor::parse("after", bad).unwrap_err();
            assert_eq!(e.violations[0].field, "after", "{bad}");
        }
    }
}
