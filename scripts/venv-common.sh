# Sourced by scripts/setup-{mlflow,ray,keras}.sh: one Python virtual environment per tool, with
# exact pins.
#
# ensure_venv <venv> <label> <name==version>...
#   Does nothing when every pin is installed in <venv>; otherwise creates the venv (with $PYTHON,
#   default python3) if missing and pip-installs the pins. A pin may carry extras
#   (ray[default]==2.60.0): the installed version of the package itself is compared.

ensure_venv() {
  local venv="$1" label="$2"
  shift 2
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" - "$@" <<'PY' 2>/dev/null; then
import importlib.metadata as m, re, sys
for pin in sys.argv[1:]:
    name, version = pin.split("==")
    if m.version(re.sub(r"\[.*\]$", "", name)) != version:
        sys.exit(1)
PY
    echo "$label: $venv already has $*"
    return 0
  fi
  if [ ! -x "$venv/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install --disable-pip-version-check --quiet "$@"
  echo "$label: installed $* into $venv"
}

# The pins of a requirements file (name==version lines; comments and blank lines skipped).
requirement_pins() {
  sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$1"
}
