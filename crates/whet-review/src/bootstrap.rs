//! Seeded, stratified bootstrap resamples as row counts.
//!
//! A resample is a vector of counts, one per row: how often the row was drawn. A metric
//! weighs a row drawn twice exactly like the row twice, so every metric is computed on a
//! resample without copying data (see `Scored::resample_values`), and two models scored on the
//! same rows see the same resample (the paired bootstrap of `compare`). Classification resamples draw within
//! each class, so every resample keeps the class counts of the data (stratified). Resample `b`
//! depends only on the seed and `b`, never on the thread that computes it.
//!
//! From [`BLB_MIN_ROWS`] rows on, intervals come from the bag of little bootstraps (Kleiner,
//! Talwalkar, Sarkar and Jordan, 2014) instead: a resample of a million rows would walk a
//! million rows, while a little bootstrap's resample walks a subset of about n^0.7 rows with
//! multinomial counts that sum to the whole data's size (see [`intervals`]).

use rayon::prelude::*;
use serde::Serialize;
use whet_data::rng::Rng;

use crate::stats::quantile_sorted;

/// How intervals are computed.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct BootstrapSpec {
    pub resamples: usize,
    pub seed: u64,
    /// 0.95 for 95% intervals.
    pub confidence: f64,
    /// Data of at least this many rows gets the bag of little bootstraps (default
    /// [`BLB_MIN_ROWS`]); below it, the exact bootstrap.
    pub blb_min_rows: usize,
}

impl Default for BootstrapSpec {
    fn default() -> Self {
        BootstrapSpec {
            resamples: 1000,
            seed: 0,
            confidence: 0.95,
            blb_min_rows: BLB_MIN_ROWS,
        }
    }
}

impl BootstrapSpec {
    /// The spec of the bootstrap of slice `index` (each slice draws its own resamples).
    pub fn for_slice(&self, index: usize) -> BootstrapSpec {
        BootstrapSpec {
            seed: Rng::new(self.seed ^ 0x5_11CE).fork(index as u64).next_u64(),
            ..*self
        }
    }
}

/// Rows grouped into strata (classes); regression has one stratum.
#[derive(Clone, Debug)]
pub struct Strata {
    pub n_rows: usize,
    pub groups: Vec<Vec<u32>>,
}

impl Strata {
    /// One stratum per class for classification (`n_classes > 1`), else one for all rows.
    pub fn by_class(y: &[f64], n_classes: usize) -> Strata {
        if n_classes <= 1 {
            return Strata {
                n_rows: y.len(),
                groups: vec![(0..y.len() as u32).collect()],
            };
        }
        let mut groups = vec![Vec::new(); n_classes];
        for (i, &v) in y.iter().enumerate() {
            let c = (v.max(0.0) as usize).min(n_classes - 1);
            groups[c].push(i as u32);
        }
        groups.retain(|g| !g.is_empty());
        Strata {
            n_rows: y.len(),
            groups,
        }
    }

    /// A subset of the rows (`rows` indexes the full data), with the same grouping.
    pub fn restrict(&self, y: &[f64], n_classes: usize, rows: &[u32]) -> Strata {
        let sub: Vec<f64> = rows.iter().map(|&r| y[r as usize]).collect();
        Strata::by_class(&sub, n_classes)
    }

    /// The counts of resample `b` into `counts` (resized to the rows): within each stratum, as
    /// many draws with replacement as it has rows. The buffer is reused across resamples, so
    /// a million-row resample costs its draws, not an allocation.
    ///
    /// A count is one byte, so a million rows' counts stay in cache while they are drawn. It
    /// cannot pass 255 in a stratum of at most 255 rows; in a larger one the chance that a
    /// row is drawn 256 times is below 1e-500, and the count saturates rather than wraps.
    pub fn fill_counts(&self, seed: u64, b: usize, counts: &mut Vec<u8>) {
        counts.clear();
        counts.resize(self.n_rows, 0);
        let mut rng = Rng::new(seed).fork(b as u64 + 1);
        // Draws count positions within a stratum first (a stratum-sized array that stays in
        // cache), then move them to the stratum's rows in one sequential read of its row
        // list: drawing `g[random]` directly would read the row list at random, a cache miss
        // per draw on a million rows.
        let mut drawn: Vec<u8> = Vec::new();
        for g in &self.groups {
            let n = g.len() as u64;
            drawn.clear();
            drawn.resize(g.len(), 0);
            for _ in 0..n {
                let c = &mut drawn[rng.below(n) as usize];
                *c = c.saturating_add(1);
            }
            for (&row, &c) in g.iter().zip(&drawn) {
                counts[row as usize] = c;
            }
        }
    }
}

