using System.Diagnostics;
using System.Globalization;
using System.Text;
using Spiffy.Generators.Tests.Support;

namespace Spiffy.Generators.Tests.Packaging;

/// <summary>What one child process produced.</summary>
public sealed record ProcessResult(int ExitCode, string StdOut, string StdErr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{StdOut}\n--- stderr\n{StdErr}";
}

/// <summary>
/// Spiffy.Runtime, Spiffy.Generators and the spiffy tool packed once, with a version of their own,
/// into a temporary folder feed outside the repository, shared by the packaging tests. Packing
/// happens on first use (so skipped tests pack nothing); builds go to a private artifacts folder, so
/// the repository's bin/ and obj/ (and programs running from them) are never touched.
/// </summary>
public sealed class PackagedFeed : IDisposable
{
    private readonly Lazy<string> _feed;
    private readonly Lazy<string> _tool;

    public PackagedFeed()
    {
        Root = Path.Combine(Path.GetTempPath(), "spiffy-packaging-" + Guid.NewGuid().ToString("N")[..12]);
        // Unique per run: NuGet never reuses a stale extracted copy of an earlier pack.
        Version = "0.1.0-ci." + DateTime.UtcNow.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture) + "."
            + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        _feed = new Lazy<string>(Pack);
        _tool = new Lazy<string>(InstallTool);
    }

    /// <summary>The spiffy command installed from the feed into a temporary tool path (installs on first use).</summary>
    public string Tool => _tool.Value;

    private string InstallTool()
    {
        string toolPath = Path.Combine(Root, "tools");
        var r = Dotnet(NewFolder("tool-install"), TimeSpan.FromMinutes(10), "tool", "install", "spiffy", "--tool-path", toolPath,
            "--add-source", Feed, "--version", Version);
        Assert.True(r.ExitCode == 0, $"dotnet tool install failed:\n{r}");
        return Path.Combine(toolPath, "spiffy");
    }

    /// <summary>A temporary folder outside the repository; everything the tests create lives under it.</summary>
    public string Root { get; }

    public string Version { get; }

    /// <summary>The folder feed (packs on first use).</summary>
    public string Feed => _feed.Value;

    public string NewFolder(string name)
    {
        string dir = Path.Combine(Root, name);
        Directory.CreateDirectory(dir);
        return dir;
    }

    private string Pack()
    {
        string feed = NewFolder("feed");
        string artifacts = Path.Combine(Root, "artifacts");
        foreach (var project in new[]
        {
            "src/Spiffy.Runtime/Spiffy.Runtime.csproj", "src/Spiffy.Generators/Spiffy.Generators.csproj", "src/Spiffy.Cli/Spiffy.Cli.csproj"
        })
        {
            var r = Dotnet(Harness.RepoRoot, TimeSpan.FromMinutes(10), "pack", Path.Combine(Harness.RepoRoot, project), "-c", "Release", "-o", feed,
                "--artifacts-path", artifacts, "-p:Version=" + Version, "-nologo");
            Assert.True(r.ExitCode == 0, $"dotnet pack {project} failed:\n{r}");
        }
        return feed;
    }

    /// <summary>Runs dotnet with the test host's MSBuild settings removed (a child build must see a plain environment).</summary>
    public static ProcessResult Dotnet(string workingDirectory, TimeSpan timeout, params string[] args) => Run("dotnet", workingDirectory, timeout, null, args);

    public static ProcessResult Run(string file, string workingDirectory, TimeSpan timeout,
        IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var start = new ProcessStartInfo(file)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) start.ArgumentList.Add(a);
        foreach (var key in start.Environment.Keys.ToList())
            if (key.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase) || key.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase))
                start.Environment.Remove(key);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        if (environment is not null)
            foreach (var (key, value) in environment) start.Environment[key] = value;

        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            Assert.Fail($"{file} {string.Join(' ', args)} did not finish within {timeout}:\n{stdout}\n{stderr}");
        }
        process.WaitForExit();
        lock (stdout) lock (stderr) return new ProcessResult(process.ExitCode, stdout.ToString(), stderr.ToString());
    }

    public void Dispose()
    {
        // Our versions in the global packages folder are of no use to anyone after this run.
        if (_feed.IsValueCreated)
        {
            var r = Dotnet(Path.GetTempPath(), TimeSpan.FromMinutes(1), "nuget", "locals", "global-packages", "--list");
            string prefix = "global-packages: ";
            foreach (var line in r.StdOut.Split('\n'))
                if (line.StartsWith(prefix, StringComparison.Ordinal))
                    foreach (var id in new[] { "spiffy.runtime", "spiffy.generators", "spiffy" })
                    {
                        string dir = Path.Combine(line[prefix.Length..].Trim(), id, Version);
                        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
                    }
        }
        if (Directory.Exists(Root)) Directory.Delete(Root, recursive: true);
    }
}

[CollectionDefinition(Name)]
public sealed class PackagingCollection : ICollectionFixture<PackagedFeed>
{
    public const string Name = "packaged feed";
}
