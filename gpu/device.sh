#!/usr/bin/env bash
# The one device call (docs/gpu.md): bind TorchSharp's shim to the device's libtorch (rebuilding it
# from TorchSharp's src/Native when the prebuilt one does not bind), then the GPU checks, the bench
# on the shipped model and the 8B random-weights row-cost curve. Every result goes under $OUT as it
# is produced. Locally (gpu/run.sh): DEVICE=cpu QUICK=1 with SPIFFY_LIBTORCH_DIR set.
set -uo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?OUT must name the results folder}"
DEVICE=${DEVICE:-cuda}; QUICK=${QUICK:-0}; BUDGET=${BUDGET:-520}
mkdir -p "$OUT"; t0=$(date +%s)
log() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$OUT/log.txt" >&2; }
left() { echo $(( BUDGET - ($(date +%s) - t0) )); }
carry=gpu/.carry; work=$(mktemp -d)
tar -C "$work" -xJf "$carry/spiffy-linux-x64.tar.xz"; app=$work/spiffy; S=$app/spiffy
tl=${SPIFFY_LIBTORCH_DIR:-$(python3 -c 'import torch,os;print(os.path.join(os.path.dirname(torch.__file__),"lib"))')}
export SPIFFY_LIBTORCH_DIR=$tl DOTNET_gcServer=0
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; python3 -c 'import torch;print("torch",torch.__version__,"cuda",torch.version.cuda)'; nproc; } > "$OUT/machine.txt" 2>&1
log "libtorch: $tl"

smoke() { timeout 120 "$S" check-device --device "$DEVICE" --model none --checkpoints tests/reference/vectors/llada -o "$OUT/smoke.json" >> "$OUT/smoke.txt" 2>&1; }
[ -f "$carry/check_libtorchsharp_abi.py" ] && python3 "$carry/check_libtorchsharp_abi.py" "$app/libLibTorchSharp.so" "$tl" > "$OUT/abi.txt" 2>&1
if smoke; then log "prebuilt libLibTorchSharp.so binds to this libtorch"; echo prebuilt > "$OUT/shim.txt"
else
  log "prebuilt shim does not work here (see smoke.txt, abi.txt): rebuilding LibTorchSharp against this torch"
  pfx=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)'); b=$work/nb
  if cmake -S "$carry/Native" -B "$b" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$pfx" -DLIBTORCH_PATH="$pfx/Torch" \
       -DCMAKE_CXX_FLAGS=-Wno-error -DCMAKE_C_FLAGS=-Wno-error > "$OUT/shim-build.txt" 2>&1 \
     && timeout 300 cmake --build "$b" --target LibTorchSharp -j"$(nproc)" >> "$OUT/shim-build.txt" 2>&1; then
    cp "$(find "$b" -name libLibTorchSharp.so | head -1)" "$app/"; echo cmake > "$OUT/shim.txt"
  else
    log "cmake route failed (shim-build.txt); compiling the shim directly with g++"
    inc=$(python3 -c 'from torch.utils.cpp_extension import include_paths as p;print(" ".join("-I"+x for x in p()))')
    abi=$(python3 -c 'import torch;print(int(torch._C._GLIBCXX_USE_CXX11_ABI))'); mkdir -p "$work/o"
    fl="-std=c++17 -O2 -fPIC -fvisibility=hidden -D_GLIBCXX_USE_CXX11_ABI=$abi -D__LINUX__ -D_NO_ASYNCRTIMP -D_NO_PPLXIMP $inc"
    ls "$carry"/Native/LibTorchSharp/*.cpp | timeout 300 xargs -P"$(nproc)" -I{} sh -c "g++ $fl -c {} -o $work/o/\$(basename {}).o" >> "$OUT/shim-build.txt" 2>&1
    gcc -O2 -fPIC -c "$carry/Native/LibTorchSharp/crc32c.c" -o "$work/o/crc32c.o" >> "$OUT/shim-build.txt" 2>&1
    g++ -shared -o "$app/libLibTorchSharp.so" "$work"/o/*.o -L"$tl" -ltorch -ltorch_cpu -lc10 -Wl,-rpath,"$tl" >> "$OUT/shim-build.txt" 2>&1 && echo g++ > "$OUT/shim.txt"
  fi
  smoke || { log "the rebuilt shim does not work either: stopping (smoke.txt, shim-build.txt)"; exit 1; }
  log "rebuilt shim works ($(cat "$OUT/shim.txt"))"
fi

if [ "$QUICK" = 1 ]; then chk="--model none --gen-length 16 --block-length 8 --prompt-length 8 --seeds 1"; curve="--model models/gsm8k-small.json --row-curve 1,2 --repeats 1 --gen-length 32 --prompt-length 16"; cnt=1; gl=32; modes=dual-cache+spiffy; batches=1,2
else chk="--count 1 --gen-length 128 --seeds 2"; curve="--model models/llada-8b-instruct.json --row-curve 1,2,4,8,16,32 --gen-length 256 --prompt-length 256"; cnt=4; gl=256; modes=spiffy,dual-cache+spiffy,dual-cache+threshold+spiffy; batches=1,4,16; fi
V=tests/reference/vectors
log "GPU checks"; timeout $(( $(left) / 3 )) "$S" check-device --device "$DEVICE" --checkpoints $V/llada,$V/dream,$V/sdar --peaked models/gsm8k-small.json $chk -o "$OUT/check-device.json" 2> "$OUT/check-device.txt"; log "check-device exit $?"
log "row-cost curve"; timeout $(( $(left) / 2 )) "$S" bench --device "$DEVICE" --random-weights $curve --block-length 32 --graph graphs/gsm8k-small-dual.json --json > "$OUT/row-curve.json" 2> "$OUT/row-curve.txt"; log "row curve exit $?"
log "bench (goal modes)"; timeout $(( $(left) * 2 / 3 )) "$S" bench --device "$DEVICE" --count $cnt --gen-length $gl --no-oracle --keep "" --modes $modes --json > "$OUT/bench.json" 2> "$OUT/bench.txt"; log "bench exit $?"
log "batch bench"; timeout $(( $(left) / 3 )) "$S" bench --device "$DEVICE" --batch $batches --modes dual-cache,dual-cache+spiffy --gen-length $gl --json > "$OUT/bench-batch.json" 2> "$OUT/bench-batch.txt"; log "batch bench exit $?"
[ "$QUICK" = 1 ] && { log "done (quick: the every-mode bench runs on the device only)"; exit 0; }
log "bench (every mode, D* sweep)"; timeout $(( $(left) - 5 )) "$S" bench --device "$DEVICE" --count $(( (cnt + 1) / 2 )) --gen-length $gl --no-oracle --keep 1,2,4,8 --json > "$OUT/bench-all.json" 2> "$OUT/bench-all.txt"; log "bench-all exit $?"
log "done"
