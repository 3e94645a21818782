using System.Runtime.InteropServices;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace Spiffy.Tokenization;

/// <summary>
/// A byte-level BPE tokenizer read from a Hugging Face <c>tokenizer.json</c> (GPT-2, Qwen2/Qwen3,
/// LLaDA style), encoding through Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/>.
/// Encode adds no BOS/EOS (the file's post_processor is not applied); chat templates do that.
/// </summary>
public sealed class HfTokenizer
{
    private const string FileName = "tokenizer.json";
    private const int MaxVocabSize = 1 << 24;

    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<string, int> _added;
    private readonly string?[] _idToToken;
    private readonly byte[]?[] _idToBytes;
    private readonly HfPreTokenizer _preTokenizer;
    private readonly Normalizer? _normalizer;
    private readonly bool _ignoreMerges;

    private HfTokenizer(string path, HfTokenizerDefinition def)
    {
        SourcePath = path;
        _vocab = def.Vocab;
        _ignoreMerges = def.IgnoreMerges;

        int maxId = def.Vocab.Values.Max();
        foreach (AddedToken t in def.AddedTokens) maxId = Math.Max(maxId, t.Id);
        // Tables are indexed by id; a stray huge id would otherwise allocate gigabytes.
        if (maxId >= MaxVocabSize)
            throw new TokenizerFormatException(path, $"token id {maxId} is out of range (ids must be below {MaxVocabSize})");
        VocabSize = maxId + 1;
        _idToToken = new string?[VocabSize];
        _idToBytes = new byte[]?[VocabSize];

        var scratch = new List<byte>(64);
        foreach ((string token, int id) in def.Vocab)
        {
            if (_idToToken[id] is { } other)
                throw new TokenizerFormatException(path, $"model.vocab gives id {id} to both \"{other}\" and \"{token}\"");
            _idToToken[id] = token;
            scratch.Clear();
            // HF's ByteLevel decoder keeps a token with non-byte-level characters as its own text.
            _idToBytes[id] = ByteLevelAlphabet.TryAppendBytes(token, scratch) ? scratch.ToArray() : Encoding.UTF8.GetBytes(token);
        }

        _added = new Dictionary<string, int>(StringComparer.Ordinal);
        var specialIds = new HashSet<int>();
        var addedIds = new HashSet<int>();
        foreach (AddedToken t in def.AddedTokens)
        {
            if (!_added.TryAdd(t.Content, t.Id))
                throw new TokenizerFormatException(path, $"added_tokens lists \"{t.Content}\" twice");
            if (!addedIds.Add(t.Id))
                throw new TokenizerFormatException(path, $"added_tokens gives id {t.Id} to two tokens");
            if (_idToToken[t.Id] is { } existing && existing != t.Content)
                throw new TokenizerFormatException(path, $"added token \"{t.Content}\" has id {t.Id}, which model.vocab gives to \"{existing}\"");
            _idToToken[t.Id] = t.Content;
            _idToBytes[t.Id] = Encoding.UTF8.GetBytes(t.Content); // added tokens are stored as plain text
            if (t.Special) specialIds.Add(t.Id);
        }
        SpecialTokens = _added;
        SpecialTokenIds = specialIds;

        // Without a symbol for some byte, text containing it would silently lose that byte.
        for (int b = 0; b < 256; b++)
        {
            if (ByteLevelAlphabet.OccursInUtf8(b) && !_vocab.ContainsKey(ByteLevelAlphabet.ToChar((byte)b).ToString()))
                throw new TokenizerFormatException(path,
                    $"model.vocab has no byte-level token for byte 0x{b:X2} (\"{ByteLevelAlphabet.ToChar((byte)b)}\"); text "
                    + $"containing it could not be encoded");
        }

        try
        {
            _preTokenizer = new HfPreTokenizer(_added.Keys, def.SplitPatterns, path);
        }
        catch (ArgumentException ex)
        {
            throw new TokenizerFormatException(path, $"pre_tokenizer pattern is not a valid regular expression: {ex.Message}", inner: ex);
        }
        _normalizer = def.Normalization.Count > 0 ? new UnicodeFormNormalizer(def.Normalization) : null;
        var warnings = new List<string>();
        if (_normalizer is not null && "e\u0301".Normalize(NormalizationForm.FormC) != "\u00E9")
        {
            // InvariantGlobalization makes string.Normalize a no-op; there is no other normalizer to use.
            string forms = string.Join("+", def.Normalization.Select(f => f.ToString().Replace("Form", "NF", StringComparison.Ordinal)));
            warnings.Add($"normalizer {forms} is not applied (string.Normalize is a no-op under InvariantGlobalization): " +
                         "text not already in that form may get other ids than Hugging Face gives");
        }
        Warnings = warnings;

        try
        {
            Inner = BpeTokenizer.Create(new BpeOptions(def.Vocab)
            {
                Merges = def.Merges,
                ByteLevel = true,
                SpecialTokens = _added.Count > 0 ? _added : null,
                PreTokenizer = _preTokenizer,
                Normalizer = _normalizer,
            });
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
        {
            throw new TokenizerFormatException(path, $"invalid BPE model: {ex.Message}", inner: ex);
        }
    }

    /// <summary>The underlying Microsoft.ML.Tokenizers tokenizer (ByteLevel BPE with this file's splits).</summary>
    internal BpeTokenizer Inner { get; }

    /// <summary>Full path of the tokenizer.json that was read.</summary>
    public string SourcePath { get; }

    /// <summary>One more than the largest id, counting added tokens (HF's <c>len(tokenizer)</c>).</summary>
    public int VocabSize { get; }

    /// <summary>
    /// Every added token (content -> id). Encode recognises each of them as a unit wherever it
    /// appears in text, whether or not the file marks it "special".
    /// </summary>
    public IReadOnlyDictionary<string, int> SpecialTokens { get; }

    /// <summary>Ids of the added tokens marked "special": true (what HF's skip_special_tokens drops).</summary>
    public IReadOnlySet<int> SpecialTokenIds { get; }

    /// <summary>Known ways this tokenizer may differ from Hugging Face's in this process; empty when none.</summary>
    public IReadOnlyList<string> Warnings { get; }

    /// <summary>Patterns (HF syntax) the pre-tokenizer splits with, in order.</summary>
    internal IReadOnlyList<string> SplitPatterns => _preTokenizer.Patterns;

    /// <summary>
    /// Loads <c>tokenizer.json</c>, or <c>tokenizer.json</c> inside the given (checkpoint) directory.
    /// </summary>
    /// <exception cref="FileNotFoundException">No such file, or the directory has no tokenizer.json.</exception>
    /// <exception cref="TokenizerFormatException">Malformed JSON (with line and position) or an unsupported tokenizer.</exception>
    public static HfTokenizer Load(string pathToTokenizerJsonOrDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(pathToTokenizerJsonOrDirectory);
        string path = Path.GetFullPath(pathToTokenizerJsonOrDirectory);
        if (Directory.Exists(path))
        {
            string inside = Path.Combine(path, FileName);
            if (!File.Exists(inside))
                throw new FileNotFoundException($"tokenizer not found: directory {path} has no {FileName}", inside);
            path = inside;
        }
        else if (!File.Exists(path))
        {
            throw new FileNotFoundException($"tokenizer not found: {path} does not exist", path);
        }
        return new HfTokenizer(path, HfTokenizerFile.Read(path));
    }

    /// <summary>Token ids of <paramref name="text"/>; added/special tokens written in the text map to their ids.</summary>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!_ignoreMerges) return [.. Inner.EncodeToIds(text)];

        // ignore_merges: a piece that is a vocabulary entry as a whole skips the merge loop.
        string normalized = _normalizer?.Normalize(text) ?? text;
        var pieces = new List<HfPreTokenizer.Piece>();
        _preTokenizer.Split(normalized, pieces);
        var ids = new List<int>(normalized.Length / 3 + 4);
        foreach (HfPreTokenizer.Piece piece in pieces)
        {
            string s = normalized.Substring(piece.Offset, piece.Length);
            if (piece.IsSpecial) ids.Add(_added[s]);
            else if (_vocab.TryGetValue(ByteLevelAlphabet.FromText(s), out int whole)) ids.Add(whole);
            else ids.AddRange(Inner.EncodeToIds(s, considerPreTokenization: false, considerNormalization: false));
        }
        return [.. ids];
    }

