//! Trees recompiled for prediction: 12-byte nodes in one array, f32 thresholds, several trees
//! walked in lockstep, and batches walked tree group by tree group over blocks of rows.
//!
//! A walk down one tree is a chain of dependent loads (node → feature value → compare → next
//! node), so one tree at a time leaves the core waiting on each load. Walking `LANES` trees side
//! by side gives it independent chains to overlap. Nodes are laid out depth-first, each node's
//! first child right after it, and a step is one comparison whose result indexes the node's two
//! child offsets (an indexed load, where a select could become a mispredicted branch). A
//! numeric node whose missing values go left is mirrored (children swapped, value negated,
//! see `mirrored_threshold`) so that NaN, which fails every comparison, goes to the second
//! child at every node: no separate missing-value test. Leaves are nodes that are their own
//! second child with a NaN threshold, so a lane that reached its leaf steps in place, without a
//! branch, until the last lane of its group is done.
//!
//! The layout is derived from `Tree` (the serialized form), never saved, and gives decisions
//! identical to `Tree::leaf_index`: see `threshold_f32` and the tests.

use std::sync::OnceLock;

use super::tree::{DenseRow, RowView, Tree};

/// Trees walked together: enough independent chains to hide load latency (4 and 16 measured
/// slower on 100 trees of 31 leaves).
pub(crate) const LANES: usize = 8;

/// Categorical nodes: missing codes go left. Numeric nodes: the node is mirrored (see
/// `mirrored_threshold`), and the value's sign bit is flipped before comparing. One bit for
/// both, the sign bit, so the flip is `bits ^ (feature & DEFAULT_LEFT)`.
const DEFAULT_LEFT: u32 = 1 << 31;
const CATEGORICAL: u32 = 1 << 30;
const FEATURE_MASK: u32 = CATEGORICAL - 1;
/// Categorical nodes: the feature is the low bits, and above them the index of the set's last
/// 256-bin block (0 but for a categorical feature of more than 256 bins: see
/// `Node::threshold_bin`).
const CAT_FEATURE_BITS: u32 = 22;
const CAT_FEATURE_MASK: u32 = (1 << CAT_FEATURE_BITS) - 1;

/// Rows per block of a batch: a tree group's nodes and the block's features (row-major f32)
/// together stay within a core's L1 cache while every row of the block walks the group.
pub(crate) const BATCH_BLOCK: usize = 64;

#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct FlatNode {
    /// Numeric split: `value <= threshold` (the value's sign flipped in mirrored nodes) goes
    /// to the first child, everything else (NaN included) to the second. Categorical split: the
    /// `cat_sets` index, as bits; the first child is the left one. Leaves: NaN.
    threshold: f32,
    /// Feature index, plus the DEFAULT_LEFT and CATEGORICAL flags in the top bits.
    feature: u32,
    /// Nodes from this one to its first child (the next node, 1) and to its second child; 0
    /// and 0 for a leaf, which is its own child. Loaded by index rather than chosen by a select,
    /// which the compiler may turn into a branch that mispredicts on every other node.
    offsets: [u16; 2],
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

/// A numeric node whose missing values go left, mirrored so that they go to the second child
/// like every other node's: the first child is the right one, taken when `-v <= mirrored
/// threshold`, i.e. when `v > t` (`t` the node's f32 threshold). For f32 `v`, `v > t` exactly
/// when `-v < -t`, i.e. `-v <=` the largest f32 below `-t`; `t = +inf` admits no `v` (a NaN
/// threshold fails every comparison) and a NaN `t` admits every non-NaN `v` (+inf).
pub(crate) fn mirrored_threshold(t: f32) -> f32 {
    if t.is_nan() {
        f32::INFINITY
    } else if t == f32::INFINITY {
        f32::NAN
    } else {
        let m = -t;
        let bits = m.to_bits();
        // The next f32 down from `m` (finite or +inf): below ±0 the negative smallest subnormal.
        f32::from_bits(if m == 0.0 {
            0x8000_0001
        } else if m > 0.0 {
            bits - 1
        } else {
            bits + 1
        })
    }
}

