#!/usr/bin/env bash
# Prepares the device check here and prints the one device call to make (docs/gpu.md).
#   gpu/run.sh            publish + fetch inputs into gpu/.carry (git-ignored), run the local half
#   gpu/run.sh --no-local skip the local half (CPU run of the device script)
# The device call itself is made with the `run` tool of the lending machinery:
#   command: bash gpu/device.sh     carry: ["gpu/.carry"]     timeout_s: 540
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
carry=gpu/.carry
native_src=${TORCHSHARP_SRC:?set TORCHSHARP_SRC to a clone (or bare mirror) of dotnet/TorchSharp at v0.107.0}
abi_checker=${ABI_CHECKER:-$root/../shared/gpu/check_libtorchsharp_abi.py}   # the workspace's ABI checker
torchsharp_version=0.107.0
mkdir -p "$carry"

echo "== 1. self-contained publish of spiffy for linux-x64 (no libtorch inside: the device brings its own)"
pub=$(mktemp -d)
dotnet publish src/Spiffy.Cli -c Release -r linux-x64 --self-contained true -o "$pub/spiffy" -nologo -v q \
  -p:SpiffyTorchBackend=external -p:PublishTrimmed=true -p:TrimMode=partial -p:SuppressTrimAnalysisWarnings=true \
  -p:JsonSerializerIsReflectionEnabledByDefault=true -p:TreatWarningsAsErrors=false -p:DebugType=none
# Whatever libtorch package the build referenced stays here: the device's libtorch 2.11 is loaded through
# SPIFFY_LIBTORCH_DIR. Only TorchSharp's own shim (libLibTorchSharp.so) travels.
pkgnative=$(ls -d ~/.nuget/packages/libtorch-cpu-linux-x64/*/runtimes/linux-x64/native 2>/dev/null | head -1 || true)
if [ -n "$pkgnative" ]; then for f in "$pkgnative"/*; do rm -f "$pub/spiffy/$(basename "$f")"; done; fi
test -f "$pub/spiffy/libLibTorchSharp.so"
tar -C "$pub" -cJf "$carry/spiffy-linux-x64.tar.xz" spiffy
du -sh "$pub/spiffy" "$carry/spiffy-linux-x64.tar.xz"

echo "== 2. TorchSharp $torchsharp_version native source (src/Native), for a rebuild of the shim against the device's libtorch"
rev=$(git -C "$native_src" rev-parse HEAD)
git -C "$native_src" show "$rev:build/BranchInfo.props" | grep -q "<MinorVersion>107</MinorVersion>" \
  || { echo "$native_src is not at TorchSharp 0.107"; exit 1; }
rm -rf "$carry/Native"
git -C "$native_src" archive "$rev" src/Native | tar -x -C "$carry"
mv "$carry/src/Native" "$carry/Native" && rmdir "$carry/src"
echo "$rev" > "$carry/Native/TORCHSHARP_COMMIT"

echo "== 3. the ABI checker"
cp "$abi_checker" "$carry/" 2>/dev/null || echo "(no shared ABI checker here; the device script skips that step)"
du -sh "$carry"
rm -rf "$pub"

if [ "${1:-}" != "--no-local" ]; then
  echo "== 4. local half: the device script on this machine's CPU (DEVICE=cpu, small sizes)"
  # The restored CPU libtorch plays the device's torch/lib: this also runs the external backend for real.
  [ -n "$pkgnative" ] || { echo "no restored libtorch-cpu-linux-x64 to run the local half with"; exit 1; }
  DEVICE=cpu QUICK=1 BUDGET=${BUDGET:-1200} SPIFFY_LIBTORCH_DIR=$pkgnative OUT=${OUT:-/tmp/spiffy-gpu-local} bash gpu/device.sh
fi
echo
echo "ready. device call: command 'bash gpu/device.sh', carry [\"gpu/.carry\"], timeout_s 540"
