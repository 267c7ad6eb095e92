#!/usr/bin/env bash
# Fetches the few googleapis protos the API imports (google/api/*, google/rpc/*)
# from the pinned npm package google-proto-files into .cache/protodeps, which
# git ignores: the buf registry is unreachable here, and third-party source is
# not committed. The tarball's checksum is pinned so a changed package fails.
# gnostic's OpenAPI v3 annotations (openapiv3/*.proto) come from the gnostic
# Go module pinned in go.mod (the protoc-gen-openapi tool's own module,
# checked against go.sum), so the annotations match the generator.
set -euo pipefail
cd "$(dirname "$0")/.."

gnostic_dir=$(go mod download -json github.com/google/gnostic | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
gnostic_version=$(go list -m -f '{{.Version}}' github.com/google/gnostic)
gnostic_stamp=".cache/protodeps/.gnostic-$gnostic_version"
if [ ! -f "$gnostic_stamp" ]; then
  mkdir -p .cache/protodeps/openapiv3
  for f in openapiv3/annotations.proto openapiv3/OpenAPIv3.proto; do
    install -m 0644 "$gnostic_dir/$f" ".cache/protodeps/$f"
  done
  touch "$gnostic_stamp"
fi

version=6.0.1
sha256=711763f77ea15bbc7436aac53db013b421d2c7b86ae27f4013723970ce54a96e
dest=.cache/protodeps
stamp="$dest/.google-proto-files-$version"
[ -f "$stamp" ] && exit 0

command -v npm >/dev/null || { echo "protodeps: npm is needed (apt-get install npm)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "google-proto-files@$version" >/dev/null 2>&1)
tarball="$work/google-proto-files-$version.tgz"
echo "$sha256  $tarball" | sha256sum -c --quiet - || { echo "protodeps: checksum mismatch for google-proto-files@$version" >&2; exit 1; }

mkdir -p "$dest"
files=(
  google/api/annotations.proto
  google/api/http.proto
  google/api/field_behavior.proto
  google/rpc/status.proto
  google/rpc/error_details.proto
  google/rpc/code.proto
)
tar -xzf "$tarball" -C "$work" "${files[@]/#/package/}"
for f in "${files[@]}"; do
  mkdir -p "$dest/$(dirname "$f")"
  cp "$work/package/$f" "$dest/$f"
done
touch "$stamp"
