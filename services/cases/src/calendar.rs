//! The legal working-day calendar and deadline arithmetic (办件时限计算).
//!
//! Every rule here comes from DESIGN.md §2 "cases"; all arithmetic is done in Asia/Shanghai
//! local time.
//!
//! * **Working day.** A date is a working day if it is listed as a `workday` (a make-up working
//!   day on a weekend, 调休上班), else if it is not listed as a `holiday` and falls Monday–Friday.
//!   A year with no entries loaded counts Monday–Friday only; every answer that consulted such a
//!   year lists it in `assumed_years` ([`Deadline::calendar_complete`] is then `false`).
//! * **Office hours.** Configurable ([`OfficeHours`]), default 09:00–12:00 and 13:30–17:30.
//!   Close of office is the end of the last period (default 17:30).
//! * **Working days** ([`Unit::WorkingDays`]). The day a period starts is not counted: a limit of
//!   N runs from the next working day and ends at close of office on the N-th working day after
//!   the start date (a start on a rest day: the next working day is day 1).
//! * **Natural days** ([`Unit::NaturalDays`]). Ends at close of office N calendar days after the
//!   start date; if that day is a rest day or holiday, at close of office on the next working day.
//! * **Working hours** ([`Unit::WorkingHours`]). Only office time counts. Starting inside office
//!   hours counts from that moment, starting outside from the next period's start. The deadline
//!   is the first instant at which N hours of office time have elapsed (so a limit that uses up
//!   a morning exactly ends at 12:00, not at 13:30).
//! * **即办件** ([`Unit::SameDay`], or any limit of value 0). Close of office the same day when
//!   filed on a working day before close; filed on a rest day or at/after close: close of office
//!   on the next working day.
//! * **Clock stops** (补正, 特别程序). See [`Calendar::resume`]: for office-time units the deadline
//!   is pushed out by exactly the office time that elapsed while the clock was stopped; for
//!   natural days by the wall-clock duration, then the rest-day rule.
//! * **Warnings.** See [`Calendar::warning`].
//!
//! Instants go in as `DateTime<Utc>` (what the database holds) and come out as
//! `DateTime<FixedOffset>` at +08:00 (what the REST layer prints as RFC 3339).
//!
//! Every loop is bounded (limits above [`MAX_DAYS`] / [`MAX_HOURS`] are rejected and no call
//! scans more than [`MAX_SCAN_DAYS`] days), and dates near chrono's limits give
//! [`CalendarError::OutOfRange`] rather than a panic.

use std::cmp::{max, min};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use chrono::{
    DateTime, Datelike, Days, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Utc,
    Weekday,
};

/// The official arrangement for 2024–2026 (`date,kind,name`), shipped with the service.
pub const DEFAULT_CSV: &str = include_str!("../../../data/cn-workdays.csv");

/// Asia/Shanghai. China has kept a single fixed UTC+08:00 with no daylight saving since 1991,
/// so a fixed offset is exact for every date this service handles; no tz database needed.
pub const SHANGHAI: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+08:00 is a valid offset"), // evaluated at compile time
};

/// Largest accepted limit in working or natural days (ten years).
pub const MAX_DAYS: u32 = 3650;
/// Largest accepted limit in working hours.
pub const MAX_HOURS: u32 = 20_000;
/// No single call walks more calendar days than this (≈ 110 years); beyond it the answer is
/// [`CalendarError::ScanLimit`]. Guards against calendars or office hours with (almost) no
/// working time, which would otherwise loop for ever.
pub const MAX_SCAN_DAYS: u32 = 40_000;

const fn hm(h: u32, m: u32) -> NaiveTime {
    match NaiveTime::from_hms_opt(h, m, 0) {
        Some(t) => t,
        None => panic!("valid time"), // only used in constants: compile-time
    }
}

const DEFAULT_PERIODS: [(NaiveTime, NaiveTime); 2] =
    [(hm(9, 0), hm(12, 0)), (hm(13, 30), hm(17, 30))];

// ---------------------------------------------------------------------------------------------
// Plain types
// ---------------------------------------------------------------------------------------------

/// What an entry of the official arrangement says about a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DayKind {
    /// A day off (statutory holiday or a weekday swapped into a holiday block).
    Holiday,
    /// A make-up working day (调休上班); always a Saturday or Sunday.
    Workday,
}

impl DayKind {
    /// The CSV / JSON spelling: `holiday` or `workday`.
    pub fn as_str(self) -> &'static str {
        match self {
            DayKind::Holiday => "holiday",
            DayKind::Workday => "workday",
        }
    }

    /// Parses the CSV / JSON spelling (exact, lower case).
    pub fn parse(s: &str) -> Option<DayKind> {
        match s {
            "holiday" => Some(DayKind::Holiday),
            "workday" => Some(DayKind::Workday),
            _ => None,
        }
    }
}

impl fmt::Display for DayKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of the official arrangement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DayEntry {
    pub date: NaiveDate,
    pub kind: DayKind,
    /// e.g. 春节, 春节调休上班. May be empty.
    pub name: String,
}

/// The unit of a time limit, as the catalogue records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    WorkingDays,
    NaturalDays,
    WorkingHours,
    /// 即办件: due at close of office the same working day (the limit's value is ignored).
    SameDay,
}

impl Unit {
    /// The API spelling: `working_days`, `natural_days`, `working_hours`, `same_day`.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::WorkingDays => "working_days",
            Unit::NaturalDays => "natural_days",
            Unit::WorkingHours => "working_hours",
            Unit::SameDay => "same_day",
        }
    }

    /// Parses the API spelling (exact, lower case).
    pub fn parse(s: &str) -> Option<Unit> {
        match s {
            "working_days" => Some(Unit::WorkingDays),
            "natural_days" => Some(Unit::NaturalDays),
            "working_hours" => Some(Unit::WorkingHours),
            "same_day" => Some(Unit::SameDay),
            _ => None,
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A time limit: `value` of `unit`. A value of 0 in any unit is a 即办件 (same-day item).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limit {
    pub value: u32,
    pub unit: Unit,
}

impl Limit {
    pub const SAME_DAY: Limit = Limit {
        value: 0,
        unit: Unit::SameDay,
    };

    pub const fn new(value: u32, unit: Unit) -> Limit {
        Limit { value, unit }
    }

    fn is_same_day(self) -> bool {
        self.unit == Unit::SameDay || self.value == 0
    }
}

/// The office periods of every working day: non-empty, each `start < end`, sorted and
/// non-overlapping (touching is allowed). Periods end within the day (no 24:00).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficeHours {
    periods: Vec<(NaiveTime, NaiveTime)>,
}

impl OfficeHours {
    /// Validates and sorts the periods.
    pub fn new(mut periods: Vec<(NaiveTime, NaiveTime)>) -> Result<OfficeHours, CalendarError> {
        if periods.is_empty() {
            return Err(CalendarError::InvalidOfficeHours(
                "no office periods".into(),
            ));
        }
        if let Some((s, e)) = periods.iter().find(|(s, e)| s >= e) {
            return Err(CalendarError::InvalidOfficeHours(format!(
                "period {s}–{e} does not end after it starts"
            )));
        }
        periods.sort();
        for pair in periods.windows(2) {
            if pair[0].1 > pair[1].0 {
                return Err(CalendarError::InvalidOfficeHours(format!(
                    "periods {}–{} and {}–{} overlap",
                    pair[0].0, pair[0].1, pair[1].0, pair[1].1
                )));
            }
        }
        Ok(OfficeHours { periods })
    }

    /// The periods, sorted.
    pub fn periods(&self) -> &[(NaiveTime, NaiveTime)] {
        &self.periods
    }

    /// Close of office: the end of the last period.
    pub fn close(&self) -> NaiveTime {
        // `new` guarantees at least one period; the fallback is never used.
        self.periods.last().map_or(DEFAULT_PERIODS[1].1, |p| p.1)
    }

    /// Office time in one working day (7 h by default).
    pub fn daily(&self) -> Duration {
        self.periods
            .iter()
            .fold(Duration::zero(), |acc, (s, e)| acc + (*e - *s))
    }
}

impl Default for OfficeHours {
    /// 09:00–12:00 and 13:30–17:30.
    fn default() -> Self {
        OfficeHours {
            periods: DEFAULT_PERIODS.to_vec(),
        }
    }
}

/// A computed deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deadline {
    /// The instant, at +08:00.
    pub at: DateTime<FixedOffset>,
    /// Years consulted whose arrangement is not loaded (counted Monday–Friday only), sorted.
    pub assumed_years: Vec<i32>,
}

impl Deadline {
    /// True when every year consulted had its official arrangement loaded.
    pub fn calendar_complete(&self) -> bool {
        self.assumed_years.is_empty()
    }
}

