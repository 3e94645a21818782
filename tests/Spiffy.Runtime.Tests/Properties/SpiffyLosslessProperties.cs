using System.Collections.Concurrent;
using CsCheck;
using Spiffy.Calibration;
using Spiffy.Decoding;
using Spiffy.Modeling;
using Spiffy.Schema;
using Spiffy.Schema.Graphs;
using Spiffy.Speculation;
using Xunit.Abstractions;
using static Spiffy.Tests.Decoding.DecodingTestSupport;

namespace Spiffy.Tests.Properties;

/// <summary>
/// Spiffy is lossless for any valid draft graph, not only the shipped ones: random graphs (random
/// formulas, depths, D and D*) on tiny random models give exactly the base decoder's tokens, for
/// every base decoder. Baselines are computed once per (decoder, prompt) and reused.
/// </summary>
public class SpiffyLosslessProperties(ITestOutputHelper output)
{
    // Torch already uses every core; samples run on one thread (and the model is shared).
    private const int Iterations = 10;

    private static readonly ConcurrentDictionary<string, DiffusionTransformer> Models = new();
    private static readonly long[][] PromptSet = Prompts(3, 91);

    public static TheoryData<string, string> BaseDecoders() => new()
    {
        { "llada", "schedule" },
        { "llada", "threshold" },
        { "llada", "prefix" },
        { "llada", "dual" },
        { "sdar", "schedule" },   // block-causal, exact block cache
        { "dream", "schedule" },  // logit shift
    };

    internal static DiffusionTransformer SharedModel(string family) => Models.GetOrAdd(family, f => Model(f));

    [Theory]
    [MemberData(nameof(BaseDecoders))]
    public void RandomValidGraph_SpiffyEqualsBaseDecoder(string family, string kind)
    {
        var model = SharedModel(family);
        var decoder = new DiffusionDecoder(model);
        var o = Speculation.SpiffyLosslessTests.Configure(Options(model.Spec), kind);
        var baselines = PromptSet.Select(p => decoder.Generate(p, o)).ToArray();
        long free = 0; int graphs = 0;
        var gen = Gen.Select(RandomGraphs.Ops, Gen.Int[0, 12], Gen.Int[0, PromptSet.Length - 1]);
        gen.Sample((ops, keepRaw, promptIndex) =>
        {
            var spec = RandomGraphs.Build(ops, o.ToSchema());
            // Every generated graph is valid and survives the file format.
            GraphFileWriter.Checked(spec, "random.json");
            // Every D*: none, each count below the node count, and all (a count of the node count or more).
            int raw = keepRaw % (spec.Nodes.Count + 2);
            var keep = raw == 0 ? DraftKeep.None : raw > spec.Nodes.Count ? DraftKeep.All : DraftKeep.Of(raw);
            var r = decoder.Generate(PromptSet[promptIndex], o, speculator: new GraphSpeculator(new DraftGraph(spec), o.BlockLength, keep));
            var b = baselines[promptIndex];
            int diff = FirstDifference(b.TokenIds, r.TokenIds);
            if (diff >= 0) throw new Xunit.Sdk.XunitException($"{family}/{kind} D*={keep}: first difference at {diff}; graph {RandomGraphs.Describe(spec)}");
            Assert.Equal(b.Statistics.Steps, r.Statistics.Steps);
            Assert.Equal(b.Statistics.Nfe, r.Statistics.Nfe + r.Statistics.FreeSteps);
            free += r.Statistics.FreeSteps;
            graphs++;
        }, iter: Iterations, threads: 1, print: t => RandomGraphs.Describe(RandomGraphs.Build(t.Item1, o.ToSchema())) + $" keep={t.Item2} prompt={t.Item3}");
        output.WriteLine($"{family}/{kind}: {graphs} random graphs, {free} free steps");
    }
}
