using Spiffy.Schema.Json;

namespace Spiffy.Checkpoints;

/// <summary>
/// Checks a data file's size before it is opened. FIFOs, character devices and /proc files report
/// size 0 (opening a FIFO blocks until a writer appears; a device can stream forever), and a file
/// over the caller's limit would be read whole into memory: both are refused up front.
/// </summary>
internal static class InputFile
{
    /// <summary>Returns the file's size, or the problem (without the path) when it cannot be a data file of at most <paramref name="maxBytes"/>.</summary>
    public static long Size(string path, long maxBytes, out string? problem)
    {
        var info = new FileInfo(path);
        long length = info.Exists ? info.Length : 0;
        problem = !info.Exists ? "not found (or not a regular file)"
            : length == 0 ? "is empty (or a FIFO, device or other special file, which are not read)"
            : length > maxBytes ? $"{length} bytes exceeds the {maxBytes}-byte limit for this kind of file"
            : null;
        return length;
    }

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