/// How an interval was computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IntervalKind {
    /// Percentile bootstrap (stratified resamples of all the rows it covers).
    Bootstrap,
    /// Normal interval with the influence (delta-method) standard error; DeLong's for ROC AUC.
    Influence,
    /// Bag of little bootstraps: the value on all rows plus the percentile ends of the
    /// subsets' pooled deviations (see [`intervals`]).
    #[serde(rename = "blb")]
    LittleBootstraps,
}

impl IntervalKind {
    /// The method in a few words, for reports.
    pub fn label(self) -> &'static str {
        match self {
            IntervalKind::Bootstrap => "percentile bootstrap",
            IntervalKind::Influence => "influence (normal)",
            IntervalKind::LittleBootstraps => "bag of little bootstraps",
        }
    }
}

/// A point estimate with its interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Estimate {
    pub value: f64,
    pub lo: f64,
    pub hi: f64,
}

impl Estimate {
    pub fn point(value: f64) -> Estimate {
        Estimate {
            value,
            lo: f64::NAN,
            hi: f64::NAN,
        }
    }

    pub fn contains(&self, x: f64) -> bool {
        self.lo <= x && x <= self.hi
    }
}

/// Runs `stats` on every resample (in parallel) and returns, per statistic, the sorted finite
/// values. `stats` maps a resample's row counts to a fixed number of statistics.
pub fn replicate<F>(
    strata: &Strata,
    spec: &BootstrapSpec,
    n_stats: usize,
    stats: F,
) -> Vec<Vec<f64>>
where
    F: Fn(&[u8]) -> Vec<f64> + Sync,
{
    let rows: Vec<Vec<f64>> = (0..spec.resamples)
        .into_par_iter()
        .map_init(Vec::new, |counts, b| {
            strata.fill_counts(spec.seed, b, counts);
            stats(counts)
        })
        .collect();
    let mut per_stat = vec![Vec::with_capacity(spec.resamples); n_stats];
    for r in rows {
        for (k, v) in r.into_iter().enumerate().take(n_stats) {
            if v.is_finite() {
                per_stat[k].push(v);
            }
        }
    }
    for v in &mut per_stat {
        v.sort_unstable_by(f64::total_cmp);
    }
    per_stat
}

/// The percentile interval of sorted bootstrap values around `value`. When fewer than half the
/// resamples gave a finite value (a metric undefined on most resamples) the interval is NaN.
pub fn percentile_interval(value: f64, sorted: &[f64], spec: &BootstrapSpec) -> Estimate {
    if sorted.len() * 2 < spec.resamples.max(1) || !value.is_finite() {
        return Estimate::point(value);
    }
    let alpha = (1.0 - spec.confidence) / 2.0;
    Estimate {
        value,
        lo: quantile_sorted(sorted, alpha),
        hi: quantile_sorted(sorted, 1.0 - alpha),
    }
}

/// Rows from which [`intervals`] uses the bag of little bootstraps. Below it the exact
/// bootstrap costs at most a few hundred million row visits for 1,000 resamples, and its
/// results (and the tests' known answers) stay as they were.
pub const BLB_MIN_ROWS: usize = 200_000;

/// Resamples per little-bootstrap subset: Kleiner et al. find 50–100 enough; the subsets are
/// `resamples / 100`, so the total stays the resample count asked for.
const BLB_RESAMPLES_PER_SUBSET: usize = 100;

/// A subset's rows per stratum are n_c^0.7 (Kleiner et al.'s γ = 0.7), but at least n_c / 64,
/// so a row's expected count stays at most 64 and its one-byte count never nears 255.
const BLB_GAMMA: f64 = 0.7;
const BLB_MAX_MEAN_COUNT: usize = 64;

