using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using TorchSharp;
using static TorchSharp.torch;

using Spiffy.Files;

namespace Spiffy.Checkpoints;

/// <summary>One tensor's entry in a safetensors header. Offsets are relative to the data area.</summary>
internal sealed record SafeTensorInfo(string Name, string DType, ScalarType ScalarType, long[] Shape, long DataBegin, long DataEnd)
{
    public long ByteLength => DataEnd - DataBegin;
}

/// <summary>
/// Reader and writer of the safetensors format: an 8-byte little-endian header length, a JSON header
/// <c>{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}</c>, then the raw
/// little-endian tensor bytes. The header is validated completely before any tensor-sized allocation,
/// so a corrupt or hostile file fails with a message instead of exhausting memory. Tensors are read
/// one at a time with positional reads straight into TorchSharp storage, so loading a model never
/// holds more than the model plus one stored tensor.
/// </summary>
internal sealed class SafeTensorsFile : IDisposable
{
    /// <summary>Headers beyond this are rejected (the reference implementation uses the same bound).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    // Positional reads/writes in slices of this many bytes: bounds each span (TorchSharp spans are int-sized).
    internal const int DefaultChunkBytes = 64 << 20;

    private static readonly (string Name, ScalarType Type, int Size)[] DTypes =
    {
        ("F64", ScalarType.Float64, 8), ("F32", ScalarType.Float32, 4), ("F16", ScalarType.Float16, 2),
        ("BF16", ScalarType.BFloat16, 2), ("I64", ScalarType.Int64, 8), ("I32", ScalarType.Int32, 4),
        ("U8", ScalarType.Byte, 1), ("BOOL", ScalarType.Bool, 1),
    };

    private readonly SafeFileHandle _handle;
    private readonly Dictionary<string, SafeTensorInfo> _tensors;

    private SafeTensorsFile(string path, SafeFileHandle handle, long dataStart, Dictionary<string, SafeTensorInfo> tensors, Dictionary<string, string> metadata)
    {
        Path = path;
        _handle = handle;
        DataStart = dataStart;
        _tensors = tensors;
        Metadata = metadata;
        var names = new List<string>(tensors.Keys);
        names.Sort(StringComparer.Ordinal);
        Names = names;
    }

    public string Path { get; }

    /// <summary>File offset of the data area (8 + header length).</summary>
    public long DataStart { get; }

    /// <summary>Tensor names, sorted (ordinal).</summary>
    public IReadOnlyList<string> Names { get; }

    public IReadOnlyDictionary<string, string> Metadata { get; }

    public IReadOnlyDictionary<string, SafeTensorInfo> Tensors => _tensors;

    public bool Contains(string name) => _tensors.ContainsKey(name);

    public SafeTensorInfo Info(string name)
        => _tensors.TryGetValue(name, out var info) ? info : throw new CheckpointException($"{Path}: no tensor named '{name}'");

