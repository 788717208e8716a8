//! Seeded, deterministic train/validation splits over row indices.
//!
//! Every function returns row indices (`u32`) in ascending order, and the
//! same inputs and seed always give the same folds on every platform, because
//! all randomness comes from our own [`Rng`].

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use crate::rng::Rng;

/// One train/validation split. Both lists are sorted ascending.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Fold {
    pub train: Vec<u32>,
    pub valid: Vec<u32>,
}

/// Why a split could not be made. Messages are written for end users.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SplitError {
    #[error(
        "cannot split an empty dataset: there are no rows — check that the data loaded and that filters kept some rows"
    )]
    EmptyInput,

    #[error(
        "a split needs at least 2 folds, but k = {k} — use k of 2 or more (5 is a common choice)"
    )]
    TooFewFolds { k: usize },

    #[error(
        "{k}-fold split needs at least {needed} rows, but the data has only {n_rows} — use fewer folds or more data"
    )]
    TooManyFolds {
        k: usize,
        needed: usize,
        n_rows: usize,
    },

    #[error(
        "group {k}-fold needs at least {k} distinct groups so that every fold gets one, but the data has only {n_groups} — use fewer folds (at most the number of groups) or split without groups"
    )]
    TooManyFoldsForGroups { k: usize, n_groups: usize },

    #[error(
        "validation fraction must be strictly between 0 and 1, but got {fraction} — e.g. 0.2 holds out 20% of the rows"
    )]
    InvalidFraction { fraction: f64 },

    #[error(
        "a holdout split needs at least 2 rows (one for training, one for validation), but the data has {n_rows}"
    )]
    TooFewRowsForHoldout { n_rows: usize },

    #[error(
        "stratified holdout needs at least one class with 2 or more rows, but all {n_classes} classes have a single row — use a plain holdout instead"
    )]
    NoClassToSplit { n_classes: usize },

    #[error(
        "stratified {k}-fold needs at least {k} rows of every class; class label {label} has {count}{} — use fewer folds or plain k-fold",
        others_too_small(*.n_small)
    )]
    ClassTooSmall {
        k: usize,
        /// The smallest offending class (lowest label among equals).
        label: u32,
        count: usize,
        /// How many classes have fewer than `k` rows, including `label`.
        n_small: usize,
    },

    #[error(
        "the data has {n_rows} rows, more than the {} that split row ids (32-bit) can address — sample or partition the data before splitting",
        u32::MAX
    )]
    TooManyRows { n_rows: usize },

    #[error(
        "time split into {k} folds with a gap of {gap} rows leaves the first fold no training rows ({n_rows} rows in total) — use a gap of at most {max_gap} rows, or fewer folds"
    )]
    GapTooLarge {
        k: usize,
        gap: usize,
        n_rows: usize,
        max_gap: usize,
    },
}

fn others_too_small(n_small: usize) -> String {
    match n_small {
        0 | 1 => String::new(),
        2 => " (1 other class is also too small)".to_string(),
        n => format!(" ({} other classes are also too small)", n - 1),
    }
}

/// Validates the row count and returns it as the `u32` used for row ids.
fn check_rows(n_rows: usize) -> Result<u32, SplitError> {
    if n_rows == 0 {
        return Err(SplitError::EmptyInput);
    }
    u32::try_from(n_rows).map_err(|_| SplitError::TooManyRows { n_rows })
}

fn check_k(k: usize) -> Result<(), SplitError> {
    if k < 2 {
        return Err(SplitError::TooFewFolds { k });
    }
    Ok(())
}

fn check_fraction(fraction: f64) -> Result<(), SplitError> {
    // Written so that NaN fails too.
    if fraction > 0.0 && fraction < 1.0 {
        Ok(())
    } else {
        Err(SplitError::InvalidFraction { fraction })
    }
}

fn check_k_rows(k: usize, n_rows: usize) -> Result<(), SplitError> {
    if k > n_rows {
        return Err(SplitError::TooManyFolds {
            k,
            needed: k,
            n_rows,
        });
    }
    Ok(())
}

/// Rows of each distinct key, ascending within each key. A BTreeMap keeps
/// the iteration order independent of hashing, which the seeded steps that
/// follow rely on for reproducibility.
fn rows_by_key<K: Ord + Copy>(keys: &[K], n: u32) -> BTreeMap<K, Vec<u32>> {
    let mut map: BTreeMap<K, Vec<u32>> = BTreeMap::new();
    for (row, &key) in (0..n).zip(keys) {
        map.entry(key).or_default().push(row);
    }
    map
}

