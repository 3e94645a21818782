using System.Globalization;
using System.Text;

namespace Spiffy.Schema.Json;

/// <summary>The one string escaper for text the project writes by hand: graph files and generated C#.</summary>
internal static class JsonText
{
    /// <summary>
    /// A JSON string literal: quotes, backslashes and control characters escaped. With
    /// <paramref name="asciiOnly"/> every character outside printable ASCII is escaped as <c>\uXXXX</c>
    /// too, which makes the literal a valid C# regular string literal as well (the generator's use:
    /// output then does not depend on file encodings).
    /// </summary>
    public static string Quote(string value, bool asciiOnly = false)
    {
        var sb = new StringBuilder(value.Length + 2).Append('"');
        foreach (char c in value)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < 0x20 || (asciiOnly && c > 0x7E)) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }
}
