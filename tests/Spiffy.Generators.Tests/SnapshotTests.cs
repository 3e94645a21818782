using Microsoft.CodeAnalysis;
using Spiffy.Generators.Tests.Support;

namespace Spiffy.Generators.Tests;

/// <summary>Approved generator output for representative inputs (Snapshots/*.verified.cs), reviewed like code.</summary>
public class SnapshotTests
{
    [Fact]
    public void TinyGraph()
    {
        var run = Harness.Run(Inputs.With(("tiny.json", Inputs.TinyJson)));
        Assert.Empty(run.Diagnostics);
        Snapshot.Verify("TinyDecoder", run.Source("TinyDecoder.g.cs"));
    }

    public static IEnumerable<object[]> Families => Inputs.Families.Select(f => new object[] { f.Model, f.Family });

    [Theory]
    [MemberData(nameof(Families))]
    public void EachModelFamily(string model, string family)
    {
        var json = TestGraphs.ToJson(Inputs.FamilyGraph(model, family));
        var run = Harness.Run(Inputs.With((family + "-demo.json", json)));
        Assert.Empty(run.Diagnostics);
        string cls = char.ToUpperInvariant(family[0]) + family[1..] + "DemoDecoder";
        Snapshot.Verify(cls, run.Source(cls + ".g.cs"));
    }

    [Fact]
    public void GraphBeyondTheBudgetDelegatesToTheInterpreter()
    {
        var run = Harness.Run(Inputs.With(("large-chain.json", TestGraphs.ToJson(Inputs.LargeChain()))));
        var info = Assert.Single(run.Diagnostics);
        Assert.Equal("SPF0012", info.Id);
        Assert.Equal(DiagnosticSeverity.Info, info.Severity);
        Snapshot.Verify("LargeChainDecoder", run.Source("LargeChainDecoder.g.cs"));
    }

    [ShippedGraphsTheory]
    [MemberData(nameof(ShippedGraphs.Names), MemberType = typeof(ShippedGraphs))]
    public void ShippedGraph(string fileName)
    {
        var path = Path.Combine(ShippedGraphs.Directory, fileName);
        var files = Harness.ShippedModels();
        files.Add(new MemoryText(path, File.ReadAllText(path)));
        var run = Harness.Run(files);
        Assert.DoesNotContain(run.Diagnostics, d => d.Severity == DiagnosticSeverity.Error);
        var source = Assert.Single(run.Result.GeneratedSources);
        Snapshot.Verify("shipped-" + Path.GetFileNameWithoutExtension(fileName), source.SourceText.ToString());
        Assert.Empty(Harness.CompileErrors(run.Output));
    }
}
