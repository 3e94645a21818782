using System.IO.Compression;
using System.Text.Json;
using System.Text.RegularExpressions;
using Spiffy.Generators.Tests.Support;

namespace Spiffy.Generators.Tests.Packaging;

/// <summary>
/// The packages as a user meets them (docs/library.md): a new console project outside the repository
/// that only adds the packages from a folder feed, copies the files the guide lists and uses the
/// guide's first program; the spiffy tool installed from the same feed; the sample. These build and
/// run real programs, so they run with SPIFFY_RUN_SAMPLE=1 (CI sets it) and are reported skipped otherwise.
/// </summary>
[Collection(PackagingCollection.Name)]
public sealed partial class PackagingTests(PackagedFeed packages)
{
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(10);
    private const string GraphFile = "graphs/gsm8k-small-dual.json";

    private static string Guide => File.ReadAllText(Path.Combine(Harness.RepoRoot, "docs", "library.md"));

    [FactWhenEnv("SPIFFY_RUN_SAMPLE")]
    public void TheGuidesFirstProgramDecodesLikeTheCliAndABrokenGraphGivesOnlyItsSpfError()
    {
        string guide = Guide;
        int firstBlock = guide.IndexOf("```csharp\n", StringComparison.Ordinal);
        Assert.True(firstBlock > 0, "docs/library.md has no csharp block");
        string program = guide[(firstBlock + "```csharp\n".Length)..guide.IndexOf("```", firstBlock + 3, StringComparison.Ordinal)];

        // A new console project in a temporary folder, the packages added from the feed only.
        string parent = packages.NewFolder("consumer");
        Ok(PackagedFeed.Dotnet(parent, BuildTimeout, "new", "console", "-n", "GsmApp", "-o", "GsmApp"), "dotnet new console");
        string app = Path.Combine(parent, "GsmApp");
        foreach (var id in new[] { "Spiffy.Runtime", "Spiffy.Generators" })
            Ok(PackagedFeed.Dotnet(app, BuildTimeout, "add", "package", id, "--source", packages.Feed, "--version", packages.Version), "dotnet add package " + id);

        // The files exactly as the guide's table lists them, and its program.
        var copies = CopyRow().Matches(guide[..firstBlock]).Select(m => (From: m.Groups[1].Value, To: m.Groups[2].Value)).ToList();
        Assert.Contains(copies, c => c.To == GraphFile);
        foreach (var (from, to) in copies) Copy(Path.Combine(Harness.RepoRoot, from), Path.Combine(app, to));
        File.WriteAllText(Path.Combine(app, "Program.cs"), program);

        Ok(PackagedFeed.Dotnet(app, BuildTimeout, "build", "-c", "Release", "-nologo"), "dotnet build");
        var run = PackagedFeed.Dotnet(app, RunTimeout, Path.Combine(app, "bin", "Release", "net10.0", "GsmApp.dll"));
        Ok(run, "the guide's program");
        long[] appIds = TokenIds().Match(run.StdErr) is { Success: true } m1 ? m1.Groups[1].Value.Split(' ').Select(long.Parse).ToArray()
            : throw new Xunit.Sdk.XunitException("the program printed no token ids:\n" + run);

        // The CLI, installed from the same feed, on the same prompt, model and graph.
        string question = Question().Match(program).Groups[1].Value;
        Assert.NotEmpty(question);
        var cli = PackagedFeed.Run(packages.Tool, app, RunTimeout, null, "generate", "--model", "models/gsm8k-small.json", "--graph", GraphFile, "--json", question);
        Ok(cli, "spiffy generate");
        using var json = JsonDocument.Parse(cli.StdOut);
        long[] cliIds = json.RootElement.GetProperty("token_ids").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        Assert.Equal(cliIds, appIds);
        Assert.Equal(json.RootElement.GetProperty("text").GetString()!.TrimEnd(), run.StdOut.TrimEnd());

        // Break the graph: the build fails with exactly its SPF error, at the value, and no CS error.
        string graphPath = Path.Combine(app, GraphFile);
        string text = File.ReadAllText(graphPath);
        const string Good = "\"block_length\": 32", Bad = "\"block_length\": \"32\"";
        int at = text.IndexOf(Good, StringComparison.Ordinal);
        Assert.True(at >= 0, $"{GraphFile} has no {Good}");
        File.WriteAllText(graphPath, text.Replace(Good, Bad, StringComparison.Ordinal));
        int line = text[..at].Count(c => c == '\n') + 1;
        int column = at - (text.LastIndexOf('\n', at) + 1) + "\"block_length\": ".Length + 1;

        var broken = PackagedFeed.Dotnet(app, BuildTimeout, "build", "-c", "Release", "-nologo");
        Assert.NotEqual(0, broken.ExitCode);
        string output = broken.StdOut + broken.StdErr;
        Assert.DoesNotMatch(@"error CS\d+", output);
        var errors = BuildError().Matches(output).Select(m => (File: m.Groups["file"].Value, Line: int.Parse(m.Groups["line"].Value),
            Column: int.Parse(m.Groups["col"].Value), Id: m.Groups["id"].Value)).Distinct().ToList();
        var error = Assert.Single(errors);
        Assert.StartsWith("SPF", error.Id, StringComparison.Ordinal);
        Assert.Equal(Path.GetFullPath(graphPath), Path.GetFullPath(error.File));
        Assert.Equal((line, column), (error.Line, error.Column));
    }

