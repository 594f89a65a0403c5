# Shared by bin/run and bin/test: create .venv and install the locked packages
# (requirements.txt, or requirements-dev.txt for [dev]; see bin/lock), then the project,
# once per change of the lock file or pyproject.toml.
ensure_venv() {
  local extra="$1" python="${PYTHON:-python3}" lock stamp
  lock="requirements${extra:+-$extra}.txt"
  if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
  fi
  stamp=".venv/.installed-$(cat pyproject.toml "$lock" | sha256sum | cut -c1-16)${extra:+-$extra}"
  if [ ! -f "$stamp" ]; then
    echo "Installing TDS Core${extra:+ with [$extra]} into .venv from $lock (log: .venv/pip.log) ..."
    # The lock's own pip first: pip before 23.3 (Python 3.11's bundled 23.2) resolves a
    # package asked for with an extra (pip-audit's CacheControl[filecache]) to its newest
    # release instead of the pinned one, and --require-hashes then refuses the install.
    awk '/^pip==/ { keep = 1 } keep { print; if ($0 !~ /\\$/) exit }' "$lock" >.venv/pip-lock.txt
    # The project adds no package of its own: --no-deps, built by the locked setuptools, so
    # nothing is fetched that the lock's hashes do not cover.
    if ! { .venv/bin/python -m pip install --quiet --require-hashes -r .venv/pip-lock.txt &&
      .venv/bin/python -m pip install --quiet --require-hashes -r "$lock" &&
      .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .; } \
      >.venv/pip.log 2>&1; then
      cat .venv/pip.log
      return 1
    fi
    touch "$stamp"
  fi
}
