using System.Globalization;
using Microsoft.CodeAnalysis;
using Spiffy.Generators.Tests.Support;

namespace Spiffy.Generators.Tests;

/// <summary>The generated code compiles cleanly at the strictest settings, and does not depend on the build machine's culture.</summary>
public class CompileTests
{
    [Fact]
    public void GeneratedCodeHasZeroDiagnosticsAtTheHighestWarningLevel()
    {
        var run = Harness.Run(Inputs.All());
        Assert.All(run.Diagnostics, d => Assert.Equal("SPF0012", d.Id)); // only the large graph's info
        Assert.Equal(5, run.Result.GeneratedSources.Length);
        var problems = Harness.CompileErrors(run.Output);
        Assert.True(problems.Count == 0, string.Join("\n", problems));
        // Info and hidden diagnostics too: nothing at all from the compiler.
        Assert.Empty(run.Output.GetDiagnostics());
    }

    [Fact]
    public void OutputIsIdenticalUnderACultureWithUnusualNumberFormatting()
    {
        var invariant = Generate(CultureInfo.InvariantCulture);
        var odd = (CultureInfo)CultureInfo.InvariantCulture.Clone();
        odd.NumberFormat.NumberDecimalSeparator = ",";
        odd.NumberFormat.NumberGroupSeparator = ".";
        odd.NumberFormat.NegativeSign = "~";
        odd.NumberFormat.PositiveSign = "#";
        odd.NumberFormat.NaNSymbol = "nan?";
        Assert.Equal("~1,5", (-1.5).ToString(odd));
        var weird = Generate(odd);
        Assert.Equal(invariant.Keys.OrderBy(k => k), weird.Keys.OrderBy(k => k));
        foreach (var key in invariant.Keys) Assert.Equal(invariant[key], weird[key]);
        // The inputs do exercise the formatting: fractional doubles (threshold, factor, temperature) and long counts.
        Assert.Contains("0.9, 1.0, 1, 0.0, global::Spiffy.Decoding.CacheMode.None)", invariant["TinyDecoder.g.cs"]);
        Assert.Contains("NodeSpec.Create(1, 1, new[] { 1 }, new[] { 1 }, new[] { 0 }, 40)", invariant["TinyDecoder.g.cs"]);
    }

    private static Dictionary<string, string> Generate(CultureInfo culture)
    {
        var (current, ui) = (CultureInfo.CurrentCulture, CultureInfo.CurrentUICulture);
        try
        {
            CultureInfo.CurrentCulture = culture;
            CultureInfo.CurrentUICulture = culture;
            // The culture really is in effect for culture-sensitive formatting.
            Assert.Equal((-1.5).ToString(culture), (-1.5).ToString());
            var run = Harness.Run(Inputs.All());
            // Messages are formatted under the culture too; compare them as text.
            var result = run.Sources.ToDictionary(kv => kv.Key, kv => kv.Value);
            result["diagnostics"] = string.Join("\n", run.Diagnostics.Select(d => d.ToString()));
            return result;
        }
        finally
        {
            CultureInfo.CurrentCulture = current;
            CultureInfo.CurrentUICulture = ui;
        }
    }

    [Fact]
    public void NamespaceComesFromSpiffyGeneratedNamespaceThenRootNamespace()
    {
        var files = Inputs.With(("tiny.json", Inputs.TinyJson));
        Assert.Contains("namespace TestApp.SpiffyDecoders\n", Harness.Run(files).Source("TinyDecoder.g.cs"));
        var custom = new Dictionary<string, string> { ["RootNamespace"] = "TestApp", ["SpiffyGeneratedNamespace"] = "My.Decoders" };
        Assert.Contains("namespace My.Decoders\n", Harness.Run(files, custom).Source("TinyDecoder.g.cs"));
        Assert.Contains("namespace SpiffyDecoders\n", Harness.Run(files, new Dictionary<string, string>()).Source("TinyDecoder.g.cs"));
    }

