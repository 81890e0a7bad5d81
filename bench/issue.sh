#!/bin/sh
# bench/issue.sh: issuing one certificate with `certonly --standalone`
# against the same local Pebble, ours (build/certbot) beside Debian's
# certbot, RUNS times each (default 7): median CPU time (user+sys) and peak
# RSS of the client process, and the ratios.  The account is registered
# once per client beforehand, so each run is one issuance.
set -eu
cd "$(dirname "$0")/.."
[ -x build/certbot ] || make -s
if [ ! -x /usr/bin/certbot ] && [ "$(id -u)" -eq 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq certbot >/dev/null
fi
exec lua5.4 bench/issue.lua "$@"
