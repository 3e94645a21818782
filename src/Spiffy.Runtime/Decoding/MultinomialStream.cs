using Spiffy.Native;
using static TorchSharp.torch;

namespace Spiffy.Decoding;

/// <summary>
/// The random stream behind the authors' categorical draws. Dream's <c>Categorical(probs).sample()</c> and
/// SDAR's <c>torch.multinomial(probs, 1)</c> both reach libtorch's one-sample path: <c>q = exponential_(1)</c>
/// drawn over a tensor shaped like <c>probs</c> in float32 from the CPU generator, then <c>argmax(probs / q)</c>.
/// The authors seed one generator once and every step draws on from where the last stopped, so the q of
/// a step is the stream's elements [position, position + rows x vocabulary). The stream is a fixed
/// sequence, so the state at a position is a function of the position alone: states are remembered by
/// position, and any row (the plain step's or a draft's) is served from the nearest remembered state.
/// exponential_ on the CPU draws element by element in memory order, so a draw split into pieces takes
/// the same numbers as one draw (checked: docs/decoding.md). States and draws are native tensors the stream
/// owns, and the remembered states live in a list sized once, so drawing allocates nothing managed.
/// </summary>
internal sealed class MultinomialStream : IDisposable
{
    // Elements drawn (and discarded) at once when the stream must be advanced without a draw to keep.
    private const long SkipChunk = 1L << 22;
    // Remembered states beyond the first (a state is ~5 KB); the stream's start is always kept.
    private const int MaxStates = 64;

    private readonly Generator _gen;
    private readonly SortedList<long, NativeTensor> _states = new(MaxStates + 2);
    private readonly IList<long> _positions;   // the list's key and value views, made once (each is an object)
    private readonly IList<NativeTensor> _stateValues;
    private long _lastPosition = -1, _lastRows = -1, _lastVocab = -1;
    private NativeTensor _last;

    public MultinomialStream(long seed)
    {
        _gen = new Generator(unchecked((ulong)seed), CPU);
        _positions = _states.Keys;
        _stateValues = _states.Values;
        Remember(0);
    }

    /// <summary>
    /// q for <paramref name="rows"/> x <paramref name="vocab"/> probabilities whose draw starts
    /// <paramref name="position"/> elements into the stream: float32 Exp(1) on the CPU, [rows, vocab].
    /// The tensor belongs to the stream (valid until the next draw or disposal).
    /// </summary>
    public NativeTensor Draw(long position, long rows, long vocab)
    {
        // Drafts of the same depth draw the same elements: serve them from the last draw.
        if (!_last.IsNull && position == _lastPosition && rows == _lastRows && vocab == _lastVocab) return _last;
        SeekTo(position);
        _last.Free();
        _last = default;
        using (var scope = TensorArena.Open())
            _last = NativeTensor.Empty([rows, vocab], ScalarType.Float32).Exponential_(1.0, _gen.Handle).Detach();
        (_lastPosition, _lastRows, _lastVocab) = (position, rows, vocab);
        Remember(position + rows * vocab);
        return _last;
    }

    private void SeekTo(long position)
    {
        long from = 0;
        for (int i = 0; i < _positions.Count && _positions[i] <= position; i++) from = _positions[i];
        LibTorch.THSGenerator_set_rng_state(_gen.Handle, _states[from].Handle);
        LibTorch.Check();
        using var scope = TensorArena.Open();
        for (long left = position - from; left > 0; left -= SkipChunk)
            NativeTensor.Empty([Math.Min(left, SkipChunk)], ScalarType.Float32).Exponential_(1.0, _gen.Handle);
    }

    private void Remember(long position)
    {
        if (_states.ContainsKey(position)) return;
        _states[position] = NativeTensor.Owned(LibTorch.THSGenerator_get_rng_state(_gen.Handle));
        if (_states.Count > MaxStates + 1)
        {
            // Positions only grow along a generation: forget the oldest but the start.
            _stateValues[1].Free();
            _states.RemoveAt(1);
        }
    }

    public void Dispose()
    {
        _last.Free();
        _last = default;
        foreach (var s in _stateValues) s.Free();
        _states.Clear();
        _gen.Dispose();
    }
}
