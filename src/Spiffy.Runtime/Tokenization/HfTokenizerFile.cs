using System.Text;
using System.Text.Json;

namespace Spiffy.Tokenization;

/// <summary>One entry of <c>added_tokens</c>: recognised as a unit in text, never split by BPE.</summary>
internal readonly record struct AddedToken(int Id, string Content, bool Special);

/// <summary>The parts of a Hugging Face <c>tokenizer.json</c> that a byte-level BPE needs.</summary>
internal sealed class HfTokenizerDefinition
{
    public required Dictionary<string, int> Vocab { get; init; }

    /// <summary>Merges as "left right", highest priority first.</summary>
    public required List<string> Merges { get; init; }

    public required List<AddedToken> AddedTokens { get; init; }

    /// <summary>Split regexes (HF/Oniguruma syntax) applied in order after special tokens are cut out.</summary>
    public required List<string> SplitPatterns { get; init; }

    public required List<NormalizationForm> Normalization { get; init; }

    /// <summary>HF <c>ignore_merges</c>: a piece found whole in the vocabulary is emitted as one token.</summary>
    public bool IgnoreMerges { get; init; }
}

/// <summary>
/// Reads <c>tokenizer.json</c> with System.Text.Json. Anything that would change the ids if ignored
/// (another model type, BPE dropout, byte fallback, prefix spaces, split behaviours other than
/// "Isolated") is refused with a message naming what was found, rather than silently mis-tokenising.
/// </summary>
internal sealed class HfTokenizerFile
{
    private readonly string _path;

    private HfTokenizerFile(string path) => _path = path;

    /// <summary>Real tokenizer.json files are a few megabytes (Qwen3: about 11 MB).</summary>
    public const long MaxFileBytes = 1L << 30;

    public static HfTokenizerDefinition Read(string path)
    {
        var reader = new HfTokenizerFile(path);
        // Before opening: a FIFO or device would block or stream; a huge file would be parsed whole.
        Spiffy.Files.InputFile.Size(path, MaxFileBytes, out var problem);
        if (problem is not null) throw new TokenizerFormatException(path, problem);
        byte[] bytes;
        try { bytes = Spiffy.Files.InputFile.ReadAllBytes(path, MaxFileBytes, "tokenizer"); }
        catch (InvalidDataException e) { throw new TokenizerFormatException(path, e.Message); }
        // Checked up front: JsonDocument would throw InvalidOperationException only when a bad string is read.
        if (Spiffy.Files.InputFile.Utf8Problem(bytes, out int badLine, out int badColumn) is string bad)
            throw new TokenizerFormatException(path, $"not valid UTF-8: {bad}", badLine, badColumn);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(Spiffy.Files.InputFile.WithoutBom(bytes), new JsonDocumentOptions { MaxDepth = 256, AllowDuplicateProperties = false });
        }
        catch (JsonException ex)
        {
            long? line = ex.LineNumber + 1, position = ex.BytePositionInLine + 1;
            string message = ex.Message;
            int cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
            if (cut > 0) message = message[..cut];
            string where = line is null ? "" : $" at line {line}, position {position}";
            throw new TokenizerFormatException(path, $"malformed JSON{where}: {message}", line, position, ex);
        }

