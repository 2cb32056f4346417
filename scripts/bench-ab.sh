#!/usr/bin/env bash
# Compares two hub binaries on one `hub bench` command, the way
# docs/benchmarks.md asks for figures: alternated, the order swapped in
# every other pair (old-new, new-old, ...), so that a machine slowing down
# during the session weighs on both; then the median and range of each,
# the pairs the new binary won, its CPU per record and its peak RSS.
#
#     scripts/bench-ab.sh OLD NEW PAIRS BENCH-ARGS...
#
# Example, from the repository's root:
#
#     go build -o bin/hub-new ./cmd/hub
#     git worktree add --detach ../hub-old HEAD~1 && go build -C ../hub-old -o "$PWD"/bin/hub-old ./cmd/hub
#     scripts/bench-ab.sh bin/hub-old bin/hub-new 5 sync --orders 200000
#     scripts/bench-ab.sh bin/hub-old bin/hub-new 4 kafka --orders 200000
#
# Each run's whole output is kept in data/bench-ab/<time>/ (pair, binary).
# CPU is the bench process's user + system time (bash's `time`, children
# included), over the records it reports, so for `bench sync` it includes
# the bench's own inserts. Nothing else should run meanwhile.
set -euo pipefail

if [ $# -lt 4 ]; then
	sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
fi
old=$1 new=$2 pairs=$3
shift 3
for b in "$old" "$new"; do
	[ -x "$b" ] || { echo "bench-ab: $b is not an executable" >&2; exit 2; }
done
case $pairs in '' | *[!0-9]*) echo "bench-ab: PAIRS must be a number, not $pairs" >&2; exit 2 ;; esac

dir=data/bench-ab/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$dir"
results=$dir/results.tsv
printf 'pair\tbinary\trate\tunit\trecords\tcpu_s\trss_mib\n' >"$results"

# run PAIR NAME BINARY: one bench run, its figures appended to results.
run() {
	local pair=$1 name=$2 bin=$3 log=$dir/$1-$2.log
	echo "== pair $pair, $name: $bin bench ${*:4}" >&2
	TIMEFORMAT='%U %S'
	{ time "$bin" bench "${@:4}" >"$log" 2>&1; } 2>"$dir/$pair-$name.time" || {
		echo "bench-ab: $bin bench ${*:4} failed; its output is in $log" >&2
		tail -5 "$log" >&2
		exit 1
	}
	# sync:  "200000 orders in 21.799s: 9175 orders/s; ... peak RSS 403 MiB"
	# kafka: "... last record on the output topic: 10.126s (...): 19752 records/s"
	#        "CPU 17.4 s (...); peak RSS 860 MiB (...)"
	local rate unit records rss cpu
	read -r rate unit < <(grep -oE '[0-9]+ (orders|records)/s' "$log" | tail -1 | tr '/' ' ' | awk '{print $1, $2}')
	records=$(grep -oE '^ *[0-9]+ (orders in|records over)' "$log" | tail -1 | awk '{print $1}')
	rss=$(grep -oE 'peak RSS [0-9]+ MiB' "$log" | tail -1 | awk '{print $3}')
	cpu=$(awk '{printf "%.2f", $1 + $2}' "$dir/$pair-$name.time")
	if [ -z "${rate:-}" ] || [ -z "${records:-}" ]; then
		echo "bench-ab: no throughput in $log" >&2
		exit 1
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$pair" "$name" "$rate" "$unit" "$records" "$cpu" "${rss:-}" >>"$results"
	echo "   $rate $unit/s, $(awk -v c="$cpu" -v n="$records" 'BEGIN{printf "%.0f", c / n * 1e6}') us CPU per record, peak RSS ${rss:-?} MiB" >&2
}

for ((i = 1; i <= pairs; i++)); do
	if ((i % 2)); then
		run "$i" old "$old" "$@"
		run "$i" new "$new" "$@"
	else
		run "$i" new "$new" "$@"
		run "$i" old "$old" "$@"
	fi
done

# The summary: per binary the median and range of the rate, the median CPU
# per record and the RSS range; then the pairs the new binary won.
awk -F'\t' -v old="$old" -v new="$new" '
function median(a, n,    i, j, t) {
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
NR > 1 {
	b = $2; n[b]++; rate[b, n[b]] = $3; cpu[b, n[b]] = $6 / $5 * 1e6; unit = $4
	if (!(b in lo) || $7 < lo[b]) lo[b] = $7
	if ($7 > hi[b]) hi[b] = $7
	pr[$1, b] = $3
	if ($1 > pairs) pairs = $1
}
END {
	printf "%-4s %-28s %10s %21s %14s %16s\n", "", "binary", unit "/s", "(range)", "us CPU/record", "peak RSS MiB"
	split("old new", names, " ")
	for (k = 1; k <= 2; k++) {
		b = names[k]; m = n[b]; min = max = rate[b, 1]
		for (i = 1; i <= m; i++) { r[i] = rate[b, i]; c[i] = cpu[b, i]; if (rate[b, i] < min) min = rate[b, i]; if (rate[b, i] > max) max = rate[b, i] }
		printf "%-4s %-28s %10.0f %21s %14.0f %16s\n", b, (b == "old" ? old : new), median(r, m), "(" min "-" max ")", median(c, m), lo[b] "-" hi[b]
	}
	won = 0
	for (i = 1; i <= pairs; i++) if (pr[i, "new"] > pr[i, "old"]) won++
	printf "new won %d of %d pairs\n", won, pairs
}' "$results" | tee "$dir/summary.txt"
echo "(each run's output: $dir)" >&2
