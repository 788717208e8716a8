//! The learner registry: which learners there are, what they are called (with aliases), their
//! parameters from text, and one `fit` that returns a [`Predictor`]. `whet fit` and the AutoML
//! trials both go through here, so a name or a parameter means the same everywhere.

use std::fmt;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::binning::BinnedData;
use crate::data::TrainSet;
use crate::error::{LearnError, Result};
use crate::gbdt::{Boosting, GbdtParams, fit_gbdt_until};
use crate::knn::{KnnParams, fit_knn};
use crate::linear::{LinearParams, fit_linear_until};
use crate::model::Predictor;
use crate::param_text;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LearnerKind {
    /// Gradient-boosted decision trees.
    Gbdt,
    /// Random forest (the GBDT engine in forest mode).
    Rf,
    /// Extremely randomized trees.
    Et,
    /// Elastic-net linear or logistic regression.
    Linear,
    /// k-nearest neighbours.
    Knn,
}

/// Every name a learner answers to, its own name first.
const ALIASES: [(LearnerKind, &[&str]); 5] = [
    (LearnerKind::Gbdt, &["gbdt", "lgbm", "lightgbm", "gbm"]),
    (LearnerKind::Rf, &["rf", "random_forest", "forest"]),
    (LearnerKind::Et, &["et", "extra_trees", "extratrees"]),
    (
        LearnerKind::Linear,
        &["linear", "lr", "logistic", "elasticnet"],
    ),
    (LearnerKind::Knn, &["knn"]),
];

impl LearnerKind {
    pub const ALL: [LearnerKind; 5] = [
        LearnerKind::Gbdt,
        LearnerKind::Rf,
        LearnerKind::Et,
        LearnerKind::Linear,
        LearnerKind::Knn,
    ];

    pub fn name(self) -> &'static str {
        self.aliases()[0]
    }

    /// Every name this learner answers to, its own first.
    pub fn aliases(self) -> &'static [&'static str] {
        ALIASES
            .iter()
            .find(|(k, _)| *k == self)
            .map_or(&[], |(_, names)| names)
    }

    /// A learner by name or alias, case and surrounding space ignored.
    pub fn parse(s: &str) -> Option<LearnerKind> {
        let s = s.trim().to_ascii_lowercase();
        ALIASES
            .iter()
            .find(|(_, names)| names.contains(&s.as_str()))
            .map(|(k, _)| *k)
    }

    /// [`LearnerKind::parse`] with an error that lists the learners.
    pub fn from_name(s: &str) -> Result<LearnerKind> {
        LearnerKind::parse(s).ok_or_else(|| LearnError::UnknownLearner {
            name: s.to_string(),
        })
    }

    /// The tree learners share one engine and fit on binned data.
    pub fn is_tree(self) -> bool {
        matches!(self, LearnerKind::Gbdt | LearnerKind::Rf | LearnerKind::Et)
    }
}

impl fmt::Display for LearnerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A learner with its parameters, ready to fit.
#[derive(Clone, Debug)]
pub enum LearnerParams {
    Tree(Box<GbdtParams>),
    Linear(LinearParams),
    Knn(KnnParams),
}

impl LearnerParams {
    /// The learner's defaults.
    pub fn defaults(kind: LearnerKind) -> LearnerParams {
        match kind {
            LearnerKind::Gbdt => {
                LearnerParams::Tree(Box::new(GbdtParams::for_mode(Boosting::Gbdt)))
            }
            LearnerKind::Rf => LearnerParams::Tree(Box::new(GbdtParams::for_mode(Boosting::Rf))),
            LearnerKind::Et => LearnerParams::Tree(Box::new(GbdtParams::for_mode(Boosting::Et))),
            LearnerKind::Linear => LearnerParams::Linear(LinearParams::default()),
            LearnerKind::Knn => LearnerParams::Knn(KnnParams::default()),
        }
    }

    pub fn kind(&self) -> LearnerKind {
        match self {
            LearnerParams::Tree(p) => match p.boosting {
                Boosting::Gbdt => LearnerKind::Gbdt,
                Boosting::Rf => LearnerKind::Rf,
                Boosting::Et => LearnerKind::Et,
            },
            LearnerParams::Linear(_) => LearnerKind::Linear,
            LearnerParams::Knn(_) => LearnerKind::Knn,
        }
    }

