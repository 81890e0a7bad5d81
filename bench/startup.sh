#!/bin/sh
# bench/startup.sh: median wall time of `certbot --version` and
# `certbot --help all`, ours ($CERTBOT_BUILD/certbot, default build/certbot)
# beside Debian's certbot, over RUNS runs each (default 30).  Installs
# Debian's certbot for the comparison when it is missing (root only).
# Prints a table and the ratios.
set -eu
cd "$(dirname "$0")/.."
RUNS=${RUNS:-30}
OURS=${OURS:-${CERTBOT_BUILD:-build}/certbot}
THEIRS=${THEIRS:-/usr/bin/certbot}
[ -x "$OURS" ] || make -s B="${CERTBOT_BUILD:-build}"
if [ ! -x "$THEIRS" ] && [ "$(id -u)" -eq 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq certbot >/dev/null
fi

# median_ms CMD...: run CMD RUNS times, print the median wall time in ms.
median_ms() {
	python3 - "$RUNS" "$@" <<'PY'
import subprocess, sys, time, statistics
runs = int(sys.argv[1]); cmd = sys.argv[2:]
subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # warm cache
t = []
for _ in range(runs):
    s = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t.append((time.perf_counter() - s) * 1000)
print("%.2f" % statistics.median(t))
PY
}

printf '%-22s %12s %12s %8s\n' command "ours (ms)" "certbot (ms)" ratio
for args in "--version" "--help all"; do
	# shellcheck disable=SC2086
	o=$(median_ms "$OURS" $args)
	if [ -x "$THEIRS" ]; then
		# shellcheck disable=SC2086
		t=$(median_ms "$THEIRS" $args)
		r=$(python3 -c "print('%.0fx' % ($t / $o))")
	else
		t=n/a; r=n/a
	fi
	printf '%-22s %12s %12s %8s\n' "certbot $args" "$o" "$t" "$r"
done
