using System.Text.Json;
using Spiffy.Tokenization;

namespace Spiffy.Tests.Tokenization;

public class BpeTrainerTests
{
    private static readonly string[] Specials = ["<|endoftext|>", "<|mask|>", "<|pad|>"];

    private static readonly string[] RoundTripTexts =
    [
        "",
        "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 72",
        "<<48/2=24>>",
        "#### 72",
        "line one\nline two\r\n\n\n  indented\ttab   trailing   \n",
        "naïve café Zürich straße 中文 日本語 한국어 Привет مرحبا",
        "emoji 😀👍🏽 👨‍👩‍👧 🚀launch and ⅔ ² ½",
        "never seen: Ω≈ç√∫˜µ≤≥÷ \u0001\u007f \u00a0nbsp",
        "special <|endoftext|> inside<|mask|>text<|pad|>",
        "It's they'll we've I'm DON'T 'quoted' 3.14159 $1,234.56 -42 1e10",
        "    ",
        "\n",
    ];

    [Fact]
    public void Train_IsDeterministic_ByteIdenticalFiles()
    {
        using var dir = new TempDirectory();
        var corpus = TokenizationTestSupport.ArithmeticCorpus(400, seed: 7);
        BpeTrainer.Train(corpus, 600, Specials, dir.File("a.json"));
        BpeTrainer.Train(corpus, 600, Specials, dir.File("b.json"));
        Assert.Equal(File.ReadAllBytes(dir.File("a.json")), File.ReadAllBytes(dir.File("b.json")));
    }

    [Fact]
    public void Trained_Tokenizer_RoundTripsExactly()
    {
        using var dir = new TempDirectory();
        string path = dir.File("tokenizer.json");
        BpeTrainer.Train(TokenizationTestSupport.ArithmeticCorpus(400, seed: 1), 700, Specials, path);
        var tok = HfTokenizer.Load(path);
        foreach (string text in RoundTripTexts)
        {
            Assert.Equal(text, tok.Decode(tok.Encode(text)));
        }
        foreach (string problem in TokenizationTestSupport.ArithmeticCorpus(50, seed: 99))
        {
            Assert.Equal(problem, tok.Decode(tok.Encode(problem)));
        }
    }

    [Fact]
    public void Trained_Tokenizer_SpellsEveryDigitAsItsOwnToken()
    {
        using var dir = new TempDirectory();
        string path = dir.File("tokenizer.json");
        // Numbers repeat a lot in this corpus, so a digit-merging split would certainly merge them.
        BpeTrainer.Train(TokenizationTestSupport.ArithmeticCorpus(600, seed: 3), 800, Specials, path);
        var tok = HfTokenizer.Load(path);

        string text = "Natalia sold 48/2 = <<48/2=24>>24 clips.\n#### 72 and 1234567890 or 100 000.";
        int[] ids = tok.Encode(text);
        int digits = 0;
        foreach (int id in ids)
        {
            string piece = tok.Decode([id]);
            if (piece.Any(char.IsAsciiDigit))
            {
                Assert.True(piece.Length == 1, $"token {id} \"{piece}\" holds a digit but is not a single digit");
                digits++;
            }
        }
        Assert.Equal(text.Count(char.IsAsciiDigit), digits);
        for (char c = '0'; c <= '9'; c++)
        {
            Assert.Equal([tok.TokenToId(c.ToString())!.Value], tok.Encode(c.ToString()));
        }
    }

