using System.Text.Json;
using Spiffy.Generators.Tests.Support;

namespace Spiffy.Generators.Tests.Packaging;

/// <summary>
/// SpiffyTorchBackend picks the runtime's libtorch package. Checked by evaluating the project
/// (msbuild -getItem), never by restoring: this registry does not serve TorchSharp-cuda-linux.
/// </summary>
public sealed class BackendTests
{
    private static string RuntimeProject => Path.Combine(Harness.RepoRoot, "src", "Spiffy.Runtime", "Spiffy.Runtime.csproj");

    private static List<string> PackageReferences(string? backend)
    {
        var args = new List<string> { "msbuild", RuntimeProject, "-getItem:PackageReference", "-nologo" };
        if (backend is not null) args.Add("-p:SpiffyTorchBackend=" + backend);
        var r = PackagedFeed.Dotnet(Harness.RepoRoot, TimeSpan.FromMinutes(2), args.ToArray());
        Assert.True(r.ExitCode == 0, r.ToString());
        using var json = JsonDocument.Parse(r.StdOut);
        return json.RootElement.GetProperty("Items").GetProperty("PackageReference").EnumerateArray()
            .Select(e => e.GetProperty("Identity").GetString()!).ToList();
    }

    [Theory]
    [InlineData(null, "libtorch-cpu-linux-x64")]
    [InlineData("cpu", "libtorch-cpu-linux-x64")]
    [InlineData("cuda", "TorchSharp-cuda-linux")]
    [InlineData("external", null)]
    public void TheBackendPropertySwitchesTheLibTorchReference(string? backend, string? expected)
    {
        var refs = PackageReferences(backend);
        Assert.Contains("TorchSharp", refs);
        var torch = refs.Where(r => r.StartsWith("libtorch", StringComparison.OrdinalIgnoreCase)
            || r.StartsWith("TorchSharp-", StringComparison.OrdinalIgnoreCase)).ToList();
        if (expected is null) Assert.Empty(torch);
        else Assert.Equal(new[] { expected }, torch);
    }

    [Fact]
    public void AnUnknownBackendIsABuildError()
    {
        var r = PackagedFeed.Dotnet(Harness.RepoRoot, TimeSpan.FromMinutes(2), "msbuild", RuntimeProject, "-t:SpiffyCheckTorchBackend",
            "-p:SpiffyTorchBackend=rocm", "-nologo");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("SpiffyTorchBackend is 'rocm'; allowed: cpu (default), cuda, external.", r.StdOut + r.StdErr);
    }
}
