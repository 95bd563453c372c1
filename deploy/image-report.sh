#!/usr/bin/env bash
# Build the image and report its size and how long a container takes from start to answering
# /healthz. ENGINE=podman for Podman; TARGET=demo for the image with the demo models;
# BUILD_FLAGS for the engine's build (e.g. "--network host").
#   deploy/image-report.sh [TAG]
set -euo pipefail
cd "$(dirname "$0")/.."

engine="${ENGINE:-docker}"
target="${TARGET:-runtime}"
tag="${1:-smartnotes:report}"
port="${PORT:-18080}"

read -ra flags <<< "${BUILD_FLAGS:-}"
started=$(date +%s)
"$engine" build "${flags[@]}" --target "$target" -t "$tag" .
echo "build: $(( $(date +%s) - started )) s"

bytes=$("$engine" image inspect --format '{{.Size}}' "$tag")
echo "image: $tag, $(( bytes / 1024 / 1024 )) MiB"

name="smartnotes-report-$$"
trap '"$engine" rm -f "$name" >/dev/null 2>&1 || true' EXIT
t0=$(date +%s.%N)
"$engine" run -d --name "$name" -p "127.0.0.1:${port}:8080" "$tag" serve --no-process >/dev/null
until curl -fsS "http://127.0.0.1:${port}/healthz" >/dev/null 2>&1; do
    if [ "$("$engine" inspect --format '{{.State.Running}}' "$name")" != "true" ]; then
        "$engine" logs "$name" >&2
        echo "the container stopped before answering /healthz" >&2
        exit 1
    fi
    sleep 0.1
done
t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "start-up to /healthz: %.1f s\n", b - a }'
"$engine" exec "$name" id -u | sed 's/^/runs as uid /'
