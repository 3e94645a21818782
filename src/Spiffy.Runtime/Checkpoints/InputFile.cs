using Spiffy.Schema.Json;

namespace Spiffy.Checkpoints;

/// <summary>
/// Checks an input file before it is opened; every file the tools read goes through here. FIFOs, character devices and /proc files report
/// size 0 (opening a FIFO blocks until a writer appears; a device can stream forever), and a file
/// over the caller's limit would be read whole into memory: both are refused up front.
/// </summary>
internal static class InputFile
{
    /// <summary>Model descriptions, graphs, prompt-id lists: JSON a person or a tool writes; the largest shipped graph is far below this.</summary>
    public const long MaxJsonBytes = 256L << 20;

    /// <summary>Line-oriented data (JSONL problems): read line by line, so only the count of lines is bounded by this.</summary>
    public const long MaxDataBytes = 16L << 30;

    /// <summary>Returns the file's size, or the problem (without the path) when it cannot be a data file of at most <paramref name="maxBytes"/>.</summary>
    public static long Size(string path, long maxBytes, out string? problem)
    {
        var info = new FileInfo(path);
        // A symlink's own length is that of its target's name: look at what it leads to (/dev/zero, a FIFO...).
        if (info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is FileInfo target) info = target;
        long length = info.Exists ? info.Length : 0;
        problem = !info.Exists ? (Directory.Exists(path) ? "is a directory, not a file" : "not found (or not a regular file)")
            : length == 0 ? "is empty (or a FIFO, device or other special file, which are not read)"
            : length > maxBytes ? $"{length} bytes exceeds the {maxBytes}-byte limit for this kind of file"
            : null;
        return length;
    }

    /// <summary>
    /// Throws unless <paramref name="path"/> is a regular, non-empty file of at most <paramref name="maxBytes"/>:
    /// <see cref="FileNotFoundException"/> when nothing is there, else <see cref="InvalidDataException"/> naming the file.
    /// Call before opening: opening a FIFO blocks, a device streams forever.
    /// </summary>
    public static long Check(string path, long maxBytes, string what = "file")
    {
        if (!File.Exists(path) && !Directory.Exists(path)) throw new FileNotFoundException($"{what} not found: {path}", path);
        long size = Size(path, maxBytes, out var problem);
        if (problem is not null) throw new InvalidDataException($"{path}: {problem}");
        return size;
    }

    /// <summary>
    /// The whole file after <see cref="Check"/>, reading at most <paramref name="maxBytes"/> even if the
    /// file grows meanwhile (a file that changes under us is an error, not an unbounded read).
    /// </summary>
    public static byte[] ReadAllBytes(string path, long maxBytes, string what = "file")
    {
        long size = Check(path, maxBytes, what);
        using var fs = OpenChecked(path);
        var bytes = new byte[size];
        int read = 0;
        while (read < bytes.Length)
        {
            int n = fs.Read(bytes, read, bytes.Length - read);
            if (n == 0) throw new InvalidDataException($"{path}: the file shrank while it was read");
            read += n;
        }
        if (fs.ReadByte() >= 0) throw new InvalidDataException($"{path}: the file grew while it was read");
        return bytes;
    }

    /// <summary><see cref="ReadAllBytes"/> as text; invalid UTF-8 is an error with its line and column, a BOM is skipped.</summary>
    public static string ReadAllText(string path, long maxBytes, string what = "file")
    {
        var bytes = ReadAllBytes(path, maxBytes, what);
        if (Utf8Problem(bytes, out _, out _) is string bad) throw new InvalidDataException($"{path}: not valid UTF-8: {bad}");
        return System.Text.Encoding.UTF8.GetString(WithoutBom(bytes).Span);
    }

    /// <summary>A read stream after <see cref="Check"/> (for files read incrementally; the caller bounds what it keeps).</summary>
    public static FileStream OpenRead(string path, long maxBytes, string what = "file")
    {
        Check(path, maxBytes, what);
        return OpenChecked(path);
    }

    private static FileStream OpenChecked(string path)
        => new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);

    /// <summary>
    /// Null when <paramref name="bytes"/> are valid UTF-8, else where they are not. JsonDocument checks
    /// UTF-8 inside strings only when a string is read (and then throws InvalidOperationException), so
    /// JSON files are checked up front. <paramref name="line"/> and <paramref name="column"/> are 1-based.
    /// </summary>
    public static string? Utf8Problem(byte[] bytes, out int line, out int column)
    {
        line = column = 0;
        if (System.Text.Unicode.Utf8.IsValid(bytes)) return null;
        try { Utf8Text.Decode(bytes); }
        catch (JsonSyntaxException e)
        {
            line = e.Line;
            column = e.Column;
            return $"{e.Message} at line {e.Line}, column {e.Column}";
        }
        return "invalid UTF-8";
    }

    /// <summary>The bytes without a leading UTF-8 byte-order mark (JsonDocument.Parse of bytes does not skip one).</summary>
    public static ReadOnlyMemory<byte> WithoutBom(byte[] bytes)
        => bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF ? bytes.AsMemory(3) : bytes;
}
