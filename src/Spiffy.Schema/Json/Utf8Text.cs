using System.Text;

namespace Spiffy.Schema.Json;

/// <summary>
/// Strict UTF-8 decoding for schema files. Reading a file as text replaces invalid bytes with
/// U+FFFD silently, so a corrupt model or graph file could validate with altered strings; this
/// instead fails at the first invalid byte with its line and column (columns count UTF-16 units,
/// as <see cref="JsonReader"/> does). A leading byte-order mark is kept for the reader to skip.
/// </summary>
internal static class Utf8Text
{
    public static string Decode(byte[] bytes)
    {
        if (bytes is null) throw new System.ArgumentNullException(nameof(bytes));
        int line = 1, column = 1, i = 0;
        // The reader skips a byte-order mark without counting a column; so does this.
        if (bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF) i = 3;
        while (i < bytes.Length)
        {
            byte b = bytes[i];
            if (b < 0x80)
            {
                i++;
                if (b == (byte)'\n') { line++; column = 1; } else column++;
                continue;
            }
            int length, min, cp;
            if (b >= 0xC2 && b <= 0xDF) { length = 2; min = 0x80; cp = b & 0x1F; }
            else if (b >= 0xE0 && b <= 0xEF) { length = 3; min = 0x800; cp = b & 0x0F; }
            else if (b >= 0xF0 && b <= 0xF4) { length = 4; min = 0x10000; cp = b & 0x07; }
            else throw Invalid(b < 0xC0 ? "a continuation byte without a lead byte" : "a byte that never occurs in UTF-8", b, line, column);
            if (i + length > bytes.Length) throw Invalid("a sequence cut off by the end of the file", b, line, column);
            for (int k = 1; k < length; k++)
            {
                byte c = bytes[i + k];
                if ((c & 0xC0) != 0x80) throw Invalid("an incomplete multi-byte sequence", b, line, column);
                cp = (cp << 6) | (c & 0x3F);
            }
            if (cp < min) throw Invalid("an overlong encoding", b, line, column);
            if (cp >= 0xD800 && cp <= 0xDFFF) throw Invalid("an encoded surrogate", b, line, column);
            if (cp > 0x10FFFF) throw Invalid("a code point above U+10FFFF", b, line, column);
            i += length;
            column += cp >= 0x10000 ? 2 : 1;
        }
        return Encoding.UTF8.GetString(bytes);
    }

    private static JsonSyntaxException Invalid(string what, byte b, int line, int column)
        => new JsonSyntaxException($"invalid UTF-8: {what} (byte 0x{b:X2})", line, column);
}
