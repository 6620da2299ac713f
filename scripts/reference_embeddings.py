#!/usr/bin/env python3
"""Reference sentence embeddings of all-MiniLM-L6-v2, computed with plain numpy.

Regenerate the committed fixture from the repository root, after
scripts/setup-test-deps.sh has run, with:

    PYTHONPATH="${CLAUDE_MEMORY_TEST_DEPS:-$HOME/.cache/claude-memory-test-deps}/py" python3 scripts/reference_embeddings.py

This is an independent implementation of the BERT forward pass: it reads the
float32 weights from model.safetensors, computes in float64, embeds each
sentence on its own (no padding at all), then mean-pools over the tokens and
L2-normalises, as sentence-transformers does for this model.  It shares no
code with scripts/build_minilm_onnx.py, so the Rust tests that compare ONNX
output against the fixture check the exported graph, the tokenizer and the
pooling at once.  Tokens come from the model's tokenizer.json via the
`tokenizers` package.

Writes crates/cm-embed/tests/fixtures/minilm_reference.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURE = REPO_ROOT / "crates/cm-embed/tests/fixtures/minilm_reference.json"

# Two related pairs (migrations, SQLite locking), unrelated sentences, non-ASCII text.
SENTENCES = [
    "How do I run the database migrations before the server starts?",
    "Apply pending SQL schema migrations when the application boots.",
    "SQLite reports 'database is locked' when two writers hold the file at once.",
    "Concurrent writes to the sqlite database fail with a busy lock error.",
    "The cat slept all afternoon in a warm patch of sunlight.",
    "Remember that the user prefers tabs over spaces in Makefiles.",
    "Die Datenbank wurde erfolgreich migriert — naïve café, 東京のラーメン 🍜",
    "memory",
]

NUM_HEADS = 12
LAYER_NORM_EPS = 1e-12


def default_model_dir() -> Path:
    if "CLAUDE_MEMORY_TEST_MODEL_DIR" in os.environ:
        return Path(os.environ["CLAUDE_MEMORY_TEST_MODEL_DIR"])
    deps = os.environ.get("CLAUDE_MEMORY_TEST_DEPS", str(Path.home() / ".cache/claude-memory-test-deps"))
    return Path(deps) / "models/all-minilm-l6-v2"


class NumpyBert:
    """BertModel forward pass in float64 for a single unpadded sequence."""

    def __init__(self, weights_path: Path):
        self.w = {k: v.astype(np.float64) for k, v in load_file(str(weights_path)).items() if v.dtype == np.float32}
        self.num_layers = sum(1 for k in self.w if k.endswith(".attention.self.query.weight"))
        self._erf = np.vectorize(math.erf)

    def _linear(self, x: np.ndarray, prefix: str) -> np.ndarray:
        return x @ self.w[prefix + ".weight"].T + self.w[prefix + ".bias"]

    def _layer_norm(self, x: np.ndarray, prefix: str) -> np.ndarray:
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        return (x - mean) / np.sqrt(var + LAYER_NORM_EPS) * self.w[prefix + ".weight"] + self.w[prefix + ".bias"]

    def _gelu(self, x: np.ndarray) -> np.ndarray:
        return 0.5 * x * (1.0 + self._erf(x / math.sqrt(2.0)))

    def _self_attention(self, x: np.ndarray, prefix: str) -> np.ndarray:
        seq, hidden = x.shape
        head_dim = hidden // NUM_HEADS

        def heads(name: str) -> np.ndarray:  # [heads, seq, head_dim]
            return self._linear(x, f"{prefix}.{name}").reshape(seq, NUM_HEADS, head_dim).transpose(1, 0, 2)

        q, k, v = heads("query"), heads("key"), heads("value")
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(head_dim)
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        probs = scores / scores.sum(axis=-1, keepdims=True)
        return (probs @ v).transpose(1, 0, 2).reshape(seq, hidden)

    def hidden_states(self, input_ids: list[int], token_type_ids: list[int]) -> np.ndarray:
        w = self.w
        x = (
            w["embeddings.word_embeddings.weight"][input_ids]
            + w["embeddings.token_type_embeddings.weight"][token_type_ids]
            + w["embeddings.position_embeddings.weight"][: len(input_ids)]
        )
        x = self._layer_norm(x, "embeddings.LayerNorm")
        for i in range(self.num_layers):
            p = f"encoder.layer.{i}"
            attn = self._linear(self._self_attention(x, f"{p}.attention.self"), f"{p}.attention.output.dense")
            x = self._layer_norm(x + attn, f"{p}.attention.output.LayerNorm")
            ffn = self._linear(self._gelu(self._linear(x, f"{p}.intermediate.dense")), f"{p}.output.dense")
            x = self._layer_norm(x + ffn, f"{p}.output.LayerNorm")
        return x


def embed(model_dir: Path, sentences: list[str]) -> np.ndarray:
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()  # one sequence at a time: every token is real, no mask needed
    bert = NumpyBert(model_dir / "model.safetensors")
    rows = []
    for sentence in sentences:
        enc = tokenizer.encode(sentence)
        pooled = bert.hidden_states(enc.ids, enc.type_ids).mean(axis=0)
        rows.append(pooled / np.linalg.norm(pooled))
    return np.stack(rows)


def write_fixture(path: Path, sentences: list[str], embeddings: np.ndarray) -> None:
    """JSON with one embedding per line, so that a change shows as a readable diff."""
    header = {"model": "all-minilm-l6-v2", "pooling": "mean", "normalize": True, "sentences": sentences}
    rows = [json.dumps([round(float(v), 6) for v in row]) for row in embeddings]
    text = json.dumps(header, ensure_ascii=False, indent=2)[:-2]
    text += ',\n  "embeddings": [\n    ' + ",\n    ".join(rows) + "\n  ]\n}\n"
    json.loads(text)  # stays valid JSON
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=default_model_dir(),
                        help="directory with model.safetensors and tokenizer.json")
    parser.add_argument("--output", type=Path, default=FIXTURE)
    args = parser.parse_args()

    embeddings = embed(args.model_dir, SENTENCES)
    write_fixture(args.output, SENTENCES, embeddings)
    print(f"wrote {args.output}: {len(SENTENCES)} sentences x {embeddings.shape[1]} dims")
    sims = embeddings @ embeddings.T
    for i, j in [(0, 1), (2, 3), (0, 2), (0, 4), (2, 4)]:
        print(f"  cos({i}, {j}) = {sims[i, j]:.4f}   {SENTENCES[i][:40]!r} ~ {SENTENCES[j][:40]!r}")


if __name__ == "__main__":
    main()
