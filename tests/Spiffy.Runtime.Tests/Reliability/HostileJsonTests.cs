using System.Text;
using Spiffy.Calibration;
using Spiffy.Decoding;
using Spiffy.Schema;
using Spiffy.Schema.Graphs;
using Spiffy.Schema.Json;
using Spiffy.Schema.Models;
using Spiffy.Speculation;
using static Spiffy.Tests.Checkpoints.CheckpointTestSupport;

namespace Spiffy.Tests.Reliability;

/// <summary>
/// Hostile model descriptions and graph files (the schema parser the generator and the runtime
/// share): every case fails with errors that name the file, line and column; none is accepted, none throws.
/// </summary>
public class HostileJsonTests
{
    private static readonly string ModelText = File.ReadAllText(RealModelFile("llada"));
    private static readonly string GraphText = GraphFileWriter.ToJson(DraftGraph.Chain(3,
        new GraphDecoding(32, 8, 32, UnmaskingRule.Schedule, ConfidenceKind.Probability, 0.9, 1, 1, 0, CacheMode.None)));

    private static List<SchemaError> ParseBytes(string kind, byte[] bytes)
    {
        var errors = new List<SchemaError>();
        object? spec = kind == "model" ? ModelSpecParser.Parse(bytes, "f.json", errors) : GraphSpecParser.Parse(bytes, "f.json", errors);
        Assert.True(spec is null, "a hostile file was accepted");
        Assert.NotEmpty(errors);
        foreach (var e in errors)
        {
            Assert.True(e.Line >= 1 && e.Column >= 1, $"unlocated: {e}");
            Assert.StartsWith("f.json(", e.ToString());
        }
        return errors;
    }

    private static List<SchemaError> Parse(string kind, string text) => ParseBytes(kind, Encoding.UTF8.GetBytes(text));

    private static string Base(string kind) => kind == "model" ? ModelText : GraphText;

    /// <summary>Replaces the first occurrence of <paramref name="from"/> (which must exist).</summary>
    private static string Edit(string text, string from, string to)
    {
        int i = text.IndexOf(from, StringComparison.Ordinal);
        Assert.True(i >= 0, $"'{from}' not in the base document");
        return text[..i] + to + text[(i + from.Length)..];
    }

    private static (int Line, int Column) Where(string text, string marker)
    {
        int i = text.IndexOf(marker, StringComparison.Ordinal);
        int line = 1 + text[..i].Count(c => c == '\n');
        return (line, i - (text.LastIndexOf('\n', Math.Max(0, i - 1)) + 1) + 1);
    }

    [Theory]
    [InlineData("model")]
    [InlineData("graph")]
    public void Bom_IsAccepted_AsTextAndAsBytes(string kind)
    {
        var errors = new List<SchemaError>();
        var bytes = Encoding.UTF8.GetPreamble().Concat(Encoding.UTF8.GetBytes(Base(kind))).ToArray();
        object? spec = kind == "model" ? ModelSpecParser.Parse(bytes, "f.json", errors) : GraphSpecParser.Parse(bytes, "f.json", errors);
        Assert.Empty(errors);
        Assert.NotNull(spec);
        spec = kind == "model" ? ModelSpecParser.Parse("\uFEFF" + Base(kind), "f.json", errors)
            : GraphSpecParser.Parse("\uFEFF" + Base(kind), "f.json", errors);
        Assert.NotNull(spec);
    }

    [Theory]
    [InlineData("model")]
    [InlineData("graph")]
    public void DeepNesting_IsAMalformedJsonErrorAtTheLimit(string kind)
    {
        string text = Edit(Base(kind), "{", "{ \"deep\": " + new string('[', 100_000) + new string(']', 100_000) + ",");
        var e = Assert.Single(Parse(kind, text));
        Assert.Equal(SchemaErrorKind.MalformedJson, e.Kind);
        Assert.Contains("nesting deeper than", e.Message);
        Assert.Equal((1, 11 + JsonReader.MaxDepth - 1), (e.Line, e.Column));
    }

    [Theory]
    [InlineData("model", "\"hidden_size\": 4096", "\"hidden_size\": 1e400", "hidden_size", "1e400")]
    [InlineData("model", "\"hidden_size\": 4096", "\"hidden_size\": 99999999999999999999999", "hidden_size", "9")]
    [InlineData("model", "\"hidden_size\": 4096", "\"hidden_size\": 4294967296", "hidden_size", "4")]
    [InlineData("model", "\"rope_theta\": 500000", "\"rope_theta\": 1e400", "rope_theta", "1")]
    [InlineData("model", "\"rms_norm_eps\": 1e-5", "\"rms_norm_eps\": 1e-400", "rms_norm_eps", "1")]
    [InlineData("model", "\"num_layers\": 32", "\"num_layers\": 32.5", "num_layers", "3")]
    [InlineData("model", "\"num_layers\": 32", "\"num_layers\": \"32\"", "num_layers", "\"32")]
    [InlineData("model", "\"qkv_bias\": false", "\"qkv_bias\": 0", "qkv_bias", "0")]
    [InlineData("model", "\"attention\": { \"kind\": \"bidirectional\" }", "\"attention\": [\"bidirectional\"]", "attention", "[")]
    [InlineData("graph", "\"max_depth\": 3", "\"max_depth\": 1e400", "limits.max_depth", "1")]
    [InlineData("graph", "\"threshold\": 0.9", "\"threshold\": 1e400", "decoding.threshold", "1")]
    [InlineData("graph", "\"keep\": 0", "\"keep\": -99999999999999999999", "keep", "-")]
    [InlineData("graph", "\"pairs\": [[1, 1]]", "\"pairs\": [[1e400, 1]]", "nodes[0].pairs[0]", "[1e")]
    [InlineData("graph", "\"parents\": [0]", "\"parents\": [\"0\"]", "nodes[0].parents[0]", "\"0")]
    [InlineData("graph", "\"nodes\": [", "\"nodes\": {\"a\": 1}, \"x\": [", "nodes", "{")]
    public void HugeNumbers_AndWrongTypes_AreLocatedFieldErrors(string kind, string from, string to, string field, string at)
    {
        string text = Edit(Base(kind), from, to);
        var e = Parse(kind, text).First(x => x.Field == field);
        // The error points at the offending value: the first `at` inside the replacement.
        int i = text.IndexOf(to, StringComparison.Ordinal) + to.IndexOf(at, to.IndexOf(':'), StringComparison.Ordinal);
        Assert.Equal(Where(text[..i] + "\u0001" + text[i..], "\u0001"), (e.Line, e.Column));
    }

