using System.Buffers.Binary;
using System.Text;
using Spiffy.Files;
using Spiffy.Checkpoints;
using TorchSharp;
using static Spiffy.Tests.Checkpoints.CheckpointTestSupport;
using static TorchSharp.torch;

namespace Spiffy.Tests.Checkpoints;

public class SafeTensorsFileTests
{
    private static Tensor Values(ScalarType dtype) => arange(-8, 8, dtype: ScalarType.Float64).div(4).to(dtype).view(4, 4);

    [Fact]
    public void RoundTrip_EveryDtype_WithMetadata()
    {
        using var dir = new TempDir();
        var tensors = new List<(string, Tensor)>
        {
            ("f64", Values(ScalarType.Float64)), ("f32", Values(ScalarType.Float32)), ("f16", Values(ScalarType.Float16)),
            ("bf16", Values(ScalarType.BFloat16)), ("i64", arange(-5, 7, dtype: ScalarType.Int64).mul(1L << 40)),
            ("i32", arange(-6, 6, dtype: ScalarType.Int32).view(3, 4)), ("u8", arange(0, 256, dtype: ScalarType.Byte)),
            ("bool", arange(0, 10).remainder(3).eq(0)), ("scalar", tensor(3.5f)), ("empty", zeros(0, 4)),
        };
        var meta = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcode ✓" };
        SafeTensorsFile.Save(dir["a.safetensors"], tensors, meta);
        using var f = SafeTensorsFile.Open(dir["a.safetensors"]);
        Assert.Equal(tensors.Select(t => t.Item1).OrderBy(n => n, StringComparer.Ordinal), f.Names);
        Assert.Equal("ünïcode ✓", f.Metadata["note"]);
        foreach (var (name, t) in tensors)
        {
            using var r = f.Read(name);
            Assert.Equal(t.dtype, r.dtype);
            Assert.Equal(t.shape, r.shape);
            Assert.True(r.eq(t).all().item<bool>(), name);
        }
    }

    [Fact]
    public void Save_IsDeterministic_SortedAndPaddedLikeTheReference()
    {
        using var dir = new TempDir();
        var tensors = new List<(string, Tensor)> { ("zeta", ones(3)), ("alpha", ones(2, 2)), ("mid", ones(1, dtype: ScalarType.Int64)) };
        SafeTensorsFile.Save(dir["a.safetensors"], tensors, null);
        tensors.Reverse();
        SafeTensorsFile.Save(dir["b.safetensors"], tensors, null);
        var a = File.ReadAllBytes(dir["a.safetensors"]);
        Assert.Equal(a, File.ReadAllBytes(dir["b.safetensors"]));
        long n = BinaryPrimitives.ReadInt64LittleEndian(a);
        Assert.Equal(0, (8 + n) % 8);
        string header = Encoding.UTF8.GetString(a, 8, (int)n);
        Assert.Equal("{\"alpha\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
            + "\"mid\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[16,24]},"
            + "\"zeta\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24,36]}}",
            header.TrimEnd(' '));
        Assert.Equal(8 + n + 36, a.Length);
    }

    [Fact]
    public void Save_NonContiguousTensor_WritesLogicalOrder()
    {
        using var dir = new TempDir();
        var t = arange(0, 12, dtype: ScalarType.Float32).view(3, 4).t();
        SafeTensorsFile.Save(dir["t.safetensors"], new[] { ("t", t) });
        using var f = SafeTensorsFile.Open(dir["t.safetensors"]);
        using var r = f.Read("t");
        Assert.Equal(new long[] { 4, 3 }, r.shape);
        Assert.True(r.eq(t).all().item<bool>());
    }

    [Fact]
    public void ChunkedReadsAndWrites_LandAtTheRightOffsets()
    {
        // 3-element slices exercise spans over narrowed views (storage offsets) in both directions.
        using var dir = new TempDir();
        var t = randn(7, 5);
        SafeTensorsFile.Save(dir["c.safetensors"], new[] { ("a", ones(3)), ("t", t) }, null, chunkBytes: 12);
        using var f = SafeTensorsFile.Open(dir["c.safetensors"]);
        using var dest = empty(7, 5);
        f.ReadInto("t", dest, chunkBytes: 12);
        Assert.True(dest.eq(t).all().item<bool>());
    }

    [Fact]
    public void Bf16AndF16Storage_ReadAsFloat32()
    {
        using var dir = new TempDir();
        var src = randn(6, 8);
        var bf = src.to(ScalarType.BFloat16);
        var hf = src.to(ScalarType.Float16);
        SafeTensorsFile.Save(dir["h.safetensors"], new[] { ("bf", bf), ("hf", hf) });
        using var f = SafeTensorsFile.Open(dir["h.safetensors"]);
        Assert.Equal("BF16", f.Info("bf").DType);
        Assert.Equal("F16", f.Info("hf").DType);
        using var rb = f.Read("bf", ScalarType.Float32);
        using var rh = f.Read("hf", ScalarType.Float32);
        Assert.Equal(ScalarType.Float32, rb.dtype);
        Assert.True(rb.eq(bf.to(ScalarType.Float32)).all().item<bool>());
        Assert.True(rh.eq(hf.to(ScalarType.Float32)).all().item<bool>());
        // Into an existing float32 tensor (the model-loading path): converted by copy_.
        using var dest = zeros(6, 8);
        f.ReadInto("bf", dest);
        Assert.True(dest.eq(bf.to(ScalarType.Float32)).all().item<bool>());
    }

