//! Naming a model on the command line: a model file, or a registered version in the tracking
//! store (`models:/NAME@ALIAS`, `models:/NAME/VERSION`, `models:/NAME` for the latest). Every
//! command that reads a model (predict, drift, serve) resolves it here.

use std::path::Path;

use anyhow::{Context, Result, bail};
use whet_learn::model::Model;

/// Where a model came from.
#[derive(Clone, Debug)]
pub struct ModelSource {
    /// How messages name it: the file, or the reference with its version.
    pub label: String,
    /// The registered version, for a `models:/` reference.
    pub registered: Option<Registered>,
}

#[derive(Clone, Debug)]
pub struct Registered {
    pub name: String,
    pub version: i64,
    /// The run that logged the model file.
    pub run_id: String,
}

/// The model's bytes and where they came from.
pub fn model_bytes(model: &Path, store_flag: Option<&str>) -> Result<(Vec<u8>, ModelSource)> {
    let text = model.to_string_lossy();
    let Some(reference) = text.strip_prefix("models:/") else {
        let bytes = std::fs::read(model)
            .with_context(|| format!("cannot read model file '{}'", model.display()))?;
        return Ok((
            bytes,
            ModelSource {
                label: model.display().to_string(),
                registered: None,
            },
        ));
    };
    let (name, which) = whet_track::parse_model_ref(reference);
    let store = whet_track::Store::open_existing(store_flag)
        .with_context(|| format!("cannot look up {text}"))?;
    let version = store.get_model_version(&name, &which)?;
    if version.source_kind != whet_track::SourceKind::RunArtifact || version.run_id.is_empty() {
        bail!(
            "version {} of model '{name}' was registered by an MLflow client ({}), not by whet\nhint: whet reads models that whet train or whet fit registered",
            version.version,
            version.source
        );
    }
    let bytes = store.read_artifact(&version.run_id, &version.source)?;
    Ok((
        bytes,
        ModelSource {
            label: format!("{text} (version {} of '{name}')", version.version),
            registered: Some(Registered {
                name,
                version: version.version,
                run_id: version.run_id.to_string(),
            }),
        },
    ))
}

/// The decoded model and where it came from.
pub fn load_model(model: &Path, store_flag: Option<&str>) -> Result<(Model, ModelSource)> {
    let (bytes, source) = model_bytes(model, store_flag)?;
    let model = Model::from_bytes(&bytes, &source.label)?;
    Ok((model, source))
}
