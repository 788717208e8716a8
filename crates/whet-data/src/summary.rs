//! One pass of statistics per column, shared by role inference, profiling and Prep fitting.
//!
//! Numeric columns are summarised from a radix-sorted copy of their values: distinct count,
//! exact quantiles and the most frequent values all fall out of one sorted array.

use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, ArrayRef};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::table::{Table, ValueType};

pub const TOP_VALUES: usize = 10;
pub const HISTOGRAM_BINS: usize = 20;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NumericStats {
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub std: f64,
    pub p25: f64,
    pub median: f64,
    pub p75: f64,
    /// Every value is a whole number.
    pub integral: bool,
    pub zeros: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextStats {
    pub mean_length: f64,
    pub max_length: u64,
    /// Mean count of whitespace-separated tokens: separates free text from labels.
    pub mean_tokens: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValueCount {
    pub value: String,
    pub count: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// `bins + 1` edges; counts[i] holds values in [edges[i], edges[i+1]) (last bin closed).
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnSummary {
    pub name: String,
    pub value_type: ValueType,
    pub count: u64,
    pub missing: u64,
    pub distinct: u64,
    /// Most frequent values, most frequent first (ties by value).
    pub top_values: Vec<ValueCount>,
    pub numeric: Option<NumericStats>,
    pub text: Option<TextStats>,
    pub histogram: Option<Histogram>,
}

impl ColumnSummary {
    pub fn non_missing(&self) -> u64 {
        self.count - self.missing
    }

    pub fn missing_fraction(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.missing as f64 / self.count as f64
        }
    }

    /// Share of non-missing rows taken by the most frequent value.
    pub fn top_share(&self) -> f64 {
        let n = self.non_missing();
        match self.top_values.first() {
            Some(v) if n > 0 => v.count as f64 / n as f64,
            _ => 0.0,
        }
    }
}

pub fn summarize_table(table: &Table) -> Vec<ColumnSummary> {
    summarize_table_until(table, || false).unwrap_or_default()
}

/// [`summarize_table`], asking `stop` before each column: `None` once it said stop (the
/// columns already running finish; no new one starts).
pub fn summarize_table_until(table: &Table, stop: fn() -> bool) -> Option<Vec<ColumnSummary>> {
    // Key and scratch buffers are reused across the columns one worker summarises: fresh
    // column-sized buffers each time cost page faults (kernel time) for every column.
    (0..table.n_cols())
        .into_par_iter()
        .map_init(Buffers::default, |bufs, i| {
            if stop() {
                return None;
            }
            Some(summarize_with(
                &table.columns[i].name,
                table.columns[i].value_type,
                table.array(i),
                bufs,
            ))
        })
        .collect()
}

/// Reusable sort buffers.
#[derive(Default)]
struct Buffers {
    keys: Vec<u64>,
    scratch: Vec<u64>,
}

pub fn summarize(name: &str, value_type: ValueType, array: &ArrayRef) -> ColumnSummary {
    summarize_with(name, value_type, array, &mut Buffers::default())
}

fn summarize_with(
    name: &str,
    value_type: ValueType,
    array: &ArrayRef,
    bufs: &mut Buffers,
) -> ColumnSummary {
    let mut s = ColumnSummary {
        name: name.to_string(),
        value_type,
        count: array.len() as u64,
        missing: array.null_count() as u64,
        distinct: 0,
        top_values: Vec::new(),
        numeric: None,
        text: None,
        histogram: None,
    };
    match value_type {
        ValueType::Integer => {
            let keys = &mut bufs.keys;
            keys.clear();
            let a = array.as_primitive::<Int64Type>();
            // Without nulls the values map one to one: an exact-size loop the compiler
            // vectorizes, instead of a filtered push per value.
            if a.null_count() == 0 {
                keys.extend(a.values().iter().map(|&v| f64_key(v as f64)));
            } else {
                keys.extend(a.iter().flatten().map(|v| f64_key(v as f64)));
            }
            summarize_numbers(&mut s, bufs, |v| format!("{}", v as i64));
        }
        ValueType::Float => {
            let a = array.as_primitive::<Float64Type>();
            // NaN read from a file ("nan" when not a missing token) counts as missing too.
            let keys = &mut bufs.keys;
            keys.clear();
            if a.null_count() == 0 && !a.values().iter().any(|v| v.is_nan()) {
                keys.extend(a.values().iter().map(|&v| f64_key(v)));
            } else {
                keys.extend(a.iter().flatten().filter(|v| !v.is_nan()).map(f64_key));
            }
            s.missing = s.count - keys.len() as u64;
            summarize_numbers(&mut s, bufs, format_float);
        }
        ValueType::Datetime => {
            let keys = &mut bufs.keys;
            keys.clear();
            keys.extend(
                array
                    .as_primitive::<TimestampMillisecondType>()
                    .iter()
                    .flatten()
                    .map(|v| f64_key(v as f64)),
            );
            summarize_numbers(&mut s, bufs, |v| crate::datetime::format_iso(v as i64));
        }
        ValueType::Boolean => {
            let a = array.as_boolean();
            let trues = a.true_count() as u64;
            let falses = s.count - s.missing - trues;
            let mut top: Vec<ValueCount> = [("true", trues), ("false", falses)]
                .into_iter()
                .filter(|(_, c)| *c > 0)
                .map(|(v, c)| ValueCount {
                    value: v.into(),
                    count: c,
                })
                .collect();
            top.sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value)));
            s.distinct = top.len() as u64;
            s.top_values = top;
        }
        ValueType::String => summarize_strings(&mut s, array),
    }
    s
}