    [Fact]
    public void GeneratedCodeUsesOnlyGlobalNamesSoAnyNamespaceWorks()
    {
        // "Spiffy" as the last segment would capture unqualified references to the runtime's namespaces.
        var props = new Dictionary<string, string> { ["SpiffyGeneratedNamespace"] = "Spiffy.Decoding.Spiffy" };
        var run = Harness.Run(Inputs.All(), props);
        Assert.Empty(Harness.CompileErrors(run.Output));
    }

    [Fact]
    public void FilesOutsideModelsAndGraphsFoldersAreIgnored()
    {
        var files = Inputs.With(("tiny.json", Inputs.TinyJson));
        files.Add(new MemoryText(Path.Combine(Harness.RepoRoot, "other", "tiny.json"), "not json at all"));
        files.Add(new MemoryText(Path.Combine(Harness.RepoRoot, "graphs", "notes.txt"), "not json at all"));
        var run = Harness.Run(files);
        Assert.Empty(run.Diagnostics);
        Assert.Single(run.Result.GeneratedSources);
    }
    /// <summary>User code touching a decoder's whole surface: Load, Generate, constants, the speculator.</summary>
    private const string UsesTinyDecoder = """
        namespace TestApp;
        internal static class Use
        {
            public static string Run(string path)
            {
                using var d = global::TestApp.SpiffyDecoders.TinyDecoder.Load(path);
                var r = d.Generate("question", text => System.Console.Write(text));
                var s = new global::TestApp.SpiffyDecoders.TinyDecoder(global::TestApp.SpiffyDecoders.TinyDecoder.DefaultKeep);
                return r.Text + global::TestApp.SpiffyDecoders.TinyDecoder.ModelName + s.Keep + global::TestApp.SpiffyDecoders.TinyDecoder.Graph.Name;
            }
        }
        """;

    [Theory]
    [InlineData("{ \"format\": ")] // malformed JSON
    [InlineData(null)] // valid JSON, invalid value
    [InlineData("unknown-model")] // names no known model
    public void AnInvalidGraphGivesOnlyItsSpfDiagnosticsNotFollowOnCompilerErrors(string? broken)
    {
        string json = broken switch
        {
            null => Inputs.TinyJson.Replace("\"block_length\": 32", "\"block_length\": \"x\"", StringComparison.Ordinal),
            "unknown-model" => Inputs.TinyJson.Replace("\"name\": \"gsm8k-small\"", "\"name\": \"gsm8k-huge\"", StringComparison.Ordinal),
            _ => broken,
        };
        Assert.NotEqual(Inputs.TinyJson, json);
        var files = Inputs.With(("tiny.json", json));
        var run = Harness.Run(Harness.CreateDriver(files), Harness.Compilation("TestApp", UsesTinyDecoder));
        Assert.NotEmpty(run.Diagnostics);
        Assert.All(run.Diagnostics, d => Assert.StartsWith("SPF", d.Id, StringComparison.Ordinal));
        Assert.Contains(run.Diagnostics, d => d.Severity == DiagnosticSeverity.Error);
        Assert.Empty(Harness.CompileErrors(run.Output));
        Assert.Contains("placeholder", run.Source("TinyDecoder.g.cs"));
    }

    [Fact]
    public void APlaceholderHasTheSamePublicMembersAsARealDecoder()
    {
        static List<string> Members(GeneratorRun run)
        {
            var type = run.Output.GetTypeByMetadataName("TestApp.SpiffyDecoders.TinyDecoder")!;
            return type.GetMembers().Where(m => m.DeclaredAccessibility == Accessibility.Public)
                .Select(m => m.ToDisplayString(SymbolDisplayFormat.CSharpErrorMessageFormat)).Order(StringComparer.Ordinal).ToList();
        }
        var real = Harness.Run(Harness.CreateDriver(Inputs.With(("tiny.json", Inputs.TinyJson))), Harness.Compilation("TestApp", UsesTinyDecoder));
        var stub = Harness.Run(Harness.CreateDriver(Inputs.With(("tiny.json", "{"))), Harness.Compilation("TestApp", UsesTinyDecoder));
        Assert.Empty(Harness.CompileErrors(real.Output));
        Assert.Equal(Members(real), Members(stub));
    }
}
