//! Periods as the bureau counts them: Beijing-time calendar dates, [from, to).

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use yiwang_kit::{Error, Result};

/// Beijing time (UTC+8, no daylight saving).
pub fn beijing() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8")
}

/// Midnight of a Beijing date, as an instant.
pub fn midnight(d: NaiveDate) -> DateTime<Utc> {
    beijing()
        .from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
        .single()
        .expect("fixed offset")
        .to_utc()
}

fn date(y: i32, m: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, 1).expect("valid date")
}

/// A half-year: (year, half) with its first day and the first day after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Half {
    pub year: i32,
    pub half: i32,
}

impl Half {
    /// The most recent half-year that has ended by `today`.
    pub fn last_completed(today: NaiveDate) -> Half {
        if today.month() >= 7 {
            Half {
                year: today.year(),
                half: 1,
            }
        } else {
            Half {
                year: today.year() - 1,
                half: 2,
            }
        }
    }

    /// The half asked for (0, 0: the last completed one).
    pub fn parse(year: i32, half: i32, today: NaiveDate) -> Result<Half> {
        if year == 0 && half == 0 {
            return Ok(Half::last_completed(today));
        }
        if !(2000..=2100).contains(&year) {
            return Err(Error::invalid("year", "must be a year from 2000 to 2100"));
        }
        if half != 1 && half != 2 {
            return Err(Error::invalid(
                "half",
                "must be 1 (January–June) or 2 (July–December)",
            ));
        }
        let h = Half { year, half };
        if h.first_day() > today {
            return Err(Error::invalid(
                "year",
                format!("{year} H{half} has not begun"),
            ));
        }
        Ok(h)
    }

    pub fn first_day(self) -> NaiveDate {
        date(self.year, if self.half == 1 { 1 } else { 7 })
    }

    /// The first day after the half.
    pub fn end_day(self) -> NaiveDate {
        if self.half == 1 {
            date(self.year, 7)
        } else {
            date(self.year + 1, 1)
        }
    }

    pub fn from(self) -> DateTime<Utc> {
        midnight(self.first_day())
    }

    pub fn to(self) -> DateTime<Utc> {
        midnight(self.end_day())
    }

    /// The first five months (the window of a report written in the sixth).
    pub fn five_months_end(self) -> DateTime<Utc> {
        midnight(date(self.year, if self.half == 1 { 6 } else { 12 }))
    }

    /// The six months, as `YYYY-MM` with their bounds.
    pub fn months(self) -> Vec<(String, DateTime<Utc>, DateTime<Utc>)> {
        let m0 = if self.half == 1 { 1 } else { 7 };
        (0..6)
            .map(|i| {
                let start = date(self.year, m0 + i);
                let end = if m0 + i == 12 {
                    date(self.year + 1, 1)
                } else {
                    date(self.year, m0 + i + 1)
                };
                (
                    start.format("%Y-%m").to_string(),
                    midnight(start),
                    midnight(end),
                )
            })
            .collect()
    }

    /// 上半年 / 下半年
    pub fn name(self) -> String {
        format!(
            "{}年{}",
            self.year,
            if self.half == 1 {
                "上半年"
            } else {
                "下半年"
            }
        )
    }
}

/// A calendar month of the assessment (`YYYY-MM`, Beijing dates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Month {
    pub first_day: NaiveDate,
}

impl Month {
    /// `field` names the request field in the error.
    pub fn parse(field: &str, value: &str) -> Result<Month> {
        let bad = || Error::invalid(field, "must be a month YYYY-MM from 2000-01 to 2100-12");
        let (y, m) = value.trim().split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let (y, m): (i32, u32) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if !(2000..=2100).contains(&y) {
            return Err(bad());
        }
        let first_day = NaiveDate::from_ymd_opt(y, m, 1).ok_or_else(bad)?;
        Ok(Month { first_day })
    }

    pub fn key(self) -> String {
        self.first_day.format("%Y-%m").to_string()
    }

    /// The first day after the month.
    pub fn end_day(self) -> NaiveDate {
        self.first_day
            .checked_add_months(chrono::Months::new(1))
            .expect("a month after 2100-12 exists")
    }

    pub fn from(self) -> DateTime<Utc> {
        midnight(self.first_day)
    }

    pub fn to(self) -> DateTime<Utc> {
        midnight(self.end_day())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_beijing_calendar_months() {
        let m = Month::parse("month", "2026-02").unwrap();
        assert_eq!(m.key(), "2026-02");
        assert_eq!(m.from().to_rfc3339(), "2026-01-31T16:00:00+00:00");
        assert_eq!(m.to().to_rfc3339(), "2026-02-28T16:00:00+00:00");
        let dec = Month::parse("month", "2026-12").unwrap();
        assert_eq!(dec.end_day(), NaiveDate::from_ymd_opt(2027, 1, 1).unwrap());
        for bad in [
            "2026-13", "2026-1", "26-01", "1999-12", "2026/01", "", "2026-00",
        ] {
            let e = Month::parse("month", bad).unwrap_err();
            assert!(e.message.contains("YYYY-MM"), "{bad}");
        }
    }

    #[test]
    fn halves_are_beijing_dates() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(
            Half::last_completed(d(2026, 12, 1)),
            Half {
                year: 2026,
                half: 1
            }
        );
        assert_eq!(
            Half::last_completed(d(2026, 3, 1)),
            Half {
                year: 2025,
                half: 2
            }
        );
        let h = Half {
            year: 2026,
            half: 1,
        };
        assert_eq!(h.from().to_rfc3339(), "2025-12-31T16:00:00+00:00");
        assert_eq!(h.to().to_rfc3339(), "2026-06-30T16:00:00+00:00");
        assert_eq!(h.months()[5].0, "2026-06");
        assert!(Half::parse(2027, 1, d(2026, 12, 1)).is_err());
        assert!(Half::parse(2026, 3, d(2026, 12, 1)).is_err());
        assert_eq!(Half::parse(0, 0, d(2026, 12, 1)).unwrap(), h);
        let h2 = Half {
            year: 2026,
            half: 2,
        };
        assert_eq!(h2.months()[5].2, midnight(d(2027, 1, 1)));
    }
}
