# Shared by bin/run and bin/test: create .venv and install the project once per change
# of pyproject.toml.
ensure_venv() {
  local extra="$1" python="${PYTHON:-python3}" stamp
  if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
  fi
  stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)${extra:+-$extra}"
  if [ ! -f "$stamp" ]; then
    echo "Installing TDS Core${extra:+ with [$extra]} into .venv (log: .venv/pip.log) ..."
    if ! { .venv/bin/python -m pip install --quiet --upgrade pip &&
      .venv/bin/python -m pip install --quiet -e ".${extra:+[$extra]}"; } >.venv/pip.log 2>&1; then
      cat .venv/pip.log
      return 1
    fi
    touch "$stamp"
  fi
}
