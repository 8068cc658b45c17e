#!/usr/bin/env bash
# Install everything the test suite needs, then run all of it.
#
#   bash scripts/test.sh                 # the whole suite, browser, crash, server and slow tiers included
#   bash scripts/test.sh -m "not slow"   # extra arguments go to pytest
#
# System packages come from apt (chromium for the browser tests, npm for the uPlot build hook when
# missing); Python packages from pip. Never runs `playwright install`: the tests use Debian's chromium.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'scripts/test.sh: %s\n' "$*" >&2; }

python=${PYTHON:-$(command -v python3 || command -v python)}

apt_packages=()
[ -x /usr/bin/chromium ] || apt_packages+=(chromium)
command -v npm >/dev/null 2>&1 || apt_packages+=(npm)
# PostgreSQL for the server's PostgreSQL index tests (tests/pg_fixtures.py starts a throwaway cluster)
{ command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; } ||
  apt_packages+=(postgresql)

if [ ${#apt_packages[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    as_root=()
  elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo -n)
  else
    as_root=(none)
  fi
  if [ "${as_root[*]-}" = none ]; then
    say "cannot install ${apt_packages[*]}: not root and no sudo. Browser tests will fail without /usr/bin/chromium, PostgreSQL tests without initdb."
  elif ! { ${as_root[@]+"${as_root[@]}"} apt-get update &&
           ${as_root[@]+"${as_root[@]}"} env DEBIAN_FRONTEND=noninteractive \
             apt-get install -y "${apt_packages[@]}"; }; then
    say "apt-get could not install ${apt_packages[*]}; continuing. Browser tests will fail without /usr/bin/chromium, PostgreSQL tests without initdb."
  fi
fi

# PyTorch for the localtrack.watch() and integration tests. Pinned to the CPU build that this
# project's CI machines carry on disk (a plain `torch` would fetch a multi-GB CUDA build); installed
# first so that nothing below (lightning, transformers) pulls a CUDA torch of its own.
"$python" -c "import torch" 2>/dev/null || "$python" -m pip install "torch==2.13.0"
# The frameworks of tests/test_integrations_*.py (about 350 MB, 1-2 minutes): their extras, with
# XGBoost's CPU-only wheel (plain `xgboost` adds NVIDIA's NCCL); Keras runs on torch, no TensorFlow.
# tensorboard, mlflow, wandb, trackio and aim: the real writers of tests/test_import_*.py (about 2
# minutes; trackio only writes the test's sources: localtrack reads its SQLite files with sqlite3).
# postgres: psycopg 3 and psycopg-pool for the PostgreSQL index tests.
"$python" -m pip install -e ".[test,lightning,transformers,keras,lightgbm,sklearn,tensorboard,mlflow,wandb,aim,postgres]" "xgboost-cpu>=2" "trackio>=0.40"

set +e
"$python" -m pytest --durations=30 "$@"  # the 30 slowest tests, to keep CI under its 20 minutes
status=$?
set -e
if [ "$status" -eq 5 ]; then
  say "pytest collected no tests; that is a failure, not a pass."
  exit 1
fi
exit "$status"
