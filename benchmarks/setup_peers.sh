#!/usr/bin/env bash
# Create benchmarks/.peers/imc011/: a virtual environment holding the public
# imcombiners 0.1.1 (built from its sdist with maturin/cargo) plus numpy.
# It is only ever run as a subprocess (benchmarks/peer_worker.py); never imported
# into the harness process. Safe to run again: it does nothing if the venv works.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.peers/imc011"
python="${PYTHON:-python3}"
want="0.1.1"

if [ -x "$venv/bin/python" ] &&
    "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('imcombiners') != '$want')" 2>/dev/null; then
    echo "imcombiners $want already installed in $venv"
    exit 0
fi

mkdir -p "$here/.peers"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet numpy
# No wheel is published for this platform, so pip builds the sdist (Rust, a few minutes on 2 cores).
"$venv/bin/python" -m pip install "imcombiners==$want"
"$venv/bin/python" -c "import imcombiners, numpy; print('installed', imcombiners.__name__, numpy.__version__)"
