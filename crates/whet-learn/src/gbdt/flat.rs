//! Trees recompiled for single-row latency: 16-byte nodes in one array, f32 thresholds and
//! several trees walked in lockstep.
//!
//! A walk down one tree is a chain of dependent loads (node → feature value → compare → next
//! node), so one tree at a time leaves the core waiting on each load. Walking `LANES` trees side
//! by side gives it independent chains to overlap. Leaves are nodes whose children are
//! themselves, so a lane that reached its leaf keeps stepping in place without a branch until the
//! last lane of the group is done.
//!
//! The layout is derived from `Tree` (the serialized form), never saved, and gives decisions
//! identical to `Tree::leaf_index`: see `threshold_f32` and the tests.

use std::sync::OnceLock;

use super::tree::{DenseRow, RowView, Tree};

/// Trees walked together: enough independent chains to hide load latency (other widths untried).
pub(crate) const LANES: usize = 8;

const DEFAULT_LEFT: u32 = 1 << 31;
const CATEGORICAL: u32 = 1 << 30;
const FEATURE_MASK: u32 = CATEGORICAL - 1;

#[derive(Clone, Copy, Debug)]
#[repr(C, align(16))]
struct FlatNode {
    /// Numeric split: `value <= threshold` goes left. Categorical split: the `cat_sets` index,
    /// as bits.
    threshold: f32,
    /// Feature index, plus the DEFAULT_LEFT and CATEGORICAL flags in the top bits.
    feature: u32,
    left: u32,
    right: u32,
}

/// The largest f32 at or below `t`: for every f32 `v`, `v <= threshold_f32(t)` exactly when
/// `f64::from(v) <= t`, so comparing in f32 decides as the f64 threshold does.
/// (If `v <= r` then `v <= r <= t`; if `v <= t` then `v` is an f32 at or below `t`, so at most
/// the largest one, `r`. NaN thresholds stay NaN and fail every comparison either way.)
pub(crate) fn threshold_f32(t: f64) -> f32 {
    let r = t as f32;
    if f64::from(r) <= t || r.is_nan() {
        return r;
    }
    // `t as f32` rounded up (to nearest), so step one f32 down. `r` is not -inf here, since
    // rounding up never produces it, and it is not NaN.
    let bits = r.to_bits();
    let down = if r == 0.0 {
        // Below ±0 comes the negative smallest subnormal.
        0x8000_0001
    } else if r > 0.0 {
        bits - 1
    } else {
        bits + 1
    };
    f32::from_bits(down)
}

#[derive(Clone, Debug, Default)]
pub(crate) struct FlatForest {
    nodes: Vec<FlatNode>,
    /// Leaf value by node index (0 for internal nodes).
    values: Vec<f64>,
    /// Root node of each tree, in tree order.
    roots: Vec<u32>,
    cat_sets: Vec<[u64; 4]>,
    has_categorical: bool,
    /// Whether any tree splits at all; without splits no feature is read.
    has_splits: bool,
}

impl FlatForest {
    pub(crate) fn new(trees: &[Tree]) -> FlatForest {
        let mut f = FlatForest::default();
        for t in trees {
            let root = f.nodes.len() as u32;
            f.roots.push(root);
            let cat_base = f.cat_sets.len() as u32;
            f.cat_sets.extend_from_slice(&t.cat_sets);
            f.has_splits |= !t.nodes.is_empty();
            if t.nodes.is_empty() {
                f.push_leaf(t.leaf_value[0]);
            } else {
                f.push_subtree(t, 0, cat_base);
            }
        }
        f
    }

    pub(crate) fn n_trees(&self) -> usize {
        self.roots.len()
    }

    fn push_leaf(&mut self, value: f64) -> u32 {
        let at = self.nodes.len() as u32;
        self.nodes.push(FlatNode {
            threshold: f32::INFINITY,
            feature: 0,
            left: at,
            right: at,
        });
        self.values.push(value);
        at
    }

