using System.Text.Json;
using Spiffy.Cli.Tests.Support;

namespace Spiffy.Cli.Tests.Devices;

/// <summary>--device and the external libtorch backend as a user meets them (this machine has no CUDA).</summary>
public class DeviceOptionTests
{
    private static readonly string Vectors = Path.Combine(CliProcess.RepoRoot, "tests", "reference", "vectors");

    private static void AssertOneLineNoTrace(CliResult r)
    {
        Assert.DoesNotContain("Unhandled exception", r.StdErr);
        Assert.DoesNotContain("   at ", r.StdErr);
    }

    [Fact]
    public void Cuda_WhereThereIsNone_IsOneLineExit1()
    {
        var r = CliProcess.Run("inspect", Path.Combine(Vectors, "llada"), "--device", "cuda");
        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.Contains("device cuda was requested", r.StdErr);
        AssertOneLineNoTrace(r);
    }

    [Fact]
    public void MisspelledDevice_IsAUsageError()
    {
        var r = CliProcess.Run("inspect", "models/gsm8k-small.json", "--device", "gpu");
        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.Contains("auto, cpu, cuda or cuda:N", r.StdErr);
        AssertOneLineNoTrace(r);
    }

    [Fact]
    public void Generate_Json_ReportsDevice_AndOneSyncPerStep()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir["ids.json"], "[3, 7, 11, 2, 5]");
        var r = CliProcess.Run("generate", "--model", Path.Combine(Vectors, "llada"), "--prompt-ids", dir["ids.json"], "--gen-length", "16",
            "--block-length", "8", "--cache", "dual", "--device", "cpu", "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.StdOut);
        var root = doc.RootElement;
        Assert.Equal("cpu", root.GetProperty("device").GetString());
        Assert.Equal("float32", root.GetProperty("dtype").GetString());
        Assert.Equal(1.0, root.GetProperty("syncs_per_step").GetDouble());
        Assert.True(root.GetProperty("device_to_host_copies").GetInt64() > 0);
    }

    [Fact]
    public void Inspect_Load_MeasuresTheLoadOnTheDevice()
    {
        var r = CliProcess.Run("inspect", Path.Combine(Vectors, "sdar"), "--load", "--device", "cpu", "--dtype", "bfloat16", "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.StdOut);
        var on = doc.RootElement.GetProperty("on_device");
        Assert.Equal("cpu", on.GetProperty("device").GetString());
        Assert.Equal("bfloat16", on.GetProperty("dtype").GetString());
        Assert.Equal(doc.RootElement.GetProperty("bytes").GetProperty("bfloat16").GetInt64(), on.GetProperty("weight_bytes").GetInt64());
        Assert.True(on.GetProperty("load_seconds").GetDouble() > 0);
        Assert.True(on.GetProperty("peak_host_bytes").GetInt64() > 0);
    }

    [Fact]
    public void Bench_RowCurve_OnRandomWeights_WritesBothLayouts()
    {
        var r = CliProcess.Run("bench", "--row-curve", "1,2", "--random-weights", "--model", "models/gsm8k-small.json", "--device", "cpu",
            "--prompt-length", "8", "--gen-length", "16", "--block-length", "8", "--repeats", "1", "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.StdOut);
        var root = doc.RootElement;
        Assert.True(root.GetProperty("random_weights").GetBoolean());
        Assert.Equal("cpu", root.GetProperty("device").GetString());
        var layouts = root.GetProperty("curves").EnumerateArray().Select(c => c.GetProperty("layout").GetString()).ToArray();
        Assert.Equal(new[] { "dual-cache", "no-cache" }, layouts);
        foreach (var c in root.GetProperty("curves").EnumerateArray())
            Assert.Equal(2, c.GetProperty("samples").GetArrayLength());
    }

    [Fact]
    public void ExternalBackend_MissingFolder_IsOneLineExit1()
    {
        var env = new Dictionary<string, string> { ["SPIFFY_LIBTORCH_DIR"] = "/no/such/torch/lib" };
        var r = CliProcess.Run(new[] { "inspect", "models/gsm8k-small.json", "--device", "cpu" }, environment: env);
        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.Contains("SPIFFY_LIBTORCH_DIR=/no/such/torch/lib", r.StdErr);
        AssertOneLineNoTrace(r);
    }

    [Fact]
    public void ExternalBackend_LoadsLibtorchFromTheFolder()
    {
        // The libtorch this build copied (runtimes/linux-x64/native) stands in for a PyTorch torch/lib.
        string libDir = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native");
        Assert.True(File.Exists(Path.Combine(libDir, "libtorch.so")), "the test build copies libtorch under runtimes/linux-x64/native");
        var env = new Dictionary<string, string> { ["SPIFFY_LIBTORCH_DIR"] = libDir };
        var r = CliProcess.Run(new[] { "check-device", "--device", "cpu", "--model", "none", "--checkpoints", Path.Combine(Vectors, "dream"), "--json" },
            environment: env);
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.StdOut);
        Assert.True(doc.RootElement.GetProperty("logits_within_tolerance").GetBoolean());
        Assert.Contains("SPIFFY_LIBTORCH_DIR=", doc.RootElement.GetProperty("libtorch").GetString());
    }
}

/// <summary>A fresh folder under the temp folder, deleted on dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "spiffy-cli-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string this[string name] => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}
