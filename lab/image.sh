#!/bin/sh
# The lab's VM base image (docs/lab.md "The base image"): builds it unless this recipe's
# image is cached, then prints its path.  The recipe is harness/image.py; the cache is
# $UNIFORM_IMAGE_CACHE, else ~/.cache/uniform.  Needs root.
set -eu
cd "$(dirname "$0")/.."
py=.venv/bin/python
[ -x "$py" ] || py=python3
PYTHONPATH=$PWD exec "$py" -m harness.image "$@"