/// The Poisson(λ) distribution as a table of its cumulative probabilities, for drawing a
/// count with one uniform number.
struct PoissonTable {
    cdf: Vec<f64>,
}

impl PoissonTable {
    fn new(lambda: f64) -> PoissonTable {
        // λ ≤ 64 here, so e^−λ does not underflow; the table stops where the tail is below
        // 1e-17 (a uniform number cannot tell the difference) or at 255.
        let mut p = (-lambda).exp();
        let (mut total, mut cdf) = (p, vec![p]);
        for k in 1..=255u32 {
            if 1.0 - total < 1e-17 {
                break;
            }
            p *= lambda / f64::from(k);
            total += p;
            cdf.push(total);
        }
        PoissonTable { cdf }
    }

    fn draw(&self, rng: &mut Rng) -> u8 {
        let u = rng.next_f64();
        self.cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len() - 1) as u8
    }
}

/// One little bootstrap's subset: its rows (ascending data rows) and, per stratum, the
/// positions of that stratum's rows within it and the stratum's size in the whole data.
pub struct LittleSubset {
    pub rows: Vec<u32>,
    local: Vec<Vec<u32>>,
    totals: Vec<usize>,
    tables: Vec<PoissonTable>,
}

impl LittleSubset {
    /// Each row's expected count (its stratum's size over its rows in the subset), as the
    /// weights of the subset's own value: the subset with the whole data's class mix.
    pub fn mean_weights(&self) -> Vec<f64> {
        let mut w = vec![0.0; self.rows.len()];
        for (pos, &total) in self.local.iter().zip(&self.totals) {
            let lambda = total as f64 / pos.len().max(1) as f64;
            for &p in pos {
                w[p as usize] = lambda;
            }
        }
        w
    }

    /// The counts of one resample into `counts`: within each stratum, a multinomial draw of
    /// the stratum's whole size over its subset rows. Independent Poisson counts are
    /// multinomial given their total; the total is then brought to the stratum's size by
    /// removing uniformly chosen draws (or adding uniform ones), which keeps the counts
    /// multinomial, exactly. Costs a draw per subset row plus about √n corrections.
    fn fill_counts(&self, rng: &mut Rng, counts: &mut Vec<u8>) {
        counts.clear();
        counts.resize(self.rows.len(), 0);
        for ((pos, &total), table) in self.local.iter().zip(&self.totals).zip(&self.tables) {
            let mut drawn = 0usize;
            let mut most = 1u8;
            for &p in pos {
                let c = table.draw(rng);
                counts[p as usize] = c;
                drawn += usize::from(c);
                most = most.max(c);
            }
            let n = pos.len() as u64;
            while drawn > total {
                // A draw chosen uniformly: a row with probability proportional to its count.
                let p = pos[rng.below(n) as usize] as usize;
                if rng.below(u64::from(most)) < u64::from(counts[p]) {
                    counts[p] -= 1;
                    drawn -= 1;
                }
            }
            while drawn < total {
                let p = pos[rng.below(n) as usize] as usize;
                if counts[p] < u8::MAX {
                    counts[p] += 1;
                    drawn += 1;
                }
            }
        }
    }
}

impl Strata {
    /// Rows per stratum in a little-bootstrap subset.
    fn little_sizes(&self) -> Vec<usize> {
        self.groups
            .iter()
            .map(|g| {
                let n = g.len();
                ((n as f64).powf(BLB_GAMMA).ceil() as usize)
                    .max(n.div_ceil(BLB_MAX_MEAN_COUNT))
                    .clamp(1, n.max(1))
            })
            .collect()
    }

