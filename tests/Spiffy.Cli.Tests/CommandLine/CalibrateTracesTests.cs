using System.Text.Json;
using Spiffy.Cli.Tests.Support;

namespace Spiffy.Cli.Tests.CommandLine;

/// <summary>
/// `calibrate --traces FILE`: the first run records the trajectories and saves them, a second run with the
/// same model, options and problems reuses them (same graph, no decoding), and a run with another
/// configuration refuses the file instead of calibrating from the wrong states.
/// </summary>
public class CalibrateTracesTests
{
    private const string Problems = "bench/problems/gsm-style.jsonl";

    [Fact]
    public void Traces_AreRecordedOnce_ReusedWhenTheyMatch_AndRefusedWhenRecordedDifferently()
    {
        string dir = Directory.CreateTempSubdirectory("spiffy-traces-").FullName;
        try
        {
            string traces = Path.Combine(dir, "cal.trace"), first = Path.Combine(dir, "first.json"), second = Path.Combine(dir, "second.json");
            string[] Args(string graph, string genLength) =>
                ["calibrate", "--prompts", Problems, "--count", "1", "--gen-length", genLength, "--nodes", "2", "--threads", "1", "--traces", traces,
                    "--name", "cal", "-o", graph];

            var recorded = CliProcess.Run(Args(first, "32"));
            Assert.True(recorded.ExitCode == 0, recorded.ToString());
            Assert.Contains($"saved the calibration trajectories to {traces}", recorded.StdErr);
            Assert.True(File.Exists(traces));

            var reused = CliProcess.Run(Args(second, "32"));
            Assert.True(reused.ExitCode == 0, reused.ToString());
            Assert.Contains($"using 1 recorded calibration trajectories from {traces}", reused.StdErr);
            Assert.DoesNotContain("recording calibration trajectories", reused.StdErr);
            // The graph is a function of the trajectories: reusing them gives the same file, byte for byte.
            Assert.Equal(File.ReadAllBytes(first), File.ReadAllBytes(second));

            var refused = CliProcess.Run(Args(Path.Combine(dir, "third.json"), "64"));
            Assert.Equal(1, refused.ExitCode);
            Assert.Contains($"{traces} was recorded differently (another decoding configuration)", refused.StdErr);
            Assert.False(File.Exists(Path.Combine(dir, "third.json")));
            using var graph = JsonDocument.Parse(File.ReadAllText(first));
            Assert.Equal(32, graph.RootElement.GetProperty("decoding").GetProperty("gen_length").GetInt32());
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
