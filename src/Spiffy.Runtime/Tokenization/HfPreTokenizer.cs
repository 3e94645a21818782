using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Spiffy.Tokenization;

/// <summary>
/// Hugging Face style pre-tokenization: added/special tokens are cut out first, then every
/// remaining stretch goes through a sequence of regex splits with the "Isolated" behaviour
/// (matches and the text between matches both become pieces, nothing is dropped). Regexes see
/// code points, as in HF, also for characters outside the BMP.
/// </summary>
internal sealed class HfPreTokenizer : PreTokenizer
{
    /// <summary>The split GPT-2 uses (HF <c>ByteLevel</c> pre-tokenizer with <c>use_regex: true</c>).</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    private const RegexOptions Options = RegexOptions.Compiled | RegexOptions.CultureInvariant;

    /// <summary>
    /// Patterns come from files, and .NET's backtracking engine (needed: HF patterns use lookarounds,
    /// which the non-backtracking engine lacks) can take exponential time on a bad one, e.g. (a|aa)+$.
    /// Real split patterns take microseconds per piece; a match running this long is a hostile or broken pattern.
    /// </summary>
    public static readonly TimeSpan MatchTimeout = TimeSpan.FromSeconds(1);

    private readonly Regex? _specials;
    private readonly Regex[] _splits;
    private readonly string _source;

    /// <param name="specialTokens">Strings recognised as whole pieces wherever they occur.</param>
    /// <param name="patterns">Split patterns as written in tokenizer.json, applied in order.</param>
    /// <exception cref="ArgumentException">A pattern is not a valid regular expression.</exception>
    /// <param name="source">The file the patterns came from, named when a pattern times out.</param>
    public HfPreTokenizer(IEnumerable<string> specialTokens, IReadOnlyList<string> patterns, string source = "pre-tokenizer")
    {
        _source = source;
        // Longest first, so a special token that is a prefix of another never wins the alternation.
        string[] specials = specialTokens.Where(s => s.Length > 0).Distinct(StringComparer.Ordinal)
            .OrderByDescending(s => s.Length).ThenBy(s => s, StringComparer.Ordinal).ToArray();
        if (specials.Length > 0)
            _specials = new Regex(string.Join("|", specials.Select(Regex.Escape)), Options, MatchTimeout);
        Patterns = patterns.ToArray();
        _splits = patterns.Select(p => new Regex(p, Options, MatchTimeout)).ToArray();
    }

    public IReadOnlyList<string> Patterns { get; }

    internal readonly record struct Piece(int Offset, int Length, bool IsSpecial);

