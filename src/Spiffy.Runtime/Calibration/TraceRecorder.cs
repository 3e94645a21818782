using Spiffy.Decoding;
using Spiffy.Speculation;

namespace Spiffy.Calibration;

/// <summary>
/// Records baseline trajectories through <see cref="IDecodeObserver"/>: runs the plain decoder (no
/// speculator) and keeps, per step, the committed tokens and the top ranks of the distribution that
/// produced the new state. Spiffy's forwards on a prompt are a function of exactly this (it is
/// lossless), so graphs can then be replayed, compared and selected without the model.
/// </summary>
internal sealed class TraceRecorder : IDecodeObserver
{
    private readonly TraceHeader _header;
    private SequenceTraceBuilder[] _builders = Array.Empty<SequenceTraceBuilder>();

    public TraceRecorder(TraceHeader header) { _header = header; }

    public TraceHeader Header => _header;

    public int TopTokenRanks => _header.TokenRanks;

    /// <summary>A header for recording with these options (model name/hash and prompt source are provenance only).</summary>
    public static TraceHeader HeaderFor(DecodingOptions options, int maskId, int positionRanks, int tokenRanks,
        string modelName = "", string modelHash = "", string promptSource = "", int promptSkip = 0, string promptDigest = "")
        => new TraceHeader(modelName, modelHash, options.ToSchema(), options.Seed, options.EarlyStop, maskId,
            Math.Min(positionRanks, options.BlockLength), tokenRanks, promptSource, promptSkip, promptDigest, options.StopTokensText);

    /// <summary>
    /// Decodes <paramref name="prompts"/> as one batch with the plain decoder and returns their traces
    /// (prompt indices <paramref name="firstIndex"/>, +1, ...). Decode one prompt per call to get
    /// exactly the computation a Spiffy run's root row repeats.
    /// </summary>
    public IReadOnlyList<SequenceTrace> Record(DiffusionDecoder decoder, IReadOnlyList<long[]> prompts, DecodingOptions options, int firstIndex,
        CancellationToken cancel = default)
    {
        if (options.ToSchema() != _header.Decoding || options.Seed != _header.Seed || options.EarlyStop != _header.EarlyStop
            || options.StopTokensText != _header.StopTokens)
            throw new ArgumentException("the decoding options differ from the trace header's");
        if (decoder.Model.Spec.Tokens.Mask != _header.MaskId) throw new ArgumentException("the model's mask id differs from the trace header's");
        _builders = new SequenceTraceBuilder[prompts.Count];
        for (int i = 0; i < prompts.Count; i++)
            _builders[i] = new SequenceTraceBuilder(options.BlockLength, _header.MaskId, _header.PositionRanks, _header.TokenRanks, options.OverfullTopK);
        var results = decoder.Generate(prompts, options, null, null, null, cancel, this);
        var traces = new SequenceTrace[prompts.Count];
        for (int i = 0; i < prompts.Count; i++) traces[i] = _builders[i].Build(firstIndex + i, results[i].Statistics.Nfe);
        _builders = Array.Empty<SequenceTraceBuilder>();
        return traces;
    }

    void IDecodeObserver.OnForward(int sequence, int block, ForwardKind kind, int rows)
    {
        if (rows != 1) throw new InvalidOperationException("traces are recorded from the plain decoder (one row per forward)");
        _builders[sequence].AddForward(kind, block);
    }

    void IDecodeObserver.OnStep(int sequence, int block, int stepInBlock, ReadOnlySpan<long> before, ReadOnlySpan<double> topProbs,
        ReadOnlySpan<long> topTokens, ReadOnlySpan<long> after, bool free)
    {
        if (free) throw new InvalidOperationException("traces are recorded from the plain decoder (no free steps)");
        _builders[sequence].AddStep(block, before, topProbs, topTokens, after);
    }
}
