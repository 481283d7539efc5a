#!/usr/bin/env bash
# Debian packages the test-suite uses: PostgreSQL+PostGIS (server tests), Chromium (end-to-end app test),
# gdal-bin (gdaldem reference for terrain tests), poppler-utils (PDF pages -> PNG),
# libreoffice-writer-nogui (DOCX -> PDF of the report sections), fonts-dejavu-core (Cyrillic fonts),
# fonts-liberation (Liberation Serif: the metrics of Times New Roman, so the PDF lays out like Word).
# Installs only what is missing; needs root (or sudo).
set -euo pipefail
need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in postgresql postgresql-postgis chromium gdal-bin poppler-utils libreoffice-writer-nogui fonts-dejavu-core fonts-liberation; do
  have_pkg "$p" || need+=("$p")
done
# the PostGIS extension package for whatever PostgreSQL major version Debian ships
if have_pkg postgresql && ! ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1; then
  need+=(postgresql-postgis)
fi
if [ ${#need[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "system packages missing (${need[*]}): run as root or install them with apt-get" >&2; exit 1; fi
fi
echo "installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
