#!/usr/bin/env bash
# Puts the ONNX Runtime shared library for this machine into DIR (default
# target/onnxruntime) and prints its path. It comes from the official
# `onnxruntime` wheel on PyPI (the library is inside it, in
# onnxruntime/capi/); pip picks the wheel for this OS and CPU. Idempotent:
# an existing library of the wanted version is kept. PYTHON names the Python
# 3 to use (default python3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ORT_VERSION=1.32.0
dir=${1:-target/onnxruntime}
mkdir -p "$dir"
existing=$(find "$dir" -maxdepth 1 -name "*onnxruntime*${ORT_VERSION}*" \( -name '*.so*' -o -name '*.dylib' -o -name '*.dll' \) | head -n 1)
if [ -n "$existing" ]; then
    echo "$existing"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"${PYTHON:-python3}" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    "onnxruntime==$ORT_VERSION" -d "$tmp" >&2
wheel=$(find "$tmp" -name 'onnxruntime-*.whl' | head -n 1)
[ -n "$wheel" ] || { echo "error: pip found no onnxruntime $ORT_VERSION wheel for this machine" >&2; exit 1; }
"${PYTHON:-python3}" - "$wheel" "$dir" <<'PY'
import os, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.startswith("onnxruntime/capi/")
             and os.path.basename(n).startswith(("libonnxruntime.so.", "libonnxruntime.", "onnxruntime.dll"))
             and not n.endswith((".py", ".pyd"))]
    libs = [n for n in names if "providers" not in n]
    if not libs:
        sys.exit("error: no ONNX Runtime library in " + wheel)
    lib = sorted(libs, key=len)[-1]
    out = os.path.join(dest, os.path.basename(lib))
    with z.open(lib) as src, open(out + ".tmp", "wb") as dst:
        dst.write(src.read())
    os.chmod(out + ".tmp", 0o755)
    os.replace(out + ".tmp", out)
    print(out)
PY
