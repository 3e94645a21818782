using Spiffy.Decoding;
using Spiffy.Schema;
using Spiffy.Schema.Graphs;
using Spiffy.Speculation;
using Xunit.Abstractions;
using static Spiffy.Tests.Decoding.DecodingTestSupport;

namespace Spiffy.Tests.Speculation;

/// <summary>
/// Spiffy's output must equal its base decoder's token for token, for every base decoder, graph and D*.
/// Any mismatch fails with the first differing position.
/// </summary>
public class SpiffyLosslessTests(ITestOutputHelper output)
{
    public static TheoryData<string, string> BaseDecoders() => new()
    {
        { "llada", "schedule" },
        { "llada", "schedule-2" },
        { "llada", "threshold" },
        { "llada", "factor" },
        { "llada", "prefix" },
        { "llada", "dual" },
        { "llada", "dual-threshold" },
        { "dream", "schedule" },
        { "dream", "dual" },
        { "dream", "prefix-threshold" },
        { "sdar", "schedule" },
        { "sdar", "dynamic" },
    };

    internal static DecodingOptions Configure(DecodingOptions o, string kind) => kind switch
    {
        "schedule" => o,
        "schedule-2" => o with { Steps = o.GenLength / 2 },
        // Threshold rules compare probabilities with tau (Fast-dLLM's confidence_threshold, also for Dream).
        "threshold" => o with { Unmasking = UnmaskingRule.Threshold, Threshold = 0.3, Confidence = ConfidenceKind.Probability },
        "factor" => o with { Unmasking = UnmaskingRule.Factor, Factor = 1.5 },
        "prefix" => o with { Cache = CacheMode.Prefix },
        "dual" => o with { Cache = CacheMode.Dual },
        "dual-threshold" => o with { Cache = CacheMode.Dual, Unmasking = UnmaskingRule.Threshold, Threshold = 0.3, Confidence = ConfidenceKind.Probability },
        "prefix-threshold" => o with
        {
            Cache = CacheMode.Prefix,
            Unmasking = UnmaskingRule.Threshold,
            Threshold = 0.3,
            Confidence = ConfidenceKind.Probability,
        },
        "dynamic" => o with { Unmasking = UnmaskingRule.DynamicTopK, Threshold = 0.3, K = 1 },
        _ => throw new ArgumentException(kind),
    };

    /// <summary>A wider graph than the chain: second-ranked positions and second-ranked tokens too.</summary>
    internal static GraphSpec WideGraph(GraphDecoding decoding)
    {
        var formulas = new List<(int, int)[]>
        {
            new[] { (1, 1) }, new[] { (2, 1) }, new[] { (1, 2) },
            new[] { (1, 1), (2, 1) }, new[] { (1, 1), (3, 1) }, new[] { (2, 1), (3, 1) },
            new[] { (1, 1), (2, 1), (3, 1) }, new[] { (1, 1), (2, 1), (4, 1) },
            new[] { (1, 1), (2, 1), (3, 1), (4, 1) },
        };
        return GraphBuilder.FromFormulas("wide-test", decoding, formulas, maxPositionRank: 4, maxTokenRank: 2);
    }

    [Theory]
    [MemberData(nameof(BaseDecoders))]
    public void Greedy_SpiffyEqualsItsBaseDecoder(string family, string kind)
    {
        var model = Model(family);
        var decoder = new DiffusionDecoder(model);
        var o = Configure(Options(model.Spec), kind);
        var graphs = new[] { DraftGraph.Chain(4, o.ToSchema(), DraftGraph.TokensPerStep(o)), WideGraph(o.ToSchema()) };
        long freeSteps = 0;
        foreach (var prompt in Prompts(4, 21))
        {
            var baseline = decoder.Generate(prompt, o);
            foreach (var graph in graphs)
                foreach (var keep in new[] { DraftKeep.All, DraftKeep.Of(2) })
                {
                    var spec = new GraphSpeculator(new DraftGraph(graph), o.BlockLength, keep);
                    var r = decoder.Generate(prompt, o, speculator: spec);
                    int diff = FirstDifference(baseline.TokenIds, r.TokenIds);
                    Assert.True(diff < 0, $"{family}/{kind}/{graph.Name}/D*={keep}: first difference at position {diff}");
                    var s = r.Statistics;
                    Assert.True(s.Nfe <= baseline.Statistics.Nfe, $"Spiffy NFE {s.Nfe} > baseline {baseline.Statistics.Nfe}");
                    Assert.Equal(baseline.Statistics.Steps, s.Steps);
                    Assert.Equal(baseline.Statistics.Nfe, s.Nfe + s.FreeSteps);
                    Assert.True(s.AcceptedByDepth.Count <= graph.MaxDepth + 1, "accepted deeper than the graph");
                    freeSteps += s.FreeSteps;
                }
        }
        output.WriteLine($"{family}/{kind}: {freeSteps} free steps");
        Assert.True(freeSteps > 0, "no draft was ever accepted: the test would not exercise the walk");
    }

    [Fact]
    public void Sampling_SameSeed_IsTokenIdentical()
    {
        var model = Model("llada");
        var decoder = new DiffusionDecoder(model);
        var o = Options(model.Spec, x => x with { Temperature = 0.7 });
        var graph = WideGraph(o.ToSchema());
        long free = 0;
        foreach (var prompt in Prompts(3, 31))
            for (long seed = 0; seed < 3; seed++)
            {
                var oo = o with { Seed = seed };
                var a = decoder.Generate(prompt, oo);
                var b = decoder.Generate(prompt, oo, speculator: new GraphSpeculator(new DraftGraph(graph), o.BlockLength));
                Assert.Equal(a.TokenIds, b.TokenIds);
                free += b.Statistics.FreeSteps;
            }
        Assert.True(free > 0);
    }

    [Fact]
    public void Invalid_Graph_IsRejectedNamingTheNode()
    {
        const string json = """
        {
          "format": "spiffy-graph/1", "name": "bad", "model": { "name": "m" },
          "decoding": { "gen_length": 32, "block_length": 8, "steps": 32, "unmasking": "schedule", "confidence": "probability" },
          "limits": { "max_position_rank": 4, "max_token_rank": 1, "max_depth": 3 },
          "nodes": [
            { "id": 1, "depth": 1, "pairs": [[1, 1]], "parents": [0] },
            { "id": 2, "depth": 2, "pairs": [[2, 1], [3, 1]], "parents": [1] }
          ]
        }
        """;
        var errors = new List<SchemaError>();
        Assert.Null(GraphSpecParser.Parse(json, "bad.json", errors));
        Assert.Contains(errors, e => e.Message.Contains("node 2") && e.Kind == SchemaErrorKind.GraphParentRule);
    }
}