    /// Depth-first, left child right after its parent, so a walk mostly moves forward in memory.
    fn push_subtree(&mut self, t: &Tree, child: i32, cat_base: u32) -> u32 {
        if child < 0 {
            return self.push_leaf(t.leaf_value[!child as usize]);
        }
        let n = &t.nodes[child as usize];
        let at = self.nodes.len();
        let mut feature = n.feature;
        let threshold = if n.cat_set >= 0 {
            self.has_categorical = true;
            feature |= CATEGORICAL;
            f32::from_bits(cat_base + n.cat_set as u32)
        } else {
            threshold_f32(n.threshold)
        };
        if n.default_left {
            feature |= DEFAULT_LEFT;
        }
        self.nodes.push(FlatNode {
            threshold,
            feature,
            left: 0,
            right: 0,
        });
        self.values.push(0.0);
        let left = self.push_subtree(t, n.left, cat_base);
        let right = self.push_subtree(t, n.right, cat_base);
        self.nodes[at].left = left;
        self.nodes[at].right = right;
        at as u32
    }

    /// Adds each tree's leaf value to `sums[tree % sums.len()]` in tree order, as the tree-by-tree
    /// loop does, so the floating-point sums are the same bits.
    #[inline]
    pub(crate) fn accumulate(&self, row: &DenseRow, sums: &mut [f64]) {
        if !self.has_splits {
            self.add_in_order(&self.roots, sums, 0);
        } else if self.has_categorical {
            self.accumulate_with::<true>(row, sums);
        } else {
            self.accumulate_with::<false>(row, sums);
        }
    }

    #[inline]
    fn add_in_order(&self, leaves: &[u32], sums: &mut [f64], mut out: usize) -> usize {
        for &l in leaves {
            sums[out] += self.values[l as usize];
            out += 1;
            if out == sums.len() {
                out = 0;
            }
        }
        out
    }

    #[inline]
    fn accumulate_with<const CAT: bool>(&self, row: &DenseRow, sums: &mut [f64]) {
        let mut out = 0;
        let mut groups = self.roots.chunks_exact(LANES);
        for g in &mut groups {
            let mut at = [0u32; LANES];
            at.copy_from_slice(g);
            self.walk::<CAT>(&mut at, row);
            out = self.add_in_order(&at, sums, out);
        }
        let rest = groups.remainder();
        let mut at = [0u32; LANES];
        at[..rest.len()].copy_from_slice(rest);
        self.walk::<CAT>(&mut at[..rest.len()], row);
        self.add_in_order(&at[..rest.len()], sums, out);
    }

    #[inline]
    fn walk<const CAT: bool>(&self, at: &mut [u32], row: &DenseRow) {
        let x = row.values;
        loop {
            let mut moved = false;
            for a in at.iter_mut() {
                let n = &self.nodes[*a as usize];
                let go_left = if CAT && n.feature & CATEGORICAL != 0 {
                    self.categorical_left(n, row)
                } else {
                    let v = x[(n.feature & FEATURE_MASK) as usize];
                    // NaN fails `<=`; it goes left only with a default-left flag.
                    (v <= n.threshold) | ((n.feature & DEFAULT_LEFT != 0) & v.is_nan())
                };
                let next = if go_left { n.left } else { n.right };
                moved |= next != *a;
                *a = next;
            }
            if !moved {
                return;
            }
        }
    }

    #[inline]
    fn categorical_left(&self, n: &FlatNode, row: &DenseRow) -> bool {
        match row.code((n.feature & FEATURE_MASK) as usize) {
            None => n.feature & DEFAULT_LEFT != 0,
            Some(c) => {
                let set = &self.cat_sets[n.threshold.to_bits() as usize];
                c < 256 && (set[(c >> 6) as usize] >> (c & 63)) & 1 == 1
            }
        }
    }
}

/// A model's `FlatForest`, built from its trees on first use. Not serialized: model files keep
/// the `Tree` form, and a loaded model builds this when it first predicts.
#[derive(Clone, Default)]
pub(crate) struct FlatCache(OnceLock<FlatForest>);

