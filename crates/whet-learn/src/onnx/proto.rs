//! The subset of ONNX's protobuf messages an exported model needs, written by hand.
//!
//! Field numbers are those of `onnx/onnx.proto` (onnx 1.23). Fields go out in field-number
//! order and repeated scalars unpacked, as `onnx.proto` (proto2) declares them, so a message
//! encodes to the same bytes as the reference `SerializeToString()` does; tensors carry their
//! numbers in `raw_data` (little-endian), which every reader accepts.

/// TensorProto.DataType values.
pub const FLOAT: i32 = 1;
pub const UINT8: i32 = 2;
pub const INT64: i32 = 7;
pub const STRING: i32 = 8;
pub const BOOL: i32 = 9;
pub const DOUBLE: i32 = 11;

const VARINT: u8 = 0;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

fn varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn key(buf: &mut Vec<u8>, field: u32, wire: u8) {
    varint(buf, (u64::from(field) << 3) | u64::from(wire));
}

/// int32/int64/enum fields: negative numbers as ten-byte two's complement, as protobuf does.
fn int(buf: &mut Vec<u8>, field: u32, v: i64) {
    key(buf, field, VARINT);
    varint(buf, v as u64);
}

fn bytes(buf: &mut Vec<u8>, field: u32, b: &[u8]) {
    key(buf, field, LEN);
    varint(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

fn message(buf: &mut Vec<u8>, field: u32, encode: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    encode(&mut inner);
    bytes(buf, field, &inner);
}

#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    Float(Vec<f32>),
    Double(Vec<f64>),
    Int64(Vec<i64>),
    Uint8(Vec<u8>),
    Bool(Vec<bool>),
    Str(Vec<String>),
}

impl TensorData {
    pub fn elem_type(&self) -> i32 {
        match self {
            TensorData::Float(_) => FLOAT,
            TensorData::Double(_) => DOUBLE,
            TensorData::Int64(_) => INT64,
            TensorData::Uint8(_) => UINT8,
            TensorData::Bool(_) => BOOL,
            TensorData::Str(_) => STRING,
        }
    }
}

/// TensorProto: dims = 1, data_type = 2, string_data = 6, name = 8, raw_data = 9.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub dims: Vec<i64>,
    pub data: TensorData,
}

