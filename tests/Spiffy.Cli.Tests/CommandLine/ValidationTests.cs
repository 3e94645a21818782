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

    /// <summary>
    /// Every decoding flag with a range is checked by its field's rule (DecodingRules, which the graph and model files obey too):
    /// a usage error (exit 2, docs/cli.md) whose one line names the flag, the allowed range and the value, before the model loads.
    /// The ranges are written out here, as docs/cli.md lists them, not read from the code under test.
    /// </summary>
    [Theory]
    [InlineData("generate", "--threshold", "1.5", "in (0, 1]")]
    [InlineData("generate", "--threshold", "0", "in (0, 1]")]
    [InlineData("generate", "--top-p", "1.5", "in (0, 1]")]
    [InlineData("generate", "--temperature", "-1", "at least 0 and finite")]
    [InlineData("generate", "--alg-temp", "-0.5", "at least 0 and finite")]
    [InlineData("generate", "--eps", "1", "in (0, 1)")]
    [InlineData("generate", "--factor", "0", "positive and finite")]
    [InlineData("generate", "--k", "0", "at least 1")]
    [InlineData("generate", "--top-k", "-2", "at least 0")]
    [InlineData("generate", "--steps", "-1", "at least 0")]
    [InlineData("generate", "--gen-length", "0", "at least 1")]
    [InlineData("generate", "--block-length", "0", "at least 1")]
    [InlineData("calibrate", "--temperature", "-1", "at least 0 and finite")]
    [InlineData("bench", "--threshold", "2", "in (0, 1]")]
    [InlineData("eval", "--threshold", "2", "in (0, 1]")]
    public void DecodingFlagOutOfItsRange_IsOneLineNamingTheFlagAndTheRange(string verb, string flag, string value, string range)
    {
        string[] args = verb switch
        {
            "generate" => ["generate", "--model", Unloadable, "x", flag, value],
            "calibrate" => ["calibrate", "--model", Unloadable, "--prompts", "p.jsonl", "-o", "g.json", flag, value],
            "eval" => ["eval", "--model", Unloadable, "--data", "d.jsonl", flag, value],
            _ => [verb, "--model", Unloadable, flag, value],
        };
        var r = CliProcess.Run(args);
        Assert.Equal(2, r.ExitCode);
        var lines = r.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        string line = Assert.Single(lines, l => l.Contains(flag, StringComparison.Ordinal));
        int rangeEnd = line.IndexOf(range, StringComparison.Ordinal) + range.Length;
        Assert.Equal($"spiffy {verb}: {flag} must be {range}", line[..rangeEnd]);
        Assert.EndsWith($"got {value})", line);
        Assert.DoesNotContain(lines, l => l.StartsWith("at ", StringComparison.Ordinal)); // no stack trace

        var json = CliProcess.Run([.. args, "--json"]);
        Assert.Equal(2, json.ExitCode);
        Assert.Equal("", json.StdErr);
        Assert.Contains($"\"message\": \"{flag} must be {range}", json.StdOut);
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
