using Spiffy.Caching;
using Spiffy.Modeling;
using Spiffy.Schema.Models;
using static TorchSharp.torch;

namespace Spiffy.Decoding;

/// <summary>
/// Builds the forward passes of one generation for its cache mode, over a batch of Bt sequences
/// laid out as [left padding | prompt | generation]. Step forwards take block states (R = Bt x m
/// rows, m rows per sequence: the state itself, then Spiffy's drafts) and return each row's
/// distribution over the block's positions, with Dream's logit shift applied. Everything sized
/// by the generation is allocated once here.
/// </summary>
internal sealed class ForwardRunner : IDisposable
{
    private readonly DiffusionTransformer _model;
    private readonly DecodingOptions _o;
    private readonly int _shift;
    private readonly bool _blockCausal;
    private readonly bool _blockCache; // block-causal with its exact K/V cache (the default)
    private KvCache? _cache;
    private Tensor? _firstLogits; // Dream + cache: prediction for the block's first position, frozen at block start

    public ForwardRunner(DiffusionTransformer model, DecodingOptions options, Tensor tokens, Tensor positions, Tensor keyValid, int promptRegion)
    {
        _model = model;
        _o = options;
        _shift = model.Spec.LogitShift;
        _blockCausal = model.Spec.Attention == AttentionKind.BlockCausal;
        _blockCache = _blockCausal && !options.UncachedBlockCausal;
        Tokens = tokens;
        Positions = positions;
        KeyValid = keyValid;
        PromptRegion = promptRegion;
        Length = (int)tokens.shape[1];
        Batch = (int)tokens.shape[0];
        if (_blockCache || options.Cache != CacheMode.None)
            _cache = new KvCache(model.Spec, Batch, Length, model.DType, model.Device);
        FullMask = _blockCausal ? AttentionMasks.BlockCausal(model.Spec.AttentionBlockSize, Length, model.Device).logical_and(keyValid) : keyValid;
    }

    /// <summary>Current sequences [Bt, L] (int64), written in place as tokens are committed.</summary>
    public Tensor Tokens { get; }
    public Tensor Positions { get; }
    /// <summary>bool [Bt, 1, 1, L]: false at left padding.</summary>
    public Tensor KeyValid { get; }
    /// <summary>Mask of a full forward: key validity, and block-causal structure for SDAR.</summary>
    public Tensor FullMask { get; }
    public int PromptRegion { get; }
    public int Length { get; }
    public int Batch { get; }
    public long CacheBytes => _cache?.Bytes ?? 0;

    /// <summary>SDAR: one forward over the prompt's whole blocks writing their K/V (counts as a forward). Returns false when there is nothing to do.</summary>
    public bool Prefill()
    {
        if (!_blockCache || PromptRegion == 0) return false;
        using var scope = NewDisposeScope();
        var req = new ForwardRequest
        {
            Tokens = Tokens.narrow(1, 0, PromptRegion),
            Positions = Positions.narrow(1, 0, PromptRegion),
            SelfMask = FullMask.narrow(2, 0, PromptRegion).narrow(3, 0, PromptRegion),
            Cache = _cache, WriteStart = 0, LogitStart = PromptRegion - 1, LogitLength = 1,
        };
        _model.Forward(req);
        return true;
    }

