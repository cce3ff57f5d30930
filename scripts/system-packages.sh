#!/usr/bin/env bash
# Debian packages the project needs beyond Python:
#   - pango (WeasyPrint renders certificate PDFs with it) and HarfBuzz's subsetter (WeasyPrint
#     embeds only the glyphs a certificate uses; without it, it falls back to fontTools, slower
#     and warning twice per PDF)
#   - Noto fonts: certificate names in any script (Latin, Arabic, Devanagari, Chinese, Japanese),
#     and Noto Color Emoji (an emoji in a question or a name shows as itself, not as a box)
#   - chromium (only with --test): the browser tests drive it through Playwright
#   - poppler-utils (only with --test): pdftotext, the text of a certificate PDF as poppler-based
#     viewers (Evince, Okular) copy and search it (tests/certify/test_text_in_viewers.py)
# Installs what is missing when run as root; otherwise says what to install.
set -euo pipefail
packages=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji)
[ "${1:-}" = "--test" ] && packages+=(chromium poppler-utils)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing Debian packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "Installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
