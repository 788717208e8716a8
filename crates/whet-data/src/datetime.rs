//! Datetime recognition and parsing for CSV columns.
//!
//! The CSV reader calls [`detect`] on every field of every candidate column, so this module works
//! on raw bytes, never allocates, and rejects most non-dates after a length check and a look at
//! one or two bytes. Recognition and parsing share one scanner so that `parse(s, f)` succeeds
//! exactly when `detect(s)` contains `f`; a column whose masks AND to a non-empty set can
//! therefore always be parsed with the chosen format.

use serde::{Deserialize, Serialize};

/// Bit set of formats a value is consistent with. A column is a datetime column when the AND of
/// all its non-missing values' masks is non-zero; the lowest set bit of that AND is the format used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FormatMask(pub u32);

impl FormatMask {
    pub const NONE: FormatMask = FormatMask(0);
    pub const ALL: FormatMask = FormatMask((1 << DateFormat::ALL.len()) - 1);

    #[inline]
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    #[inline]
    pub fn and(self, o: Self) -> Self {
        FormatMask(self.0 & o.0)
    }

    #[inline]
    pub fn contains(self, f: DateFormat) -> bool {
        self.0 & f.bit() != 0
    }

    /// The preferred format: variants are ordered so that the more specific format (date-only
    /// before date+time, month-first before day-first) has the lower bit.
    #[inline]
    pub fn first(self) -> Option<DateFormat> {
        let bits = self.0 & Self::ALL.0;
        if bits == 0 {
            return None;
        }
        DateFormat::ALL.get(bits.trailing_zeros() as usize).copied()
    }
}

/// A recognised datetime layout. The declaration order is the bit order of [`FormatMask`], and so
/// the priority when several formats fit a whole column. Formats with a time part also accept
/// values without one (taken as midnight), so columns that mix the two still resolve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DateFormat {
    /// `YYYY-MM-DD`
    IsoDate,
    /// `YYYY-MM-DD HH:MM[:SS[.f]]`, no offset.
    IsoDateTime,
    /// `YYYY-MM-DDTHH:MM[:SS[.f]]`, no offset.
    IsoDateTimeT,
    /// Any ISO form: space or `T`, optional fraction, optional `Z` / `±HH[:MM]` / `±HHMM`.
    Iso8601,
    /// `YYYY/MM/DD`
    YmdSlash,
    /// `YYYY/MM/DD HH:MM[:SS]`
    YmdSlashTime,
    /// `MM/DD/YYYY`
    Mdy,
    /// `DD/MM/YYYY`
    Dmy,
    /// `MM/DD/YYYY HH:MM[:SS]`
    MdyTime,
    /// `DD/MM/YYYY HH:MM[:SS]`
    DmyTime,
    /// `DD.MM.YYYY`
    DmyDot,
    /// `DD.MM.YYYY HH:MM[:SS]`
    DmyDotTime,
}

impl DateFormat {
    /// All formats in bit order.
    pub const ALL: [DateFormat; 12] = [
        DateFormat::IsoDate,
        DateFormat::IsoDateTime,
        DateFormat::IsoDateTimeT,
        DateFormat::Iso8601,
        DateFormat::YmdSlash,
        DateFormat::YmdSlashTime,
        DateFormat::Mdy,
        DateFormat::Dmy,
        DateFormat::MdyTime,
        DateFormat::DmyTime,
        DateFormat::DmyDot,
        DateFormat::DmyDotTime,
    ];

    #[inline]
    pub fn bit(self) -> u32 {
        1 << (self as u32)
    }

    #[inline]
    pub fn mask(self) -> FormatMask {
        FormatMask(self.bit())
    }

