//! A fitted decision tree in flat arrays: no pointers, no allocation when predicting.
//!
//! Internal node i has children `nodes[i].left`/`.right`; a negative child `c` is leaf `!c`.
//! A tree that never split has no internal nodes and one leaf.

use serde::{Deserialize, Serialize};
use whet_data::prep::MISSING_CODE;

use crate::binning::BinnedData;

/// One internal node, packed so a traversal step touches one cache line.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Numeric split: a value goes left when `value <= threshold`.
    pub threshold: f64,
    pub feature: u32,
    pub left: i32,
    pub right: i32,
    /// Index of the node's category set in `Tree::cat_sets` for categorical splits; -1 numeric.
    pub cat_set: i32,
    /// The same numeric split in bins: bins `<= threshold_bin` go left. A categorical split's
    /// set is `threshold_bin + 1` consecutive entries of `Tree::cat_sets`, from `cat_set`: 256
    /// bins each, more than one only for a categorical feature of more than 256 bins.
    pub threshold_bin: u8,
    pub default_left: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(into = "TreeFile", try_from = "TreeFile")]
pub struct Tree {
    pub nodes: Vec<Node>,
    /// 256-bit blocks (four words) of the sets of categories (bins) that go left; a node's
    /// set is one block or several consecutive ones (see `Node::threshold_bin`).
    pub cat_sets: Vec<[u64; 4]>,
    pub split_gain: Vec<f64>,
    /// Sum of hessians (cover) under each internal node, for TreeSHAP.
    pub internal_cover: Vec<f64>,
    pub leaf_value: Vec<f64>,
    pub leaf_cover: Vec<f64>,
    pub leaf_count: Vec<u32>,
}

/// A tree as a model file holds it. Since model format 3 the nodes and per-node and per-leaf
/// numbers are one byte string of little-endian columns (`packed`), which decodes as a few
/// copies; format 2 wrote one MessagePack map per node and a number array per field (about
/// four times the bytes, and most of a forest's load time), and still loads.
#[derive(Serialize, Deserialize)]
struct TreeFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n_internal: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n_leaves: Option<u32>,
    /// Columns in this order: threshold f64, feature u32, left i32, right i32, cat_set i32,
    /// threshold_bin u8, default_left u8, split_gain f64, internal_cover f64 (one per internal
    /// node); leaf_value f64, leaf_cover f64, leaf_count u32 (one per leaf).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_bytes")]
    packed: Option<Vec<u8>>,
    cat_sets: Vec<[u64; 4]>,
    // Format 2's fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nodes: Option<Vec<Node>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    split_gain: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    internal_cover: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    leaf_value: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    leaf_cover: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    leaf_count: Option<Vec<u32>>,
}

/// Bytes per internal node and per leaf in `TreeFile::packed`.
const PACKED_NODE: usize = 8 + 4 + 4 + 4 + 4 + 1 + 1 + 8 + 8;
const PACKED_LEAF: usize = 8 + 8 + 4;

impl From<Tree> for TreeFile {
    fn from(t: Tree) -> TreeFile {
        let (n, l) = (t.nodes.len(), t.leaf_value.len());
        let mut b = Vec::with_capacity(n * PACKED_NODE + l * PACKED_LEAF);
        b.extend(t.nodes.iter().flat_map(|x| x.threshold.to_le_bytes()));
        b.extend(t.nodes.iter().flat_map(|x| x.feature.to_le_bytes()));
        b.extend(t.nodes.iter().flat_map(|x| x.left.to_le_bytes()));
        b.extend(t.nodes.iter().flat_map(|x| x.right.to_le_bytes()));
        b.extend(t.nodes.iter().flat_map(|x| x.cat_set.to_le_bytes()));
        b.extend(t.nodes.iter().map(|x| x.threshold_bin));
        b.extend(t.nodes.iter().map(|x| u8::from(x.default_left)));
        // Gains and covers exist per internal node; a tree built elsewhere may lack them.
        let per_node = |v: &[f64], i: usize| v.get(i).copied().unwrap_or(0.0);
        b.extend((0..n).flat_map(|i| per_node(&t.split_gain, i).to_le_bytes()));
        b.extend((0..n).flat_map(|i| per_node(&t.internal_cover, i).to_le_bytes()));
        let per_leaf = |v: &[f64], i: usize| v.get(i).copied().unwrap_or(0.0);
        b.extend((0..l).flat_map(|i| per_leaf(&t.leaf_value, i).to_le_bytes()));
        b.extend((0..l).flat_map(|i| per_leaf(&t.leaf_cover, i).to_le_bytes()));
        b.extend((0..l).flat_map(|i| t.leaf_count.get(i).copied().unwrap_or(0).to_le_bytes()));
        TreeFile {
            n_internal: Some(n as u32),
            n_leaves: Some(l as u32),
            packed: Some(b),
            cat_sets: t.cat_sets,
            nodes: None,
            split_gain: None,
            internal_cover: None,
            leaf_value: None,
            leaf_cover: None,
            leaf_count: None,
        }
    }
}

