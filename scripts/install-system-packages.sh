#!/usr/bin/env bash
# Debian packages the local profile runs: PostgreSQL 15, Redis, InfluxDB 1.x,
# Chromium (UI test), GStreamer RTSP server (RTSP source test). Installs only
# what is missing; needs root (CI and the dev machines run as root).
set -euo pipefail
need=()
command -v /usr/lib/postgresql/15/bin/postgres >/dev/null 2>&1 || need+=(postgresql-15)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v influxd >/dev/null 2>&1 || need+=(influxdb)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
dpkg -s gir1.2-gst-rtsp-server-1.0 >/dev/null 2>&1 || need+=(gir1.2-gst-rtsp-server-1.0 python3-gst-1.0 \
  gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "error: missing system packages: ${need[*]}. Install them (as root: apt-get install ${need[*]}) and rerun." >&2
  exit 1
fi
echo "installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian's packages start their own daemons where an init system runs; ours
# start their own instances on 127.0.0.1 under the state directory instead.
for svc in redis-server influxdb postgresql; do service "$svc" stop >/dev/null 2>&1 || true; done
