//! Models other than the test model, written here as tiny hand-made ONNX
//! files: one without `token_type_ids` (many models lack it) and one with an
//! input no tokenizer can feed.
//!
//! The tiny model's token vector is `input_id × attention_mask × w` for a
//! fixed 4-vector `w`, so every pooled, normalised vector must be `w / |w|`.

mod common;

use std::path::Path;

use cm_core::EmbedKind;
use cm_embed::{Error, Model, ModelOptions, ModelSpec, Pooling, init_onnxruntime};

const W: [f32; 4] = [1.0, 2.0, 3.0, 4.0];

/// Just enough of the protobuf wire format to write an ONNX model.
#[derive(Default)]
struct Message(Vec<u8>);

impl Message {
    fn varint(mut self, field: u32, value: u64) -> Self {
        put_varint(&mut self.0, u64::from(field << 3));
        put_varint(&mut self.0, value);
        self
    }
    fn bytes(mut self, field: u32, bytes: &[u8]) -> Self {
        put_varint(&mut self.0, u64::from(field << 3 | 2));
        put_varint(&mut self.0, bytes.len() as u64);
        self.0.extend_from_slice(bytes);
        self
    }
    fn str(self, field: u32, text: &str) -> Self {
        self.bytes(field, text.as_bytes())
    }
    fn msg(self, field: u32, message: Message) -> Self {
        self.bytes(field, &message.0)
    }
}

fn put_varint(buf: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        buf.push((value as u8) | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

const FLOAT: u64 = 1;
const INT64: u64 = 7;

/// A `ValueInfoProto` for a tensor whose dimensions are symbolic names or sizes.
fn tensor_info(name: &str, elem_type: u64, dims: &[&str]) -> Message {
    let shape = dims.iter().fold(Message::default(), |shape, dim| {
        let dimension = match dim.parse::<u64>() {
            Ok(size) => Message::default().varint(1, size),
            Err(_) => Message::default().str(2, dim),
        };
        shape.msg(1, dimension)
    });
    let tensor = Message::default().varint(1, elem_type).msg(2, shape);
    Message::default().str(1, name).msg(2, Message::default().msg(1, tensor))
}

fn node(op: &str, inputs: &[&str], output: &str, cast_to: Option<u64>) -> Message {
    let node =
        inputs.iter().fold(Message::default(), |n, input| n.str(1, input)).str(2, output).str(3, output);
    let node = node.str(4, op);
    match cast_to {
        // AttributeProto { name: "to", i: .., type: INT }
        Some(to) => node.msg(5, Message::default().str(1, "to").varint(3, to).varint(20, 2)),
        None => node,
    }
}

fn initializer(name: &str, elem_type: u64, dims: &[u64], raw: &[u8]) -> Message {
    let tensor = dims.iter().fold(Message::default(), |t, &d| t.varint(1, d));
    tensor.varint(2, elem_type).str(8, name).bytes(9, raw)
}

/// Writes the tiny model; `extra_input` adds an input the model cannot be fed.
fn write_tiny_model(path: &Path, extra_input: Option<&str>) {
    let w: Vec<u8> = W.iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut graph = Message::default()
        .msg(1, node("Cast", &["input_ids"], "ids_f", Some(FLOAT)))
        .msg(1, node("Cast", &["attention_mask"], "mask_f", Some(FLOAT)))
        .msg(1, node("Mul", &["ids_f", "mask_f"], "masked", None))
        .msg(1, node("Unsqueeze", &["masked", "axes"], "masked3", None))
        .msg(1, node("Mul", &["masked3", "w"], "last_hidden_state", None))
        .str(2, "tiny")
        .msg(5, initializer("axes", INT64, &[1], &2_i64.to_le_bytes()))
        .msg(5, initializer("w", FLOAT, &[4], &w))
        .msg(11, tensor_info("input_ids", INT64, &["batch", "sequence"]))
        .msg(11, tensor_info("attention_mask", INT64, &["batch", "sequence"]));
    if let Some(name) = extra_input {
        graph = graph.msg(11, tensor_info(name, INT64, &["batch", "sequence"]));
    }
    let graph = graph.msg(12, tensor_info("last_hidden_state", FLOAT, &["batch", "sequence", "4"]));
    let model = Message::default()
        .varint(1, 8)
        .str(2, "cm-embed-tests")
        .msg(7, graph)
        .msg(8, Message::default().str(1, "").varint(2, 13));
    std::fs::write(path, model.0).unwrap();
}

fn tiny_dir(extra_input: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(common::model_dir().join("tokenizer.json"), dir.path().join("tokenizer.json")).unwrap();
    write_tiny_model(&dir.path().join("model.onnx"), extra_input);
    dir
}

fn tiny_spec(pooling: Pooling) -> ModelSpec {
    ModelSpec { id: "tiny".into(), dimension: 4, pooling, max_tokens: 32, ..ModelSpec::all_minilm_l6_v2() }
}

#[test]
fn model_without_token_type_ids_is_fed_only_its_inputs() {
    let runtime = init_onnxruntime(Some(&common::ort_library())).unwrap();
    let dir = tiny_dir(None);
    for pooling in [Pooling::Mean, Pooling::Cls] {
        let mut model =
            Model::load(runtime, dir.path(), tiny_spec(pooling), ModelOptions::default()).unwrap();
        let mut inputs = model.input_names();
        inputs.sort();
        assert_eq!(inputs, ["attention_mask", "input_ids"]);
        let vectors =
            model.embed(&["a short one", "and a somewhat longer second text"], EmbedKind::Query).unwrap();
        let norm = W.iter().map(|x| x * x).sum::<f32>().sqrt();
        for vector in vectors {
            for (got, want) in vector.iter().zip(W) {
                assert!((got - want / norm).abs() < 1e-5, "{pooling:?}: {vector:?}");
            }
        }
    }
}

#[test]
fn model_with_an_unknown_input_is_refused() {
    let runtime = init_onnxruntime(Some(&common::ort_library())).unwrap();
    let dir = tiny_dir(Some("pixel_values"));
    let err =
        Model::load(runtime, dir.path(), tiny_spec(Pooling::Mean), ModelOptions::default()).unwrap_err();
    assert!(matches!(err, Error::UnsupportedModel { .. }), "{err}");
    assert!(err.to_string().contains("pixel_values"), "{err}");
}

#[test]
fn file_that_is_not_onnx_is_an_error() {
    let runtime = init_onnxruntime(Some(&common::ort_library())).unwrap();
    let dir = tiny_dir(None);
    std::fs::write(dir.path().join("model.onnx"), b"not a model").unwrap();
    let err =
        Model::load(runtime, dir.path(), tiny_spec(Pooling::Mean), ModelOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Ort { .. }), "{err}");
    assert!(err.to_string().contains("model.onnx"), "{err}");
}