    /// The parameter names this learner takes.
    pub fn names(&self) -> &'static [&'static str] {
        match self {
            LearnerParams::Tree(_) => GbdtParams::NAMES,
            LearnerParams::Linear(_) => LinearParams::NAMES,
            LearnerParams::Knn(_) => KnnParams::NAMES,
        }
    }

    /// Sets one parameter from text by name or alias (case ignored). An unknown key is an
    /// error naming the closest known one; a bad value says what was expected.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let learner = self.kind();
        let normalized = key.trim().to_ascii_lowercase();
        let known = match self {
            LearnerParams::Tree(p) => p.set(&normalized, value)?,
            LearnerParams::Linear(p) => p.set(&normalized, value)?,
            LearnerParams::Knn(p) => p.set(&normalized, value)?,
        };
        if known {
            Ok(())
        } else {
            Err(param_text::unknown_key(learner.name(), key, self.names()))
        }
    }

    /// Sets every `KEY=VALUE` pair in order, then checks the whole set.
    pub fn set_all<'a>(&mut self, pairs: impl IntoIterator<Item = &'a str>) -> Result<()> {
        for pair in pairs {
            let (k, v) = param_text::split_pair(pair)?;
            self.set(k, v)?;
        }
        self.validate()
    }

    /// Checks values against each other and their ranges.
    pub fn validate(&self) -> Result<()> {
        match self {
            LearnerParams::Tree(p) => p.validate(),
            LearnerParams::Linear(p) => p.validate(),
            LearnerParams::Knn(p) => p.validate(),
        }
    }

    /// The seed of every random choice in fitting (the tree learners'; the others have none).
    pub fn set_seed(&mut self, seed: u64) {
        if let LearnerParams::Tree(p) = self {
            p.seed = seed;
        }
    }

    /// How a tree learner bins numeric features, (`max_bin`, `min_data_in_bin`); None for the
    /// learners that need no bins.
    pub fn binning(&self) -> Option<(usize, usize)> {
        match self {
            LearnerParams::Tree(p) => Some((p.max_bin, p.min_data_in_bin)),
            _ => None,
        }
    }

    /// The copies of the bins a tree learner's fit keeps (GBDT parameter `low_memory`).
    pub fn bin_layout(&self) -> crate::binning::BinLayout {
        match self {
            LearnerParams::Tree(p) => p.bin_layout(),
            _ => crate::binning::BinLayout::RowsAndColumns,
        }
    }
}

/// Fits a learner. Tree learners need `binned` (the training features' bins) and use `valid`
/// for early stopping; the others ignore both. A fit past `deadline` stops with
/// [`LearnError::Interrupted`] (kNN stores its rows at once and never is).
pub fn fit(
    params: &LearnerParams,
    train: &TrainSet,
    binned: Option<&BinnedData>,
    valid: Option<(&TrainSet, &BinnedData)>,
    deadline: Option<Instant>,
) -> Result<Predictor> {
    Ok(match params {
        LearnerParams::Tree(p) => {
            let binned = binned.ok_or_else(|| {
                LearnError::data(
                    "tree learners need binned data",
                    "this is a bug in whet; please report it",
                )
            })?;
            Predictor::Gbdt(Box::new(fit_gbdt_until(train, binned, valid, p, deadline)?))
        }
        LearnerParams::Linear(p) => Predictor::Linear(fit_linear_until(train, p, deadline)?),
        LearnerParams::Knn(p) => Predictor::Knn(fit_knn(train, p)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alias_finds_its_learner_and_names_round_trip() {
        for kind in LearnerKind::ALL {
            assert_eq!(LearnerKind::parse(kind.name()), Some(kind));
            for alias in kind.aliases() {
                assert_eq!(LearnerKind::parse(alias), Some(kind), "{alias}");
                assert_eq!(LearnerKind::parse(&alias.to_uppercase()), Some(kind));
            }
            assert_eq!(LearnerParams::defaults(kind).kind(), kind);
        }
        assert_eq!(LearnerKind::parse("lightgbm"), Some(LearnerKind::Gbdt));
        assert_eq!(LearnerKind::parse("svm"), None);
        let e = LearnerKind::from_name("svm").unwrap_err().to_string();
        assert!(e.contains("unknown learner 'svm'"), "{e}");
    }

    #[test]
    fn parameters_from_text_with_clear_errors() {
        let mut p = LearnerParams::defaults(LearnerKind::Gbdt);
        p.set_all(["n_estimators=50", "Learning_Rate = 0.2"])
            .unwrap();
        let LearnerParams::Tree(t) = &p else {
            panic!("gbdt params")
        };
        assert_eq!((t.num_iterations, t.learning_rate), (50, 0.2));

        let e = p.set("num_leavs", "8").unwrap_err().to_string();
        assert!(
            e.contains("unknown parameter 'num_leavs' for learner gbdt"),
            "{e}"
        );
        assert!(e.contains("did you mean 'num_leaves'"), "{e}");
        let e = p.set("num_leaves", "eight").unwrap_err().to_string();
        assert!(e.contains("not a whole number"), "{e}");
        let e = p.set_all(["feature_fraction=1.5"]).unwrap_err().to_string();
        assert!(e.contains("(0, 1]"), "{e}");

        let mut k = LearnerParams::defaults(LearnerKind::Knn);
        let e = k.set("alpha", "1").unwrap_err().to_string();
        assert!(e.contains("knn takes k, weights"), "{e}");
        let e = k.set_all(["k"]).unwrap_err().to_string();
        assert!(e.contains("KEY=VALUE"), "{e}");
        let mut l = LearnerParams::defaults(LearnerKind::Linear);
        l.set("L1_RATIO", "0.5").unwrap();
        let e = l.set("l1_ratio", "2").unwrap_err().to_string();
        assert!(e.contains("between 0 and 1"), "{e}");
    }
}