    /// <summary>Opens a file and validates its header; the tensor data is not read yet.</summary>
    public static SafeTensorsFile Open(string path)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors data is little-endian; big-endian hosts are not supported");
        if (!File.Exists(path)) throw new FileNotFoundException($"safetensors file not found: {path}", path);
        // Before opening: a FIFO or device (size 0) would block or stream instead of failing.
        if (InputFile.Size(path, long.MaxValue, out _) < 8)
            throw new CheckpointException($"{path}: truncated safetensors file, or not a regular file ({new FileInfo(path).Length} bytes; the "
                + $"8-byte header length is missing)");
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        try
        {
            long fileLength = RandomAccess.GetLength(handle);
            if (fileLength < 8) throw new CheckpointException($"{path}: truncated safetensors file ({fileLength} bytes; the 8-byte header length is missing)");
            Span<byte> lenBytes = stackalloc byte[8];
            ReadExactly(handle, path, lenBytes, 0);
            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
            // Both checks come before allocating the header buffer.
            if (headerLength > MaxHeaderBytes)
                throw new CheckpointException($"{path}: header length {headerLength} exceeds the {MaxHeaderBytes}-byte limit "
                    + $"(corrupt or not a safetensors file)");
            if ((long)headerLength > fileLength - 8)
                throw new CheckpointException($"{path}: truncated safetensors file: header length {headerLength} extends past the end of "
                    + $"the file ({fileLength} bytes)");
            var header = new byte[headerLength];
            ReadExactly(handle, path, header, 8);
            long dataStart = 8 + (long)headerLength;
            var (tensors, metadata) = ParseHeader(header, path, fileLength - dataStart);
            return new SafeTensorsFile(path, handle, dataStart, tensors, metadata);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static (Dictionary<string, SafeTensorInfo>, Dictionary<string, string>) ParseHeader(byte[] header, string path, long dataLength)
    {
        if (InputFile.Utf8Problem(header, out _, out _) is string bad) throw new CheckpointException($"{path}: safetensors header is not valid UTF-8: {bad}");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 16 }); }
        catch (JsonException e) { throw new CheckpointException($"{path}: safetensors header is not valid JSON: {e.Message}", e); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new CheckpointException($"{path}: safetensors header is not a JSON object");
            var tensors = new Dictionary<string, SafeTensorInfo>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            bool sawMetadata = false;
            foreach (var prop in root.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    if (sawMetadata) throw new CheckpointException($"{path}: duplicate \"__metadata__\" in the header");
                    sawMetadata = true;
                    ParseMetadata(prop.Value, path, metadata);
                    continue;
                }
                // JsonDocument keeps duplicate keys; a second definition of a name is ambiguous.
                if (tensors.ContainsKey(prop.Name)) throw new CheckpointException($"{path}: tensor '{prop.Name}' is defined twice in the header");
                tensors[prop.Name] = ParseEntry(prop.Name, prop.Value, path, dataLength);
            }
            CheckNoOverlap(tensors.Values, path);
            return (tensors, metadata);
        }
    }

    private static void ParseMetadata(JsonElement value, string path, Dictionary<string, string> metadata)
    {
        if (value.ValueKind == JsonValueKind.Null) return;
        if (value.ValueKind != JsonValueKind.Object) throw new CheckpointException($"{path}: \"__metadata__\" must be an object of strings");
        foreach (var m in value.EnumerateObject())
        {
            if (m.Value.ValueKind != JsonValueKind.String) throw new CheckpointException($"{path}: metadata value '{m.Name}' is not a string");
            metadata[m.Name] = m.Value.GetString()!;
        }
    }

    private static SafeTensorInfo ParseEntry(string name, JsonElement e, string path, long dataLength)
    {
        string where = $"{path}: tensor '{name}'";
        if (e.ValueKind != JsonValueKind.Object) throw new CheckpointException($"{where}: header entry is not an object");
        JsonElement? dtypeEl = null, shapeEl = null, offsetsEl = null;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in e.EnumerateObject())
        {
            // JsonDocument keeps duplicate keys (the last would silently win): refuse the ambiguity.
            if (!seen.Add(p.Name)) throw new CheckpointException($"{where}: header field '{p.Name}' appears twice");
            switch (p.Name)
            {
                case "dtype": dtypeEl = p.Value; break;
                case "shape": shapeEl = p.Value; break;
                case "data_offsets": offsetsEl = p.Value; break;
                default: throw new CheckpointException($"{where}: unknown header field '{p.Name}'");
            }
        }
        if (dtypeEl is not { ValueKind: JsonValueKind.String } dt) throw new CheckpointException($"{where}: missing or non-string \"dtype\"");
        string dtype = dt.GetString()!;
        int index = Array.FindIndex(DTypes, d => d.Name == dtype);
        if (index < 0)
            throw new CheckpointException($"{where}: unknown or unsupported dtype \"{dtype}\" "
                + $"(supported: {string.Join(", ", Array.ConvertAll(DTypes, d => d.Name))})");
        var shape = ReadLongs(shapeEl, where, "shape", -1);
        var offsets = ReadLongs(offsetsEl, where, "data_offsets", 2);
        long begin = offsets[0], end = offsets[1];
        if (begin > end) throw new CheckpointException($"{where}: data_offsets [{begin}, {end}] are reversed");
        if (end > dataLength)
            throw new CheckpointException($"{where}: data_offsets [{begin}, {end}] extend past the data area ({dataLength} bytes): the "
                + $"file is truncated or corrupt");
        long expected;
        try
        {
            expected = DTypes[index].Size;
            foreach (var d in shape) expected = checked(expected * d);
        }
        catch (OverflowException)
        {
            throw new CheckpointException($"{where}: shape [{string.Join(", ", shape)}] overflows a 64-bit byte count");
        }
        if (expected != end - begin)
            throw new CheckpointException($"{where}: {dtype} shape [{string.Join(", ", shape)}] needs {expected} bytes but data_offsets "
                + $"[{begin}, {end}] hold {end - begin}");
        return new SafeTensorInfo(name, dtype, DTypes[index].Type, shape, begin, end);
    }

    private static long[] ReadLongs(JsonElement? el, string where, string field, int count)
    {
        if (el is not { ValueKind: JsonValueKind.Array } arr) throw new CheckpointException($"{where}: missing or non-array \"{field}\"");
        int n = arr.GetArrayLength();
        if (count >= 0 && n != count) throw new CheckpointException($"{where}: \"{field}\" must have {count} entries, found {n}");
        if (n > 64) throw new CheckpointException($"{where}: \"{field}\" has {n} entries");
        var values = new long[n];
        int i = 0;
        foreach (var item in arr.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long v) || v < 0)
                throw new CheckpointException($"{where}: \"{field}\" entries must be non-negative integers, found {item.GetRawText()}");
            values[i++] = v;
        }
        return values;
    }

    private static void CheckNoOverlap(IEnumerable<SafeTensorInfo> tensors, string path)
    {
        var sorted = new List<SafeTensorInfo>(tensors);
        sorted.RemoveAll(t => t.ByteLength == 0); // empty ranges occupy no bytes
        sorted.Sort((a, b) => a.DataBegin != b.DataBegin ? a.DataBegin.CompareTo(b.DataBegin) : string.CompareOrdinal(a.Name, b.Name));
        for (int i = 1; i < sorted.Count; i++)
        {
            var prev = sorted[i - 1];
            var cur = sorted[i];
            if (cur.DataBegin < prev.DataEnd)
                throw new CheckpointException($"{path}: tensors '{prev.Name}' [{prev.DataBegin}, {prev.DataEnd}] and '{cur.Name}' "
                    + $"[{cur.DataBegin}, {cur.DataEnd}] overlap");
        }
    }

    /// <summary>Reads a tensor to the CPU, converted to <paramref name="dtype"/> (default: the stored dtype).</summary>
    public Tensor Read(string name, ScalarType? dtype = null)
    {
        var info = Info(name);
        var raw = empty(info.Shape, info.ScalarType, CPU);
        try { Fill(info, raw, DefaultChunkBytes); }
        catch { raw.Dispose(); throw; }
        if (dtype is null || dtype.Value == info.ScalarType) return raw;
        using (raw) return raw.to(dtype.Value);
    }

    /// <summary>
    /// Copies a tensor into an existing one of the same shape (any dtype, any device). A CPU
    /// destination of the stored dtype is filled in place; otherwise the stored bytes pass through
    /// one staging buffer of at most a chunk, each slice converted and moved by <c>copy_</c>, so
    /// loading to a GPU or to another dtype never holds a whole tensor on the host.
    /// </summary>
    public void ReadInto(string name, Tensor destination) => ReadInto(name, destination, DefaultChunkBytes);

    internal void ReadInto(string name, Tensor destination, int chunkBytes)
    {
        var info = Info(name);
        if (!ShapeEquals(info.Shape, destination.shape))
            throw new CheckpointException($"{Path}: tensor '{name}' has shape {FormatShape(info.Shape)}, expected {FormatShape(destination.shape)}");
        using var _ = no_grad();
        if (destination.device_type == DeviceType.CPU && destination.dtype == info.ScalarType && destination.is_contiguous())
        {
            Fill(info, destination, chunkBytes);
            return;
        }
        if (info.ByteLength == 0) return;
        if (!destination.is_contiguous())
        {
            using var whole = empty(info.Shape, info.ScalarType, CPU);
            Fill(info, whole, chunkBytes);
            destination.copy_(whole);
            return;
        }
        int elem = ElementSize(info.ScalarType);
        long numel = info.ByteLength / elem;
        long perChunk = Math.Min(numel, Math.Max(1, chunkBytes / elem));
        using var staging = empty(new[] { perChunk }, info.ScalarType, CPU);
        using var flat = destination.view(-1);
        for (long e = 0; e < numel; e += perChunk)
        {
            long n = Math.Min(perChunk, numel - e);
            using var src = staging.narrow(0, 0, n);
            ReadExactly(_handle, Path, src.bytes, DataStart + info.DataBegin + e * elem);
            using var dst = flat.narrow(0, e, n);
            // Synchronous from pageable memory: the staging buffer is free again when copy_ returns.
            dst.copy_(src);
        }
    }

    private void Fill(SafeTensorInfo info, Tensor dest, int chunkBytes)
    {
        if (info.ByteLength == 0) return;
        int elem = ElementSize(info.ScalarType);
        long numel = info.ByteLength / elem;
        long perChunk = Math.Max(1, chunkBytes / elem);
        using var flat = dest.view(-1);
        for (long e = 0; e < numel; e += perChunk)
        {
            long n = Math.Min(perChunk, numel - e);
            using var part = flat.narrow(0, e, n);
            ReadExactly(_handle, Path, part.bytes, DataStart + info.DataBegin + e * elem);
        }
    }

    private static void ReadExactly(SafeFileHandle handle, string path, Span<byte> buffer, long offset)
    {
        while (buffer.Length > 0)
        {
            int got = RandomAccess.Read(handle, buffer, offset);
            if (got <= 0) throw new CheckpointException($"{path}: truncated safetensors file: unexpected end of file at byte {offset}");
            buffer = buffer[got..];
            offset += got;
        }
    }

    /// <summary>
    /// Writes tensors (any device, any layout) to a safetensors file, deterministically: names
    /// sorted (ordinal), data in that order, header padded with spaces to a multiple of 8 bytes like
    /// the reference implementation. The file is replaced atomically.
    /// </summary>
    public static void Save(string path, IReadOnlyList<(string name, Tensor t)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
        => Save(path, tensors, metadata, DefaultChunkBytes);

    internal static void Save(string path, IReadOnlyList<(string name, Tensor t)> tensors, IReadOnlyDictionary<string, string>? metadata, int chunkBytes)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors data is little-endian; big-endian hosts are not supported");
        var order = new List<(string name, Tensor t)>(tensors);
        order.Sort((a, b) => string.CompareOrdinal(a.name, b.name));
        for (int i = 0; i < order.Count; i++)
        {
            if (string.IsNullOrEmpty(order[i].name) || order[i].name == "__metadata__")
                throw new ArgumentException($"invalid tensor name '{order[i].name}'", nameof(tensors));
            if (i > 0 && order[i].name == order[i - 1].name) throw new ArgumentException($"tensor '{order[i].name}' is listed twice", nameof(tensors));
        }
        byte[] header = BuildHeader(order, metadata);
        AtomicFile.Write(path, fs =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
            fs.Write(len);
            fs.Write(header);
            foreach (var (_, t) in order) WriteData(fs, t, chunkBytes);
        });
    }

    private static byte[] BuildHeader(List<(string name, Tensor t)> order, IReadOnlyDictionary<string, string>? metadata)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                var keys = new List<string>(metadata.Keys);
                keys.Sort(StringComparer.Ordinal);
                w.WriteStartObject("__metadata__");
                foreach (var k in keys) w.WriteString(k, metadata[k]);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, t) in order)
            {
                string dtype = DTypeName(t.dtype)
                    ?? throw new ArgumentException($"tensor '{name}': dtype {t.dtype} cannot be stored in safetensors by this writer");
                long bytes = t.NumberOfElements * ElementSize(t.dtype);
                w.WriteStartObject(name);
                w.WriteString("dtype", dtype);
                w.WriteStartArray("shape");
                foreach (var d in t.shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + bytes);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += bytes;
            }
            w.WriteEndObject();
        }
        int pad = (int)((8 - ms.Length % 8) % 8);
        for (int i = 0; i < pad; i++) ms.WriteByte((byte)' ');
        return ms.ToArray();
    }

    private static void WriteData(FileStream fs, Tensor t, int chunkBytes)
    {
        if (t.NumberOfElements == 0) return;
        using var scope = NewDisposeScope();
        var c = t.detach().cpu().contiguous();
        int elem = ElementSize(c.dtype);
        long perChunk = Math.Max(1, chunkBytes / elem);
        var flat = c.view(-1);
        for (long e = 0; e < flat.NumberOfElements; e += perChunk)
        {
            var part = flat.narrow(0, e, Math.Min(perChunk, flat.NumberOfElements - e));
            fs.Write(part.bytes);
        }
    }

    public static string? DTypeName(ScalarType type)
    {
        foreach (var d in DTypes) if (d.Type == type) return d.Name;
        return null;
    }

    private static int ElementSize(ScalarType type)
    {
        foreach (var d in DTypes) if (d.Type == type) return d.Size;
        throw new ArgumentException($"unsupported dtype {type}");
    }

    internal static bool ShapeEquals(long[] a, long[] b)
    {
        if (a.Length != b.Length) return false;
        for (int i = 0; i < a.Length; i++) if (a[i] != b[i]) return false;
        return true;
    }

    public static string FormatShape(long[] shape)
    {
        var sb = new StringBuilder("[");
        for (int i = 0; i < shape.Length; i++) sb.Append(i == 0 ? "" : ", ").Append(shape[i]);
        return sb.Append(']').ToString();
    }

    public void Dispose() => _handle.Dispose();
}
