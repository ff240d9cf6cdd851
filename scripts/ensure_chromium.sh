#!/usr/bin/env bash
# The dashboard's browser tests drive Debian's Chromium (Playwright's own browser download cannot run here):
# install the package when no Chromium is found and CHROMIUM_EXECUTABLE does not name one. Where it cannot be
# installed (no apt-get, no root and no password-less sudo) it says so and lets the tests run: the browser
# tests then fail with the same hint, and every other test still runs.
set -euo pipefail

found() { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }
cannot() {
  echo "warning: no Chromium for the dashboard's browser tests ($1): install Chromium, or set CHROMIUM_EXECUTABLE" >&2
  exit 0
}

if [ -n "${CHROMIUM_EXECUTABLE:-}" ] || found; then exit 0; fi
command -v apt-get >/dev/null 2>&1 || cannot "no apt-get here"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  # -n: never stop the test run to ask for a password.
  command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null || cannot "installing needs root or password-less sudo"
  sudo=(sudo -n)
fi
echo "installing Debian's chromium for the dashboard's browser tests"
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
found || cannot "apt-get installed no chromium command"
