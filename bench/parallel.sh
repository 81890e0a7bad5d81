#!/bin/sh
# bench/parallel.sh: renewing many due lineages from a local Pebble whose
# validations wait as a CA's do: ours with --max-parallel 8 (MAXP), ours
# with --max-parallel 1, and Debian's certbot (serial), each on its own
# copy of the same set.
# LINEAGES (default 50) webroot lineages are issued once by our client
# (a python http.server on Pebble's http-01 port serves the webroot);
# Pebble sleeps a random number of whole seconds, at most
# PEBBLE_VA_SLEEPTIME (default 3), before each validation, as a CA takes
# its time, and reuses no authorization, so every renewal validates.  Each round (RUNS, default 1) copies the set
# three times and runs `renew --force-renewal` once per client, checking
# that every lineage got a new version.  Prints wall times (median over
# the rounds) and the ratios.  BENCH_DIR=<dir> keeps the issued set.
set -eu
cd "$(dirname "$0")/.."
B=${CERTBOT_BUILD:-build}
[ -x "$B/certbot" ] || make -s B="$B"
if [ "$(id -u)" -eq 0 ]; then
	[ -x /usr/bin/certbot ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq certbot >/dev/null
	command -v pebble >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pebble >/dev/null
fi
exec lua5.4 bench/parallel.lua "$@"
