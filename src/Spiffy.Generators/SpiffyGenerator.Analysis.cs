using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Spiffy.Schema;
using Spiffy.Schema.Decoding;
using Spiffy.Schema.Graphs;
using Spiffy.Schema.Models;

namespace Spiffy.Generators;

public sealed partial class SpiffyGenerator
{
    /// <summary>
    /// Unrolling budget. Beyond it the generated class delegates to the interpreted walk (SPF0012):
    /// the unrolled pruning keeps node sets in one 64-bit mask, and past ~512 pairs the straight-line
    /// code grows faster than it saves.
    /// </summary>
    public const int MaxUnrolledNodes = 64;

    /// <summary>Total (position rank, token rank) pairs over all nodes that may still be unrolled.</summary>
    public const int MaxUnrolledPairs = 512;

    /// <summary>
    /// Default namespace: <c>$(RootNamespace).SpiffyDecoders</c>. Never a segment named <c>Spiffy</c>: inside
    /// <c>namespace App;</c> a namespace <c>App.Spiffy</c> would hide the runtime's <c>Spiffy</c> (CS0234 on <c>Spiffy.Decoding</c>).
    /// </summary>
    public const string DefaultNamespaceSuffix = "SpiffyDecoders";

    /// <summary>Namespace used when neither SpiffyGeneratedNamespace nor RootNamespace is set.</summary>
    public const string FallbackNamespace = DefaultNamespaceSuffix;