/// Builds k folds where fold `f` validates on the rows assigned to `f` and
/// trains on all others. Scanning rows in order keeps every list sorted
/// without a sort.
fn folds_from_assignment(assign: &[usize], k: usize, n: u32) -> Vec<Fold> {
    let mut valid_sizes = vec![0usize; k];
    for &f in assign {
        valid_sizes[f] += 1;
    }
    let mut folds: Vec<Fold> = valid_sizes
        .iter()
        .map(|&size| Fold {
            train: Vec::with_capacity(assign.len() - size),
            valid: Vec::with_capacity(size),
        })
        .collect();
    for (row, &target) in (0..n).zip(assign) {
        for (f, fold) in folds.iter_mut().enumerate() {
            if f == target {
                fold.valid.push(row);
            } else {
                fold.train.push(row);
            }
        }
    }
    folds
}

fn sorted(mut rows: Vec<u32>) -> Vec<u32> {
    rows.sort_unstable();
    rows
}

/// Number of validation rows for `n` rows, kept within `[lo, hi]`.
fn scaled_count(n: usize, fraction: f64, lo: usize, hi: usize) -> usize {
    // Rounding rather than ceil: products like 0.1 * 30 land just above the
    // integer and would otherwise take an extra row.
    let raw = (n as f64 * fraction).round() as usize;
    raw.clamp(lo, hi)
}

/// Random holdout: `valid_fraction` of the rows (rounded, at least one and
/// leaving at least one for training) go to validation.
pub fn holdout(n_rows: usize, valid_fraction: f64, seed: u64) -> Result<Fold, SplitError> {
    let n = check_rows(n_rows)?;
    check_fraction(valid_fraction)?;
    if n_rows < 2 {
        return Err(SplitError::TooFewRowsForHoldout { n_rows });
    }
    let n_valid = scaled_count(n_rows, valid_fraction, 1, n_rows - 1);
    let mut order: Vec<u32> = (0..n).collect();
    Rng::new(seed).shuffle(&mut order);
    let train = order.split_off(n_valid);
    Ok(Fold {
        train: sorted(train),
        valid: sorted(order),
    })
}

/// Holdout that splits every class in proportion to `valid_fraction`.
///
/// Each class with at least 2 rows gets at least one row on each side, and
/// its validation count is the floor or ceiling of its exact share; the
/// rounding direction is chosen (largest remainder first, seeded ties) so
/// the overall validation size is as close as possible to the requested
/// fraction. Classes with a single row cannot be on both sides and go to
/// training, where the model can at least learn from them.
pub fn stratified_holdout(
    labels: &[u32],
    valid_fraction: f64,
    seed: u64,
) -> Result<Fold, SplitError> {
    let n = check_rows(labels.len())?;
    check_fraction(valid_fraction)?;
    let mut classes: Vec<Vec<u32>> = rows_by_key(labels, n).into_values().collect();
    let splittable_rows: usize = classes.iter().map(Vec::len).filter(|&len| len >= 2).sum();
    if splittable_rows == 0 {
        return Err(SplitError::NoClassToSplit {
            n_classes: classes.len(),
        });
    }

    let mut rng = Rng::new(seed);
    let mut counts = Vec::with_capacity(classes.len());
    // (remainder, tie-break, class index) for classes that may round up.
    let mut round_up = Vec::new();
    let mut lo_total = 0usize;
    let mut hi_total = 0usize;
    for (idx, rows) in classes.iter().enumerate() {
        let len = rows.len();
        let tie = rng.next_u64();
        if len < 2 {
            counts.push(0);
            continue;
        }
        let exact = len as f64 * valid_fraction;
        let floor = (exact.floor() as usize).clamp(1, len - 1);
        let ceil = (exact.ceil() as usize).clamp(1, len - 1);
        counts.push(floor);
        if ceil > floor {
            round_up.push((exact - floor as f64, tie, idx));
        }
        lo_total += floor;
        hi_total += ceil;
    }
    let target = scaled_count(splittable_rows, valid_fraction, lo_total, hi_total);
    round_up.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, _, idx) in round_up.iter().take(target - lo_total) {
        counts[idx] += 1;
    }

    let mut train = Vec::with_capacity(labels.len());
    let mut valid = Vec::new();
    for (rows, n_valid) in classes.iter_mut().zip(counts) {
        rng.shuffle(rows);
        valid.extend_from_slice(&rows[..n_valid]);
        train.extend_from_slice(&rows[n_valid..]);
    }
    Ok(Fold {
        train: sorted(train),
        valid: sorted(valid),
    })
}

