//! The model file: Prep + predictor + metadata in one versioned, checksummed byte string.
//!
//! Layout: 8 bytes magic `WHETMDL\0`, u32 LE format version, u64 LE payload length, u64 LE
//! FNV-1a checksum of the payload, then the payload. The header lets a damaged, truncated or
//! too-new file be rejected with a precise message before decoding.
//!
//! Payload, formats 2 and 3: u64 LE length of the MessagePack, then that MessagePack of
//! `Model` compressed with zstd. Format 1 (still read): the MessagePack itself.
//!
//! Format 3 (written now) adds `Model::reference`, the training data's reference profile, and
//! stores each tree's nodes, leaves and their numbers as one byte string of little-endian
//! columns (`gbdt::tree::TreeFile`) instead of a map per node, so a forest decodes with a few
//! copies per tree rather than millions of map entries. Formats 1 and 2 still load (with an
//! empty profile); a whet that reads only format 2 refuses a format 3 file.
//!
//! Format 4 is format 3 whose predictor holds a [`Predictor::LogTarget`] (a model of
//! ln(1 + y)). Only such files are written as format 4, so a whet that reads up to format 3
//! says "upgrade" for exactly the models it would mispredict or fail to decode, and keeps
//! reading every other model written now.
//!
//! Format 5 is format 3 or 4 whose trees split a categorical feature of more than 256 bins:
//! such a split's category set spans several 256-bin blocks (`gbdt::tree::Node`), which an
//! older whet would read as the first block alone. Only such models are written as format 5.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use whet_data::Task;
use whet_data::prep::{Features, Prep};
use whet_data::reference::ReferenceProfile;

use crate::data::Predictions;
use crate::error::{LearnError, Result};
use crate::gbdt::GbdtModel;
use crate::knn::KnnModel;
use crate::linear::LinearModel;

pub const MAGIC: &[u8; 8] = b"WHETMDL\0";
/// The newest format this whet reads (and writes, for models that need it).
pub const FORMAT_VERSION: u32 = 5;
/// What a model without a log-target part is written as.
const BASE_FORMAT_VERSION: u32 = 3;
/// zstd level for model files: fast to write, and higher levels save little more on trees.
const COMPRESSION_LEVEL: i32 = 3;
/// No model decodes to more than this; a larger claimed size means a damaged file.
const MAX_DECODED_BYTES: u64 = 16 << 30;
/// A model file's MessagePack compresses a few times over (trees and tables of distinct
/// numbers); zstd can reach thousands over on runs of equal bytes, which is what a
/// decompression bomb is made of. The size a file claims is trusted up to this many times its
/// compressed size, so memory stays within a bounded multiple of the file.
const MAX_COMPRESSION_RATIO: u64 = 1000;
/// Small models are never refused by the ratio: at most this much is allocated regardless.
const RATIO_FREE_BYTES: u64 = 1 << 20;

/// Whether a payload of `compressed` bytes may claim `decoded` bytes uncompressed.
fn plausible_decoded_size(decoded: u64, compressed: u64) -> bool {
    decoded <= MAX_DECODED_BYTES
        && decoded <= RATIO_FREE_BYTES.max(compressed.saturating_mul(MAX_COMPRESSION_RATIO))
}
const HEADER_LEN: usize = 8 + 4 + 8 + 8;

/// Written as a map whose first entry is `learner` (serde's internal tagging); read by
/// [`PredictorVisitor`], not serde's derive, which would buffer the whole model first.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "learner", rename_all = "snake_case")]
pub enum Predictor {
    Gbdt(Box<GbdtModel>),
    Linear(LinearModel),
    Knn(KnnModel),
    Ensemble(EnsembleModel),
    /// A model of ln(1 + y), predicting e^inner − 1: what a study fits for a positive,
    /// right-skewed regression target when cross-validation prefers it. Absent before whet
    /// wrote it; files without it load unchanged.
    LogTarget(LogTargetModel),
}

const PREDICTOR_KINDS: &[&str] = &["gbdt", "linear", "knn", "ensemble", "log_target"];

impl<'de> Deserialize<'de> for Predictor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_map(PredictorVisitor)
    }
}

/// Reads the tag, then hands the rest of the map straight to the variant's own
/// deserializer. serde's derive for an internally tagged enum cannot know the tag comes
/// first, so it copies the whole model into a generic tree of values before decoding it:
/// half the time of loading a model, and most of a study's cost of reading a worker's fold.
struct PredictorVisitor;

