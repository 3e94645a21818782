using System.Globalization;
using Spiffy.Schema.Models;

namespace Spiffy.Limits;

/// <summary>Which K/V layout a generation uses (decides what a step forward feeds and what is cached).</summary>
internal enum CacheLayout
{
    /// <summary>Every step is a full forward over the whole sequence; nothing is cached.</summary>
    None,
    /// <summary>Prefix cache: steps feed the block and everything after it.</summary>
    Prefix,
    /// <summary>Dual cache: steps feed the block only.</summary>
    Dual,
    /// <summary>Block-causal models (SDAR): exact block cache, steps feed the block only.</summary>
    BlockCausal,
}

/// <summary>The size of one generation, as far as memory is concerned.</summary>
/// <param name="Batch">Prompts decoded together.</param>
/// <param name="PromptLength">Longest prompt (tokens).</param>
/// <param name="GenLength">Generated positions.</param>
/// <param name="BlockLength">Block length B.</param>
/// <param name="Drafts">Draft rows per step forward (Spiffy's D*, 0 without speculation).</param>
/// <param name="Cache">K/V layout.</param>
/// <param name="ElementBytes">Bytes per weight / activation / cache element (4 for float32, 2 for bf16).</param>
internal sealed record GenerationShape(int Batch, int PromptLength, int GenLength, int BlockLength, int Drafts, CacheLayout Cache, int ElementBytes = 4)
{
    /// <summary>Sequence length the model sees (block-causal models pad the prompt up to a whole attention block).</summary>
    public long SequenceLength(ModelSpec spec) => (long)PromptLength + GenLength + (Cache == CacheLayout.BlockCausal ? spec.AttentionBlockSize : 0);
}

/// <summary>Estimated bytes of a generation, by part.</summary>
internal sealed record MemoryEstimate(long Weights, long KvCache, long Verification, long Activations)
{
    /// <summary>The sum, saturating at <see cref="long.MaxValue"/>.</summary>
    public long Total
    {
        get
        {
            long t = 0;
            foreach (long part in new[] { Weights, KvCache, Verification, Activations }) t = part > long.MaxValue - t ? long.MaxValue : t + part;
            return t;
        }
    }
}

/// <summary>
/// The outcome of a memory check: the estimate, what is available, and the largest settings that
/// would fit with everything else unchanged (0 where not even the smallest value fits).
/// </summary>
internal sealed record MemoryFit(bool Fits, MemoryEstimate Estimate, long Available, int MaxDrafts, int MaxGenLength, int MaxPromptLength,
    int MaxBatch, string Message);

/// <summary>
/// Checks memory before a generation allocates it: weights from the <see cref="ModelSpec"/>, the
/// K/V cache (layers x 2 x batch x length x kv heads x head dim), the verification batch's scores
/// (rows x B x vocab; the step rule holds float32 logits plus a float64 copy and its float64 softmax)
/// and a rough bound on a forward's activations. Estimates are deliberately simple upper-ish bounds:
/// the point is a clear message before an allocation fails, not an exact account.
/// </summary>
internal static class MemoryBudget
{
    /// <summary>Bytes per entry of the verification scores: float32 logits + float64 copy + float64 softmax (StepRule.Score).</summary>
    public const int ScoreBytesPerEntry = 4 + 8 + 8;

    public static long WeightBytes(ModelSpec spec, int elementBytes) => checked(spec.ParameterCount * elementBytes);

    /// <summary>
    /// Host bytes each parameter tensor costs beyond its elements: the TorchSharp Parameter and module
    /// objects and libtorch's tensor bookkeeping. Matters only for absurd layer counts (a million tiny
    /// layers allocate gigabytes of bookkeeping and no weights). Measured: about 20 KiB per layer of
    /// 9-10 tensors (docs/reliability.md), so 4 KiB per tensor is a safe upper bound.
    /// </summary>
    public const long TensorOverheadBytes = 4 << 10;

    /// <summary>Parameter tensors per transformer layer, at most (norms, q/k/v/o, biases, q/k norms, MLP).</summary>
    private const int MaxTensorsPerLayer = 14;

    /// <summary>Bytes a model of <paramref name="spec"/> takes in memory before any generation: weights plus per-tensor overhead.</summary>
    public static long ModelBytes(ModelSpec spec, int elementBytes)
        => checked(WeightBytes(spec, elementBytes) + ((long)spec.NumLayers * MaxTensorsPerLayer + 3) * TensorOverheadBytes);

