using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;
using Spiffy.Schema;
using Spiffy.Schema.Graphs;
using Spiffy.Schema.Models;

namespace Spiffy.Generators;

// Everything that flows through the incremental pipeline is a record of plain values (never a
// symbol, syntax node or Location), so Roslyn's caching compares them by value.

/// <summary>What an AdditionalFile is to the generator, from the nearest "models" or "graphs" folder above it.</summary>
internal enum SpiffyFileKind { None, Model, Graph }

/// <summary>A span of an AdditionalFile, turned into a <see cref="Location"/> only when a diagnostic is reported.</summary>
internal sealed record LocationInfo(string Path, int Start, int Length, int StartLine, int StartCharacter, int EndLine, int EndCharacter)
{
    public static LocationInfo DocumentStart(string path) => new LocationInfo(path, 0, 0, 0, 0, 0, 0);

    public Location ToLocation() => Location.Create(Path, new TextSpan(Start, Length),
        new LinePositionSpan(new LinePosition(StartLine, StartCharacter), new LinePosition(EndLine, EndCharacter)));
}

/// <summary>A diagnostic waiting to be reported: descriptor id, location and message arguments.</summary>
internal sealed record DiagnosticInfo(string Id, LocationInfo? At, EquatableArray<string> Args)
{
    public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, LocationInfo? at, params string[] args)
        => new DiagnosticInfo(descriptor.Id, at, new EquatableArray<string>(args));

    public Diagnostic ToDiagnostic()
    {
        var args = new object[Args.Count];
        for (int i = 0; i < args.Length; i++) args[i] = Args[i];
        return Diagnostic.Create(DiagnosticDescriptors.ById(Id), At?.ToLocation() ?? Location.None, args);
    }
}

/// <summary>The location of one JSON value, by dotted path ("decoding.block_length"), for cross-file diagnostics.</summary>
internal sealed record Anchor(string Key, LocationInfo At);

/// <summary>One model or graph file after parsing and validation (specs are null when the file is invalid).</summary>
internal sealed record ParsedFile(
    string Path,
    SpiffyFileKind Kind,
    string DeclaredName,
    string DeclaredModelName,
    ModelSpec? Model,
    GraphSpec? Graph,
    EquatableArray<Anchor> Anchors,
    EquatableArray<DiagnosticInfo> Diagnostics)
{
    /// <summary>The location of the first of <paramref name="keys"/> present in the file, else the document start.</summary>
    public LocationInfo Find(params string[] keys)
    {
        foreach (var key in keys)
            foreach (var a in Anchors)
                if (a.Key == key) return a.At;
        return LocationInfo.DocumentStart(Path);
    }

    public string FileName => System.IO.Path.GetFileName(Path);
}

/// <summary>A model file as graphs see it: its declared name and, when valid, its spec.</summary>
internal sealed record ModelEntry(string Name, string Path, ModelSpec? Spec);

/// <summary>All model files of the project, in path order, with duplicate-name diagnostics.</summary>
internal sealed record ModelIndex(EquatableArray<ModelEntry> Models, EquatableArray<DiagnosticInfo> Diagnostics);

/// <summary>The decoder class a graph file would produce (for duplicate detection).</summary>
internal sealed record DecoderName(string ClassName, string Path);

/// <summary>Project-level generator settings from MSBuild properties.</summary>
internal sealed record OutputOptions(string Namespace, bool IsValid);

/// <summary>
/// The model facts a decoder emits, the ones a loaded model is checked against, and nothing else:
/// editing a model's checkpoint path, tokenizer or tensor names leaves every plan equal, so no decoder is regenerated.
/// </summary>
internal sealed record ModelFacts(string Name, string Family, int HiddenSize, int NumLayers, int NumHeads, int NumKvHeads, int HeadDim,
    int IntermediateSize, int VocabSize, int MaxSequenceLength, int MaskTokenId, int EosTokenId)
{
    public static ModelFacts Of(ModelSpec m) => new ModelFacts(m.Name, m.Family, m.HiddenSize, m.NumLayers, m.NumHeads, m.NumKvHeads, m.HeadDim,
        m.IntermediateSize, m.VocabSize, m.MaxSequenceLength, m.Tokens.Mask, m.Tokens.Eos);

    /// <summary>A stub's facts: no model.</summary>
    public static readonly ModelFacts None = new ModelFacts("", "", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
}

/// <summary>
/// Exactly what the emitter writes for one decoder (equal plans produce identical source): no
/// locations (diagnostics carry those, separately), no model fields beyond <see cref="ModelFacts"/>.
/// </summary>
internal sealed record DecoderPlan(string Namespace, string ClassName, string SourceFile, ModelFacts Model, GraphSpec Graph, bool Unrolled)
{
    public string HintName => ClassName + ".g.cs";
}

/// <summary>A placeholder class for a graph that cannot be emitted (its file or its model has errors).</summary>
internal sealed record StubPlan(string Namespace, string ClassName, string SourceFile)
{
    public string HintName => ClassName + ".g.cs";
}

/// <summary>The result of checking one graph against the project: a plan, or a stub, or neither, and its diagnostics.</summary>
internal sealed record GraphAnalysis(DecoderPlan? Plan, StubPlan? Stub, EquatableArray<DiagnosticInfo> Diagnostics);
