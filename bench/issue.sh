#!/bin/sh
# bench/issue.sh: issuing one certificate with `certonly --standalone`
# against the same local Pebble, ours ($CERTBOT_BUILD/certbot, default
# build/certbot) beside Debian's certbot, RUNS times each (default 7): median
# CPU time (user+sys) of the client process, then RSS_RUNS more (default 3)
# under GNU time for its median peak RSS, and the ratios.  The account is
# registered once per client beforehand, so each run is one issuance.
set -eu
cd "$(dirname "$0")/.."
B=${CERTBOT_BUILD:-build}
[ -x "$B/certbot" ] || make -s B="$B"
if [ "$(id -u)" -eq 0 ]; then
	[ -x /usr/bin/certbot ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq certbot >/dev/null
	[ -x /usr/bin/time ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
fi
exec lua5.4 bench/issue.lua "$@"
