using System.Diagnostics;

namespace Spiffy.Cli.Tests.Support;

/// <summary>What one run of the `spiffy` command produced.</summary>
public sealed record CliResult(int ExitCode, string StdOut, string StdErr, bool TimedOut, TimeSpan Elapsed, long PeakWorkingSetBytes)
{
    public override string ToString() =>
        $"exit {ExitCode}{(TimedOut ? " (timed out)" : "")} after {Elapsed.TotalSeconds:F1} s\n--- stdout\n{StdOut}\n--- stderr\n{StdErr}";
}

/// <summary>
/// Runs the real `spiffy` entry point (the built spiffy.dll next to the test assembly) as a child
/// process, the way a user meets it: exit code, stdout, stderr, wall time and peak memory.
/// </summary>
public static class CliProcess
{
    /// <summary>The repository root (the folder holding Spiffy.Compiler.sln).</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    private static string SpiffyDll => Path.Combine(AppContext.BaseDirectory, "spiffy.dll");

    public static CliResult Run(IEnumerable<string> args, string? workingDirectory = null, TimeSpan? timeout = null, string? stdin = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(120);
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory ?? RepoRoot,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(SpiffyDll);
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["NO_COLOR"] = "1";
        if (environment is not null) foreach (var (k, v) in environment) start.Environment[k] = v;

        var watch = Stopwatch.StartNew();
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start dotnet");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null) process.StandardInput.Write(stdin);
        process.StandardInput.Close();

        long peak = 0;
        bool timedOut = false;
        while (!process.WaitForExit(50))
        {
            try { process.Refresh(); peak = Math.Max(peak, process.PeakWorkingSet64); } catch (InvalidOperationException) { }
            if (watch.Elapsed > limit)
            {
                timedOut = true;
                try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                process.WaitForExit();
                break;
            }
        }
        process.WaitForExit();
        return new CliResult(timedOut ? -1 : process.ExitCode, stdout.Result, stderr.Result, timedOut, watch.Elapsed, peak);
    }

    public static CliResult Run(params string[] args) => Run((IEnumerable<string>)args);

    /// <summary>
    /// Starts the command and kills it (SIGKILL, no chance to clean up) after <paramref name="killAfter"/>,
    /// unless it ends first. True when it was killed, false when it had already exited.
    /// </summary>
    public static bool RunAndKill(IEnumerable<string> args, TimeSpan killAfter, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory ?? RepoRoot,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(SpiffyDll);
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start dotnet");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        bool exited = process.WaitForExit(killAfter);
        if (!exited)
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { exited = true; }
        }
        process.WaitForExit();
        _ = stdout.Result + stderr.Result;
        return !exited;
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Spiffy.Compiler.sln"))) return dir.FullName;
        throw new InvalidOperationException("Spiffy.Compiler.sln not found above " + AppContext.BaseDirectory);
    }
}