/// Office time elapsed between two instants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficeTime {
    pub duration: Duration,
    /// Years consulted whose arrangement is not loaded (counted Monday–Friday only), sorted.
    pub assumed_years: Vec<i32>,
}

impl OfficeTime {
    /// True when every year consulted had its official arrangement loaded.
    pub fn calendar_complete(&self) -> bool {
        self.assumed_years.is_empty()
    }
}

/// How close a case is to its deadline. Ordered: `None < Yellow < Red`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Warning {
    None,
    Yellow,
    Red,
}

impl Warning {
    /// The API spelling: `none`, `yellow`, `red`.
    pub fn as_str(self) -> &'static str {
        match self {
            Warning::None => "none",
            Warning::Yellow => "yellow",
            Warning::Red => "red",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Where a bad calendar entry is: a CSV line (1-based, the header is line 1) or an index into
/// the list given to [`Calendar::set_year`] (0-based, as in a JSON array).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    Line(usize),
    Entry(usize),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Line(n) => write!(f, "line {n}"),
            Position::Entry(i) => write!(f, "entries[{i}]"),
        }
    }
}

/// What is wrong with one calendar entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryProblem {
    #[error("missing field `{0}` (expected `date,kind,name`)")]
    MissingField(&'static str),
    #[error("bad date {0:?} (expected YYYY-MM-DD)")]
    BadDate(String),
    #[error("unknown kind {0:?} (expected `holiday` or `workday`)")]
    UnknownKind(String),
    #[error("{date} is listed both as a holiday and as a workday (first at {first})")]
    HolidayAndWorkday { date: NaiveDate, first: Position },
    #[error("{date} is listed twice (first at {first})")]
    Duplicate { date: NaiveDate, first: Position },
    #[error("{date} is not in year {year}")]
    WrongYear { date: NaiveDate, year: i32 },
    #[error("workday {date} is a {weekday}; a make-up working day must be a Saturday or Sunday")]
    WorkdayNotOnWeekend { date: NaiveDate, weekday: Weekday },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("{at}: {problem}")]
    InvalidEntry { at: Position, problem: EntryProblem },
    #[error("invalid office hours: {0}")]
    InvalidOfficeHours(String),
    #[error("a limit of {value} {unit} exceeds the maximum of {max}")]
    LimitTooLarge { value: u32, unit: Unit, max: u32 },
    #[error("a clock stop or extension cannot be negative")]
    NegativeDuration,
    #[error("date outside the supported range")]
    OutOfRange,
    #[error("no answer within {0} days (too few working days or too little office time)")]
    ScanLimit(u32),
}

// ---------------------------------------------------------------------------------------------
// The calendar
// ---------------------------------------------------------------------------------------------

/// The legal calendar: loaded years' official arrangements plus office hours.
///
/// Cheap to query (one hash lookup per date) and `Clone + Send + Sync`, so a service can keep
/// it in an `Arc<RwLock<_>>` or swap a fresh clone in after `PUT /v1/calendar/{year}`.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    /// Each loaded year's entries, sorted by date (what `GET /v1/calendar/{year}` shows).
    years: BTreeMap<i32, Vec<DayEntry>>,
    /// date → kind over all loaded years: the lookup every query uses.
    index: HashMap<NaiveDate, DayKind>,
    office: OfficeHours,
}

impl Calendar {
    /// No year loaded (everything counts Monday–Friday, flagged), default office hours.
    pub fn new() -> Calendar {
        Calendar::default()
    }

    /// Parses `date,kind,name` lines (e.g. [`DEFAULT_CSV`]), with default office hours.
    ///
    /// The header line `date,kind,name` is optional; blank lines, `\r\n` endings and a UTF-8 BOM
    /// are accepted. No quoting: the name is everything after the second comma. Errors name the
    /// line: a bad date, an unknown kind, a date listed twice or as both holiday and workday,
    /// a `workday` that is not a Saturday or Sunday.
    pub fn from_csv(csv: &str) -> Result<Calendar, CalendarError> {
        let csv = csv.strip_prefix('\u{feff}').unwrap_or(csv);
        let mut checker = Checker::new(None);
        let mut entries = Vec::new();
        let mut seen_content = false;
        for (i, raw) in csv.lines().enumerate() {
            let at = Position::Line(i + 1);
            let text = raw.trim();
            if text.is_empty() {
                continue;
            }
            let first = !seen_content;
            seen_content = true;
            if first && text.eq_ignore_ascii_case("date,kind,name") {
                continue;
            }
            let bad = |problem| CalendarError::InvalidEntry { at, problem };
            let mut fields = text.splitn(3, ',');
            let date_s = fields.next().unwrap_or_default().trim();
            let kind_s = fields
                .next()
                .ok_or_else(|| bad(EntryProblem::MissingField("kind")))?
                .trim();
            let name = fields.next().unwrap_or_default().trim().to_string();
            let date = NaiveDate::parse_from_str(date_s, "%Y-%m-%d")
                .map_err(|_| bad(EntryProblem::BadDate(date_s.to_string())))?;
            let kind = DayKind::parse(kind_s)
                .ok_or_else(|| bad(EntryProblem::UnknownKind(kind_s.into())))?;
            let entry = DayEntry { date, kind, name };
            checker.check(at, &entry)?;
            entries.push(entry);
        }
        let mut by_year: BTreeMap<i32, Vec<DayEntry>> = BTreeMap::new();
        for e in entries {
            by_year.entry(e.date.year()).or_default().push(e);
        }
        let mut cal = Calendar::new();
        for (year, list) in by_year {
            cal.install_year(year, list);
        }
        Ok(cal)
    }

    /// Replaces the office hours (builder style).
    pub fn with_office_hours(mut self, office: OfficeHours) -> Calendar {
        self.office = office;
        self
    }

    pub fn office_hours(&self) -> &OfficeHours {
        &self.office
    }

    pub fn set_office_hours(&mut self, office: OfficeHours) {
        self.office = office;
    }

    /// Replaces one year's arrangement (`PUT /v1/calendar/{year}`). All-or-nothing: on error
    /// the calendar is unchanged.
    ///
    /// Every entry must be in `year`; a `workday` must fall on a Saturday or Sunday (a holiday may
    /// be any day); no date twice. Errors name the entry as `entries[i]`. An empty list unloads
    /// the year, which then counts Monday–Friday again and is reported as assumed.
    pub fn set_year(&mut self, year: i32, entries: Vec<DayEntry>) -> Result<(), CalendarError> {
        let mut checker = Checker::new(Some(year));
        for (i, e) in entries.iter().enumerate() {
            checker.check(Position::Entry(i), e)?;
        }
        if let Some(old) = self.years.remove(&year) {
            for e in old {
                self.index.remove(&e.date);
            }
        }
        self.install_year(year, entries);
        Ok(())
    }

    /// Infallible insert of already validated entries of one year (which is not loaded).
    fn install_year(&mut self, year: i32, mut entries: Vec<DayEntry>) {
        if entries.is_empty() {
            return;
        }
        entries.sort_by_key(|e| e.date);
        for e in &entries {
            self.index.insert(e.date, e.kind);
        }
        self.years.insert(year, entries);
    }

    /// One year's entries sorted by date, or `None` if the year is not loaded.
    pub fn year(&self, year: i32) -> Option<&[DayEntry]> {
        self.years.get(&year).map(Vec::as_slice)
    }

    /// Loaded years, ascending.
    pub fn loaded_years(&self) -> Vec<i32> {
        self.years.keys().copied().collect()
    }

    pub fn is_year_loaded(&self, year: i32) -> bool {
        self.years.contains_key(&year)
    }