/// Up to `LANES` consecutive trees walked together.
#[derive(Clone, Copy, Debug)]
struct Group {
    /// Root node of each tree; lanes past `len` start at node 0, a leaf, and are not added.
    roots: [u32; LANES],
    len: u32,
    /// Output (`tree % n_outputs`) of the group's first tree.
    first_output: u32,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct FlatForest {
    nodes: Vec<FlatNode>,
    /// Leaf value by node index (0 for internal nodes).
    values: Vec<f64>,
    groups: Vec<Group>,
    n_trees: usize,
    n_outputs: usize,
    cat_sets: Vec<[u64; 4]>,
    has_categorical: bool,
    /// Features a row must hold: one more than the largest feature any node reads (0 without
    /// splits).
    n_features_read: usize,
}

impl FlatForest {
    /// The forest of `trees`, whose tree `i` adds to output `i % n_outputs`; None when a tree is
    /// too large for the layout.
    pub(crate) fn new(trees: &[Tree], n_outputs: usize) -> Option<FlatForest> {
        let mut f = FlatForest {
            n_trees: trees.len(),
            n_outputs: n_outputs.max(1),
            ..FlatForest::default()
        };
        // Node 0: the leaf idle lanes of a short last group rest on.
        f.push_leaf(0.0);
        for (g, chunk) in trees.chunks(LANES).enumerate() {
            let mut group = Group {
                roots: [0; LANES],
                len: chunk.len() as u32,
                first_output: ((g * LANES) % f.n_outputs) as u32,
            };
            for (lane, t) in chunk.iter().enumerate() {
                let cat_base = f.cat_sets.len() as u32;
                f.cat_sets.extend_from_slice(&t.cat_sets);
                group.roots[lane] = f.nodes.len() as u32;
                if t.nodes.is_empty() {
                    f.push_leaf(t.leaf_value[0]);
                } else {
                    f.push_subtree(t, 0, cat_base)?;
                }
            }
            f.groups.push(group);
        }
        Some(f)
    }

    pub(crate) fn n_features_read(&self) -> usize {
        self.n_features_read
    }

    fn push_leaf(&mut self, value: f64) {
        self.nodes.push(FlatNode {
            threshold: f32::NAN,
            feature: 0,
            offsets: [0, 0],
        });
        self.values.push(value);
    }

    /// Pushes the subtree under `child` depth-first, left child right after its parent; returns
    /// its root's index.
    fn push_subtree(&mut self, t: &Tree, child: i32, cat_base: u32) -> Option<u32> {
        let at = self.nodes.len() as u32;
        if child < 0 {
            self.push_leaf(t.leaf_value[!child as usize]);
            return Some(at);
        }
        let n = &t.nodes[child as usize];
        let mut feature = n.feature;
        self.n_features_read = self.n_features_read.max(n.feature as usize + 1);
        let (threshold, first, second) = if n.cat_set >= 0 {
            self.has_categorical = true;
            if feature > CAT_FEATURE_MASK {
                return None;
            }
            feature |= CATEGORICAL | (u32::from(n.threshold_bin) << CAT_FEATURE_BITS);
            (f32::from_bits(cat_base + n.cat_set as u32), n.left, n.right)
        } else if n.default_left {
            (
                mirrored_threshold(threshold_f32(n.threshold)),
                n.right,
                n.left,
            )
        } else {
            (threshold_f32(n.threshold), n.left, n.right)
        };
        if n.default_left {
            feature |= DEFAULT_LEFT;
        }
        self.nodes.push(FlatNode {
            threshold,
            feature,
            offsets: [1, 0],
        });
        self.values.push(0.0);
        self.push_subtree(t, first, cat_base)?;
        let second = self.push_subtree(t, second, cat_base)?;
        // A second child more than u16::MAX nodes on (trees of over 32k leaves) does not fit.
        self.nodes[at as usize].offsets[1] = u16::try_from(second - at).ok()?;
        Some(at)
    }