/// Reads fixed-width little-endian columns off the front of a byte string.
struct Columns<'a>(&'a [u8]);

impl<'a> Columns<'a> {
    fn take<const W: usize, T>(&mut self, n: usize, f: impl Fn([u8; W]) -> T) -> Vec<T> {
        let (head, rest) = self.0.split_at(n * W);
        self.0 = rest;
        head.chunks_exact(W)
            .map(|c| {
                let mut a = [0u8; W];
                a.copy_from_slice(c);
                f(a)
            })
            .collect()
    }
}

impl TryFrom<TreeFile> for Tree {
    type Error = String;

    fn try_from(f: TreeFile) -> std::result::Result<Tree, String> {
        let tree = match (f.packed, f.nodes) {
            (Some(bytes), _) => {
                let n = f.n_internal.unwrap_or(0) as usize;
                let l = f.n_leaves.unwrap_or(0) as usize;
                let want = n
                    .checked_mul(PACKED_NODE)
                    .zip(l.checked_mul(PACKED_LEAF))
                    .and_then(|(a, b)| a.checked_add(b));
                if want != Some(bytes.len()) {
                    return Err(format!(
                        "a tree of {n} nodes and {l} leaves holds {} bytes",
                        bytes.len()
                    ));
                }
                let mut c = Columns(&bytes);
                let threshold = c.take(n, f64::from_le_bytes);
                let feature = c.take(n, u32::from_le_bytes);
                let left = c.take(n, i32::from_le_bytes);
                let right = c.take(n, i32::from_le_bytes);
                let cat_set = c.take(n, i32::from_le_bytes);
                let threshold_bin = c.take(n, |[b]: [u8; 1]| b);
                let default_left = c.take(n, |[b]: [u8; 1]| b != 0);
                let nodes = (0..n)
                    .map(|i| Node {
                        threshold: threshold[i],
                        feature: feature[i],
                        left: left[i],
                        right: right[i],
                        cat_set: cat_set[i],
                        threshold_bin: threshold_bin[i],
                        default_left: default_left[i],
                    })
                    .collect();
                Tree {
                    nodes,
                    split_gain: c.take(n, f64::from_le_bytes),
                    internal_cover: c.take(n, f64::from_le_bytes),
                    leaf_value: c.take(l, f64::from_le_bytes),
                    leaf_cover: c.take(l, f64::from_le_bytes),
                    leaf_count: c.take(l, u32::from_le_bytes),
                    cat_sets: f.cat_sets,
                }
            }
            (None, Some(nodes)) => Tree {
                nodes,
                cat_sets: f.cat_sets,
                split_gain: f.split_gain.unwrap_or_default(),
                internal_cover: f.internal_cover.unwrap_or_default(),
                leaf_value: f.leaf_value.unwrap_or_default(),
                leaf_cover: f.leaf_cover.unwrap_or_default(),
                leaf_count: f.leaf_count.unwrap_or_default(),
            },
            (None, None) => return Err("a tree without nodes".into()),
        };
        tree.check()?;
        Ok(tree)
    }
}

impl Tree {
    /// That every child, leaf and category set a node names exists, so a damaged file is an
    /// error at load rather than a panic when predicting.
    fn check(&self) -> std::result::Result<(), String> {
        let (n, l) = (self.nodes.len() as i64, self.leaf_value.len() as i64);
        if l == 0 || l != n + 1 {
            return Err(format!("a tree of {n} nodes has {l} leaves, not {}", n + 1));
        }
        for (i, node) in self.nodes.iter().enumerate() {
            for child in [node.left, node.right] {
                let ok = if child < 0 {
                    i64::from(!child) < l
                } else {
                    i64::from(child) < n && child as usize > i
                };
                if !ok {
                    return Err(format!(
                        "node {i} names child {child}, which does not exist"
                    ));
                }
            }
            if node.cat_set >= 0
                && node.cat_set as usize + node.threshold_bin as usize >= self.cat_sets.len()
            {
                return Err(format!("node {i} names category set {}", node.cat_set));
            }
        }
        Ok(())
    }

