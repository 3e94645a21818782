using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using Spiffy.Generators.Tests.Support;

namespace Spiffy.Generators.Tests;

/// <summary>
/// The packaged path end to end: samples/run-sample.sh packs both packages, restores the sample from
/// the local feed, builds it (the generator runs from its package) and runs it on the shipped model.
/// Slow and needs the trained checkpoint, so it runs only with SPIFFY_RUN_SAMPLE=1 (otherwise skipped).
/// </summary>
public class SampleTests
{
    [FactWhenEnv("SPIFFY_RUN_SAMPLE")]
    public void PackagedGeneratorBuildsAndRunsTheSample()
    {
        string script = Path.Combine(Harness.RepoRoot, "samples", "run-sample.sh");
        var (exit, output) = RunProcess("bash", script, TimeSpan.FromMinutes(40));
        Assert.True(exit != 2, "the sample found no trained checkpoint (checkpoints/gsm8k-small):\n" + output);
        Assert.True(exit == 0, $"run-sample.sh exited with {exit}:\n{output}");
        Assert.Contains("token-identical to plain decoding", output);

        // The packages have the documented layout.
        string feed = Path.Combine(Harness.RepoRoot, "artifacts", "packages");
        var generator = Entries(Path.Combine(feed, "Spiffy.Generators.0.1.0-local.nupkg"));
        Assert.Contains("analyzers/dotnet/cs/Spiffy.Generators.dll", generator);
        Assert.Contains("build/Spiffy.Generators.props", generator);
        Assert.Contains("buildTransitive/Spiffy.Generators.props", generator);
        Assert.DoesNotContain(generator, e => e.StartsWith("lib/", StringComparison.Ordinal));
        Assert.Contains("lib/net10.0/Spiffy.Runtime.dll", Entries(Path.Combine(feed, "Spiffy.Runtime.0.1.0-local.nupkg")));
    }

    private static List<string> Entries(string nupkg)
    {
        using var zip = ZipFile.OpenRead(nupkg);
        return zip.Entries.Select(e => e.FullName).ToList();
    }

    private static (int Exit, string Output) RunProcess(string file, string argument, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(argument);
        var output = new StringBuilder();
        using var process = new Process { StartInfo = psi };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{argument} did not finish within {timeout}:\n{output}");
        }
        process.WaitForExit();
        lock (output) return (process.ExitCode, output.ToString());
    }
}
