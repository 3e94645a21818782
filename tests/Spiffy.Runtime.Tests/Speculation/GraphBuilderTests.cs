using Spiffy.Decoding;
using Spiffy.Schema;
using Spiffy.Schema.Graphs;
using Spiffy.Speculation;

namespace Spiffy.Tests.Speculation;

public class GraphBuilderTests
{
    [Fact]
    public void FromFormulas_DerivesAllParents_AndPassesValidation()
    {
        var d = new GraphDecoding(32, 8, 32, UnmaskingRule.Schedule, ConfidenceKind.Probability, 0.9, 1, 1, 0, CacheMode.None);
        var g = GraphBuilder.FromFormulas("t", d, new List<(int, int)[]> { new[] { (1, 1) }, new[] { (2, 1) }, new[] { (1, 1), (2, 1) } }, 4, 1);
        Assert.Equal(new[] { 1, 2 }, g.Nodes[2].Parents.ToArray());
        var errors = new List<SchemaError>();
        GraphSpecParser.Validate(g, "t", errors);
        Assert.Empty(errors);
    }

    [Fact]
    public void Chain_IsAValidGraph()
    {
        var d = new GraphDecoding(32, 8, 32, UnmaskingRule.Schedule, ConfidenceKind.Probability, 0.9, 1, 1, 0, CacheMode.None);
        var errors = new List<SchemaError>();
        GraphSpecParser.Validate(DraftGraph.Chain(5, d), "chain", errors);
        Assert.Empty(errors);
    }
}
