#!/usr/bin/env bash
# Create .venv/ in the repo root and install c2am-bench with its pinned stack into it.
#
# The hard part is mmcv 2.1.0 (mmsegmentation 1.2.2 needs exactly it, with compiled ops): PyPI only
# has its source, whose setup.py asks for C++14/17 while torch 2.14's headers need C++20. We build
# the wheel once, keep it in a cache outside the repo and reuse it on every later setup.
#
#   CPU machine : ops are built for the CPU (FORCE_CUDA=0), 8-11 min on 2 cores (AMD EPYC ~7, Intel Xeon 11).
#   CUDA machine: when nvcc and a CUDA-capable torch are found, FORCE_CUDA is left unset so the CUDA
#                 ops are built too (the wheel is cached under a different name). Force either with
#                 C2AM_MMCV_CUDA=1 / C2AM_MMCV_CUDA=0.
#
# Environment: PYTHON (default python3.11 or python3), C2AM_CACHE_DIR (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/c2am-bench), MAX_JOBS (default: number of cores).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"
CACHE="${C2AM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/c2am-bench}"
TORCH_PIN="torch==2.14.1 torchvision==0.29.1"
MMCV_VERSION="2.1.0"
STAMP="$VENV/.c2am-setup-stamp"

log() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

want_stamp() {
  cat "$ROOT/pyproject.toml" "$ROOT/scripts/setup_venv.sh" | sha256sum | cut -d' ' -f1
}

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(want_stamp)" ]; then
  exit 0
fi

start=$(date +%s)
# Say how long this will take before it starts, and why (the mmcv build is most of it).
if ls "$CACHE"/wheels/mmcv-"$MMCV_VERSION"-*/mmcv-*.whl >/dev/null 2>&1; then
  log "setting up $VENV: about 1-2 minutes (torch and the stack from pip, mmcv from the wheel cached in $CACHE)"
else
  log "setting up $VENV: about 8-18 minutes on 2 cores (measured: 486 s on a 2-core AMD EPYC, 724 s on a 2-core Intel Xeon, 1,100 s on a 2-core Zen 3 EPYC; most of it the mmcv build)."
  log "  why: PyPI has no mmcv $MMCV_VERSION wheel for this torch/Python, so its C++ ops are compiled here once; the wheel is then cached in $CACHE and later set-ups take about 70 s"
fi
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV with $("$PY" --version 2>&1)"
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
# pip's "Location ... is ignored" warnings come from this machine's extra local indexes: noise.
pip_q() {
  "$VPY" -m pip install --quiet --disable-pip-version-check --progress-bar off "$@" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

log "installing $TORCH_PIN (about 1 minute from a local wheel cache, longer from PyPI)"
pip_q $TORCH_PIN
# torch pulls a setuptools too new for mmcv's setup.py and mmengine's `mmseg::` config lookups,
# both of which import pkg_resources (removed in setuptools 81).
pip_q "setuptools>=77,<81" wheel ninja

read -r TORCH_V CUDA_OK < <("$VPY" -c "import torch; print(torch.__version__.split('+')[0], int(torch.cuda.is_available()))")
PYTAG=$("$VPY" -c "import sys; print(f'cp{sys.version_info[0]}{sys.version_info[1]}')")
ARCH=$(uname -m)
if [ -n "${C2AM_MMCV_CUDA:-}" ]; then
  WITH_CUDA="$C2AM_MMCV_CUDA"
elif [ "$CUDA_OK" = "1" ] && command -v nvcc >/dev/null 2>&1; then
  WITH_CUDA=1
else
  WITH_CUDA=0
fi
FLAVOUR=$([ "$WITH_CUDA" = "1" ] && echo cuda || echo cpu)
WHEEL_DIR="$CACHE/wheels/mmcv-$MMCV_VERSION-torch$TORCH_V-$PYTAG-$ARCH-$FLAVOUR"
mkdir -p "$CACHE/wheels"

wheel=$(ls "$WHEEL_DIR"/mmcv-*.whl 2>/dev/null | head -n1 || true)
if [ -n "$wheel" ]; then
  log "reusing cached mmcv wheel $wheel"
else
  log "building mmcv $MMCV_VERSION with $FLAVOUR ops from source: 8-11 minutes on 2 cores (once per machine; started $(date +%H:%M))"
  build=$(mktemp -d "$CACHE/build.XXXXXX")
  trap 'rm -rf "$build"' EXIT
  "$VPY" -m pip download --disable-pip-version-check --no-deps --no-binary :all: \
    "mmcv==$MMCV_VERSION" -d "$build" >/dev/null
  tar -xzf "$build"/mmcv-"$MMCV_VERSION".tar.gz -C "$build"
  src="$build/mmcv-$MMCV_VERSION"
  # torch >= 2.10 headers refuse anything older than C++20.
  sed -i -e 's/-std=c++14/-std=c++20/g' -e 's/-std=c++17/-std=c++20/g' "$src/setup.py"
  export MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}"
  if [ "$WITH_CUDA" = "1" ]; then unset FORCE_CUDA; else export FORCE_CUDA=0; fi
  (cd "$src" && "$VPY" -m pip wheel --disable-pip-version-check --no-build-isolation --no-deps \
      -v . -w "$build/dist" >"$build/build.log" 2>&1) &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 30
    n=$(grep -c -E '\.o$|Building|building|\[[0-9]+/[0-9]+\]' "$build/build.log" 2>/dev/null || true)
    last=$(grep -o -E '\[[0-9]+/[0-9]+\]' "$build/build.log" 2>/dev/null | tail -n1 || true)
    log "  mmcv build running: $(( $(date +%s) - start ))s elapsed ${last:+, compile step $last}"
  done
  if ! wait "$pid"; then
    tail -n 40 "$build/build.log" >&2
    echo "error: mmcv build failed; full log above ($build/build.log)" >&2
    exit 1
  fi
  mkdir -p "$WHEEL_DIR.tmp"
  cp "$build"/dist/mmcv-*.whl "$WHEEL_DIR.tmp/"
  rm -rf "$WHEEL_DIR" && mv "$WHEEL_DIR.tmp" "$WHEEL_DIR"   # atomic: a killed build leaves no wheel
  wheel=$(ls "$WHEEL_DIR"/mmcv-*.whl | head -n1)
  log "cached $wheel"
fi
log "installing mmcv, c2am-bench and their dependencies (editable, with dev extras)"
pip_q "$wheel" -e "$ROOT[dev]"
# Re-assert the pin in case a dependency moved setuptools.
pip_q "setuptools>=77,<81"
"$VPY" -c "import mmcv, mmseg, mmcv.ops; print('mmcv', mmcv.__version__, 'mmseg', mmseg.__version__)"
want_stamp >"$STAMP"
log "done in $(( $(date +%s) - start ))s"
