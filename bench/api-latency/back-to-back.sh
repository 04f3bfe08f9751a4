#!/usr/bin/env bash
# bench/api-latency/back-to-back.sh BEFORE_CHECKOUT: the API latency bench before and after the event-loop fix
# (issue 16), back to back, for each mix, PGlite and PostgreSQL in each run. BEFORE_CHECKOUT is a checkout of
# this tree with src/db/client.ts from before the fix (plain PGlite) and this bench file copied in. The
# background training processes are paused (SIGSTOP, by process id) during each measured run and resumed right
# after, also on failure. Per-run results land in bench/api-latency/.back-to-back/.
set -euo pipefail
BEFORE=$(cd "$1" && pwd)
AFTER=$(cd "$(dirname "$0")/../.." && pwd)
PG=${PG:-postgresql://postgres@127.0.0.1:5432/postgres}
REQUESTS=${REQUESTS:-4000}
OUT="$AFTER/bench/api-latency/.back-to-back"
mkdir -p "$OUT"
paused=""
resume() { if [ -n "$paused" ]; then kill -CONT $paused 2>/dev/null || true; echo "resumed: $paused"; paused=""; fi; }
trap resume EXIT
trap "exit 130" INT TERM
port=4680
for mix in ${MIXES:-reads full}; do
  for variant in before after; do
    dir=$BEFORE; [ "$variant" = after ] && dir=$AFTER
    paused=$(pgrep -f '^/usr/bin/python3 training/' | tr '\n' ' ' || true)
    echo "== $mix $variant; load before: $(uptime); pausing: $paused" | tee -a "$OUT/log.txt"
    [ -n "$paused" ] && kill -STOP $paused
    sleep 2
    echo "   load at start: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/log.txt"
    (cd "$dir" && node --import tsx bench/api-latency/run.ts --mix "$mix" --requests "$REQUESTS" --clients 200 \
      --port $port --postgres "$PG" --label "$variant" --out "results-$mix-$variant.json") 2> "$OUT/$mix-$variant.stderr" | tee -a "$OUT/log.txt"
    resume
    [ "$dir" = "$BEFORE" ] && cp "$BEFORE/bench/api-latency/results-$mix-$variant.json" "$OUT/"
    [ "$dir" = "$AFTER" ] && mv "$AFTER/bench/api-latency/results-$mix-$variant.json" "$OUT/"
    port=$((port + 2))
  done
done
