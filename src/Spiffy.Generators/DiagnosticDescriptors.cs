using System;
using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Spiffy.Schema;

namespace Spiffy.Generators;

/// <summary>
/// Every diagnostic the Spiffy generator reports, with its stable id. Documented one by one in
/// docs/diagnostics.md and tracked in AnalyzerReleases.*.md; ids are never reused or renumbered.
/// </summary>
public static class DiagnosticDescriptors
{
    public const string Category = "Spiffy";

    public static readonly DiagnosticDescriptor MalformedJson = Error("SPF0001", "Malformed JSON");
    public static readonly DiagnosticDescriptor UnknownField = Error("SPF0002", "Unknown field");
    public static readonly DiagnosticDescriptor MissingField = Error("SPF0003", "Missing required field");
    public static readonly DiagnosticDescriptor WrongType = Error("SPF0004", "Wrong JSON type");
    public static readonly DiagnosticDescriptor InvalidValue = Error("SPF0005", "Invalid value");
    public static readonly DiagnosticDescriptor ContradictoryValues = Error("SPF0006", "Contradictory values");
    public static readonly DiagnosticDescriptor GraphNotRootConnected = Error("SPF0007", "Draft graph is not root-connected");
    public static readonly DiagnosticDescriptor GraphParentRule = Error("SPF0008", "Draft graph breaks the parent rule");
    public static readonly DiagnosticDescriptor RankOutOfRange = Error("SPF0009", "Rank or depth beyond the declared limits");

    public static readonly DiagnosticDescriptor UnknownModel = Error("SPF0010", "Draft graph names an unknown model",
        "Graph '{0}' names model '{1}', but no models/*.json AdditionalFile has that name ({2})");

    public static readonly DiagnosticDescriptor DuplicateDecoderName = Error("SPF0011", "Duplicate decoder name",
        "Graph '{0}' yields decoder class '{1}', as does {2}: give the graphs distinct names");

    public static readonly DiagnosticDescriptor GraphTooLarge = new DiagnosticDescriptor("SPF0012", "Draft graph too large to unroll",
        "Graph '{0}' has {1} nodes and {2} pairs, beyond the unrolling budget of {3} nodes and {4} pairs: '{5}' delegates to the interpreted GraphSpeculator",
        Category, DiagnosticSeverity.Info, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor DuplicateModelName = Error("SPF0013", "Duplicate model name",
        "Model name '{0}' is already defined by {1}: model names must be unique among the AdditionalFiles");

    public static readonly DiagnosticDescriptor InvalidNamespace = Error("SPF0014", "Invalid generated namespace",
        "'{0}' is not a valid C# namespace: set the MSBuild property SpiffyGeneratedNamespace (or RootNamespace) to a dotted list of identifiers");

    /// <summary>Every descriptor, in id order (docs/diagnostics.md documents each).</summary>
    public static readonly ImmutableArray<DiagnosticDescriptor> All = ImmutableArray.Create(
        MalformedJson, UnknownField, MissingField, WrongType, InvalidValue, ContradictoryValues, GraphNotRootConnected, GraphParentRule,
        RankOutOfRange, UnknownModel, DuplicateDecoderName, GraphTooLarge, DuplicateModelName, InvalidNamespace);

    /// <summary>The descriptor that reports a schema error of this kind; a kind without one is a bug and throws.</summary>
    public static DiagnosticDescriptor For(SchemaErrorKind kind) => kind switch
    {
        SchemaErrorKind.MalformedJson => MalformedJson,
        SchemaErrorKind.UnknownField => UnknownField,
        SchemaErrorKind.MissingField => MissingField,
        SchemaErrorKind.WrongType => WrongType,
        SchemaErrorKind.InvalidValue => InvalidValue,
        SchemaErrorKind.ContradictoryValues => ContradictoryValues,
        SchemaErrorKind.GraphNotRootConnected => GraphNotRootConnected,
        SchemaErrorKind.GraphParentRule => GraphParentRule,
        SchemaErrorKind.RankOutOfRange => RankOutOfRange,
        SchemaErrorKind.UnknownModel => UnknownModel,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "no diagnostic reports this schema error kind"),
    };

    /// <summary>Looks a descriptor up by id (pipeline records carry ids, not descriptors); an unknown id is a bug and throws.</summary>
    public static DiagnosticDescriptor ById(string id)
    {
        foreach (var d in All)
            if (d.Id == id) return d;
        throw new ArgumentOutOfRangeException(nameof(id), id, "no Spiffy diagnostic has this id");
    }

    // Schema errors carry a complete sentence ("'tokens.pad': pad id 1 equals the mask id ..."), hence "{0}".
    private static DiagnosticDescriptor Error(string id, string title, string format = "{0}")
        => new DiagnosticDescriptor(id, title, format, Category, DiagnosticSeverity.Error, isEnabledByDefault: true);
}
