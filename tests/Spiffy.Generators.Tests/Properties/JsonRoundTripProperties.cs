using System.Globalization;
using System.Text;
using CsCheck;
using Spiffy.Schema.Json;

namespace Spiffy.Generators.Tests.Properties;

/// <summary>
/// The schema JSON reader (shared by the generator and the runtime): parse(print(x)) == x for random
/// documents printed with random whitespace and escapes, and every value's line/column is where the
/// printer put it. Malformed variants are rejected with a located <see cref="JsonSyntaxException"/>.
/// </summary>
public class JsonRoundTripProperties
{
    /// <summary>A test-side JSON value; keys of an object are distinct.</summary>
    internal abstract record J;
    internal sealed record JObj(List<(string Key, J Value)> Members) : J;
    internal sealed record JArr(List<J> Items) : J;
    internal sealed record JStr(string Value) : J;
    internal sealed record JNum(string Text) : J;
    internal sealed record JLit(JsonKind Kind) : J;

    private static readonly Gen<string> Str =
        Gen.OneOf(
            Gen.Int[0x20, 0x7E], Gen.Int[0, 0x1F], Gen.Int[0x80, 0xD7FF], Gen.Int[0xE000, 0xFFFD], Gen.Int[0x10000, 0x10FFFF],
            Gen.OneOf(new[] { (int)'"', '\\', '/', 0x2028, 0xFEFF }))
        .Array[0, 12].Select(cps => string.Concat(cps.Select(char.ConvertFromUtf32)));

    /// <summary>Number literals straight from the RFC 8259 grammar, including huge and tiny ones.</summary>
    private static readonly Gen<string> NumberText =
        from neg in Gen.Bool
        from intPart in Gen.OneOf(Gen.Const("0"), Gen.Int[1, 9].SelectMany(d => Gen.Int[0, 9].Array[0, 30].Select(ds => d + string.Concat(ds))))
        from frac in Gen.OneOf(Gen.Const(""), Gen.Int[0, 9].Array[1, 20].Select(ds => "." + string.Concat(ds)))
        from exp in Gen.OneOf(Gen.Const(""), Gen.Select(Gen.OneOf(new[] { "e", "E" }), Gen.OneOf(new[] { "", "+", "-" }), Gen.Int[0, 400])
            .Select((e, s, v) => e + s + v.ToString(CultureInfo.InvariantCulture)))
        select (neg ? "-" : "") + intPart + frac + exp;

    private static readonly Gen<J> Leaf = Gen.OneOf<J>(
        Str.Select(s => (J)new JStr(s)),
        NumberText.Select(t => (J)new JNum(t)),
        Gen.Long.Select(v => (J)new JNum(v.ToString(CultureInfo.InvariantCulture))),
        Gen.Double.Where(double.IsFinite).Select(v => (J)new JNum(v.ToString("R", CultureInfo.InvariantCulture))),
        Gen.OneOf(new[] { JsonKind.True, JsonKind.False, JsonKind.Null }).Select(k => (J)new JLit(k)));

    internal static readonly Gen<J> Value = Gen.Recursive<J>((depth, self) => depth >= 5 ? Leaf : Gen.Frequency<J>(
        (3, Leaf),
        (1, self.Array[0, 5].Select(items => (J)new JArr(items.ToList()))),
        (1, Gen.Select(Str, self).Array[0, 5].Select(ms => (J)new JObj(ms.DistinctBy(m => m.Item1).ToList())))));

    /// <summary>Prints a value with whitespace picked by <paramref name="ws"/>, recording where each value starts.</summary>
    private sealed class Printer(Random ws, bool escapeAll)
    {
        private readonly StringBuilder _sb = new();
        private int _line = 1, _lineStart;
        public readonly List<(J Value, int Line, int Column)> Locations = new();

        public override string ToString() => _sb.ToString();

        private void Raw(string s)
        {
            foreach (char c in s)
            {
                _sb.Append(c);
                if (c == '\n') { _line++; _lineStart = _sb.Length; }
            }
        }

        private void Space()
        {
            int n = ws.Next(4);
            for (int i = 0; i < n; i++) Raw(ws.Next(4) switch { 0 => " ", 1 => "\t", 2 => "\n", _ => "\r\n" });
        }