    internal static string Inv(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>"gsm8k-small-d10" -> "Gsm8kSmallD10Decoder"; "" when the name has no letter or digit.</summary>
    internal static string ClassNameFor(string graphName)
    {
        var sb = new StringBuilder();
        bool upper = true;
        foreach (char c in graphName)
        {
            if (!char.IsLetterOrDigit(c)) { upper = true; continue; }
            sb.Append(upper ? char.ToUpperInvariant(c) : c);
            upper = false;
        }
        if (sb.Length == 0) return "";
        if (!SyntaxFacts.IsIdentifierStartCharacter(sb[0])) sb.Insert(0, "Graph");
        return sb.Append("Decoder").ToString();
    }

    /// <summary>What a graph file's class is named after: its declared name, else (unreadable file) its file name without extension.</summary>
    internal static string DecoderNameSource(ParsedFile file)
        => file.DeclaredName.Length > 0 ? file.DeclaredName : System.IO.Path.GetFileNameWithoutExtension(file.Path);

    internal static OutputOptions ReadOptions(AnalyzerConfigOptions options)
    {
        string ns = Property(options, "SpiffyGeneratedNamespace");
        if (ns.Length == 0)
        {
            string root = Property(options, "RootNamespace");
            ns = root.Length > 0 ? root + "." + DefaultNamespaceSuffix : FallbackNamespace;
        }
        return new OutputOptions(ns, IsValidNamespace(ns));
    }

    private static string Property(AnalyzerConfigOptions options, string name)
        => options.TryGetValue("build_property." + name, out var value) && value is not null ? value.Trim() : "";

    private static bool IsValidNamespace(string ns)
    {
        foreach (var part in ns.Split('.'))
            if (!SyntaxFacts.IsValidIdentifier(part) || SyntaxFacts.GetKeywordKind(part) != SyntaxKind.None
                || SyntaxFacts.GetContextualKeywordKind(part) == SyntaxKind.GlobalKeyword)
                return false;
        return true;
    }

    private static IEnumerable<DiagnosticInfo> OptionDiagnostics(OutputOptions options)
    {
        if (!options.IsValid) yield return DiagnosticInfo.Create(DiagnosticDescriptors.InvalidNamespace, null, options.Namespace);
    }

    internal static ModelIndex BuildModelIndex(ImmutableArray<ParsedFile> files)
    {
        var sorted = files.ToBuilder();
        sorted.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        var entries = new ModelEntry[sorted.Count];
        var firstByName = new Dictionary<string, string>(StringComparer.Ordinal);
        var diagnostics = new List<DiagnosticInfo>();
        for (int i = 0; i < sorted.Count; i++)
        {
            var f = sorted[i];
            entries[i] = new ModelEntry(f.DeclaredName, f.Path, f.Model);
            if (f.DeclaredName.Length == 0) continue;
            if (firstByName.TryGetValue(f.DeclaredName, out var first))
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.DuplicateModelName, f.Find("name"), f.DeclaredName, first));
            else firstByName[f.DeclaredName] = f.Path;
        }
        return new ModelIndex(new EquatableArray<ModelEntry>(entries), new EquatableArray<DiagnosticInfo>(diagnostics.ToArray()));
    }

    internal static EquatableArray<DecoderName> SortNames(ImmutableArray<DecoderName> names)
    {
        var sorted = names.ToBuilder();
        sorted.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        return new EquatableArray<DecoderName>(sorted.ToArray());
    }

    /// <summary>Checks one valid graph against its model and the other graphs; plans its decoder when it can be emitted.</summary>
    internal static GraphAnalysis Analyze(ParsedFile file, ModelIndex models, EquatableArray<DecoderName> names, OutputOptions options)
    {
        var diagnostics = new List<DiagnosticInfo>();
        GraphAnalysis Result(DecoderPlan? plan) => new GraphAnalysis(plan, null, new EquatableArray<DiagnosticInfo>(diagnostics.ToArray()));
        // A graph that has errors of its own, or whose model has, still yields its class (a placeholder
        // without behaviour), so code using it compiles and the build reports only the SPF diagnostics.
        GraphAnalysis Stub()
        {
            string name = ClassNameFor(DecoderNameSource(file));
            bool unique = name.Length > 0 && options.IsValid;
            foreach (var n in names)
                if (n.ClassName == name && n.Path != file.Path) unique = false;
            return new GraphAnalysis(null, unique ? new StubPlan(options.Namespace, name, file.FileName) : null,
                new EquatableArray<DiagnosticInfo>(diagnostics.ToArray()));
        }
        var graph = file.Graph;
        if (graph is null) return Stub(); // the file's own errors say why

        string className = ClassNameFor(graph.Name);
        if (className.Length == 0)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidValue, file.Find("name"),
                $"'name': \"{graph.Name}\" has no letter or digit to name the decoder class after"));
            return Result(null);
        }

        ModelEntry? model = null;
        foreach (var m in models.Models)
            if (m.Name == graph.ModelName) { model = m; break; }
        if (model is null)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnknownModel, file.Find("model.name", "model"), graph.Name,
                graph.ModelName, KnownModels(models)));
            return Stub();
        }
        if (model.Spec is null) return Stub(); // the model file's own errors say why

        var others = new List<string>();
        foreach (var n in names)
            if (n.ClassName == className && n.Path != file.Path) others.Add(n.Path);
        if (others.Count > 0)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.DuplicateDecoderName, file.Find("name"), graph.Name,
                className, string.Join(", ", others)));
            return Result(null);
        }

        CheckAgainstModel(file, graph, model.Spec, diagnostics);

        int pairs = new GraphTopology(graph).PairCount;
        bool unrolled = graph.Nodes.Count <= MaxUnrolledNodes && pairs <= MaxUnrolledPairs;
        if (!unrolled)
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.GraphTooLarge, file.Find("nodes"), graph.Name,
                Inv(graph.Nodes.Count), Inv(pairs), Inv(MaxUnrolledNodes), Inv(MaxUnrolledPairs), className));

        // An invalid namespace is reported once, from the options; nothing can be emitted into it.
        return Result(options.IsValid ? new DecoderPlan(options.Namespace, className, file.FileName, ModelFacts.Of(model.Spec), graph, unrolled) : null);
    }

    private static string KnownModels(ModelIndex models)
    {
        var known = new List<string>();
        foreach (var m in models.Models) if (m.Name.Length > 0) known.Add("'" + m.Name + "'");
        return known.Count == 0 ? "no model files were given" : "known: " + string.Join(", ", known);
    }

    /// <summary>
    /// Rules that need both files: the decoding rules against the model (<see cref="DecodingRules.CheckAgainstModel"/>,
    /// the ones <c>DecodingOptions.Validate</c> throws on at run time), plus ranks no block of this configuration can ever have.
    /// </summary>
    private static void CheckAgainstModel(ParsedFile file, GraphSpec graph, ModelSpec model, List<DiagnosticInfo> diagnostics)
    {
        void Add(DiagnosticDescriptor d, string key, string message) =>
            diagnostics.Add(DiagnosticInfo.Create(d, file.Find(key, "decoding"), "'" + key + "': " + message));
        var dec = graph.Decoding;
        var rules = new List<DecodingRuleError>();
        DecodingRules.CheckAgainstModel(dec, model, rules);
        foreach (var e in rules) Add(DiagnosticDescriptors.For(e.Kind), "decoding." + e.Field, e.Message);
        if (graph.Limits.MaxPositionRank > dec.BlockLength)
            Add(DiagnosticDescriptors.RankOutOfRange, "limits.max_position_rank",
                $"max_position_rank {Inv(graph.Limits.MaxPositionRank)} exceeds the block length {Inv(dec.BlockLength)}: a block never "
                    + $"has that many masked positions");
        if (graph.Limits.MaxTokenRank > model.VocabSize)
            Add(DiagnosticDescriptors.RankOutOfRange, "limits.max_token_rank",
                $"max_token_rank {Inv(graph.Limits.MaxTokenRank)} exceeds the vocabulary size {Inv(model.VocabSize)} of model '{model.Name}'");
    }
}
