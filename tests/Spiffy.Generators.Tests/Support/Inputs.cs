using Microsoft.CodeAnalysis;
using Spiffy.Schema.Graphs;
using Spiffy.Speculation;

namespace Spiffy.Generators.Tests.Support;

/// <summary>The representative generator inputs shared by snapshot, compile and differential tests.</summary>
public static class Inputs
{
    public static string TinyJson => File.ReadAllText(Path.Combine(Harness.TestsDir, "Inputs", "graphs", "tiny.json"));

    public static readonly (string Model, string Family)[] Families =
    {
        ("llada-8b-instruct", "llada"), ("dream-v0-instruct-7b", "dream"), ("sdar-8b-chat-b32", "sdar"),
    };

    /// <summary>A six-node DAG with dynamic pruning (keep 3), the same shape for every family.</summary>
    public static GraphSpec FamilyGraph(string model, string family) => TestGraphs.Graph(family + "-demo", model, TestGraphs.Decoding(), new[]
    {
        TestGraphs.Node(1, 1, new[] { (1, 1) }, new[] { 0 }, 120),
        TestGraphs.Node(2, 1, new[] { (2, 1) }, new[] { 0 }, 64),
        TestGraphs.Node(3, 1, new[] { (1, 2) }, new[] { 0 }, 31),
        TestGraphs.Node(4, 2, new[] { (1, 1), (2, 1) }, new[] { 1, 2 }, 55),
        TestGraphs.Node(5, 2, new[] { (1, 1), (3, 1) }, new[] { 1 }, 20),
        TestGraphs.Node(6, 3, new[] { (1, 1), (2, 1), (3, 1) }, new[] { 4, 5 }, 17),
    }, keep: DraftKeep.Of(3));

    /// <summary>The uncalibrated rank-1 chain of the runtime, long enough to exceed the unrolling budget.</summary>
    public static GraphSpec LargeChain() => TestGraphs.Rename(DraftGraph.Chain(70, TestGraphs.Decoding(256, 128)), "large-chain", "gsm8k-small");

    public static List<AdditionalText> With(params (string File, string Json)[] graphs)
    {
        var files = Harness.ShippedModels();
        foreach (var (file, json) in graphs) files.Add(Harness.GraphFile(file, json));
        return files;
    }

    /// <summary>Every representative input at once: tiny, one graph per family, the large chain.</summary>
    public static List<AdditionalText> All()
    {
        var graphs = new List<(string, string)> { ("tiny.json", TinyJson), ("large-chain.json", TestGraphs.ToJson(LargeChain())) };
        foreach (var (model, family) in Families) graphs.Add((family + "-demo.json", TestGraphs.ToJson(FamilyGraph(model, family))));
        return With(graphs.ToArray());
    }
}