impl FlatCache {
    #[inline]
    pub(crate) fn get(&self, trees: &[Tree]) -> &FlatForest {
        self.0.get_or_init(|| FlatForest::new(trees))
    }
}

/// Derived data: two models are equal when their trees are, built cache or not.
impl PartialEq for FlatCache {
    fn eq(&self, _: &FlatCache) -> bool {
        true
    }
}

impl std::fmt::Debug for FlatCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "FlatCache(built)"
        } else {
            "FlatCache(empty)"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use whet_data::prep::{Feature, FeatureData, Features};
    use whet_data::rng::Rng;

    /// Up to `n` representable f32 steps either side of `v` (crossing zero and infinities as
    /// total order does), and `v` itself.
    fn neighbours(v: f32, n: i64) -> Vec<f32> {
        // Map the f32 bits onto a monotone integer line, step, map back.
        let key = |x: f32| {
            let b = i64::from(x.to_bits());
            if b & 0x8000_0000 != 0 {
                -(b & 0x7fff_ffff)
            } else {
                b
            }
        };
        let unkey = |k: i64| {
            if k < 0 {
                f32::from_bits(((-k) as u32) | 0x8000_0000)
            } else {
                f32::from_bits(k as u32)
            }
        };
        let k = key(v);
        (-n..=n)
            .map(|d| unkey((k + d).clamp(-0x7f80_0000, 0x7f80_0000)))
            .collect()
    }

    fn assert_same_decisions(t: f64, values: &[f32]) {
        let r = threshold_f32(t);
        for &v in values {
            assert_eq!(
                v <= r,
                f64::from(v) <= t,
                "threshold {t:e} (f32 {r:e}), value {v:e}"
            );
        }
    }

    #[test]
    fn f32_threshold_decides_as_f64_on_bin_boundaries_and_random_values() {
        let mut rng = Rng::new(7);
        let specials = [
            0.0f32,
            -0.0,
            f32::MIN_POSITIVE,
            -f32::MIN_POSITIVE,
            f32::from_bits(1),
            f32::from_bits(0x8000_0001),
            f32::MAX,
            f32::MIN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            1.0,
            -1.0,
        ];
        let mut thresholds: Vec<f64> = vec![
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::MAX,
            f64::MIN,
            1e-50,
            -1e-50,
            f64::from(f32::MAX) * 1.5,
            -f64::from(f32::MAX) * 1.5,
            f64::from(f32::MIN_POSITIVE) / 3.0,
        ];
        // Real bin boundaries: midpoints between adjacent sample values, which usually fall
        // between two f32s, at several scales and with ties and adjacent floats.
        for scale in [1e-30f64, 1e-3, 1.0, 1e3, 1e30] {
            let mut col: Vec<f32> = (0..5000)
                .map(|i| {
                    let v = (rng.next_f64() - 0.3) * scale;
                    let v = if i % 7 == 0 {
                        (v * 10.0).round() / 10.0
                    } else {
                        v
                    };
                    v as f32
                })
                .collect();
            let base = col[0];
            col.extend(neighbours(base, 3));
            let x = Features {
                n_rows: col.len(),
                columns: vec![Feature {
                    name: "x".into(),
                    data: FeatureData::Numeric(col),
                }],
            };
            let binned = crate::binning::BinnedData::fit(&x, 255).unwrap();
            if let crate::binning::BinKind::Numeric { upper_bounds } = &binned.mappers[0].kind {
                thresholds.extend(upper_bounds);
            }
        }
        for _ in 0..2000 {
            let e = (rng.next_f64() - 0.5) * 80.0;
            thresholds.push((rng.next_f64() - 0.5) * 10f64.powf(e));
        }
        for &t in &thresholds {
            let mut values: Vec<f32> = specials.to_vec();
            values.extend(neighbours(t as f32, 4));
            for _ in 0..50 {
                let spread = 1.0 + rng.next_f64() * 1e-6;
                values.push((t * spread) as f32);
                values.push((t / spread) as f32);
                values.push(f32::from_bits(rng.next_u64() as u32));
            }
            assert_same_decisions(t, &values);
        }
    }
}
