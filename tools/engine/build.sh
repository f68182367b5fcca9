#!/usr/bin/env bash
# Build the Pulumi engine pieces from the Go module proxy into $1 (default .tools/bin).
#
#   pulumi                    github.com/pulumi/pulumi/pkg/v3 v3.259.0   (module tools/engine/pulumi)
#   pulumi-language-python    github.com/pulumi/pulumi/sdk/v3 v3.79.0     (module tools/engine/language-python)
#   + the shims pulumi-language-python-exec, pulumi-resource-pulumi-python from sdk/v3 v3.259.0
#
# Why the language host is v3.79.0: since v3.80 it lives in its own module
# (github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3), which has no
# tags, and the proxy here refuses its pseudo-versions (403).  v3.79.0 is the last
# release where it is part of sdk/v3 and so can be had; it runs fine under the
# v3.259.0 engine with the v3.259.0 Python SDK and exec shim (tests/e2e prove it).
# pulumi-resource-command is not built: see tools/engine/README.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../.tools/bin}
mkdir -p "$out"
out=$(cd "$out" && pwd)
export GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
tags=osusergo,grpcnotrace

build() { # <module dir> <version> <package> <output name>
  local dir=$1 version=$2 pkg=$3 name=$4 start=$SECONDS
  (cd "$here/$dir" && go build -trimpath -tags "$tags" \
    -ldflags "-w -s -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version" \
    -o "$out/$name" "$pkg")
  echo "built $name $version in $((SECONDS - start))s ($(du -h "$out/$name" | cut -f1))"
}

build pulumi v3.259.0 github.com/pulumi/pulumi/pkg/v3/cmd/pulumi pulumi
build language-python v3.79.0 github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python pulumi-language-python

# The shims ship inside the sdk/v3 module zip; take them from the module cache.
(cd "$here/pulumi" && go mod download github.com/pulumi/pulumi/sdk/v3)
sdk=$(cd "$here/pulumi" && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)
install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$sdk/python/dist/pulumi-resource-pulumi-python" "$out/"