    /// Little-bootstrap subset `j`: in each stratum, its share of rows drawn without
    /// replacement (Floyd's algorithm).
    pub fn little_subset(&self, seed: u64, j: usize) -> LittleSubset {
        let mut rng = Rng::new(seed ^ 0xB1B).fork(j as u64);
        let sizes = self.little_sizes();
        let mut tagged: Vec<(u32, usize)> = Vec::with_capacity(sizes.iter().sum());
        for (c, (g, &b)) in self.groups.iter().zip(&sizes).enumerate() {
            let n = g.len();
            let mut taken = vec![false; n];
            for top in n - b..n {
                let mut t = rng.below(top as u64 + 1) as usize;
                if taken[t] {
                    t = top;
                }
                taken[t] = true;
            }
            tagged.extend(
                g.iter()
                    .zip(&taken)
                    .filter(|(_, t)| **t)
                    .map(|(&row, _)| (row, c)),
            );
        }
        tagged.sort_unstable();
        let mut local = vec![Vec::new(); self.groups.len()];
        for (p, &(_, c)) in tagged.iter().enumerate() {
            local[c].push(p as u32);
        }
        let totals: Vec<usize> = self.groups.iter().map(Vec::len).collect();
        let tables = local
            .iter()
            .zip(&totals)
            .map(|(pos, &t)| PoissonTable::new(t as f64 / pos.len().max(1) as f64))
            .collect();
        LittleSubset {
            rows: tagged.into_iter().map(|(r, _)| r).collect(),
            local,
            totals,
            tables,
        }
    }
}