    pub fn leaf(value: f64, cover: f64, count: u32) -> Tree {
        Tree {
            nodes: Vec::new(),
            cat_sets: Vec::new(),
            split_gain: Vec::new(),
            internal_cover: Vec::new(),
            leaf_value: vec![value],
            leaf_cover: vec![cover],
            leaf_count: vec![count],
        }
    }

    pub fn n_leaves(&self) -> usize {
        self.leaf_value.len()
    }

    pub fn n_internal(&self) -> usize {
        self.nodes.len()
    }

    /// Categorical node `n`'s set: its blocks of `cat_sets` (see `Node::threshold_bin`).
    #[inline]
    pub fn category_set<'a>(n: &Node, cat_sets: &'a [[u64; 4]]) -> &'a [[u64; 4]] {
        let first = n.cat_set as usize;
        &cat_sets[first..=first + n.threshold_bin as usize]
    }

    /// Whether `bin` is in a category set of one or more 256-bin blocks; bins past its last
    /// block are not.
    #[inline]
    pub fn in_category_set(set: &[[u64; 4]], bin: u32) -> bool {
        set.get((bin >> 8) as usize)
            .is_some_and(|w| (w[((bin >> 6) & 3) as usize] >> (bin & 63)) & 1 == 1)
    }

    /// Whether `bin` is in categorical node `n`'s set.
    #[inline]
    fn in_set(n: &Node, cat_sets: &[[u64; 4]], bin: u32) -> bool {
        Self::in_category_set(Self::category_set(n, cat_sets), bin)
    }

    /// Whether a node's category set spans more than one block (a categorical feature of more
    /// than 256 bins), which model files before format 5 cannot hold.
    pub fn has_wide_sets(&self) -> bool {
        self.nodes
            .iter()
            .any(|n| n.cat_set >= 0 && n.threshold_bin > 0)
    }

    /// Whether a row goes to the left child at internal node `i`.
    #[inline]
    pub fn goes_left(&self, i: usize, row: &impl RowView) -> bool {
        Self::node_goes_left(&self.nodes[i], &self.cat_sets, row)
    }

    #[inline]
    fn node_goes_left(n: &Node, cat_sets: &[[u64; 4]], row: &impl RowView) -> bool {
        let f = n.feature as usize;
        if n.cat_set >= 0 {
            match row.code(f) {
                None => n.default_left,
                Some(c) => Self::in_set(n, cat_sets, c),
            }
        } else {
            let v = f64::from(row.value(f));
            // NaN fails every comparison, so the missing-value check runs only off the hot path.
            v <= n.threshold || (n.default_left && v.is_nan())
        }
    }

    /// Leaf reached by a row given as raw feature values (see `RowView`).
    #[inline]
    pub fn leaf_index(&self, row: &impl RowView) -> usize {
        let Some(mut n) = self.nodes.first() else {
            return 0;
        };
        loop {
            let next = if Self::node_goes_left(n, &self.cat_sets, row) {
                n.left
            } else {
                n.right
            };
            if next < 0 {
                return !next as usize;
            }
            n = &self.nodes[next as usize];
        }
    }

    /// Leaf reached by row `r` of binned data (training and validation data).
    #[inline]
    pub fn leaf_index_binned(&self, binned: &BinnedData, r: usize) -> usize {
        let Some(mut n) = self.nodes.first() else {
            return 0;
        };
        let bins = binned.row(r);
        loop {
            let f = n.feature as usize;
            let go_left = if n.cat_set >= 0 {
                let b = match &binned.wide[f] {
                    Some(w) => u32::from(w[r]),
                    None => u32::from(bins[f]),
                };
                if b == binned.mappers[f].n_value_bins {
                    n.default_left
                } else {
                    Self::in_set(n, &self.cat_sets, b)
                }
            } else {
                let b = bins[f];
                if b == binned.missing_bins[f] {
                    n.default_left
                } else {
                    b <= n.threshold_bin
                }
            };
            let next = if go_left { n.left } else { n.right };
            if next < 0 {
                return !next as usize;
            }
            n = &self.nodes[next as usize];
        }
    }

    /// Depth of the deepest leaf (a single leaf has depth 0).
    pub fn depth(&self) -> usize {
        fn walk(t: &Tree, node: i32) -> usize {
            if node < 0 {
                0
            } else {
                let n = &t.nodes[node as usize];
                1 + walk(t, n.left).max(walk(t, n.right))
            }
        }
        if self.nodes.is_empty() {
            0
        } else {
            walk(self, 0)
        }
    }
}

