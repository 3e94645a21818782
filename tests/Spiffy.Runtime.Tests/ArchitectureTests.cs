using System.Text.RegularExpressions;
using Spiffy.Tests.Checkpoints;

namespace Spiffy.Tests;

/// <summary>
/// docs/architecture.md's map of the runtime's folders, checked against the source: every reference
/// from one folder to another (a using directive or a qualified name) must be an arrow of the map, so
/// the layers keep one direction and the document stays true.
/// </summary>
public partial class ArchitectureTests
{
    // The map of docs/architecture.md. Files and the schema are used by every folder and are not listed.
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["Benchmarking"] = ["Calibration", "Speculation", "Decoding", "Training", "Checkpoints", "Modeling", "Devices"],
        ["Calibration"] = ["Speculation", "Decoding", "Checkpoints", "Modeling", "Training"],
        ["Training"] = ["Tokenization", "Checkpoints", "Modeling"],
        ["Speculation"] = ["Decoding"],
        ["Decoding"] = ["Modeling", "Caching", "Limits", "Native"],
        ["Checkpoints"] = ["Modeling", "Devices"],
        ["Modeling"] = ["Caching", "Limits", "Native"],
        ["Compiled"] = ["Decoding", "Speculation"],
        ["Tokenization"] = [],
        ["Devices"] = [],
        ["Caching"] = ["Native"],
        ["Native"] = [],
        ["Limits"] = [],
        ["Files"] = [],
    };

    [GeneratedRegex(@"using Spiffy\.(?<f>[A-Z][A-Za-z]+)\s*;|\bSpiffy\.(?<f>[A-Z][A-Za-z]+)\.[A-Z]|(?<![.\w])(?<f>[A-Z][A-Za-z]+)\.[A-Z]")]
    private static partial Regex Reference();

    [Fact]
    public void EveryReferenceBetweenRuntimeFolders_IsAnArrowOfTheDocumentedMap()
    {
        string root = Path.Combine(CheckpointTestSupport.RepoRoot, "src", "Spiffy.Runtime");
        var folders = Directory.GetDirectories(root).Select(Path.GetFileName).Where(f => f is not ("bin" or "obj")).ToHashSet();
        Assert.Equal(folders.Order(), Allowed.Keys.Order()); // a new folder needs its place on the map
        var wrong = new List<string>();
        foreach (var (folder, allowed) in Allowed)
            foreach (var file in Directory.GetFiles(Path.Combine(root, folder), "*.cs", SearchOption.AllDirectories))
            {
                string text = File.ReadAllText(file);
                foreach (var (line, at) in File.ReadLines(file).Select((l, i) => (l, i + 1)))
                {
                    if (line.TrimStart().StartsWith("///", StringComparison.Ordinal) || line.TrimStart().StartsWith("//", StringComparison.Ordinal)) continue;
                    foreach (Match m in Reference().Matches(line))
                    {
                        string target = m.Groups["f"].Value;
                        // Only names of runtime folders count (Limits.X can also be a property named Limits: see FormulaLimits below).
                        if (target == folder || !Allowed.ContainsKey(target) || target == "Files" || allowed.Contains(target)) continue;
                        if (IsMemberNamedLikeAFolder(line, target) || DeclaresMemberNamed(text, target)) continue;
                        wrong.Add($"{Path.GetRelativePath(root, file)}:{at}: {folder} -> {target}: {line.Trim()}");
                    }
                }
            }
        Assert.True(wrong.Count == 0, "references against the map of docs/architecture.md:\n" + string.Join("\n", wrong));
    }

    /// <summary>
    /// The projects' arrows of docs/architecture.md: the CLI uses the runtime, the runtime and the generator
    /// compile the schema's source, and nothing points back (the generator never references the runtime).
    /// </summary>
    [Fact]
    public void ProjectReferences_AreTheArrowsOfTheDocumentedMap()
    {
        var expected = new Dictionary<string, string[]>
        {
            ["Spiffy.Cli"] = ["Spiffy.Runtime"],
            ["Spiffy.Runtime"] = [],
            ["Spiffy.Generators"] = [],
        };
        string src = Path.Combine(CheckpointTestSupport.RepoRoot, "src");
        foreach (var (project, references) in expected)
        {
            string text = File.ReadAllText(Path.Combine(src, project, project + ".csproj"));
            var actual = Regex.Matches(text, @"<ProjectReference\s+Include=""[^""]*?([\w.]+)\.csproj""").Select(m => m.Groups[1].Value).Order();
            Assert.Equal(references.Order(), actual);
            if (project != "Spiffy.Cli") Assert.Contains(@"<Compile Include=""../Spiffy.Schema/**/*.cs""", text, StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// No C# line in the repository is longer than .editorconfig's <c>max_line_length</c> (no formatter wraps lines, so this test
    /// is the check; .ci/run runs it). Generated decoder snapshots are the generator's output, compared byte for byte, and excluded.
    /// </summary>
    [Fact]
    public void EveryCSharpLine_FitsTheEditorConfigLineLength()
    {
        string root = CheckpointTestSupport.RepoRoot;
        int limit = MaxLineLength(Path.Combine(root, ".editorconfig"));
        var skip = new[] { "bin", "obj", "Snapshots", ".git" };
        var files = new[] { "src", "tests", "bench", "fuzz", "samples", "build" }
            .Select(d => Path.Combine(root, d)).Where(Directory.Exists)
            .SelectMany(d => Directory.EnumerateFiles(d, "*.cs", SearchOption.AllDirectories))
            .Where(f => !Path.GetRelativePath(root, f).Split(Path.DirectorySeparatorChar).Any(part => skip.Contains(part)))
            .ToList();
        Assert.NotEmpty(files);
        var tooLong = new List<string>();
        foreach (var file in files)
            foreach (var (line, at) in File.ReadLines(file).Select((l, i) => (l, i + 1)))
                if (line.Length > limit)
                    tooLong.Add($"{Path.GetRelativePath(root, file)}:{at}: {line.Length} characters");
        Assert.True(tooLong.Count == 0, $"lines over max_line_length = {limit} (.editorconfig); wrap them:\n" + string.Join("\n", tooLong));
    }

    /// <summary>The <c>max_line_length</c> of .editorconfig's C# section: the one home of the limit.</summary>
    private static int MaxLineLength(string editorConfig)
    {
        bool inCSharp = false;
        foreach (var raw in File.ReadLines(editorConfig))
        {
            string line = raw.Trim();
            if (line.StartsWith('[')) inCSharp = line == "[*.cs]";
            else if (inCSharp && line.StartsWith("max_line_length", StringComparison.Ordinal))
                return int.Parse(line[(line.IndexOf('=', StringComparison.Ordinal) + 1)..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
        }
        throw new InvalidDataException($"{editorConfig}: no max_line_length in its [*.cs] section");
    }

    /// <summary>The file declares a property or field with a folder's name
    /// (DecodingStatistics.Speculation, its counters): `Name.X` there is that member.</summary>
    private static bool DeclaresMemberNamed(string text, string name)
        => Regex.IsMatch(text, $@"\b(public|internal|private|protected)\s+(readonly\s+)?[A-Z][\w.]*(<[^>]*>)?\??\s+{name}\s*(\{{|=>|=|;)");

    /// <summary>A property or variable that shares a folder's name (Calibrator.Limits, a FormulaLimits), not a namespace.</summary>
    private static bool IsMemberNamedLikeAFolder(string line, string name)
        => Regex.IsMatch(line, $@"\b{name}\.(MaxPositionRank|MaxTokenRank|MaxDepth|Check\(\))");
}
