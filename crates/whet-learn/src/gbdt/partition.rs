//! Partitioning a leaf's rows by a split: a stable in-place partition, parallel for large leaves.

use rayon::prelude::*;

use super::histogram::{PREFETCH_AHEAD, prefetch};
use super::split::SplitInfo;
use crate::binning::BinnedData;

/// For every bin of the split feature, whether its rows go left: one table lookup per row
/// instead of branching on missing, numeric and categorical cases.
fn left_table(binned: &BinnedData, s: &SplitInfo) -> [bool; 256] {
    let missing = binned.mappers[s.feature].missing_bin();
    let mut table = [false; 256];
    for (b, slot) in table.iter_mut().enumerate() {
        *slot = if b == missing as usize {
            s.default_left
        } else {
            match &s.cat_bins {
                Some(bits) => (bits[b >> 6] >> (b & 63)) & 1 == 1,
                None => b <= s.threshold_bin as usize,
            }
        };
    }
    table
}

/// Rows per part when partitioning a large leaf in parallel.
const PARTITION_PART_ROWS: usize = 32_768;

/// Moves the rows going left to the front of `rows`, keeping order on both sides; returns how
/// many went left. Large leaves are split into parts handled in parallel and stitched back in
/// part order, so the result is the same as the sequential one.
pub(super) fn partition_rows(
    binned: &BinnedData,
    split: &SplitInfo,
    rows: &mut [u32],
    scratch: &mut Vec<u32>,
) -> usize {
    let column = &binned.columns[split.feature];
    let goes_left = left_table(binned, split);
    let sequential = |rows: &mut [u32], scratch: &mut Vec<u32>| -> usize {
        scratch.clear();
        let mut n_left = 0;
        for i in 0..rows.len() {
            if let Some(&ahead) = rows.get(i + PREFETCH_AHEAD) {
                prefetch(column, ahead as usize);
            }
            let r = rows[i];
            if goes_left[column[r as usize] as usize] {
                rows[n_left] = r;
                n_left += 1;
            } else {
                scratch.push(r);
            }
        }
        rows[n_left..].copy_from_slice(scratch);
        n_left
    };
    if rows.len() < 2 * PARTITION_PART_ROWS {
        return sequential(rows, scratch);
    }
    let mut parts: Vec<(Vec<u32>, usize)> = rows
        .par_chunks_mut(PARTITION_PART_ROWS)
        .map(|part| {
            let mut local = Vec::with_capacity(part.len());
            let n_left = sequential(part, &mut local);
            (part.to_vec(), n_left)
        })
        .collect();
    let mut at = 0;
    for (part, n_left) in parts.iter() {
        rows[at..at + n_left].copy_from_slice(&part[..*n_left]);
        at += n_left;
    }
    let n_left = at;
    for (part, n_left) in parts.iter_mut() {
        let right = &part[*n_left..];
        rows[at..at + right.len()].copy_from_slice(right);
        at += right.len();
    }
    n_left
}