        using (doc)
        {
            return reader.ReadRoot(doc.RootElement);
        }
    }

    private HfTokenizerDefinition ReadRoot(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) throw Fail("the top level must be a JSON object");
        JsonElement model = Property(root, "model") ?? throw Fail("no \"model\" section");
        if (model.ValueKind != JsonValueKind.Object) throw Fail("\"model\" must be an object");

        // Older files omit model.type; their merges give a BPE away.
        string type = OptionalString(model, "type", "model.type") ?? (Property(model, "merges") is null ? "(none)" : "BPE");
        if (type != "BPE")
        {
            throw Fail($"unsupported tokenizer model type '{type}': only byte-level BPE (GPT-2, Qwen2/Qwen3, LLaDA style) is supported");
        }

        if (Property(model, "dropout") is { } dropout && !(dropout.ValueKind == JsonValueKind.Number && dropout.GetDouble() == 0))
            throw Fail("unsupported BPE option: model.dropout is set (BPE dropout makes encoding random)");
        if (OptionalBool(model, "byte_fallback", "model.byte_fallback") == true)
            throw Fail("unsupported BPE option: model.byte_fallback is true (SentencePiece-style BPE, not byte-level)");
        foreach (string affix in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
        {
            if (OptionalString(model, affix, "model." + affix) is { Length: > 0 } value)
                throw Fail($"unsupported BPE option: model.{affix} is \"{value}\" (byte-level BPE uses none)");
        }

        var def = new HfTokenizerDefinition
        {
            Vocab = ReadVocab(model),
            Merges = ReadMerges(model),
            AddedTokens = ReadAddedTokens(root),
            SplitPatterns = [],
            Normalization = [],
            IgnoreMerges = OptionalBool(model, "ignore_merges", "model.ignore_merges") ?? false,
        };

        if (Property(root, "normalizer") is { } normalizer) ReadNormalizer(normalizer, def.Normalization);

        bool byteLevel = false;
        if (Property(root, "pre_tokenizer") is { } pre) byteLevel |= ReadPreTokenizer(pre, def.SplitPatterns);
        if (Property(root, "decoder") is { } decoder) byteLevel |= ReadDecoder(decoder);
        if (!byteLevel)
            throw Fail("not a byte-level BPE: neither the pre_tokenizer nor the decoder is of type ByteLevel");
        return def;
    }

    private Dictionary<string, int> ReadVocab(JsonElement model)
    {
        JsonElement vocab = Property(model, "vocab") ?? throw Fail("model.vocab is missing");
        if (vocab.ValueKind != JsonValueKind.Object) throw Fail("model.vocab must be an object of token -> id");
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (JsonProperty entry in vocab.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out int id) || id < 0)
                throw Fail($"model.vocab[\"{entry.Name}\"] must be a non-negative integer id");
            if (!result.TryAdd(entry.Name, id)) throw Fail($"model.vocab lists \"{entry.Name}\" twice");
        }
        if (result.Count == 0) throw Fail("model.vocab is empty");
        return result;
    }

    private List<string> ReadMerges(JsonElement model)
    {
        var result = new List<string>();
        if (Property(model, "merges") is not { } merges) return result;
        if (merges.ValueKind != JsonValueKind.Array) throw Fail("model.merges must be an array");
        int index = 0;
        foreach (JsonElement merge in merges.EnumerateArray())
        {
            // Two spellings exist: "a b" (tokenizers < 0.20) and ["a", "b"] (newer).
            string? left = null, right = null;
            if (merge.ValueKind == JsonValueKind.String)
            {
                string[] parts = merge.GetString()!.Split(' ');
                if (parts.Length == 2) (left, right) = (parts[0], parts[1]);
            }
            else if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2
                     && merge[0].ValueKind == JsonValueKind.String && merge[1].ValueKind == JsonValueKind.String)
            {
                (left, right) = (merge[0].GetString()!, merge[1].GetString()!);
            }
            if (left is null || right is null || left.Length == 0 || right.Length == 0)
                throw Fail($"model.merges[{index}] must be \"left right\" or [\"left\", \"right\"]");
            if (left.Contains(' ') || right.Contains(' '))
                throw Fail($"model.merges[{index}] has a token with a space, which byte-level BPE never produces");
            result.Add(left + " " + right);
            index++;
        }
        return result;
    }

    private List<AddedToken> ReadAddedTokens(JsonElement root)
    {
        var result = new List<AddedToken>();
        if (Property(root, "added_tokens") is not { } added) return result;
        if (added.ValueKind != JsonValueKind.Array) throw Fail("added_tokens must be an array");
        int index = 0;
        foreach (JsonElement token in added.EnumerateArray())
        {
            string where = $"added_tokens[{index++}]";
            if (token.ValueKind != JsonValueKind.Object) throw Fail($"{where} must be an object");
            if (Property(token, "id") is not { ValueKind: JsonValueKind.Number } idElement || !idElement.TryGetInt32(out int id) || id < 0)
                throw Fail($"{where}.id must be a non-negative integer");
            string content = OptionalString(token, "content", where + ".content") ?? "";
            if (content.Length == 0) throw Fail($"{where}.content must be a non-empty string");
            result.Add(new AddedToken(id, content, OptionalBool(token, "special", where + ".special") ?? false));
        }
        return result;
    }

    private void ReadNormalizer(JsonElement normalizer, List<NormalizationForm> forms)
    {
        string type = TypeOf(normalizer, "normalizer");
        switch (type)
        {
            case "NFC": forms.Add(NormalizationForm.FormC); break;
            case "NFD": forms.Add(NormalizationForm.FormD); break;
            case "NFKC": forms.Add(NormalizationForm.FormKC); break;
            case "NFKD": forms.Add(NormalizationForm.FormKD); break;
            case "Sequence":
                foreach (JsonElement inner in ArrayOf(normalizer, "normalizers", "normalizer.normalizers"))
                    ReadNormalizer(inner, forms);
                break;
            default:
                throw Fail($"unsupported normalizer type '{type}' (supported: NFC, NFD, NFKC, NFKD, Sequence)");
        }
    }

    // Returns true when a ByteLevel step was seen.
    private bool ReadPreTokenizer(JsonElement pre, List<string> patterns)
    {
        string type = TypeOf(pre, "pre_tokenizer");
        switch (type)
        {
            case "ByteLevel":
                if (OptionalBool(pre, "add_prefix_space", "pre_tokenizer.add_prefix_space") == true)
                    throw Fail("unsupported pre_tokenizer option: ByteLevel.add_prefix_space is true");
                if (OptionalBool(pre, "use_regex", "pre_tokenizer.use_regex") ?? true) patterns.Add(HfPreTokenizer.Gpt2Pattern);
                return true;
            case "Split":
                patterns.Add(ReadSplit(pre));
                return false;
            case "Digits":
                patterns.Add(OptionalBool(pre, "individual_digits", "pre_tokenizer.individual_digits") == true ? @"\p{N}" : @"\p{N}+");
                return false;
            case "Sequence":
                bool any = false;
                foreach (JsonElement inner in ArrayOf(pre, "pretokenizers", "pre_tokenizer.pretokenizers"))
                    any |= ReadPreTokenizer(inner, patterns);
                return any;
            default:
                throw Fail($"unsupported pre_tokenizer type '{type}' (supported: ByteLevel, Split, Digits, Sequence)");
        }
    }

    private string ReadSplit(JsonElement split)
    {
        string behavior = OptionalString(split, "behavior", "pre_tokenizer.behavior") ?? "Isolated";
        if (behavior != "Isolated")
            throw Fail($"unsupported pre_tokenizer Split behavior '{behavior}' (supported: Isolated)");
        if (OptionalBool(split, "invert", "pre_tokenizer.invert") == true)
            throw Fail("unsupported pre_tokenizer Split option: invert is true");
        if (Property(split, "pattern") is { ValueKind: JsonValueKind.Object } pattern)
        {
            if (OptionalString(pattern, "Regex", "pre_tokenizer.pattern.Regex") is { } regex) return regex;
            if (OptionalString(pattern, "String", "pre_tokenizer.pattern.String") is { } literal)
                return System.Text.RegularExpressions.Regex.Escape(literal);
        }
        throw Fail("pre_tokenizer Split needs a pattern {\"Regex\": ...} or {\"String\": ...}");
    }

    private bool ReadDecoder(JsonElement decoder)
    {
        string type = TypeOf(decoder, "decoder");
        if (type == "ByteLevel") return true;
        if (type == "Sequence")
        {
            bool any = false;
            foreach (JsonElement inner in ArrayOf(decoder, "decoders", "decoder.decoders")) any |= ReadDecoder(inner);
            return any;
        }
        throw Fail($"unsupported decoder type '{type}' (a byte-level BPE decodes with ByteLevel)");
    }

    private string TypeOf(JsonElement element, string where)
    {
        if (element.ValueKind != JsonValueKind.Object) throw Fail($"{where} must be an object or null");
        return OptionalString(element, "type", where + ".type") ?? throw Fail($"{where} has no \"type\"");
    }

    private JsonElement.ArrayEnumerator ArrayOf(JsonElement element, string name, string where)
    {
        if (Property(element, name) is { ValueKind: JsonValueKind.Array } array) return array.EnumerateArray();
        throw Fail($"{where} must be an array");
    }

    // A property that is absent or JSON null reads as null.
    private static JsonElement? Property(JsonElement obj, string name)
        => obj.TryGetProperty(name, out JsonElement value) && value.ValueKind != JsonValueKind.Null ? value : null;

    private string? OptionalString(JsonElement obj, string name, string where)
    {
        if (Property(obj, name) is not { } value) return null;
        if (value.ValueKind != JsonValueKind.String) throw Fail($"{where} must be a string");
        return value.GetString();
    }

    private bool? OptionalBool(JsonElement obj, string name, string where)
    {
        if (Property(obj, name) is not { } value) return null;
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Fail($"{where} must be true or false"),
        };
    }

    private TokenizerFormatException Fail(string problem) => new(_path, problem);
}
