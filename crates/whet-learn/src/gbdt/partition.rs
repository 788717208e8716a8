//! Partitioning a leaf's rows by a split: a stable in-place partition, parallel for large leaves.

use rayon::prelude::*;

use super::histogram::{PREFETCH_AHEAD, has_bit, prefetch};
use super::split::SplitInfo;
use crate::binning::BinnedData;

/// For every bin of the split feature, whether its rows go left: one table lookup per row
/// instead of branching on missing, numeric and categorical cases.
/// (A wide feature's is [`left_table_wide`].)
fn left_table(binned: &BinnedData, s: &SplitInfo) -> [bool; 256] {
    let missing = binned.mappers[s.feature].missing_bin();
    let mut table = [false; 256];
    for (b, slot) in table.iter_mut().enumerate() {
        *slot = if b == missing as usize {
            s.default_left
        } else {
            match &s.cat_bins {
                Some(bits) => has_bit(bits, b),
                None => b <= s.threshold_bin as usize,
            }
        };
    }
    table
}

/// [`left_table`] for a wide categorical feature (see `binning`): one entry per bin.
fn left_table_wide(binned: &BinnedData, s: &SplitInfo) -> Vec<bool> {
    let m = &binned.mappers[s.feature];
    (0..m.n_bins())
        .map(|b| {
            if b == m.missing_index() {
                s.default_left
            } else {
                s.cat_bins.as_ref().is_some_and(|bits| has_bit(bits, b))
            }
        })
        .collect()
}

/// Rows per part when partitioning a large leaf in parallel.
const PARTITION_PART_ROWS: usize = 8192;

/// Stable partition of `rows`: the left rows to its front, the right ones to the front of
/// `right` (as long as `rows`); returns (left, right) counts. Every row is written to both
/// sides and only the cursor of its own side moves, so the loop has no branch on the side: a
/// split's direction is a coin flip to a branch predictor.
#[inline(always)]
fn partition_part<B: Copy>(
    bins: Bins<B>,
    goes_left: impl Fn(B) -> bool,
    rows: &mut [u32],
    right: &mut [u32],
) -> (usize, usize) {
    let (mut n_left, mut n_right) = (0, 0);
    for i in 0..rows.len() {
        if let Some(&ahead) = rows.get(i + PREFETCH_AHEAD) {
            prefetch(bins.data, bins.index(ahead));
        }
        let r = rows[i];
        let left = goes_left(bins.data[bins.index(r)]);
        // n_left <= i, so this never overwrites a row not yet read.
        rows[n_left] = r;
        right[n_right] = r;
        n_left += usize::from(left);
        n_right += usize::from(!left);
    }
    (n_left, n_right)
}

/// The split feature's bins: row `r`'s is `data[r * stride + offset]` (a column: stride 1;
/// the row-major bins of a `BinLayout::RowsOnly` fit: stride the feature count).
#[derive(Clone, Copy)]
struct Bins<'a, B> {
    data: &'a [B],
    stride: usize,
    offset: usize,
}

impl<B> Bins<'_, B> {
    #[inline(always)]
    fn index(&self, r: u32) -> usize {
        r as usize * self.stride + self.offset
    }
}

/// Moves the rows going left to the front of `rows`, keeping order on both sides; returns how
/// many went left. Large leaves are split into parts handled in parallel and stitched back in
/// part order, so the result is the same as the sequential one.
pub(super) fn partition_rows(
    binned: &BinnedData,
    split: &SplitInfo,
    rows: &mut [u32],
    scratch: &mut Vec<u32>,
) -> usize {
    match &binned.wide[split.feature] {
        Some(column) => {
            let table = left_table_wide(binned, split);
            let bins = Bins {
                data: column.as_slice(),
                stride: 1,
                offset: 0,
            };
            partition_by(bins, |b: u16| table[usize::from(b)], rows, scratch)
        }
        None => {
            let table = left_table(binned, split);
            let bins = match binned.columns.get(split.feature) {
                Some(column) => Bins {
                    data: column.as_slice(),
                    stride: 1,
                    offset: 0,
                },
                None => Bins {
                    data: binned.rows.as_slice(),
                    stride: binned.n_features,
                    offset: split.feature,
                },
            };
            partition_by(bins, |b: u8| table[usize::from(b)], rows, scratch)
        }
    }
}

