using Spiffy.Native;
using Spiffy.Schema.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Spiffy.Caching;

/// <summary>
/// Key/value cache for every layer, allocated once per generation and written in place
/// (no per-step concatenation). Shape per layer: [batch, kv_heads, capacity, head_dim].
/// Decoders use it three ways: prefix (read slots [0, s)), dual (read all slots but the current
/// block's), and block-causal (SDAR: read the finished blocks, append each block once it is final).
/// </summary>
internal sealed class KvCache : IDisposable
{
    private readonly Tensor[] _keys;
    private readonly Tensor[] _values;

    public KvCache(ModelSpec spec, int batch, int capacity, ScalarType dtype, Device device)
    {
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch));
        if (capacity < 1) throw new ArgumentOutOfRangeException(nameof(capacity));
        Batch = batch;
        Capacity = capacity;
        _keys = new Tensor[spec.NumLayers];
        _values = new Tensor[spec.NumLayers];
        for (int l = 0; l < spec.NumLayers; l++)
        {
            _keys[l] = zeros(new long[] { batch, spec.NumKvHeads, capacity, spec.HeadDim }, dtype, device);
            _values[l] = zeros(new long[] { batch, spec.NumKvHeads, capacity, spec.HeadDim }, dtype, device);
        }
    }

    public int Batch { get; }
    public int Capacity { get; }

    /// <summary>Bytes held by the cache.</summary>
    public long Bytes
    {
        get
        {
            long total = 0;
            for (int l = 0; l < _keys.Length; l++) total += 2 * _keys[l].NumberOfElements * _keys[l].ElementSize;
            return total;
        }
    }

    /// <summary>Keys of slots [0, length) of a layer (a view, not a copy), in the caller's arena scope.</summary>
    public NativeTensor Keys(int layer, int length) => NativeTensor.Of(_keys[layer]).Narrow(2, 0, length);

    public NativeTensor Values(int layer, int length) => NativeTensor.Of(_values[layer]).Narrow(2, 0, length);

    /// <summary>Overwrites slots [start, start + T) of a layer with k, v of shape [batch, kv_heads, T, head_dim].</summary>
    public void Write(int layer, int start, NativeTensor k, NativeTensor v)
    {
        long t = k.Size(2);
        if (start < 0 || start + t > Capacity)
            throw new ArgumentOutOfRangeException(nameof(start), $"cache slots [{start}, {start + t}) exceed capacity {Capacity}");
        using var scope = TensorArena.Open();
        NativeTensor.Of(_keys[layer]).Narrow(2, start, t).CopyFrom(k);
        NativeTensor.Of(_values[layer]).Narrow(2, start, t).CopyFrom(v);
    }

    public void Dispose()
    {
        foreach (var t in _keys) t.Dispose();
        foreach (var t in _values) t.Dispose();
    }
}
