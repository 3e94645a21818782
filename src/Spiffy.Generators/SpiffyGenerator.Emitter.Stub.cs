using Spiffy.Decoding;
using Spiffy.Schema;
using Spiffy.Schema.Graphs;

namespace Spiffy.Generators;

public sealed partial class SpiffyGenerator
{
    // Values of no graph: a stub's constants exist only so that code using them compiles.
    private static readonly GraphSpec s_noGraph = new GraphSpec("", "", "", new GraphDecoding(0, 0, 0, UnmaskingRule.Schedule, ConfidenceKind.Probability, 0, 0,
        0, 0, CacheMode.None), new GraphLimits(0, 0, 0),
        new GraphProvenance(false, "", "", 0, 0, ""), DraftKeep.All, EquatableArray<NodeSpec>.Empty);

    /// <summary>
    /// The class an invalid graph (or a graph whose model is invalid or unknown) would have produced,
    /// with the same members and no behaviour: the build fails with the file's SPF diagnostics alone,
    /// not with follow-on errors (CS0246, CS0117) in code that uses the decoder. Every member throws.
    /// </summary>
    internal static string EmitStub(StubPlan stub)
    {
        var w = new IndentedWriter();
        EmitHeader(w, $"{stub.SourceFile}, which is invalid: a placeholder without behaviour (see the build's SPF diagnostics)");
        w.Open("namespace " + stub.Namespace);
        w.Line($"/// <summary>Placeholder for the decoder of {IndentedWriter.Xml(stub.SourceFile)}, which has errors (SPF diagnostics); "
            + $"every member throws.</summary>");
        w.Line($"[global::System.CodeDom.Compiler.GeneratedCode(\"Spiffy.Generators\", \"{GeneratorVersion}\")]");
        w.Open($"public sealed partial class {stub.ClassName} : global::Spiffy.Decoding.IStepSpeculator");
        w.Line($"private const string Invalid "
            + $"= {IndentedWriter.String(stub.SourceFile + " has errors (see the build's SPF diagnostics); this decoder is a placeholder")};");
        w.Line();
        // The same constants as a real decoder, from the same code, so the surfaces cannot drift apart.
        EmitModelConstants(w, ModelFacts.None);
        EmitGraphConstants(w, new DecoderPlan(stub.Namespace, stub.ClassName, stub.SourceFile, ModelFacts.None, s_noGraph, false));
        const string Throw = "throw new global::System.InvalidOperationException(Invalid)";
        w.Line("/// <summary>Throws: the graph file has errors.</summary>");
        w.Line($"public {stub.ClassName}({Keep}? keep = null) => {Throw};");
        w.Line();
        w.Line("/// <summary>Throws: the graph file has errors.</summary>");
        w.Line($"public static {stub.ClassName} Create({Keep} keep) => {Throw};");
        w.Line();
        w.Line("/// <summary>Throws: the graph file has errors.</summary>");
        w.Line($"public static global::Spiffy.Speculation.GraphSpeculator CreateInterpreted({Keep}? keep = null) => {Throw};");
        w.Line();
        w.Line("/// <summary>Throws: the graph file has errors.</summary>");
        w.Line($"public static global::Spiffy.Compiled.CompiledGraph Compiled => {Throw};");
        w.Line();
        w.Line("/// <summary>Throws: the graph file has errors.</summary>");
        w.Line($"public static global::Spiffy.SpiffyDecoder Load(string modelPathOrCheckpoint, {Keep}? keep = null) => {Throw};");
        w.Line();
        w.Line("/// <summary>Throws: the graph file has errors.</summary>");
        w.Line($"public static global::Spiffy.SpiffyDecoder Load(global::Spiffy.SpiffyModel model, {Keep}? keep = null) => {Throw};");
        w.Line();
        w.Line("/// <summary>Throws: the graph file has errors.</summary>");
        w.Line($"public static {Ns}GraphSpec Graph => {Throw};");
        w.Line();
        w.Line("/// <summary>Throws: the graph file has errors.</summary>");
        w.Line($"public {Keep} Keep => {Throw};");
        w.Line();
        w.Line("/// <summary>Throws: the graph file has errors.</summary>");
        w.Line($"public int MaxDrafts => {Throw};");
        w.Line();
        w.Line("/// <summary>Throws: the graph file has errors.</summary>");
        w.Line($"public int TopTokenRanks => {Throw};");
        w.Line();
        w.Line("/// <summary>Throws: the graph file has errors.</summary>");
        w.Line("public int Draft(global::System.ReadOnlySpan<long> state, int maskId, global::System.ReadOnlySpan<double> topProbs, "
            + $"global::System.ReadOnlySpan<long> topTokens, global::System.Span<long> drafts) => {Throw};");
        w.Line();
        w.Line("/// <summary>Throws: the graph file has errors.</summary>");
        w.Line($"public int Match(int parent, global::System.ReadOnlySpan<long> state) => {Throw};");
        w.Line();
        w.Line("/// <summary>Throws: the graph file has errors.</summary>");
        w.Line($"public int Depth(int draft) => {Throw};");
        w.Close();
        w.Close();
        return w.ToString();
    }
}
