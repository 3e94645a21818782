using System.Text.Json;
using Spiffy.Cli.Tests.Support;

namespace Spiffy.Cli.Tests.Training;

public sealed class AugmentAndEvalTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "spiffy-augment-" + Guid.NewGuid().ToString("N"));

    public AugmentAndEvalTests() { Directory.CreateDirectory(_dir); }

    public void Dispose() { try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } }

    private static string Line(string q, string a) => JsonSerializer.Serialize(new { question = q, answer = a });

    private string Source()
    {
        string path = Path.Combine(_dir, "source.jsonl");
        File.WriteAllLines(path, new[]
        {
            Line("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell "
                + "altogether in April and May?",
                "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72"),
            Line("A farm has 36 cows and 24 pigs. How many animals are on the farm?", "36+24=<<36+24=60>>60\n#### 60"),
            Line("Bob reads 30 pages a day for 4 days. How many pages does he read?", "30*4=<<30*4=120>>120\n#### 120"),
        });
        return path;
    }

    [Fact]
    public void Augment_WritesOriginalsAndVariants_NeverTheHeldOut_AndIsDeterministic()
    {
        string src = Source(), a = Path.Combine(_dir, "a.jsonl"), b = Path.Combine(_dir, "b.jsonl"), held = Path.Combine(_dir, "held.jsonl");
        var r = CliProcess.Run(new[] { "augment", "--data", src, "--out", a, "--heldout-out", held, "--holdout", "1", "--variants", "4", "--seed", "3" });
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("variants from the first 2, the last 1 held out", r.StdOut);
        var rows = File.ReadAllLines(a).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(2, rows.Count(x => x.GetProperty("variant").GetInt32() == 0));
        Assert.True(rows.Count > 2, "no variants were generated");
        Assert.All(rows, x => Assert.InRange(x.GetProperty("source").GetInt32(), 1, 2));
        Assert.DoesNotContain(rows, x => x.GetProperty("question").GetString()!.Contains("Bob", StringComparison.Ordinal));
        Assert.Contains("Bob reads 30 pages", File.ReadAllText(held));

        var again = CliProcess.Run(new[] { "augment", "--data", src, "--out", b, "--holdout", "1", "--variants", "4", "--seed", "3" });
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
    }

    [Fact]
    public void Augment_MalformedLine_IsOneLineNamingFileAndLine()
    {
        string src = Path.Combine(_dir, "bad.jsonl");
        File.WriteAllText(src, Line("Q 3 apples", "3+1=<<3+1=4>>4\n#### 4") + "\n{not json\n");
        var r = CliProcess.Run(new[] { "augment", "--data", src, "--out", Path.Combine(_dir, "o.jsonl"), "--holdout", "0" });
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("bad.jsonl:2", r.StdErr);
        Assert.DoesNotContain("   at ", r.StdErr);
        Assert.False(File.Exists(Path.Combine(_dir, "o.jsonl")));
    }

    [Fact]
    public void Train_EvalDataOverlappingTheTrainingData_IsRefused()
    {
        string src = Source();
        var r = CliProcess.Run(new[] { "train", "--model", "models/gsm8k-small.json", "--data", src, "--eval-data", src,
            "--tokenizer", "checkpoints/gsm8k-small/tokenizer.json", "--out", Path.Combine(_dir, "run"), "--steps", "1" });
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("is in the training data", r.StdErr);
    }

    [Fact]
    public void Eval_ShippedModel_ReportsEveryMeasure_AndSpiffyIsLossless()
    {
        string src = Source();
        // Dual cache and D* 2 keep it to seconds; Spiffy still runs for real and is compared token for token.
        var r = CliProcess.Run(new[] { "eval", "--data", src, "--holdout", "1", "--gen-length", "32", "--cache", "dual", "--keep", "2", "--json" },
            timeout: TimeSpan.FromMinutes(5));
        Assert.True(r.ExitCode == 0, r.ToString());
        var j = JsonDocument.Parse(r.StdOut).RootElement;
        Assert.Equal(1, j.GetProperty("problems").GetInt32());
        Assert.Equal(0, j.GetProperty("spiffy_mismatches").GetInt32());
        Assert.Equal("dual", j.GetProperty("cache").GetString());
        // one token per step (the dual cache's block-start forward takes the first)
        Assert.Equal(32, j.GetProperty("baseline_nfe").GetInt64());
        Assert.InRange(j.GetProperty("oracle_nfe").GetInt64(), 1, 32);
        Assert.InRange(j.GetProperty("spiffy_nfe").GetInt64(), j.GetProperty("oracle_nfe").GetInt64(), 32);
        Assert.InRange(j.GetProperty("multi_token_share").GetDouble(), 0, 1);
        Assert.True(j.GetProperty("masked_loss").GetDouble() > 0);
        Assert.Equal(1, j.GetProperty("loss_problems").GetInt32());
    }
}