    [FactWhenEnv("SPIFFY_RUN_SAMPLE")]
    public void TheToolInstallsFromTheFeedAndRunsFromAnEmptyFolder()
    {
        string empty = packages.NewFolder("empty");
        var version = PackagedFeed.Run(packages.Tool, empty, RunTimeout, null, "--version");
        Ok(version, "spiffy --version");
        Assert.Equal(packages.Version, version.StdOut.Trim());

        // No --model: the tool finds the model it carries. A short generation keeps this quick.
        var generate = PackagedFeed.Run(packages.Tool, empty, RunTimeout, null, "generate", "--json", "--gen-length", "32", "What is 3 + 4?");
        Ok(generate, "spiffy generate --json");
        using var json = JsonDocument.Parse(generate.StdOut);
        Assert.Equal(32, json.RootElement.GetProperty("token_ids").GetArrayLength());
        Assert.True(json.RootElement.GetProperty("nfe").GetInt32() > 0);
        Assert.Empty(Directory.GetFileSystemEntries(empty));
    }

    [FactWhenEnv("SPIFFY_RUN_SAMPLE")]
    public void PackagesHaveTheDocumentedLayout()
    {
        var runtime = Entries($"Spiffy.Runtime.{packages.Version}.nupkg");
        Assert.Contains("lib/net10.0/Spiffy.Runtime.dll", runtime);
        Assert.Contains("buildTransitive/Spiffy.Runtime.targets", runtime);
        Assert.Contains("buildTransitive/Spiffy.Runtime.props", runtime);
        Assert.Contains("buildTransitive/MarkGlibcxxNeedWeak.cs", runtime);
        string nuspec = Read($"Spiffy.Runtime.{packages.Version}.nupkg", "Spiffy.Runtime.nuspec");
        Assert.Contains("id=\"TorchSharp\"", nuspec);
        Assert.Contains("id=\"libtorch-cpu-linux-x64\"", nuspec);

        var generator = Entries($"Spiffy.Generators.{packages.Version}.nupkg");
        Assert.Contains("analyzers/dotnet/cs/Spiffy.Generators.dll", generator);
        Assert.Contains("buildTransitive/Spiffy.Generators.props", generator);
        Assert.DoesNotContain(generator, e => e.StartsWith("lib/", StringComparison.Ordinal));

        var tool = Entries($"spiffy.{packages.Version}.nupkg");
        Assert.Contains("tools/net10.0/any/DotnetToolSettings.xml", tool);
        Assert.Contains("tools/net10.0/any/models/gsm8k-small.json", tool);
        Assert.Contains("tools/net10.0/any/checkpoints/gsm8k-small/model.safetensors", tool);
        Assert.Contains(GraphFile, tool.Select(e => e.Replace("tools/net10.0/any/", "", StringComparison.Ordinal)));
    }

    [FactWhenEnv("SPIFFY_RUN_SAMPLE")]
    public void TheSampleRunsFromTheFeedWithTheShippedCalibratedGraph()
    {
        var env = new Dictionary<string, string> { ["SPIFFY_FEED"] = packages.Feed, ["SPIFFY_VERSION"] = packages.Version, ["SPIFFY_SAMPLE_OUT"] = packages.NewFolder("sample") };
        var r = PackagedFeed.Run("bash", Harness.RepoRoot, BuildTimeout, env, Path.Combine(Harness.RepoRoot, "samples", "run-sample.sh"));
        Assert.True(r.ExitCode != 2, "the sample found no trained checkpoint (checkpoints/gsm8k-small):\n" + r);
        Ok(r, "samples/run-sample.sh");
        Assert.Contains("graph gsm8k-small-dual (calibrated)", r.StdOut);
        Assert.Contains("token-identical to plain decoding", r.StdOut);
    }

    private List<string> Entries(string nupkg)
    {
        using var zip = ZipFile.OpenRead(Path.Combine(packages.Feed, nupkg));
        return zip.Entries.Select(e => e.FullName).ToList();
    }

    private string Read(string nupkg, string entry)
    {
        using var zip = ZipFile.OpenRead(Path.Combine(packages.Feed, nupkg));
        using var reader = new StreamReader(zip.GetEntry(entry)!.Open());
        return reader.ReadToEnd();
    }

    private static void Ok(ProcessResult r, string what) => Assert.True(r.ExitCode == 0, $"{what} failed:\n{r}");

    private static void Copy(string from, string to)
    {
        if (File.Exists(from))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(from, to, overwrite: true);
            return;
        }
        Assert.True(Directory.Exists(from), $"docs/library.md lists {from}, which does not exist");
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
            Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)));
    }

    /// <summary>A row of the guide's copy table: | `from` | `to` | what |.</summary>
    [GeneratedRegex(@"^\| `([^`]+)` \| `([^`]+)` \|", RegexOptions.Multiline)]
    private static partial Regex CopyRow();

    [GeneratedRegex(@"^token ids: ([0-9 ]+)$", RegexOptions.Multiline)]
    private static partial Regex TokenIds();

    [GeneratedRegex(@"\.Generate\(""((?:[^""\\]|\\.)*)""")]
    private static partial Regex Question();

    /// <summary>An MSBuild error line: file(line,col[,endline,endcol]): error ID: message.</summary>
    [GeneratedRegex(@"^\s*(?<file>[^\s(][^(]*)\((?<line>\d+),(?<col>\d+)(?:,\d+,\d+)?\): error (?<id>[A-Z]+\d+):", RegexOptions.Multiline)]
    private static partial Regex BuildError();
}
