using System.Text.Json;
using Spiffy.Cli.Tests.Support;

namespace Spiffy.Cli.Tests.CommandLine;

/// <summary>
/// The README's main command as a user runs it: with no options, `generate` decodes with the dual
/// cache, the calibrated graph of that configuration and D* chosen from the forward cost measured
/// on this machine; `--compare` prints both decoders side by side and checks the tokens.
/// </summary>
public class GenerateDefaultsTests
{
    private const string Question = "Natalia sold 48 clips in April and half as many in May. How many clips did she sell in all?";

    [Fact]
    public void Generate_Compare_DefaultsToDualCacheCalibratedGraphAndMeasuredDStar()
    {
        var r = CliProcess.Run(["generate", Question, "--compare", "--threads", "1"], timeout: TimeSpan.FromMinutes(5));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("cache=Dual", r.StdOut);
        // D* came from the timing (either chosen, or the timing was too noisy and the graph's D* was kept, said so).
        Assert.Contains("--keep auto: cache dual:", r.StdErr);
        Assert.Contains("choosing D* timed forwards for", r.StdOut);
        // The side-by-side table: both rows, the ratio row, identity.
        var lines = r.StdOut.Split('\n');
        Assert.Contains(lines, l => l.TrimStart().StartsWith("forwards", StringComparison.Ordinal) && l.Contains("wall clock", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("plain decoder ", StringComparison.Ordinal) && l.Contains(" 256 ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("ratio ", StringComparison.Ordinal)
            && l.Contains("output identical token for token", StringComparison.Ordinal));
    }

    [Fact]
    public void Generate_CompareJson_ReportsBothDecodersAndTheCache()
    {
        var r = CliProcess.Run(["generate", Question, "--compare", "--threads", "1", "--json", "--keep", "2"], timeout: TimeSpan.FromMinutes(5));
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.StdOut);
        var json = doc.RootElement;
        Assert.Equal("dual", json.GetProperty("options").GetProperty("cache").GetString());
        var spiffy = json.GetProperty("spiffy");
        Assert.Equal("gsm8k-small-dual", spiffy.GetProperty("graph").GetString());
        Assert.Equal("2", spiffy.GetProperty("keep").GetString());
        var compare = json.GetProperty("compare");
        Assert.True(compare.GetProperty("identical").GetBoolean());
        Assert.Equal(256, compare.GetProperty("baseline_nfe").GetInt32());
        // Every accepted draft saves one forward of the plain decoder's.
        Assert.Equal(256 - spiffy.GetProperty("free_steps").GetInt32(), json.GetProperty("nfe").GetInt32());
    }

    [Fact]
    public void Generate_ExplicitCacheOrGraph_OverridesTheDefault()
    {
        var r = CliProcess.Run(["generate", Question, "--cache", "none", "--no-spiffy", "--gen-length", "32", "--threads", "1", "--json", "--quiet"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.StdOut);
        Assert.Equal("none", doc.RootElement.GetProperty("options").GetProperty("cache").GetString());
    }
}
