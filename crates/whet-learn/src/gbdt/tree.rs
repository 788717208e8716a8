//! A fitted decision tree in flat arrays: no pointers, no allocation when predicting.
//!
//! Internal node i has children `nodes[i].left`/`.right`; a negative child `c` is leaf `!c`.
//! A tree that never split has no internal nodes and one leaf.

use serde::{Deserialize, Serialize};
use whet_data::prep::MISSING_CODE;

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
    /// The same numeric split in bins: bins `<= threshold_bin` go left.
    pub threshold_bin: u8,
    pub default_left: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    pub nodes: Vec<Node>,
    /// 256-bit sets (four words) of the categories (bins) that go left.
    pub cat_sets: Vec<[u64; 4]>,
    pub split_gain: Vec<f64>,
    /// Sum of hessians (cover) under each internal node, for TreeSHAP.
    pub internal_cover: Vec<f64>,
    pub leaf_value: Vec<f64>,
    pub leaf_cover: Vec<f64>,
    pub leaf_count: Vec<u32>,
}

impl Tree {
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

    #[inline]
    fn in_set(set: &[u64; 4], bin: u32) -> bool {
        bin < 256 && (set[(bin >> 6) as usize] >> (bin & 63)) & 1 == 1
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
                Some(c) => Self::in_set(&cat_sets[n.cat_set as usize], c),
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

    /// Leaf reached by a row given as bins (training and validation data).
    #[inline]
    pub fn leaf_index_binned(&self, bins: &[u8], missing_bins: &[u8]) -> usize {
        let Some(mut n) = self.nodes.first() else {
            return 0;
        };
        loop {
            let f = n.feature as usize;
            let b = bins[f];
            let go_left = if b == missing_bins[f] {
                n.default_left
            } else if n.cat_set >= 0 {
                Self::in_set(&self.cat_sets[n.cat_set as usize], u32::from(b))
            } else {
                b <= n.threshold_bin
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
/// (exact below 2^24, far above the 256 category limit).
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
