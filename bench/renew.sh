#!/bin/sh
# bench/renew.sh: a no-op `renew` and `certificates` over many lineages,
# ours (build/certbot) beside Debian's certbot on the same config dir.
# A few dozen lineages (SEEDS, default 20) are issued from a local Pebble
# by our client, then cloned under new names (archive, relative live
# links, renewal confs naming the new paths) to 100 and 1,000 lineages
# (SIZES="100,1000").  Pebble's certificates last 5 years, so no lineage
# is due.  Each command runs once to warm the cache and check that every
# lineage was seen, then RUNS times (default 5): median wall time, CPU
# (user+sys) and peak RSS of the client process, the ratios, and the
# file-I/O floor (one `cat` of every renewal conf and cert).
# BENCH_DIR=<dir> keeps the seeds and clones there between runs.
set -eu
cd "$(dirname "$0")/.."
[ -x build/certbot ] || make -s
if [ ! -x /usr/bin/certbot ] && [ "$(id -u)" -eq 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq certbot >/dev/null
fi
exec lua5.4 bench/renew.lua "$@"
