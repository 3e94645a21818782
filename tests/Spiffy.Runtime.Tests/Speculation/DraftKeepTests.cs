using Spiffy.Calibration;
using Spiffy.Decoding;
using Spiffy.Schema;
using Spiffy.Schema.Graphs;
using Spiffy.Speculation;
using static Spiffy.Tests.Decoding.DecodingTestSupport;

namespace Spiffy.Tests.Speculation;

/// <summary>
/// D* is one value from the graph file to the decode loop: named cases all and none, a count, one
/// spelling ("all", "none", "3"), and the file's legacy 0 meaning all read in exactly one place.
/// </summary>
public class DraftKeepTests
{
    [Theory]
    [InlineData("all", "all")]
    [InlineData(" ALL ", "all")]
    [InlineData("none", "none")]
    [InlineData("3", "3")]
    public void Parse_AcceptsTheNamedCasesAndCounts_AndToStringWritesThemBack(string text, string written)
    {
        var keep = DraftKeep.Parse(text);
        Assert.Equal(written, keep.ToString());
        Assert.Equal(keep, DraftKeep.Parse(keep.ToString()));
    }

    [Theory]
    [InlineData("0", "0 is ambiguous for D*")]
    [InlineData("-2", "expected 'all', 'none' or a count >= 1")]
    [InlineData("", "expected 'all', 'none' or a count >= 1")]
    [InlineData("2.5", "expected 'all', 'none' or a count >= 1")]
    public void Parse_RefusesZeroAsAmbiguous_AndAnythingElseThatIsNotADStar(string text, string message)
    {
        Assert.False(DraftKeep.TryParse(text, out _, out string error));
        Assert.Contains(message, error);
        Assert.Contains(message, Assert.Throws<FormatException>(() => DraftKeep.Parse(text)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => DraftKeep.Of(0));
    }

    [Fact]
    public void Cases_SayHowManyDraftsAForwardCarries()
    {
        Assert.Equal(default, DraftKeep.All);
        Assert.Equal(8, DraftKeep.All.Drafts(8));
        Assert.Equal(0, DraftKeep.None.Drafts(8));
        Assert.Equal(3, DraftKeep.Of(3).Drafts(8));
        Assert.Equal(8, DraftKeep.Of(12).Drafts(8));
        // A count that covers every node is all for that graph; a smaller one stays a count.
        Assert.Equal(DraftKeep.All, DraftKeep.Of(8).For(8));
        Assert.Equal(DraftKeep.Of(7), DraftKeep.Of(7).For(8));
        Assert.Equal(DraftKeep.None, DraftKeep.None.For(8));
        Assert.Equal((int?)null, DraftKeep.All.Count);
        Assert.Equal(5, DraftKeep.Of(5).Count);
    }

    [Fact]
    public void GraphFiles_KeepZeroMeaningAll_AndAProfileEntryOfZeroMeaningNone()
    {
        Assert.Equal(DraftKeep.All, DraftKeep.FromFile(0));
        Assert.Equal(DraftKeep.Of(4), DraftKeep.FromFile(4));
        Assert.Equal(0, DraftKeep.All.ToFile());
        Assert.Equal(4, DraftKeep.Of(4).ToFile());
        Assert.Throws<InvalidOperationException>(() => DraftKeep.None.ToFile());
        Assert.Equal(DraftKeep.None, new KeepCost(0, 10, 10).Drafts);
        Assert.Equal(DraftKeep.Of(2), new KeepCost(2, 8, 14).Drafts);

        var o = new DecodingOptions { GenLength = 16, BlockLength = 8 };
        foreach (var keep in new[] { DraftKeep.All, DraftKeep.Of(2) })
        {
            var graph = SpiffyLosslessTests.WideGraph(o.ToSchema()) with { Keep = keep };
            string text = GraphFileWriter.ToJson(graph);
            Assert.Contains($"\"keep\": {keep.ToFile()},", text);
            var errors = new List<SchemaError>();
            Assert.Equal(keep, GraphSpecParser.Parse(text, "g.json", errors)!.Keep);
            Assert.Empty(errors);
        }
    }

    [Fact]
    public void None_DraftsNothing_AndDecodesExactlyAsThePlainDecoder()
    {
        var model = SpiffyModel.FromTransformer(Model("llada", layers: 1));
        var o = Options(model.Spec);
        var graph = SpiffyLosslessTests.WideGraph(o.ToSchema());
        var none = new GraphSpeculator(new DraftGraph(graph), o.BlockLength, DraftKeep.None);
        Assert.Equal(0, none.MaxDrafts);
        Assert.Equal(DraftKeep.None, none.Keep);
        var all = new GraphSpeculator(new DraftGraph(graph), o.BlockLength);
        Assert.Equal(graph.Nodes.Count, all.MaxDrafts);
        Assert.Equal(DraftKeep.All, new GraphSpeculator(new DraftGraph(graph), o.BlockLength, DraftKeep.Of(graph.Nodes.Count)).Keep);

        var prompt = Prompts(1, 3)[0];
        var plain = model.Generate(prompt, o);
        var r = model.Generate(prompt, o, none);
        Assert.Equal(plain.TokenIds, r.TokenIds);
        Assert.Equal(plain.Statistics.Nfe, r.Statistics.Nfe);
        Assert.Equal(0, r.Statistics.VerificationForwards);
        Assert.Equal(1.0, r.Statistics.RowsPerForward);
    }
}
