using Spiffy.Cli.Tests.Support;

namespace Spiffy.Cli.Tests.CommandLine;

/// <summary>
/// Bad command lines fail before any model is loaded: each test names a model that cannot be
/// loaded (a description without weights, or no file at all), so an input error (exit 1) would
/// prove the model was reached first; a usage error (exit 2) proves it was not.
/// </summary>
public class ValidationTests
{
    private const string Unloadable = "no-such-model.json";

    [Fact]
    public void BenchUnknownMode_FailsBeforeTheModelLoads()
    {
        var r = CliProcess.Run("bench", "--model", Unloadable, "--modes", "spiffy,foo");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("unknown mode \"foo\"", r.StdErr);
        Assert.Contains("dual-cache+spiffy", r.StdErr); // the list of modes
    }

    [Fact]
    public void GenerateUnknownFlag_FailsBeforeTheModelLoads()
    {
        var r = CliProcess.Run("generate", "--model", Unloadable, "What is 2+2?", "--no-such-flag");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--no-such-flag", r.StdErr);
    }

    [Fact]
    public void ConflictingOptions_FailBeforeTheModelLoads()
    {
        var r = CliProcess.Run("generate", "--model", Unloadable, "--no-spiffy", "--keep", "2", "x");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--no-spiffy cannot be combined", r.StdErr);
        var none = CliProcess.Run("generate", "--model", Unloadable);
        Assert.Equal(2, none.ExitCode);
        Assert.Contains("give exactly one of a prompt text", none.StdErr);
    }

    [Theory]
    [InlineData("--keep: 0 is ambiguous for D*: write 'all' (every node) or 'none' (no drafts)", "generate", "--model", Unloadable, "--keep", "0", "x")]
    [InlineData("--keep: expected 'all', 'none' or a count >= 1 for D*, got \"some\"", "generate", "--model", Unloadable, "--keep", "some", "x")]
    [InlineData("--prune was renamed --keep (D*: all, none or a count)", "generate", "--model", Unloadable, "--prune", "2", "x")]
    [InlineData("--sweep was renamed --keep (D*: all, none or a count)", "bench", "--model", Unloadable, "--sweep", "3")]
    [InlineData("--keep: 'none' does not apply here (it drafts nothing)", "bench", "--model", Unloadable, "--keep", "2,none")]
    [InlineData("--compare-keep: 0 is ambiguous for D*: write 'all' (every node) or 'none' (no drafts)", "calibrate", "--model", Unloadable, "--prompts",
        "p.jsonl", "--compare-objectives", "--compare-keep", "0,3")]
    [InlineData("--keep: expected 'all', 'none' or a count >= 1 for D*, got \"-1\"", "graph", "graphs/gsm8k-small-schedule.json",
        "--traces", "t.trace", "--keep", "-1")]
    public void DStar_HasOneFlagAndOneSpelling_CheckedBeforeAnythingLoads(string message, params string[] args)
    {
        var r = CliProcess.Run(args);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, r.StdErr);
    }

    [Fact]
    public void OutOfRangeNumbers_FailBeforeTheModelLoads()
    {
        var r = CliProcess.Run("bench", "--model", Unloadable, "--threads", "0");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--threads must be at least 1", r.StdErr);
        var tau = CliProcess.Run("generate", "--model", Unloadable, "x", "--threshold", "1.5");
        Assert.Equal(2, tau.ExitCode);
        Assert.Contains("--threshold must be in (0, 1]", tau.StdErr);
    }

    [Fact]
    public void TheUnloadableModel_IsAnInputError_WhenTheCommandLineIsRight()
    {
        // The control for the tests above: the same model with a valid command line reaches the load and fails there.
        var r = CliProcess.Run("generate", "--model", Unloadable, "x");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains(Unloadable, r.StdErr);
    }
}
