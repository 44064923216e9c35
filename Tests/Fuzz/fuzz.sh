#!/bin/sh
# make fuzz: runs each parser's libFuzzer harness for FUZZ_SECONDS (default 600)
# from the seed corpus in Tests/Fuzz/Corpus/<target>, with a 10 s limit per input
# (a slower one is a hang) and 4 GiB of memory. Findings go to
# .build-fuzz/findings/<target>/; keep each as Tests/Fuzz/Crashers/<target>/<name>
# once fixed (the tests replay them). Prints one line per target and exits 1 if
# anything was found.
set -u
binary=${FUZZ_BINARY:-.build-fuzz/release/hpccloud}
seconds=${FUZZ_SECONDS:-600}
targets=${FUZZ_TARGETS:-"scenario hardware overheads trace swf arguments results"}
found=0
# Swift's own crash reporter would take the trap before libFuzzer, which then keeps no input.
export SWIFT_BACKTRACE=enable=no
printf '%-10s %8s %12s %10s %8s %8s %8s %6s\n' target seconds inputs "inputs/s" edges corpus crashes hangs
for target in $targets; do
    corpus=.build-fuzz/corpus/$target findings=.build-fuzz/findings/$target log=.build-fuzz/fuzz-$target.log
    mkdir -p "$corpus" "$findings"
    HPCCLOUD_FUZZ=$target "$binary" "$corpus" "Tests/Fuzz/Corpus/$target" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=4096 -artifact_prefix="$findings/" -print_final_stats=1 >"$log" 2>&1
    stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
    crashes=$(ls "$findings" | grep -c -E '^(crash|oom|leak)-' || true)
    hangs=$(ls "$findings" | grep -c -E '^(timeout|slow-unit)-' || true)
    edges=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    # A run that stopped without its final statistics died in a way libFuzzer did not catch: a finding too.
    [ -n "$(stat number_of_executed_units)" ] || crashes=$((crashes + 1))
    printf '%-10s %8s %12s %10s %8s %8s %8s %6s\n' "$target" "$seconds" "$(stat number_of_executed_units)" \
        "$(stat average_exec_per_sec)" "$edges" "$(ls "$corpus" | wc -l)" "$crashes" "$hangs"
    [ "$crashes" -eq 0 ] && [ "$hangs" -eq 0 ] || { found=1; grep -E 'ERROR|Fatal|==[0-9]+==|SUMMARY' "$log" | head -5; }
done
exit $found