/// Plain k-fold: the (optionally shuffled) rows are cut into `k` contiguous
/// validation blocks whose sizes differ by at most one, larger blocks first.
/// `seed` is ignored when `shuffle` is false.
pub fn kfold(n_rows: usize, k: usize, shuffle: bool, seed: u64) -> Result<Vec<Fold>, SplitError> {
    let n = check_rows(n_rows)?;
    check_k(k)?;
    check_k_rows(k, n_rows)?;
    let mut order: Vec<u32> = (0..n).collect();
    if shuffle {
        Rng::new(seed).shuffle(&mut order);
    }
    let base = n_rows / k;
    let extra = n_rows % k;
    let mut assign = vec![0usize; n_rows];
    let mut rest = order.as_slice();
    for f in 0..k {
        let size = base + usize::from(f < extra);
        let (block, tail) = rest.split_at(size);
        for &row in block {
            assign[row as usize] = f;
        }
        rest = tail;
    }
    Ok(folds_from_assignment(&assign, k, n))
}

/// Stratified k-fold: each class is shuffled and dealt round-robin into the
/// folds, so every fold holds each class's share to within one row.
///
/// Each class continues dealing where the previous one stopped, so the
/// per-class remainders spread over different folds and the total fold
/// sizes also differ by at most one.
pub fn stratified_kfold(labels: &[u32], k: usize, seed: u64) -> Result<Vec<Fold>, SplitError> {
    let n = check_rows(labels.len())?;
    check_k(k)?;
    check_k_rows(k, labels.len())?;
    let mut classes = rows_by_key(labels, n);

    let mut n_small = 0;
    let mut smallest: Option<(usize, u32)> = None;
    for (&label, rows) in &classes {
        if rows.len() < k {
            n_small += 1;
            // Strict `<` keeps the lowest label among equally small classes.
            if smallest.is_none_or(|(count, _)| rows.len() < count) {
                smallest = Some((rows.len(), label));
            }
        }
    }
    if let Some((count, label)) = smallest {
        return Err(SplitError::ClassTooSmall {
            k,
            label,
            count,
            n_small,
        });
    }

    let mut rng = Rng::new(seed);
    let mut assign = vec![0usize; labels.len()];
    let mut offset = 0usize;
    for rows in classes.values_mut() {
        rng.shuffle(rows);
        for (j, &row) in rows.iter().enumerate() {
            assign[row as usize] = (offset + j) % k;
        }
        offset = (offset + rows.len()) % k;
    }
    Ok(folds_from_assignment(&assign, k, n))
}

/// Group k-fold: all rows sharing a group id land in the same fold, so no
/// group is on both sides of any split.
///
/// Groups are placed largest first into the currently smallest fold (lowest
/// fold index on ties), which keeps fold sizes balanced; equally sized
/// groups are ordered by a seeded shuffle so the seed still matters.
pub fn group_kfold(groups: &[u64], k: usize, seed: u64) -> Result<Vec<Fold>, SplitError> {
    let n = check_rows(groups.len())?;
    check_k(k)?;
    let mut members: Vec<Vec<u32>> = rows_by_key(groups, n).into_values().collect();
    if k > members.len() {
        return Err(SplitError::TooManyFoldsForGroups {
            k,
            n_groups: members.len(),
        });
    }
    Rng::new(seed).shuffle(&mut members);
    // Stable, so the shuffle decides the order within each size.
    members.sort_by_key(|rows| Reverse(rows.len()));

    let mut assign = vec![0usize; groups.len()];
    let mut sizes: BinaryHeap<Reverse<(usize, usize)>> = (0..k).map(|f| Reverse((0, f))).collect();
    for rows in &members {
        // The heap always holds k entries, so this never falls through.
        if let Some(Reverse((size, f))) = sizes.pop() {
            for &row in rows {
                assign[row as usize] = f;
            }
            sizes.push(Reverse((size + rows.len(), f)));
        }
    }
    Ok(folds_from_assignment(&assign, k, n))
}

