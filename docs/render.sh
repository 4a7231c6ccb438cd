#!/usr/bin/env bash
# Renders the README's charts into docs/ from the results of the main job.
# Run `cargo run --release -- run experiments/` first, then: bash docs/render.sh
set -euo pipefail
cd "$(dirname "$0")/.."
conclab=target/release/conclab
[ -x "$conclab" ] || cargo build --release
# experiment:chart[:height] (the lecture's timeline has 12 panels: it needs the room)
for pair in cpu-bound:speedup cpu-bound:timeline lecture-io:timeline:1500 race:time-sync=none waits:time \
    free-threading:speedup free-threading:timeline:1100 \
    connections:timeline-http_version=1.1 connections:timeline-http_version=2; do
  exp=${pair%%:*}
  rest=${pair#*:}
  chart=${rest%%:*}
  height=750
  [ "$rest" != "$chart" ] && height=${rest#*:}
  "$conclab" chart "results/$exp" --width 1200 --height "$height" > /dev/null
  cp "results/$exp/$chart.png" "docs/$exp-$chart.png"
  # Back to full size in the results folder.
  "$conclab" chart "results/$exp" > /dev/null
done
ls -l docs/*.png
