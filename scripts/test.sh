#!/usr/bin/env bash
# Everything CI runs, from a fresh clone: install, the test suite, then the eval gate.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev,llm
export GRADIO_ANALYTICS_ENABLED=False
.venv/bin/python -m pytest
.venv/bin/rag eval
