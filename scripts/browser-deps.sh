#!/usr/bin/env bash
# Makes sure the browser the end-to-end console tests drive is installed: Debian's Chromium and ChromeDriver
# (/usr/bin/chromium, /usr/bin/chromedriver), from the OS packages. Idempotent: does nothing when both are there.
# No browser is ever downloaded from the web (test tools' own browser downloads do not work on our machines).
set -euo pipefail

CHROMIUM=/usr/bin/chromium
CHROMEDRIVER=/usr/bin/chromedriver
PACKAGES=(chromium chromium-driver)

say() { printf '[browser-deps] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  command -v apt-get >/dev/null || { say "cannot install $*: no apt-get; install them by hand"; exit 1; }
  say "installing $* from the OS packages"
  # Refresh the package lists only when apt does not know the packages yet (a fresh machine or container).
  local pkg
  for pkg in "$@"; do
    if ! apt-cache show "$pkg" >/dev/null 2>&1; then
      as_root apt-get update -qq
      break
    fi
  done
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null; then
    # A stale list can name package versions the mirror no longer has: refresh once and retry.
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  fi
}

if [ -x "$CHROMIUM" ] && [ -x "$CHROMEDRIVER" ]; then
  say "Chromium and ChromeDriver are installed"
else
  apt_install "${PACKAGES[@]}"
fi

for bin in "$CHROMIUM" "$CHROMEDRIVER"; do
  [ -x "$bin" ] || { say "$bin is still missing after installing ${PACKAGES[*]}"; exit 1; }
done
say "$("$CHROMIUM" --version 2>/dev/null || echo chromium), $("$CHROMEDRIVER" --version 2>/dev/null | cut -d' ' -f1-2)"
