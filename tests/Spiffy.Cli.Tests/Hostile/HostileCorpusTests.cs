using Spiffy.Cli.Tests.Support;

namespace Spiffy.Cli.Tests.Hostile;

/// <summary>
/// Bad inputs as a hostile user gives them: each case runs the real `spiffy` process and must end
/// with exit code 1 (input) or 2 (usage), an error line naming what is wrong, no .NET trace, within
/// a time and memory bound. The cases live in <see cref="HostileCases"/>; docs/reliability.md
/// records the counts.
/// </summary>
[Collection(HostileCollection.Name)]
public sealed class HostileCorpusTests(HostileFiles files)
{
    /// <summary>A hang is anything near this; the slowest clean case takes a few seconds on a loaded 2-core machine.</summary>
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    /// <summary>Peak memory of a clean refusal: the runtime and libtorch take about 250 MB; a memory bomb takes gigabytes.</summary>
    private const long MaxPeakBytes = 1L << 30;

    public static TheoryData<string> Names => new(HostileCases.All.Select(c => c.Name));

    [Theory]
    [MemberData(nameof(Names))]
    public void BadInput_IsOneCleanError(string name)
    {
        var c = HostileCases.All.Single(x => x.Name == name);
        if (c.NeedsFifo && OperatingSystem.IsWindows()) return;
        var args = c.Args(files);
        var r = CliProcess.Run(args, files.Root, Limit);
        string all = r.StdOut + r.StdErr;
        Assert.False(r.TimedOut, $"{name}: hang\n{r}");
        Assert.True(r.ExitCode == c.Exit, $"{name}: expected exit {c.Exit}\n{r}");
        Assert.DoesNotContain("Unhandled exception", all);
        Assert.DoesNotContain("   at ", all);
        Assert.True(r.PeakWorkingSetBytes < MaxPeakBytes, $"{name}: peak memory {r.PeakWorkingSetBytes >> 20} MiB\n{r}");
        string error = r.StdErr.Split('\n').FirstOrDefault(l => l.StartsWith("spiffy", StringComparison.Ordinal)) ?? "";
        Assert.True(error.Length > 0, $"{name}: no error line\n{r}");
        Assert.True(r.StdErr.Contains(c.Expect, StringComparison.Ordinal), $"{name}: expected \"{c.Expect}\" in the message\n{r}");
    }

    /// <summary>The flag that lets non-finite weights through really does (the refusal above is not a blanket one).</summary>
    [Fact]
    public void NonFiniteWeights_LoadWithTheFlag()
    {
        string dir = files.WeightVariant("model.transformer.blocks.0.ff_out.weight", float.NaN);
        string ids = files.Write("ids.json", "[[2, 3, 4]]");
        string output = files.NewPath("logits.safetensors");
        var r = CliProcess.Run(["logits", dir, "--ids", ids, "-o", output, "--allow-non-finite"], files.Root, Limit);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.True(File.Exists(output));
    }
}
