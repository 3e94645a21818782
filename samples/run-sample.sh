#!/usr/bin/env bash
# End-to-end check of the packaged path: packs Spiffy.Runtime and Spiffy.Generators into
# artifacts/packages (version 0.1.0-local), restores samples/GsmDecoder from that folder feed
# (samples/nuget.config), builds it (the generator runs as a packaged analyzer) and runs it on the
# shipped gsm8k-small model with the shipped calibrated graph. Arguments go to the sample.
# With SPIFFY_FEED and SPIFFY_VERSION set (the packaging tests), it uses that feed and version and packs nothing;
# with SPIFFY_SAMPLE_BUILD_ONLY=1 it stops after the build (CI decodes the same graph in the packaging tests).
# Exit status: the sample's (2 = no checkpoint yet).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sample="$root/samples/GsmDecoder"
# The model trains on this machine: every build runs at the lowest priority, one at a time.
quiet=(nice -n 19)
config="$root/samples/nuget.config"

if [ -n "${SPIFFY_FEED:-}" ]; then
  version="${SPIFFY_VERSION:?SPIFFY_VERSION goes with SPIFFY_FEED}"
  config="$(mktemp -d)/nuget.config"
  cat > "$config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="spiffy-feed" value="$SPIFFY_FEED" />
    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" protocolVersion="3" />
  </packageSources>
  <packageSourceMapping>
    <packageSource key="spiffy-feed"><package pattern="Spiffy.*" /></packageSource>
    <packageSource key="nuget.org"><package pattern="*" /></packageSource>
  </packageSourceMapping>
</configuration>
XML
else
  version="0.1.0-local"
  feed="$root/artifacts/packages"
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
fi

echo "== restore and build $sample ($version)"
rm -rf "$sample/bin" "$sample/obj"
"${quiet[@]}" dotnet restore "$sample/GsmDecoder.csproj" --configfile "$config" -p:SpiffyPackageVersion="$version"
"${quiet[@]}" dotnet build "$sample/GsmDecoder.csproj" -c Release --no-restore -nologo -p:SpiffyPackageVersion="$version"

if [ "${SPIFFY_SAMPLE_BUILD_ONLY:-}" = "1" ]; then
  echo "== built (SPIFFY_SAMPLE_BUILD_ONLY=1: not run)"
  exit 0
fi

echo "== run"
cd "$root"
"${quiet[@]}" dotnet "$sample/bin/Release/net10.0/GsmDecoder.dll" "$@"