    /// <summary>
    /// Prefix/dual cache: the block-start full forward that refreshes the cache; returns the block's
    /// distribution [Bt, B, V]. Null when the mode has no block-start forward.
    /// </summary>
    public Tensor? BeginBlock(int start)
    {
        if (_cache is null || _blockCache) return null;
        using var scope = NewDisposeScope();
        var req = new ForwardRequest
        {
            Tokens = Tokens, Positions = Positions, SelfMask = FullMask, Cache = _cache, WriteStart = 0,
            LogitStart = start - _shift, LogitLength = _o.BlockLength,
        };
        var logits = _model.Forward(req);
        _firstLogits?.Dispose();
        _firstLogits = _shift == 1 ? logits.narrow(1, 0, 1).clone().DetachFromDisposeScope() : null;
        return logits.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// One step forward over block states [R, B] (R = Bt x m; rows of a sequence consecutive).
    /// Returns [R, B, V] float32: the distribution for each row's block positions.
    /// </summary>
    public Tensor Step(int start, Tensor blockRows)
    {
        using var scope = NewDisposeScope();
        int b = _o.BlockLength;
        long rows = blockRows.shape[0], m = rows / Batch;
        Tensor logits;
        if (_blockCache)
        {
            var req = new ForwardRequest
            {
                Tokens = blockRows, Positions = Rows(Positions.narrow(1, start, b), m),
                Cache = _cache, ContextLength = start, ContextMask = KeyValid.narrow(3, 0, start), WriteStart = -1, LogitLength = -1,
            };
            logits = _model.Forward(req);
        }
        else if (_o.Cache == CacheMode.None && m > 1 && Batch == 1 && _o.Layout == VerificationLayout.Packed)
        {
            logits = Packed(start, blockRows);
        }
        else if (_o.Cache == CacheMode.None)
        {
            var full = Rows(Tokens, m).clone();
            full.narrow(1, start, b).copy_(blockRows);
            // Each sequence's m rows see its own key mask (one sequence: the mask broadcasts).
            var mask = Batch == 1 ? FullMask : Rows(FullMask, m);
            var req = ForwardRequest.Full(full, Rows(Positions, m), mask) with { LogitStart = start - _shift, LogitLength = b };
            logits = _model.Forward(req);
        }
        else
        {
            // Prefix: rows hold [block | everything after]; dual: the block only.
            int fed = _o.Cache == CacheMode.Prefix ? Length - start : b;
            Tensor rowTokens = blockRows;
            if (fed > b)
            {
                rowTokens = Rows(Tokens.narrow(1, start, fed), m).clone();
                rowTokens.narrow(1, 0, b).copy_(blockRows);
            }
            Tensor ctxMask;
            int ctxLen;
            if (_o.Cache == CacheMode.Prefix) { ctxLen = start; ctxMask = KeyValid.narrow(3, 0, start); }
            else
            {
                ctxLen = Length;
                ctxMask = KeyValid.clone();
                ctxMask.narrow(3, start, b).fill_(false); // the block's own fresh K/V replace its stale slots
            }
            var req = new ForwardRequest
            {
                Tokens = rowTokens, Positions = Rows(Positions.narrow(1, start, fed), m), Cache = _cache,
                ContextLength = ctxLen, ContextMask = ctxMask, WriteStart = -1, LogitStart = 0, LogitLength = b,
            };
            logits = _model.Forward(req);
            if (_shift == 1)
            {
                // Position `start` is predicted from position start-1, frozen in the cache since block start.
                var first = Rows(_firstLogits!, m);
                logits = cat(new[] { first, logits.narrow(1, 0, b - 1) }, 1);
            }
        }
        return logits.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The near-lossless packed layout (one sequence): [whole sequence with the state's block | draft
    /// block 1 | ... | draft block D], drafts at the block's positions. The sequence attends as in a
    /// plain forward and never sees the drafts, so the state row's distribution is the plain one; each
    /// draft block sees the context (minus the state's block) and itself.
    /// </summary>
    private Tensor Packed(int start, Tensor blockRows)
    {
        int b = _o.BlockLength, l = Length;
        long d = blockRows.shape[0] - 1, t = l + d * b;
        var dev = Tokens.device;
        var tokens = cat(new[] { Tokens, blockRows.narrow(0, 1, d).reshape(1, d * b) }, 1);
        tokens.narrow(1, start, b).copy_(blockRows.narrow(0, 0, 1));
        var blockPos = Positions.narrow(1, start, b);
        var positions = cat(new[] { Positions, blockPos.repeat(1, d) }, 1);

        var mask = zeros(new long[] { t, t }, ScalarType.Bool, dev);
        var valid = KeyValid.reshape(1, l);
        mask.narrow(0, 0, l).narrow(1, 0, l).copy_(valid.expand(l, l));
        var draftContext = valid.clone();
        draftContext.narrow(1, start, b).fill_(false);
        mask.narrow(0, l, d * b).narrow(1, 0, l).copy_(draftContext.expand(d * b, l));
        var own = eye(d, d, ScalarType.Bool, dev).repeat_interleave(b, 0).repeat_interleave(b, 1);
        mask.narrow(0, l, d * b).narrow(1, l, d * b).copy_(own);

        int offset = start - _shift;
        var req = ForwardRequest.Full(tokens, positions, mask.view(1, 1, t, t)) with { LogitStart = offset, LogitLength = (int)(t - offset) };
        var all = _model.Forward(req);                       // [1, t - offset, V]
        long v = all.shape[2];
        var root = all.narrow(1, 0, b);
        var drafts = all.narrow(1, l - start, d * b).view(d, b, v);
        if (_shift == 1)
        {
            // Draft position 0 is predicted from the position before the block, which is shared context.
            drafts = cat(new[] { root.narrow(1, 0, 1).expand(d, 1, v), drafts.narrow(1, 1, b - 1) }, 1);
        }
        return cat(new[] { root, drafts }, 0);
    }

    /// <summary>SDAR: after a block is final, one forward writes its K/V into the cache (counts as a forward).</summary>
    public bool EndBlock(int start)
    {
        if (!_blockCache) return false;
        using var scope = NewDisposeScope();
        int b = _o.BlockLength;
        var req = new ForwardRequest
        {
            Tokens = Tokens.narrow(1, start, b), Positions = Positions.narrow(1, start, b), Cache = _cache,
            ContextLength = start, ContextMask = KeyValid.narrow(3, 0, start), WriteStart = start, LogitStart = b - 1, LogitLength = 1,
        };
        _model.Forward(req);
        return true;
    }

    /// <summary>Repeats each sequence's tensor m times along the batch (rows of a sequence consecutive).</summary>
    private static Tensor Rows(Tensor t, long m) => m == 1 ? t : t.repeat_interleave(m, 0);

    public void Dispose()
    {
        _cache?.Dispose();
        _firstLogits?.Dispose();
    }
}
