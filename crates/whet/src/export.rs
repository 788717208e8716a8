//! `whet export MODEL --onnx OUT.onnx`: the model (Prep and predictor) as one ONNX graph,
//! translated by `whet_learn::onnx`. A model with a part that has no exact ONNX form is an
//! error naming that part, and no file is written.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::model_ref::load_model;

#[derive(Args)]
pub struct ExportArgs {
    /// Model file, or a registered model: `models:/NAME@ALIAS`, `models:/NAME/VERSION`.
    pub model: PathBuf,
    /// Write the model as an ONNX file here (opset 21, ai.onnx.ml 5).
    #[arg(long, value_name = "OUT.onnx")]
    pub onnx: PathBuf,
    /// Print what was written as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn cmd_export(args: &ExportArgs, store_flag: Option<&str>, quiet: bool) -> Result<()> {
    let (model, source) = load_model(&args.model, store_flag)?;
    let exported = whet_learn::onnx::export(&model)
        .with_context(|| format!("cannot export {} to ONNX", source.label))?;
    whet_data::fsutil::write_atomic(&args.onnx, &exported.bytes)?;
    if args.json {
        let doc = serde_json::json!({
            "model": source.label,
            "onnx": args.onnx.display().to_string(),
            "bytes": exported.bytes.len(),
            "nodes": exported.n_nodes,
            "inputs": exported.inputs.iter().map(|(name, ty)| serde_json::json!({"name": name, "type": ty})).collect::<Vec<_>>(),
            "outputs": exported.outputs,
        });
        println!("{doc}");
    } else if !quiet {
        let inputs: Vec<String> = exported
            .inputs
            .iter()
            .map(|(name, ty)| format!("{name} ({ty})"))
            .collect();
        println!(
            "wrote {} ({} bytes, {} nodes) from {}\n  inputs:  {}\n  outputs: {}",
            args.onnx.display(),
            exported.bytes.len(),
            exported.n_nodes,
            source.label,
            inputs.join(", "),
            exported.outputs.join(", ")
        );
    }
    Ok(())
}
