# Sourced by scripts/test and scripts/demo: creates the project's virtual environment once
# (in .venv at the top of the checkout), installs the project into it, and checks libsodium.
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$top/.venv"
py="${PYTHON:-python3}"

if ! "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "error: Python 3.11 or newer is needed (found: $("$py" --version 2>&1))" >&2
  exit 1
fi

# libsodium is a system library: pysodium only binds it.
if ! "$py" - <<'PY' 2>/dev/null
import ctypes.util, sys
sys.exit(0 if ctypes.util.find_library("sodium") else 1)
PY
then
  echo "error: libsodium is not installed. On Debian/Ubuntu: apt-get install libsodium23" >&2
  echo "       (on macOS: brew install libsodium)" >&2
  exit 1
fi

stamp="$venv/.installed"
if [ ! -x "$venv/bin/python" ]; then
  echo "creating the virtual environment in .venv ..." >&2
  "$py" -m venv "$venv"
fi
# Reinstall when pyproject.toml changed since the last install.
if [ ! -f "$stamp" ] || [ "$top/pyproject.toml" -nt "$stamp" ]; then
  echo "installing the project and its dependencies into .venv ..." >&2
  log="$venv/pip-install.log"
  if ! "$venv/bin/python" -m pip install --disable-pip-version-check -e "$top[service,test,postgresql]" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "error: installing the project failed (full log: $log)" >&2
    exit 1
  fi
  touch "$stamp"
fi
export PATH="$venv/bin:$PATH"
