using Microsoft.CodeAnalysis;
using Spiffy.Generators.Tests.Support;

namespace Spiffy.Generators.Tests;

/// <summary>One test per diagnostic id (docs/diagnostics.md): the id, severity, message and the JSON location.</summary>
public class DiagnosticTests
{
    private static string Tiny(params (string From, string To)[] edits) => Edit(Inputs.TinyJson, edits);

    private static string SmallModel(params (string From, string To)[] edits) => Edit(File.ReadAllText(Harness.ModelPath("gsm8k-small")), edits);

    private static string Edit(string text, (string From, string To)[] edits)
    {
        foreach (var (from, to) in edits)
        {
            Assert.Contains(from, text);
            text = text.Replace(from, to);
        }
        return text;
    }

    /// <summary>Runs the generator on the shipped models plus the given graphs; returns its diagnostics.</summary>
    private static IReadOnlyList<Diagnostic> Diagnose(params (string File, string Json)[] graphs) => Harness.Run(Inputs.With(graphs)).Diagnostics;

    private static Diagnostic Single(IReadOnlyList<Diagnostic> diagnostics, string id)
    {
        Assert.True(diagnostics.Count == 1 && diagnostics[0].Id == id, $"expected one {id}, got: {string.Join("\n", diagnostics)}");
        return diagnostics[0];
    }

    /// <summary>Asserts the diagnostic points at 1-based line/column of the file named <paramref name="fileName"/>.</summary>
    private static void AssertAt(Diagnostic d, string fileName, int line, int column, string? text = null, string? source = null)
    {
        var span = d.Location.GetLineSpan();
        Assert.Equal(fileName, Path.GetFileName(span.Path));
        Assert.Equal((line, column), (span.StartLinePosition.Line + 1, span.StartLinePosition.Character + 1));
        if (text is not null) Assert.Equal(text, source!.Substring(d.Location.SourceSpan.Start, d.Location.SourceSpan.Length));
    }

    private static int LineOf(string text, string needle) => text[..text.IndexOf(needle, StringComparison.Ordinal)].Count(c => c == '\n') + 1;

    private static int ColumnOf(string text, string needle)
    {
        int at = text.IndexOf(needle, StringComparison.Ordinal);
        return at - text.LastIndexOf('\n', at);
    }

    [Fact]
    public void SPF0001_MalformedJson_PointsAtLineAndColumn()
    {
        string json = Tiny(("\"name\": \"tiny\",", "\"name\": \"tiny\""));
        var d = Single(Diagnose(("bad.json", json)), "SPF0001");
        Assert.Equal(DiagnosticSeverity.Error, d.Severity);
        Assert.Contains("expected ',' or '}' in an object", d.GetMessage());
        AssertAt(d, "bad.json", 4, 3, "\"model\"", json);
    }

    [Fact]
    public void SPF0002_UnknownField()
    {
        string model = SmallModel(("\"num_layers\": 6,", "\"num_layers\": 6,\n  \"num_layer\": 6,"));
        var files = Harness.ShippedModels().Where(f => !f.Path.EndsWith("gsm8k-small.json", StringComparison.Ordinal)).ToList();
        files.Add(new MemoryText(Path.Combine(Harness.RepoRoot, "models", "gsm8k-small.json"), model));
        var d = Single(Harness.Run(files).Diagnostics, "SPF0002");
        Assert.Equal("'num_layer': unknown field (check the spelling against the schema)", d.GetMessage());
        AssertAt(d, "gsm8k-small.json", LineOf(model, "\"num_layer\""), 3, "\"num_layer\"", model);
    }

    [Fact]
    public void SPF0003_MissingField()
    {
        string json = Tiny(("  \"limits\": { \"max_position_rank\": 2, \"max_token_rank\": 2, \"max_depth\": 2 },\n", ""));
        var d = Single(Diagnose(("g.json", json)), "SPF0003");
        Assert.Equal("'limits': required field is missing", d.GetMessage());
        AssertAt(d, "g.json", 1, 1, "{", json);
    }

    [Fact]
    public void SPF0004_WrongType()
    {
        string json = Tiny(("\"keep\": 0", "\"keep\": \"all\""));
        var d = Single(Diagnose(("g.json", json)), "SPF0004");
        Assert.Equal("'keep': expected an integer, found string", d.GetMessage());
        AssertAt(d, "g.json", LineOf(json, "\"keep\""), ColumnOf(json, "\"all\""), "\"all\"", json);
    }

    [Fact]
    public void SPF0005_InvalidValue()
    {
        string json = Tiny(("\"unmasking\": \"schedule\"", "\"unmasking\": \"greedy\""));
        var d = Single(Diagnose(("g.json", json)), "SPF0005");
        Assert.Equal("'decoding.unmasking': \"greedy\" is not one of: schedule, threshold, factor, dynamic_top_k, origin", d.GetMessage());
        AssertAt(d, "g.json", 5, ColumnOf(json, "\"greedy\""), "\"greedy\"", json);
    }