    [Theory]
    [InlineData("model", "\"num_layers\": 32,")]
    [InlineData("model", "\"family\": \"llada\",")]
    [InlineData("graph", "\"name\": \"uncalibrated-chain-3\",")]
    [InlineData("graph", "\"depth\": 1,")]
    public void DuplicateKeys_PointAtTheSecondKey(string kind, string key)
    {
        string text = Edit(Base(kind), key, key + " " + key.Split(':')[0] + ": 1,");
        var e = Assert.Single(Parse(kind, text));
        Assert.Equal(SchemaErrorKind.MalformedJson, e.Kind);
        Assert.Contains("duplicate key", e.Message);
        int first = text.IndexOf(key.Split(':')[0], StringComparison.Ordinal);
        int second = text.IndexOf(key.Split(':')[0], first + 1, StringComparison.Ordinal);
        Assert.Equal(Where(text[..second] + "\u0001" + text[second..], "\u0001"), (e.Line, e.Column));
    }

    public static TheoryData<string, byte[], string> InvalidUtf8() => new()
    {
        { "lone continuation", new byte[] { 0x80 }, "continuation" },
        { "overlong slash", new byte[] { 0xC0, 0xAF }, "never occurs" },
        { "overlong 3-byte", new byte[] { 0xE0, 0x80, 0xAF }, "overlong" },
        { "surrogate", new byte[] { 0xED, 0xA0, 0x80 }, "surrogate" },
        { "above U+10FFFF", new byte[] { 0xF4, 0x90, 0x80, 0x80 }, "above U+10FFFF" },
        { "cut sequence", new byte[] { 0xE2, 0x82 }, "incomplete" },
        { "0xFF", new byte[] { 0xFF }, "never occurs" },
    };

    [Theory]
    [MemberData(nameof(InvalidUtf8))]
    public void InvalidUtf8_IsAMalformedJsonErrorAtTheByte(string what, byte[] bad, string expected)
    {
        foreach (var kind in new[] { "model", "graph" })
        {
            // Inside the name string, after some multi-byte text so columns count characters, not bytes.
            string text = Edit(Base(kind), "\"name\": \"", "\"name\": \"é€𝄞\u0001");
            var bytes = Encoding.UTF8.GetBytes(text).ToList();
            int at = bytes.IndexOf(0x01);
            bytes.RemoveAt(at);
            bytes.InsertRange(at, bad);
            var e = Assert.Single(ParseBytes(kind, bytes.ToArray()));
            Assert.Equal(SchemaErrorKind.MalformedJson, e.Kind);
            Assert.Contains(expected, e.Message);
            Assert.Equal(Where(text, "\u0001"), (e.Line, e.Column));
            _ = what;
        }
        // At the very end of a file too.
        var tail = Encoding.UTF8.GetBytes(ModelText).Concat(bad).ToArray();
        Assert.Equal(SchemaErrorKind.MalformedJson, Assert.Single(ParseBytes("model", tail)).Kind);
    }

    [Theory]
    [InlineData("model")]
    [InlineData("graph")]
    public void EveryTruncation_IsALocatedErrorAndNeverAccepted(string kind)
    {
        string text = Base(kind).TrimEnd();
        for (int cut = 0; cut < text.Length; cut++) Parse(kind, text[..cut]);
    }

    [Theory]
    [InlineData("model", "\"name\": \"llada", "\"name\": \"\\ud800llada")]
    [InlineData("model", "\"name\": \"llada", "\"name\": \"\u0000llada")]
    [InlineData("model", "\"name\": \"llada", "\"name\": \"\\x41llada")]
    [InlineData("graph", "{", "{ /* comment */")]
    [InlineData("graph", "\"keep\": 0,", "\"keep\": 0,,")]
    [InlineData("graph", "\"keep\": 0,", "\"keep\": NaN,")]
    [InlineData("graph", "\"keep\": 0,", "\"keep\": 00,")]
    [InlineData("graph", "\"keep\": 0,", "'keep': 0,")]
    public void LexicalGarbage_IsAMalformedJsonError(string kind, string from, string to)
        => Assert.Equal(SchemaErrorKind.MalformedJson, Assert.Single(Parse(kind, Edit(Base(kind), from, to))).Kind);

    [Fact]
    public void TrailingContent_AndEmptyFiles_AreErrors()
    {
        Assert.Contains("after the end", Parse("model", ModelText + " {}")[0].Message);
        Assert.Contains("unexpected end", Parse("graph", "")[0].Message);
        Assert.Contains("unexpected end", Parse("graph", "\uFEFF  \n ")[0].Message);
    }
}
