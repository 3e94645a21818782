using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spiffy.Files;
using Spiffy.Checkpoints;
using Spiffy.Limits;
using Spiffy.Modeling;
using Spiffy.Schema;
using Spiffy.Schema.Graphs;
using Spiffy.Tests.Checkpoints;
using Spiffy.Training;

namespace Spiffy.Tests.Reliability;

/// <summary>
/// Issue 15's write and resume rules at the API level (the CLI-level kill tests are in
/// tests/Spiffy.Cli.Tests/Hostile): atomic writes keep symlinks and modes and clean up after killed
/// writers; a run folder's step is verified; model sizes are checked before allocation; the
/// linear-time parent check still finds every missing parent.
/// </summary>
public class WriteAndResumeTests
{
    [Fact]
    public void AtomicWrite_ThroughASymlink_ReplacesTheTarget_KeepsLinkAndMode()
    {
        if (OperatingSystem.IsWindows()) return;
        using var dir = new TempDir();
        File.WriteAllText(dir["target.txt"], "old");
        File.SetUnixFileMode(dir["target.txt"], UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.CreateSymbolicLink(dir["link.txt"], dir["target.txt"]);

        AtomicFile.WriteAllText(dir["link.txt"], "new");

        Assert.Equal(dir["target.txt"], new FileInfo(dir["link.txt"]).LinkTarget);
        Assert.Equal("new", File.ReadAllText(dir["target.txt"]));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(dir["target.txt"]));
    }

    [Fact]
    public void AtomicWrite_RemovesTemporariesOfDeadWriters_KeepsLiveOnes()
    {
        using var dir = new TempDir();
        int dead;
        using (var p = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!)
        {
            p.WaitForExit();
            dead = p.Id;
        }
        string deadTemp = dir[$".out.txt.{dead}.{Guid.NewGuid():N}.spiffy-tmp"];
        string liveTemp = dir[$".out.txt.1.{Guid.NewGuid():N}.spiffy-tmp"]; // pid 1 is always running
        File.WriteAllText(deadTemp, "partial");
        File.WriteAllText(liveTemp, "partial");

        AtomicFile.WriteAllText(dir["out.txt"], "done");

        Assert.False(File.Exists(deadTemp));
        Assert.True(File.Exists(liveTemp));
        Assert.Equal("done", File.ReadAllText(dir["out.txt"]));
    }

    private static void SaveStep(RunFolder folder, int step)
        => folder.Save(step, null, "test", d =>
        {
            File.WriteAllText(Path.Combine(d, Checkpoint.ConfigFileName), "{}");
            File.WriteAllText(Path.Combine(d, Checkpoint.SingleFileName), $"weights of step {step}");
        }, p => File.WriteAllText(p, $"optimizer of step {step}"));

    [Fact]
    public void RunFolder_SwitchesToCompleteSteps_RemovesPartialOnes_RefusesTamperedOnes()
    {
        using var dir = new TempDir();
        var folder = new RunFolder(dir.Path);
        SaveStep(folder, 1);
        SaveStep(folder, 2);
        Assert.Equal(2, folder.FindResume()!.Step);
        Assert.Single(Directory.GetDirectories(dir.Path)); // older steps removed after the switch
        Assert.Equal("weights of step 2", File.ReadAllText(dir[Checkpoint.SingleFileName])); // the folder's own copy

        // A save killed before its switch: the partial folder is ignored, then removed.
        Directory.CreateDirectory(dir[RunFolder.StepFolderName(3)]);
        File.WriteAllText(Path.Combine(dir[RunFolder.StepFolderName(3)], Checkpoint.SingleFileName), "half");
        Assert.Equal(2, folder.FindResume()!.Step);
        folder.CleanUp();
        Assert.False(Directory.Exists(dir[RunFolder.StepFolderName(3)]));

        // A live step changed afterwards: refused, naming the file.
        File.WriteAllText(Path.Combine(dir[RunFolder.StepFolderName(2)], RunFolder.OptimizerFileName), "optimizer of step 1");
        var e = Assert.Throws<InvalidDataException>(() => folder.FindResume());
        Assert.Contains(RunFolder.OptimizerFileName, e.Message);
        Assert.Contains("mixed", e.Message);
    }

    [Fact]
    public void ModelMemory_IsCheckedFromTheDescription_BeforeAllocation()
    {
        var spec = ModelDescription.Load(Path.Combine(CheckpointTestSupport.RepoRoot, "models", "gsm8k-small.json"));
        MemoryBudget.EnsureModelFits(spec, 4, available: 1L << 30);
        var e = Assert.Throws<InsufficientMemoryException>(() => MemoryBudget.EnsureModelFits(spec with { NumLayers = 1_000_000 }, 4, available: 8L << 30));
        Assert.Contains("1000000 layers", e.Message);
        Assert.Throws<InsufficientMemoryException>(() => MemoryBudget.EnsureModelFits(spec with { VocabSize = int.MaxValue, HiddenSize = int.MaxValue }, 4));
        Assert.Throws<InsufficientMemoryException>(() => new DiffusionTransformer(spec with { NumLayers = 100_000_000 }, TorchSharp.torch.float32));
    }

    /// <summary>Depth-2 nodes missing one of their depth-1 parents: found by subset lookup (2 pairs) and by level scan (12 pairs).</summary>
    [Theory]
    [InlineData(2)]
    [InlineData(12)]
    public void MissingParent_IsFound_ByEitherSearch(int pairs)
    {
        var g = JsonNode.Parse(File.ReadAllText(Path.Combine(CheckpointTestSupport.RepoRoot, "graphs", "gsm8k-small-schedule.json")))!.AsObject();
        g["limits"] = new JsonObject { ["max_position_rank"] = 16, ["max_token_rank"] = 4, ["max_depth"] = 2 };
        var nodes = new JsonArray
        {
            new JsonObject { ["id"] = 1, ["depth"] = 1, ["pairs"] = new JsonArray(new JsonArray(1, 1)), ["parents"] = new JsonArray(0) },
            new JsonObject { ["id"] = 2, ["depth"] = 1, ["pairs"] = new JsonArray(new JsonArray(2, 1)), ["parents"] = new JsonArray(0) },
        };
        var deep = new JsonArray();
        for (int p = 1; p <= pairs; p++) deep.Add(new JsonArray(p, 1));
        nodes.Add(new JsonObject { ["id"] = 3, ["depth"] = 2, ["pairs"] = deep, ["parents"] = new JsonArray(1) }); // node 2 left out
        g["nodes"] = nodes;
        g["keep"] = 0;
        var errors = new List<SchemaError>();
        Assert.Null(GraphSpecParser.Parse(g.ToJsonString(), "g.json", errors));
        Assert.Contains(errors, e => e.Message.Contains("node 2 satisfies the parent rule but is not listed", StringComparison.Ordinal));
    }
}