impl Tensor {
    fn encode(&self, buf: &mut Vec<u8>) {
        for &d in &self.dims {
            int(buf, 1, d);
        }
        int(buf, 2, i64::from(self.data.elem_type()));
        if let TensorData::Str(v) = &self.data {
            for s in v {
                bytes(buf, 6, s.as_bytes());
            }
        }
        if !self.name.is_empty() {
            bytes(buf, 8, self.name.as_bytes());
        }
        let raw: Vec<u8> = match &self.data {
            TensorData::Float(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::Double(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::Int64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::Uint8(v) => v.clone(),
            TensorData::Bool(v) => v.iter().map(|&b| u8::from(b)).collect(),
            TensorData::Str(_) => return,
        };
        bytes(buf, 9, &raw);
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    Float(f32),
    Int(i64),
    Str(String),
    Tensor(Tensor),
    Floats(Vec<f32>),
    Ints(Vec<i64>),
    Strings(Vec<String>),
}

/// AttributeProto: name = 1, f = 2, i = 3, s = 4, t = 5, floats = 7, ints = 8, strings = 9,
/// type = 20 (AttributeType: FLOAT 1, INT 2, STRING 3, TENSOR 4, FLOATS 6, INTS 7, STRINGS 8).
fn encode_attr(buf: &mut Vec<u8>, name: &str, attr: &Attr) {
    bytes(buf, 1, name.as_bytes());
    let kind = match attr {
        Attr::Float(f) => {
            key(buf, 2, FIXED32);
            buf.extend_from_slice(&f.to_le_bytes());
            1
        }
        Attr::Int(i) => {
            int(buf, 3, *i);
            2
        }
        Attr::Str(s) => {
            bytes(buf, 4, s.as_bytes());
            3
        }
        Attr::Tensor(t) => {
            message(buf, 5, |b| t.encode(b));
            4
        }
        Attr::Floats(v) => {
            for f in v {
                key(buf, 7, FIXED32);
                buf.extend_from_slice(&f.to_le_bytes());
            }
            6
        }
        Attr::Ints(v) => {
            for &i in v {
                int(buf, 8, i);
            }
            7
        }
        Attr::Strings(v) => {
            for s in v {
                bytes(buf, 9, s.as_bytes());
            }
            8
        }
    };
    int(buf, 20, kind);
}

/// NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5, domain = 7.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub name: String,
    pub op_type: String,
    pub domain: String,
    pub attrs: Vec<(String, Attr)>,
}

impl Node {
    fn encode(&self, buf: &mut Vec<u8>) {
        for i in &self.inputs {
            bytes(buf, 1, i.as_bytes());
        }
        for o in &self.outputs {
            bytes(buf, 2, o.as_bytes());
        }
        if !self.name.is_empty() {
            bytes(buf, 3, self.name.as_bytes());
        }
        bytes(buf, 4, self.op_type.as_bytes());
        for (name, attr) in &self.attrs {
            message(buf, 5, |b| encode_attr(b, name, attr));
        }
        if !self.domain.is_empty() {
            bytes(buf, 7, self.domain.as_bytes());
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Dim {
    Value(i64),
    Param(String),
}

/// ValueInfoProto (name = 1, type = 2, doc_string = 3) of a tensor: TypeProto.tensor_type = 1,
/// Tensor.elem_type = 1, .shape = 2, TensorShapeProto.dim = 1, Dimension.dim_value = 1,
/// .dim_param = 2.
#[derive(Clone, Debug, PartialEq)]
pub struct ValueInfo {
    pub name: String,
    pub elem_type: i32,
    pub dims: Vec<Dim>,
    pub doc: String,
}

impl ValueInfo {
    fn encode(&self, buf: &mut Vec<u8>) {
        bytes(buf, 1, self.name.as_bytes());
        message(buf, 2, |b| {
            message(b, 1, |b| {
                int(b, 1, i64::from(self.elem_type));
                message(b, 2, |b| {
                    for d in &self.dims {
                        message(b, 1, |b| match d {
                            Dim::Value(v) => int(b, 1, *v),
                            Dim::Param(p) => bytes(b, 2, p.as_bytes()),
                        });
                    }
                });
            });
        });
        if !self.doc.is_empty() {
            bytes(buf, 3, self.doc.as_bytes());
        }
    }
}

/// GraphProto: node = 1, name = 2, initializer = 5, doc_string = 10, input = 11, output = 12.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Graph {
    pub name: String,
    pub nodes: Vec<Node>,
    pub initializers: Vec<Tensor>,
    pub doc: String,
    pub inputs: Vec<ValueInfo>,
    pub outputs: Vec<ValueInfo>,
}

impl Graph {
    fn encode(&self, buf: &mut Vec<u8>) {
        for n in &self.nodes {
            message(buf, 1, |b| n.encode(b));
        }
        bytes(buf, 2, self.name.as_bytes());
        for t in &self.initializers {
            message(buf, 5, |b| t.encode(b));
        }
        if !self.doc.is_empty() {
            bytes(buf, 10, self.doc.as_bytes());
        }
        for v in &self.inputs {
            message(buf, 11, |b| v.encode(b));
        }
        for v in &self.outputs {
            message(buf, 12, |b| v.encode(b));
        }
    }
}

/// ModelProto: ir_version = 1, producer_name = 2, producer_version = 3, doc_string = 6,
/// graph = 7, opset_import = 8 (OperatorSetIdProto: domain = 1, version = 2),
/// metadata_props = 14 (StringStringEntryProto: key = 1, value = 2).
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub ir_version: i64,
    pub producer_name: String,
    pub producer_version: String,
    pub doc: String,
    pub graph: Graph,
    pub opsets: Vec<(String, i64)>,
    pub metadata: Vec<(String, String)>,
}

impl Model {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        int(&mut buf, 1, self.ir_version);
        bytes(&mut buf, 2, self.producer_name.as_bytes());
        bytes(&mut buf, 3, self.producer_version.as_bytes());
        if !self.doc.is_empty() {
            bytes(&mut buf, 6, self.doc.as_bytes());
        }
        message(&mut buf, 7, |b| self.graph.encode(b));
        for (domain, version) in &self.opsets {
            message(&mut buf, 8, |b| {
                bytes(b, 1, domain.as_bytes());
                int(b, 2, *version);
            });
        }
        for (k, v) in &self.metadata {
            message(&mut buf, 14, |b| {
                bytes(b, 1, k.as_bytes());
                bytes(b, 2, v.as_bytes());
            });
        }
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_negative_ints_encode_as_protobuf_does() {
        let mut b = Vec::new();
        varint(&mut b, 300);
        assert_eq!(b, [0xAC, 0x02]);
        let mut b = Vec::new();
        int(&mut b, 3, -1);
        assert_eq!(
            b,
            [
                0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01
            ]
        );
        let mut b = Vec::new();
        key(&mut b, 20, VARINT);
        assert_eq!(b, [0xA0, 0x01]);
    }

    /// The bytes `onnx.helper` (onnx 1.23.2) gives for the same model:
    /// `make_model(make_graph([make_node("Add", ["x", "c"], ["y"], name="n", alpha=2)], "g",
    /// [make_tensor_value_info("x", DOUBLE, ["N", 1])], [make_tensor_value_info("y", DOUBLE,
    /// ["N", 1])], [numpy_helper.from_array(np.array([1.5]), "c")]), ir_version=10,
    /// producer_name="whet", producer_version="0.1.0", opset_imports=[make_opsetid("", 21)])`
    /// then `.SerializeToString().hex()`.
    #[test]
    fn a_small_model_encodes_to_the_reference_bytes() {
        let vi = |name: &str| ValueInfo {
            name: name.into(),
            elem_type: DOUBLE,
            dims: vec![Dim::Param("N".into()), Dim::Value(1)],
            doc: String::new(),
        };
        let model = Model {
            ir_version: 10,
            producer_name: "whet".into(),
            producer_version: "0.1.0".into(),
            doc: String::new(),
            graph: Graph {
                name: "g".into(),
                nodes: vec![Node {
                    inputs: vec!["x".into(), "c".into()],
                    outputs: vec!["y".into()],
                    name: "n".into(),
                    op_type: "Add".into(),
                    domain: String::new(),
                    attrs: vec![("alpha".into(), Attr::Int(2))],
                }],
                initializers: vec![Tensor {
                    name: "c".into(),
                    dims: vec![1],
                    data: TensorData::Double(vec![1.5]),
                }],
                doc: String::new(),
                inputs: vec![vi("x")],
                outputs: vec![vi("y")],
            },
            opsets: vec![(String::new(), 21)],
            metadata: Vec::new(),
        };
        let hex: String = model
            .to_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, REFERENCE_HEX);
    }

    const REFERENCE_HEX: &str = "080a1204776865741a05302e312e303a630a1f0a01780a01631201791a016e22034164642a0c0a05616c7068611802a001021201672a110801100b4201634a08000000000000f83f5a140a0178120f0a0d080b12090a0312014e0a02080162140a0179120f0a0d080b12090a0312014e0a02080142040a001015";
}