    /// Adds each tree's leaf value to `sums[tree % n_outputs]` in tree order, as the tree-by-tree
    /// loop does, so the floating-point sums are the same bits. `row` holds at least
    /// `n_features_read` values.
    #[inline]
    pub(crate) fn accumulate(&self, row: &DenseRow, sums: &mut [f64]) {
        if self.has_categorical {
            self.accumulate_with::<true>(row, sums);
        } else {
            self.accumulate_with::<false>(row, sums);
        }
    }

    #[inline]
    fn accumulate_with<const CAT: bool>(&self, row: &DenseRow, sums: &mut [f64]) {
        if CAT {
            ROW_CODES.with_borrow_mut(|codes| {
                codes.clear();
                codes.resize(self.n_features_read, 0);
                row_codes(row, codes);
                for g in &self.groups {
                    let mut at = g.roots;
                    self.walk::<CAT>(&mut at, row.values, codes);
                    self.add_group(g, &at, sums);
                }
            });
            return;
        }
        for g in &self.groups {
            let mut at = g.roots;
            self.walk::<CAT>(&mut at, row.values, &[]);
            self.add_group(g, &at, sums);
        }
    }

    /// Whether any tree splits: without splits the roots are the leaves and no feature is read
    /// (a lane at its leaf still reads feature 0, which a row without features lacks).
    #[inline]
    fn has_splits(&self) -> bool {
        self.n_features_read > 0
    }

    /// Adds the leaf values a group's lanes reached, in tree order.
    #[inline(always)]
    fn add_group(&self, g: &Group, at: &[u32; LANES], sums: &mut [f64]) {
        if self.n_outputs == 1 {
            for &a in &at[..g.len as usize] {
                sums[0] += self.values[a as usize];
            }
        } else {
            let mut out = g.first_output as usize;
            for &a in &at[..g.len as usize] {
                sums[out] += self.values[a as usize];
                out += 1;
                if out == self.n_outputs {
                    out = 0;
                }
            }
        }
    }

    /// Raw sums (as `accumulate`) for a block of rows given row-major in `values`, `nf` values
    /// a row, into `sums` (`n_outputs` a row, zeroed by the caller). Every row of the block
    /// walks one tree group before the next group starts, so the group's nodes stay in cache;
    /// each row still adds its trees in tree order.
    pub(crate) fn accumulate_block(
        &self,
        values: &[f32],
        nf: usize,
        max_code: &[u32],
        sums: &mut [f64],
    ) {
        if self.has_categorical {
            self.accumulate_block_with::<true>(values, nf, max_code, sums);
        } else {
            self.accumulate_block_with::<false>(values, nf, max_code, sums);
        }
    }

    fn accumulate_block_with<const CAT: bool>(
        &self,
        values: &[f32],
        nf: usize,
        max_code: &[u32],
        sums: &mut [f64],
    ) {
        let k = self.n_outputs;
        ROW_CODES.with_borrow_mut(|codes| {
            // The block's category codes, once per row rather than once per node.
            codes.clear();
            if CAT {
                let rows = sums.len() / k.max(1);
                codes.resize(rows * nf, 0);
                for (i, c) in codes.chunks_exact_mut(nf.max(1)).enumerate() {
                    let row = DenseRow {
                        values: &values[i * nf..(i + 1) * nf],
                        max_code,
                    };
                    row_codes(&row, c);
                }
            }
            for g in &self.groups {
                for (i, out) in sums.chunks_exact_mut(k).enumerate() {
                    let row_values = &values[i * nf..(i + 1) * nf];
                    let row_codes = if CAT {
                        &codes[i * nf..(i + 1) * nf]
                    } else {
                        &[]
                    };
                    let mut at = g.roots;
                    self.walk::<CAT>(&mut at, row_values, row_codes);
                    self.add_group(g, &at, out);
                }
            }
        });
    }

