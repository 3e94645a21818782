using System.Text;

namespace Spiffy.Tokenization;

/// <summary>
/// The GPT-2 byte-to-character table used by byte-level BPE vocabularies: every byte gets one
/// visible, non-whitespace character, so tokens can be stored as JSON strings and merges as "a b".
/// </summary>
internal static class ByteLevelAlphabet
{
    private static readonly char[] s_byteToChar = BuildByteToChar();
    private static readonly short[] s_charToByte = BuildCharToByte(s_byteToChar);

    /// <summary>Bytes that can occur in well-formed UTF-8 (0xC0, 0xC1 and 0xF5..0xFF never do).</summary>
    public static bool OccursInUtf8(int b) => b is not (0xC0 or 0xC1) && b < 0xF5;

    public static char ToChar(byte b) => s_byteToChar[b];

    /// <summary>The byte a vocabulary character stands for, or -1 when the character is not in the table.</summary>
    public static int ToByte(char c) => c < s_charToByte.Length ? s_charToByte[c] : -1;

    public static string FromBytes(ReadOnlySpan<byte> bytes)
    {
        var chars = new char[bytes.Length];
        for (int i = 0; i < bytes.Length; i++) chars[i] = s_byteToChar[bytes[i]];
        return new string(chars);
    }

    public static string FromText(string text) => FromBytes(Encoding.UTF8.GetBytes(text));

    /// <summary>Appends the bytes a vocabulary token stands for; false when a character is not byte-level.</summary>
    public static bool TryAppendBytes(string token, List<byte> bytes)
    {
        foreach (char c in token)
        {
            int b = ToByte(c);
            if (b < 0) return false;
            bytes.Add((byte)b);
        }
        return true;
    }

    private static char[] BuildByteToChar()
    {
        // Printable Latin-1 bytes stand for themselves; the remaining 68 (controls, space, 0x7F-0xA0,
        // soft hyphen) are moved to U+0100 upwards in byte order, exactly as GPT-2 defined it.
        var table = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool keeps = b is >= 0x21 and <= 0x7E or >= 0xA1 and <= 0xAC or >= 0xAE;
            table[b] = keeps ? (char)b : (char)next++;
        }
        return table;
    }

    private static short[] BuildCharToByte(char[] byteToChar)
    {
        var table = new short[256 + 68];
        Array.Fill(table, (short)-1);
        for (int b = 0; b < 256; b++) table[byteToChar[b]] = (short)b;
        return table;
    }
}