    /// strftime-like pattern, for display only.
    pub fn name(&self) -> &'static str {
        match self {
            DateFormat::IsoDate => "%Y-%m-%d",
            DateFormat::IsoDateTime => "%Y-%m-%d %H:%M:%S",
            DateFormat::IsoDateTimeT => "%Y-%m-%dT%H:%M:%S",
            DateFormat::Iso8601 => "%Y-%m-%dT%H:%M:%S%.f%:z",
            DateFormat::YmdSlash => "%Y/%m/%d",
            DateFormat::YmdSlashTime => "%Y/%m/%d %H:%M:%S",
            DateFormat::Mdy => "%m/%d/%Y",
            DateFormat::Dmy => "%d/%m/%Y",
            DateFormat::MdyTime => "%m/%d/%Y %H:%M:%S",
            DateFormat::DmyTime => "%d/%m/%Y %H:%M:%S",
            DateFormat::DmyDot => "%d.%m.%Y",
            DateFormat::DmyDotTime => "%d.%m.%Y %H:%M:%S",
        }
    }

    /// Whether values of this format can carry a time of day (useful to decide whether hour /
    /// minute features are worth extracting).
    pub fn has_time(&self) -> bool {
        !matches!(
            self,
            DateFormat::IsoDate
                | DateFormat::YmdSlash
                | DateFormat::Mdy
                | DateFormat::Dmy
                | DateFormat::DmyDot
        )
    }

    /// Day-first formats store the day in the first field of the scan.
    #[inline]
    fn day_first(self) -> bool {
        matches!(
            self,
            DateFormat::Dmy | DateFormat::DmyTime | DateFormat::DmyDot | DateFormat::DmyDotTime
        )
    }
}

const MS_PER_DAY: i64 = 86_400_000;

/// Shortest accepted value is `1/1/2020`; longest is
/// `2024-03-01T13:45:30.123456789+02:00`. Checking this first rejects most numbers and words.
const MIN_LEN: usize = 8;
const MAX_LEN: usize = 35;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// `YYYY-MM-DD...`: `a` = month, `b` = day.
    Iso,
    /// `YYYY/MM/DD...`: `a` = month, `b` = day.
    YmdSlash,
    /// `A/B/YYYY...`: month/day order unknown until validated.
    Slash,
    /// `DD.MM.YYYY...`: `a` = day, `b` = month.
    Dot,
}

/// Result of the syntactic scan. Field ranges of the time part are already checked; the date
/// part is validated per interpretation in [`mask_of`].
struct Scan {
    layout: Layout,
    year: i32,
    a: u32,
    b: u32,
    has_time: bool,
    t_sep: bool,
    hour: u32,
    minute: u32,
    second: u32,
    milli: u32,
    has_offset: bool,
    offset_min: i32,
}

#[inline]
fn digit(b: u8) -> Option<u32> {
    let v = b.wrapping_sub(b'0');
    if v < 10 { Some(v as u32) } else { None }
}

#[inline]
fn digit_at(s: &[u8], i: usize) -> Option<u32> {
    digit(*s.get(i)?)
}

#[inline]
fn two_at(s: &[u8], i: usize) -> Option<u32> {
    Some(digit_at(s, i)? * 10 + digit_at(s, i + 1)?)
}

/// One or two digits starting at `*i`; advances `*i`.
#[inline]
fn one_or_two(s: &[u8], i: &mut usize) -> Option<u32> {
    let mut v = digit_at(s, *i)?;
    *i += 1;
    if let Some(x) = digit_at(s, *i) {
        v = v * 10 + x;
        *i += 1;
    }
    Some(v)
}

#[inline]
fn four_at(s: &[u8], i: usize) -> Option<u32> {
    Some(two_at(s, i)? * 100 + two_at(s, i + 2)?)
}

