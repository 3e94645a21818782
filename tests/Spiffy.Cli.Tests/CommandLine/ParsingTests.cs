using System.Reflection;
using Spiffy.Cli.Tests.Support;

namespace Spiffy.Cli.Tests.CommandLine;

/// <summary>Parsing, help and version of the real `spiffy` process: nothing here loads a model.</summary>
public class ParsingTests
{
    public static TheoryData<string> Verbs => new() { "generate", "inspect", "tokenize", "logits", "train", "calibrate", "graph", "bench" };

    [Fact]
    public void MisspeltVerb_SuggestsTheVerb()
    {
        var r = CliProcess.Run("generat");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("Did you mean", r.StdErr);
        Assert.Contains("generate", r.StdErr);
        Assert.Equal("", r.StdOut);
        Assert.DoesNotContain("   at ", r.StdErr);
    }

    [Fact]
    public void MisspeltOption_BeforeThePrompt_SuggestsTheOption_InsteadOfDecodingIt()
    {
        var r = CliProcess.Run("generate", "--cach", "none", "What is 2+2?");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--cach", r.StdErr);
        Assert.Contains("'--cache'", r.StdErr);
        Assert.Contains("spiffy generate --help", r.StdErr);
        // One error and a pointer to the help, not the whole help text.
        Assert.DoesNotContain("Options:", r.StdErr);
    }

    [Fact]
    public void MisspeltOption_AfterThePrompt_IsSuggestedByTheParser()
    {
        var r = CliProcess.Run("generate", "What is 2+2?", "--gen-lenght", "32");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--gen-length", r.StdErr);
    }

    [Theory]
    [MemberData(nameof(Verbs))]
    public void EveryVerb_HasItsOwnHelp_WithExamples(string verb)
    {
        var r = CliProcess.Run(verb, "--help");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("Usage:", r.StdOut);
        Assert.Contains($"spiffy {verb}", r.StdOut);
        Assert.Contains("Options:", r.StdOut);
        Assert.Contains("Examples:", r.StdOut);
        Assert.Contains("--json", r.StdOut);
        Assert.Equal("", r.StdErr);
    }

    [Fact]
    public void GenerateHelp_ListsThePromptOption_AndGenerateAndBenchHaveThreads()
    {
        var generate = CliProcess.Run("generate", "--help");
        Assert.Contains("--prompt <TEXT>", generate.StdOut);
        Assert.Contains("--threads <N>", generate.StdOut);
        Assert.Contains("--unmasking <schedule|threshold|factor|dynamic-top-k|origin>", generate.StdOut);
        Assert.Contains("--threads <N>", CliProcess.Run("bench", "--help").StdOut);
    }

    [Fact]
    public void RootHelp_ListsEveryVerb()
    {
        var r = CliProcess.Run("--help");
        Assert.Equal(0, r.ExitCode);
        foreach (var verb in Verbs) Assert.Contains("  " + verb, r.StdOut);
    }

    [Fact]
    public void NoVerb_ShowsTheVerbs_AsAUsageError()
    {
        var r = CliProcess.Run(Array.Empty<string>());
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("calibrate", r.StdOut);
    }

    [Fact]
    public void Version_IsTheInformationalVersion()
    {
        var r = CliProcess.Run("--version");
        Assert.Equal(0, r.ExitCode);
        string expected = typeof(CliApp).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;
        Assert.Equal(expected, r.StdOut.Trim());
    }

    [Fact]
    public void ResponseFile_SuppliesTheArguments()
    {
        string file = Path.Combine(Path.GetTempPath(), $"spiffy-rsp-{Guid.NewGuid():N}.rsp");
        File.WriteAllLines(file, new[] { "inspect", "models/gsm8k-small.json", "--json" });
        try
        {
            var r = CliProcess.Run("@" + file);
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Contains("\"parameters\": 5868800", r.StdOut);
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public void SuggestDirective_CompletesOptionsAndValues()
    {
        var r = CliProcess.Run("[suggest:13]", "generate --ca");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("--cache", r.StdOut);
        Assert.Contains("dual", CliProcess.Run("[suggest:18]", "generate --cache d").StdOut);
    }

    [Fact]
    public void EnumValues_AreCheckedByTheParser_WithTheAllowedValues()
    {
        var r = CliProcess.Run("generate", "x", "--unmasking", "greedy");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("schedule, threshold, factor, dynamic-top-k", r.StdErr);
    }
}
