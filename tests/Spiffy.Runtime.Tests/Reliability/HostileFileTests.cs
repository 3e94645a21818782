using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;
using Spiffy.Checkpoints;
using Spiffy.Tests.Checkpoints;
using Spiffy.Tokenization;
using static Spiffy.Tests.Checkpoints.CheckpointTestSupport;
using static TorchSharp.torch;

namespace Spiffy.Tests.Reliability;

/// <summary>
/// Hostile checkpoints, indexes, configs and tokenizer files beyond Checkpoints/SafeTensorsFileTests
/// and CheckpointTests: each fails with an exception naming the file, before any tensor-sized
/// allocation, and never hangs (special files are refused before they are opened).
/// </summary>
public class HostileFileTests
{
    [DllImport("libc", SetLastError = true)]
    private static extern int mkfifo(string path, uint mode);

    private static void Fifo(string path) => Assert.Equal(0, mkfifo(path, Convert.ToUInt32("600", 8)));

    /// <summary>Runs <paramref name="act"/> with a deadline, so a hang fails the test instead of the suite.</summary>
    private static Exception FailsQuickly(Action act)
    {
        var task = Task.Run(() => { try { act(); return null; } catch (Exception e) { return e; } });
        Assert.True(task.Wait(TimeSpan.FromSeconds(20)), "hung (a special file was opened?)");
        return task.Result ?? throw new Xunit.Sdk.XunitException("no exception was thrown");
    }

    private static void WriteRaw(string path, byte[] header, int dataBytes, ulong? length = null)
    {
        using var fs = File.Create(path);
        fs.Write(BitConverter.GetBytes(length ?? (ulong)header.Length));
        fs.Write(header);
        fs.Write(new byte[dataBytes]);
    }

    private static string OpenFails(string path)
    {
        var e = Assert.IsType<CheckpointException>(FailsQuickly(() => SafeTensorsFile.Open(path).Dispose()));
        Assert.Contains(path, e.Message);
        return e.Message;
    }