    /// Whether `date` is a working day (Monday–Friday if its year is not loaded).
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        Walk::new(self).is_working(date)
    }

    /// The deadline of a limit started at `from` (see the module docs for the rules).
    ///
    /// Errors: [`CalendarError::LimitTooLarge`] above [`MAX_DAYS`] days / [`MAX_HOURS`] hours,
    /// [`CalendarError::OutOfRange`] near chrono's date limits, [`CalendarError::ScanLimit`] if
    /// the calendar has (almost) no working time.
    pub fn deadline(&self, from: DateTime<Utc>, limit: Limit) -> Result<Deadline, CalendarError> {
        let max_value = if limit.unit == Unit::WorkingHours {
            MAX_HOURS
        } else {
            MAX_DAYS
        };
        if limit.unit != Unit::SameDay && limit.value > max_value {
            return Err(CalendarError::LimitTooLarge {
                value: limit.value,
                unit: limit.unit,
                max: max_value,
            });
        }
        let start = to_local(from)?;
        let mut walk = Walk::new(self);
        let close = self.office.close();
        // A value of 0 in any unit is a 即办件.
        let unit = if limit.is_same_day() {
            Unit::SameDay
        } else {
            limit.unit
        };
        let at = match unit {
            Unit::SameDay => {
                let d0 = start.date();
                let day = if walk.is_working(d0) && start.time() < close {
                    d0
                } else {
                    walk.next_working_day_after(d0)?
                };
                day.and_time(close)
            }
            Unit::WorkingDays => {
                // The start day is not counted: day 1 is the next working day.
                let mut day = start.date();
                for _ in 0..limit.value {
                    day = walk.next_working_day_after(day)?;
                }
                day.and_time(close)
            }
            Unit::NaturalDays => {
                let last = start
                    .date()
                    .checked_add_days(Days::new(u64::from(limit.value)))
                    .ok_or(CalendarError::OutOfRange)?;
                let day = if walk.is_working(last) {
                    last
                } else {
                    walk.next_working_day_after(last)?
                };
                day.and_time(close)
            }
            Unit::WorkingHours => {
                walk.add_office_time(start, Duration::hours(i64::from(limit.value)))?
            }
        };
        walk.finish(at)
    }

    /// Office time elapsed from `a` to `b` (zero when `b` is not after `a`): the time inside
    /// office periods of working days. [`CalendarError::ScanLimit`] if they are more than
    /// [`MAX_SCAN_DAYS`] days apart.
    pub fn office_time_between(
        &self,
        a: DateTime<Utc>,
        b: DateTime<Utc>,
    ) -> Result<OfficeTime, CalendarError> {
        let mut walk = Walk::new(self);
        let duration = walk.office_time(to_local(a)?, to_local(b)?)?;
        Ok(OfficeTime {
            duration,
            assumed_years: walk.assumed.into_iter().collect(),
        })
    }

    /// Pushes a working-day / working-hour / same-day deadline out by exactly `stopped` of
    /// office time: the result is the first instant `t` with `office_time_between(deadline, t)
    /// == stopped` (the deadline itself when `stopped` is zero). So a stop worth k whole working
    /// days of office time moves a close-of-office deadline to close of office k working days
    /// later; a part-day stop gives a part-day deadline.
    pub fn extend(
        &self,
        deadline: DateTime<Utc>,
        stopped: Duration,
    ) -> Result<Deadline, CalendarError> {
        if stopped < Duration::zero() {
            return Err(CalendarError::NegativeDuration);
        }
        let mut walk = Walk::new(self);
        let at = walk.add_office_time(to_local(deadline)?, stopped)?;
        walk.finish(at)
    }

    /// The natural-day counterpart of [`Calendar::extend`]: adds `stopped` of wall-clock time,
    /// then applies the rest-day rule: if that lands on a rest day or holiday, the deadline is
    /// close of office on the next working day; on a working day the instant is kept as is.
    /// (Applied to the effective deadline, which may already have been moved off a rest day,
    /// so an extension never shortens the period.)
    pub fn extend_natural(
        &self,
        deadline: DateTime<Utc>,
        stopped: Duration,
    ) -> Result<Deadline, CalendarError> {
        if stopped < Duration::zero() {
            return Err(CalendarError::NegativeDuration);
        }
        let mut walk = Walk::new(self);
        let t = to_local(deadline)?
            .checked_add_signed(stopped)
            .ok_or(CalendarError::OutOfRange)?;
        let at = if walk.is_working(t.date()) {
            t
        } else {
            walk.next_working_day_after(t.date())?
                .and_time(self.office.close())
        };
        walk.finish(at)
    }

    /// The new deadline after the clock was stopped from `stopped_from` to `stopped_to`
    /// (补正 or 特别程序), for a limit counted in `unit`.
    ///
    /// Working days, working hours, same day: the office time elapsed during the stop
    /// ([`Calendar::office_time_between`]) is added to `deadline` with [`Calendar::extend`].
    /// Natural days: the wall-clock length of the stop, with [`Calendar::extend_natural`].
    /// Several stops: call once per stop, feeding each result in as the next `deadline`.
    /// `assumed_years` covers both the stop interval and the extension.
    /// [`CalendarError::NegativeDuration`] if the stop ends before it starts.
    pub fn resume(
        &self,
        deadline: DateTime<Utc>,
        unit: Unit,
        stopped_from: DateTime<Utc>,
        stopped_to: DateTime<Utc>,
    ) -> Result<Deadline, CalendarError> {
        if stopped_to < stopped_from {
            return Err(CalendarError::NegativeDuration);
        }
        if unit == Unit::NaturalDays {
            return self.extend_natural(deadline, stopped_to.signed_duration_since(stopped_from));
        }
        let mut walk = Walk::new(self);
        let stopped = walk.office_time(to_local(stopped_from)?, to_local(stopped_to)?)?;
        let at = walk.add_office_time(to_local(deadline)?, stopped)?;
        walk.finish(at)
    }

    /// The warning level of a running limit that started at `started` and is due at `deadline`
    /// (the current, possibly extended, deadline), as of `now`.
    ///
    /// * `Red` when `now > deadline` (at the deadline itself it is still yellow);
    /// * `Yellow` when the office time left, `office_time_between(now, deadline)`, is at most
    ///   max(20 % of `office_time_between(started, deadline)`, one working day of office time);
    /// * `None` otherwise.
    ///
    /// Taking `started` rather than the limit makes it work alike for every unit, including
    /// natural days and extended deadlines. While the clock is stopped the caller should not
    /// warn. Red never fails; the other levels may fail like `office_time_between`.
    pub fn warning(
        &self,
        now: DateTime<Utc>,
        started: DateTime<Utc>,
        deadline: DateTime<Utc>,
    ) -> Result<Warning, CalendarError> {
        if now > deadline {
            return Ok(Warning::Red);
        }
        let total = self.office_time_between(started, deadline)?.duration;
        let remaining = self.office_time_between(now, deadline)?.duration;
        let threshold = max(total / 5, self.office.daily());
        Ok(if remaining <= threshold {
            Warning::Yellow
        } else {
            Warning::None
        })
    }
}

/// Validates entries one at a time, remembering where each date was first seen.
struct Checker {
    year: Option<i32>,
    seen: HashMap<NaiveDate, (Position, DayKind)>,
}

impl Checker {
    fn new(year: Option<i32>) -> Checker {
        Checker {
            year,
            seen: HashMap::new(),
        }
    }

    fn check(&mut self, at: Position, e: &DayEntry) -> Result<(), CalendarError> {
        let problem = if let Some(year) = self.year.filter(|y| *y != e.date.year()) {
            Some(EntryProblem::WrongYear { date: e.date, year })
        } else if e.kind == DayKind::Workday && !is_weekend(e.date) {
            Some(EntryProblem::WorkdayNotOnWeekend {
                date: e.date,
                weekday: e.date.weekday(),
            })
        } else if let Some(&(first, kind)) = self.seen.get(&e.date) {
            Some(if kind == e.kind {
                EntryProblem::Duplicate {
                    date: e.date,
                    first,
                }
            } else {
                EntryProblem::HolidayAndWorkday {
                    date: e.date,
                    first,
                }
            })
        } else {
            None
        };
        match problem {
            Some(problem) => Err(CalendarError::InvalidEntry { at, problem }),
            None => {
                self.seen.insert(e.date, (at, e.kind));
                Ok(())
            }
        }
    }
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// UTC instant → Shanghai wall-clock time (checked: chrono's maximum has no +8 h headroom).
fn to_local(t: DateTime<Utc>) -> Result<NaiveDateTime, CalendarError> {
    t.naive_utc()
        .checked_add_signed(Duration::hours(8))
        .ok_or(CalendarError::OutOfRange)
}

/// Shanghai wall-clock time → instant at +08:00.
fn from_local(t: NaiveDateTime) -> Result<DateTime<FixedOffset>, CalendarError> {
    let utc = t
        .checked_sub_signed(Duration::hours(8))
        .ok_or(CalendarError::OutOfRange)?;
    Ok(DateTime::from_naive_utc_and_offset(utc, SHANGHAI))
}

/// One computation: looks days up, records years it had to assume, and bounds the scan.
struct Walk<'a> {
    cal: &'a Calendar,
    assumed: BTreeSet<i32>,
    scanned: u32,
}