    [Fact]
    public void Save_ReplacesAtomically_AndLeavesNoTempFiles()
    {
        using var dir = new TempDir();
        SafeTensorsFile.Save(dir["m.safetensors"], new[] { ("x", ones(2)) });
        SafeTensorsFile.Save(dir["m.safetensors"], new[] { ("y", zeros(3)) });
        using (var f = SafeTensorsFile.Open(dir["m.safetensors"])) Assert.Equal(new[] { "y" }, f.Names);
        var before = File.ReadAllBytes(dir["m.safetensors"]);
        // A writer that fails midway leaves the old file as it was and removes its temp file.
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(dir["m.safetensors"], fs =>
        {
            fs.Write(new byte[100]);
            throw new InvalidOperationException("disk full");
        }));
        Assert.Equal(before, File.ReadAllBytes(dir["m.safetensors"]));
        Assert.Equal(new[] { "m.safetensors" }, Directory.GetFiles(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void Save_RejectsDuplicateNames()
        => Assert.Throws<ArgumentException>(() => SafeTensorsFile.Save(Path.Combine(Path.GetTempPath(), "never.safetensors"), new[]
        {
            ("a", ones(1)), ("a", ones(1))
        }));

    private static CheckpointException OpenFails(string path)
    {
        var e = Assert.Throws<CheckpointException>(() => SafeTensorsFile.Open(path).Dispose());
        Assert.Contains(path, e.Message);
        return e;
    }

    [Fact]
    public void TruncatedFile_IsAnErrorNamingTheFile()
    {
        using var dir = new TempDir();
        SafeTensorsFile.Save(dir["m.safetensors"], new[] { ("w", ones(4, 4)) });
        var bytes = File.ReadAllBytes(dir["m.safetensors"]);
        File.WriteAllBytes(dir["cut.safetensors"], bytes[..^5]);
        var e = OpenFails(dir["cut.safetensors"]);
        Assert.Contains("'w'", e.Message);
        Assert.Contains("truncated", e.Message);
        File.WriteAllBytes(dir["tiny.safetensors"], bytes[..5]);
        Assert.Contains("truncated", OpenFails(dir["tiny.safetensors"]).Message);
    }

    [Fact]
    public void HeaderLengthPastEndOfFile_IsAnError()
    {
        using var dir = new TempDir();
        WriteRawSafetensors(dir["h.safetensors"], "{}", 0, lengthOverride: 1000);
        Assert.Contains("past the end", OpenFails(dir["h.safetensors"]).Message);
        // A huge length is refused before anything is allocated.
        WriteRawSafetensors(dir["huge.safetensors"], "{}", 0, lengthOverride: 1UL << 40);
        Assert.Contains("limit", OpenFails(dir["huge.safetensors"]).Message);
    }

    [Fact]
    public void OverlappingOffsets_AreAnError()
    {
        using var dir = new TempDir();
        WriteRawSafetensors(dir["o.safetensors"],
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16);
        var e = OpenFails(dir["o.safetensors"]);
        Assert.Contains("overlap", e.Message);
        Assert.Contains("'a'", e.Message);
        Assert.Contains("'b'", e.Message);
    }

    [Fact]
    public void UnknownDtype_IsAnError()
    {
        using var dir = new TempDir();
        WriteRawSafetensors(dir["d.safetensors"], "{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4);
        var e = OpenFails(dir["d.safetensors"]);
        Assert.Contains("F8_E4M3", e.Message);
        Assert.Contains("'a'", e.Message);
    }

    [Theory]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,8]}}", 16, "needs 16 bytes")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}", 16, "overflows")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "past the data area")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8, "reversed")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 8, "non-negative")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "twice")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 8, "data_offsets")]
    [InlineData("{\"__metadata__\":{\"k\":1}}", 0, "not a string")]
    [InlineData("[1,2]", 0, "not a JSON object")]
    [InlineData("{\"a\":", 0, "not valid JSON")]
    public void MalformedHeaders_AreErrors(string header, int dataBytes, string expected)
    {
        using var dir = new TempDir();
        WriteRawSafetensors(dir["m.safetensors"], header, dataBytes);
        Assert.Contains(expected, OpenFails(dir["m.safetensors"]).Message);
    }

    [Fact]
    public void ReadInto_ShapeMismatch_NamesBothShapes()
    {
        using var dir = new TempDir();
        SafeTensorsFile.Save(dir["m.safetensors"], new[] { ("w", ones(2, 3)) });
        using var f = SafeTensorsFile.Open(dir["m.safetensors"]);
        var e = Assert.Throws<CheckpointException>(() => f.ReadInto("w", zeros(3, 2)));
        Assert.Contains("[2, 3]", e.Message);
        Assert.Contains("[3, 2]", e.Message);
    }
}