    public static TheoryData<string, int, string> BadHeaders() => new()
    {
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0.5,4]}}", 8, "non-negative integers" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,1e30]}}", 8, "non-negative integers" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[\"0\",\"4\"]}}", 8, "non-negative integers" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999999]}}", 8, "non-negative integers" },
        { "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "appears twice" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":1}}", 8, "unknown header field" },
        { "{\"a\":{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "dtype" },
        { "{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "unknown or unsupported dtype" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":" + "[" + string.Join(",", Enumerable.Repeat(1, 65)) + "],\"data_offsets\":[0,4]}}", 8, "65 entries" },
        // Sizes that would need a huge allocation are refused from the header alone.
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1099511627776],\"data_offsets\":[0,4398046511104]}}", 8, "past the data area" },
        { "{\"a\":{\"dtype\":\"F64\",\"shape\":[3037000500,3037000500],\"data_offsets\":[0,8]}}", 8, "overflows" },
        { "{\"a\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,4]}}", 8, "needs 8 bytes" },
        { "{\"a\":" + new string('[', 40) + new string(']', 40) + "}", 0, "not valid JSON" },
        { "{\"__metadata__\":{\"k\":{\"nested\":\"v\"}}}", 0, "not a string" },
        { "{\"__metadata__\":[]}", 0, "must be an object" },
        { "\"just a string\"", 0, "not a JSON object" },
        { "", 0, "not valid JSON" },
    };

    [Theory]
    [MemberData(nameof(BadHeaders))]
    public void SafetensorsHeader_Hostile_IsRejectedNamingTheProblem(string header, int dataBytes, string expected)
    {
        using var dir = new TempDir();
        WriteRawSafetensors(dir["h.safetensors"], header, dataBytes);
        Assert.Contains(expected, OpenFails(dir["h.safetensors"]));
    }

    [Fact]
    public void SafetensorsHeader_InvalidUtf8_OrHugeLength_IsRejected()
    {
        using var dir = new TempDir();
        var bad = Encoding.UTF8.GetBytes("{\"ab\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}").ToList();
        bad.InsertRange(3, new byte[] { 0xC3, 0x28 }); // an invalid two-byte sequence inside the name
        WriteRaw(dir["u.safetensors"], bad.ToArray(), 4);
        Assert.Contains("not valid UTF-8", OpenFails(dir["u.safetensors"]));
        foreach (ulong length in new[] { ulong.MaxValue, (ulong)long.MaxValue + 1, SafeTensorsFile.MaxHeaderBytes + 1UL })
        {
            WriteRaw(dir["l.safetensors"], Encoding.UTF8.GetBytes("{}"), 0, length);
            Assert.Contains("limit", OpenFails(dir["l.safetensors"]));
        }
        File.WriteAllBytes(dir["empty.safetensors"], Array.Empty<byte>());
        Assert.Contains("truncated", OpenFails(dir["empty.safetensors"]));
    }

    [Fact]
    public void Safetensors_SpecialFiles_AreRefusedWithoutOpening()
    {
        using var dir = new TempDir();
        Fifo(dir["fifo.safetensors"]);
        Assert.Contains("not a regular file", OpenFails(dir["fifo.safetensors"]));
        Assert.Contains("not a regular file", OpenFails("/dev/zero"));
    }

    [Fact]
    public void Safetensors_TruncatedAfterOpening_FailsOnReadNamingTheFile()
    {
        using var dir = new TempDir();
        SafeTensorsFile.Save(dir["m.safetensors"], new[] { ("w", ones(64, 64)) });
        using var f = SafeTensorsFile.Open(dir["m.safetensors"]);
        using (var fs = new FileStream(dir["m.safetensors"], FileMode.Open, FileAccess.Write, FileShare.ReadWrite)) fs.SetLength(f.DataStart + 100);
        var e = Assert.Throws<CheckpointException>(() => f.Read("w").Dispose());
        Assert.Contains("unexpected end of file", e.Message);
        Assert.Contains(dir["m.safetensors"], e.Message);
    }

    /// <summary>A checkpoint directory with config.json and one shard named in an index.</summary>
    private static void IndexedCheckpoint(TempDir dir, string shard, string? indexText = null)
    {
        using var model = RandomModel(TinySpec("llada"), seed: 3);
        Checkpoint.Save(model, dir.Path);
        using (var f = SafeTensorsFile.Open(dir["model.safetensors"]))
        {
            var wm = new JsonObject();
            foreach (var n in f.Names) wm[n] = shard;
            File.WriteAllText(dir["model.safetensors.index.json"], indexText ?? new JsonObject { ["weight_map"] = wm }.ToJsonString());
        }
        File.Move(dir["model.safetensors"], dir["stored.bin"]);
    }

    private static string CheckpointFails(TempDir dir)
    {
        var e = FailsQuickly(() => Checkpoint.Open(dir.Path).Dispose());
        Assert.True(e is CheckpointException or FileNotFoundException, $"unexpected {e.GetType().Name}: {e.Message}");
        return e.Message;
    }

    [Theory]
    [InlineData("./../escape.safetensors", "..")]
    [InlineData("..", "..")]
    [InlineData("/proc/self/mem", "absolute")]
    [InlineData("//server/share/x.safetensors", "absolute")]
    [InlineData("", "empty shard file name")]
    public void ShardIndex_NamesOutsideTheDirectory_AreRejected(string shard, string expected)
    {
        using var dir = new TempDir();
        IndexedCheckpoint(dir, shard);
        Assert.Contains(expected, CheckpointFails(dir));
    }

    [Fact]
    public void ShardIndex_LinkChainsAndLoops_AreRejected()
    {
        using var outside = new TempDir();
        using var dir = new TempDir();
        IndexedCheckpoint(dir, "a.safetensors");
        // in -> in -> out: the last hop leaves the directory.
        File.Move(dir["stored.bin"], outside["real.safetensors"]);
        File.CreateSymbolicLink(dir["b.safetensors"], outside["real.safetensors"]);
        File.CreateSymbolicLink(dir["a.safetensors"], "b.safetensors");
        Assert.Contains("outside the checkpoint directory", CheckpointFails(dir));
        // A loop ends with an error, not a hang or a stack overflow.
        File.Delete(dir["b.safetensors"]);
        File.CreateSymbolicLink(dir["b.safetensors"], "a.safetensors");
        Assert.Contains("symbolic links", CheckpointFails(dir));
    }

    [Fact]
    public void ShardIndex_HostileIndexFiles_AreRejected()
    {
        using var dir = new TempDir();
        IndexedCheckpoint(dir, "x.safetensors", "{\"weight_map\":{\"embed\":\"x.safetensors\",\"embed\":\"y.safetensors\"}}");
        Assert.Contains("not valid JSON", CheckpointFails(dir));
        File.WriteAllText(dir["model.safetensors.index.json"], "{\"weight_map\":" + new string('[', 200) + new string(']', 200) + "}");
        Assert.Contains("not valid JSON", CheckpointFails(dir));
        File.WriteAllBytes(dir["model.safetensors.index.json"], new byte[] { (byte)'{', (byte)'"', 0xFF, (byte)'"', (byte)':', (byte)'1', (byte)'}' });
        Assert.Contains("not valid UTF-8", CheckpointFails(dir));
        Assert.Contains("line 1, column 3", CheckpointFails(dir));
        File.WriteAllText(dir["model.safetensors.index.json"], "{\"weight_map\":{\"embed\":7}}");
        Assert.Contains("not a file name", CheckpointFails(dir));
        File.Delete(dir["model.safetensors.index.json"]);
        Fifo(dir["model.safetensors.index.json"]);
        Assert.Contains("special file", CheckpointFails(dir));
    }

    [Fact]
    public void Config_Hostile_IsRejected_AndABomIsAccepted()
    {
        using var dir = new TempDir();
        using (var model = RandomModel(TinySpec("llada"), seed: 3)) Checkpoint.Save(model, dir.Path);
        string config = File.ReadAllText(dir["config.json"]);
        File.WriteAllBytes(dir["config.json"], Encoding.UTF8.GetPreamble().Concat(Encoding.UTF8.GetBytes(config)).ToArray());
        using (var ck = Checkpoint.Open(dir.Path)) Assert.Equal(32, ck.Spec.HiddenSize);

        void Expect(string text, string expected)
        {
            File.WriteAllText(dir["config.json"], text);
            var m = CheckpointFails(dir);
            Assert.Contains(expected, m);
            Assert.Contains("config.json", m);
        }
        Expect("{\"model_type\": \"llada\", " + config.TrimStart()[1..], "not valid JSON"); // duplicate key
        Expect("{\"a\":" + new string('[', 100) + new string(']', 100) + "}", "not valid JSON");
        // Each architecture setting in turn set to a number no integer type holds.
        // (vocab_size is not read when embedding_size is present, as in transformers' LLaDA.)
        foreach (var key in new[] { "d_model", "n_layers", "n_heads", "mlp_hidden_size" })
        {
            Assert.Matches($"\"{key}\"\\s*:", config);
            Expect(System.Text.RegularExpressions.Regex.Replace(config, $"\"{key}\"\\s*:\\s*-?[0-9]+", $"\"{key}\": 1e400"), key);
        }
        var bytes = Encoding.UTF8.GetBytes(config).ToList();
        bytes.InsertRange(bytes.IndexOf((byte)'"') + 1, new byte[] { 0xED, 0xA0, 0x80 }); // an encoded surrogate
        File.WriteAllBytes(dir["config.json"], bytes.ToArray());
        Assert.Contains("not valid UTF-8", CheckpointFails(dir));
        File.Delete(dir["config.json"]);
        Fifo(dir["config.json"]);
        Assert.Contains("special file", CheckpointFails(dir));
    }

    [Fact]
    public void Tokenizer_Hostile_IsRejectedWithTheFile()
    {
        using var dir = new TempDir();
        TokenizerFormatException Fails(string path)
        {
            var e = Assert.IsType<TokenizerFormatException>(FailsQuickly(() => HfTokenizer.Load(path)));
            Assert.Contains(path, e.Message);
            return e;
        }
        File.WriteAllBytes(dir["empty.json"], Array.Empty<byte>());
        Assert.Contains("empty", Fails(dir["empty.json"]).Message);
        Fifo(dir["fifo.json"]);
        Assert.Contains("special file", Fails(dir["fifo.json"]).Message);
        File.WriteAllText(dir["deep.json"], "{\"model\":" + new string('[', 300) + new string(']', 300) + "}");
        Assert.NotNull(Fails(dir["deep.json"]).Line);
        File.WriteAllBytes(dir["utf8.json"], Encoding.UTF8.GetBytes("{\n\"model\": {\"type\": \"BPE\", \"vocab\": {\"").Concat(new byte[] { 0xF8, 0x88 })
            .Concat(Encoding.UTF8.GetBytes("\": 0}}}")).ToArray());
        Assert.Equal(2, Fails(dir["utf8.json"]).Line);
        File.WriteAllText(dir["dup.json"], "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"a\": 1}, \"merges\": []}}");
        Fails(dir["dup.json"]);
        File.WriteAllText(dir["types.json"], "{\"model\": {\"type\": \"BPE\", \"vocab\": [1, 2], \"merges\": {}}}");
        Fails(dir["types.json"]);
    }
}