    /// Walks a group's lanes to their leaves for the row of values `x` and (for `CAT`) its
    /// category codes (see [`row_codes`]).
    #[inline(always)]
    fn walk<const CAT: bool>(&self, at: &mut [u32; LANES], x: &[f32], codes: &[u32]) {
        if !self.has_splits() {
            return;
        }
        loop {
            // Or of the offsets taken: 0 once every lane is at its leaf.
            let mut moved = 0u32;
            for a in at.iter_mut() {
                let n = &self.nodes[*a as usize];
                let first = if CAT && n.feature & CATEGORICAL != 0 {
                    self.categorical_left(n, codes)
                } else {
                    let v = x[(n.feature & FEATURE_MASK) as usize];
                    // NaN fails `<=` whatever its sign: it goes to the second child.
                    f32::from_bits(v.to_bits() ^ (n.feature & DEFAULT_LEFT)) <= n.threshold
                };
                let offset = u32::from(n.offsets[usize::from(!first)]);
                moved |= offset;
                *a += offset;
            }
            if moved == 0 {
                return;
            }
        }
    }

    /// Whether a categorical node sends the row (its category codes, see [`row_codes`]) to its
    /// first child, without a branch: which side a category goes is a coin flip to a branch
    /// predictor, and in a forest of mostly categorical nodes (a wide categorical's) the
    /// mispredictions were most of the walk. A missing code follows the node's default; a code
    /// past the set's last block goes right (the block read is clamped to the set, and its bit
    /// discarded).
    #[inline]
    fn categorical_left(&self, n: &FlatNode, codes: &[u32]) -> bool {
        let c = codes[(n.feature & CAT_FEATURE_MASK) as usize];
        let present = c != MISSING_BIN_CODE;
        let last_block = (n.feature & FEATURE_MASK) >> CAT_FEATURE_BITS;
        let block = c >> 8;
        let set = &self.cat_sets[(n.threshold.to_bits() + block.min(last_block)) as usize];
        let in_set = (block <= last_block) & ((set[((c >> 6) & 3) as usize] >> (c & 63)) & 1 == 1);
        let default_left = n.feature & DEFAULT_LEFT != 0;
        (!present & default_left) | (present & in_set)
    }
}

/// A missing category in [`row_codes`].
const MISSING_BIN_CODE: u32 = u32::MAX;

thread_local! {
    /// [`row_codes`]' output for a row or a block of rows, reused by each thread.
    static ROW_CODES: std::cell::RefCell<Vec<u32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The category bin of each of `row`'s first `codes.len()` features (`RowView::code`; a
/// missing one `MISSING_BIN_CODE`), for every feature: a numeric feature's is never read.
/// Converting once per row spares every categorical node the conversion.
#[inline]
fn row_codes(row: &DenseRow, codes: &mut [u32]) {
    for (f, c) in codes.iter_mut().enumerate() {
        *c = row.code(f).unwrap_or(MISSING_BIN_CODE);
    }
}

/// A model's `FlatForest`, built from its trees on first use. Not serialized: model files keep
/// the `Tree` form, and a loaded model builds this when it first predicts.
#[derive(Clone, Default)]
pub(crate) struct FlatCache(OnceLock<Option<FlatForest>>);

impl FlatCache {
    /// The forest, or None when the trees do not fit the layout or changed after it was built
    /// (they are public): callers then walk the trees themselves.
    #[inline]
    pub(crate) fn get(&self, trees: &[Tree], n_outputs: usize) -> Option<&FlatForest> {
        self.0
            .get_or_init(|| FlatForest::new(trees, n_outputs))
            .as_ref()
            .filter(|f| f.n_trees == trees.len())
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

    /// The f32 threshold decides as the f64 one, and the mirrored threshold sends `-v` to the
    /// first child exactly when the original node sends `v` right (and NaN never).
    fn assert_same_decisions(t: f64, values: &[f32]) {
        let r = threshold_f32(t);
        let m = mirrored_threshold(r);
        for &v in values {
            let left = f64::from(v) <= t;
            assert_eq!(v <= r, left, "threshold {t:e} (f32 {r:e}), value {v:e}");
            assert_eq!(
                -v <= m,
                !v.is_nan() && !left,
                "mirrored threshold of {t:e} (f32 {r:e}, mirrored {m:e}), value {v:e}"
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
