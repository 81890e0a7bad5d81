#!/bin/sh
# spec/run.sh BUILD_DIR: run the C tests and the busted specs against that
# build, then print one line "N passed, N failed[, N skipped]".
# SAN=1 (make asan): sanitizer build; busted runs only the specs tagged
# "core" (those that drive certbot.core directly) with libasan preloaded.
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
trap 'rm -f "$out"' EXIT
status=0

for t in "$B"/ctest/test_*; do
	[ -x "$t" ] || continue
	echo "# $t"
	"$t" >>"$out" 2>&1 || status=1
done

export CERTBOT_BUILD="$B"
if [ -n "$SAN" ]; then
	export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	CERTBOT_SAN=1 LD_PRELOAD="$ASAN_LIB" busted --lua=lua5.4 -o TAP --tags=core >>"$out" 2>&1 || status=1
else
	busted --lua=lua5.4 -o TAP >>"$out" 2>&1 || status=1
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