    [Fact]
    public void SPF0006_ContradictoryValues_MaskEqualsPad()
    {
        string model = SmallModel(("\"tokens\": { \"mask\": 1, \"eos\": 0, \"pad\": 0 }", "\"tokens\": { \"mask\": 1, \"eos\": 0, \"pad\": 1 }"));
        var files = Harness.ShippedModels().Where(f => !f.Path.EndsWith("gsm8k-small.json", StringComparison.Ordinal)).ToList();
        files.Add(new MemoryText(Path.Combine(Harness.RepoRoot, "models", "gsm8k-small.json"), model));
        var d = Single(Harness.Run(files).Diagnostics, "SPF0006");
        Assert.StartsWith("'tokens.pad': pad id 1 equals the mask id", d.GetMessage());
        AssertAt(d, "gsm8k-small.json", LineOf(model, "\"tokens\""), ColumnOf(model, "\"pad\": 1") + 7, "1", model);
    }

    [Fact]
    public void SPF0006_ContradictoryValues_BlockLengthDoesNotDivideGenLength()
    {
        string json = Tiny(("\"gen_length\": 256", "\"gen_length\": 100"));
        var d = Single(Diagnose(("g.json", json)), "SPF0006");
        Assert.Equal("'decoding.block_length': block length 32 does not divide the generation length 100", d.GetMessage());
        AssertAt(d, "g.json", 5, ColumnOf(json, "32"), "32", json);
    }

    [Fact]
    public void SPF0006_ContradictoryValues_AcrossFiles_BlockCausalModel()
    {
        string json = Tiny(("\"name\": \"gsm8k-small\"", "\"name\": \"sdar-8b-chat-b32\""),
            ("\"gen_length\": 256, \"block_length\": 32", "\"gen_length\": 256, \"block_length\": 16"));
        var d = Single(Diagnose(("g.json", json)), "SPF0006");
        Assert.Equal("'decoding.block_length': block length 16 differs from the attention block size 32 of block-causal model 'sdar-8b-chat-b32', which "
            + "decodes in its attention blocks", d.GetMessage());
        AssertAt(d, "g.json", 5, ColumnOf(json, "16"), "16", json);
    }

    [Fact]
    public void SPF0007_GraphNotRootConnected()
    {
        string json = Tiny(("\"pairs\": [[1, 2]], \"parents\": [0]", "\"pairs\": [[1, 2]], \"parents\": []"));
        var d = Single(Diagnose(("g.json", json)), "SPF0007");
        Assert.Equal("'nodes[2]': node 3: has no parent (list 0 for a child of the root)", d.GetMessage());
        AssertAt(d, "g.json", LineOf(json, "\"id\": 3"), 5, "{", json);
    }

    [Fact]
    public void SPF0008_GraphParentRule()
    {
        // Node 4 names node 3 ({(1,2)}), whose pairs it does not contain.
        string json = Tiny(("\"parents\": [1, 2]", "\"parents\": [1, 2, 3]"));
        var d = Single(Diagnose(("g.json", json)), "SPF0008");
        Assert.Equal("'nodes[3]': node 4: parent 3's pairs are not a strict subset of this node's pairs", d.GetMessage());
        AssertAt(d, "g.json", LineOf(json, "\"id\": 4"), 5);
    }

    [Fact]
    public void SPF0009_RankOutOfRange()
    {
        string json = Tiny(("\"pairs\": [[1, 2]]", "\"pairs\": [[1, 3]]"));
        var d = Single(Diagnose(("g.json", json)), "SPF0009");
        Assert.Equal("'nodes[2]': node 3: token rank 3 exceeds max_token_rank 2", d.GetMessage());
        AssertAt(d, "g.json", LineOf(json, "\"id\": 3"), 5);
    }

    [Fact]
    public void SPF0009_RankOutOfRange_PositionRankBeyondTheBlock()
    {
        string json = Tiny(("\"gen_length\": 256, \"block_length\": 32", "\"gen_length\": 4, \"block_length\": 1"));
        var d = Single(Diagnose(("g.json", json)), "SPF0009");
        Assert.StartsWith("'limits.max_position_rank': max_position_rank 2 exceeds the block length 1", d.GetMessage());
        AssertAt(d, "g.json", 6, ColumnOf(json, "\"max_position_rank\": 2") + 21, "2", json);
    }

    [Fact]
    public void SPF0010_UnknownModel()
    {
        string json = Tiny(("\"name\": \"gsm8k-small\"", "\"name\": \"gsm8k-large\""));
        var d = Single(Diagnose(("g.json", json)), "SPF0010");
        Assert.StartsWith("Graph 'tiny' names model 'gsm8k-large', but no models/*.json AdditionalFile has that name (known: ", d.GetMessage());
        AssertAt(d, "g.json", 4, ColumnOf(json, "\"gsm8k-large\""), "\"gsm8k-large\"", json);
    }

