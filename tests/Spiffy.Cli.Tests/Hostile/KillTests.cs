using System.Text.Json;
using Spiffy.Calibration;
using Spiffy.Cli.Tests.Support;
using Spiffy.Speculation;
using Spiffy.Training;

namespace Spiffy.Cli.Tests.Hostile;

/// <summary>
/// kill -9 at random moments of every verb that writes (graph, bench, calibrate, train): each output
/// is afterwards the old file or the complete new one, never a mix or a fragment, and running the
/// command again finishes the work (train resumes to the same weights as an uninterrupted run).
/// The delays are random per run and printed on failure.
/// </summary>
[Collection(HostileCollection.Name)]
public sealed class KillTests(HostileFiles files)
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(120);

    /// <summary>Kills per verb: each at a random moment within the verb's usual run time.</summary>
    private const int Kills = 3;

    private readonly Random _random = new();

    private TimeSpan RandomDelay(TimeSpan upTo) => TimeSpan.FromMilliseconds(_random.Next(200, (int)upTo.TotalMilliseconds));

    [Fact]
    public void Graph_KilledAnywhere_LeavesOldOrNewFile_AndKeepsSymlinkAndMode()
    {
        string graph = Path.Combine(CliProcess.RepoRoot, "graphs", "gsm8k-small-schedule.json");
        string dir = files.NewPath("graph-out");
        Directory.CreateDirectory(dir);
        string expected = Path.Combine(dir, "expected.dot");
        Assert.Equal(0, CliProcess.Run(["graph", graph, "-o", expected], dir, Limit).ExitCode);
        string newText = File.ReadAllText(expected);

        // The output path is a symlink to a private file: it must stay both.
        string target = Path.Combine(dir, "target.dot"), output = Path.Combine(dir, "out.dot");
        File.WriteAllText(target, "OLD\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(target, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.CreateSymbolicLink(output, target);
        var log = new List<string>();
        for (int i = 0; i < Kills; i++)
        {
            var delay = RandomDelay(TimeSpan.FromSeconds(2));
            log.Add($"kill after {delay.TotalMilliseconds} ms: killed {CliProcess.RunAndKill(["graph", graph, "-o", output], delay, dir)}");
            string text = File.ReadAllText(output);
            Assert.True(text == "OLD\n" || text == newText, string.Join("\n", log) + "\n" + text[..Math.Min(200, text.Length)]);
        }
        var r = CliProcess.Run(["graph", graph, "-o", output], dir, Limit);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(newText, File.ReadAllText(output));
        Assert.NotNull(new FileInfo(output).LinkTarget);
        if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(target));
        Assert.Empty(Directory.GetFiles(dir, "*.spiffy-tmp")); // killed writers' temporaries are gone
    }

    [Fact]
    public void Bench_KilledAnywhere_LeavesOldOrCompleteReportAndChart()
    {
        string dir = files.NewPath("bench-out");
        Directory.CreateDirectory(dir);
        string report = Path.Combine(dir, "report.md"), chart = Path.Combine(dir, "chart.svg");
        File.WriteAllText(report, "# old report\n");
        File.WriteAllText(chart, "OLD");
        string[] args = ["bench", "--model", files.TinyJson, "--prompts", files.Data, "--count", "1", "--gen-length", "16", "--block-length", "8",
            "--modes", "spiffy", "--no-oracle", "--keep", "", "--out", report, "--chart", chart];
        var log = new List<string>();
        for (int i = 0; i < Kills; i++)
        {
            var delay = RandomDelay(TimeSpan.FromSeconds(4));
            log.Add($"kill after {delay.TotalMilliseconds} ms: killed {CliProcess.RunAndKill(args, delay, dir)}");
            AssertOldOrComplete(report, chart, string.Join("\n", log));
        }
        var r = CliProcess.Run(args, dir, Limit);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("<!-- bench:end -->", File.ReadAllText(report));
        Assert.EndsWith("</svg>", File.ReadAllText(chart).TrimEnd());
        Assert.Empty(Directory.GetFiles(dir, "*.spiffy-tmp"));
    }

    private static void AssertOldOrComplete(string report, string chart, string log)
    {
        string md = File.ReadAllText(report), svg = File.ReadAllText(chart);
        Assert.True(md == "# old report\n"
            || (md.StartsWith("# old report", StringComparison.Ordinal) && md.TrimEnd().EndsWith("<!-- bench:end -->", StringComparison.Ordinal)),
            log + "\n" + md);
        Assert.True(svg == "OLD" || svg.TrimEnd().EndsWith("</svg>", StringComparison.Ordinal), log);
    }

    [Fact]
    public void Calibrate_KilledAnywhere_LeavesNoBrokenGraphOrTraces_AndRerunIsIdentical()
    {
        string dir = files.NewPath("calibrate-out");
        Directory.CreateDirectory(dir);
        string[] Args(string graph, string traces) => ["calibrate", "--model", files.TinyJson, "--prompts", files.Data, "--count", "2",
            "--gen-length", "16", "--block-length", "8", "--nodes", "3", "--name", "tiny-calibrated", "-o", graph, "--traces", traces];
        string expectedGraph = Path.Combine(dir, "expected.json");
        var first = CliProcess.Run(Args(expectedGraph, Path.Combine(dir, "expected.traces")), dir, Limit);
        Assert.True(first.ExitCode == 0, first.ToString());

        string graph = Path.Combine(dir, "g.json"), traces = Path.Combine(dir, "t.traces");
        var log = new List<string>();
        for (int i = 0; i < Kills; i++)
        {
            var delay = RandomDelay(TimeSpan.FromSeconds(6));
            log.Add($"kill after {delay.TotalMilliseconds} ms: killed {CliProcess.RunAndKill(Args(graph, traces), delay, dir)}");
            if (File.Exists(traces)) TraceFile.Load(traces); // complete, or it throws
            if (File.Exists(graph)) Assert.True(File.ReadAllText(graph) == File.ReadAllText(expectedGraph), string.Join("\n", log));
        }
        var r = CliProcess.Run(Args(graph, traces), dir, Limit);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(File.ReadAllText(expectedGraph), File.ReadAllText(graph));
        GraphFiles.Load(graph);
        Assert.Empty(Directory.GetFiles(dir, "*.spiffy-tmp"));
    }

    private string[] TrainArgs(string run, int steps) =>
        ["train", "--model", files.TinyJson, "--data", files.Data, "--out", run, "--tokenizer", Path.Combine(files.TinyDir, "tokenizer.json"),
         "--holdout", "2", "--steps", steps.ToString(System.Globalization.CultureInfo.InvariantCulture), "--batch", "2", "--max-prompt", "64",
         "--eval-problems", "0", "--checkpoint-every", "1", "--warmup", "1", "--threads", "1"];

    /// <summary>Also issue 15's "--eval-problems 0 fails at the final save": every run here uses it.</summary>
    [Fact]
    public void Train_KilledAnywhere_ResumesToTheUninterruptedWeights()
    {
        const int steps = 6;
        string reference = files.NewPath("run-reference");
        var whole = CliProcess.Run(TrainArgs(reference, steps), files.Root, Limit);
        Assert.True(whole.ExitCode == 0, whole.ToString());
        byte[] expected = File.ReadAllBytes(Path.Combine(reference, "model.safetensors"));

        string run = files.NewPath("run-killed");
        var log = new List<string>();
        for (int i = 0; i < Kills; i++)
        {
            var delay = RandomDelay(whole.Elapsed);
            log.Add($"kill after {delay.TotalMilliseconds} ms: killed {CliProcess.RunAndKill(TrainArgs(run, steps), delay, files.Root)}");
            if (Directory.Exists(run)) new RunFolder(run).FindResume(); // consistent at every instant, or it throws
        }
        var r = CliProcess.Run(TrainArgs(run, steps), files.Root, Limit);
        Assert.True(r.ExitCode == 0, string.Join("\n", log) + "\n" + r);
        Assert.Equal(steps, new RunFolder(run).FindResume()!.Step);
        Assert.True(expected.AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(run, "model.safetensors"))),
            "resumed weights differ\n" + string.Join("\n", log));
        Assert.Empty(Directory.GetFiles(run, "*.spiffy-tmp", SearchOption.AllDirectories));
    }

    /// <summary>A run folder of the earlier layout (state, weights, optimizer in the folder itself) resumes; a mixed one is refused.</summary>
    [Fact]
    public void Train_EarlierLayout_ResumesWhenConsistent_RefusedWhenMixed()
    {
        string run = files.NewPath("run-legacy");
        Assert.Equal(0, CliProcess.Run(TrainArgs(run, 2), files.Root, Limit).ExitCode);
        // Rewrite it as the earlier code left it: everything in the folder, no step folders or pointer.
        var point = new RunFolder(run).FindResume()!;
        foreach (var f in Directory.GetFiles(point.ModelDirectory)) File.Copy(f, Path.Combine(run, Path.GetFileName(f)), overwrite: true);
        var state = JsonSerializer.Deserialize<TrainerState>(File.ReadAllText(Path.Combine(run, RunFolder.StateFileName)))!;
        state.Files = null;
        File.WriteAllText(Path.Combine(run, RunFolder.StateFileName), JsonSerializer.Serialize(state));
        File.Delete(Path.Combine(run, RunFolder.PointerFileName));
        Directory.Delete(point.ModelDirectory, recursive: true);

        string mixed = files.NewPath("run-legacy-mixed");
        Directory.CreateDirectory(mixed);
        foreach (var f in Directory.GetFiles(run)) File.Copy(f, Path.Combine(mixed, Path.GetFileName(f)));
        state.Step = 1; // the weights say 2: a save interrupted between the weights and the state
        File.WriteAllText(Path.Combine(mixed, RunFolder.StateFileName), JsonSerializer.Serialize(state));
        var refused = CliProcess.Run(TrainArgs(mixed, 3), files.Root, Limit);
        Assert.True(refused.ExitCode == 1, refused.ToString());
        Assert.Contains("a save was interrupted", refused.StdErr);

        var resumed = CliProcess.Run(TrainArgs(run, 3), files.Root, Limit);
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Contains("step 2/3", resumed.StdOut);
        Assert.Equal(3, new RunFolder(run).FindResume()!.Step);
        Assert.False(File.Exists(Path.Combine(run, RunFolder.StateFileName))); // the earlier layout's state is gone once a step folder is live
    }
}
