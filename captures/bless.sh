#!/usr/bin/env bash
# Rewrites the golden outputs (captures/golden/NAME.jsonl, NAME.txt and NAME.ladder.txt) from
# the current build. Review the diff like code before committing it: it is what the golden tests enforce.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
capd=${CAPD:-$top/target/release/capd}
[ -x "$capd" ] || (cd "$top" && cargo build --release --quiet)
mkdir -p "$here/golden"
for f in "$here"/*.pcap; do
    n=$(basename "$f" .pcap)
    "$capd" -r "$f" --json > "$here/golden/$n.jsonl"
    "$capd" -r "$f" --color never > "$here/golden/$n.txt"
    COLUMNS=100 "$capd" -r "$f" --ladder --color never > "$here/golden/$n.ladder.txt"
done
echo "golden outputs rewritten; review: git diff -- captures/golden"
