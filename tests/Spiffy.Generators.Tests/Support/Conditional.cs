namespace Spiffy.Generators.Tests.Support;

/// <summary>
/// A fact that runs only when an environment variable is "1", and is otherwise reported as
/// skipped (never silently passed). Used for the end-to-end sample run.
/// </summary>
public sealed class FactWhenEnvAttribute : FactAttribute
{
    public FactWhenEnvAttribute(string variable)
    {
        if (Environment.GetEnvironmentVariable(variable) != "1")
            Skip = $"set {variable}=1 to run this end-to-end test (CI does)";
    }
}

/// <summary>A theory over graphs/*.json that reports itself skipped while the repository ships no graph.</summary>
public sealed class ShippedGraphsTheoryAttribute : TheoryAttribute
{
    public ShippedGraphsTheoryAttribute()
    {
        if (ShippedGraphs.Files().Count == 0) Skip = "graphs/ holds no *.json yet: nothing shipped to snapshot";
    }
}

public static class ShippedGraphs
{
    public static string Directory => Path.Combine(Harness.RepoRoot, "graphs");

    public static List<string> Files() => System.IO.Directory.Exists(Directory)
        ? System.IO.Directory.GetFiles(Directory, "*.json").OrderBy(p => p, StringComparer.Ordinal).ToList()
        : new List<string>();

    /// <summary>File names for [MemberData]; one placeholder row while there are none (the theory is then skipped).</summary>
    public static IEnumerable<object[]> Names()
    {
        var files = Files();
        if (files.Count == 0) { yield return new object[] { "(none)" }; yield break; }
        foreach (var f in files) yield return new object[] { Path.GetFileName(f) };
    }
}