/// [`partition_rows`] by the split feature's bins and which of them go left.
fn partition_by<B: Copy + Sync>(
    bins: Bins<B>,
    goes_left: impl Fn(B) -> bool + Sync,
    rows: &mut [u32],
    scratch: &mut Vec<u32>,
) -> usize {
    if scratch.len() < rows.len() {
        scratch.resize(rows.len(), 0);
    }
    let right = &mut scratch[..rows.len()];
    if rows.len() < 2 * PARTITION_PART_ROWS {
        let (n_left, n_right) = partition_part(bins, &goes_left, rows, right);
        rows[n_left..].copy_from_slice(&right[..n_right]);
        return n_left;
    }
    let counts: Vec<(usize, usize)> = rows
        .par_chunks_mut(PARTITION_PART_ROWS)
        .zip(right.par_chunks_mut(PARTITION_PART_ROWS))
        .map(|(part, right)| partition_part(bins, &goes_left, part, right))
        .collect();
    // Left rows move toward the front (never past rows still to be moved), right rows come
    // from the scratch parts.
    let mut at = 0;
    for (p, &(n_left, _)) in counts.iter().enumerate() {
        let start = p * PARTITION_PART_ROWS;
        rows.copy_within(start..start + n_left, at);
        at += n_left;
    }
    let n_left = at;
    for (p, &(_, n_right)) in counts.iter().enumerate() {
        let start = p * PARTITION_PART_ROWS;
        rows[at..at + n_right].copy_from_slice(&right[start..start + n_right]);
        at += n_right;
    }
    n_left
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gbdt::test_data::numeric_features;
    use whet_data::rng::Rng;

    #[test]
    fn partition_is_stable_and_matches_a_filter_sequential_or_parallel() {
        let n = 3 * PARTITION_PART_ROWS + 123;
        let mut rng = Rng::new(3);
        // The split feature between two others, so the row-major bytes are read at a stride.
        let mut column = || -> Vec<f32> {
            (0..n)
                .map(|_| (rng.next_f64() * 50.0).floor() as f32)
                .collect()
        };
        let x = numeric_features(vec![column(), column(), column()]);
        let binned = BinnedData::fit(&x, 255).unwrap();
        let split = SplitInfo {
            feature: 1,
            gain: 1.0,
            threshold_bin: 20,
            default_left: false,
            cat_bins: None,
            left: [0.0; 3],
            right: [0.0; 3],
            left_output: 0.0,
            right_output: 0.0,
        };
        let col = &binned.columns[1];
        // A small leaf (sequential) and a large one (parallel parts), rows in leaf order.
        for len in [1000, n - 50] {
            let rows: Vec<u32> = (0..n as u32).filter(|r| r % 7 != 3).take(len).collect();
            let want_left: Vec<u32> = rows
                .iter()
                .copied()
                .filter(|&r| col[r as usize] <= 20)
                .collect();
            let want_right: Vec<u32> = rows
                .iter()
                .copied()
                .filter(|&r| col[r as usize] > 20)
                .collect();
            // The same from the row-major bins alone (`BinLayout::RowsOnly`).
            let rows_only = BinnedData::with_mappers_layout(
                &x,
                binned.mappers.clone(),
                crate::binning::BinLayout::RowsOnly,
            );
            for binned in [&binned, &rows_only] {
                let mut rows = rows.clone();
                let mut scratch = Vec::new();
                let n_left = partition_rows(binned, &split, &mut rows, &mut scratch);
                assert_eq!(n_left, want_left.len());
                assert_eq!(&rows[..n_left], &want_left[..]);
                assert_eq!(&rows[n_left..], &want_right[..]);
            }
        }
    }

    #[test]
    fn a_wide_categorical_partitions_by_its_u16_bins() {
        let n = 3 * PARTITION_PART_ROWS + 55;
        let mut rng = Rng::new(8);
        let codes: Vec<u32> = (0..n)
            .map(|_| {
                if rng.next_f64() < 0.1 {
                    whet_data::prep::MISSING_CODE
                } else {
                    rng.below(1000) as u32
                }
            })
            .collect();
        let x = whet_data::prep::Features {
            n_rows: n,
            columns: vec![whet_data::prep::Feature {
                name: "zip".into(),
                data: whet_data::prep::FeatureData::Categorical {
                    codes: codes.clone(),
                    n_categories: 1000,
                },
            }],
        };
        let binned = BinnedData::fit(&x, 255).unwrap();
        // Categories on both sides of every 256-bin block edge go left.
        let left_cats = [3usize, 255, 256, 600, 999];
        let mut bits = vec![0u64; 16];
        for &c in &left_cats {
            bits[c >> 6] |= 1 << (c & 63);
        }
        for default_left in [false, true] {
            let split = SplitInfo {
                feature: 0,
                gain: 1.0,
                threshold_bin: 0,
                default_left,
                cat_bins: Some(bits.clone()),
                left: [0.0; 3],
                right: [0.0; 3],
                left_output: 0.0,
                right_output: 0.0,
            };
            let goes_left = |r: u32| match codes[r as usize] {
                whet_data::prep::MISSING_CODE => default_left,
                c => left_cats.contains(&(c as usize)),
            };
            for len in [700, n - 9] {
                let mut rows: Vec<u32> = (0..n as u32).filter(|r| r % 5 != 1).take(len).collect();
                let want_left: Vec<u32> = rows.iter().copied().filter(|&r| goes_left(r)).collect();
                let want_right: Vec<u32> =
                    rows.iter().copied().filter(|&r| !goes_left(r)).collect();
                assert!(!want_left.is_empty());
                let n_left = partition_rows(&binned, &split, &mut rows, &mut Vec::new());
                assert_eq!(&rows[..n_left], &want_left[..]);
                assert_eq!(&rows[n_left..], &want_right[..]);
            }
        }
    }
}