    /// <summary>Text of <paramref name="ids"/>, special tokens included (invalid UTF-8 becomes U+FFFD).</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id has no token.</exception>
    public string Decode(ReadOnlySpan<int> ids) => Decode(ids, null);

    /// <summary>Text of <paramref name="ids"/>, leaving out every id in <paramref name="skipIds"/>
    /// (pass <see cref="SpecialTokenIds"/> to drop special tokens).</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id (not skipped) has no token.</exception>
    public string Decode(ReadOnlySpan<int> ids, IReadOnlySet<int>? skipIds)
    {
        // Bytes first, text last: one character may be spread over several tokens.
        var bytes = new List<byte>(ids.Length * 4);
        foreach (int id in ids)
        {
            if (skipIds is not null && skipIds.Contains(id)) continue;
            byte[] tokenBytes = (uint)id < (uint)_idToBytes.Length ? _idToBytes[id] ?? Unknown(id) : Unknown(id);
            bytes.AddRange(tokenBytes);
        }
        return Encoding.UTF8.GetString(CollectionsMarshal.AsSpan(bytes));
    }

    /// <summary>The id of a token as spelled in the file (added token text, or byte-level vocab form such as "Ġthe").</summary>
    public int? TokenToId(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (_added.TryGetValue(token, out int id) || _vocab.TryGetValue(token, out id)) return id;
        return null;
    }

    /// <summary>The token spelled as in the file, or null for an unused id.</summary>
    public string? IdToToken(int id) => (uint)id < (uint)_idToToken.Length ? _idToToken[id] : null;

    private byte[] Unknown(int id)
        => throw new ArgumentOutOfRangeException("ids", id, $"token id {id} is not in the vocabulary of {SourcePath} (size {VocabSize})");

    /// <summary>HF's NFC/NFD/NFKC/NFKD normalizers (and sequences of them).</summary>
    private sealed class UnicodeFormNormalizer(IReadOnlyList<NormalizationForm> forms) : Normalizer
    {
        public override string Normalize(string original)
        {
            string text = original;
            foreach (NormalizationForm form in forms)
            {
                // ASCII is invariant under every form; skip the work for the common case.
                if (System.Text.Ascii.IsValid(text)) break;
                text = text.Normalize(form);
            }
            return text;
        }

        public override string Normalize(ReadOnlySpan<char> original) => Normalize(original.ToString());
    }
}
