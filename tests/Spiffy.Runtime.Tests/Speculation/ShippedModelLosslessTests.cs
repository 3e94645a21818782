using Spiffy.Schema.Graphs;
using Spiffy.Decoding;
using Spiffy.Speculation;
using Spiffy.Tests.Checkpoints;
using Spiffy.Training;
using Xunit.Abstractions;
using static Spiffy.Tests.Decoding.DecodingTestSupport;

namespace Spiffy.Tests.Speculation;

/// <summary>
/// Losslessness on the trained model the repository ships (checkpoints/gsm8k-small), on the
/// repository's own GSM-style problems: a confident model accepts long chains, which random tiny
/// models rarely do, so this exercises deep acceptance walks for every cache mode.
/// </summary>
public class ShippedModelLosslessTests(ITestOutputHelper output)
{
    private static readonly Lazy<SpiffyModel> Shipped = new(() => SpiffyModel.Load(Path.Combine(CheckpointTestSupport.RepoRoot, "models", "gsm8k-small.json")));

    public static TheoryData<string> Kinds() => new() { "schedule", "threshold", "prefix", "dual", "dual-threshold" };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Greedy_SpiffyEqualsItsBaseDecoder_OnTheShippedModel(string kind)
    {
        var model = Shipped.Value;
        var o = new DecodingOptions { GenLength = 64, BlockLength = 32 };
        o = kind switch
        {
            "schedule" => o,
            "threshold" => o with { Unmasking = UnmaskingRule.Threshold, Threshold = 0.9 },
            "prefix" => o with { Cache = CacheMode.Prefix },
            "dual" => o with { Cache = CacheMode.Dual },
            _ => o with { Cache = CacheMode.Dual, Unmasking = UnmaskingRule.Threshold, Threshold = 0.9 },
        };
        var problems = PromptAnswerData.Read(Path.Combine(CheckpointTestSupport.RepoRoot, "bench", "problems", "gsm-style.jsonl"));
        var graphs = new[]
        {
            DraftGraph.Chain(6, o.ToSchema(), DraftGraph.TokensPerStep(o)),
            SpiffyLosslessTests.WideGraph(o.ToSchema()),
        };
        long free = 0; int deepest = 0;
        for (int p = 0; p < 3; p++)
        {
            var prompt = model.EncodePrompt(PromptAnswerData.FormatPrompt(problems[p].Prompt));
            var baseline = model.Generate(prompt, o);
            for (int g = 0; g < graphs.Length; g++)
            {
                var r = model.Generate(prompt, o,
                    new GraphSpeculator(new DraftGraph(graphs[g]), o.BlockLength, keep: g == 0 ? DraftKeep.All : DraftKeep.Of(3)));
                int diff = FirstDifference(baseline.TokenIds, r.TokenIds);
                Assert.True(diff < 0, $"{kind}/{graphs[g].Name}/problem {p}: first difference at position {diff}");
                Assert.True(r.Statistics.Nfe <= baseline.Statistics.Nfe);
                Assert.Equal(baseline.Statistics.Nfe, r.Statistics.Nfe + r.Statistics.FreeSteps);
                free += r.Statistics.FreeSteps;
                deepest = Math.Max(deepest, r.Statistics.AcceptedByDepth.Count - 1);
            }
        }
        output.WriteLine($"{kind}: {free} free steps, deepest accepted chain {deepest}");
        Assert.True(free > 0, "no draft accepted on the shipped model");
    }
}
