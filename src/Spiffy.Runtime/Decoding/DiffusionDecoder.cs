using System.Diagnostics;
using Spiffy.Modeling;
using Spiffy.Schema.Models;
using static TorchSharp.torch;

namespace Spiffy.Decoding;

/// <summary>Called when a block of a sequence is final: (sequence index, block index, the
/// block's generated token ids; SDAR's first block without the prompt's tail).</summary>
public delegate void BlockFinished(int sequence, int block, ReadOnlySpan<long> tokens);

/// <summary>
/// Semi-autoregressive block decoding for every supported configuration: LLaDA's schedule,
/// threshold and factor unmasking, SDAR's static/dynamic rules with its exact block cache,
/// Fast-dLLM prefix and dual caches, Dream's logit shift, greedy or sampled. A batch holds prompts
/// of different lengths, left-padded (padding is masked out as keys and position ids start at each
/// prompt's first token), so a row decodes exactly as it would alone. An optional
/// <see cref="IStepSpeculator"/> adds Spiffy's draft rows to each step forward: in a batch every
/// sequence drafts from its own distribution and walks its own acceptance, all in one forward, and
/// decodes token for token (and forward for forward) as it would alone (docs/decoding.md).
/// </summary>
internal sealed class DiffusionDecoder
{
    private readonly DiffusionTransformer _model;

    public DiffusionDecoder(DiffusionTransformer model) { _model = model; }

    public DiffusionTransformer Model => _model;

    public GenerationResult Generate(long[] prompt, DecodingOptions options, Func<long[], string>? detokenize = null,
        IStepSpeculator? speculator = null, BlockFinished? onBlock = null, CancellationToken cancel = default, IDecodeObserver? observer = null)
        => Generate(new[] { prompt }, options, detokenize, speculator, onBlock, cancel, observer)[0];

    public IReadOnlyList<GenerationResult> Generate(IReadOnlyList<long[]> prompts, DecodingOptions options, Func<long[], string>? detokenize = null,
        IStepSpeculator? speculator = null, BlockFinished? onBlock = null, CancellationToken cancel = default, IDecodeObserver? observer = null)
    {
        if (prompts.Count == 0) throw new ArgumentException("no prompts");
        var spec = _model.Spec;
        // SDAR's blocks start where each prompt's tail lies; the packed layout verifies one sequence.
        if (prompts.Count > 1 && (spec.Attention == AttentionKind.BlockCausal || (speculator is not null && options.Layout == VerificationLayout.Packed)))
            return GenerateEach(prompts, options, detokenize, speculator, onBlock, cancel, observer);
        int maxPrompt = 0;
        foreach (var p in prompts)
        {
            options.Validate(spec, p.Length);
            foreach (var id in p)
                if (id < 0 || id >= spec.VocabSize) throw new ArgumentException($"prompt token id {id} is outside the vocabulary [0, {spec.VocabSize})");
            maxPrompt = Math.Max(maxPrompt, p.Length);
        }
        var (region, length) = Canvas.For(spec, maxPrompt, options.GenLength);

        // Fail with the estimate and what would fit, before the cache and verification batch are allocated.
        var layout = spec.Attention == AttentionKind.BlockCausal && !options.UncachedBlockCausal ? Limits.CacheLayout.BlockCausal
            : options.Cache switch { CacheMode.Prefix => Limits.CacheLayout.Prefix, CacheMode.Dual => Limits.CacheLayout.Dual, _ => Limits.CacheLayout.None };
        int elementBytes = _model.DType == ScalarType.Float32 ? 4 : _model.DType == ScalarType.Float64 ? 8 : 2;
        if (_model.Device.type == TorchSharp.DeviceType.CPU)
            Limits.MemoryBudget.ThrowIfExceeds(spec, new Limits.GenerationShape(prompts.Count, maxPrompt, options.GenLength, options.BlockLength,
                speculator?.MaxDrafts ?? 0, layout, elementBytes), includeWeights: false);

        // One generation at a time per speculator (IStepSpeculator's contract), taken before the allocation count starts.
        using var lease = SpeculatorLease.Acquire(speculator);
        using var _ = inference_mode();
        var watch = Stopwatch.StartNew();
        long allocStart = GC.GetAllocatedBytesForCurrentThread();
        var loop = new DecodeLoop(_model, options, prompts, region, length, speculator, onBlock, cancel, observer);
        loop.Run();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - allocStart;

        var results = new GenerationResult[prompts.Count];
        for (int r = 0; r < prompts.Count; r++)
        {
            var stats = loop.Stats[r];
            stats.WallTime = watch.Elapsed;
            stats.ManagedBytes = allocated / prompts.Count;
            stats.Batch = loop.Batch;
            var ids = loop.Generated(r);
            string text = "";
            if (detokenize is not null)
            {
                int end = ids.Length;
                if (options.TrimEos) { int e = Array.IndexOf(ids, (long)spec.Tokens.Eos); if (e >= 0) end = e; }
                text = detokenize(ids[..end]);
            }
            results[r] = new GenerationResult(text, ids, stats, options);
        }
        return results;
    }

    /// <summary>
    /// SDAR decodes one prompt at a time: its blocks start where the prompt's tail lies, so prompts of
    /// different lengths share no block boundaries. So does Spiffy's packed layout (one sequence and its
    /// drafts packed into one row). Sequence indices seen by callbacks stay the batch's.
    /// </summary>
    private GenerationResult[] GenerateEach(IReadOnlyList<long[]> prompts, DecodingOptions options, Func<long[], string>? detokenize,
        IStepSpeculator? speculator, BlockFinished? onBlock, CancellationToken cancel, IDecodeObserver? observer)
    {
        var results = new GenerationResult[prompts.Count];
        for (int i = 0; i < prompts.Count; i++)
        {
            int index = i;
            BlockFinished? block = onBlock is null ? null : (_, b, t) => onBlock(index, b, t);
            var watch = observer is null ? null : new ShiftedObserver(observer, index);
            results[i] = Generate(new[] { prompts[i] }, options, detokenize, speculator, block, cancel, watch)[0];
        }
        return results;
    }

    private sealed class ShiftedObserver(IDecodeObserver inner, int sequence) : IDecodeObserver
    {
        public int TopTokenRanks => inner.TopTokenRanks;
        public void OnForward(int s, int block, ForwardKind kind, int rows) => inner.OnForward(sequence + s, block, kind, rows);
        public void OnStep(int s, int block, int stepInBlock, ReadOnlySpan<long> before, ReadOnlySpan<double> topProbs,
            ReadOnlySpan<long> topTokens, ReadOnlySpan<long> after, bool free)
            => inner.OnStep(sequence + s, block, stepInBlock, before, topProbs, topTokens, after, free);
    }
}