/// Intervals of `point.len()` statistics, and how they were computed.
///
/// Below `spec.blb_min_rows` rows: the percentile bootstrap of `exact(counts)` (counts of all
/// rows) over `spec.resamples` stratified resamples.
///
/// From it on, the bag of little bootstraps: `resamples / 100` subsets (each of about
/// n_c^0.7 rows per stratum, drawn without replacement; `prepare` builds the statistics'
/// state on a subset's rows) with 100 resamples each, every resample a multinomial draw of
/// each stratum's whole size over its subset rows, so it behaves as a resample of all n
/// rows. A subset's value with the rows' expected counts as weights (`weighted`) is its
/// centre; the deviations (resample − its subset's centre) of all subsets are pooled and
/// their percentile ends added to the value on all rows (`point`). Centring each subset on
/// itself keeps the subsets' own sampling error (of order 1/√(n^0.7), larger than the
/// interval) out of the interval. Pooling rather than averaging each subset's ends (Kleiner
/// et al.'s ξ) matters for the tails: the 2.5% quantile of only 100 resamples sits about 4%
/// inside the true one on average (a small-sample bias of tail order statistics), which
/// averaging keeps and pooling 1,000 deviations does not. The interval is the exact
/// bootstrap's percentile interval as the subsets estimate it.
pub fn intervals<S, E, P, F, W>(
    strata: &Strata,
    spec: &BootstrapSpec,
    point: &[f64],
    exact: E,
    prepare: P,
    stats: F,
    weighted: W,
) -> (Vec<Estimate>, IntervalKind)
where
    S: Sync + Send,
    E: Fn(&[u8]) -> Vec<f64> + Sync,
    P: Fn(&[u32]) -> S + Sync,
    F: Fn(&S, &[u8]) -> Vec<f64> + Sync,
    W: Fn(&S, &[f64]) -> Vec<f64> + Sync,
{
    let n_stats = point.len();
    if strata.n_rows < spec.blb_min_rows.max(1) {
        let reps = replicate(strata, spec, n_stats, exact);
        let est = point
            .iter()
            .zip(&reps)
            .map(|(&v, r)| percentile_interval(v, r, spec))
            .collect();
        return (est, IntervalKind::Bootstrap);
    }
    let per = BLB_RESAMPLES_PER_SUBSET.min(spec.resamples.max(1));
    let subsets = spec.resamples.div_ceil(per).max(1);
    let prepared: Vec<(LittleSubset, S, Vec<f64>)> = (0..subsets)
        .into_par_iter()
        .map(|j| {
            let sub = strata.little_subset(spec.seed, j);
            let state = prepare(&sub.rows);
            let centre = weighted(&state, &sub.mean_weights());
            (sub, state, centre)
        })
        .collect();
    let values: Vec<Vec<f64>> = (0..subsets * per)
        .into_par_iter()
        .map_init(Vec::new, |counts, i| {
            let (j, k) = (i / per, i % per);
            let (sub, state, _) = &prepared[j];
            let mut rng = Rng::new(spec.seed ^ 0xB1B)
                .fork(j as u64)
                .fork(k as u64 + 1);
            sub.fill_counts(&mut rng, counts);
            stats(state, counts)
        })
        .collect();
    let alpha = (1.0 - spec.confidence) / 2.0;
    let est = point
        .iter()
        .enumerate()
        .map(|(k, &v)| {
            // Every subset's deviations from its own centre, pooled.
            let mut dev: Vec<f64> = Vec::with_capacity(subsets * per);
            for (j, (_, _, centre)) in prepared.iter().enumerate() {
                let c = centre.get(k).copied().unwrap_or(f64::NAN);
                if c.is_finite() {
                    dev.extend(
                        values[j * per..(j + 1) * per]
                            .iter()
                            .filter_map(|r| r.get(k).copied())
                            .filter(|r| r.is_finite())
                            .map(|r| r - c),
                    );
                }
            }
            // As for the exact bootstrap: undefined on most resamples, no interval.
            if dev.len() * 2 < subsets * per || !v.is_finite() {
                return Estimate::point(v);
            }
            dev.sort_unstable_by(f64::total_cmp);
            Estimate {
                value: v,
                lo: v + quantile_sorted(&dev, alpha),
                hi: v + quantile_sorted(&dev, 1.0 - alpha),
            }
        })
        .collect();
    (est, IntervalKind::LittleBootstraps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resamples_keep_class_counts_and_are_seeded() {
        let y: Vec<f64> = (0..100).map(|i| f64::from(u8::from(i % 4 == 0))).collect();
        let s = Strata::by_class(&y, 2);
        let counts = |seed, b| {
            let mut c = vec![7; 3];
            s.fill_counts(seed, b, &mut c);
            c
        };
        let w = counts(7, 3);
        let pos: u32 = w
            .iter()
            .zip(&y)
            .filter(|(_, y)| **y == 1.0)
            .map(|(&w, _)| u32::from(w))
            .sum();
        assert_eq!(pos, 25);
        assert_eq!(w.iter().map(|&c| u32::from(c)).sum::<u32>(), 100);
        assert_eq!(w, counts(7, 3));
        assert_ne!(w, counts(7, 4));
        assert_ne!(w, counts(8, 3));
    }

    /// The 95% interval of a mean covers the true mean in about 95% of samples.
    #[test]
    fn percentile_interval_of_a_mean_covers_at_the_nominal_rate() {
        let spec = BootstrapSpec {
            resamples: 400,
            seed: 11,
            confidence: 0.95,
            ..Default::default()
        };
        let mut rng = Rng::new(5);
        let (replicates, n) = (200, 150);
        let mut covered = 0;
        for _ in 0..replicates {
            // Exponential(1): skewed, true mean 1.
            let x: Vec<f64> = (0..n).map(|_| -(1.0 - rng.next_f64()).ln()).collect();
            let strata = Strata::by_class(&x, 1);
            let mean = |w: &[u8]| {
                let total: f64 = w.iter().map(|&c| f64::from(c)).sum();
                vec![x.iter().zip(w).map(|(x, &c)| x * f64::from(c)).sum::<f64>() / total]
            };
            let value = mean(&vec![1; n])[0];
            let reps = replicate(&strata, &spec, 1, mean);
            covered += usize::from(percentile_interval(value, &reps[0], &spec).contains(1.0));
        }
        let rate = covered as f64 / replicates as f64;
        // Percentile intervals of a skewed mean at n = 150 run slightly under 95%; far below
        // (a wrong quantile, unweighted resamples) or at 100% (no resampling) fails.
        assert!((0.90..=0.985).contains(&rate), "coverage {rate}");
    }

    /// A little bootstrap's resample: per stratum, counts that sum to the stratum's whole
    /// size over the subset's rows, spread as a multinomial (mean n_c/b_c, variance
    /// n_c/b_c · (1 − 1/b_c)), seeded.
    #[test]
    fn little_subsets_draw_stratified_multinomial_counts() {
        let n = 50_000;
        let y: Vec<f64> = (0..n).map(|i| f64::from(u8::from(i % 5 == 0))).collect();
        let strata = Strata::by_class(&y, 2);
        let sub = strata.little_subset(4, 0);
        assert!(
            sub.rows.windows(2).all(|w| w[0] < w[1]),
            "rows ascending, distinct"
        );
        assert_eq!(sub.rows, strata.little_subset(4, 0).rows);
        assert_ne!(sub.rows, strata.little_subset(4, 1).rows);
        // 10,000 positives → ⌈10,000^0.7⌉ = 631 rows; 40,000 negatives → 1,666.
        let positives = sub.rows.iter().filter(|&&r| y[r as usize] == 1.0).count();
        assert_eq!((positives, sub.rows.len() - positives), (631, 1666));
        let w = sub.mean_weights();
        let (mut sum, mut sum2, mut cells) = (0.0, 0.0, 0.0);
        let mut rng = Rng::new(3);
        let mut counts = Vec::new();
        for _ in 0..50 {
            sub.fill_counts(&mut rng, &mut counts);
            let mut total = [0u64; 2];
            for (&r, &c) in sub.rows.iter().zip(&counts) {
                total[y[r as usize] as usize] += u64::from(c);
            }
            assert_eq!(total, [40_000, 10_000]);
            for ((&r, &c), &lambda) in sub.rows.iter().zip(&counts).zip(&w) {
                if y[r as usize] == 1.0 {
                    assert!((lambda - 10_000.0 / 631.0).abs() < 1e-12);
                    let d = f64::from(c) - lambda;
                    (sum, sum2, cells) = (sum + d, sum2 + d * d, cells + 1.0);
                }
            }
        }
        let lambda = 10_000.0 / 631.0;
        let var = sum2 / cells;
        assert!((sum / cells).abs() < 1e-9, "counts sum exactly");
        let want = lambda * (1.0 - 1.0 / 631.0);
        // 31,550 cells: the variance's standard error is about 0.8% of it.
        assert!((var / want - 1.0).abs() < 0.05, "variance {var} vs {want}");
    }

    /// The bag of little bootstraps' interval of a mean has the exact bootstrap's width and
    /// covers the true mean at about the nominal rate.
    #[test]
    fn little_bootstrap_interval_of_a_mean_matches_the_exact_one_and_covers() {
        let mut rng = Rng::new(21);
        let little = BootstrapSpec {
            resamples: 1000,
            seed: 2,
            confidence: 0.95,
            blb_min_rows: 0,
        };
        let exact = BootstrapSpec {
            blb_min_rows: usize::MAX,
            ..little
        };
        let mean_of = |x: &[f64], w: &[f64]| {
            let total: f64 = w.iter().sum();
            vec![x.iter().zip(w).map(|(x, w)| x * w).sum::<f64>() / total]
        };
        let interval = |x: &[f64], spec: &BootstrapSpec| {
            let strata = Strata::by_class(x, 1);
            let ones = vec![1.0; x.len()];
            let to_w = |c: &[u8]| c.iter().map(|&c| f64::from(c)).collect::<Vec<f64>>();
            intervals(
                &strata,
                spec,
                &mean_of(x, &ones),
                |c| mean_of(x, &to_w(c)),
                |rows| rows.iter().map(|&r| x[r as usize]).collect::<Vec<f64>>(),
                |sub, c| mean_of(sub, &to_w(c)),
                |sub, w| mean_of(sub, w),
            )
        };
        // Exponential(1): skewed, true mean 1, standard deviation 1.
        let x: Vec<f64> = (0..20_000).map(|_| -(1.0 - rng.next_f64()).ln()).collect();
        let (e, kind) = interval(&x, &exact);
        let (l, little_kind) = interval(&x, &little);
        assert_eq!(
            (kind, little_kind),
            (IntervalKind::Bootstrap, IntervalKind::LittleBootstraps)
        );
        let (we, wl) = (e[0].hi - e[0].lo, l[0].hi - l[0].lo);
        assert!((wl / we - 1.0).abs() < 0.08, "widths {wl} vs exact {we}");
        assert!(((e[0].lo + e[0].hi) / 2.0 - (l[0].lo + l[0].hi) / 2.0).abs() < 0.1 * we);
        let spec = BootstrapSpec {
            resamples: 400,
            ..little
        };
        let (replicates, mut covered) = (200, 0);
        for _ in 0..replicates {
            let x: Vec<f64> = (0..3_000).map(|_| -(1.0 - rng.next_f64()).ln()).collect();
            covered += usize::from(interval(&x, &spec).0[0].contains(1.0));
        }
        let rate = covered as f64 / replicates as f64;
        assert!((0.90..=0.985).contains(&rate), "coverage {rate}");
    }
}
