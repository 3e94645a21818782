using Spiffy.Caching;
using Spiffy.Native;
using static TorchSharp.torch;

namespace Spiffy.Modeling;

/// <summary>
/// One forward pass. Rows are [R, T] token ids at explicit positions. Optionally the rows also
/// attend to a shared cached context (slots [0, ContextLength) of <see cref="Cache"/>): the cache
/// holds Bc sequences and the R rows are Bc consecutive groups of R / Bc rows, each group reading
/// its sequence's context without copying it (Spiffy's draft rows ride on this). Tensors are native handles
/// (the decode loop's own, or TorchSharp tensors borrowed through the implicit conversion); a null handle is absent.
/// </summary>
internal readonly struct ForwardRequest
{
    /// <summary>Token ids, [R, T], int64.</summary>
    public NativeTensor Tokens { get; init; }

    /// <summary>Absolute position ids, [R, T] or [1, T], int64 (RoPE angles come from these).</summary>
    public NativeTensor Positions { get; init; }

    /// <summary>Which of the rows' own keys each query sees, bool [R or 1, 1, T, T] (true = attend); null = all.</summary>
    public NativeTensor SelfMask { get; init; }

    /// <summary>Cache to read the context from and/or write this pass's keys and values into.</summary>
    public KvCache? Cache { get; init; }

    /// <summary>Number of cached slots the rows attend to (0 = no cached context).</summary>
    public int ContextLength { get; init; }

    /// <summary>Which context slots are visible, bool [Bc or 1, 1, 1, ContextLength]; null = all.</summary>
    public NativeTensor ContextMask { get; init; }

    /// <summary>Cache slot where this pass's keys/values are written (requires R == cache batch); -1 = no write.</summary>
    public int WriteStart { get; init; }

    /// <summary>First row position whose logits are computed.</summary>
    public int LogitStart { get; init; }

    /// <summary>Number of positions whose logits are computed (-1 = through the end). The LM head is the costliest matmul for big vocabularies.</summary>
    public int LogitLength { get; init; }

    public static ForwardRequest Full(NativeTensor tokens, NativeTensor positions, NativeTensor selfMask = default) => new ForwardRequest
    {
        Tokens = tokens,
        Positions = positions,
        SelfMask = selfMask,
        WriteStart = -1,
        LogitLength = -1,
    };
}
