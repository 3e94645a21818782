using System.Text.Json;
using Spiffy.Cli.Tests.Support;

namespace Spiffy.Cli.Tests.CommandLine;

/// <summary>--json, --quiet and --verbose as a script meets them: stdout holds the result only.</summary>
public class OutputTests
{
    private static JsonElement Json(CliResult r)
    {
        using var doc = JsonDocument.Parse(r.StdOut);
        return doc.RootElement.Clone();
    }

    [Fact]
    public void JsonUsageError_IsOneObject_WithExitCode2()
    {
        var r = CliProcess.Run("--json", "bench", "--modes", "foo");
        Assert.Equal(2, r.ExitCode);
        var error = Json(r).GetProperty("error");
        Assert.Equal("usage", error.GetProperty("kind").GetString());
        Assert.Equal(2, error.GetProperty("exit_code").GetInt32());
        Assert.Contains("unknown mode \"foo\"", error.GetProperty("message").GetString());
        Assert.Equal("", r.StdErr);
    }

    [Fact]
    public void JsonParseError_CarriesTheSuggestion()
    {
        var r = CliProcess.Run("generate", "--json", "x", "--gen-lenght", "32");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--gen-length", Json(r).GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public void JsonInputError_IsOneObject_WithExitCode1()
    {
        var r = CliProcess.Run("inspect", "no-such-model.json", "--json");
        Assert.Equal(1, r.ExitCode);
        var error = Json(r).GetProperty("error");
        Assert.Equal("input", error.GetProperty("kind").GetString());
        Assert.Equal(1, error.GetProperty("exit_code").GetInt32());
        Assert.Contains("no-such-model.json", error.GetProperty("message").GetString());
        Assert.False(error.TryGetProperty("trace", out _));
    }

    [Fact]
    public void Verbose_AddsTheTrace_OnlyWhenAsked()
    {
        var plain = CliProcess.Run("inspect", "no-such-model.json");
        Assert.Equal(1, plain.ExitCode);
        Assert.DoesNotContain("   at ", plain.StdErr);
        Assert.Single(plain.StdErr.Trim().Split('\n'));
        var verbose = CliProcess.Run("inspect", "no-such-model.json", "--verbose");
        Assert.Equal(1, verbose.ExitCode);
        Assert.Contains("   at ", verbose.StdErr);
    }

    [Fact]
    public void Json_OnInspectTokenizeAndGraph_IsOneObjectWithTheDocumentedFields()
    {
        var inspect = Json(CliProcess.Run("inspect", "models/gsm8k-small.json", "--json"));
        Assert.Equal(5868800, inspect.GetProperty("parameters").GetInt64());
        Assert.Equal("bidirectional", inspect.GetProperty("attention").GetString());

        var ids = Json(CliProcess.Run("tokenize", "checkpoints/gsm8k-small", "48/2 = 24", "--json")).GetProperty("ids");
        Assert.True(ids.GetArrayLength() > 0);
        string list = "[" + string.Join(",", ids.EnumerateArray().Select(e => e.GetInt32())) + "]";
        var text = Json(CliProcess.Run("tokenize", "checkpoints/gsm8k-small", "--decode", list, "--json"));
        Assert.Equal("48/2 = 24", text.GetProperty("text").GetString());

        var graph = Json(CliProcess.Run("graph", "graphs/gsm8k-small-schedule.json", "--json"));
        Assert.Equal("gsm8k-small-schedule", graph.GetProperty("graph").GetString());
        Assert.StartsWith("digraph", graph.GetProperty("dot").GetString());
    }

    [Fact]
    public void Quiet_PrintsTheResultOnStdout_AndNothingElse()
    {
        string dot = Path.Combine(Path.GetTempPath(), $"spiffy-{Guid.NewGuid():N}.dot");
        try
        {
            var r = CliProcess.Run("graph", "graphs/gsm8k-small-schedule.json", "-o", dot, "--quiet");
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.StartsWith("wrote " + dot, r.StdOut);
            Assert.Equal("", r.StdErr);
            Assert.StartsWith("digraph", File.ReadAllText(dot));
        }
        finally { File.Delete(dot); }
    }

    [Fact]
    public void Logits_Json_NamesTheFileAndShape()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"spiffy-logits-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            File.WriteAllText(Path.Combine(dir, "ids.json"), "[[5, 6, 7], [8, 9, 10]]");
            string output = Path.Combine(dir, "out.safetensors");
            var r = CliProcess.Run("logits", "checkpoints/gsm8k-small", "--ids", Path.Combine(dir, "ids.json"), "-o", output, "--json", "--threads", "1");
            Assert.True(r.ExitCode == 0, r.ToString());
            var json = Json(r);
            Assert.Equal(output, json.GetProperty("output").GetString());
            Assert.Equal(new[] { 2, 3, 2048 }, json.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
            Assert.True(File.Exists(output));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
