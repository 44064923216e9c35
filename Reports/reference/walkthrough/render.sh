#!/bin/sh
# Renders every figure of the README's research walk-through in Chromium, into
# this directory: the sweep's figures (each metric against the policy, and each
# paired difference against best-fit) and one run's (CDFs, binned utilization,
# rejections). Usage: render.sh HPCCLOUD_BINARY (make walkthrough-figures).
set -eu
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for d in Workloads Hardware policies; do ln -s "$root/$d" "$scratch/$d"; done
cd "$scratch"
"$bin" sweep Workloads/swf-lublin-mixed.yaml --vary 'policy=best-fit,first-fit,exec:python3 policies/balance_vfs.py' \
  --replications 4 --horizon 600 --baseline policy=best-fit --db study.sqlite > /dev/null
"$bin" report study.sqlite --figures figures --baseline policy=best-fit
"$bin" simulate Workloads/swf-lublin-mixed.yaml --policy 'exec:python3 policies/balance_vfs.py' --horizon 600 --db jobs.sqlite > /dev/null
"$bin" report jobs.sqlite --figures figures
for svg in figures/*.svg; do
  name=$(basename "$svg" .svg)
  # The window is the figure's own size (its width and height attributes).
  size=$(sed -n 's/.*<svg[^>]* width="\([0-9.]*\)" height="\([0-9.]*\)".*/\1,\2/p' "$svg" | head -1 | sed 's/\.[0-9]*//g')
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size="$size" \
    --screenshot="$here/$name.png" "file://$scratch/$svg" 2>/dev/null
done
