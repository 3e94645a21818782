extern alias SpiffyGenerators;

using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Spiffy.Generators.Tests.Support;
using TrackingNames = SpiffyGenerators::Spiffy.Generators.SpiffyGenerator.TrackingNames;

namespace Spiffy.Generators.Tests;

/// <summary>Incremental behaviour with tracked steps: only what an edit touches is recomputed and regenerated.</summary>
public class IncrementalTests
{
    private static readonly string LladaJson = TestGraphs.ToJson(Inputs.FamilyGraph("gsm8k-small", "llada"));

    private static (GeneratorRun Run, Compilation Compilation, List<AdditionalText> Files) FirstRun()
    {
        var files = Inputs.With(("tiny.json", Inputs.TinyJson), ("llada-demo.json", LladaJson));
        var compilation = Harness.Compilation("TestApp", "namespace TestApp { public static class Program { } }");
        var run = Harness.Run(Harness.CreateDriver(files), compilation);
        Assert.Equal(2, run.Result.GeneratedSources.Length);
        return (run, compilation, files);
    }

    private static IEnumerable<(string Step, IncrementalStepRunReason Reason)> Reasons(GeneratorRunResult result, string step) =>
        result.TrackedSteps[step].SelectMany(s => s.Outputs).Select(o => (step, o.Reason));

    private static void AssertNothingRecomputed(GeneratorRunResult result)
    {
        foreach (var (step, runs) in result.TrackedSteps.Concat(result.TrackedOutputSteps))
            foreach (var output in runs.SelectMany(r => r.Outputs))
                Assert.True(output.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"step {step}: {output.Reason}");
    }