        public void Print(J v)
        {
            Space();
            Locations.Add((v, _line, _sb.Length - _lineStart + 1));
            switch (v)
            {
                case JObj o:
                    Raw("{");
                    for (int i = 0; i < o.Members.Count; i++)
                    {
                        if (i > 0) Raw(",");
                        Space();
                        Raw(Quote(o.Members[i].Key));
                        Space();
                        Raw(":");
                        Print(o.Members[i].Value);
                    }
                    Space();
                    Raw("}");
                    break;
                case JArr a:
                    Raw("[");
                    for (int i = 0; i < a.Items.Count; i++)
                    {
                        if (i > 0) Raw(",");
                        Print(a.Items[i]);
                    }
                    Space();
                    Raw("]");
                    break;
                case JStr s: Raw(Quote(s.Value)); break;
                case JNum n: Raw(n.Text); break;
                case JLit l: Raw(l.Kind switch { JsonKind.True => "true", JsonKind.False => "false", _ => "null" }); break;
            }
            Space();
        }

        private string Quote(string s)
        {
            var sb = new StringBuilder("\"");
            for (int i = 0; i < s.Length; i++)
            {
                char c = s[i];
                if (char.IsHighSurrogate(c))
                {
                    // A pair is escaped whole or not at all (half an escaped pair is a lone surrogate).
                    bool escape = escapeAll || ws.Next(3) == 0;
                    foreach (char h in s.AsSpan(i, 2)) sb.Append(escape ? "\\u" + ((int)h).ToString("x4", CultureInfo.InvariantCulture) : h.ToString());
                    i++;
                    continue;
                }
                if (c == '"') sb.Append("\\\"");
                else if (c == '\\') sb.Append("\\\\");
                else if (c == '\n' && ws.Next(2) == 0) sb.Append("\\n");
                else if (c == '\t' && ws.Next(2) == 0) sb.Append("\\t");
                else if (c < 0x20 || escapeAll || (c > 0x7E && ws.Next(3) == 0))
                    sb.Append("\\u").Append(((int)c).ToString(ws.Next(2) == 0 ? "x4" : "X4", CultureInfo.InvariantCulture));
                else sb.Append(c);
            }
            return sb.Append('"').ToString();
        }
    }

    private static void AssertSame(J expected, JsonNode actual)
    {
        switch (expected)
        {
            case JObj o:
                var obj = Assert.IsType<JsonObject>(actual);
                Assert.Equal(o.Members.Count, obj.Members.Count);
                for (int i = 0; i < o.Members.Count; i++)
                {
                    Assert.Equal(o.Members[i].Key, obj.Members[i].Key);
                    AssertSame(o.Members[i].Value, obj.Members[i].Value);
                }
                break;
            case JArr a:
                var arr = Assert.IsType<JsonArray>(actual);
                Assert.Equal(a.Items.Count, arr.Items.Count);
                for (int i = 0; i < a.Items.Count; i++) AssertSame(a.Items[i], arr.Items[i]);
                break;
            case JStr s: Assert.Equal(s.Value, Assert.IsType<JsonString>(actual).Value); break;
            case JNum n:
                var num = Assert.IsType<JsonNumber>(actual);
                Assert.Equal(n.Text, num.Text);
                if (long.TryParse(n.Text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l))
                {
                    Assert.True(num.IsInteger && num.TryGetInt64(out long back) && back == l);
                }
                else Assert.Equal(double.Parse(n.Text, CultureInfo.InvariantCulture), num.AsDouble());
                break;
            case JLit lit: Assert.Equal(lit.Kind, actual.Kind); break;
        }
    }

    private static IEnumerable<JsonNode> Walk(JsonNode n)
    {
        yield return n;
        if (n is JsonObject o) foreach (var m in o.Members) foreach (var x in Walk(m.Value)) yield return x;
        if (n is JsonArray a) foreach (var i in a.Items) foreach (var x in Walk(i)) yield return x;
    }

    [Fact]
    public void ParseOfPrint_IsTheDocument_WithLocations()
    {
        Gen.Select(Value, Gen.Int, Gen.Bool, Gen.Bool).Sample((doc, seed, escapeAll, bom) =>
        {
            var printer = new Printer(new Random(seed), escapeAll);
            printer.Print(doc);
            string text = printer.ToString();
            var parsed = JsonReader.Parse(bom ? "\uFEFF" + text : text);
            AssertSame(doc, parsed);
            // Values come back in document order (pre-order) with the line/column where they were
            // printed; a byte-order mark is not a column.
            var nodes = Walk(parsed).ToList();
            Assert.Equal(printer.Locations.Count, nodes.Count);
            for (int i = 0; i < nodes.Count; i++)
                Assert.Equal((printer.Locations[i].Line, printer.Locations[i].Column), (nodes[i].Line, nodes[i].Column));
        }, iter: 2000, threads: 1);
    }

