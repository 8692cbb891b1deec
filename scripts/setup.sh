#!/usr/bin/env bash
# Set up a fresh machine: a virtualenv in .venv with the package and its extras.
#   bash scripts/setup.sh            # core + web UI
#   bash scripts/setup.sh dev        # + test tools and Debian's chromium for browser tests
#   bash scripts/setup.sh dev,llm    # + the optional LLM extra (compiles llama-cpp-python, ~11 min)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="ui${1:+,$1}"
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# The CPU build of torch lies on this disk; any other spec would pull a multi-GB CUDA build.
.venv/bin/pip install -q torch==2.13.0
if [[ ",$extras," == *",llm,"* ]]; then
  # llama-cpp-python compiles (~10 min on 2 cores). A portable AVX2 build: the default
  # -march=native build used CPU features this VM advertises but traps on (illegal
  # instruction). --no-cache-dir so a wheel built with other flags is never reused.
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}" \
    .venv/bin/pip install -q --no-cache-dir "llama-cpp-python[server]>=0.3"
fi
.venv/bin/pip install -q -e ".[${extras}]"
if [[ ",$extras," == *",dev,"* ]] && ! command -v chromium >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
fi
echo "setup done: .venv ready (extras: ${extras})"
