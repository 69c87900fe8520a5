#!/usr/bin/env bash
# Builds app.py into a Nightshift plugin component with componentize-py.
#
#   bash build.sh OUT.wasm
#
# VENV (default /tmp/componentize-py-venv) is the virtualenv that holds componentize-py;
# it is created, and componentize-py installed into it, when missing.
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1

if [ $# -ne 1 ]; then
    echo "usage: bash $0 OUT.wasm" >&2
    exit 2
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
wit="$here/../../plugin-sdk/wit"
out="$(realpath -m "$1")"
venv="${VENV:-/tmp/componentize-py-venv}"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" || { echo "build.sh: could not create the virtualenv $venv" >&2; exit 1; }
fi
if [ "$("$venv/bin/componentize-py" --version 2>/dev/null)" != "componentize-py $COMPONENTIZE_PY_VERSION" ]; then
    "$venv/bin/pip" install --quiet "componentize-py==$COMPONENTIZE_PY_VERSION" || {
        echo "build.sh: pip install componentize-py==$COMPONENTIZE_PY_VERSION into $venv failed" >&2
        exit 1
    }
fi

# Build from a copy: the guest interpreter's pre-initialization writes __pycache__ next to
# the module it imports.
src="$(mktemp -d)"
trap 'rm -rf "$src"' EXIT
cp "$here/app.py" "$src/"
mkdir -p "$(dirname "$out")"
cd "$src"
"$venv/bin/componentize-py" -d "$wit" -w plugin componentize app -o "$out"
