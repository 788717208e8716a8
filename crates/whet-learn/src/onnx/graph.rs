//! Building a graph one node at a time: unique value names, constants as initializers.

use std::collections::HashSet;

use super::proto::{Attr, Dim, Graph, Node, Tensor, TensorData, ValueInfo};

pub(crate) const ML: &str = "ai.onnx.ml";

#[derive(Default)]
pub(crate) struct Builder {
    pub graph: Graph,
    /// Every value name in use, so generated names never take an input's name.
    taken: HashSet<String>,
    next: usize,
}

impl Builder {
    /// A fresh value name: `hint` plus a number, never one already in the graph.
    pub fn fresh(&mut self, hint: &str) -> String {
        loop {
            self.next += 1;
            let name = format!("{hint}_{}", self.next);
            if self.taken.insert(name.clone()) {
                return name;
            }
        }
    }

    pub fn input(&mut self, name: &str, elem_type: i32, doc: String) {
        self.taken.insert(name.to_string());
        self.graph.inputs.push(ValueInfo {
            name: name.to_string(),
            elem_type,
            dims: vec![Dim::Param("N".into()), Dim::Value(1)],
            doc,
        });
    }

    pub fn output(&mut self, name: &str, elem_type: i32, dims: Vec<Dim>, doc: &str) {
        self.graph.outputs.push(ValueInfo {
            name: name.to_string(),
            elem_type,
            dims,
            doc: doc.to_string(),
        });
    }

    /// A node of the default domain with one output, whose name it returns.
    pub fn op(&mut self, op: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>) -> String {
        self.op_in("", op, inputs, attrs)
    }

    pub fn op_in(
        &mut self,
        domain: &str,
        op: &str,
        inputs: &[&str],
        attrs: Vec<(&str, Attr)>,
    ) -> String {
        let out = self.fresh(&op.to_ascii_lowercase());
        self.op_to(domain, op, inputs, attrs, &out);
        out
    }

    /// A node writing the value `out` (graph outputs have fixed names).
    pub fn op_to(
        &mut self,
        domain: &str,
        op: &str,
        inputs: &[&str],
        attrs: Vec<(&str, Attr)>,
        out: &str,
    ) {
        self.taken.insert(out.to_string());
        let name = format!("n{}", self.graph.nodes.len());
        self.graph.nodes.push(Node {
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: vec![out.to_string()],
            name,
            op_type: op.to_string(),
            domain: domain.to_string(),
            attrs: attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        });
    }

    pub fn constant(&mut self, hint: &str, dims: Vec<i64>, data: TensorData) -> String {
        let name = self.fresh(hint);
        self.graph.initializers.push(Tensor {
            name: name.clone(),
            dims,
            data,
        });
        name
    }

    pub fn f64s(&mut self, hint: &str, dims: Vec<i64>, values: Vec<f64>) -> String {
        self.constant(hint, dims, TensorData::Double(values))
    }

    pub fn scalar(&mut self, v: f64) -> String {
        self.f64s("c", vec![], vec![v])
    }

    pub fn i64s(&mut self, hint: &str, dims: Vec<i64>, values: Vec<i64>) -> String {
        self.constant(hint, dims, TensorData::Int64(values))
    }

    pub fn cast(&mut self, x: &str, to: i32) -> String {
        self.op("Cast", &[x], vec![("to", Attr::Int(i64::from(to)))])
    }

    /// `x` flattened to one dimension.
    pub fn flatten(&mut self, x: &str) -> String {
        let shape = self.i64s("shape", vec![1], vec![-1]);
        self.op("Reshape", &[x, &shape], vec![])
    }

    /// Column `j` of a 2-d value, kept 2-d.
    pub fn column(&mut self, x: &str, j: i64) -> String {
        let index = self.i64s("col", vec![1], vec![j]);
        self.op("Gather", &[x, &index], vec![("axis", Attr::Int(1))])
    }

    pub fn concat_columns(&mut self, parts: &[String]) -> String {
        if parts.len() == 1 {
            return parts[0].clone();
        }
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        self.op("Concat", &refs, vec![("axis", Attr::Int(1))])
    }
}