    [Fact]
    public void Trained_Tokenizer_SpecialTokensGetFirstIds_ThenBytes()
    {
        using var dir = new TempDirectory();
        string path = dir.File("tokenizer.json");
        BpeTrainingSummary summary = BpeTrainer.Train(TokenizationTestSupport.ArithmeticCorpus(300, seed: 5), 500, Specials, path);
        var tok = HfTokenizer.Load(path);

        for (int i = 0; i < Specials.Length; i++)
        {
            Assert.Equal(i, tok.TokenToId(Specials[i]));
            Assert.Equal(i, tok.SpecialTokens[Specials[i]]);
            Assert.Contains(i, tok.SpecialTokenIds);
        }
        Assert.Equal([1, 0, 2], tok.Encode("<|mask|><|endoftext|><|pad|>"));
        Assert.Equal(Specials.Length + 'A', tok.TokenToId("A"));
        Assert.Equal(Specials.Length + ' ', tok.TokenToId("Ġ")); // byte-level spelling of the space byte
        Assert.Equal(500, summary.VocabSize);
        Assert.Equal(summary.VocabSize, tok.VocabSize);
        Assert.Equal(summary.VocabSize - Specials.Length - 256, summary.MergeCount);
        Assert.Equal("a b", tok.Decode(tok.Encode("a<|pad|> b"), tok.SpecialTokenIds));

        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(path));
        JsonElement root = doc.RootElement;
        Assert.Equal("BPE", root.GetProperty("model").GetProperty("type").GetString());
        JsonElement steps = root.GetProperty("pre_tokenizer").GetProperty("pretokenizers");
        Assert.Equal("Split", steps[0].GetProperty("type").GetString());
        Assert.Equal(BpeTrainer.DigitSplitPattern, steps[0].GetProperty("pattern").GetProperty("Regex").GetString());
        Assert.Equal("ByteLevel", steps[1].GetProperty("type").GetString());
        Assert.False(steps[1].GetProperty("use_regex").GetBoolean());
        Assert.Equal("ByteLevel", root.GetProperty("decoder").GetProperty("type").GetString());
        Assert.Equal(Specials.Length, root.GetProperty("added_tokens").GetArrayLength());
    }

    [Fact]
    public void Train_WritesAtomically_ReplacingTheFileAndLeavingNoTempFile()
    {
        using var dir = new TempDirectory();
        string path = dir.File("tokenizer.json");
        File.WriteAllText(path, "old contents");
        BpeTrainer.Train(TokenizationTestSupport.ArithmeticCorpus(100, seed: 2), 400, Specials, path);
        Assert.Equal([path], Directory.GetFiles(dir.Path));
        Assert.StartsWith("{", File.ReadAllText(path), StringComparison.Ordinal);

        string nested = Path.Combine(dir.Path, "ckpt", "tokenizer.json");
        BpeTrainer.Train(TokenizationTestSupport.ArithmeticCorpus(100, seed: 2), 400, Specials, nested);
        Assert.Equal([nested], Directory.GetFiles(Path.GetDirectoryName(nested)!));
        // A checkpoint directory loads through the tokenizer.json inside it.
        Assert.Equal(400, HfTokenizer.Load(Path.GetDirectoryName(nested)!).VocabSize);
    }

    [Fact]
    public void Train_RejectsBadArguments()
    {
        using var dir = new TempDirectory();
        string path = dir.File("tokenizer.json");
        Assert.Throws<ArgumentOutOfRangeException>(() => BpeTrainer.Train(["abc"], 258, Specials, path));
        Assert.Throws<ArgumentException>(() => BpeTrainer.Train(["abc"], 400, ["<a>", "<a>"], path));
        Assert.Throws<ArgumentException>(() => BpeTrainer.Train(["abc"], 400, ["x"], path));
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void Train_GsmSizedCorpus_RoundTripsEveryProblem()
    {
        // ~7000 problems (about the GSM8K train split), vocab 4000: the size the shipped tokenizer was trained at.
        // How long it takes is measured by the microbenchmarks, not asserted here.
        using var dir = new TempDirectory();
        var corpus = TokenizationTestSupport.ArithmeticCorpus(7000, seed: 11);
        BpeTrainingSummary summary = BpeTrainer.Train(corpus, 4000, Specials, dir.File("tokenizer.json"));
        Assert.True(summary.VocabSize <= 4000);
        var tok = HfTokenizer.Load(dir.File("tokenizer.json"));
        foreach (var text in corpus.Take(200)) Assert.Equal(text, tok.Decode(tok.Encode(text)));
    }
}
