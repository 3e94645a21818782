using System.Text.Encodings.Web;
using System.Text.Json;

namespace Spiffy.Tokenization;

/// <summary>
/// Writes a byte-level BPE in Hugging Face's tokenizer.json layout: added tokens, a Split regex
/// followed by ByteLevel(use_regex=false), a ByteLevel decoder and the BPE model. Field order and
/// formatting are fixed so that equal inputs give byte-identical files.
/// </summary>
internal static class TokenizerJsonWriter
{
    /// <summary>
    /// Writes the file; <paramref name="vocab"/> holds token strings in id order (special tokens as
    /// plain text, others byte-level), <paramref name="merges"/> "left right" in priority order.
    /// </summary>
    public static void Write(Stream stream, IReadOnlyList<string> specialTokens, IEnumerable<string> vocab, IEnumerable<string> merges,
        string splitPattern = BpeTrainer.DigitSplitPattern)
    {
        var options = new JsonWriterOptions
        {
            Indented = true,
            NewLine = "\n",
            // Keep "Ġ", "<|endoftext|>" etc. readable; the output is still strict JSON.
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        };
        using var w = new Utf8JsonWriter(stream, options);
        w.WriteStartObject();
        w.WriteString("version", "1.0");
        w.WriteNull("truncation");
        w.WriteNull("padding");

        w.WriteStartArray("added_tokens");
        for (int id = 0; id < specialTokens.Count; id++)
        {
            w.WriteStartObject();
            w.WriteNumber("id", id);
            w.WriteString("content", specialTokens[id]);
            w.WriteBoolean("single_word", false);
            w.WriteBoolean("lstrip", false);
            w.WriteBoolean("rstrip", false);
            w.WriteBoolean("normalized", false);
            w.WriteBoolean("special", true);
            w.WriteEndObject();
        }
        w.WriteEndArray();

        w.WriteNull("normalizer");
        w.WriteStartObject("pre_tokenizer");
        w.WriteString("type", "Sequence");
        w.WriteStartArray("pretokenizers");
        w.WriteStartObject();
        w.WriteString("type", "Split");
        w.WriteStartObject("pattern");
        w.WriteString("Regex", splitPattern);
        w.WriteEndObject();
        w.WriteString("behavior", "Isolated");
        w.WriteBoolean("invert", false);
        w.WriteEndObject();
        WriteByteLevel(w, null);
        w.WriteEndArray();
        w.WriteEndObject();

        w.WriteNull("post_processor");
        WriteByteLevel(w, "decoder");

        w.WriteStartObject("model");
        w.WriteString("type", "BPE");
        w.WriteNull("dropout");
        w.WriteNull("unk_token");
        w.WriteNull("continuing_subword_prefix");
        w.WriteNull("end_of_word_suffix");
        w.WriteBoolean("fuse_unk", false);
        w.WriteBoolean("byte_fallback", false);
        w.WriteBoolean("ignore_merges", false);
        w.WriteStartObject("vocab");
        int next = 0;
        foreach (string token in vocab) w.WriteNumber(token, next++);
        w.WriteEndObject();
        // "left right" strings are read by every tokenizers version (the array form needs >= 0.20).
        w.WriteStartArray("merges");
        foreach (string merge in merges) w.WriteStringValue(merge);
        w.WriteEndArray();
        w.WriteEndObject();

        w.WriteEndObject();
        w.Flush();
    }

    private static void WriteByteLevel(Utf8JsonWriter w, string? name)
    {
        if (name is null) w.WriteStartObject();
        else w.WriteStartObject(name);
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", false);
        w.WriteBoolean("use_regex", false);
        w.WriteEndObject();
    }
}
