//! Reading single fields: missing-value tokens, numbers (one scan splits a decimal into its
//! parts, then Clinger's fast path or the standard parser gives the value), booleans, and the
//! classification of every field into the per-column counts from which pass 1 decides types.

use crate::datetime::{self, FormatMask};

/// Missing-value tokens, compared after trimming surrounding spaces.
pub(crate) struct NaSet {
    tokens: Vec<Vec<u8>>,
    max_len: usize,
    /// Bytes a field can start with and still be a token: first bytes of the tokens, and
    /// whitespace (trimmed before comparing). Most numbers are ruled out by their first byte.
    starts: [bool; 256],
}

impl NaSet {
    pub(crate) fn new(tokens: &[String]) -> NaSet {
        let mut tokens: Vec<Vec<u8>> = tokens
            .iter()
            .map(|t| t.trim().as_bytes().to_vec())
            .collect();
        // An empty field is missing whatever else the user lists.
        if !tokens.iter().any(Vec::is_empty) {
            tokens.push(Vec::new());
        }
        let max_len = tokens.iter().map(Vec::len).max().unwrap_or(0);
        let mut starts = [false; 256];
        for t in &tokens {
            if let Some(&b) = t.first() {
                starts[usize::from(b)] = true;
            }
        }
        for b in 0..=255u8 {
            if b.is_ascii_whitespace() {
                starts[usize::from(b)] = true;
            }
        }
        NaSet {
            tokens,
            max_len,
            starts,
        }
    }

    #[inline]
    pub(crate) fn contains(&self, field: &[u8]) -> bool {
        if let Some(&b) = field.first()
            && !self.starts[usize::from(b)]
        {
            return false;
        }
        let f = trim_ascii(field);
        f.len() <= self.max_len && self.tokens.iter().any(|t| t.as_slice() == f)
    }
}

