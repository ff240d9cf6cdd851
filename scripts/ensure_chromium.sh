#!/usr/bin/env bash
# The dashboard's browser tests drive Debian's Chromium (Playwright's own browser download cannot run here):
# install the package when no Chromium is found and CHROMIUM_EXECUTABLE does not name one.
set -euo pipefail
if [ -n "${CHROMIUM_EXECUTABLE:-}" ] || command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "no Chromium found and no apt-get to install it: install Chromium, or set CHROMIUM_EXECUTABLE" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "installing Debian's chromium for the dashboard's browser tests"
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
