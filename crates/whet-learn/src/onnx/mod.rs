//! A model as one ONNX graph: the Prep and the predictor, for onnxruntime and other ONNX
//! runtimes.
//!
//! Inputs are the training columns, one `[N, 1]` tensor each (double for numbers and dates,
//! string for categories, booleans and text); outputs are `label` and `probabilities` for
//! classifiers, `variable` for regression, computed in double precision. Trees become one
//! `ai.onnx.ml` TreeEnsemble (opset 5, double thresholds) per tree model, linear models plain
//! arithmetic, ensembles and bags weighted sums. Whatever cannot be reproduced exactly (kNN,
//! hashed text) is an error naming the part: an exported graph predicts what `whet predict`
//! predicts, or there is none. docs/export.md describes the graph for its users.
//!
//! `proto` writes the protobuf by hand (a few messages of `onnx.proto`), `graph` builds the
//! graph, `prep` and `predictor` translate the model.

mod graph;
mod predictor;
mod prep;
pub mod proto;

use whet_data::Task;

use crate::error::{LearnError, Result};
use crate::model::Model;
use graph::Builder;
use prep::PrepGraph;
use proto::{Attr, DOUBLE, Dim, STRING, TensorData};

/// ai.onnx opset: RegexFullMatch needs 20; 21 goes with IR version 10.
pub const OPSET: i64 = 21;
pub const ML_OPSET: i64 = 5;
pub const IR_VERSION: i64 = 10;

/// An exported model and what a caller may want to tell about it.
#[derive(Clone, Debug)]
pub struct OnnxExport {
    pub bytes: Vec<u8>,
    /// Graph inputs: (name, element type as ONNX names it).
    pub inputs: Vec<(String, &'static str)>,
    pub outputs: Vec<String>,
    pub n_nodes: usize,
}

fn type_name(elem: i32) -> &'static str {
    match elem {
        DOUBLE => "double",
        STRING => "string",
        _ => "float",
    }
}

/// Exports the model, or explains which part of it has no exact ONNX form.
pub fn export(model: &Model) -> Result<OnnxExport> {
    let mut b = Builder::default();
    let mut prep = PrepGraph::new(&mut b, &model.prep);
    if prep.n_features() == 0 {
        return Err(LearnError::data(
            "cannot export a model without input columns",
            "train the model on at least one feature column",
        ));
    }
    let values = predictor::predictor(&mut b, &mut prep, &model.predictor, "the model")?;
    let meta = &model.metadata;
    let n = || Dim::Param("N".into());
    let classes = &meta.classes;
    match meta.task {
        Task::Regression => {
            b.op_to("", "Identity", &[&values], vec![], "variable");
            b.output(
                "variable",
                DOUBLE,
                vec![n(), Dim::Value(1)],
                "the predicted value",
            );
        }
        Task::Binary | Task::Multiclass => {
            let k = classes.len() as i64;
            let labels = b.constant("classes", vec![k], TensorData::Str(classes.clone()));
            let index = if meta.task == Task::Binary {
                if k != 2 {
                    return Err(LearnError::data(
                        format!("a binary model names {k} classes"),
                        "the model file is damaged; train it again",
                    ));
                }
                let one = b.scalar(1.0);
                let complement = b.op("Sub", &[&one, &values], vec![]);
                b.op_to(
                    "",
                    "Concat",
                    &[&complement, &values],
                    vec![("axis", Attr::Int(1))],
                    "probabilities",
                );
                let half = b.scalar(0.5);
                let positive = b.op("GreaterOrEqual", &[&values, &half], vec![]);
                let index = b.cast(&positive, proto::INT64);
                b.flatten(&index)
            } else {
                b.op_to("", "Identity", &[&values], vec![], "probabilities");
                b.op(
                    "ArgMax",
                    &[&values],
                    vec![("axis", Attr::Int(1)), ("keepdims", Attr::Int(0))],
                )
            };
            b.op_to(
                "",
                "Gather",
                &[&labels, &index],
                vec![("axis", Attr::Int(0))],
                "label",
            );
            b.output("label", STRING, vec![n()], "the predicted class");
            b.output(
                "probabilities",
                DOUBLE,
                vec![n(), Dim::Value(k)],
                &format!(
                    "one probability per class, in this order: {}",
                    classes.join(", ")
                ),
            );
        }
    }
    let inputs = b
        .graph
        .inputs
        .iter()
        .map(|v| (v.name.clone(), type_name(v.elem_type)))
        .collect();
    let outputs = b.graph.outputs.iter().map(|v| v.name.clone()).collect();
    let n_nodes = b.graph.nodes.len();
    let mut graph = b.graph;
    graph.name = "whet".into();
    graph.doc = format!(
        "{} model of '{}' ({}), exported by whet {}",
        model.predictor.learner_name(),
        meta.target,
        task_name(meta.task),
        env!("CARGO_PKG_VERSION")
    );
    let onnx = proto::Model {
        ir_version: IR_VERSION,
        producer_name: "whet".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc: String::new(),
        graph,
        opsets: vec![(String::new(), OPSET), (graph::ML.into(), ML_OPSET)],
        metadata: vec![
            ("whet_version".into(), meta.whet_version.clone()),
            ("task".into(), task_name(meta.task).into()),
            ("target".into(), meta.target.clone()),
            ("learner".into(), model.predictor.learner_name().into()),
            (
                "classes".into(),
                serde_json::to_string(classes).unwrap_or_default(),
            ),
        ],
    };
    Ok(OnnxExport {
        bytes: onnx.to_bytes(),
        inputs,
        outputs,
        n_nodes,
    })
}

fn task_name(task: Task) -> &'static str {
    match task {
        Task::Binary => "binary",
        Task::Multiclass => "multiclass",
        Task::Regression => "regression",
    }
}