#[inline]
fn trim(s: &[u8]) -> &[u8] {
    let mut start = 0;
    let mut end = s.len();
    while start < end && s[start].is_ascii_whitespace() {
        start += 1;
    }
    while end > start && s[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    &s[start..end]
}

#[inline]
fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

#[inline]
fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

#[inline]
fn valid_ymd(y: i32, m: u32, d: u32) -> bool {
    (1000..=9999).contains(&y) && (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m)
}

fn scan(s: &[u8]) -> Option<Scan> {
    let s = trim(s);
    let n = s.len();
    if !(MIN_LEN..=MAX_LEN).contains(&n) || !s[0].is_ascii_digit() {
        return None;
    }
    let mut sc = Scan {
        layout: Layout::Iso,
        year: 0,
        a: 0,
        b: 0,
        has_time: false,
        t_sep: false,
        hour: 0,
        minute: 0,
        second: 0,
        milli: 0,
        has_offset: false,
        offset_min: 0,
    };
    let i;
    // `4/13/2020` also has a separator at index 4, so the year-first layouts need four digits
    // in front of it.
    let year_first = match s[4] {
        b'-' | b'/' => four_at(s, 0),
        _ => None,
    };
    match (s[4], year_first) {
        (b'-', Some(year)) => {
            // ISO is strict about widths: loose widths here would accept things like "1-2-3"
            // style identifiers and are not ISO anyway.
            sc.year = year as i32;
            sc.a = two_at(s, 5)?;
            if s.get(7) != Some(&b'-') {
                return None;
            }
            sc.b = two_at(s, 8)?;
            i = 10;
        }
        (b'/', Some(year)) => {
            sc.layout = Layout::YmdSlash;
            sc.year = year as i32;
            let mut j = 5;
            sc.a = one_or_two(s, &mut j)?;
            if s.get(j) != Some(&b'/') {
                return None;
            }
            j += 1;
            sc.b = one_or_two(s, &mut j)?;
            i = j;
        }
        _ => {
            let mut j = 0;
            sc.a = one_or_two(s, &mut j)?;
            let sep = *s.get(j)?;
            sc.layout = match sep {
                b'/' => Layout::Slash,
                b'.' => Layout::Dot,
                _ => return None,
            };
            j += 1;
            sc.b = one_or_two(s, &mut j)?;
            if s.get(j) != Some(&sep) {
                return None;
            }
            sc.year = four_at(s, j + 1)? as i32;
            i = j + 5;
        }
    }
    scan_time(s, i, &mut sc)?;
    Some(sc)
}

/// Parses the optional time part starting at `i` through to the end of `s`.
fn scan_time(s: &[u8], mut i: usize, sc: &mut Scan) -> Option<()> {
    let n = s.len();
    if i == n {
        return Some(());
    }
    let iso = sc.layout == Layout::Iso;
    match s[i] {
        b' ' => {}
        b'T' | b't' if iso => sc.t_sep = true,
        _ => return None,
    }
    sc.has_time = true;
    i += 1;
    // Spreadsheet exports of non-ISO dates commonly write "3/4/2020 9:05", so the hour may be a
    // single digit there; ISO requires two.
    sc.hour = if iso {
        let h = two_at(s, i)?;
        i += 2;
        h
    } else {
        one_or_two(s, &mut i)?
    };
    // Hour 24 ("24:00:00" as end of day) is rejected rather than rolled over: it is rare in data
    // and more often signals a malformed value.
    if sc.hour > 23 || s.get(i) != Some(&b':') {
        return None;
    }
    sc.minute = two_at(s, i + 1)?;
    i += 3;
    if sc.minute > 59 {
        return None;
    }
    if s.get(i) == Some(&b':') {
        sc.second = two_at(s, i + 1)?;
        i += 3;
        // Leap seconds are rejected: epoch ms cannot represent them.
        if sc.second > 59 {
            return None;
        }
        if matches!(s.get(i), Some(b'.') | Some(b',')) {
            i += 1;
            let start = i;
            let mut milli = 0;
            while let Some(d) = digit_at(s, i) {
                // Sub-millisecond digits are truncated, matching how timestamps are usually
                // narrowed to ms.
                if i - start < 3 {
                    milli = milli * 10 + d;
                }
                i += 1;
            }
            let len = i - start;
            if !(1..=9).contains(&len) {
                return None;
            }
            for _ in len..3 {
                milli *= 10;
            }
            sc.milli = milli;
        }
    }
    if iso && i < n {
        match s[i] {
            b'Z' | b'z' => {
                i += 1;
            }
            sign @ (b'+' | b'-') => {
                let oh = two_at(s, i + 1)?;
                i += 3;
                let mut om = 0;
                if s.get(i) == Some(&b':') {
                    om = two_at(s, i + 1)?;
                    i += 3;
                } else if i < n {
                    om = two_at(s, i)?;
                    i += 2;
                }
                if oh > 23 || om > 59 {
                    return None;
                }
                let off = (oh * 60 + om) as i32;
                sc.offset_min = if sign == b'-' { -off } else { off };
            }
            _ => return None,
        }
        sc.has_offset = true;
    }
    if i == n { Some(()) } else { None }
}

fn mask_of(sc: &Scan) -> u32 {
    use DateFormat as F;
    let (y, a, b) = (sc.year, sc.a, sc.b);
    match sc.layout {
        Layout::Iso => {
            if !valid_ymd(y, a, b) {
                0
            } else if !sc.has_time {
                F::IsoDate.bit() | F::IsoDateTime.bit() | F::IsoDateTimeT.bit() | F::Iso8601.bit()
            } else if sc.has_offset {
                F::Iso8601.bit()
            } else if sc.t_sep {
                F::IsoDateTimeT.bit() | F::Iso8601.bit()
            } else {
                F::IsoDateTime.bit() | F::Iso8601.bit()
            }
        }
        Layout::YmdSlash => {
            if !valid_ymd(y, a, b) {
                0
            } else if sc.has_time {
                F::YmdSlashTime.bit()
            } else {
                F::YmdSlash.bit() | F::YmdSlashTime.bit()
            }
        }
        Layout::Slash => {
            let mut m = 0;
            if valid_ymd(y, a, b) {
                m |= F::MdyTime.bit();
                if !sc.has_time {
                    m |= F::Mdy.bit();
                }
            }
            if valid_ymd(y, b, a) {
                m |= F::DmyTime.bit();
                if !sc.has_time {
                    m |= F::Dmy.bit();
                }
            }
            m
        }
        Layout::Dot => {
            if !valid_ymd(y, b, a) {
                0
            } else if sc.has_time {
                F::DmyDotTime.bit()
            } else {
                F::DmyDot.bit() | F::DmyDotTime.bit()
            }
        }
    }
}

/// Which formats `s` matches (after trimming ASCII whitespace); [`FormatMask::NONE`] if none.
#[inline]
pub fn detect(s: &[u8]) -> FormatMask {
    match scan(s) {
        Some(sc) => FormatMask(mask_of(&sc)),
        None => FormatMask::NONE,
    }
}

/// Parses `s` with a known format into milliseconds since 1970-01-01T00:00:00Z. Naive times are
/// taken as UTC; an explicit offset is applied. `None` if `s` doesn't match `fmt` or the date or
/// time is out of range.
pub fn parse(s: &[u8], fmt: DateFormat) -> Option<i64> {
    let sc = scan(s)?;
    if mask_of(&sc) & fmt.bit() == 0 {
        return None;
    }
    let (m, d) = if fmt.day_first() {
        (sc.b, sc.a)
    } else {
        (sc.a, sc.b)
    };
    let days = days_from_civil(sc.year, m, d);
    let secs = i64::from(sc.hour) * 3600 + i64::from(sc.minute) * 60 + i64::from(sc.second)
        - i64::from(sc.offset_min) * 60;
    Some(days * MS_PER_DAY + secs * 1000 + i64::from(sc.milli))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`] (Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Civil calendar parts from epoch ms, for feature extraction:
/// `(year, month 1-12, day 1-31, weekday 0=Monday..6=Sunday, hour 0-23, minute, second)`.
pub fn civil_parts(ms: i64) -> (i32, u32, u32, u32, u32, u32, u32) {
    let days = ms.div_euclid(MS_PER_DAY);
    let secs = (ms.rem_euclid(MS_PER_DAY) / 1000) as u32;
    let (y, m, d) = civil_from_days(days);
    // 1970-01-01 was a Thursday (3 with Monday = 0).
    let wd = (days + 3).rem_euclid(7) as u32;
    (y as i32, m, d, wd, secs / 3600, secs / 60 % 60, secs % 60)
}

/// Formats epoch ms as ISO 8601 for display: `2024-03-01` at midnight, else
/// `2024-03-01T13:45:00`, with `.123` appended when there are milliseconds.
pub fn format_iso(ms: i64) -> String {
    let (y, mo, d, _, h, mi, s) = civil_parts(ms);
    let frac = ms.rem_euclid(1000);
    if ms.rem_euclid(MS_PER_DAY) == 0 {
        format!("{y:04}-{mo:02}-{d:02}")
    } else if frac == 0 {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}")
    } else {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{frac:03}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DateFormat as F;

    fn p(s: &str) -> Option<i64> {
        let f = detect(s.as_bytes()).first()?;
        parse(s.as_bytes(), f)
    }

    fn column(vals: &[&str]) -> FormatMask {
        vals.iter()
            .fold(FormatMask::ALL, |m, v| m.and(detect(v.as_bytes())))
    }

    #[test]
    fn known_values() {
        assert_eq!(p("1970-01-01"), Some(0));
        assert_eq!(p("2000-02-29"), Some(951_782_400_000));
        assert_eq!(p("2024-03-01T13:45:30.5Z"), Some(1_709_300_730_500));
        assert_eq!(p("2024-03-01T13:45:30.500999999Z"), Some(1_709_300_730_500));
        assert_eq!(p("2024-03-01T13:45:30+02:00"), Some(1_709_293_530_000));
        assert_eq!(p("2024-03-01T13:45:30+0200"), Some(1_709_293_530_000));
        assert_eq!(p("2024-03-01T13:45:30+02"), Some(1_709_293_530_000));
        assert_eq!(p("2024-03-01T13:45:30-05:30"), Some(1_709_320_530_000));
        assert_eq!(p("1969-12-31 23:59:59"), Some(-1000));
        assert_eq!(p("1969-07-20 20:17:40"), Some(-14_182_940_000));
        assert_eq!(p("1900-01-01"), Some(-2_208_988_800_000));
        assert_eq!(p("1000-01-01"), Some(-30_610_224_000_000));
        assert_eq!(p("9999-12-31T23:59:59.999"), Some(253_402_300_799_999));
        assert_eq!(p("  2000-02-29 \r"), Some(951_782_400_000));
        assert_eq!(p("2024-03-01 13:45"), Some(1_709_300_700_000));
    }

    #[test]
    fn formats_and_masks() {
        assert_eq!(detect(b"2024-03-01").first(), Some(F::IsoDate));
        assert_eq!(detect(b"2024-03-01 13:45:30").first(), Some(F::IsoDateTime));
        assert_eq!(detect(b"2024-03-01T13:45").first(), Some(F::IsoDateTimeT));
        assert_eq!(detect(b"2024-03-01T13:45:30Z").first(), Some(F::Iso8601));
        assert_eq!(detect(b"2024/03/01").first(), Some(F::YmdSlash));
        assert_eq!(detect(b"2024/3/1 13:45").first(), Some(F::YmdSlashTime));
        assert_eq!(detect(b"13/04/2020").first(), Some(F::Dmy));
        assert_eq!(detect(b"04/13/2020").first(), Some(F::Mdy));
        assert_eq!(detect(b"4/13/2020 9:05").first(), Some(F::MdyTime));
        assert_eq!(detect(b"4/13/2020").first(), Some(F::Mdy));
        assert_eq!(detect(b"13/4/2020").first(), Some(F::Dmy));
        assert_eq!(detect(b"1/1/2020").first(), Some(F::Mdy));
        assert_eq!(detect(b"1.3.2024").first(), Some(F::DmyDot));
        assert_eq!(detect(b"01.03.2024").first(), Some(F::DmyDot));
        assert_eq!(detect(b"01.03.2024 13:45:30").first(), Some(F::DmyDotTime));

        let amb = detect(b"03/04/2020");
        assert!(amb.contains(F::Mdy) && amb.contains(F::Dmy));
        assert_eq!(parse(b"03/04/2020", F::Mdy), p("2020-03-04"));
        assert_eq!(parse(b"03/04/2020", F::Dmy), p("2020-04-03"));
        assert_eq!(parse(b"13/04/2020", F::Mdy), None);
        assert_eq!(parse(b"2024-03-01T13:45:30Z", F::IsoDateTime), None);
        assert_eq!(parse(b"3/4/2020 9:05", F::MdyTime), Some(1_583_312_700_000));

        // A value only one reading accepts decides the whole column.
        assert_eq!(column(&["03/04/2020", "13/04/2020"]).first(), Some(F::Dmy));
        assert_eq!(column(&["03/04/2020", "04/13/2020"]).first(), Some(F::Mdy));
        assert_eq!(column(&["03/04/2020", "01/02/2020"]).first(), Some(F::Mdy));
        assert!(column(&["13/04/2020", "04/13/2020"]).is_empty());
        assert_eq!(
            column(&["03/04/2020", "13/04/2020 10:00"]).first(),
            Some(F::DmyTime)
        );
        // Mixed date-only and datetime values, and mixed separators / offsets.
        assert_eq!(
            column(&["2024-03-01", "2024-03-02 10:00"]).first(),
            Some(F::IsoDateTime)
        );
        assert_eq!(
            column(&["2024-03-01 10:00", "2024-03-02T10:00"]).first(),
            Some(F::Iso8601)
        );
        assert_eq!(
            column(&["2024-03-01", "2024-03-02T10:00Z"]).first(),
            Some(F::Iso8601)
        );
        assert!(column(&["2024-03-01", "03/04/2020"]).is_empty());

        // parse succeeds exactly for the formats detect reports.
        for v in [
            "2024-03-01",
            "2024-03-01 13:45:30.25",
            "2024-03-01t13:45z",
            "2024/03/01",
            "03/04/2020",
            "13/04/2020 23:59:59",
            "1.2.2020",
            "2024-02-30",
        ] {
            let m = detect(v.as_bytes());
            for f in DateFormat::ALL {
                assert_eq!(parse(v.as_bytes(), f).is_some(), m.contains(f), "{v} {f:?}");
            }
        }
    }

    #[test]
    fn rejects_invalid_and_non_dates() {
        for v in [
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-01-00",
            "2024-04-31",
            "2024-01-01 25:00",
            "2024-01-01 24:00:00",
            "2024-01-01 12:60",
            "2024-01-01 12:00:60",
            "2024-01-01 12:00:00.",
            "2024-01-01 12:00:00.1234567890",
            "2024-01-01 12:00:00+25:00",
            "2024-01-01Z",
            "2024-01-01 12:00Zx",
            "2024-01-01  12:00",
            "2024-1-01",
            "0999-01-01",
            "31/31/2020",
            "12",
            "3.14",
            "abc",
            "2024",
            "20240101",
            "1-2-3",
            "2024-03",
            "",
            "   ",
            "-2024-01-01",
            "12345678.5",
            "1.2345678",
            "1e10",
            "NaN",
            "2024-01-01 extra",
        ] {
            assert!(detect(v.as_bytes()).is_empty(), "{v:?}");
        }
        assert_eq!(FormatMask::NONE.first(), None);
        assert_eq!(FormatMask::ALL.first(), Some(F::IsoDate));
    }

    #[test]
    fn civil_round_trip_1900_to_2100() {
        let mut expected_ms = p("1900-01-01").unwrap_or(i64::MIN);
        let mut wd = civil_parts(expected_ms).3;
        for y in 1900..=2100 {
            for m in 1..=12 {
                for d in 1..=days_in_month(y, m) {
                    let s = format!("{y:04}-{m:02}-{d:02}");
                    let ms = parse(s.as_bytes(), F::IsoDate);
                    assert_eq!(ms, Some(expected_ms), "{s}");
                    assert_eq!(civil_parts(expected_ms), (y, m, d, wd, 0, 0, 0));
                    assert_eq!(format_iso(expected_ms), s);
                    expected_ms += MS_PER_DAY;
                    wd = (wd + 1) % 7;
                }
            }
        }
    }

    #[test]
    fn weekdays_and_times() {
        let ms = p("2024-01-01").unwrap_or_default();
        assert_eq!(civil_parts(ms).3, 0); // Monday
        assert_eq!(civil_parts(0).3, 3); // Thursday
        assert_eq!(civil_parts(-1000), (1969, 12, 31, 2, 23, 59, 59));
        let ms = p("2024-03-01T13:45:30.5Z").unwrap_or_default();
        assert_eq!(civil_parts(ms), (2024, 3, 1, 4, 13, 45, 30));
    }

    #[test]
    fn format_iso_round_trip() {
        for v in [
            "2024-03-01",
            "2024-03-01T13:45:00",
            "2024-03-01T00:00:01",
            "1969-12-31T23:59:59.999",
            "1066-10-14T09:00:00.120",
            "9999-12-31T23:59:59.999",
        ] {
            let ms = p(v);
            assert!(ms.is_some(), "{v}");
            let ms = ms.unwrap_or_default();
            assert_eq!(format_iso(ms), v);
            assert_eq!(p(&format_iso(ms)), Some(ms));
        }
    }

    #[test]
    fn serde_round_trip() {
        let f = F::DmyTime;
        let j = serde_json::to_string(&f).unwrap_or_default();
        assert_eq!(serde_json::from_str::<DateFormat>(&j).ok(), Some(f));
        let m = detect(b"03/04/2020");
        let j = serde_json::to_string(&m).unwrap_or_default();
        assert_eq!(serde_json::from_str::<FormatMask>(&j).ok(), Some(m));
    }
}