#[inline]
pub(super) fn trim_ascii(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum NumberKind {
    Int,
    Float,
}

/// A decimal number split into its parts by one scan: sign, up to 19 significant digits as an
/// integer, and a power of ten. Anything else (inf, nan, hex, stray characters) is not `Plain`.
#[derive(Debug, PartialEq)]
pub(super) struct Decimal {
    pub(super) negative: bool,
    pub(super) mantissa: u64,
    exponent: i32,
    /// More than 19 significant digits: the mantissa was truncated.
    truncated: bool,
    /// No dot and no exponent.
    pub(super) integer: bool,
    pub(super) int_digits: usize,
}

#[inline]
pub(super) fn scan_decimal(f: &[u8]) -> Option<Decimal> {
    // Most numeric fields are short plain decimals: every digit fits the mantissa, so one
    // tight loop without the long-number bookkeeping reads them.
    if f.len() <= 19
        && let Some(d) = scan_short_decimal(f)
    {
        return Some(d);
    }
    scan_long_decimal(f)
}

/// `[+-]digits[.digits]` of at most 19 bytes (so at most 19 digits, which fit a u64); None
/// for anything else, which the general scanner then reads.
#[inline]
fn scan_short_decimal(f: &[u8]) -> Option<Decimal> {
    let (negative, body) = match f.first() {
        Some(b'-') => (true, &f[1..]),
        Some(b'+') => (false, &f[1..]),
        _ => (false, f),
    };
    let mut mantissa = 0u64;
    let mut dot = None;
    for (i, &c) in body.iter().enumerate() {
        let d = c.wrapping_sub(b'0');
        if d < 10 {
            mantissa = mantissa * 10 + u64::from(d);
        } else if c == b'.' && dot.is_none() {
            dot = Some(i);
        } else {
            return None;
        }
    }
    let int_digits = dot.unwrap_or(body.len());
    let frac_digits = body.len() - int_digits - usize::from(dot.is_some());
    if int_digits + frac_digits == 0 {
        return None;
    }
    Some(Decimal {
        negative,
        mantissa,
        exponent: -(frac_digits as i32),
        truncated: false,
        integer: dot.is_none(),
        int_digits,
    })
}

fn scan_long_decimal(f: &[u8]) -> Option<Decimal> {
    let mut i = 0;
    let negative = match f.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let mut mantissa: u64 = 0;
    let mut significant = 0usize;
    let mut dropped_exp = 0i32;
    let mut truncated = false;
    let start = i;
    while i < f.len() && f[i].is_ascii_digit() {
        let d = u64::from(f[i] - b'0');
        if significant < 19 {
            if mantissa != 0 || d != 0 {
                significant += 1;
            }
            mantissa = mantissa * 10 + d;
        } else {
            dropped_exp += 1;
            truncated |= d != 0;
        }
        i += 1;
    }
    let int_digits = i - start;
    let mut frac_digits = 0usize;
    let mut exponent = dropped_exp;
    let mut integer = true;
    if i < f.len() && f[i] == b'.' {
        integer = false;
        i += 1;
        while i < f.len() && f[i].is_ascii_digit() {
            let d = u64::from(f[i] - b'0');
            if significant < 19 {
                if mantissa != 0 || d != 0 {
                    significant += 1;
                }
                mantissa = mantissa * 10 + d;
                exponent -= 1;
            } else {
                truncated |= d != 0;
            }
            frac_digits += 1;
            i += 1;
        }
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    if i < f.len() && (f[i] == b'e' || f[i] == b'E') {
        integer = false;
        i += 1;
        let exp_negative = match f.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let exp_start = i;
        let mut e: i32 = 0;
        while i < f.len() && f[i].is_ascii_digit() {
            e = e.saturating_mul(10).saturating_add(i32::from(f[i] - b'0'));
            i += 1;
        }
        if i == exp_start {
            return None;
        }
        exponent = exponent.saturating_add(if exp_negative { -e } else { e });
    }
    if i != f.len() {
        return None;
    }
    Some(Decimal {
        negative,
        mantissa,
        exponent,
        truncated,
        integer,
        int_digits,
    })
}

pub(super) fn is_special_float(f: &[u8]) -> bool {
    let body = match f.first() {
        Some(b'+' | b'-') => &f[1..],
        _ => f,
    };
    body.eq_ignore_ascii_case(b"inf")
        || body.eq_ignore_ascii_case(b"infinity")
        || body.eq_ignore_ascii_case(b"nan")
}

/// Integer when it fits i64 exactly, float for any other decimal number (or inf/nan).
#[inline]
pub(super) fn classify_number(field: &[u8]) -> Option<NumberKind> {
    let f = trim_ascii(field);
    if f.is_empty() {
        return None;
    }
    match scan_decimal(f) {
        Some(d) if d.integer && d.int_digits <= 18 => Some(NumberKind::Int),
        Some(_) => Some(NumberKind::Float),
        None if is_special_float(f) => Some(NumberKind::Float),
        None => None,
    }
}

const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Clinger's fast path: a mantissa below 2^53 and a power of ten up to 22 are both exact
/// doubles, so one multiplication or division rounds correctly. Everything else goes to
/// Rust's full parser.
#[inline]
pub(super) fn parse_f64(field: &[u8]) -> Option<f64> {
    let f = trim_ascii(field);
    match scan_decimal(f) {
        Some(d) => decimal_f64(&d, f),
        None => std::str::from_utf8(f).ok()?.parse::<f64>().ok(),
    }
}

/// The value of `f` (trimmed), already scanned into `d`.
#[inline]
pub(super) fn decimal_f64(d: &Decimal, f: &[u8]) -> Option<f64> {
    if !d.truncated && d.mantissa < (1 << 53) && (-22..=22).contains(&d.exponent) {
        let m = d.mantissa as f64;
        let v = if d.exponent >= 0 {
            m * POW10[d.exponent as usize]
        } else {
            m / POW10[(-d.exponent) as usize]
        };
        return Some(if d.negative { -v } else { v });
    }
    std::str::from_utf8(f).ok()?.parse::<f64>().ok()
}

#[inline]
pub(super) fn parse_i64(field: &[u8]) -> Option<i64> {
    let f = trim_ascii(field);
    let (neg, digits) = match f.first() {
        Some(b'-') => (true, &f[1..]),
        Some(b'+') => (false, &f[1..]),
        _ => (false, f),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(d - b'0');
    }
    Some(if neg { -v } else { v })
}

#[inline]
fn parse_bool(field: &[u8]) -> Option<bool> {
    let f = trim_ascii(field);
    if f.len() > 5 {
        return None;
    }
    if f.eq_ignore_ascii_case(b"true") {
        Some(true)
    } else if f.eq_ignore_ascii_case(b"false") {
        Some(false)
    } else {
        None
    }
}

/// Looser boolean reading for a column the user declared boolean.
pub(super) fn parse_bool_loose(field: &[u8]) -> Option<bool> {
    let f = trim_ascii(field);
    parse_bool(f).or_else(|| {
        let lower = f.to_ascii_lowercase();
        match lower.as_slice() {
            b"1" | b"yes" | b"y" | b"t" => Some(true),
            b"0" | b"no" | b"n" | b"f" => Some(false),
            _ => None,
        }
    })
}

/// What pass 1 learned about one column.
#[derive(Clone, Debug, Default)]
pub(super) struct ColumnStats {
    pub(super) missing: u64,
    pub(super) ints: u64,
    pub(super) floats: u64,
    pub(super) bools: u64,
    pub(super) dates: u64,
    others: u64,
    pub(super) date_mask: Option<FormatMask>,
    /// First value that is not a number, with its row (chunk-local until merged).
    pub(super) first_other: Option<(u64, String)>,
}

impl ColumnStats {
    #[inline]
    pub(super) fn observe(&mut self, field: &[u8], row: u64, na: &NaSet) {
        if na.contains(field) {
            self.missing += 1;
            return;
        }
        match classify_number(field) {
            Some(NumberKind::Int) => {
                self.ints += 1;
                return;
            }
            Some(NumberKind::Float) => {
                self.floats += 1;
                return;
            }
            None => {}
        }
        self.observe_other(field, row);
    }

    /// A value that is neither missing nor a number.
    #[inline]
    pub(super) fn observe_other(&mut self, field: &[u8], row: u64) {
        if parse_bool(field).is_some() {
            self.bools += 1;
        } else {
            let mask = datetime::detect(field);
            if mask.is_empty() {
                self.others += 1;
            } else {
                self.dates += 1;
                self.date_mask = Some(self.date_mask.map_or(mask, |m| m.and(mask)));
            }
        }
        if self.first_other.is_none() {
            self.first_other = Some((row, String::from_utf8_lossy(field).into_owned()));
        }
    }

    pub(super) fn merge(&mut self, other: &ColumnStats, row_offset: u64) {
        self.missing += other.missing;
        self.ints += other.ints;
        self.floats += other.floats;
        self.bools += other.bools;
        self.dates += other.dates;
        self.others += other.others;
        self.date_mask = match (self.date_mask, other.date_mask) {
            (Some(a), Some(b)) => Some(a.and(b)),
            (a, b) => a.or(b),
        };
        if self.first_other.is_none() {
            self.first_other = other
                .first_other
                .as_ref()
                .map(|(r, v)| (r + row_offset, v.clone()));
        }
    }

    pub(super) fn non_missing(&self) -> u64 {
        self.ints + self.floats + self.bools + self.dates + self.others
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_numbers() {
        assert_eq!(classify_number(b"12"), Some(NumberKind::Int));
        assert_eq!(classify_number(b" -7 "), Some(NumberKind::Int));
        assert_eq!(classify_number(b"1.5e3"), Some(NumberKind::Float));
        assert_eq!(classify_number(b".5"), Some(NumberKind::Float));
        assert_eq!(classify_number(b"abc"), None);
        assert_eq!(classify_number(b"2024-01-01"), None);
        assert_eq!(
            classify_number(b"1234567890123456789012"),
            Some(NumberKind::Float)
        );
    }

    #[test]
    fn parses_numbers_exactly() {
        assert_eq!(parse_f64(b"0.1"), Some(0.1));
        assert_eq!(parse_f64(b"-42"), Some(-42.0));
        assert_eq!(parse_i64(b"-9000000000"), Some(-9_000_000_000));
        assert_eq!(parse_i64(b"1.0"), None);
    }

    #[test]
    fn short_decimal_scan_agrees_with_the_general_one() {
        let mut rng = crate::rng::Rng::new(11);
        let alphabet = b"0123456789000.-+e ";
        for _ in 0..200_000 {
            let len = rng.below(20) as usize;
            let f: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
                .collect();
            if let Some(short) = scan_short_decimal(&f) {
                assert_eq!(
                    Some(short),
                    scan_long_decimal(&f),
                    "{:?}",
                    String::from_utf8_lossy(&f)
                );
            }
        }
        for f in [
            "0.379076",
            "-1.49977",
            "+7",
            "12.",
            ".5",
            "1234567890123456789",
        ] {
            assert!(scan_short_decimal(f.as_bytes()).is_some(), "{f}");
            assert_eq!(
                scan_decimal(f.as_bytes()),
                scan_long_decimal(f.as_bytes()),
                "{f}"
            );
        }
        for f in ["", ".", "-", "1e5", "1.2.3", "1 ", "--1"] {
            assert!(scan_short_decimal(f.as_bytes()).is_none(), "{f}");
        }
    }

    #[test]
    fn fast_float_parsing_agrees_with_std_bit_for_bit() {
        let mut rng = crate::rng::Rng::new(3);
        let mut cases: Vec<String> = [
            "0",
            "-0",
            "0.0",
            "-0.0",
            "1",
            "+1",
            "007",
            "1.",
            ".5",
            "-.5",
            "1e5",
            "1E-5",
            "2.5e+3",
            "123456789012345678",
            "1234567890123456789012",
            "0.000000000000000000000123",
            "9007199254740993",
            "1e22",
            "1e23",
            "4.35e-310",
            "1.7976931348623157e308",
            "inf",
            "-Infinity",
            "NaN",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for _ in 0..20_000 {
            let v = (rng.next_f64() - 0.5) * 10f64.powi(rng.below(40) as i32 - 20);
            let digits = rng.below(18) as usize;
            cases.push(format!("{v:.digits$}"));
            cases.push(format!("{v:e}"));
            cases.push(format!("{v}"));
        }
        for c in cases {
            let ours = parse_f64(c.as_bytes());
            let std = c.parse::<f64>().ok();
            match (ours, std) {
                (Some(a), Some(b)) => assert!(
                    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                    "{c}: {a} vs {b}"
                ),
                (a, b) => assert_eq!(a.is_some(), b.is_some(), "{c}"),
            }
            let kind = classify_number(c.as_bytes());
            assert_eq!(kind.is_some(), std.is_some(), "{c}");
        }
        for not_numbers in [
            "", "-", ".", "e5", "1e", "1.2.3", "12a", "0x10", "1,000", "--1",
        ] {
            assert_eq!(
                classify_number(not_numbers.as_bytes()),
                None,
                "{not_numbers}"
            );
        }
    }
}