    [Fact]
    public void SPF0011_DuplicateDecoderName()
    {
        var run = Harness.Run(Inputs.With(("a.json", Inputs.TinyJson), ("b.json", Tiny(("\"name\": \"tiny\"", "\"name\": \"Tiny\"")))));
        Assert.Equal(2, run.Diagnostics.Count(d => d.Id == "SPF0011"));
        Assert.Empty(run.Result.GeneratedSources);
        var d = run.Diagnostics.First(x => Path.GetFileName(x.Location.GetLineSpan().Path) == "a.json");
        Assert.StartsWith("Graph 'tiny' yields decoder class 'TinyDecoder', as does ", d.GetMessage());
        AssertAt(d, "a.json", 3, 11, "\"tiny\"", Inputs.TinyJson);
    }

    [Fact]
    public void SPF0012_GraphTooLarge_IsInformationalAndStillGenerates()
    {
        var json = TestGraphs.ToJson(Inputs.LargeChain());
        var run = Harness.Run(Inputs.With(("large-chain.json", json)));
        var d = Single(run.Diagnostics, "SPF0012");
        Assert.Equal(DiagnosticSeverity.Info, d.Severity);
        Assert.Equal("Graph 'large-chain' has 70 nodes and 2485 pairs, beyond the unrolling budget of 64 nodes and 512 pairs: 'LargeChainDecoder' delegates to "
            + "the interpreted GraphSpeculator", d.GetMessage());
        AssertAt(d, "large-chain.json", LineOf(json, "\"nodes\""), 12, "[", json);
        Assert.Contains("public const bool IsUnrolled = false;", run.Source("LargeChainDecoder.g.cs"));
        Assert.Empty(Harness.CompileErrors(run.Output));
    }

    [Fact]
    public void SPF0013_DuplicateModelName()
    {
        var files = Harness.ShippedModels();
        string copy = Path.Combine(Harness.RepoRoot, "models", "zz-copy.json");
        files.Add(new MemoryText(copy, File.ReadAllText(Harness.ModelPath("gsm8k-small"))));
        var d = Single(Harness.Run(files).Diagnostics, "SPF0013");
        Assert.Equal($"Model name 'gsm8k-small' is already defined by {Harness.ModelPath("gsm8k-small")}: model names must be unique among the AdditionalFiles",
            d.GetMessage());
        Assert.Equal(copy, d.Location.GetLineSpan().Path);
    }

    [Fact]
    public void SPF0014_InvalidNamespace()
    {
        var run = Harness.Run(Inputs.With(("tiny.json", Inputs.TinyJson)),
            new Dictionary<string, string> { ["SpiffyGeneratedNamespace"] = "My.class.Decoders" });
        var d = Single(run.Diagnostics, "SPF0014");
        Assert.Equal(Location.None, d.Location);
        Assert.Empty(run.Result.GeneratedSources);
    }

    [Fact]
    public void ParentListedAfterItsChildIsAParentRuleError()
    {
        // Speculators decide nodes in file order, so parents must come first (a schema rule).
        string json = Tiny(
            ("{ \"id\": 1, \"depth\": 1, \"pairs\": [[1, 1]], \"parents\": [0], \"count\": 40 }",
                "{ \"id\": 1, \"depth\": 2, \"pairs\": [[1, 1], [2, 1]], \"parents\": [2, 4], \"count\": 18 }"),
            ("{ \"id\": 4, \"depth\": 2, \"pairs\": [[1, 1], [2, 1]], \"parents\": [1, 2], \"count\": 18 }",
                "{ \"id\": 4, \"depth\": 1, \"pairs\": [[1, 1]], \"parents\": [0], \"count\": 40 }"));
        var diagnostics = Diagnose(("g.json", json));
        Assert.Contains(diagnostics, d => d.Id == "SPF0008" && d.GetMessage().Contains("parent 4 must be listed before node 1"));
    }

    [Fact]
    public void AParentListedTwiceIsAnInvalidValue()
    {
        string json = Tiny(("\"parents\": [1, 2]", "\"parents\": [1, 2, 1]"));
        var d = Single(Diagnose(("g.json", json)), "SPF0005");
        Assert.Equal("'nodes[3]': node 4: parent 1 is listed twice", d.GetMessage());
    }

    [Fact]
    public void AFileWithManyErrorsReportsThemAll()
    {
        string json = Tiny(("\"keep\": 0", "\"keep\": -1, \"extra\": true"), ("\"unmasking\": \"schedule\"", "\"unmasking\": 3"));
        var ids = Diagnose(("g.json", json)).Select(d => d.Id).OrderBy(x => x).ToList();
        Assert.Equal(new[] { "SPF0002", "SPF0004", "SPF0005" }, ids);
    }
}