/// Access to one row's features for tree traversal.
pub trait RowView {
    /// Numeric value, NaN when missing.
    fn value(&self, feature: usize) -> f32;
    /// Category bin for categorical features, None when missing.
    fn code(&self, feature: usize) -> Option<u32>;
}

/// A row gathered into a dense buffer: numeric values, and category codes stored as f32
/// (exact below 2^24, far above the most category bins).
pub struct DenseRow<'a> {
    pub values: &'a [f32],
    /// Largest category bin per feature (codes beyond it share it, as when binning).
    pub max_code: &'a [u32],
}

impl RowView for DenseRow<'_> {
    #[inline]
    fn value(&self, feature: usize) -> f32 {
        self.values[feature]
    }

    #[inline]
    fn code(&self, feature: usize) -> Option<u32> {
        let v = self.values[feature];
        if v.is_nan() || v < 0.0 {
            None
        } else {
            Some((v as u32).min(self.max_code[feature]))
        }
    }
}

/// Encodes a category code into the dense-row representation.
#[inline]
pub fn code_to_f32(code: u32) -> f32 {
    if code == MISSING_CODE {
        f32::NAN
    } else {
        code as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree with a numeric root, a categorical child and three leaves.
    fn sample() -> Tree {
        Tree {
            nodes: vec![
                Node {
                    threshold: 0.25,
                    feature: 3,
                    left: 1,
                    right: !0,
                    cat_set: -1,
                    threshold_bin: 17,
                    default_left: true,
                },
                Node {
                    threshold: 0.0,
                    feature: 1,
                    left: !1,
                    right: !2,
                    cat_set: 0,
                    threshold_bin: 0,
                    default_left: false,
                },
            ],
            cat_sets: vec![[5, 0, 1 << 63, 7]],
            split_gain: vec![12.5, 3.25],
            internal_cover: vec![100.0, 60.0],
            leaf_value: vec![-0.5, 0.125, f64::MAX],
            leaf_cover: vec![40.0, 30.0, 30.0],
            leaf_count: vec![40, 30, 30],
        }
    }

    /// Format 2's shape of a tree: one map per node, an array per field.
    #[derive(Serialize)]
    struct Format2<'a> {
        nodes: &'a [Node],
        cat_sets: &'a [[u64; 4]],
        split_gain: &'a [f64],
        internal_cover: &'a [f64],
        leaf_value: &'a [f64],
        leaf_cover: &'a [f64],
        leaf_count: &'a [u32],
    }

    #[test]
    fn packed_trees_round_trip_and_format_2_trees_still_load() {
        let t = sample();
        let packed = rmp_serde::to_vec_named(&t).unwrap();
        assert_eq!(rmp_serde::from_slice::<Tree>(&packed).unwrap(), t);
        let old = rmp_serde::to_vec_named(&Format2 {
            nodes: &t.nodes,
            cat_sets: &t.cat_sets,
            split_gain: &t.split_gain,
            internal_cover: &t.internal_cover,
            leaf_value: &t.leaf_value,
            leaf_cover: &t.leaf_cover,
            leaf_count: &t.leaf_count,
        })
        .unwrap();
        assert_eq!(rmp_serde::from_slice::<Tree>(&old).unwrap(), t);
        assert!(
            packed.len() < old.len(),
            "{} vs {}",
            packed.len(),
            old.len()
        );
        let single = Tree::leaf(1.5, 2.0, 3);
        let bytes = rmp_serde::to_vec_named(&single).unwrap();
        assert_eq!(rmp_serde::from_slice::<Tree>(&bytes).unwrap(), single);
    }

    #[test]
    fn damaged_trees_are_refused_at_load() {
        let decode = |t: &Tree| {
            let file = TreeFile::from(t.clone());
            Tree::try_from(file)
        };
        let mut bad_child = sample();
        bad_child.nodes[1].right = !7;
        assert!(decode(&bad_child).unwrap_err().contains("child"));
        let mut cycle = sample();
        cycle.nodes[1].left = 0;
        assert!(decode(&cycle).unwrap_err().contains("child"));
        let mut bad_set = sample();
        bad_set.nodes[1].cat_set = 4;
        assert!(decode(&bad_set).unwrap_err().contains("category set"));
        let mut short = TreeFile::from(sample());
        if let Some(p) = short.packed.as_mut() {
            p.pop();
        }
        assert!(Tree::try_from(short).unwrap_err().contains("bytes"));
        let mut lying = TreeFile::from(sample());
        lying.n_internal = Some(u32::MAX);
        assert!(Tree::try_from(lying).is_err());
    }
}