pub fn format_float(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        let s = format!("{v}");
        if s.len() > 12 { format!("{v:.6e}") } else { s }
    }
}

fn summarize_numbers(s: &mut ColumnSummary, bufs: &mut Buffers, label: impl Fn(f64) -> String) {
    let Buffers { keys, scratch } = bufs;
    if keys.is_empty() {
        return;
    }
    let n = keys.len();
    let mut sum = 0.0;
    let mut integral = true;
    let mut zeros = 0u64;
    for &k in keys.iter() {
        let v = key_f64(k);
        sum += v;
        integral &= is_whole(v);
        zeros += u64::from(v == 0.0);
    }
    let mean = sum / n as f64;
    radix_sort_u64_with(keys, scratch);
    let keys = &keys[..];
    let at = |i: usize| key_f64(keys[i]);
    let quantile = |q: f64| {
        // Linear interpolation between order statistics, as numpy and pandas do by default.
        let pos = q * (n - 1) as f64;
        let lo = pos.floor() as usize;
        let hi = pos.ceil() as usize;
        at(lo) + (at(hi) - at(lo)) * (pos - lo as f64)
    };
    let (min, max) = (at(0), at(n - 1));

    // One pass over the sorted keys: runs of equal keys give the distinct count and the
    // frequent values, and each run adds its squared deviations from the mean at once (a
    // second pass after the mean, so no one-pass cancellation on large offsets such as
    // timestamps).
    let mut distinct = 0u64;
    let mut top: Vec<(u64, f64)> = Vec::new();
    let mut squares = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i + 1;
        while j < n && keys[j] == keys[i] {
            j += 1;
        }
        distinct += 1;
        let v = at(i);
        let d = v - mean;
        squares += d * d * (j - i) as f64;
        push_top(&mut top, (j - i) as u64, v);
        i = j;
    }
    let var = squares / (n.max(2) - 1) as f64;
    s.numeric = Some(NumericStats {
        min,
        max,
        mean,
        std: if n > 1 { var.sqrt() } else { 0.0 },
        p25: quantile(0.25),
        median: quantile(0.5),
        p75: quantile(0.75),
        integral,
        zeros,
    });
    s.distinct = distinct;
    s.top_values = top
        .into_iter()
        .map(|(count, v)| ValueCount {
            value: label(v),
            count,
        })
        .collect();
    s.histogram = Some(histogram_sorted(keys, min, max));
}

/// `v.fract() == 0.0` without a call to `trunc` (no SSE4.1 rounding in the baseline target).
#[inline]
fn is_whole(v: f64) -> bool {
    if v.abs() < 4_503_599_627_370_496.0 {
        (v as i64) as f64 == v
    } else {
        v.is_finite()
    }
}

/// Keeps the TOP_VALUES largest counts, earlier (smaller) values winning ties.
fn push_top(top: &mut Vec<(u64, f64)>, count: u64, value: f64) {
    if top.len() == TOP_VALUES && top.last().is_some_and(|l| l.0 >= count) {
        return;
    }
    let pos = top.partition_point(|t| t.0 >= count);
    top.insert(pos, (count, value));
    top.truncate(TOP_VALUES);
}

/// Equal-width histogram from sorted keys: one binary search per edge, not one division per value.
fn histogram_sorted(sorted: &[u64], min: f64, max: f64) -> Histogram {
    let bins = if max > min { HISTOGRAM_BINS } else { 1 };
    let width = (max - min) / bins as f64;
    let edges: Vec<f64> = (0..=bins).map(|i| min + width * i as f64).collect();
    let mut starts: Vec<usize> = edges[..bins]
        .iter()
        .map(|&e| sorted.partition_point(|&k| key_f64(k) < e))
        .collect();
    starts[0] = 0;
    starts.push(sorted.len());
    let counts = starts.windows(2).map(|w| (w[1] - w[0]) as u64).collect();
    Histogram { edges, counts }
}

