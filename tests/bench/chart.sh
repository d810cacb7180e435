#!/usr/bin/env bash
# chart.sh SAMPLES_DIR OUT.png: create latency distributions as CDFs (log time axis),
# one curve per samples file (cube-bench --samples, peer_time.sh / sdk_cycle.mjs), so
# concurrency levels and peers can be compared at a glance. Needs gnuplot (gnuplot-nox).
set -euo pipefail
dir=$1 out=$2
plots=()
for f in "$dir"/*.txt; do
    [ -s "$f" ] || continue
    title=$(basename "$f" .txt)
    plots+=("'$f' using 1:(1.0) smooth cnormal with steps lw 2 title '$title'")
done
[ ${#plots[@]} -gt 0 ] || { echo "chart.sh: no samples in $dir" >&2; exit 1; }
gnuplot <<GP
set terminal pngcairo size 1100,650 font ",10"
set output '$out'
set title "Create latency distributions on this host: $(nproc) cores, $(date -u +%Y-%m-%d) (CDF)"
set xlabel "latency (ms, log scale)"
set ylabel "fraction of cycles at or below"
set logscale x
set grid xtics mxtics ytics
set key outside right top
set yrange [0:1]
plot $(IFS=,; echo "${plots[*]}")
GP
