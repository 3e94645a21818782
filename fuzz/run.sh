#!/usr/bin/env bash
# Coverage-guided fuzzing of Spiffy's input parsers with SharpFuzz + AFL++ (docs/reliability.md).
#
#   fuzz/run.sh [SECONDS] [TARGET...]     SECONDS per target (default 60); targets default to all:
#                                         schema safetensors index tokenizer cli
#
# Installs afl++ (apt) and the sharpfuzz tool (fuzz/.config/dotnet-tools.json) when missing, builds the
# harness in Release under fuzz/out/bin, instruments the Spiffy assemblies, runs afl-fuzz on each target
# for SECONDS starting from fuzz/corpus/<target>, and prints executions, paths, crashes and hangs.
# Findings stay in fuzz/out/findings/<target>/default/{crashes,hangs}; reproduce one with
#   dotnet fuzz/out/bin/Spiffy.Fuzz.dll <target> < fuzz/out/findings/<target>/default/crashes/<file>
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
secs="${1:-60}"
[[ "$secs" =~ ^[0-9]+$ ]] || { echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2; }
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(schema safetensors index tokenizer cli)

if ! command -v afl-fuzz >/dev/null; then
  echo "installing afl++ ..."
  if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq afl++; else sudo apt-get update -qq && sudo apt-get install -y -qq afl++; fi
fi
dotnet tool restore >/dev/null

out="$here/out"
bin="$out/bin"
echo "building the harness ..."
rm -rf "$bin"
mkdir -p "$out"
dotnet build Spiffy.Fuzz/Spiffy.Fuzz.csproj -c Release -o "$bin" -nologo >"$out/build.log" 2>&1 || { tail -30 "$out/build.log" >&2; exit 1; }
# Instrument only this project's code (instrumenting a fresh build each time: sharpfuzz refuses to do it twice).
for dll in Spiffy.Runtime.dll spiffy.dll; do
  # The build hard-links outputs (Directory.Build.props): give the file its own inode first, or
  # sharpfuzz's in-place rewrite would instrument every other build's copy of the assembly too.
  cp "$bin/$dll" "$bin/$dll.own" && mv -f "$bin/$dll.own" "$bin/$dll"
  dotnet tool run sharpfuzz "$bin/$dll" >/dev/null
done

# dotnet itself is not instrumented: the fork server lives in SharpFuzz. No CPU pinning on shared machines.
export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
export DOTNET_TieredPGO=0

printf '\n%-12s %12s %10s %8s %8s %8s\n' target execs execs/s paths crashes hangs
for t in "${targets[@]}"; do
  [ -d "corpus/$t" ] || { echo "unknown target $t (no corpus/$t)" >&2; exit 2; }
  rm -rf "$out/findings/$t"
  mkdir -p "$out/findings/$t"
  # -t: per-input timeout in ms (the first inputs include JIT warm-up); -m none: the CLR reserves large address space.
  afl-fuzz -V "$secs" -t 10000 -m none -i "corpus/$t" -o "$out/findings/$t" -- dotnet "$bin/Spiffy.Fuzz.dll" "$t" \
    >"$out/findings/$t.log" 2>&1 || { echo "afl-fuzz failed for $t; see $out/findings/$t.log" >&2; tail -20 "$out/findings/$t.log" >&2; continue; }
  stats="$out/findings/$t/default/fuzzer_stats"
  get() { local v; v=$(awk -F' *: *' -v k="$1" '$1==k {print $2}' "$stats"); echo "${v:-?}"; }
  paths=$(get corpus_count); [ "$paths" = "?" ] && paths=$(get paths_total)
  crashes=$(get saved_crashes); [ "$crashes" = "?" ] && crashes=$(get unique_crashes)
  hangs=$(get saved_hangs); [ "$hangs" = "?" ] && hangs=$(get unique_hangs)
  printf '%-12s %12s %10s %8s %8s %8s\n' "$t" "$(get execs_done)" "$(get execs_per_sec)" "$paths" "$crashes" "$hangs"
done