    /// <summary>Appends the pieces of <paramref name="text"/>, in order and covering all of it.</summary>
    internal void Split(ReadOnlySpan<char> text, List<Piece> pieces)
    {
        int start = 0;
        if (_specials is not null)
        {
            foreach (ValueMatch m in _specials.EnumerateMatches(text))
            {
                SplitOrdinary(text.Slice(start, m.Index - start), start, pieces);
                pieces.Add(new Piece(m.Index, m.Length, true));
                start = m.Index + m.Length;
            }
        }
        SplitOrdinary(text[start..], start, pieces);
    }

    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) => PreTokenize(text.AsSpan());

    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text)
    {
        var pieces = new List<Piece>();
        Split(text, pieces);
        var result = new (int Offset, int Length)[pieces.Count];
        for (int i = 0; i < result.Length; i++) result[i] = (pieces[i].Offset, pieces[i].Length);
        return result;
    }

    // Splits text between special tokens; 'offset' is where 'segment' starts in the whole text.
    private void SplitOrdinary(ReadOnlySpan<char> segment, int offset, List<Piece> pieces)
    {
        if (segment.IsEmpty) return;
        if (segment.IndexOfAnyInRange('\uD800', '\uDFFF') < 0)
        {
            SplitWith(0, segment, 0, segment.Length, offset, pieces);
            return;
        }

        // HF's regexes (Oniguruma) run on code points, .NET's on UTF-16 units: a letter outside the
        // BMP would not be \p{L} here. So match on a stand-in text with one BMP character of the same
        // Unicode category per code point, then map the pieces back.
        (char[] proxy, int[] map) = CodePointProxy(segment);
        int first = pieces.Count;
        SplitWith(0, proxy, 0, proxy.Length, 0, pieces);
        for (int i = first; i < pieces.Count; i++)
        {
            int from = map[pieces[i].Offset], to = map[pieces[i].Offset + pieces[i].Length];
            pieces[i] = new Piece(offset + from, to - from, false);
        }
    }

    // Splits text[start, start+length) with regex k; every resulting piece is handed to regex k+1.
    // Pieces are reported at 'origin' + their position in 'text'.
    private void SplitWith(int k, ReadOnlySpan<char> text, int start, int length, int origin, List<Piece> pieces)
    {
        if (length == 0) return;
        if (k == _splits.Length)
        {
            pieces.Add(new Piece(origin + start, length, false));
            return;
        }

        // The slice bounds the regex, like HF: lookarounds never see past a special token.
        ReadOnlySpan<char> segment = text.Slice(start, length);
        int pos = 0;
        try
        {
            foreach (ValueMatch m in _splits[k].EnumerateMatches(segment))
            {
                if (m.Length == 0) continue;
                SplitWith(k + 1, text, start + pos, m.Index - pos, origin, pieces); // text between matches is kept ("Isolated")
                SplitWith(k + 1, text, start + m.Index, m.Length, origin, pieces);
                pos = m.Index + m.Length;
            }
        }
        catch (RegexMatchTimeoutException e) when (e.Pattern == _splits[k].ToString())
        {
            throw new TokenizerFormatException(_source,
                $"pre_tokenizer pattern /{Patterns[k]}/ took longer than {MatchTimeout.TotalSeconds:0.#} s on a piece of {segment.Length} characters "
                + $"(catastrophic backtracking); fix the pattern", inner: e);
        }
        SplitWith(k + 1, text, start + pos, length - pos, origin, pieces);
    }

    // One character per code point (a same-category BMP stand-in for each surrogate pair), and
    // map[i] = offset in 'text' of stand-in i (map[count] = text.Length).
    private static (char[] Proxy, int[] Map) CodePointProxy(ReadOnlySpan<char> text)
    {
        var proxy = new char[text.Length];
        var map = new int[text.Length + 1];
        int n = 0;
        for (int i = 0; i < text.Length; n++)
        {
            map[n] = i;
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                proxy[n] = StandIn(CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(text[i], text[i + 1])));
                i += 2;
            }
            else
            {
                proxy[n] = char.IsSurrogate(text[i]) ? StandIn(UnicodeCategory.Surrogate) : text[i];
                i++;
            }
        }
        map[n] = text.Length;
        return (proxy[..n], map);
    }

    // Non-ASCII representatives, so no stand-in can complete an ASCII literal such as 's or [0-9].
    private static char StandIn(UnicodeCategory category) => category switch
    {
        UnicodeCategory.UppercaseLetter => '\u00C0',
        UnicodeCategory.LowercaseLetter => '\u00DF',
        UnicodeCategory.TitlecaseLetter => '\u01C5',
        UnicodeCategory.ModifierLetter => '\u02B0',
        UnicodeCategory.OtherLetter => '\u00AA',
        UnicodeCategory.NonSpacingMark => '\u0300',
        UnicodeCategory.SpacingCombiningMark => '\u0903',
        UnicodeCategory.EnclosingMark => '\u20DD',
        UnicodeCategory.DecimalDigitNumber => '\u0660',
        UnicodeCategory.LetterNumber => '\u2160',
        UnicodeCategory.OtherNumber => '\u00B2',
        UnicodeCategory.Format => '\u00AD',
        UnicodeCategory.MathSymbol => '\u00B1',
        UnicodeCategory.ModifierSymbol => '\u00A8',
        UnicodeCategory.CurrencySymbol => '\u00A4',
        UnicodeCategory.OtherSymbol => '\u00A9',
        _ => '\u00A7', // punctuation, private use, unassigned, lone surrogates: "other"
    };
}
