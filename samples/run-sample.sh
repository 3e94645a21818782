#!/usr/bin/env bash
# End-to-end check of the packaged path: packs Spiffy.Runtime and Spiffy.Generators into
# artifacts/packages (version 0.1.0-local), restores samples/GsmDecoder from that folder feed
# (samples/nuget.config), builds it (the generator runs as a packaged analyzer) and runs it on the
# shipped gsm8k-small model. Arguments go to the sample. Exit status: the sample's (2 = no checkpoint yet).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="0.1.0-local"
feed="$root/artifacts/packages"
sample="$root/samples/GsmDecoder"
# The model trains on this machine: every build runs at the lowest priority, one at a time.
quiet=(nice -n 19)

echo "== pack Spiffy.Runtime and Spiffy.Generators $version -> $feed"
mkdir -p "$feed"
rm -f "$feed/Spiffy.Runtime.$version.nupkg" "$feed/Spiffy.Generators.$version.nupkg"
"${quiet[@]}" dotnet pack "$root/src/Spiffy.Runtime/Spiffy.Runtime.csproj" -c Release -o "$feed" -p:Version="$version" -nologo
"${quiet[@]}" dotnet pack "$root/src/Spiffy.Generators/Spiffy.Generators.csproj" -c Release -o "$feed" -p:Version="$version" -nologo

# A fixed version keeps restores reproducible, but NuGet would reuse a stale extracted copy:
# remove ours from the global packages folder so the freshly packed ones are used.
packages="$(dotnet nuget locals global-packages --list | sed -n 's/^global-packages: //p')"
if [ -n "$packages" ]; then
  rm -rf "$packages/spiffy.runtime/$version" "$packages/spiffy.generators/$version"
fi

echo "== restore and build $sample from the local feed"
rm -rf "$sample/bin" "$sample/obj"
"${quiet[@]}" dotnet build "$sample/GsmDecoder.csproj" -c Release -nologo

echo "== run"
cd "$root"
"${quiet[@]}" dotnet "$sample/bin/Release/net10.0/GsmDecoder.dll" "$@"
