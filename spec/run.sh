#!/bin/sh
# spec/run.sh BUILD_DIR: run the C tests and the busted specs against that
# build, then print one line "N passed, N failed[, N skipped]".
# SAN=1 (make asan): sanitizer build (ASan + UBSan); then
#  - busted runs the specs tagged "core" (those that drive certbot.core
#    directly) with libasan preloaded into lua5.4 (ASAN_LIB);
#  - busted runs the integration specs (spec/integration/, or the files
#    SAN_INTEGRATION names) against BUILD_DIR/certbot, an instrumented
#    executable that needs no preload.  Those busted processes load the
#    uninstrumented module of the build SAN_HOST (make's B), so nothing is
#    preloaded anywhere and the children the specs start (openssl, python,
#    Pebble, nginx) run as they always do.
# Every ASan/LSan report, from any process, goes to a file (log_path) and
# a report is a failure whatever the exit codes were: a spec that expects
# certbot to fail would not notice one.  (gcc's libubsan ignores log_path
# next to libasan: a UBSan report aborts the process instead, a signal no
# spec takes for success.)  Leak checking is on for the instrumented
# programs (certbot, the C tests), off in the preloaded lua5.4.
# spec/run.sh --total FILE: sum the counts that runs appended to FILE
# (COUNTS=FILE) and print the one closing line.
print_line() {
	if [ "$3" -ne 0 ]; then echo "$1 passed, $2 failed, $3 skipped"
	else echo "$1 passed, $2 failed"; fi
}
if [ "${1:-}" = "--total" ]; then
	set -- $(awk '{p+=$1; f+=$2; s+=$3} END {print p+0, f+0, s+0}' "$2")
	print_line "$1" "$2" "$3"
	[ "$2" -eq 0 ] && [ "$(($1 + $2))" -gt 0 ]
	exit
fi
B=${1:-build}
out=$(mktemp)
sanlogs=$(mktemp -d)
trap 'rm -rf "$out" "$sanlogs"' EXIT
status=0

if [ -n "$SAN" ]; then
	san_common="log_path=$sanlogs/report:abort_on_error=1"
	export ASAN_OPTIONS="detect_leaks=1:$san_common"
	export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:$san_common"
fi

for t in "$B"/ctest/test_*; do
	[ -x "$t" ] || continue
	echo "# $t"
	"$t" >>"$out" 2>&1 || status=1
done

export CERTBOT_BUILD="$B"
if [ -n "$SAN" ]; then
	ASAN_OPTIONS="detect_leaks=0:$san_common" CERTBOT_SAN=1 LD_PRELOAD="$ASAN_LIB" \
		busted --lua=lua5.4 -o TAP --tags=core >>"$out" 2>&1 || status=1
	# The ASan executable with the host build's module (see above).
	if [ -n "${SAN_HOST:-}" ]; then
		integ="$B/integration"
		rm -rf "$integ"
		mkdir -p "$integ"
		ln -s "$(cd "$B" && pwd)/certbot" "$integ/certbot"
		ln -s "$(cd "$SAN_HOST" && pwd)/lib" "$integ/lib"
		files=${SAN_INTEGRATION:-spec/integration}
		t0=$(date +%s)
		# shellcheck disable=SC2086 # a list of spec files
		CERTBOT_BUILD="$integ" busted --lua=lua5.4 -o TAP $files >>"$out" 2>&1 || status=1
		echo "# $B/certbot: $files, $(($(date +%s) - t0)) s"
	fi
	reports=$(find "$sanlogs" -type f | sort)
	if [ -n "$reports" ]; then
		for r in $reports; do
			echo "not ok 0 - sanitizer report $r:"
			sed -n '1,60p' "$r" | sed 's/^/# /'
		done >>"$out"
		status=1
	fi
else
	# SPEC_SHARDS busted processes side by side (spec/shard.lua), each
	# with its own range of free ports below the ephemeral range
	shards=${SPEC_SHARDS:-3}
	if [ "$shards" -gt 1 ]; then
		lists="$sanlogs/shards"
		mkdir -p "$lists"
		lua5.4 spec/shard.lua "$shards" "$lists"
		pids=""
		i=1
		while [ "$i" -le "$shards" ]; do
			lo=$((20000 + (i - 1) * 12000 / shards))
			hi=$((20000 + i * 12000 / shards - 1))
			# shellcheck disable=SC2046 # a list of spec files
			CERTBOT_SPEC_PORTS="$lo-$hi" busted --lua=lua5.4 -o TAP $(cat "$lists/$i") \
				>"$lists/out.$i" 2>&1 &
			pids="$pids $!"
			i=$((i + 1))
		done
		for pid in $pids; do wait "$pid" || status=1; done
		i=1
		while [ "$i" -le "$shards" ]; do cat "$lists/out.$i" >>"$out"; i=$((i + 1)); done
	else
		busted --lua=lua5.4 -o TAP >>"$out" 2>&1 || status=1
	fi
fi
# Show failures and diagnostics, not the long list of passes.
grep -vE '^ok [0-9]+ ' "$out" | grep -vE '^1\.\.[0-9]+$' | grep -vE '^# [^ ]+$' || true

passed=$(grep -cE '^ok [0-9]+ ' "$out" | tr -d ' ')
skipped=$(grep -cE '^ok [0-9]+ .*# SKIP' "$out" | tr -d ' ')
failed=$(grep -cE '^not ok [0-9]+ ' "$out" | tr -d ' ')
passed=$((passed - skipped))
if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
	echo "no test ran" >&2
	status=1
fi
if [ "$failed" -ne 0 ]; then status=1; fi
[ -n "${COUNTS:-}" ] && echo "$passed $failed $skipped" >>"$COUNTS"
if [ -n "${COUNTS:-}" ]; then
	echo "# $B: $passed passed, $failed failed, $skipped skipped"
else
	print_line "$passed" "$failed" "$skipped"
fi
exit $status