    [Fact]
    public void Truncated_OrCorruptedDocument_FailsWithALocation_NeverOtherwise()
    {
        // Cutting a document anywhere, or replacing one character, either still parses or throws
        // JsonSyntaxException with a position inside the text: no other exception, no hang.
        Gen.Select(Value, Gen.Int[0, int.MaxValue], Gen.Char, Gen.Bool).Sample((doc, at, c, cut) =>
        {
            var printer = new Printer(new Random(at), false);
            printer.Print(doc);
            string text = printer.ToString();
            if (text.Length == 0) return;
            int i = at % text.Length;
            string bad = cut ? text[..i] : text[..i] + c + text[(i + 1)..];
            try { JsonReader.Parse(bad); }
            catch (JsonSyntaxException e)
            {
                int lines = bad.Count(ch => ch == '\n') + 1;
                Assert.InRange(e.Line, 1, lines);
                Assert.True(e.Column >= 1);
                Assert.False(string.IsNullOrWhiteSpace(e.Message));
            }
        }, iter: 3000, threads: 1);
    }

    [Fact]
    public void CutContainerOrString_IsAlwaysRejected()
    {
        // A document whose value is an object, array or string, cut anywhere before its last character,
        // has lost its closing bracket or quote: it must be rejected, at a position inside the text.
        Gen.Select(Value, Gen.Int[0, int.MaxValue]).Sample((doc, at) =>
        {
            var printer = new Printer(new Random(at), false);
            printer.Print(doc);
            string text = printer.ToString().TrimEnd();
            int start = text.Length - text.TrimStart().Length;
            if (text.Length == 0 || text[start] is not ('{' or '[' or '"')) return;
            string bad = text[..(start + at % (text.Length - start))];
            var e = Assert.Throws<JsonSyntaxException>(() => JsonReader.Parse(bad));
            Assert.InRange(e.Line, 1, bad.Count(ch => ch == '\n') + 1);
        }, iter: 3000, threads: 1);
    }

    [Fact]
    public void ForeignCharacterOutsideStrings_IsAlwaysRejected_OnItsLine()
    {
        // '#', '@', a quote mark JSON does not use, or a control character may appear only inside a string:
        // inserted anywhere else, the document must be rejected, and the error must point at the line.
        Gen.Select(Value, Gen.Int[0, int.MaxValue], Gen.Int[0, 3].Select(k => "#@'\u0001"[k])).Sample((doc, at, c) =>
        {
            var printer = new Printer(new Random(at), false);
            printer.Print(doc);
            string text = printer.ToString();
            var outside = OutsideStrings(text);
            var candidates = Enumerable.Range(0, text.Length + 1).Where(i => outside[i]).ToArray();
            int i = candidates[at % candidates.Length];
            string bad = text[..i] + c + text[i..];
            var e = Assert.Throws<JsonSyntaxException>(() => JsonReader.Parse(bad));
            Assert.Equal(text[..i].Count(ch => ch == '\n') + 1, e.Line);
        }, iter: 3000, threads: 1);
    }

    /// <summary>outside[i]: a character inserted before text[i] (or at the end) would sit outside every string literal.</summary>
    private static bool[] OutsideStrings(string text)
    {
        var outside = new bool[text.Length + 1];
        bool inString = false, escaped = false;
        for (int i = 0; i < text.Length; i++)
        {
            outside[i] = !inString;
            char ch = text[i];
            if (inString)
            {
                if (escaped) escaped = false;
                else if (ch == '\\') escaped = true;
                else if (ch == '"') inString = false;
            }
            else if (ch == '"') inString = true;
        }
        outside[text.Length] = !inString;
        return outside;
    }

    [Fact]
    public void DeepNesting_IsRejectedAtTheLimit_WithoutStackOverflow()
    {
        Gen.Int[1, 200_000].Sample(depth =>
        {
            string text = new string('[', depth) + new string(']', depth);
            if (depth <= JsonReader.MaxDepth) Assert.IsType<JsonArray>(JsonReader.Parse(text));
            else
            {
                var e = Assert.Throws<JsonSyntaxException>(() => JsonReader.Parse(text));
                Assert.Equal((1, JsonReader.MaxDepth + 1), (e.Line, e.Column));
            }
        }, iter: 200, threads: 1);
    }
}
