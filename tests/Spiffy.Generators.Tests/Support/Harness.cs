extern alias SpiffyGenerators;

using System.Collections.Immutable;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;
using Spiffy.Speculation;
using SpiffyGenerator = SpiffyGenerators::Spiffy.Generators.SpiffyGenerator;

namespace Spiffy.Generators.Tests.Support;

/// <summary>An AdditionalFile held in memory (path as the compiler would see it).</summary>
public sealed class MemoryText : AdditionalText
{
    private readonly SourceText _text;
    public MemoryText(string path, string text) { Path = path; _text = SourceText.From(text, Encoding.UTF8); }
    public override string Path { get; }
    public override SourceText GetText(CancellationToken cancellationToken = default) => _text;
}

/// <summary>MSBuild properties as the generator sees them (build_property.X).</summary>
public sealed class TestOptionsProvider : AnalyzerConfigOptionsProvider
{
    private readonly TestOptions _global;
    public TestOptionsProvider(IReadOnlyDictionary<string, string> properties) { _global = new TestOptions(properties); }
    public override AnalyzerConfigOptions GlobalOptions => _global;
    public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => TestOptions.Empty;
    public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) => TestOptions.Empty;

    private sealed class TestOptions : AnalyzerConfigOptions
    {
        public static readonly TestOptions Empty = new(new Dictionary<string, string>());
        private readonly IReadOnlyDictionary<string, string> _values;
        public TestOptions(IReadOnlyDictionary<string, string> values) { _values = values; }
        public override bool TryGetValue(string key, out string value)
        {
            foreach (var kv in _values)
                if ("build_property." + kv.Key == key) { value = kv.Value; return true; }
            value = "";
            return false;
        }
    }
}

/// <summary>One generator run: the generated sources by hint name, the generator's diagnostics, and the updated compilation.</summary>
public sealed record GeneratorRun(GeneratorDriver Driver, GeneratorRunResult Result, Compilation Output, ImmutableArray<Diagnostic> Diagnostics)
{
    public IReadOnlyDictionary<string, string> Sources =>
        Result.GeneratedSources.ToDictionary(s => s.HintName, s => s.SourceText.ToString(), StringComparer.Ordinal);

    public string Source(string hintName) => Sources.TryGetValue(hintName, out var s) ? s
        : throw new Xunit.Sdk.XunitException($"no {hintName}; generated: {string.Join(", ", Sources.Keys)}; diagnostics: {string.Join("; ", Diagnostics)}");
}

/// <summary>Drives the generator with CSharpGeneratorDriver and compiles its output against Spiffy.Runtime.</summary>
public static class Harness
{
    public static string RepoRoot { get; } = FindRepoRoot();
    public static string TestsDir => Path.Combine(RepoRoot, "tests", "Spiffy.Generators.Tests");

    /// <summary>C# at its strictest: every warning at the highest level is an error, nullable on, XML docs checked.</summary>
    public static CSharpParseOptions ParseOptions { get; } = new(LanguageVersion.Latest, DocumentationMode.Diagnose);

    public static CSharpCompilationOptions CompilationOptions { get; } = new(OutputKind.DynamicallyLinkedLibrary,
        nullableContextOptions: NullableContextOptions.Enable, warningLevel: 9999, generalDiagnosticOption: ReportDiagnostic.Error,
        optimizationLevel: OptimizationLevel.Release, deterministic: true);

    /// <summary>The framework plus Spiffy.Runtime (not the generator: it carries its own copy of the schema types).</summary>
    public static IReadOnlyList<MetadataReference> References { get; } = LoadReferences();

    public static IReadOnlyDictionary<string, string> DefaultProperties { get; } = new Dictionary<string, string> { ["RootNamespace"] = "TestApp" };

    public static string ModelPath(string name) => Path.Combine(RepoRoot, "models", name + ".json");

    /// <summary>All shipped model descriptions (models/*.json) as AdditionalFiles.</summary>
    public static List<AdditionalText> ShippedModels() =>
        Directory.GetFiles(Path.Combine(RepoRoot, "models"), "*.json").OrderBy(p => p, StringComparer.Ordinal)
            .Select(p => (AdditionalText)new MemoryText(p, File.ReadAllText(p))).ToList();

    /// <summary>A graph file placed under a virtual graphs/ folder of the repository.</summary>
    public static MemoryText GraphFile(string fileName, string json) => new(Path.Combine(RepoRoot, "graphs", fileName), json);

    public static CSharpCompilation Compilation(string assemblyName, params string[] sources) =>
        CSharpCompilation.Create(assemblyName, sources.Select(s => CSharpSyntaxTree.ParseText(s, ParseOptions)), References, CompilationOptions);

    public static GeneratorDriver CreateDriver(IEnumerable<AdditionalText> files, IReadOnlyDictionary<string, string>? properties = null) =>
        CSharpGeneratorDriver.Create(new[] { new SpiffyGenerator().AsSourceGenerator() }, files, ParseOptions,
            new TestOptionsProvider(properties ?? DefaultProperties),
            new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    public static GeneratorRun Run(GeneratorDriver driver, Compilation compilation)
    {
        driver = driver.RunGeneratorsAndUpdateCompilation(compilation, out var output, out var diagnostics);
        return new GeneratorRun(driver, driver.GetRunResult().Results.Single(), output, diagnostics);
    }

    public static GeneratorRun Run(IEnumerable<AdditionalText> files, IReadOnlyDictionary<string, string>? properties = null, string assemblyName = "TestApp")
        => Run(CreateDriver(files, properties), Compilation(assemblyName));

    /// <summary>Compiler diagnostics of the generated code (warnings are errors here).</summary>
    public static List<Diagnostic> CompileErrors(Compilation output) =>
        output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();

    private static IReadOnlyList<MetadataReference> LoadReferences()
    {
        string fx = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var tpa = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        var refs = tpa.Where(p => string.Equals(Path.GetDirectoryName(p), fx, StringComparison.Ordinal) && p.EndsWith(".dll", StringComparison.Ordinal))
            .OrderBy(p => p, StringComparer.Ordinal)
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToList();
        refs.Add(MetadataReference.CreateFromFile(typeof(GraphSpeculator).Assembly.Location));
        return refs;
    }

    private static string FindRepoRoot()
    {
        for (var dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
            if (File.Exists(Path.Combine(dir, "Spiffy.Compiler.sln"))) return dir;
        throw new InvalidOperationException("Spiffy.Compiler.sln not found above " + AppContext.BaseDirectory);
    }
}
