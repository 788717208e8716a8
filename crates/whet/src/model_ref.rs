//! A model named on the command line: a model file, or a registered version in the tracking
//! store (`models:/NAME@ALIAS`, `models:/NAME/VERSION`, `models:/NAME` for the latest).

use std::path::Path;

use anyhow::{Context, Result, bail};
use whet_learn::model::Model;

/// A decoded model, how messages name it, and the registered version it came from.
pub struct Loaded {
    pub model: Model,
    pub label: String,
    pub version: Option<(String, i64)>,
}

/// Reads and decodes the model: a file, or a registered version's artifact.
pub fn load(model: &Path, store_flag: Option<&str>) -> Result<Loaded> {
    let text = model.to_string_lossy();
    let Some(reference) = text.strip_prefix("models:/") else {
        let bytes = std::fs::read(model)
            .with_context(|| format!("cannot read model file '{}'", model.display()))?;
        let label = model.display().to_string();
        return Ok(Loaded {
            model: Model::from_bytes(&bytes, &label)?,
            label,
            version: None,
        });
    };
    let (name, which) = whet_track::parse_model_ref(reference);
    let store = whet_track::Store::open_default(store_flag)?;
    let version = store.get_model_version(&name, &which)?;
    if version.source_kind != whet_track::SourceKind::RunArtifact || version.run_id.is_empty() {
        bail!(
            "version {} of model '{name}' was registered by an MLflow client ({}), not by whet\nhint: whet scores models that whet train or whet fit registered",
            version.version,
            version.source
        );
    }
    let bytes = store.read_artifact(&version.run_id, &version.source)?;
    let label = format!("{text} (version {} of '{name}')", version.version);
    Ok(Loaded {
        model: Model::from_bytes(&bytes, &label)?,
        label,
        version: Some((name, version.version)),
    })
}
