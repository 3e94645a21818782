using System.Globalization;

namespace Spiffy.Benchmarking;

/// <summary>GSM8K's final-answer convention: the number after the last "####" (commas and a trailing period ignored).</summary>
internal static class GsmAnswer
{
    public static string? Extract(string text)
    {
        int at = text.LastIndexOf("####", StringComparison.Ordinal);
        if (at < 0) return null;
        var s = text[(at + 4)..].TrimStart();
        int end = 0;
        while (end < s.Length && (char.IsAsciiDigit(s[end]) || s[end] is ',' or '.' or '-')) end++;
        var number = s[..end].Replace(",", "", StringComparison.Ordinal).TrimEnd('.');
        if (number.Length == 0) return null;
        return decimal.TryParse(number, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var d)
            ? d.ToString(CultureInfo.InvariantCulture) : null;
    }

    public static bool Matches(string output, string reference)
    {
        var a = Extract(output);
        return a is not null && a == Extract(reference);
    }
}
