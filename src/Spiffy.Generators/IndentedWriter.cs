using System.Globalization;
using System.Text;
using Spiffy.Schema.Json;

namespace Spiffy.Generators;

/// <summary>
/// Writes C# line by line with four-space indentation and '\n' line ends, so output is
/// byte-identical on every OS. Also formats literals and comment text culture-invariantly.
/// </summary>
internal sealed class IndentedWriter
{
    private readonly StringBuilder _sb = new StringBuilder();
    private int _indent;

    public IndentedWriter Line(string text = "")
    {
        if (text.Length > 0) _sb.Append(' ', _indent * 4).Append(text);
        _sb.Append('\n');
        return this;
    }

    /// <summary>A "//" comment; the text is made single-line.</summary>
    public IndentedWriter Comment(string text) => Line("// " + SingleLine(text));

    public IndentedWriter Open(string header)
    {
        Line(header);
        Line("{");
        _indent++;
        return this;
    }

    public IndentedWriter Open() { Line("{"); _indent++; return this; }

    public IndentedWriter Close(string suffix = "")
    {
        _indent--;
        return Line("}" + suffix);
    }

    public override string ToString() => _sb.ToString();

    public static string Int(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>A ulong mask as a hexadecimal literal.</summary>
    public static string Mask(ulong mask) => "0x" + mask.ToString("X", CultureInfo.InvariantCulture) + "UL";

    /// <summary>A round-trippable double literal that always reads as a double ("1.0", "0.9", "1E-05").</summary>
    public static string Double(double value)
    {
        string s = value.ToString("R", CultureInfo.InvariantCulture);
        return s.IndexOf('.') >= 0 || s.IndexOf('E') >= 0 ? s : s + ".0";
    }

    public static string Bool(bool value) => value ? "true" : "false";

    /// <summary>A regular C# string literal, ASCII only, so output does not depend on file encodings (the schema's one escaper).</summary>
    public static string String(string value) => JsonText.Quote(value, asciiOnly: true);

    /// <summary>Text safe inside a "//" comment or an XML doc line: no line breaks, no control characters.</summary>
    public static string SingleLine(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (char c in text)
            sb.Append(c < 0x20 || c == '\u0085' || c == '\u2028' || c == '\u2029' ? ' ' : c);
        return sb.ToString();
    }

    /// <summary>Text safe inside an XML doc comment.</summary>
    public static string Xml(string text)
        => SingleLine(text).Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
}