impl<'de> serde::de::Visitor<'de> for PredictorVisitor {
    type Value = Predictor;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a model: a map whose first entry is \"learner\"")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Predictor, A::Error> {
        use serde::de::Error;
        match map.next_key::<String>()? {
            Some(k) if k == "learner" => {}
            Some(k) => {
                return Err(A::Error::custom(format!(
                    "a model's first entry must be \"learner\", found \"{k}\""
                )));
            }
            None => return Err(A::Error::missing_field("learner")),
        }
        let learner: String = map.next_value()?;
        let rest = serde::de::value::MapAccessDeserializer::new(map);
        Ok(match learner.as_str() {
            "gbdt" => Predictor::Gbdt(Box::new(GbdtModel::deserialize(rest)?)),
            "linear" => Predictor::Linear(LinearModel::deserialize(rest)?),
            "knn" => Predictor::Knn(KnnModel::deserialize(rest)?),
            "ensemble" => Predictor::Ensemble(EnsembleModel::deserialize(rest)?),
            "log_target" => Predictor::LogTarget(LogTargetModel::deserialize(rest)?),
            other => return Err(A::Error::unknown_variant(other, PREDICTOR_KINDS)),
        })
    }
}

/// A regression model fitted on ln(1 + y) whose predictions are brought back to the target's
/// units (`scale`·e^p − 1), so that every consumer (predict, serve, review, ensembles) sees
/// values of the target itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogTargetModel {
    pub inner: Box<Predictor>,
    /// Duan's smearing factor: the training rows' mean of e^(log residual). e^p estimates
    /// the median of 1 + y given the features, below its mean when the residuals spread;
    /// squared error in the target's units wants the mean.
    #[serde(default = "unit", skip_serializing_if = "is_unit")]
    pub scale: f64,
}

fn unit() -> f64 {
    1.0
}

fn is_unit(v: &f64) -> bool {
    *v == 1.0
}

impl LogTargetModel {
    /// The forward transform of the targets the inner model was fitted on.
    pub fn transform(y: f64) -> f64 {
        y.ln_1p()
    }

    /// The smearing factor from the log-scale targets and the inner model's predictions of
    /// the same rows (weights optional): the weighted mean of e^(target − prediction), held
    /// to [0.5, 2] so that a model that fits its training rows badly cannot scale by much.
    pub fn smearing(log_y: &[f64], predicted: &[f64], weight: Option<&[f64]>) -> f64 {
        let (mut sw, mut s) = (0.0, 0.0);
        for (i, (y, p)) in log_y.iter().zip(predicted).enumerate() {
            let w = weight.map_or(1.0, |w| w[i]);
            let e = (y - p).exp();
            if w > 0.0 && e.is_finite() {
                sw += w;
                s += w * e;
            }
        }
        if sw > 0.0 {
            (s / sw).clamp(0.5, 2.0)
        } else {
            1.0
        }
    }

    /// The inner model's predictions in the target's units.
    pub fn back_transform(&self, mut p: Predictions) -> Predictions {
        let scale = self.scale;
        p.values.iter_mut().for_each(|v| *v = scale * v.exp() - 1.0);
        p
    }

    pub fn predict(&self, x: &Features) -> Predictions {
        self.back_transform(self.inner.predict(x))
    }
}

/// A weighted average of member predictions (probabilities for classification, values for
/// regression): AutoML's ensembles and bags of cross-validation fold models.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnsembleModel {
    pub members: Vec<EnsembleMember>,
    /// Regression: every member's prediction is clipped to `[low, high]` before averaging, a
    /// margin around the training targets' range, so one member extrapolating far (a linear
    /// model on a skewed target) cannot drag the blend with it. Absent in older files and for
    /// classification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip: Option<[f64; 2]>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnsembleMember {
    /// Non-negative; members are averaged with weights normalized to sum to one.
    pub weight: f64,
    /// What this member is, for reports (e.g. "gbdt trial 12, fold 3").
    pub label: String,
    pub predictor: Predictor,
}

