#!/bin/sh
# bench/renew.sh: a no-op `renew` and `certificates` over many lineages,
# ours ($CERTBOT_BUILD/certbot, default build/certbot) beside Debian's
# certbot on the same config dir.
# A few dozen lineages (SEEDS, default 20) are issued from a local Pebble
# by our client, then cloned under new names (archive, relative live
# links, renewal confs naming the new paths) to 100 and 1,000 lineages
# (SIZES="100,1000").  Pebble's certificates last 5 years, so no lineage
# is due.  Per size and command: a checked warm-up run of each client
# (peak RSS through GNU time), then RUNS rounds (default 5), each one run
# of Debian's certbot and OURS_RUNS/RUNS of ours (OURS_RUNS defaults to
# 5*RUNS): median wall time and CPU time (user+sys), the ratios, and the
# file-I/O floor (one `cat` of every renewal conf and cert, and a Lua
# process reading them).  BENCH_DIR=<dir> keeps the seeds and clones;
# ONLY=renew (or certificates) runs one command.
set -eu
cd "$(dirname "$0")/.."
B=${CERTBOT_BUILD:-build}
[ -x "$B/certbot" ] || make -s B="$B"
if [ "$(id -u)" -eq 0 ]; then
	[ -x /usr/bin/certbot ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq certbot >/dev/null
	[ -x /usr/bin/time ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
fi
exec lua5.4 bench/renew.lua "$@"
