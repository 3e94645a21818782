using System.Runtime.InteropServices;
using System.Text;

namespace Spiffy.Tokenization;

/// <summary>What a <see cref="BpeTrainer"/> run produced.</summary>
/// <param name="VocabSize">Tokens written: special + 256 byte tokens + merged tokens.</param>
/// <param name="MergeCount">Entries in model.merges.</param>
/// <param name="DistinctWords">Distinct pre-tokenized pieces in the corpus.</param>
/// <param name="TotalWords">Pre-tokenized pieces in the corpus, special tokens not counted.</param>
internal sealed record BpeTrainingSummary(int VocabSize, int MergeCount, int DistinctWords, long TotalWords);

/// <summary>
/// Trains a byte-level BPE tokenizer and writes it as a Hugging Face <c>tokenizer.json</c> that
/// <see cref="HfTokenizer.Load"/> (and HF tokenizers) can read. Ids: the special tokens 0..n-1 in the
/// given order, then the 256 byte tokens in byte order, then merged tokens in the order learned.
/// Deterministic: equal inputs give a byte-identical file.
/// </summary>
internal static class BpeTrainer
{
    /// <summary>
    /// GPT-2's split except that every digit is a piece of its own, so numbers are always spelled
    /// digit by digit (arithmetic such as "&lt;&lt;48/2=24&gt;&gt;" stays aligned across problems).
    /// </summary>
    public const string DigitSplitPattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>Trains on <paramref name="texts"/> and writes <paramref name="outputPath"/> atomically.</summary>
    /// <param name="texts">The corpus. Special tokens inside it are cut out and not learned from.</param>
    /// <param name="vocabSize">Target size including special and byte tokens; fewer when the corpus runs out of pairs.</param>
    /// <param name="specialTokens">Added tokens, given ids 0..n-1 in this order.</param>
    /// <param name="outputPath">The tokenizer.json to (over)write; its directory is created when missing.</param>
    /// <param name="minPairFrequency">A pair seen fewer times than this is never merged.</param>
    public static BpeTrainingSummary Train(IEnumerable<string> texts, int vocabSize, IReadOnlyList<string> specialTokens,
        string outputPath, int minPairFrequency = 2)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentNullException.ThrowIfNull(specialTokens);
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        ArgumentOutOfRangeException.ThrowIfLessThan(minPairFrequency, 1);
        ValidateSpecialTokens(specialTokens);
        int n = specialTokens.Count;
        if (vocabSize < n + 256)
            throw new ArgumentOutOfRangeException(nameof(vocabSize), vocabSize, $"must be at least {n + 256} ({n} special tokens + 256 byte tokens)");

        var pre = new HfPreTokenizer(specialTokens, [DigitSplitPattern]);
        (string[] words, long[] freq, long total) = CountWords(texts, pre);
        var state = new MergeState(specialTokens, words, freq);
        state.Run(vocabSize, minPairFrequency);

