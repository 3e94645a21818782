using System.Text.Json;
using Spiffy.Cli.Tests.Support;

namespace Spiffy.Cli.Tests.CommandLine;

/// <summary>
/// --json of the verbs that run the shipped model, on the smallest jobs they accept (one 32-token
/// block, one problem, two training steps): one object on stdout, lower-case enum values, nothing on
/// stderr with --quiet.
/// </summary>
public class VerbJsonTests
{
    private const string Problems = "bench/problems/gsm-style.jsonl";

    private static JsonElement Json(CliResult r)
    {
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.StdOut);
        return doc.RootElement.Clone();
    }

    [Fact]
    public void Generate_Json_SpellsOptionsAsTheFilesDo()
    {
        var r = CliProcess.Run("generate", "What is 2+2?", "--no-spiffy", "--gen-length", "32", "--threads", "1", "--json", "--quiet");
        var json = Json(r);
        var options = json.GetProperty("options");
        Assert.Equal("schedule", options.GetProperty("unmasking").GetString());
        Assert.Equal("dual", options.GetProperty("cache").GetString()); // generate's default (the plain decoder of the same configuration)
        Assert.Equal("probability", options.GetProperty("confidence").GetString());
        Assert.Equal(32, json.GetProperty("nfe").GetInt32());
        Assert.Equal(32, json.GetProperty("token_ids").GetArrayLength());
        Assert.Equal("", r.StdErr);
    }

    [Fact]
    public void Generate_Quiet_PrintsTheTextAndStatisticsOnly()
    {
        var r = CliProcess.Run("generate", "What is 2+2?", "--no-spiffy", "--gen-length", "32", "--threads", "1", "--quiet", "--unmasking", "dynamic_top_k");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.StartsWith("What is 2+2?", r.StdOut);
        Assert.Contains("NFE ", r.StdOut); // the statistics line
        Assert.DoesNotContain("warning", r.StdOut);
        Assert.Equal("", r.StdErr);
    }

    [Fact]
    public void Generate_Keep_IsOneDStarFromTheFlagToTheLoop()
    {
        // --keep none: the graph is loaded but nothing is drafted, so it decodes as the plain decoder does.
        var none = Json(CliProcess.Run("generate", "What is 2+2?", "--keep", "none", "--gen-length", "32", "--threads", "1", "--json", "--quiet"));
        var plain = Json(CliProcess.Run("generate", "What is 2+2?", "--no-spiffy", "--gen-length", "32", "--threads", "1", "--json", "--quiet"));
        Assert.False(none.TryGetProperty("spiffy", out _));
        Assert.Equal(plain.GetProperty("nfe").GetInt32(), none.GetProperty("nfe").GetInt32());
        Assert.Equal(plain.GetProperty("token_ids").ToString(), none.GetProperty("token_ids").ToString());
        // A count is kept as given and spelt as --keep spells it.
        var two = Json(CliProcess.Run("generate", "What is 2+2?", "--keep", "2", "--gen-length", "32", "--threads", "1", "--json", "--quiet"));
        var spiffy = two.GetProperty("spiffy");
        Assert.Equal("2", spiffy.GetProperty("keep").GetString());
        Assert.True(spiffy.GetProperty("rows_per_forward").GetDouble() <= 3, spiffy.ToString());
        Assert.Equal(plain.GetProperty("token_ids").ToString(), two.GetProperty("token_ids").ToString());
    }

    [Fact]
    public void Calibrate_Json_DescribesTheGraphItWrote()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"spiffy-cal-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            string graph = Path.Combine(dir, "tiny.json");
            var json = Json(CliProcess.Run("calibrate", "--prompts", Problems, "--count", "1", "--gen-length", "32", "--nodes", "2",
                "--threads", "1", "-o", graph, "--json", "--quiet"));
            Assert.Equal(1, json.GetProperty("problems").GetInt32());
            Assert.Equal("schedule", json.GetProperty("options").GetProperty("unmasking").GetString());
            var g = json.GetProperty("graph");
            Assert.Equal("tiny", g.GetProperty("name").GetString());
            Assert.True(g.GetProperty("nodes").GetInt32() <= 2);
            Assert.True(g.GetProperty("replay").GetProperty("nfe").GetInt32() <= 32);
            Assert.True(File.Exists(graph));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Train_Json_ReportsTheStepAndLoss()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"spiffy-train-{Guid.NewGuid():N}");
        try
        {
            var json = Json(CliProcess.Run("train", "--model", "models/gsm8k-small.json", "--data", Problems, "--out", dir,
                "--tokenizer", "checkpoints/gsm8k-small/tokenizer.json", "--holdout", "4", "--eval-problems", "2",
                "--steps", "2", "--batch", "2", "--threads", "1", "--json", "--quiet"));
            Assert.Equal(dir, json.GetProperty("checkpoint").GetString());
            Assert.Equal(2, json.GetProperty("step").GetInt32());
            Assert.True(double.IsFinite(json.GetProperty("loss").GetDouble()));
            Assert.True(json.GetProperty("validation_loss").GetDouble() > 0);
            Assert.False(json.GetProperty("cancelled").GetBoolean());
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
    }

    // The slowest test here (cost timing + 4 generations of one block): a few seconds on an idle
    // 2-core machine; it is the only end-to-end check of bench's JSON and of layout selection.
    [Fact]
    public void Bench_Json_MeasuresOnlyTheLayoutItsModesUse()
    {
        var json = Json(CliProcess.Run("bench", "--modes", "spiffy", "--count", "1", "--gen-length", "32", "--keep", "", "--no-oracle",
            "--threads", "1", "--json", "--quiet"));
        var costs = json.GetProperty("cost_models");
        Assert.Equal(1, costs.GetArrayLength()); // spiffy verifies without a cache: one layout, not four
        Assert.Equal("cache none", costs[0].GetProperty("configuration").GetString());
        Assert.Equal(JsonValueKind.Number, costs[0].GetProperty("spread").ValueKind);
        Assert.True(costs[0].GetProperty("reliable").ValueKind is JsonValueKind.True or JsonValueKind.False);
        var modes = json.GetProperty("modes").EnumerateArray().Select(m => m.GetProperty("name").GetString()).ToList();
        Assert.Equal(new[] { "baseline", "spiffy" }, modes);
        Assert.Equal(0, json.GetProperty("modes")[1].GetProperty("mismatches").GetInt32());
    }
    // Three modes at batch 1 and 2 over three prompts of one block: the end-to-end check of --batch.
    [Fact]
    public void Bench_Batch_Json_ReportsEachBatchSize_AndEveryOutputEqualsBatchOne()
    {
        var json = Json(CliProcess.Run("bench", "--batch", "2", "--modes", "dual-cache+spiffy", "--count", "3", "--gen-length", "32",
            "--threads", "1", "--json", "--quiet"));
        var rows = json.GetProperty("batches").EnumerateArray().ToList();
        var seen = rows.Select(r => (r.GetProperty("mode").GetString(), r.GetProperty("batch").GetInt32())).ToList();
        Assert.Equal(new (string?, int)[]
        {
            ("baseline", 1), ("baseline", 2), ("dual-cache", 1), ("dual-cache", 2), ("dual-cache+spiffy", 1), ("dual-cache+spiffy", 2)
        }, seen);
        foreach (var r in rows)
        {
            Assert.Equal(0, r.GetProperty("mismatches").GetInt32());
            Assert.True(r.GetProperty("tokens_per_s").GetDouble() > 0);
            Assert.Equal(1.0, r.GetProperty("syncs_per_step").GetDouble());
        }
        // The same prompts need the same forwards per prompt at every batch size; a batch of 2 runs fewer forwards in all.
        var spiffy = rows.Where(r => r.GetProperty("mode").GetString() == "dual-cache+spiffy").ToList();
        Assert.Equal(spiffy[0].GetProperty("nfe").GetDouble(), spiffy[1].GetProperty("nfe").GetDouble());
        Assert.True(spiffy[1].GetProperty("forwards").GetInt64() < spiffy[0].GetProperty("forwards").GetInt64());
    }
}
