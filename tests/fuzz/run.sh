#!/bin/sh
# run.sh DIR SECONDS JOBS BIN... - run libFuzzer targets, JOBS at a time, and print a summary.
#
# Each target fuzzes a fresh copy of tests/fuzz/corpus/<name>/ in DIR/corpus/<name>/
# (the checked-in seeds never grow), logs to DIR/<name>.log, and saves a crashing
# input as DIR/crash-<name>-*. Exits 1 when any target crashed or did not finish.
set -u
dir=$1 seconds=$2 jobs=$3
shift 3

run_one() {
	bin=$1
	name=${bin##*/fuzz_}
	rm -rf "$dir/corpus/$name"
	mkdir -p "$dir/corpus/$name"
	if [ -d "tests/fuzz/corpus/$name" ]; then
		cp tests/fuzz/corpus/"$name"/* "$dir/corpus/$name/" 2>/dev/null || true
	fi
	"$bin" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$dir/crash-$name-" "$dir/corpus/$name" >"$dir/$name.log" 2>&1
	echo $? >"$dir/$name.rc"
}

rm -f "$dir"/*.rc "$dir"/crash-*
echo "fuzz: $# targets, ${seconds}s each, $jobs at a time; logs in $dir/"
running=0
for bin in "$@"; do
	run_one "$bin" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait
		running=0
	fi
done
wait

failed=0
printf '\n%-16s %14s %8s  %s\n' target executions seconds result
for bin in "$@"; do
	name=${bin##*/fuzz_}
	rc=$(cat "$dir/$name.rc" 2>/dev/null || echo '?')
	runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1/p' "$dir/$name.log" | tail -n 1)
	secs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\2/p' "$dir/$name.log" | tail -n 1)
	if [ "$rc" = 0 ] && [ -n "$runs" ]; then
		result=ok
	else
		result="FAILED (exit $rc; see $dir/$name.log)"
		failed=1
	fi
	printf '%-16s %14s %8s  %s\n' "$name" "${runs:--}" "${secs:--}" "$result"
done
if [ "$failed" = 1 ]; then
	for bin in "$@"; do
		name=${bin##*/fuzz_}
		[ "$(cat "$dir/$name.rc" 2>/dev/null)" = 0 ] && continue
		echo "---- $name: tail of $dir/$name.log"
		tail -n 30 "$dir/$name.log"
		for f in "$dir/crash-$name-"*; do
			[ -e "$f" ] && echo "---- $name: reproduce with: $bin $f"
		done
	done
	exit 1
fi
echo "fuzz: all $# targets ran ${seconds}s without a crash"
