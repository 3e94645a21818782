using Microsoft.CodeAnalysis;
using Spiffy.Schema;

namespace Spiffy.Generators;

/// <summary>
/// Compiles draft graphs (graphs/*.json) and the models they name (models/*.json), given as
/// AdditionalFiles, into specialized <c>IStepSpeculator</c> classes. This file is only the
/// pipeline; see SpiffyGenerator.Parser.cs, .Analysis.cs and .Emitter*.cs, and docs/generator.md.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed partial class SpiffyGenerator : IIncrementalGenerator
{
    /// <summary>Step names for incremental-generator tests (GeneratorRunResult.TrackedSteps).</summary>
    public static class TrackingNames
    {
        public const string ParsedFiles = nameof(ParsedFiles);
        public const string Models = nameof(Models);
        public const string DecoderNames = nameof(DecoderNames);
        public const string Options = nameof(Options);
        public const string Analyses = nameof(Analyses);
        public const string Plans = nameof(Plans);
    }

    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        // 1. Each model/graph AdditionalFile becomes a value-equal record (spec + its own diagnostics).
        IncrementalValuesProvider<ParsedFile> files = context.AdditionalTextsProvider
            .Where(static text => Classify(text.Path) != SpiffyFileKind.None)
            .Select(static (text, cancel) => ParseFile(text, cancel))
            .WithTrackingName(TrackingNames.ParsedFiles);

        // 2. Project-wide facts a graph depends on, reduced to small value-equal records so an
        //    edit elsewhere leaves them (and everything downstream) cached.
        IncrementalValueProvider<ModelIndex> models = files
            .Where(static f => f.Kind == SpiffyFileKind.Model)
            .Collect()
            .Select(static (all, _) => BuildModelIndex(all))
            .WithTrackingName(TrackingNames.Models);
        IncrementalValueProvider<EquatableArray<DecoderName>> names = files
            .Where(static f => f.Kind == SpiffyFileKind.Graph)
            .Select(static (f, _) => new DecoderName(ClassNameFor(DecoderNameSource(f)), f.Path))
            .Collect()
            .Select(static (all, _) => SortNames(all))
            .WithTrackingName(TrackingNames.DecoderNames);
        IncrementalValueProvider<OutputOptions> options = context.AnalyzerConfigOptionsProvider
            .Select(static (provider, _) => ReadOptions(provider.GlobalOptions))
            .WithTrackingName(TrackingNames.Options);

        // 3. Per graph: what to emit and what to report. A plan holds only this graph, its model
        //    and the namespace, so editing one graph regenerates only its decoder.
        IncrementalValuesProvider<GraphAnalysis> analyses = files
            .Where(static f => f.Kind == SpiffyFileKind.Graph)
            .Combine(models)
            .Combine(names)
            .Combine(options)
            .Select(static (x, _) => Analyze(x.Left.Left.Left, x.Left.Left.Right, x.Left.Right, x.Right))
            .WithTrackingName(TrackingNames.Analyses);
        IncrementalValuesProvider<DecoderPlan> plans = analyses
            .Where(static a => a.Plan is not null)
            .Select(static (a, _) => a.Plan!)
            .WithTrackingName(TrackingNames.Plans);
        context.RegisterSourceOutput(plans, static (spc, plan) => spc.AddSource(plan.HintName, Emit(plan)));
        context.RegisterSourceOutput(analyses.Where(static a => a.Stub is not null).Select(static (a, _) => a.Stub!),
            static (spc, stub) => spc.AddSource(stub.HintName, EmitStub(stub)));

        // 4. Diagnostics travel in outputs of their own: a changed message or location never
        //    invalidates a plan, and a plan never waits on diagnostics.
        context.RegisterSourceOutput(files.SelectMany(static (f, _) => f.Diagnostics), Report);
        context.RegisterSourceOutput(models.SelectMany(static (m, _) => m.Diagnostics), Report);
        context.RegisterSourceOutput(analyses.SelectMany(static (a, _) => a.Diagnostics), Report);
        context.RegisterSourceOutput(options.SelectMany(static (o, _) => OptionDiagnostics(o)), Report);
    }

    private static void Report(SourceProductionContext context, DiagnosticInfo diagnostic) => context.ReportDiagnostic(diagnostic.ToDiagnostic());
}
