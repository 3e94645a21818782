using Spiffy.Tokenization;

namespace Spiffy.Tests.Tokenization;

public class HfTokenizerLoadTests
{
    [Fact]
    public void Load_MissingFile_NamesThePath()
    {
        using var dir = new TempDirectory();
        string path = dir.File("nope.json");
        var ex = Assert.Throws<FileNotFoundException>(() => HfTokenizer.Load(path));
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_DirectoryWithoutTokenizerJson_NamesTheDirectory()
    {
        using var dir = new TempDirectory();
        var ex = Assert.Throws<FileNotFoundException>(() => HfTokenizer.Load(dir.Path));
        Assert.Contains(dir.Path, ex.Message, StringComparison.Ordinal);
        Assert.Contains("tokenizer.json", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MalformedJson_ReportsPathLineAndPosition()
    {
        using var dir = new TempDirectory();
        string path = dir.File("tokenizer.json");
        File.WriteAllText(path, "{\n  \"model\": {\n    \"type\": \"BPE\",\n    \"vocab\": {\"a\": 0,,}\n  }\n}\n");
        var ex = Assert.Throws<TokenizerFormatException>(() => HfTokenizer.Load(path));
        Assert.Equal(4, ex.Line);
        Assert.NotNull(ex.Position);
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
        Assert.Contains("line 4", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("WordPiece")]
    [InlineData("Unigram")]
    [InlineData("WordLevel")]
    public void Load_OtherModelType_SaysWhichTypeWasFound(string type)
    {
        using var dir = new TempDirectory();
        string path = dir.File("tokenizer.json");
        File.WriteAllText(path, "{\"model\": {\"type\": \"" + type + "\", \"vocab\": {\"a\": 0}}}");
        var ex = Assert.Throws<TokenizerFormatException>(() => HfTokenizer.Load(path));
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
        Assert.Contains($"'{type}'", ex.Message, StringComparison.Ordinal);
        Assert.Null(ex.Line);
    }

    [Fact]
    public void Load_BpeWithoutByteLevel_IsRefused()
    {
        using var dir = new TempDirectory();
        string path = dir.File("tokenizer.json");
        File.WriteAllText(path, """
            {"pre_tokenizer": {"type": "Metaspace", "replacement": "▁"},
             "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}
            """);
        var ex = Assert.Throws<TokenizerFormatException>(() => HfTokenizer.Load(path));
        Assert.Contains("Metaspace", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MergeOfUnknownToken_IsAFormatError()
    {
        using var dir = new TempDirectory();
        string path = dir.File("tokenizer.json");
        File.WriteAllText(path, ByteVocabJson(extraVocab: "", merges: "\"a zz\""));
        var ex = Assert.Throws<TokenizerFormatException>(() => HfTokenizer.Load(path));
        Assert.Contains("zz", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MinimalByteLevelFile_EncodesBytesAndMerges()
    {
        using var dir = new TempDirectory();
        string path = dir.File("tokenizer.json");
        File.WriteAllText(path, ByteVocabJson(extraVocab: ", \"ab\": 256", merges: "[\"a\", \"b\"]"));
        var tok = HfTokenizer.Load(path);
        Assert.Equal(257, tok.VocabSize);
        Assert.Equal([256, 'c'], tok.Encode("abc"));
        Assert.Equal("ab", tok.IdToToken(256));
        Assert.Equal("abc é", tok.Decode(tok.Encode("abc é")));
        Assert.Throws<ArgumentOutOfRangeException>(() => tok.Decode([257]));
        Assert.Null(tok.TokenToId("zz"));
    }

    [Fact]
    public void Load_IgnoreMerges_TakesWholeVocabularyPieces()
    {
        using var dir = new TempDirectory();
        string plain = dir.File("plain.json"), ignoring = dir.File("ignoring.json");
        // "abc" is in the vocabulary but no merge builds it.
        File.WriteAllText(plain, ByteVocabJson(", \"ab\": 256, \"abc\": 257", "\"a b\""));
        File.WriteAllText(ignoring, ByteVocabJson(", \"ab\": 256, \"abc\": 257", "\"a b\"", "\"ignore_merges\": true, "));
        Assert.Equal([256, 'c'], HfTokenizer.Load(plain).Encode("abc"));
        var tok = HfTokenizer.Load(ignoring);
        Assert.Equal([257, ' ', 256, 'c', 'd'], tok.Encode("abc abcd"));
        Assert.Equal("abc abcd", tok.Decode(tok.Encode("abc abcd")));
    }

    // A file whose vocab has the 256 byte tokens with id = byte value (not GPT-2's order; any order works).
    private static string ByteVocabJson(string extraVocab, string merges, string modelOptions = "")
    {
        var entries = new List<string>();
        for (int b = 0; b < 256; b++)
        {
            string token = Spiffy.Tokenization.ByteLevelAlphabet.ToChar((byte)b).ToString();
            string escaped = token switch { "\"" => "\\\"", "\\" => "\\\\", _ => token };
            entries.Add($"\"{escaped}\": {b}");
        }
        return $$$"""
            {"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
             "decoder": {"type": "ByteLevel"},
             "model": {"type": "BPE", {{{modelOptions}}}"vocab": { {{{string.Join(", ", entries)}}}{{{extraVocab}}} }, "merges": [{{{merges}}}]}}
            """;
    }
}