fn summarize_strings(s: &mut ColumnSummary, array: &ArrayRef) {
    let a = array.as_string::<i32>();
    let mut counts: HashMap<&str, u64> = HashMap::new();
    let (mut total_len, mut max_len, mut total_tokens) = (0u64, 0u64, 0u64);
    for v in a.iter().flatten() {
        *counts.entry(v).or_default() += 1;
    }
    for (v, c) in &counts {
        let len = v.chars().count() as u64;
        total_len += len * c;
        max_len = max_len.max(len);
        total_tokens += v.split_whitespace().count() as u64 * c;
    }
    let n = (s.count - s.missing).max(1) as f64;
    s.distinct = counts.len() as u64;
    let mut top: Vec<(&str, u64)> = counts.into_iter().collect();
    let k = TOP_VALUES.min(top.len());
    if k > 0 {
        top.select_nth_unstable_by(k - 1, |a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        top.truncate(k);
        top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    }
    s.top_values = top
        .into_iter()
        .map(|(v, c)| ValueCount {
            value: v.to_string(),
            count: c,
        })
        .collect();
    s.text = Some(TextStats {
        mean_length: total_len as f64 / n,
        max_length: max_len,
        mean_tokens: total_tokens as f64 / n,
    });
}

/// Order-preserving map from f64 to u64 (IEEE total order: negatives flipped).
#[inline]
pub fn f64_key(v: f64) -> u64 {
    let bits = v.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

#[inline]
fn key_f64(k: u64) -> f64 {
    f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
}

/// MSD radix sort. Each level buckets on up to 11 bits just below the bits that every key of
/// the bucket shares, so narrow ranges (small integers, one sign and exponent) cost no empty
/// passes; after the first level a bucket usually fits in cache, and small buckets finish with
/// a comparison sort. Levels ping-pong between `keys` and one scratch buffer. Typically two
/// or three passes over the data instead of the six of an LSD sort on 64-bit keys.
pub fn radix_sort_u64(keys: &mut [u64]) {
    radix_sort_u64_with(keys, &mut Vec::new());
}

/// `radix_sort_u64` with a caller's scratch buffer (resized as needed).
pub fn radix_sort_u64_with(keys: &mut [u64], scratch: &mut Vec<u64>) {
    if keys.len() < 256 || u32::try_from(keys.len()).is_err() {
        keys.sort_unstable();
        return;
    }
    scratch.resize(keys.len(), 0);
    // One bucket-end table per level: 64-bit keys need at most 64 levels of one bit.
    let mut tables = vec![[0u32; 1 << 11]; 64];
    msd_sort(keys, &mut scratch[..keys.len()], false, &mut tables);
}

/// Sorts `src`; the result ends in `src`, or in `other` when `to_other` (same length).
fn msd_sort(src: &mut [u64], other: &mut [u64], to_other: bool, tables: &mut [[u32; 1 << 11]]) {
    let n = src.len();
    if n <= 128 {
        src.sort_unstable();
        if to_other {
            other.copy_from_slice(src);
        }
        return;
    }
    let (mut or_all, mut and_all) = (0u64, u64::MAX);
    for &k in src.iter() {
        or_all |= k;
        and_all &= k;
    }
    let varying = or_all ^ and_all;
    if varying == 0 {
        if to_other {
            other.copy_from_slice(src);
        }
        return;
    }
    let top = 63 - varying.leading_zeros();
    // About 16 keys per bucket, at most 2048 buckets (the table stays in L1).
    let want = (usize::BITS - n.leading_zeros())
        .saturating_sub(4)
        .clamp(1, 11);
    let bits = want.min(top + 1);
    let shift = top + 1 - bits;
    let mask = (1u64 << bits) - 1;
    let Some((table, deeper)) = tables.split_first_mut() else {
        src.sort_unstable();
        if to_other {
            other.copy_from_slice(src);
        }
        return;
    };
    let ends = &mut table[..1 << bits];
    ends.fill(0);
    for &k in src.iter() {
        ends[((k >> shift) & mask) as usize] += 1;
    }
    // Counts become bucket starts, and after the scatter bucket ends.
    let mut sum = 0u32;
    for e in ends.iter_mut() {
        let c = *e;
        *e = sum;
        sum += c;
    }
    for &k in src.iter() {
        let d = ((k >> shift) & mask) as usize;
        other[ends[d] as usize] = k;
        ends[d] += 1;
    }
    let mut lo = 0usize;
    for &end in ends.iter() {
        let hi = end as usize;
        if lo < hi {
            msd_sort(&mut other[lo..hi], &mut src[lo..hi], !to_other, deeper);
        }
        lo = hi;
    }
}

pub fn radix_sort_f64(values: &mut [f64]) {
    let mut keys: Vec<u64> = values.iter().map(|&v| f64_key(v)).collect();
    radix_sort_u64(&mut keys);
    for (v, k) in values.iter_mut().zip(keys) {
        *v = key_f64(k);
    }
}

/// The array's values as f64 (Int64, Float64, Timestamp, Boolean), None where missing.
pub fn numeric_values(array: &dyn Array) -> Option<Vec<Option<f64>>> {
    use arrow_schema::DataType;
    Some(match array.data_type() {
        DataType::Int64 => array
            .as_primitive::<Int64Type>()
            .iter()
            .map(|v| v.map(|v| v as f64))
            .collect(),
        DataType::Float64 => array
            .as_primitive::<Float64Type>()
            .iter()
            .map(|v| v.filter(|v| !v.is_nan()))
            .collect(),
        DataType::Timestamp(_, _) => array
            .as_primitive::<TimestampMillisecondType>()
            .iter()
            .map(|v| v.map(|v| v as f64))
            .collect(),
        DataType::Boolean => array
            .as_boolean()
            .iter()
            .map(|v| v.map(|b| if b { 1.0 } else { 0.0 }))
            .collect(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Float64Array, Int64Array, StringArray};
    use std::sync::Arc;

    #[test]
    fn radix_sort_matches_std_sort() {
        let mut rng = crate::rng::Rng::new(7);
        let mut values: Vec<f64> = (0..5000)
            .map(|i| match i % 4 {
                0 => rng.next_f64() * 1e6 - 5e5,
                1 => -(rng.next_f64()),
                2 => (rng.below(10) as f64) - 5.0,
                _ => 0.0,
            })
            .collect();
        let mut expected = values.clone();
        expected.sort_by(f64::total_cmp);
        radix_sort_f64(&mut values);
        assert_eq!(values, expected);
    }

    #[test]
    fn radix_sort_matches_std_sort_on_many_shapes() {
        let mut rng = crate::rng::Rng::new(9);
        for n in [0usize, 1, 47, 49, 255, 256, 1000, 5000, 70_000] {
            let shapes: Vec<Vec<u64>> = vec![
                (0..n).map(|_| rng.next_u64()).collect(),
                (0..n).map(|_| rng.below(3)).collect(),
                (0..n)
                    .map(|_| f64_key(rng.next_f64() * 6.0 - 3.0))
                    .collect(),
                (0..n).map(|i| (i as u64) << 40).collect(),
                (0..n).map(|_| 7).collect(),
                (0..n).map(|_| u64::MAX - rng.below(100_000)).collect(),
            ];
            for mut keys in shapes {
                let mut expected = keys.clone();
                expected.sort_unstable();
                radix_sort_u64(&mut keys);
                assert_eq!(keys, expected, "n {n}");
            }
        }
    }

    #[test]
    fn numeric_summary_known_values() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(1),
            Some(2),
            None,
            Some(3),
            Some(4),
            Some(4),
        ]));
        let s = summarize("x", ValueType::Integer, &a);
        assert_eq!(s.count, 6);
        assert_eq!(s.missing, 1);
        assert_eq!(s.distinct, 4);
        let n = s.numeric.as_ref().unwrap();
        assert_eq!(n.min, 1.0);
        assert_eq!(n.max, 4.0);
        assert!((n.mean - 2.8).abs() < 1e-12);
        // pandas: Series([1,2,3,4,4]).std() == 1.3038404810405297
        assert!((n.std - 1.3038404810405297).abs() < 1e-12);
        assert_eq!(n.median, 3.0);
        assert_eq!(n.p25, 2.0);
        assert_eq!(n.p75, 4.0);
        assert_eq!(
            s.top_values[0],
            ValueCount {
                value: "4".into(),
                count: 2
            }
        );
        let h = s.histogram.unwrap();
        assert_eq!(h.counts.iter().sum::<u64>(), 5);
    }

    #[test]
    fn float_nan_counts_as_missing() {
        let a: ArrayRef = Arc::new(Float64Array::from(vec![Some(1.5), Some(f64::NAN), None]));
        let s = summarize("x", ValueType::Float, &a);
        assert_eq!(s.missing, 2);
        assert_eq!(s.distinct, 1);
    }

    #[test]
    fn string_summary_counts_and_tokens() {
        let a: ArrayRef = Arc::new(StringArray::from(vec![
            Some("a b"),
            Some("a b"),
            Some("c"),
            None,
        ]));
        let s = summarize("x", ValueType::String, &a);
        assert_eq!(s.distinct, 2);
        assert_eq!(
            s.top_values[0],
            ValueCount {
                value: "a b".into(),
                count: 2
            }
        );
        let t = s.text.unwrap();
        assert!((t.mean_tokens - 5.0 / 3.0).abs() < 1e-12);
        assert_eq!(t.max_length, 3);
    }
}