/// Expanding-window time split, like scikit-learn's `TimeSeriesSplit`.
///
/// Rows are ordered by `order_key` (ties keep row order, so equal keys may
/// fall on both sides of a boundary). The ordered rows are cut into `k + 1`
/// blocks of `n / (k + 1)` rows, with any remainder added to the first
/// training window; fold `i` validates on block `i + 1` and trains on
/// everything before it except the `gap` rows immediately preceding the
/// validation block, which are in neither set.
pub fn time_split(order_key: &[i64], k: usize, gap: usize) -> Result<Vec<Fold>, SplitError> {
    let n_rows = order_key.len();
    let n = check_rows(n_rows)?;
    check_k(k)?;
    if k >= n_rows {
        return Err(SplitError::TooManyFolds {
            k,
            needed: k.saturating_add(1),
            n_rows,
        });
    }
    let test_size = n_rows / (k + 1);
    // k * test_size <= k * n / (k + 1) < n, so this neither overflows nor
    // underflows, and it is at least test_size >= 1.
    let first_start = n_rows - k * test_size;
    if gap >= first_start {
        return Err(SplitError::GapTooLarge {
            k,
            gap,
            n_rows,
            max_gap: first_start - 1,
        });
    }

    let mut order: Vec<u32> = (0..n).collect();
    order.sort_by_key(|&row| order_key[row as usize]);
    let folds = (0..k)
        .map(|i| {
            let start = first_start + i * test_size;
            Fold {
                train: sorted(order[..start - gap].to_vec()),
                valid: sorted(order[start..start + test_size].to_vec()),
            }
        })
        .collect();
    Ok(folds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeSet, HashMap};

    /// Train and valid are strictly ascending, disjoint, and together cover
    /// 0..n exactly once.
    fn assert_covers(fold: &Fold, n: usize) {
        assert!(
            fold.train.windows(2).all(|w| w[0] < w[1]),
            "train not sorted"
        );
        assert!(
            fold.valid.windows(2).all(|w| w[0] < w[1]),
            "valid not sorted"
        );
        assert!(!fold.train.is_empty() && !fold.valid.is_empty());
        let mut all: Vec<u32> = fold.train.iter().chain(&fold.valid).copied().collect();
        all.sort_unstable();
        let expected: Vec<u32> = (0..n as u32).collect();
        assert_eq!(all, expected, "train and valid must partition the rows");
    }

    /// The valid sets of all folds partition 0..n.
    fn assert_valid_partition(folds: &[Fold], n: usize) {
        let mut all: Vec<u32> = folds.iter().flat_map(|f| f.valid.iter().copied()).collect();
        all.sort_unstable();
        let expected: Vec<u32> = (0..n as u32).collect();
        assert_eq!(all, expected, "valid sets must partition the rows");
    }

    fn assert_sizes_within_one(folds: &[Fold]) {
        let sizes: Vec<usize> = folds.iter().map(|f| f.valid.len()).collect();
        let min = sizes.iter().min().copied().unwrap_or(0);
        let max = sizes.iter().max().copied().unwrap_or(0);
        assert!(max - min <= 1, "fold sizes {sizes:?}");
    }

    /// Imbalanced labels in a scrambled row order, so tests do not pass
    /// merely because classes are contiguous.
    fn scrambled_labels(counts: &[(u32, usize)], seed: u64) -> Vec<u32> {
        let mut labels: Vec<u32> = counts
            .iter()
            .flat_map(|&(label, n)| std::iter::repeat_n(label, n))
            .collect();
        Rng::new(seed).shuffle(&mut labels);
        labels
    }

    fn class_counts(rows: &[u32], labels: &[u32]) -> HashMap<u32, usize> {
        let mut counts = HashMap::new();
        for &r in rows {
            *counts.entry(labels[r as usize]).or_insert(0) += 1;
        }
        counts
    }

    // ---- holdout ----

    #[test]
    fn holdout_partitions_with_requested_size() {
        let fold = holdout(100, 0.2, 1).unwrap();
        assert_covers(&fold, 100);
        assert_eq!(fold.valid.len(), 20);

        // 0.1 * 30 is slightly above 3 in floating point; it must still be 3.
        assert_eq!(holdout(30, 0.1, 1).unwrap().valid.len(), 3);
    }

    #[test]
    fn holdout_keeps_one_row_on_each_side() {
        for fraction in [0.001, 0.5, 0.999] {
            let fold = holdout(2, fraction, 3).unwrap();
            assert_covers(&fold, 2);
            assert_eq!((fold.train.len(), fold.valid.len()), (1, 1));
        }
        assert_eq!(holdout(50, 0.001, 3).unwrap().valid.len(), 1);
        assert_eq!(holdout(50, 0.999, 3).unwrap().train.len(), 1);
    }

    #[test]
    fn holdout_seeded() {
        assert_eq!(holdout(200, 0.3, 7).unwrap(), holdout(200, 0.3, 7).unwrap());
        assert_ne!(holdout(200, 0.3, 7).unwrap(), holdout(200, 0.3, 8).unwrap());
    }

    // ---- stratified holdout ----

    #[test]
    fn stratified_holdout_splits_each_class_in_proportion() {
        let labels = scrambled_labels(&[(0, 50), (1, 30), (2, 15), (3, 2), (9, 1)], 11);
        let fold = stratified_holdout(&labels, 0.2, 5).unwrap();
        assert_covers(&fold, labels.len());
        let valid = class_counts(&fold.valid, &labels);
        let train = class_counts(&fold.train, &labels);
        assert_eq!(valid[&0], 10);
        assert_eq!(valid[&1], 6);
        assert_eq!(valid[&2], 3);
        // Too small for a 20% share, but still represented on both sides.
        assert_eq!((valid[&3], train[&3]), (1, 1));
        // A single-row class cannot be split and is kept for training.
        assert_eq!((valid.get(&9), train[&9]), (None, 1));
    }

    #[test]
    fn stratified_holdout_rounds_to_hit_total() {
        // Each class's exact share is 1.5 rows: rounding every class the same
        // way would give 10 or 20 valid rows instead of 15.
        let counts: Vec<(u32, usize)> = (0..10).map(|c| (c, 15)).collect();
        let labels = scrambled_labels(&counts, 2);
        let fold = stratified_holdout(&labels, 0.1, 9).unwrap();
        assert_covers(&fold, labels.len());
        assert_eq!(fold.valid.len(), 15);
        let per_class = class_counts(&fold.valid, &labels);
        assert!(
            per_class.values().all(|&c| c == 1 || c == 2),
            "{per_class:?}"
        );
    }

    #[test]
    fn stratified_holdout_seeded() {
        let labels = scrambled_labels(&[(0, 40), (1, 25), (2, 9)], 4);
        let a = stratified_holdout(&labels, 0.25, 1).unwrap();
        assert_eq!(a, stratified_holdout(&labels, 0.25, 1).unwrap());
        assert_ne!(a, stratified_holdout(&labels, 0.25, 2).unwrap());
    }

    // ---- k-fold ----

    #[test]
    fn kfold_properties() {
        for n in [2usize, 10, 11, 17, 100] {
            for k in [2usize, 3, 5, 10] {
                if k > n {
                    continue;
                }
                for shuffle in [false, true] {
                    let folds = kfold(n, k, shuffle, 42).unwrap();
                    assert_eq!(folds.len(), k);
                    for fold in &folds {
                        assert_covers(fold, n);
                    }
                    assert_valid_partition(&folds, n);
                    assert_sizes_within_one(&folds);
                }
            }
        }
    }

    #[test]
    fn kfold_without_shuffle_is_contiguous_and_ignores_seed() {
        let folds = kfold(7, 3, false, 1).unwrap();
        let valid: Vec<Vec<u32>> = folds.iter().map(|f| f.valid.clone()).collect();
        assert_eq!(valid, vec![vec![0, 1, 2], vec![3, 4], vec![5, 6]]);
        assert_eq!(folds, kfold(7, 3, false, 999).unwrap());
    }

    #[test]
    fn kfold_seeded() {
        assert_eq!(
            kfold(50, 5, true, 3).unwrap(),
            kfold(50, 5, true, 3).unwrap()
        );
        assert_ne!(
            kfold(50, 5, true, 3).unwrap(),
            kfold(50, 5, true, 4).unwrap()
        );
    }

    // ---- stratified k-fold ----

    #[test]
    fn stratified_kfold_properties() {
        let labels = scrambled_labels(&[(0, 53), (1, 21), (2, 7), (5, 5), (8, 11)], 8);
        let n = labels.len();
        let total = class_counts(&(0..n as u32).collect::<Vec<_>>(), &labels);
        for k in [2usize, 3, 5] {
            let folds = stratified_kfold(&labels, k, 17).unwrap();
            assert_eq!(folds.len(), k);
            for fold in &folds {
                assert_covers(fold, n);
            }
            assert_valid_partition(&folds, n);
            assert_sizes_within_one(&folds);
            for (&label, &count) in &total {
                let per_fold: Vec<usize> = folds
                    .iter()
                    .map(|f| {
                        class_counts(&f.valid, &labels)
                            .get(&label)
                            .copied()
                            .unwrap_or(0)
                    })
                    .collect();
                let (lo, hi) = (count / k, count.div_ceil(k));
                assert!(
                    per_fold.iter().all(|&c| c == lo || c == hi),
                    "label {label}, k {k}: {per_fold:?}"
                );
            }
        }
    }

    #[test]
    fn stratified_kfold_seeded() {
        let labels = scrambled_labels(&[(0, 30), (1, 20)], 5);
        let a = stratified_kfold(&labels, 5, 1).unwrap();
        assert_eq!(a, stratified_kfold(&labels, 5, 1).unwrap());
        assert_ne!(a, stratified_kfold(&labels, 5, 2).unwrap());
    }

    #[test]
    fn stratified_kfold_names_smallest_class() {
        let labels = scrambled_labels(&[(0, 10), (3, 2), (7, 2), (9, 4)], 1);
        let err = stratified_kfold(&labels, 5, 0).unwrap_err();
        assert_eq!(
            err,
            SplitError::ClassTooSmall {
                k: 5,
                label: 3,
                count: 2,
                n_small: 3
            }
        );
        let msg = err.to_string();
        assert!(
            msg.contains("stratified 5-fold needs at least 5 rows of every class"),
            "{msg}"
        );
        assert!(msg.contains("label 3 has 2"), "{msg}");
        assert!(msg.contains("2 other classes are also too small"), "{msg}");
        assert!(msg.contains("use fewer folds or plain k-fold"), "{msg}");
    }

    // ---- group k-fold ----

    fn assert_groups_intact(folds: &[Fold], groups: &[u64]) {
        for fold in folds {
            let train: BTreeSet<u64> = fold.train.iter().map(|&r| groups[r as usize]).collect();
            let valid: BTreeSet<u64> = fold.valid.iter().map(|&r| groups[r as usize]).collect();
            assert!(train.is_disjoint(&valid), "a group is on both sides");
        }
    }

    #[test]
    fn group_kfold_balances_known_example() {
        // Group sizes 5, 4, 3, 3, 2, 2, 1 (20 rows). Greedy placement into
        // the smallest fold gives 5+2, 4+2+1, 3+3: sizes 7, 7, 6.
        let sizes = [
            (10u64, 5usize),
            (20, 4),
            (30, 3),
            (40, 3),
            (50, 2),
            (60, 2),
            (70, 1),
        ];
        let mut groups: Vec<u64> = sizes
            .iter()
            .flat_map(|&(g, n)| std::iter::repeat_n(g, n))
            .collect();
        Rng::new(0).shuffle(&mut groups);
        for seed in 0..5 {
            let folds = group_kfold(&groups, 3, seed).unwrap();
            for fold in &folds {
                assert_covers(fold, groups.len());
            }
            assert_valid_partition(&folds, groups.len());
            assert_groups_intact(&folds, &groups);
            let mut fold_sizes: Vec<usize> = folds.iter().map(|f| f.valid.len()).collect();
            fold_sizes.sort_unstable();
            assert_eq!(fold_sizes, vec![6, 7, 7]);
        }
    }

    #[test]
    fn group_kfold_random_groups() {
        let mut rng = Rng::new(77);
        let groups: Vec<u64> = (0..500).map(|_| rng.below(40) * 1000).collect();
        let folds = group_kfold(&groups, 4, 1).unwrap();
        assert_eq!(folds.len(), 4);
        for fold in &folds {
            assert_covers(fold, groups.len());
        }
        assert_valid_partition(&folds, groups.len());
        assert_groups_intact(&folds, &groups);
    }

    #[test]
    fn group_kfold_seeded() {
        // Twenty equal-sized groups: only the seeded tie-break decides placement.
        let groups: Vec<u64> = (0..100).map(|r| r / 5).collect();
        let a = group_kfold(&groups, 4, 1).unwrap();
        assert_eq!(a, group_kfold(&groups, 4, 1).unwrap());
        assert_ne!(a, group_kfold(&groups, 4, 2).unwrap());
        assert_groups_intact(&a, &groups);
        assert!(a.iter().all(|f| f.valid.len() == 25));
    }

    // ---- time split ----

    /// Position of each row in key order, stable on ties.
    fn key_positions(keys: &[i64]) -> Vec<usize> {
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by_key(|&r| keys[r]);
        let mut pos = vec![0; keys.len()];
        for (p, &r) in order.iter().enumerate() {
            pos[r] = p;
        }
        pos
    }

    #[test]
    fn time_split_matches_sklearn_layout() {
        // TimeSeriesSplit(n_splits=5) on 6 samples: train [0..i], test [i].
        let keys: Vec<i64> = (0..6).collect();
        let folds = time_split(&keys, 5, 0).unwrap();
        for (i, fold) in folds.iter().enumerate() {
            let expected_train: Vec<u32> = (0..=i as u32).collect();
            assert_eq!(fold.train, expected_train);
            assert_eq!(fold.valid, vec![i as u32 + 1]);
        }

        let keys: Vec<i64> = (0..10).collect();
        let folds = time_split(&keys, 3, 1).unwrap();
        let expected = [
            (vec![0, 1, 2], vec![4, 5]),
            (vec![0, 1, 2, 3, 4], vec![6, 7]),
            (vec![0, 1, 2, 3, 4, 5, 6], vec![8, 9]),
        ];
        for (fold, (train, valid)) in folds.iter().zip(expected) {
            assert_eq!((&fold.train, &fold.valid), (&train, &valid));
        }
    }

    #[test]
    fn time_split_orders_by_key_and_respects_gap() {
        let mut rng = Rng::new(5);
        // Small key range forces ties.
        let keys: Vec<i64> = (0..53).map(|_| rng.below(20) as i64 - 10).collect();
        let pos = key_positions(&keys);
        for gap in [0usize, 1, 3] {
            let k = 4;
            let folds = time_split(&keys, k, gap).unwrap();
            assert_eq!(folds.len(), k);
            let mut last_valid_end = None;
            for fold in &folds {
                assert!(!fold.train.is_empty() && !fold.valid.is_empty());
                assert!(fold.train.windows(2).all(|w| w[0] < w[1]));
                assert!(fold.valid.windows(2).all(|w| w[0] < w[1]));
                let train_max = fold.train.iter().map(|&r| pos[r as usize]).max().unwrap();
                let valid_min = fold.valid.iter().map(|&r| pos[r as usize]).min().unwrap();
                let valid_max = fold.valid.iter().map(|&r| pos[r as usize]).max().unwrap();
                // Exactly `gap` rows sit between the windows.
                assert_eq!(valid_min - train_max - 1, gap);
                // Train is a prefix in key order and valid a contiguous block.
                assert_eq!(fold.train.len(), train_max + 1);
                assert_eq!(fold.valid.len(), valid_max - valid_min + 1);
                let train_key = fold.train.iter().map(|&r| keys[r as usize]).max().unwrap();
                let valid_key = fold.valid.iter().map(|&r| keys[r as usize]).min().unwrap();
                assert!(train_key <= valid_key);
                if let Some(end) = last_valid_end {
                    assert_eq!(valid_min, end + 1, "valid blocks are consecutive");
                }
                last_valid_end = Some(valid_max);
            }
            assert_eq!(last_valid_end, Some(keys.len() - 1));
        }
    }

    #[test]
    fn time_split_reversed_keys() {
        let keys: Vec<i64> = (0..8).rev().collect();
        let folds = time_split(&keys, 3, 0).unwrap();
        // Latest rows (lowest index) are validated last.
        assert_eq!(folds[2].valid, vec![0, 1]);
        assert_eq!(folds[0].train, vec![6, 7]);
        assert_eq!(folds[0].valid, vec![4, 5]);
    }

    // ---- errors ----

    #[test]
    fn empty_input_errors() {
        assert_eq!(holdout(0, 0.2, 0), Err(SplitError::EmptyInput));
        assert_eq!(stratified_holdout(&[], 0.2, 0), Err(SplitError::EmptyInput));
        assert_eq!(kfold(0, 5, true, 0), Err(SplitError::EmptyInput));
        assert_eq!(stratified_kfold(&[], 5, 0), Err(SplitError::EmptyInput));
        assert_eq!(group_kfold(&[], 5, 0), Err(SplitError::EmptyInput));
        assert_eq!(time_split(&[], 5, 0), Err(SplitError::EmptyInput));
    }

    #[test]
    fn fraction_errors() {
        for fraction in [0.0, 1.0, -0.1, 1.5, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                holdout(10, fraction, 0),
                Err(SplitError::InvalidFraction { .. })
            ));
            assert!(matches!(
                stratified_holdout(&[0, 0, 1, 1], fraction, 0),
                Err(SplitError::InvalidFraction { .. })
            ));
        }
        assert_eq!(
            holdout(1, 0.5, 0),
            Err(SplitError::TooFewRowsForHoldout { n_rows: 1 })
        );
        assert_eq!(
            stratified_holdout(&[0, 1, 2], 0.5, 0),
            Err(SplitError::NoClassToSplit { n_classes: 3 })
        );
    }

    #[test]
    fn fold_count_errors() {
        for k in [0, 1] {
            assert_eq!(kfold(10, k, true, 0), Err(SplitError::TooFewFolds { k }));
            assert_eq!(
                stratified_kfold(&[0; 10], k, 0),
                Err(SplitError::TooFewFolds { k })
            );
            assert_eq!(
                group_kfold(&[0; 10], k, 0),
                Err(SplitError::TooFewFolds { k })
            );
            assert_eq!(
                time_split(&[0; 10], k, 0),
                Err(SplitError::TooFewFolds { k })
            );
        }
        let too_many = SplitError::TooManyFolds {
            k: 4,
            needed: 4,
            n_rows: 3,
        };
        assert_eq!(kfold(3, 4, false, 0), Err(too_many.clone()));
        assert_eq!(stratified_kfold(&[0, 0, 0], 4, 0), Err(too_many));
        assert!(matches!(
            kfold(3, usize::MAX, false, 0),
            Err(SplitError::TooManyFolds { .. })
        ));
        assert_eq!(
            group_kfold(&[1, 1, 2, 2, 2], 3, 0),
            Err(SplitError::TooManyFoldsForGroups { k: 3, n_groups: 2 })
        );
        // Time split needs k + 1 blocks.
        assert_eq!(
            time_split(&[0, 1, 2], 3, 0),
            Err(SplitError::TooManyFolds {
                k: 3,
                needed: 4,
                n_rows: 3
            })
        );
        assert!(matches!(
            time_split(&[0, 1, 2], usize::MAX, 0),
            Err(SplitError::TooManyFolds { .. })
        ));
    }

    #[test]
    fn gap_error_reports_largest_usable_gap() {
        let keys: Vec<i64> = (0..10).collect();
        assert_eq!(
            time_split(&keys, 3, 4),
            Err(SplitError::GapTooLarge {
                k: 3,
                gap: 4,
                n_rows: 10,
                max_gap: 3
            })
        );
        let folds = time_split(&keys, 3, 3).unwrap();
        assert_eq!(folds[0].train, vec![0]);
        assert!(time_split(&keys, 3, usize::MAX).is_err());
    }

    #[cfg(target_pointer_width = "64")]
    #[test]
    fn row_count_overflow() {
        let n_rows = u32::MAX as usize + 1;
        assert_eq!(
            kfold(n_rows, 5, true, 0),
            Err(SplitError::TooManyRows { n_rows })
        );
        assert_eq!(
            holdout(n_rows, 0.2, 0),
            Err(SplitError::TooManyRows { n_rows })
        );
        let msg = SplitError::TooManyRows { n_rows }.to_string();
        assert!(msg.contains("4294967295"), "{msg}");
    }

    #[test]
    fn messages_say_how_to_fix() {
        let cases = [
            SplitError::EmptyInput,
            SplitError::TooFewFolds { k: 1 },
            SplitError::TooManyFolds {
                k: 5,
                needed: 5,
                n_rows: 3,
            },
            SplitError::TooManyFoldsForGroups { k: 5, n_groups: 2 },
            SplitError::InvalidFraction { fraction: 1.5 },
            SplitError::TooFewRowsForHoldout { n_rows: 1 },
            SplitError::NoClassToSplit { n_classes: 3 },
            SplitError::GapTooLarge {
                k: 3,
                gap: 4,
                n_rows: 10,
                max_gap: 3,
            },
        ];
        for err in cases {
            let msg = err.to_string();
            assert!(msg.len() > 40, "{msg}");
        }
        assert!(
            SplitError::GapTooLarge {
                k: 3,
                gap: 4,
                n_rows: 10,
                max_gap: 3
            }
            .to_string()
            .contains("at most 3 rows")
        );
    }

    #[test]
    fn fold_serde_round_trip() {
        let fold = holdout(10, 0.3, 1).unwrap();
        let json = serde_json::to_string(&fold).unwrap();
        assert_eq!(serde_json::from_str::<Fold>(&json).unwrap(), fold);
    }
}