    /// <summary>
    /// Throws <see cref="InsufficientMemoryException"/> before a model is built when its description
    /// needs more memory than <paramref name="available"/> (default: <see cref="AvailableBytes"/>).
    /// </summary>
    public static void EnsureModelFits(ModelSpec spec, int elementBytes, long? available = null)
    {
        long avail = available ?? AvailableBytes();
        long need;
        try { need = ModelBytes(spec, elementBytes); }
        catch (OverflowException) { need = long.MaxValue; }
        if (need <= avail) return;
        string size = need == long.MaxValue ? "more bytes than a 64-bit count holds" : $"about {Format(need)}";
        throw new InsufficientMemoryException(
            $"not enough memory for model '{spec.Name}': {spec.NumLayers} layers, hidden size {spec.HiddenSize}, vocabulary {spec.VocabSize} need {size} " +
            $"for the weights alone but {Format(avail)} is available (check the sizes in the model description or config.json)");
    }

    public static long KvCacheBytes(ModelSpec spec, int batch, long length, int elementBytes)
        => checked((long)spec.NumLayers * 2 * batch * length * spec.NumKvHeads * spec.HeadDim * elementBytes);

    /// <summary>Scores of one step forward: <paramref name="rows"/> x B x vocab entries.</summary>
    public static long VerificationBytes(long rows, int blockLength, int vocab) => checked(rows * blockLength * vocab * ScoreBytesPerEntry);

    /// <summary>
    /// A rough peak for one forward of <paramref name="rows"/> rows feeding <paramref name="fed"/> positions that
    /// attend to <paramref name="attended"/> keys: one layer's hidden states, q/k/v, MLP intermediates and
    /// attention scores live at once, plus the output logits over the fed positions.
    /// </summary>
    public static long ActivationBytes(ModelSpec spec, long rows, long fed, long attended, int elementBytes)
    {
        long perPosition = checked(4L * spec.HiddenSize + 2L * spec.NumHeads * spec.HeadDim + 2L * spec.NumKvHeads * spec.HeadDim
            + 3L * spec.IntermediateSize + (long)spec.NumHeads * attended + spec.VocabSize);
        return checked(rows * fed * perPosition * elementBytes);
    }

    /// <summary>The estimate for a shape; <paramref name="includeWeights"/> false when the model is already loaded.</summary>
    public static MemoryEstimate Estimate(ModelSpec spec, GenerationShape s, bool includeWeights = true)
    {
        long length = s.SequenceLength(spec);
        long stepRows = (long)s.Batch * (1 + s.Drafts);
        long fed = s.Cache switch
        {
            CacheLayout.None => length,
            CacheLayout.Prefix => s.GenLength, // worst case: the first block and everything after it
            _ => s.BlockLength,
        };
        // Cached layouts also run full forwards (block start, prefill) with the plain batch.
        long activations = ActivationBytes(spec, stepRows, fed, length, s.ElementBytes);
        if (s.Cache != CacheLayout.None) activations = Math.Max(activations, ActivationBytes(spec, s.Batch, length, length, s.ElementBytes));
        return new MemoryEstimate(
            includeWeights ? WeightBytes(spec, s.ElementBytes) : 0,
            s.Cache == CacheLayout.None ? 0 : KvCacheBytes(spec, s.Batch, length, s.ElementBytes),
            VerificationBytes(stepRows, s.BlockLength, spec.VocabSize),
            activations);
    }

    /// <summary>
    /// Memory this process can still use: the smaller of the machine's MemAvailable (/proc/meminfo)
    /// and the GC's limit (which follows container limits) minus this process's working set.
    /// </summary>
    public static long AvailableBytes()
    {
        long limit = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        long available = Math.Max(0, limit - Environment.WorkingSet);
        try
        {
            if (File.Exists("/proc/meminfo") && ParseMemAvailable(File.ReadAllText("/proc/meminfo")) is long free) available = Math.Min(available, free);
        }
        catch (IOException) { } // keep the GC's figure
        catch (UnauthorizedAccessException) { }
        return available;
    }