    [Fact]
    public void UnrelatedSourceEditRegeneratesNothing()
    {
        var (first, compilation, _) = FirstRun();
        var edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("namespace TestApp { public static class Unrelated { } }", Harness.ParseOptions));
        var second = Harness.Run(first.Driver, edited);
        AssertNothingRecomputed(second.Result);
        Assert.Equal(first.Sources, second.Sources);
    }

    [Fact]
    public void EditingAnUnusedModelRegeneratesNothing()
    {
        var (first, compilation, files) = FirstRun();
        var dream = files.Single(f => f.Path.EndsWith("dream-v0-instruct-7b.json", StringComparison.Ordinal));
        var text = dream.GetText()!.ToString().Replace("\"num_layers\": 28", "\"num_layers\": 29");
        var driver = first.Driver.ReplaceAdditionalText(dream, new MemoryText(dream.Path, text));
        var second = Harness.Run(driver, compilation);
        Assert.All(Reasons(second.Result, TrackingNames.Plans),
            r => Assert.True(r.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged));
        foreach (var (step, runs) in second.Result.TrackedOutputSteps)
            Assert.All(runs.SelectMany(r => r.Outputs),
                o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{step}: {o.Reason}"));
    }

    [Fact]
    public void EditingOneGraphRegeneratesOnlyItsDecoder()
    {
        var (first, compilation, files) = FirstRun();
        var tiny = files.Single(f => f.Path.EndsWith("tiny.json", StringComparison.Ordinal));
        var text = tiny.GetText()!.ToString().Replace("\"count\": 40", "\"count\": 41");
        var driver = first.Driver.ReplaceAdditionalText(tiny, new MemoryText(tiny.Path, text));
        var second = Harness.Run(driver, compilation);

        var plans = Reasons(second.Result, TrackingNames.Plans).Select(r => r.Reason).ToList();
        Assert.Single(plans, r => r == IncrementalStepRunReason.Modified);
        Assert.All(plans.Where(r => r != IncrementalStepRunReason.Modified),
            r => Assert.True(r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged));

        var sourceOutputs = second.Result.TrackedOutputSteps["SourceOutput"].SelectMany(s => s.Outputs).Select(o => o.Reason).ToList();
        Assert.Single(sourceOutputs, r => r is IncrementalStepRunReason.Modified or IncrementalStepRunReason.New);

        Assert.NotEqual(first.Source("TinyDecoder.g.cs"), second.Source("TinyDecoder.g.cs"));
        Assert.Contains("calibration count 41", second.Source("TinyDecoder.g.cs"));
        Assert.Equal(first.Source("LladaDemoDecoder.g.cs"), second.Source("LladaDemoDecoder.g.cs"));
    }

    /// <summary>The plans and every source output stayed cached, and the sources are byte-identical.</summary>
    private static void AssertNoNewOutput(GeneratorRun first, GeneratorRun second)
    {
        Assert.All(Reasons(second.Result, TrackingNames.Plans),
            r => Assert.True(r.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"plan: {r.Reason}"));
        foreach (var (step, runs) in second.Result.TrackedOutputSteps.Where(s => s.Key == "SourceOutput"))
            Assert.All(runs.SelectMany(r => r.Outputs),
                o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{step}: {o.Reason}"));
        Assert.Equal(first.Sources, second.Sources);
    }

    [Fact]
    public void ReformattingAGraphRegeneratesNothing()
    {
        var (first, compilation, files) = FirstRun();
        var tiny = files.Single(f => f.Path.EndsWith("tiny.json", StringComparison.Ordinal));
        string before = tiny.GetText()!.ToString();
        // Whitespace only: every node moves to other lines and columns; the graph itself is the same.
        string text = "\n\n" + before.Replace("{ \"id\"", "{\n        \"id\"").Replace("\"count\": ", "\"count\":\n\t");
        Assert.NotEqual(before, text);
        var driver = first.Driver.ReplaceAdditionalText(tiny, new MemoryText(tiny.Path, text));
        var second = Harness.Run(driver, compilation);
        // The file was read again (its anchors moved), yet its plan is equal: locations are not part of it.
        Assert.Contains(Reasons(second.Result, TrackingNames.ParsedFiles), r => r.Reason == IncrementalStepRunReason.Modified);
        AssertNoNewOutput(first, second);
    }

    [Fact]
    public void ChangingACheckpointPathRegeneratesNothing()
    {
        var (first, compilation, files) = FirstRun();
        var model = files.Single(f => f.Path.EndsWith("gsm8k-small.json", StringComparison.Ordinal));
        string before = model.GetText()!.ToString();
        string text = before.Replace("\"checkpoint\": \"../checkpoints/gsm8k-small\"", "\"checkpoint\": \"/elsewhere/gsm8k-small\"")
            .Replace("\"tokenizer\": \"../checkpoints/gsm8k-small/tokenizer.json\"", "\"tokenizer\": \"/elsewhere/tokenizer.json\"");
        Assert.NotEqual(before, text);
        var driver = first.Driver.ReplaceAdditionalText(model, new MemoryText(model.Path, text));
        var second = Harness.Run(driver, compilation);
        // The model index changed (both graphs use this model), yet neither plan did: a plan holds only the model facts it emits.
        Assert.Contains(Reasons(second.Result, TrackingNames.Models), r => r.Reason == IncrementalStepRunReason.Modified);
        AssertNoNewOutput(first, second);
    }

    [Fact]
    public void ChangingAModelFactRegeneratesItsDecoders()
    {
        var (first, compilation, files) = FirstRun();
        var model = files.Single(f => f.Path.EndsWith("gsm8k-small.json", StringComparison.Ordinal));
        var text = model.GetText()!.ToString().Replace("\"num_layers\": 6", "\"num_layers\": 7");
        var driver = first.Driver.ReplaceAdditionalText(model, new MemoryText(model.Path, text));
        var second = Harness.Run(driver, compilation);
        Assert.All(Reasons(second.Result, TrackingNames.Plans), r => Assert.Equal(IncrementalStepRunReason.Modified, r.Reason));
        foreach (var (name, source) in first.Sources)
        {
            Assert.Contains("public const int NumLayers = 6;", source);
            Assert.Contains("public const int NumLayers = 7;", second.Sources[name]);
        }
    }

    [Fact]
    public void DiagnosticsDoNotForceRegeneration()
    {
        // Adding a broken graph reports errors but leaves the existing decoders' plans untouched.
        var (first, compilation, _) = FirstRun();
        var driver = first.Driver.AddAdditionalTexts(System.Collections.Immutable.ImmutableArray.Create<AdditionalText>(
            Harness.GraphFile("broken.json", "{ \"format\": ")));
        var second = Harness.Run(driver, compilation);
        Assert.Contains(second.Diagnostics, d => d.Id == "SPF0001");
        Assert.All(Reasons(second.Result, TrackingNames.Plans),
            r => Assert.True(r.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged));
        // The existing decoders are unchanged; the broken file only adds its placeholder class.
        foreach (var (name, source) in first.Sources) Assert.Equal(source, second.Sources[name]);
        Assert.Equal(first.Sources.Count + 1, second.Sources.Count);
        Assert.Contains("placeholder", second.Source("BrokenDecoder.g.cs"));
    }
}
