using Spiffy.Tokenization;

namespace Spiffy.Tests.Tokenization;

public class PreTokenizerAndTemplateTests
{
    private const string QwenPattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private static string[] Pieces(HfPreTokenizer pre, string text)
        => pre.PreTokenize(text).Select(p => text.Substring(p.Offset, p.Length)).ToArray();

    [Fact]
    public void Split_KeepsTextBetweenMatches_AndCutsSpecialTokensFirst()
    {
        var pre = new HfPreTokenizer(["<s>", "<sep>"], ["a"]);
        Assert.Equal(["x", "a", "yy", "<sep>", "a", "<s>", "z"], Pieces(pre, "xayy<sep>a<s>z"));
    }

    [Fact]
    public void Split_SequenceAppliesEachPatternToThePreviousPieces()
    {
        var pre = new HfPreTokenizer([], [@"\s+", @"\p{N}"]);
        Assert.Equal(["ab", "1", "2", " ", "c"], Pieces(pre, "ab12 c"));
    }

    [Fact]
    public void Split_SurrogatePairsCountAsOneCharacter_LikeHuggingFace()
    {
        // Oniguruma sees one code point, so the emoji is the optional prefix of the letter run.
        var pre = new HfPreTokenizer([], [QwenPattern]);
        Assert.Equal(["😀abc", " ", "1", "2"], Pieces(pre, "😀abc 12"));
        Assert.Equal(["Hi", "!!\n", "👍🏽"], Pieces(pre, "Hi!!\n👍🏽"));
    }

    [Fact]
    public void Split_LettersAndDigitsOutsideTheBmp_AreLettersAndDigits()
    {
        var gpt2 = new HfPreTokenizer([], [HfPreTokenizer.Gpt2Pattern]);
        Assert.Equal(["a𠀀b", " 𝔘𝔫𝔦", " 𝟘𝟙", " 😀!"], Pieces(gpt2, "a𠀀b 𝔘𝔫𝔦 𝟘𝟙 😀!"));
        var qwen = new HfPreTokenizer(["<|x|>"], [QwenPattern]);
        Assert.Equal(["𝟘", "𝟙", "<|x|>", "𝔘"], Pieces(qwen, "𝟘𝟙<|x|>𝔘"));
        // A lone surrogate counts as "other" (here the optional prefix of a letter run) and is kept.
        Assert.Equal(["ab", "\ud800c"], Pieces(qwen, "ab\ud800c"));
    }

    [Fact]
    public void TrainerPattern_SplitsDigitsAndKeepsGpt2Words()
    {
        var pre = new HfPreTokenizer(["<|endoftext|>"], [BpeTrainer.DigitSplitPattern]);
        Assert.Equal(["<<", "4", "8", "/", "2", "=", "2", "4", ">>", "2", "4", " clips", "."], Pieces(pre, "<<48/2=24>>24 clips."));
        Assert.Equal(["####", " ", "7", "2", "<|endoftext|>"], Pieces(pre, "#### 72<|endoftext|>"));
        Assert.Equal(["It", "'s", " ok", "\n\n "], Pieces(pre, "It's ok\n\n "));
    }

    [Fact]
    public void ChatTemplates_MatchTheModelsFormats()
    {
        Assert.Equal("hi", ChatTemplate.Apply("none", "hi"));
        Assert.Equal(
            "<|startoftext|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            ChatTemplate.Apply("llada", "hi"));
        Assert.Equal(
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
            ChatTemplate.Apply("qwen", "hi"));
        var ex = Assert.Throws<ArgumentException>(() => ChatTemplate.Apply("llama", "hi"));
        Assert.Contains("'llama'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("none, llada, qwen", ex.Message, StringComparison.Ordinal);
    }
}