        WriteAtomically(Path.GetFullPath(outputPath), stream => TokenizerJsonWriter.Write(stream, specialTokens, state.TokenStrings(), state.MergeStrings()));
        return new BpeTrainingSummary(state.TokenCount, state.Merges.Count, words.Length, total);
    }

    private static void ValidateSpecialTokens(IReadOnlyList<string> specialTokens)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string? token in specialTokens)
        {
            if (string.IsNullOrEmpty(token)) throw new ArgumentException("special tokens must be non-empty strings", nameof(specialTokens));
            if (!seen.Add(token)) throw new ArgumentException($"special token \"{token}\" is listed twice", nameof(specialTokens));
            // A one-character special equal to a byte token would claim that byte's vocab entry.
            if (token.Length == 1 && ByteLevelAlphabet.ToByte(token[0]) >= 0)
                throw new ArgumentException($"special token \"{token}\" collides with a byte-level token", nameof(specialTokens));
        }
    }

    // Counts each distinct pre-token once; the merge loop then works on (word, frequency) pairs.
    private static (string[] Words, long[] Freq, long Total) CountWords(IEnumerable<string> texts, HfPreTokenizer pre)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        var lookup = counts.GetAlternateLookup<ReadOnlySpan<char>>();
        var pieces = new List<HfPreTokenizer.Piece>();
        long total = 0;
        foreach (string text in texts)
        {
            if (text is null) throw new ArgumentException("the corpus contains a null text", nameof(texts));
            pieces.Clear();
            pre.Split(text, pieces);
            foreach (HfPreTokenizer.Piece piece in pieces)
            {
                if (piece.IsSpecial) continue;
                CollectionsMarshal.GetValueRefOrAddDefault(lookup, text.AsSpan(piece.Offset, piece.Length), out _)++;
                total++;
            }
        }

        // Sorted so that every later step sees the words in one fixed order.
        string[] words = [.. counts.Keys];
        Array.Sort(words, StringComparer.Ordinal);
        var freq = new long[words.Length];
        for (int i = 0; i < words.Length; i++) freq[i] = counts[words[i]];
        return (words, freq, total);
    }

    // Readers never see a half-written file (symlinks and permissions kept, see AtomicFile).
    private static void WriteAtomically(string path, Action<Stream> write) => Spiffy.Checkpoints.AtomicFile.Write(path, fs => write(fs));

    /// <summary>The BPE merge loop with incremental pair counts.</summary>
    private sealed class MergeState
    {
        private readonly int _specialCount;
        private readonly HashSet<string> _specialContents;
        private readonly List<byte[]> _tokenBytes = [];
        private readonly Dictionary<string, int> _tokenIds = new(StringComparer.Ordinal);
        private readonly int[][] _symbols;
        private readonly int[] _lengths;
        private readonly long[] _freq;
        private readonly Dictionary<long, long> _pairCounts = [];
        private readonly Dictionary<long, List<int>> _pairWords = [];
        private readonly PriorityQueue<long, PairRank> _queue;

        public MergeState(IReadOnlyList<string> specialTokens, string[] words, long[] freq)
        {
            _specialCount = specialTokens.Count;
            _specialContents = new HashSet<string>(specialTokens, StringComparer.Ordinal);
            foreach (string special in specialTokens) AddToken(Encoding.UTF8.GetBytes(special), special);
            for (int b = 0; b < 256; b++) AddToken([(byte)b], ByteLevelAlphabet.ToChar((byte)b).ToString());

            _queue = new PriorityQueue<long, PairRank>(new PairRankComparer(_tokenBytes));
            _freq = freq;
            _symbols = new int[words.Length][];
            _lengths = new int[words.Length];
            for (int w = 0; w < words.Length; w++)
            {
                byte[] bytes = Encoding.UTF8.GetBytes(words[w]);
                var symbols = new int[bytes.Length];
                for (int i = 0; i < bytes.Length; i++) symbols[i] = _specialCount + bytes[i];
                _symbols[w] = symbols;
                _lengths[w] = symbols.Length;
                for (int i = 0; i + 1 < symbols.Length; i++)
                {
                    long pair = Pair(symbols[i], symbols[i + 1]);
                    CollectionsMarshal.GetValueRefOrAddDefault(_pairCounts, pair, out _) += freq[w];
                    WordsOf(pair).Add(w);
                }
            }
            foreach ((long pair, long count) in _pairCounts) _queue.Enqueue(pair, Rank(pair, count));
        }

        public List<(int Left, int Right)> Merges { get; } = [];

        public int TokenCount => _tokenBytes.Count;

        public void Run(int vocabSize, int minPairFrequency)
        {
            var blocked = new HashSet<long>();
            var delta = new Dictionary<long, long>();
            var stamp = new int[_symbols.Length];
            while (_tokenBytes.Count < vocabSize && _queue.TryDequeue(out long pair, out PairRank rank))
            {
                // Entries go stale when a count changes; the live entry carries the current count.
                if (blocked.Contains(pair) || !_pairCounts.TryGetValue(pair, out long count) || count != rank.Count) continue;
                if (count < minPairFrequency) break;

                (int left, int right) = Unpair(pair);
                byte[] merged = [.. _tokenBytes[left], .. _tokenBytes[right]];
                string mergedText = ByteLevelAlphabet.FromBytes(merged);
                if (_specialContents.Contains(mergedText))
                {
                    blocked.Add(pair); // would alias a special token's vocab entry
                    continue;
                }
                // Two different pairs can spell the same token; it keeps its first id.
                if (!_tokenIds.TryGetValue(mergedText, out int id)) id = AddToken(merged, mergedText);
                Merges.Add((left, right));

                delta.Clear();
                _pairWords.Remove(pair, out List<int>? words);
                foreach (int w in words ?? [])
                {
                    if (stamp[w] == Merges.Count) continue; // listed more than once
                    stamp[w] = Merges.Count;
                    MergeWord(w, left, right, id, delta);
                }

                _pairCounts.Remove(pair);
                foreach ((long changed, long d) in delta)
                {
                    if (changed == pair || d == 0) continue;
                    ref long c = ref CollectionsMarshal.GetValueRefOrAddDefault(_pairCounts, changed, out _);
                    c += d;
                    if (c <= 0) _pairCounts.Remove(changed);
                    else if (!blocked.Contains(changed)) _queue.Enqueue(changed, Rank(changed, c));
                }
            }
        }

        // Replaces every left+right in word w (left to right, non-overlapping) and records pair deltas.
        private void MergeWord(int w, int left, int right, int id, Dictionary<long, long> delta)
        {
            int[] s = _symbols[w];
            int len = _lengths[w];
            bool found = false;
            for (int i = 0; i + 1 < len && !found; i++) found = s[i] == left && s[i + 1] == right;
            if (!found) return;

            long f = _freq[w];
            for (int i = 0; i + 1 < len; i++) CollectionsMarshal.GetValueRefOrAddDefault(delta, Pair(s[i], s[i + 1]), out _) -= f;
            int j = 0;
            for (int i = 0; i < len;)
            {
                if (i + 1 < len && s[i] == left && s[i + 1] == right)
                {
                    s[j++] = id;
                    i += 2;
                }
                else
                {
                    s[j++] = s[i++];
                }
            }
            _lengths[w] = len = j;
            for (int i = 0; i + 1 < len; i++)
            {
                long p = Pair(s[i], s[i + 1]);
                CollectionsMarshal.GetValueRefOrAddDefault(delta, p, out _) += f;
                if (s[i] == id || s[i + 1] == id) WordsOf(p).Add(w);
            }
        }

        public IEnumerable<string> TokenStrings()
        {
            for (int id = 0; id < _tokenBytes.Count; id++)
                yield return id < _specialCount ? Encoding.UTF8.GetString(_tokenBytes[id]) : ByteLevelAlphabet.FromBytes(_tokenBytes[id]);
        }

        public IEnumerable<string> MergeStrings()
        {
            foreach ((int left, int right) in Merges)
                yield return ByteLevelAlphabet.FromBytes(_tokenBytes[left]) + " " + ByteLevelAlphabet.FromBytes(_tokenBytes[right]);
        }

        private int AddToken(byte[] bytes, string text)
        {
            int id = _tokenBytes.Count;
            _tokenBytes.Add(bytes);
            _tokenIds.Add(text, id);
            return id;
        }

        private List<int> WordsOf(long pair)
        {
            ref List<int>? list = ref CollectionsMarshal.GetValueRefOrAddDefault(_pairWords, pair, out _);
            return list ??= [];
        }

        private static long Pair(int left, int right) => ((long)left << 32) | (uint)right;

        private static (int Left, int Right) Unpair(long pair) => ((int)(pair >> 32), (int)(uint)pair);

        private static PairRank Rank(long pair, long count) => new(count, (int)(pair >> 32), (int)(uint)pair);
    }

    private readonly record struct PairRank(long Count, int Left, int Right);

    // Highest count first; ties go to the pair whose (left bytes, right bytes) sorts first.
    private sealed class PairRankComparer(List<byte[]> tokenBytes) : IComparer<PairRank>
    {
        public int Compare(PairRank x, PairRank y)
        {
            int c = y.Count.CompareTo(x.Count);
            if (c != 0) return c;
            c = tokenBytes[x.Left].AsSpan().SequenceCompareTo(tokenBytes[y.Left]);
            return c != 0 ? c : tokenBytes[x.Right].AsSpan().SequenceCompareTo(tokenBytes[y.Right]);
        }
    }
}
