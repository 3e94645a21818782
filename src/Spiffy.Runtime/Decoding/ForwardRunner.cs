using Spiffy.Caching;
using Spiffy.Modeling;
using Spiffy.Native;
using Spiffy.Schema.Models;
using static TorchSharp.torch;

namespace Spiffy.Decoding;

/// <summary>
/// Builds the forward passes of one generation for its cache mode, over a batch of Bt sequences
/// laid out as [left padding | prompt | generation]. Step forwards take block states (R = Bt x m
/// rows, m rows per sequence: the state itself, then Spiffy's drafts) and return each row's
/// distribution over the block's positions, with Dream's logit shift applied. Everything sized
/// by the generation is allocated once here; a forward runs on native handles (<see cref="NativeTensor"/>) and returns
/// its logits into the caller's open <see cref="TensorArena"/> scope, allocating nothing managed.
/// </summary>
internal sealed class ForwardRunner : IDisposable
{
    private readonly DiffusionTransformer _model;
    private readonly DecodingOptions _o;
    private readonly int _shift;
    private readonly bool _blockCausal;
    private readonly bool _blockCache; // block-causal with its exact K/V cache (the default)
    private KvCache? _cache;
    private NativeTensor _firstLogits; // Dream + cache: prediction for the block's first position, frozen at block start (owned)

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
        using var scope = TensorArena.Open();
        var req = new ForwardRequest
        {
            Tokens = NativeTensor.Of(Tokens).Narrow(1, 0, PromptRegion),
            Positions = NativeTensor.Of(Positions).Narrow(1, 0, PromptRegion),
            SelfMask = NativeTensor.Of(FullMask).Narrow(2, 0, PromptRegion).Narrow(3, 0, PromptRegion),
            Cache = _cache,
            WriteStart = 0,
            LogitStart = PromptRegion - 1,
            LogitLength = 1,
        };
        _model.ForwardNative(req);
        return true;
    }

    /// <summary>
    /// Prefix/dual cache: the block-start full forward that refreshes the cache; returns the block's
    /// distribution [Bt, B, V] in the caller's scope. A null handle when the mode has no block-start forward.
    /// </summary>
    public NativeTensor BeginBlock(int start)
    {
        if (_cache is null || _blockCache) return default;
        using var scope = TensorArena.Open();
        var req = new ForwardRequest
        {
            Tokens = NativeTensor.Of(Tokens),
            Positions = NativeTensor.Of(Positions),
            SelfMask = NativeTensor.Of(FullMask),
            Cache = _cache,
            WriteStart = 0,
            LogitStart = start - _shift,
            LogitLength = _o.BlockLength,
        };
        var logits = _model.ForwardNative(req);
        _firstLogits.Free();
        _firstLogits = _shift == 1 ? logits.Narrow(1, 0, 1).Clone().Detach() : default;
        return scope.Return(logits);
    }

    /// <summary>
    /// One step forward over block states [R, B] (R = Bt x m; rows of a sequence consecutive).
    /// Returns [R, B, V] float32 in the caller's scope: the distribution for each row's block positions.
    /// </summary>
    public NativeTensor Step(int start, NativeTensor blockRows)
    {
        using var scope = TensorArena.Open();
        int b = _o.BlockLength;
        long rows = blockRows.Size(0), m = rows / Batch;
        var tokens = NativeTensor.Of(Tokens);
        var positions = NativeTensor.Of(Positions);
        var keyValid = NativeTensor.Of(KeyValid);
        NativeTensor logits;
        if (_blockCache)
        {
            var req = new ForwardRequest
            {
                Tokens = blockRows,
                Positions = Rows(positions.Narrow(1, start, b), m),
                Cache = _cache,
                ContextLength = start,
                ContextMask = keyValid.Narrow(3, 0, start),
                WriteStart = -1,
                LogitLength = -1,
            };
            logits = _model.ForwardNative(req);
        }
        else if (_o.Cache == CacheMode.None && m > 1 && Batch == 1 && _o.Layout == VerificationLayout.Packed)
        {
            logits = Packed(start, blockRows);
        }
        else if (_o.Cache == CacheMode.None)
        {
            var full = Rows(tokens, m).Clone();
            full.Narrow(1, start, b).CopyFrom(blockRows);
            // Each sequence's m rows see its own key mask (one sequence: the mask broadcasts).
            var mask = Batch == 1 ? NativeTensor.Of(FullMask) : Rows(NativeTensor.Of(FullMask), m);
            var req = ForwardRequest.Full(full, Rows(positions, m), mask) with { LogitStart = start - _shift, LogitLength = b };
            logits = _model.ForwardNative(req);
        }
        else
        {
            // Prefix: rows hold [block | everything after]; dual: the block only.
            int fed = _o.Cache == CacheMode.Prefix ? Length - start : b;
            NativeTensor rowTokens = blockRows;
            if (fed > b)
            {
                rowTokens = Rows(tokens.Narrow(1, start, fed), m).Clone();
                rowTokens.Narrow(1, 0, b).CopyFrom(blockRows);
            }
            NativeTensor ctxMask;
            int ctxLen;
            if (_o.Cache == CacheMode.Prefix) { ctxLen = start; ctxMask = keyValid.Narrow(3, 0, start); }
            else
            {
                ctxLen = Length;
                ctxMask = keyValid.Clone();
                ctxMask.Narrow(3, start, b).Fill_(NativeScalar.False); // the block's own fresh K/V replace its stale slots
            }
            var req = new ForwardRequest
            {
                Tokens = rowTokens,
                Positions = Rows(positions.Narrow(1, start, fed), m),
                Cache = _cache,
                ContextLength = ctxLen,
                ContextMask = ctxMask,
                WriteStart = -1,
                LogitStart = 0,
                LogitLength = b,
            };
            logits = _model.ForwardNative(req);
            if (_shift == 1)
            {
                // Position `start` is predicted from position start-1, frozen in the cache since block start.
                var first = Rows(_firstLogits, m);
                logits = NativeTensor.Cat([first, logits.Narrow(1, 0, b - 1)], 1);
            }
        }
        return scope.Return(logits);
    }

    /// <summary>
    /// The near-lossless packed layout (one sequence): [whole sequence with the state's block | draft
    /// block 1 | ... | draft block D], drafts at the block's positions. The sequence attends as in a
    /// plain forward and never sees the drafts, so the state row's distribution is the plain one; each
    /// draft block sees the context (minus the state's block) and itself.
    /// </summary>
    private NativeTensor Packed(int start, NativeTensor blockRows)
    {
        int b = _o.BlockLength, l = Length;
        long d = blockRows.Size(0) - 1, t = l + d * b;
        var allTokens = NativeTensor.Of(Tokens);
        var allPositions = NativeTensor.Of(Positions);
        var devType = allTokens.DeviceType;
        int devIndex = allTokens.DeviceIndex;
        var tokens = NativeTensor.Cat([allTokens, blockRows.Narrow(0, 1, d).Reshape(1, d * b)], 1);
        tokens.Narrow(1, start, b).CopyFrom(blockRows.Narrow(0, 0, 1));
        var blockPos = allPositions.Narrow(1, start, b);
        var positions = NativeTensor.Cat([allPositions, blockPos.Repeat(1, d)], 1);

        Span<long> square = stackalloc long[2];
        square[0] = t;
        square[1] = t;
        var mask = NativeTensor.Zeros(square, ScalarType.Bool, devType, devIndex);
        var valid = NativeTensor.Of(KeyValid).Reshape(1, l);
        mask.Narrow(0, 0, l).Narrow(1, 0, l).CopyFrom(valid.Expand(l, l));
        var draftContext = valid.Clone();
        draftContext.Narrow(1, start, b).Fill_(NativeScalar.False);
        mask.Narrow(0, l, d * b).Narrow(1, 0, l).CopyFrom(draftContext.Expand(d * b, l));
        var own = NativeTensor.Eye(d, d, ScalarType.Bool, devType, devIndex).RepeatInterleave(b, 0).RepeatInterleave(b, 1);
        mask.Narrow(0, l, d * b).Narrow(1, l, d * b).CopyFrom(own);

        int offset = start - _shift;
        var req = ForwardRequest.Full(tokens, positions, mask.View(1, 1, t, t)) with { LogitStart = offset, LogitLength = (int)(t - offset) };
        var all = _model.ForwardNative(req);                       // [1, t - offset, V]
        long v = all.Size(2);
        var root = all.Narrow(1, 0, b);
        var drafts = all.Narrow(1, l - start, d * b).View(d, b, v);
        if (_shift == 1)
        {
            // Draft position 0 is predicted from the position before the block, which is shared context.
            drafts = NativeTensor.Cat([root.Narrow(1, 0, 1).Expand(d, 1, v), drafts.Narrow(1, 1, b - 1)], 1);
        }
        return NativeTensor.Cat([root, drafts], 0);
    }

    /// <summary>SDAR: after a block is final, one forward writes its K/V into the cache (counts as a forward).</summary>
    public bool EndBlock(int start)
    {
        if (!_blockCache) return false;
        using var scope = TensorArena.Open();
        int b = _o.BlockLength;
        var req = new ForwardRequest
        {
            Tokens = NativeTensor.Of(Tokens).Narrow(1, start, b),
            Positions = NativeTensor.Of(Positions).Narrow(1, start, b),
            Cache = _cache,
            ContextLength = start,
            ContextMask = NativeTensor.Of(KeyValid).Narrow(3, 0, start),
            WriteStart = start,
            LogitStart = b - 1,
            LogitLength = 1,
        };
        _model.ForwardNative(req);
        return true;
    }

    /// <summary>Repeats each sequence's tensor m times along the batch (rows of a sequence consecutive).</summary>
    private static NativeTensor Rows(NativeTensor t, long m) => m == 1 ? t : t.RepeatInterleave(m, 0);

    public void Dispose()
    {
        _cache?.Dispose();
        _firstLogits.Free();
        _firstLogits = default;
    }
}
