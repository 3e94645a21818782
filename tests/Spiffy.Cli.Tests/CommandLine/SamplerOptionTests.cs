using System.Text.Json;
using Spiffy.Cli.Tests.Devices;
using Spiffy.Cli.Tests.Support;

namespace Spiffy.Cli.Tests.CommandLine;

/// <summary>
/// --temperature / --seed / --sampler / --top-k / --top-p as a user meets them: `spiffy generate` on the tiny Dream and
/// SDAR checkpoints of tests/reference/vectors reproduces the authors' sampled trajectories (reference_sampler.py) token for
/// token, with the family's own sampler chosen from the checkpoint (no --sampler), plain and with Spiffy.
/// </summary>
public class SamplerOptionTests
{
    private static readonly string Vectors = Path.Combine(CliProcess.RepoRoot, "tests", "reference", "vectors");

    private static JsonElement Case(string family, string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Vectors, "sampler-" + family, "cases.json")));
        return doc.RootElement.GetProperty("cases").EnumerateArray().First(c => c.GetProperty("name").GetString() == name).Clone();
    }

    [Theory]
    [InlineData("dream", "dual-entropy-steps8-sampled", "--cache", "dual")]
    [InlineData("sdar", "prompt10-dynamic-spb4-sampled", "--unmasking", "dynamic-top-k")]
    public void Generate_Sampled_MatchesTheAuthorsDraws(string family, string name, string flag, string value)
    {
        var c = Case(family, name);
        using var dir = new TempFolder();
        File.WriteAllText(dir["ids.json"], c.GetProperty("prompt").GetRawText());
        string Num(string key) => c.GetProperty(key).GetRawText();
        var expected = c.GetProperty("tokens").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        foreach (var spiffy in new[] { "--no-spiffy", null })
        {
            var args = new List<string> { "generate", "--model", Path.Combine(Vectors, "sampler-" + family), "--prompt-ids", dir["ids.json"],
                "--gen-length", Num("gen_length"), "--steps", Num("steps"), "--temperature", Num("temperature"), "--seed", Num("seed"),
                "--top-k", Num("top_k"), "--top-p", Num("top_p"), flag, value, "--no-trim", "--json" };
            args.AddRange(family == "dream" ? new[] { "--block-length", Num("block_length") } : new[] { "--threshold", Num("threshold") });
            if (spiffy is not null) args.Add(spiffy);
            var r = CliProcess.Run(args.ToArray());
            Assert.True(r.ExitCode == 0, r.ToString());
            using var doc = JsonDocument.Parse(r.StdOut);
            var ids = doc.RootElement.GetProperty("token_ids").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            Assert.Equal(expected, ids);
            Assert.Equal(family == "dream" ? "masked_categorical" : "block_multinomial",
                doc.RootElement.GetProperty("options").GetProperty("sampler").GetString());
        }
    }

    [Fact]
    public void TopK_WithTheGumbelSampler_IsOneLineError()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir["ids.json"], "[3, 7, 11]");
        var r = CliProcess.Run("generate", "--model", Path.Combine(Vectors, "sampler-dream"), "--prompt-ids", dir["ids.json"], "--gen-length",
            "16", "--block-length", "16",
            "--temperature", "0.8", "--sampler", "gumbel", "--top-k", "5", "--no-spiffy");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("top-k / top-p", r.StdErr);
        Assert.DoesNotContain("   at ", r.StdErr);
    }
}
