using System.Reflection;
using Microsoft.CodeAnalysis;
using Spiffy.Decoding;
using Spiffy.Schema.Graphs;

namespace Spiffy.Generators.Tests.Support;

/// <summary>Generated decoders compiled to memory and loaded into the test process (they bind to its Spiffy.Runtime).</summary>
public sealed class LoadedDecoders
{
    private readonly Assembly _assembly;
    private readonly string _namespace;

    private LoadedDecoders(Assembly assembly, string ns) { _assembly = assembly; _namespace = ns; }

    public static LoadedDecoders Build(IEnumerable<AdditionalText> files, string assemblyName)
    {
        var run = Harness.Run(files, assemblyName: assemblyName);
        Assert.DoesNotContain(run.Diagnostics, d => d.Severity == DiagnosticSeverity.Error);
        using var pe = new MemoryStream();
        var emit = run.Output.Emit(pe);
        Assert.True(emit.Success, string.Join("\n", emit.Diagnostics));
        return new LoadedDecoders(Assembly.Load(pe.ToArray()), "TestApp.SpiffyDecoders");
    }

    public Type Type(string className) => _assembly.GetType(_namespace + "." + className, throwOnError: true)!;

    public IStepSpeculator Create(string className, DraftKeep keep) => (IStepSpeculator)Activator.CreateInstance(Type(className), (DraftKeep?)keep)!;

    public GraphSpec Graph(string className) => (GraphSpec)Type(className).GetProperty("Graph")!.GetValue(null)!;

    public T Constant<T>(string className, string name) => (T)Type(className).GetField(name)!.GetRawConstantValue()!;
}