impl<'a> Walk<'a> {
    fn new(cal: &'a Calendar) -> Walk<'a> {
        Walk {
            cal,
            assumed: BTreeSet::new(),
            scanned: 0,
        }
    }

    fn is_working(&mut self, d: NaiveDate) -> bool {
        let year = d.year();
        if self.cal.years.contains_key(&year) {
            match self.cal.index.get(&d) {
                Some(DayKind::Workday) => return true,
                Some(DayKind::Holiday) => return false,
                None => {}
            }
        } else {
            self.assumed.insert(year);
        }
        !is_weekend(d)
    }

    fn next_day(&mut self, d: NaiveDate) -> Result<NaiveDate, CalendarError> {
        self.scanned += 1;
        if self.scanned > MAX_SCAN_DAYS {
            return Err(CalendarError::ScanLimit(MAX_SCAN_DAYS));
        }
        d.succ_opt().ok_or(CalendarError::OutOfRange)
    }

    fn next_working_day_after(&mut self, mut d: NaiveDate) -> Result<NaiveDate, CalendarError> {
        loop {
            d = self.next_day(d)?;
            if self.is_working(d) {
                return Ok(d);
            }
        }
    }

    /// First instant at which `amount` of office time has elapsed since `t`.
    fn add_office_time(
        &mut self,
        t: NaiveDateTime,
        amount: Duration,
    ) -> Result<NaiveDateTime, CalendarError> {
        if amount <= Duration::zero() {
            return Ok(t);
        }
        let mut remaining = amount;
        let mut day = t.date();
        let mut cur = t;
        loop {
            // Skip the lookup when the day's office time is already over (no spurious flags).
            if day.and_time(self.cal.office.close()) > cur && self.is_working(day) {
                for &(s, e) in self.cal.office.periods() {
                    let end = day.and_time(e);
                    if end <= cur {
                        continue;
                    }
                    let begin = max(day.and_time(s), cur);
                    let available = end - begin;
                    if remaining <= available {
                        // `<=`: a limit that uses a period up exactly ends at its end.
                        return begin
                            .checked_add_signed(remaining)
                            .ok_or(CalendarError::OutOfRange);
                    }
                    remaining -= available;
                }
            }
            day = self.next_day(day)?;
            cur = day.and_time(NaiveTime::MIN);
        }
    }

    fn office_time(
        &mut self,
        a: NaiveDateTime,
        b: NaiveDateTime,
    ) -> Result<Duration, CalendarError> {
        if b <= a {
            return Ok(Duration::zero());
        }
        if b.date().signed_duration_since(a.date()).num_days() > i64::from(MAX_SCAN_DAYS) {
            return Err(CalendarError::ScanLimit(MAX_SCAN_DAYS));
        }
        let periods = self.cal.office.periods();
        let (Some(first), Some(last)) = (periods.first(), periods.last()) else {
            return Ok(Duration::zero());
        };
        let mut total = Duration::zero();
        let mut day = a.date();
        loop {
            // Only look the day up if its office time can overlap [a, b).
            if day.and_time(first.0) < b && day.and_time(last.1) > a && self.is_working(day) {
                for &(s, e) in periods {
                    let lo = max(day.and_time(s), a);
                    let hi = min(day.and_time(e), b);
                    if hi > lo {
                        total += hi - lo;
                    }
                }
            }
            if day >= b.date() {
                return Ok(total);
            }
            day = self.next_day(day)?;
        }
    }

    fn finish(self, at: NaiveDateTime) -> Result<Deadline, CalendarError> {
        Ok(Deadline {
            at: from_local(at)?,
            assumed_years: self.assumed.into_iter().collect(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn cal() -> Calendar {
        Calendar::from_csv(DEFAULT_CSV).expect("the shipped CSV parses")
    }

    /// An RFC 3339 instant (usually written at +08:00) as UTC.
    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("valid RFC 3339")
            .to_utc()
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn due(cal: &Calendar, from: &str, value: u32, unit: Unit) -> String {
        cal.deadline(t(from), Limit::new(value, unit))
            .unwrap()
            .at
            .to_rfc3339()
    }

    fn hours(h: i64) -> Duration {
        Duration::hours(h)
    }

    /// Close of office (17:30 +08:00) of `d`.
    fn close(d: NaiveDate) -> DateTime<Utc> {
        t(&format!("{d}T17:30:00+08:00"))
    }

    /// Reference: the n-th working day after `d`, by plain day-by-day stepping.
    fn nth_working_after(cal: &Calendar, mut d: NaiveDate, n: u32) -> NaiveDate {
        let mut k = 0;
        while k < n {
            d = d.succ_opt().unwrap();
            if cal.is_working_day(d) {
                k += 1;
            }
        }
        d
    }

    #[test]
    fn calendar_is_clone_send_sync() {
        fn assert_traits<T: Clone + Send + Sync + 'static>() {}
        assert_traits::<Calendar>();
        assert_traits::<CalendarError>();
    }

    #[test]
    fn default_csv_loads() {
        let c = cal();
        assert_eq!(c.loaded_years(), vec![2024, 2025, 2026]);
        assert_eq!(c.year(2024).unwrap().len(), 36);
        assert_eq!(c.year(2025).unwrap().len(), 33);
        assert_eq!(c.year(2026).unwrap().len(), 39);
        assert_eq!(
            c.year(2024).unwrap()[0],
            DayEntry {
                date: date("2024-01-01"),
                kind: DayKind::Holiday,
                name: "元旦".into()
            }
        );
        assert_eq!(c.year(2025).unwrap()[0].name, "元旦");
        assert!(c.year(2027).is_none());
        assert!(c.is_year_loaded(2026) && !c.is_year_loaded(2027));
    }

    #[test]
    fn working_day_predicate() {
        let c = cal();
        assert!(c.is_working_day(date("2024-02-04"))); // Sunday, make-up workday
        assert!(c.is_working_day(date("2024-02-18"))); // Sunday, make-up workday
        assert!(!c.is_working_day(date("2024-02-12"))); // Monday, Spring Festival
        assert!(!c.is_working_day(date("2024-02-17"))); // Saturday listed as holiday
        assert!(!c.is_working_day(date("2024-02-24"))); // ordinary Saturday
        assert!(c.is_working_day(date("2024-02-19"))); // ordinary Monday
        assert!(!c.is_working_day(date("2025-10-08"))); // Wednesday, National Day block
        assert!(c.is_working_day(date("2031-01-01"))); // Wednesday, year not loaded → Mon–Fri
        assert!(!c.is_working_day(date("2031-01-04"))); // Saturday, year not loaded
    }

    #[test]
    fn working_days_across_spring_festival_2024() {
        let c = cal();
        // Thu 02-08 not counted; 02-09 (Fri) 1, 02-10..17 holidays, 02-18 (Sun make-up) 2,
        // 02-19 3, 02-20 4, 02-21 5.
        let d = c
            .deadline(
                t("2024-02-08T10:00:00+08:00"),
                Limit::new(5, Unit::WorkingDays),
            )
            .unwrap();
        assert_eq!(d.at.to_rfc3339(), "2024-02-21T17:30:00+08:00");
        assert!(d.calendar_complete());
        assert!(d.assumed_years.is_empty());
        // 1 working day: the next working day, Friday.
        assert_eq!(
            due(&c, "2024-02-08T10:00:00+08:00", 1, Unit::WorkingDays),
            "2024-02-09T17:30:00+08:00"
        );
        // 2 working days: 02-09, then the Sunday make-up day.
        assert_eq!(
            due(&c, "2024-02-08T10:00:00+08:00", 2, Unit::WorkingDays),
            "2024-02-18T17:30:00+08:00"
        );
        // Filed during the holiday: day 1 is the next working day (02-18).
        assert_eq!(
            due(&c, "2024-02-12T10:00:00+08:00", 1, Unit::WorkingDays),
            "2024-02-18T17:30:00+08:00"
        );
        assert_eq!(
            due(&c, "2024-02-12T10:00:00+08:00", 3, Unit::WorkingDays),
            "2024-02-20T17:30:00+08:00"
        );
    }

    #[test]
    fn working_days_time_of_day_and_timezone() {
        let c = cal();
        // The start day is not counted whatever the hour: 08:00 or 20:00 on Mon 2024-03-04.
        assert_eq!(
            due(&c, "2024-03-04T08:00:00+08:00", 1, Unit::WorkingDays),
            "2024-03-05T17:30:00+08:00"
        );
        assert_eq!(
            due(&c, "2024-03-04T20:00:00+08:00", 1, Unit::WorkingDays),
            "2024-03-05T17:30:00+08:00"
        );
        // 10 working days from Mon 03-04: 05..08, 11..15, 18.
        assert_eq!(
            due(&c, "2024-03-04T10:00:00+08:00", 10, Unit::WorkingDays),
            "2024-03-18T17:30:00+08:00"
        );
        // 17:00Z on 02-08 is already 01:00 on Fri 02-09 in Shanghai, so 02-09 is the start day.
        assert_eq!(
            due(&c, "2024-02-08T17:00:00Z", 5, Unit::WorkingDays),
            "2024-02-22T17:30:00+08:00"
        );
        // 15:59Z is 23:59 on 02-08: still the Thursday.
        assert_eq!(
            due(&c, "2024-02-08T15:59:00Z", 5, Unit::WorkingDays),
            "2024-02-21T17:30:00+08:00"
        );
        // A Saturday make-up workday counts: from Fri 2024-05-10, day 1 is Sat 05-11.
        assert_eq!(
            due(&c, "2024-05-10T10:00:00+08:00", 1, Unit::WorkingDays),
            "2024-05-11T17:30:00+08:00"
        );
    }

    #[test]
    fn natural_days() {
        let c = cal();
        // Mon 2024-03-04 + 3 → Thu 03-07.
        assert_eq!(
            due(&c, "2024-03-04T10:00:00+08:00", 3, Unit::NaturalDays),
            "2024-03-07T17:30:00+08:00"
        );
        // Thu 2024-03-07 + 2 → Sat 03-09 (rest day) → Mon 03-11.
        assert_eq!(
            due(&c, "2024-03-07T10:00:00+08:00", 2, Unit::NaturalDays),
            "2024-03-11T17:30:00+08:00"
        );
        // 2024-09-30 + 1 → 10-01 holiday (block to 10-07) → Tue 10-08.
        assert_eq!(
            due(&c, "2024-09-30T10:00:00+08:00", 1, Unit::NaturalDays),
            "2024-10-08T17:30:00+08:00"
        );
        // 2024-02-01 + 10 → 02-11 holiday → next working day is Sunday 02-18 (make-up).
        assert_eq!(
            due(&c, "2024-02-01T10:00:00+08:00", 10, Unit::NaturalDays),
            "2024-02-18T17:30:00+08:00"
        );
        // Ending on a Sunday make-up workday stays there: 2024-04-25 + 3 = Sun 04-28.
        assert_eq!(
            due(&c, "2024-04-25T10:00:00+08:00", 3, Unit::NaturalDays),
            "2024-04-28T17:30:00+08:00"
        );
        // Start on a rest day is fine: Sat 2024-03-09 + 2 = Mon 03-11.
        assert_eq!(
            due(&c, "2024-03-09T10:00:00+08:00", 2, Unit::NaturalDays),
            "2024-03-11T17:30:00+08:00"
        );
    }

    #[test]
    fn working_hours() {
        let c = cal();
        // Fri 2024-03-08 16:00, 5 h: 1.5 h Fri, weekend skipped, Mon 09:00–12:00 3 h,
        // then 0.5 h after lunch → Mon 03-11 14:00.
        assert_eq!(
            due(&c, "2024-03-08T16:00:00+08:00", 5, Unit::WorkingHours),
            "2024-03-11T14:00:00+08:00"
        );
        // Across lunch: Tue 03-05 11:00 + 2 h → 1 h before noon, 1 h from 13:30 → 14:30.
        assert_eq!(
            due(&c, "2024-03-05T11:00:00+08:00", 2, Unit::WorkingHours),
            "2024-03-05T14:30:00+08:00"
        );
        // Starting at lunch counts from 13:30.
        assert_eq!(
            due(&c, "2024-03-05T12:15:00+08:00", 2, Unit::WorkingHours),
            "2024-03-05T15:30:00+08:00"
        );
        // Starting before opening counts from 09:00; 3 h end exactly at 12:00 (not 13:30).
        assert_eq!(
            due(&c, "2024-03-05T07:00:00+08:00", 3, Unit::WorkingHours),
            "2024-03-05T12:00:00+08:00"
        );
        // 7 h = one full day → close of office.
        assert_eq!(
            due(&c, "2024-03-05T09:00:00+08:00", 7, Unit::WorkingHours),
            "2024-03-05T17:30:00+08:00"
        );
        // After close: from next day's opening.
        assert_eq!(
            due(&c, "2024-03-05T18:00:00+08:00", 1, Unit::WorkingHours),
            "2024-03-06T10:00:00+08:00"
        );
        // Across the Spring Festival: Thu 02-08 16:30 → 1 h, Fri 02-09 7 h, then Sun 02-18 2 h.
        assert_eq!(
            due(&c, "2024-02-08T16:30:00+08:00", 10, Unit::WorkingHours),
            "2024-02-18T11:00:00+08:00"
        );
        // Seconds are kept.
        assert_eq!(
            due(&c, "2024-03-05T10:00:30+08:00", 1, Unit::WorkingHours),
            "2024-03-05T11:00:30+08:00"
        );
    }

    #[test]
    fn same_day_items() {
        let c = cal();
        let same = |from: &str| {
            c.deadline(t(from), Limit::SAME_DAY)
                .unwrap()
                .at
                .to_rfc3339()
        };
        // Friday 18:00 → Monday 17:30.
        assert_eq!(
            same("2024-03-08T18:00:00+08:00"),
            "2024-03-11T17:30:00+08:00"
        );
        // Filed during office hours, at lunch, or before opening → today.
        assert_eq!(
            same("2024-03-08T10:00:00+08:00"),
            "2024-03-08T17:30:00+08:00"
        );
        assert_eq!(
            same("2024-03-08T12:30:00+08:00"),
            "2024-03-08T17:30:00+08:00"
        );
        assert_eq!(
            same("2024-03-08T07:00:00+08:00"),
            "2024-03-08T17:30:00+08:00"
        );
        // Exactly at close counts as after close.
        assert_eq!(
            same("2024-03-08T17:30:00+08:00"),
            "2024-03-11T17:30:00+08:00"
        );
        assert_eq!(
            same("2024-03-08T17:29:59+08:00"),
            "2024-03-08T17:30:00+08:00"
        );
        // Fri 2024-09-13 18:00: the next working day is Sat 09-14 (make-up).
        assert_eq!(
            same("2024-09-13T18:00:00+08:00"),
            "2024-09-14T17:30:00+08:00"
        );
        // Fri 2024-02-09 18:00: holidays until the Sunday make-up day 02-18.
        assert_eq!(
            same("2024-02-09T18:00:00+08:00"),
            "2024-02-18T17:30:00+08:00"
        );
        // Filed on a holiday → next working day.
        assert_eq!(
            same("2024-10-03T10:00:00+08:00"),
            "2024-10-08T17:30:00+08:00"
        );
        // A value of 0 in any unit is a same-day item.
        for unit in [Unit::WorkingDays, Unit::NaturalDays, Unit::WorkingHours] {
            assert_eq!(
                due(&c, "2024-03-08T18:00:00+08:00", 0, unit),
                "2024-03-11T17:30:00+08:00"
            );
        }
        // SameDay ignores the value (so no LimitTooLarge either).
        assert_eq!(
            due(&c, "2024-03-08T18:00:00+08:00", u32::MAX, Unit::SameDay),
            "2024-03-11T17:30:00+08:00"
        );
    }

    #[test]
    fn unloaded_year_counts_monday_to_friday_and_says_so() {
        let c = cal();
        // Wed 2031-01-01 (New Year's Day in reality, but 2031 is not loaded): Thu 2, Fri 3, Mon 6.
        let d = c
            .deadline(
                t("2031-01-01T10:00:00+08:00"),
                Limit::new(3, Unit::WorkingDays),
            )
            .unwrap();
        assert_eq!(d.at.to_rfc3339(), "2031-01-06T17:30:00+08:00");
        assert_eq!(d.assumed_years, vec![2031]);
        assert!(!d.calendar_complete());
        // Crossing from a loaded year into an unloaded one: Wed 2026-12-30 → Thu 12-31,
        // Fri 2027-01-01 (assumed working), Mon 01-04.
        let d = c
            .deadline(
                t("2026-12-30T10:00:00+08:00"),
                Limit::new(3, Unit::WorkingDays),
            )
            .unwrap();
        assert_eq!(d.at.to_rfc3339(), "2027-01-04T17:30:00+08:00");
        assert_eq!(d.assumed_years, vec![2027]);
        // Staying inside 2026 flags nothing.
        let d = c
            .deadline(
                t("2026-12-28T10:00:00+08:00"),
                Limit::new(3, Unit::WorkingDays),
            )
            .unwrap();
        assert_eq!(d.at.to_rfc3339(), "2026-12-31T17:30:00+08:00");
        assert!(d.calendar_complete());
        // Natural and hour limits flag too; an empty calendar flags everything.
        let d = c
            .deadline(
                t("2031-03-06T10:00:00+08:00"),
                Limit::new(2, Unit::NaturalDays),
            )
            .unwrap();
        assert_eq!(d.at.to_rfc3339(), "2031-03-10T17:30:00+08:00"); // Sat 03-08 → Mon 03-10
        assert_eq!(d.assumed_years, vec![2031]);
        let d = Calendar::new()
            .deadline(
                t("2024-02-08T10:00:00+08:00"),
                Limit::new(5, Unit::WorkingDays),
            )
            .unwrap();
        assert_eq!(d.at.to_rfc3339(), "2024-02-15T17:30:00+08:00");
        assert_eq!(d.assumed_years, vec![2024]);
        let o = c
            .office_time_between(
                t("2031-01-01T00:00:00+08:00"),
                t("2031-01-02T00:00:00+08:00"),
            )
            .unwrap();
        assert_eq!(o.duration, hours(7));
        assert_eq!(o.assumed_years, vec![2031]);
        assert!(!o.calendar_complete());
    }

    #[test]
    fn office_time_between_values() {
        let c = cal();
        let ot = |a: &str, b: &str| c.office_time_between(t(a), t(b)).unwrap().duration;
        assert_eq!(
            ot("2024-03-05T09:00:00+08:00", "2024-03-05T17:30:00+08:00"),
            hours(7)
        );
        assert_eq!(
            ot("2024-03-05T11:00:00+08:00", "2024-03-05T14:00:00+08:00"),
            Duration::minutes(90)
        );
        // Fri 16:00 → Mon 10:00: 1.5 h + 1 h.
        assert_eq!(
            ot("2024-03-08T16:00:00+08:00", "2024-03-11T10:00:00+08:00"),
            Duration::minutes(150)
        );
        // Reversed or equal → zero.
        assert_eq!(
            ot("2024-03-05T14:00:00+08:00", "2024-03-05T11:00:00+08:00"),
            Duration::zero()
        );
        // Whole Spring Festival block Thu 02-08 17:30 → Sun 02-18 17:30: 02-09 and 02-18.
        assert_eq!(
            ot("2024-02-08T17:30:00+08:00", "2024-02-18T17:30:00+08:00"),
            hours(14)
        );
    }

    #[test]
    fn clock_stop_whole_working_days_across_spring_festival() {
        let c = cal();
        let started = t("2024-02-08T10:00:00+08:00");
        let deadline = c
            .deadline(started, Limit::new(5, Unit::WorkingDays))
            .unwrap()
            .at
            .to_utc();
        // Stopped from close on Thu 02-08 to close on Sun 02-18: two working days (02-09, 02-18).
        let stop = c
            .office_time_between(close(date("2024-02-08")), close(date("2024-02-18")))
            .unwrap();
        assert_eq!(stop.duration, hours(14));
        let resumed = c.resume(
            deadline,
            Unit::WorkingDays,
            close(date("2024-02-08")),
            close(date("2024-02-18")),
        );
        // 02-21 + 2 working days = Fri 02-23 = the 7-working-day deadline.
        assert_eq!(
            resumed.unwrap().at.to_rfc3339(),
            "2024-02-23T17:30:00+08:00"
        );
        assert_eq!(
            due(&c, "2024-02-08T10:00:00+08:00", 7, Unit::WorkingDays),
            "2024-02-23T17:30:00+08:00"
        );
        // Mid-day stop: Wed 02-07 10:00 → Mon 02-19 10:00 = 6 + 7 + 7 + 7 + 1 = 28 h = 4 days.
        let stop = c
            .office_time_between(
                t("2024-02-07T10:00:00+08:00"),
                t("2024-02-19T10:00:00+08:00"),
            )
            .unwrap();
        assert_eq!(stop.duration, hours(28));
        assert_eq!(
            c.extend(deadline, hours(28)).unwrap().at.to_rfc3339(),
            "2024-02-27T17:30:00+08:00"
        );
        // Zero stop changes nothing.
        assert_eq!(
            c.extend(deadline, Duration::zero()).unwrap().at,
            c.deadline(started, Limit::new(5, Unit::WorkingDays))
                .unwrap()
                .at
        );
    }

    /// Stopping for exactly k whole working days (close→close, or 10:00→10:00 k working days
    /// later) during an n-working-day limit gives the n+k-working-day deadline, for every start
    /// day from mid-January to mid-March 2024 (Spring Festival and its make-up Sundays inside).
    #[test]
    fn clock_stop_property_k_days_moves_deadline_k_working_days() {
        let c = cal();
        let mut checked = 0;
        let mut day = date("2024-01-20");
        while day <= date("2024-03-10") {
            let started = t(&format!("{day}T10:00:00+08:00"));
            for n in 1..=6u32 {
                let deadline = c
                    .deadline(started, Limit::new(n, Unit::WorkingDays))
                    .unwrap()
                    .at
                    .to_utc();
                assert_eq!(deadline, close(nth_working_after(&c, day, n)));
                for j in 1..=n {
                    let w = nth_working_after(&c, day, j);
                    for k in 0..=4u32 {
                        let w_end = nth_working_after(&c, w, k);
                        let expected = c
                            .deadline(started, Limit::new(n + k, Unit::WorkingDays))
                            .unwrap()
                            .at;
                        assert_eq!(expected.to_utc(), close(nth_working_after(&c, day, n + k)));
                        // close → close
                        let r = c
                            .resume(deadline, Unit::WorkingDays, close(w), close(w_end))
                            .unwrap();
                        assert_eq!(
                            r.at, expected,
                            "start {day} n {n} stop at close of {w} for {k}"
                        );
                        // 10:00 → 10:00
                        let from = t(&format!("{w}T10:00:00+08:00"));
                        let to = t(&format!("{w_end}T10:00:00+08:00"));
                        assert_eq!(
                            c.office_time_between(from, to).unwrap().duration,
                            hours(7 * i64::from(k))
                        );
                        let r = c.resume(deadline, Unit::WorkingDays, from, to).unwrap();
                        assert_eq!(r.at, expected, "start {day} n {n} stop 10:00 {w} for {k}");
                        checked += 1;
                    }
                }
            }
            day = day.succ_opt().unwrap();
        }
        assert!(checked > 3000);
    }

    #[test]
    fn extend_is_inverse_of_office_time_between() {
        let c = cal();
        let base = t("2024-02-08T17:30:00+08:00");
        for minutes in [1, 30, 90, 180, 181, 420, 421, 1000, 2000, 5000] {
            let x = Duration::minutes(minutes);
            let e = c.extend(base, x).unwrap().at.to_utc();
            assert_eq!(
                c.office_time_between(base, e).unwrap().duration,
                x,
                "{minutes} min"
            );
        }
        // Part-day stop on a working-hours deadline: 12:00 + 1 h → 14:30 (lunch skipped).
        let r = c.resume(
            t("2024-03-05T12:00:00+08:00"),
            Unit::WorkingHours,
            t("2024-03-06T09:00:00+08:00"),
            t("2024-03-06T10:00:00+08:00"),
        );
        assert_eq!(r.unwrap().at.to_rfc3339(), "2024-03-05T14:30:00+08:00");
        // A stop that lies entirely outside office time changes nothing.
        let r = c.resume(
            t("2024-03-05T17:30:00+08:00"),
            Unit::WorkingDays,
            t("2024-03-09T09:00:00+08:00"),
            t("2024-03-10T18:00:00+08:00"),
        );
        assert_eq!(r.unwrap().at.to_rfc3339(), "2024-03-05T17:30:00+08:00");
    }

    #[test]
    fn clock_stop_natural_days() {
        let c = cal();
        let deadline = t("2024-09-27T17:30:00+08:00"); // Friday
        let stop = |from: &str, to: &str| {
            c.resume(deadline, Unit::NaturalDays, t(from), t(to))
                .unwrap()
                .at
                .to_rfc3339()
        };
        // 2 days → Sun 09-29, a make-up workday: stays.
        assert_eq!(
            stop("2024-09-10T10:00:00+08:00", "2024-09-12T10:00:00+08:00"),
            "2024-09-29T17:30:00+08:00"
        );
        // 1 day → Sat 09-28, rest day → Sun 09-29 (make-up).
        assert_eq!(
            stop("2024-09-10T10:00:00+08:00", "2024-09-11T10:00:00+08:00"),
            "2024-09-29T17:30:00+08:00"
        );
        // 4 days → Tue 10-01 holiday → 10-08.
        assert_eq!(
            stop("2024-09-10T10:00:00+08:00", "2024-09-14T10:00:00+08:00"),
            "2024-10-08T17:30:00+08:00"
        );
        // 3 h of wall clock on a working day: exact.
        assert_eq!(
            stop("2024-09-10T10:00:00+08:00", "2024-09-10T13:00:00+08:00"),
            "2024-09-27T20:30:00+08:00"
        );
        // extend_natural directly.
        assert_eq!(
            c.extend_natural(deadline, Duration::days(3))
                .unwrap()
                .at
                .to_rfc3339(),
            "2024-09-30T17:30:00+08:00"
        );
    }

    #[test]
    fn clock_stop_errors() {
        let c = cal();
        let d = t("2024-03-05T17:30:00+08:00");
        assert_eq!(
            c.resume(
                d,
                Unit::WorkingDays,
                t("2024-03-02T00:00:00Z"),
                t("2024-03-01T00:00:00Z")
            ),
            Err(CalendarError::NegativeDuration)
        );
        assert_eq!(
            c.extend(d, -Duration::minutes(1)),
            Err(CalendarError::NegativeDuration)
        );
        assert_eq!(
            c.extend_natural(d, -Duration::minutes(1)),
            Err(CalendarError::NegativeDuration)
        );
        assert_eq!(
            c.extend(d, Duration::MAX),
            Err(CalendarError::ScanLimit(MAX_SCAN_DAYS))
        );
        assert_eq!(
            c.extend_natural(d, Duration::MAX),
            Err(CalendarError::OutOfRange)
        );
    }

    #[test]
    fn warning_thresholds_long_limit() {
        let c = cal();
        let started = t("2024-03-04T10:00:00+08:00");
        let deadline = c
            .deadline(started, Limit::new(10, Unit::WorkingDays))
            .unwrap()
            .at
            .to_utc();
        assert_eq!(deadline, t("2024-03-18T17:30:00+08:00"));
        // Total office time = 6 h on 03-04 + 70 h = 76 h; 20 % = 15 h 12 min (> 7 h).
        assert_eq!(
            c.office_time_between(started, deadline).unwrap().duration,
            hours(76)
        );
        let w = |now: &str| c.warning(t(now), started, deadline).unwrap();
        assert_eq!(w("2024-03-05T09:00:00+08:00"), Warning::None);
        assert_eq!(w("2024-03-14T09:00:00+08:00"), Warning::None); // 21 h left
        // 16:17 → 1 h 13 min today + 14 h = 15 h 13 min left; 16:18 → exactly 15 h 12 min.
        assert_eq!(w("2024-03-14T16:17:00+08:00"), Warning::None);
        assert_eq!(w("2024-03-14T16:18:00+08:00"), Warning::Yellow);
        assert_eq!(w("2024-03-15T17:30:00+08:00"), Warning::Yellow); // 7 h
        assert_eq!(w("2024-03-16T12:00:00+08:00"), Warning::Yellow); // weekend, 7 h
        assert_eq!(w("2024-03-18T17:30:00+08:00"), Warning::Yellow); // at the deadline
        assert_eq!(w("2024-03-18T17:30:01+08:00"), Warning::Red);
        assert_eq!(w("2024-05-01T00:00:00+08:00"), Warning::Red);
    }

    #[test]
    fn warning_thresholds_short_limit_uses_one_working_day() {
        let c = cal();
        let started = t("2024-03-04T10:00:00+08:00");
        let deadline = t("2024-03-06T17:30:00+08:00"); // 2 working days
        // Total 6 + 14 = 20 h; 20 % = 4 h < 7 h, so the threshold is one working day (7 h).
        let w = |now: &str| c.warning(t(now), started, deadline).unwrap();
        assert_eq!(w("2024-03-05T09:00:00+08:00"), Warning::None); // 14 h
        assert_eq!(w("2024-03-05T17:29:00+08:00"), Warning::None); // 7 h 1 min
        assert_eq!(w("2024-03-05T17:30:00+08:00"), Warning::Yellow); // 7 h
        assert_eq!(w("2024-03-06T17:30:00+08:00"), Warning::Yellow);
        assert_eq!(w("2024-03-06T17:31:00+08:00"), Warning::Red);
        assert!(Warning::None < Warning::Yellow && Warning::Yellow < Warning::Red);
        assert_eq!(Warning::Yellow.as_str(), "yellow");
    }

    #[test]
    fn csv_errors_name_the_line() {
        let err = |csv: &str| Calendar::from_csv(csv).unwrap_err();
        let e = err("date,kind,name\n2024-02-30,holiday,x\n");
        assert_eq!(
            e,
            CalendarError::InvalidEntry {
                at: Position::Line(2),
                problem: EntryProblem::BadDate("2024-02-30".into())
            }
        );
        assert!(e.to_string().starts_with("line 2: bad date"), "{e}");

        let e = err("date,kind,name\n2024-01-01,holiday,元旦\n2024-01-02,vacation,x\n");
        assert_eq!(
            e,
            CalendarError::InvalidEntry {
                at: Position::Line(3),
                problem: EntryProblem::UnknownKind("vacation".into())
            }
        );
        assert!(
            e.to_string().contains("line 3") && e.to_string().contains("vacation"),
            "{e}"
        );

        // 2024-02-10 is a Saturday, so the workday line itself would be valid.
        let e = err("date,kind,name\n2024-02-10,holiday,春节\n\n2024-02-10,workday,调休\n");
        assert_eq!(
            e,
            CalendarError::InvalidEntry {
                at: Position::Line(4),
                problem: EntryProblem::HolidayAndWorkday {
                    date: date("2024-02-10"),
                    first: Position::Line(2)
                }
            }
        );
        assert_eq!(
            e.to_string(),
            "line 4: 2024-02-10 is listed both as a holiday and as a workday (first at line 2)"
        );

        let e = err("date,kind,name\n2024-02-10,holiday,春节\n2024-02-10,holiday,春节\n");
        assert_eq!(
            e.to_string(),
            "line 3: 2024-02-10 is listed twice (first at line 2)"
        );

        let e = err("date,kind,name\n2024-01-01\n");
        assert_eq!(
            e,
            CalendarError::InvalidEntry {
                at: Position::Line(2),
                problem: EntryProblem::MissingField("kind")
            }
        );

        // A workday must be a weekend day: 2024-02-07 is a Wednesday.
        let e = err("2024-02-07,workday,x\n");
        assert_eq!(
            e,
            CalendarError::InvalidEntry {
                at: Position::Line(1),
                problem: EntryProblem::WorkdayNotOnWeekend {
                    date: date("2024-02-07"),
                    weekday: Weekday::Wed
                }
            }
        );
        // The header is only skipped as the first line.
        assert!(matches!(
            err("2024-01-01,holiday,x\ndate,kind,name\n"),
            CalendarError::InvalidEntry {
                at: Position::Line(2),
                ..
            }
        ));
    }

    #[test]
    fn csv_leniency() {
        // BOM, CRLF, no header, blank lines, spaces, commas in the name, missing name.
        let c = Calendar::from_csv(
            "\u{feff}2024-10-01 , holiday , 国庆节, golden week\r\n\r\n2024-10-12,workday\r\n",
        )
        .unwrap();
        let y = c.year(2024).unwrap();
        assert_eq!(y.len(), 2);
        assert_eq!(y[0].name, "国庆节, golden week");
        assert_eq!(
            y[1],
            DayEntry {
                date: date("2024-10-12"),
                kind: DayKind::Workday,
                name: String::new()
            }
        );
        assert!(Calendar::from_csv("").unwrap().loaded_years().is_empty());
        // Entries are sorted by date whatever the file order.
        let c = Calendar::from_csv("2024-05-02,holiday,b\n2024-05-01,holiday,a\n").unwrap();
        assert_eq!(c.year(2024).unwrap()[0].name, "a");
    }

    #[test]
    fn set_year_validation_and_replacement() {
        let mut c = cal();
        let entry = |d: &str, kind, name: &str| DayEntry {
            date: date(d),
            kind,
            name: name.into(),
        };

        // Wrong year.
        let e = c.set_year(
            2027,
            vec![
                entry("2027-01-01", DayKind::Holiday, "元旦"),
                entry("2026-12-31", DayKind::Holiday, "x"),
            ],
        );
        assert_eq!(
            e,
            Err(CalendarError::InvalidEntry {
                at: Position::Entry(1),
                problem: EntryProblem::WrongYear {
                    date: date("2026-12-31"),
                    year: 2027
                }
            })
        );
        // Workday on a weekday (Wed 2027-01-06).
        let e = c
            .set_year(2027, vec![entry("2027-01-06", DayKind::Workday, "x")])
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "entries[0]: workday 2027-01-06 is a Wed; a make-up working day must be a Saturday or Sunday"
        );
        // Duplicate and conflict.
        let e = c.set_year(
            2027,
            vec![
                entry("2027-01-02", DayKind::Holiday, "a"),
                entry("2027-01-02", DayKind::Workday, "b"),
            ],
        );
        assert!(matches!(
            e,
            Err(CalendarError::InvalidEntry {
                at: Position::Entry(1),
                problem: EntryProblem::HolidayAndWorkday {
                    first: Position::Entry(0),
                    ..
                }
            })
        ));
        // Failed calls changed nothing.
        assert!(!c.is_year_loaded(2027));

        // Load 2027 (a holiday may fall on a Saturday: 2027-01-02).
        c.set_year(
            2027,
            vec![
                entry("2027-01-02", DayKind::Holiday, "元旦"),
                entry("2027-01-01", DayKind::Holiday, "元旦"),
            ],
        )
        .unwrap();
        assert_eq!(c.loaded_years(), vec![2024, 2025, 2026, 2027]);
        assert_eq!(c.year(2027).unwrap()[0].date, date("2027-01-01"));
        // The 2026-12-30 example is now complete and skips New Year's Day: 12-31, 01-04, 01-05.
        let d = c
            .deadline(
                t("2026-12-30T10:00:00+08:00"),
                Limit::new(3, Unit::WorkingDays),
            )
            .unwrap();
        assert_eq!(d.at.to_rfc3339(), "2027-01-05T17:30:00+08:00");
        assert!(d.calendar_complete());

        // Replacing 2024 with an arrangement without the Spring Festival drops the old dates.
        c.set_year(2024, vec![entry("2024-01-01", DayKind::Holiday, "元旦")])
            .unwrap();
        assert!(c.is_working_day(date("2024-02-12")));
        assert!(!c.is_working_day(date("2024-02-18")));
        assert_eq!(
            due(&c, "2024-02-08T10:00:00+08:00", 5, Unit::WorkingDays),
            "2024-02-15T17:30:00+08:00"
        );
        // Other years are untouched.
        assert!(!c.is_working_day(date("2025-01-28")));

        // An empty list unloads the year.
        c.set_year(2027, vec![]).unwrap();
        assert!(c.year(2027).is_none());
        let d = c
            .deadline(
                t("2026-12-30T10:00:00+08:00"),
                Limit::new(3, Unit::WorkingDays),
            )
            .unwrap();
        assert_eq!(d.assumed_years, vec![2027]);
    }

    #[test]
    fn office_hours_config() {
        let c = cal();
        assert_eq!(c.office_hours().close(), hm(17, 30));
        assert_eq!(c.office_hours().daily(), hours(7));
        let custom =
            OfficeHours::new(vec![(hm(14, 0), hm(18, 0)), (hm(8, 30), hm(12, 0))]).unwrap();
        assert_eq!(custom.periods()[0].0, hm(8, 30));
        assert_eq!(custom.close(), hm(18, 0));
        assert_eq!(custom.daily(), Duration::minutes(450));
        let c = c.with_office_hours(custom);
        assert_eq!(
            due(&c, "2024-02-08T10:00:00+08:00", 5, Unit::WorkingDays),
            "2024-02-21T18:00:00+08:00"
        );
        // Fri 03-08 16:00 + 5 h: 2 h on Friday (to 18:00), then 3 h from Mon 08:30 → 11:30.
        assert_eq!(
            due(&c, "2024-03-08T16:00:00+08:00", 5, Unit::WorkingHours),
            "2024-03-11T11:30:00+08:00"
        );

        assert!(matches!(
            OfficeHours::new(vec![]),
            Err(CalendarError::InvalidOfficeHours(_))
        ));
        assert!(matches!(
            OfficeHours::new(vec![(hm(12, 0), hm(9, 0))]),
            Err(CalendarError::InvalidOfficeHours(_))
        ));
        assert!(matches!(
            OfficeHours::new(vec![(hm(9, 0), hm(9, 0))]),
            Err(CalendarError::InvalidOfficeHours(_))
        ));
        assert!(matches!(
            OfficeHours::new(vec![(hm(9, 0), hm(12, 0)), (hm(11, 0), hm(17, 0))]),
            Err(CalendarError::InvalidOfficeHours(_))
        ));
        // Touching periods are fine.
        assert!(OfficeHours::new(vec![(hm(9, 0), hm(12, 0)), (hm(12, 0), hm(17, 0))]).is_ok());
    }

    #[test]
    fn limits_are_bounded() {
        let c = cal();
        let from = t("2024-01-02T10:00:00+08:00");
        assert!(
            c.deadline(from, Limit::new(MAX_DAYS, Unit::WorkingDays))
                .is_ok()
        );
        assert!(
            c.deadline(from, Limit::new(MAX_DAYS, Unit::NaturalDays))
                .is_ok()
        );
        assert!(
            c.deadline(from, Limit::new(MAX_HOURS, Unit::WorkingHours))
                .is_ok()
        );
        assert_eq!(
            c.deadline(from, Limit::new(MAX_DAYS + 1, Unit::WorkingDays)),
            Err(CalendarError::LimitTooLarge {
                value: 3651,
                unit: Unit::WorkingDays,
                max: 3650
            })
        );
        assert!(matches!(
            c.deadline(from, Limit::new(MAX_DAYS + 1, Unit::NaturalDays)),
            Err(CalendarError::LimitTooLarge { .. })
        ));
        assert!(matches!(
            c.deadline(from, Limit::new(MAX_HOURS + 1, Unit::WorkingHours)),
            Err(CalendarError::LimitTooLarge { .. })
        ));
        // Almost no office time (one second a day): an error, not an endless loop.
        let tiny =
            OfficeHours::new(vec![(hm(9, 0), NaiveTime::from_hms_opt(9, 0, 1).unwrap())]).unwrap();
        let c2 = c.clone().with_office_hours(tiny);
        assert_eq!(
            c2.deadline(from, Limit::new(MAX_HOURS, Unit::WorkingHours)),
            Err(CalendarError::ScanLimit(MAX_SCAN_DAYS))
        );
        // A loaded year with no working day at all still terminates (the next year is assumed).
        let mut all_off = String::new();
        let mut d = date("2024-01-01");
        while d.year() == 2024 {
            all_off.push_str(&format!("{d},holiday,x\n"));
            d = d.succ_opt().unwrap();
        }
        let c3 = Calendar::from_csv(&all_off).unwrap();
        let r = c3.deadline(from, Limit::new(1, Unit::WorkingDays)).unwrap();
        assert_eq!(r.at.to_rfc3339(), "2025-01-01T17:30:00+08:00");
        assert_eq!(r.assumed_years, vec![2025]);
        // Spans longer than the scan bound are refused.
        assert_eq!(
            c.office_time_between(t("1900-01-01T00:00:00Z"), t("2100-01-01T00:00:00Z")),
            Err(CalendarError::ScanLimit(MAX_SCAN_DAYS))
        );
        // Instants whose Shanghai time is past chrono's maximum are out of range.
        assert_eq!(
            c.office_time_between(DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC),
            Err(CalendarError::OutOfRange)
        );
    }

    #[test]
    fn never_panics_near_chrono_limits() {
        let c = cal();
        let extremes = [
            DateTime::<Utc>::MAX_UTC,
            DateTime::<Utc>::MAX_UTC - Duration::hours(9),
            DateTime::<Utc>::MAX_UTC - Duration::days(3),
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MIN_UTC + Duration::days(1),
        ];
        let units = [
            Unit::WorkingDays,
            Unit::NaturalDays,
            Unit::WorkingHours,
            Unit::SameDay,
        ];
        for &x in &extremes {
            for unit in units {
                for value in [0, 1, 5, MAX_DAYS, MAX_HOURS, u32::MAX] {
                    let _ = c.deadline(x, Limit::new(value, unit));
                }
                let _ = c.resume(x, unit, x, x);
                let _ = c.resume(x, unit, DateTime::<Utc>::MIN_UTC, x);
            }
            let _ = c.extend(x, hours(100));
            let _ = c.extend_natural(x, hours(100));
            let _ = c.warning(x, x, x);
            let _ = c.warning(DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MIN_UTC, x);
            let _ = c.office_time_between(x, x);
        }
        assert_eq!(
            c.deadline(DateTime::<Utc>::MAX_UTC, Limit::new(1, Unit::WorkingDays)),
            Err(CalendarError::OutOfRange)
        );
        assert_eq!(
            c.deadline(
                DateTime::<Utc>::MAX_UTC - Duration::days(3),
                Limit::new(5, Unit::WorkingDays)
            ),
            Err(CalendarError::OutOfRange)
        );
        // Early dates work (Mon–Fri, flagged).
        let d = c
            .deadline(
                DateTime::<Utc>::MIN_UTC + Duration::days(1),
                Limit::new(1, Unit::WorkingDays),
            )
            .unwrap();
        assert!(!d.calendar_complete());
    }

    #[test]
    fn unit_and_kind_spellings() {
        for u in [
            Unit::WorkingDays,
            Unit::NaturalDays,
            Unit::WorkingHours,
            Unit::SameDay,
        ] {
            assert_eq!(Unit::parse(u.as_str()), Some(u));
            assert_eq!(u.to_string(), u.as_str());
        }
        assert_eq!(Unit::parse("working_days"), Some(Unit::WorkingDays));
        assert_eq!(Unit::parse("days"), None);
        assert_eq!(DayKind::parse("holiday"), Some(DayKind::Holiday));
        assert_eq!(DayKind::parse("Holiday"), None);
        assert_eq!(DayKind::Workday.to_string(), "workday");
    }
}