impl EnsembleModel {
    pub fn predict(&self, x: &Features) -> Predictions {
        let total: f64 = self.members.iter().map(|m| m.weight).sum();
        let mut out: Option<Predictions> = None;
        for m in self.members.iter().filter(|m| m.weight > 0.0) {
            let mut p = m.predictor.predict(x);
            if let Some([low, high]) = self.clip {
                p.values.iter_mut().for_each(|v| *v = v.clamp(low, high));
            }
            let w = m.weight / total;
            match out.as_mut() {
                None => {
                    let mut first = p;
                    first.values.iter_mut().for_each(|v| *v *= w);
                    out = Some(first);
                }
                Some(acc) => {
                    for (a, v) in acc.values.iter_mut().zip(&p.values) {
                        *a += w * v;
                    }
                }
            }
        }
        out.unwrap_or(Predictions {
            n_rows: x.n_rows,
            n_outputs: 1,
            values: vec![f64::NAN; x.n_rows],
        })
    }
}

impl Predictor {
    pub fn learner_name(&self) -> &'static str {
        match self {
            Predictor::Gbdt(m) => match m.boosting {
                crate::gbdt::Boosting::Gbdt => "gbdt",
                crate::gbdt::Boosting::Rf => "rf",
                crate::gbdt::Boosting::Et => "et",
            },
            Predictor::Linear(_) => "linear",
            Predictor::Knn(_) => "knn",
            Predictor::Ensemble(_) => "ensemble",
            Predictor::LogTarget(m) => m.inner.learner_name(),
        }
    }

    /// Whether this predictor, or any part of it, is a [`LogTargetModel`].
    pub fn has_log_target(&self) -> bool {
        match self {
            Predictor::LogTarget(_) => true,
            Predictor::Ensemble(e) => e.members.iter().any(|m| m.predictor.has_log_target()),
            _ => false,
        }
    }

    /// Whether a tree of this predictor, or of any part of it, splits a categorical feature of
    /// more than 256 bins (a category set of several blocks: see `gbdt::tree::Node`).
    pub fn has_wide_category_sets(&self) -> bool {
        match self {
            Predictor::Gbdt(m) => m.trees.iter().any(|t| t.has_wide_sets()),
            Predictor::Ensemble(e) => e
                .members
                .iter()
                .any(|m| m.predictor.has_wide_category_sets()),
            Predictor::LogTarget(m) => m.inner.has_wide_category_sets(),
            Predictor::Linear(_) | Predictor::Knn(_) => false,
        }
    }

    pub fn predict(&self, x: &Features) -> Predictions {
        match self {
            Predictor::Gbdt(m) => m.predict(x),
            Predictor::Linear(m) => m.predict(x),
            Predictor::Knn(m) => m.predict(x),
            Predictor::Ensemble(m) => m.predict(x),
            Predictor::LogTarget(m) => m.predict(x),
        }
    }

    /// `inner`, fitted on ln(1 + y), as a model of y with smearing factor `scale`.
    pub fn log_target(inner: Predictor, scale: f64) -> Predictor {
        Predictor::LogTarget(LogTargetModel {
            inner: Box::new(inner),
            scale,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub whet_version: String,
    pub task: Task,
    pub target: String,
    /// Class labels in output order (empty for regression).
    pub classes: Vec<String>,
    pub params: BTreeMap<String, String>,
    pub train_rows: u64,
    pub seed: u64,
    pub fit_seconds: f64,
    /// Metrics measured when the model was fitted, by data set ("train", "valid", "test").
    pub metrics: BTreeMap<String, BTreeMap<String, f64>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub prep: Prep,
    pub predictor: Predictor,
    pub metadata: Metadata,
    /// The training data's profile, for drift checks; empty in files before format 3.
    #[serde(default)]
    pub reference: ReferenceProfile,
}

/// FNV-1a over the payload: enough to catch damage, and stable forever.
fn checksum(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Model {
    /// The model as MessagePack with field names: what a model file holds, before compression.
    /// Two models with equal encodings predict alike; tests compare them this way.
    pub fn encoded(&self) -> Result<Vec<u8>> {
        rmp_serde::to_vec_named(self).map_err(|e| LearnError::ModelFile {
            path: String::new(),
            message: format!("cannot encode the model: {e}"),
            hint: "this is a bug in whet; please report it".into(),
        })
    }

    /// The format this model is written in: the oldest whose readers predict it right.
    pub fn format_version(&self) -> u32 {
        if self.predictor.has_wide_category_sets() {
            FORMAT_VERSION
        } else if self.predictor.has_log_target() {
            4
        } else {
            BASE_FORMAT_VERSION
        }
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let encoded = self.encoded()?;
        let compressed = zstd::bulk::compress(&encoded, COMPRESSION_LEVEL).map_err(|e| {
            LearnError::ModelFile {
                path: String::new(),
                message: format!("cannot compress the model: {e}"),
                hint: "this is a bug in whet; please report it".into(),
            }
        })?;
        // The loader's bound holds for every file whet writes; one that broke it could not be
        // read back, so it is refused here rather than written.
        if !plausible_decoded_size(encoded.len() as u64, compressed.len() as u64) {
            return Err(LearnError::ModelFile {
                path: String::new(),
                message: format!(
                    "the model compresses from {} to {} bytes, beyond what a model file may claim",
                    encoded.len(),
                    compressed.len()
                ),
                hint: "this is a bug in whet; please report it".into(),
            });
        }
        let mut payload = Vec::with_capacity(8 + compressed.len());
        payload.extend_from_slice(&(encoded.len() as u64).to_le_bytes());
        payload.extend_from_slice(&compressed);
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.format_version().to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&checksum(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
        Ok(out)
    }

    /// Decodes a model file's bytes; `path` only labels errors.
    pub fn from_bytes(bytes: &[u8], path: &str) -> Result<Model> {
        let err = |message: String, hint: &str| LearnError::ModelFile {
            path: path.to_string(),
            message,
            hint: hint.to_string(),
        };
        if bytes.len() < 8 || &bytes[..8] != MAGIC {
            return Err(err(
                "not a whet model file".into(),
                "pass a file written by `whet fit --out` or `whet train`",
            ));
        }
        if bytes.len() < HEADER_LEN {
            return Err(err(
                "truncated header".into(),
                "the file is incomplete; copy or write it again",
            ));
        }
        let word = |at: usize, len: usize| -> u64 {
            let mut b = [0u8; 8];
            b[..len].copy_from_slice(&bytes[at..at + len]);
            u64::from_le_bytes(b)
        };
        let version = word(8, 4) as u32;
        if version > FORMAT_VERSION {
            return Err(err(
                format!(
                    "written in model format {version}, newer than this whet reads ({FORMAT_VERSION})"
                ),
                "upgrade whet to read this model",
            ));
        }
        if version == 0 {
            return Err(err(
                "format version 0 is invalid".into(),
                "the file is damaged; write it again",
            ));
        }
        let len = word(12, 8) as usize;
        let expected_sum = word(20, 8);
        let payload = &bytes[HEADER_LEN..];
        if payload.len() < len {
            return Err(err(
                format!(
                    "truncated: the model needs {len} bytes after the header, the file has {}",
                    payload.len()
                ),
                "the file is incomplete; copy or write it again",
            ));
        }
        if payload.len() > len {
            return Err(err(
                format!("{} unexpected bytes after the model", payload.len() - len),
                "the file is damaged; write it again",
            ));
        }
        if checksum(payload) != expected_sum {
            return Err(err(
                "damaged: checksum mismatch".into(),
                "the file changed after it was written; write it again",
            ));
        }
        let decoded;
        let encoded = if version == 1 {
            payload
        } else {
            if payload.len() < 8 {
                return Err(err(
                    "damaged: no size of the compressed model".into(),
                    "the file is damaged; write it again",
                ));
            }
            let mut size = [0u8; 8];
            size.copy_from_slice(&payload[..8]);
            let size = u64::from_le_bytes(size);
            let compressed = (payload.len() - 8) as u64;
            if !plausible_decoded_size(size, compressed) {
                return Err(err(
                    format!(
                        "damaged: claims {size} bytes uncompressed from {compressed} compressed \
                         (whet reads at most {MAX_COMPRESSION_RATIO} times the compressed size, \
                         and at most {} GB)",
                        MAX_DECODED_BYTES >> 30
                    ),
                    "the file is damaged or not written by whet; write it again",
                ));
            }
            decoded = zstd::bulk::decompress(&payload[8..], size as usize).map_err(|e| {
                err(
                    format!("cannot decompress: {e}"),
                    "the file is damaged; write it again",
                )
            })?;
            decoded.as_slice()
        };
        rmp_serde::from_slice(encoded).map_err(|e| {
            err(
                format!("cannot decode: {e}"),
                "the file is damaged; write it again",
            )
        })
    }
}