    /// <summary>MemAvailable from the text of /proc/meminfo, in bytes (null when absent).</summary>
    public static long? ParseMemAvailable(string meminfo)
    {
        foreach (var raw in meminfo.Split('\n'))
        {
            var line = raw.Trim();
            if (!line.StartsWith("MemAvailable:", StringComparison.Ordinal)) continue;
            var parts = line["MemAvailable:".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 0 || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long v)) return null;
            long unit = parts.Length > 1 && parts[1].Equals("kB", StringComparison.OrdinalIgnoreCase) ? 1024 : 1;
            return v > long.MaxValue / unit ? long.MaxValue : v * unit;
        }
        return null;
    }

    /// <summary>Checks a shape against <paramref name="available"/> bytes (default: <see cref="AvailableBytes"/>).</summary>
    public static MemoryFit Check(ModelSpec spec, GenerationShape s, bool includeWeights = true, long? available = null)
    {
        long avail = available ?? AvailableBytes();
        bool Fits(GenerationShape x)
        {
            try { return Estimate(spec, x, includeWeights).Total <= avail; }
            catch (OverflowException) { return false; }
        }
        MemoryEstimate estimate;
        bool fits;
        try
        {
            estimate = Estimate(spec, s, includeWeights);
            fits = estimate.Total <= avail;
        }
        catch (OverflowException)
        {
            // More bytes than a long counts: reported as the maximum, and it never fits.
            estimate = new MemoryEstimate(long.MaxValue, 0, 0, 0);
            fits = false;
        }
        int maxDrafts = Largest(0, Math.Max(0, s.Drafts), d => Fits(s with { Drafts = d }));
        int blocks = Largest(1, Math.Max(1, s.GenLength / Math.Max(1, s.BlockLength)), n => Fits(s with { GenLength = n * s.BlockLength }));
        int maxPrompt = Largest(1, Math.Max(1, s.PromptLength), p => Fits(s with { PromptLength = p }));
        int maxBatch = Largest(1, Math.Max(1, s.Batch), b => Fits(s with { Batch = b }));
        string message = fits ? $"fits: about {Format(estimate.Total)} of {Format(avail)} available"
            : Explain(estimate, avail, s, maxDrafts, blocks * s.BlockLength, maxPrompt, maxBatch,
            Fits(s with { Drafts = 0 }), Fits(s with { GenLength = s.BlockLength }), Fits(s with { PromptLength = 1 }),
                Fits(s with { Batch = 1 }), includeWeights);
        return new MemoryFit(fits, estimate, avail, maxDrafts, Fits(s with { GenLength = s.BlockLength }) ? blocks * s.BlockLength : 0,
            Fits(s with { PromptLength = 1 }) ? maxPrompt : 0, Fits(s with { Batch = 1 }) ? maxBatch : 0, message);
    }

    /// <summary>Throws <see cref="InsufficientMemoryException"/> with the estimate, what is available and what would fit.</summary>
    public static MemoryFit EnsureFits(ModelSpec spec, GenerationShape s, bool includeWeights = true, long? available = null)
    {
        var fit = Check(spec, s, includeWeights, available);
        if (!fit.Fits) throw new InsufficientMemoryException(fit.Message);
        return fit;
    }

    /// <summary>
    /// <see cref="EnsureFits"/> for callers that only need the failure: when the estimate fits, it
    /// skips the searches for what else would fit (the decoder calls this once per generation).
    /// </summary>
    public static void ThrowIfExceeds(ModelSpec spec, GenerationShape s, bool includeWeights = true)
    {
        long avail = AvailableBytes();
        try { if (Estimate(spec, s, includeWeights).Total <= avail) return; }
        catch (OverflowException) { }
        EnsureFits(spec, s, includeWeights, avail);
    }

    /// <summary>The largest value in [lo, hi] satisfying a monotone (true, then false) predicate; lo when none does.</summary>
    private static int Largest(int lo, int hi, Func<int, bool> ok)
    {
        if (!ok(lo)) return lo;
        while (lo < hi)
        {
            int mid = lo + (hi - lo + 1) / 2;
            if (ok(mid)) lo = mid; else hi = mid - 1;
        }
        return lo;
    }

    private static string Explain(MemoryEstimate e, long avail, GenerationShape s, int drafts, int gen, int prompt, int batch,
        bool draftsHelp, bool genHelps, bool promptHelps, bool batchHelps, bool includeWeights)
    {
        var parts = $"weights {Format(e.Weights)}, K/V cache {Format(e.KvCache)}, verification batch {Format(e.Verification)}, "
            + $"activations {Format(e.Activations)}";
        if (!includeWeights) parts = parts.Replace($"weights {Format(0)}, ", "", StringComparison.Ordinal);
        var options = new List<string>();
        if (draftsHelp && s.Drafts > 0) options.Add($"D* <= {drafts}");
        if (genHelps && gen < s.GenLength) options.Add($"generation length <= {gen}");
        if (promptHelps && prompt < s.PromptLength) options.Add($"prompt <= {prompt} tokens");
        if (batchHelps && batch < s.Batch) options.Add($"batch <= {batch}");
        string would = options.Count > 0
            ? " It would fit with " + string.Join(", or ", options) + " (each with the other settings unchanged)."
            : includeWeights && e.Weights > avail
                ? $" The weights alone need {Format(e.Weights)}: use a smaller or lower-precision model, or a machine with more memory."
                : " No smaller setting fits; free memory or use a larger machine.";
        return $"not enough memory: this generation needs about {Format(e.Total)} ({parts}) but {Format(avail)} is available.{would}";
    }

    /// <summary>Bytes as B / KiB / MiB / GiB with one decimal, culture-invariant.</summary>
    public static string Format(long bytes)
    {
        string[] units = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
        double v = bytes;
        int u = 0;
        while (Math.Abs(v) >= 1024 && u < units.Length - 1) { v /= 1024; u++; }
        return u == 0 ? string.Create(CultureInfo.InvariantCulture, $"{bytes} B") : string.Create(CultureInfo.InvariantCulture, $"{v:F1} {units[u]}");
    }
}
