using System.Collections.Concurrent;

namespace Spiffy.Decoding;

/// <summary>
/// The in-use guard of the <see cref="IStepSpeculator"/> contract: a speculator serves one generation
/// at a time (its buffers hold that generation's drafts, so two concurrent generations sharing it would
/// corrupt each other's verification). The decoder takes a lease for the whole generation; a second
/// concurrent lease on the same instance fails fast. Kept here, by reference, so every implementation
/// (the interpreted <c>GraphSpeculator</c>, generated decoders, a user's own) is guarded without
/// implementing anything, and the decoder never needs to know the concrete type.
/// </summary>
internal readonly struct SpeculatorLease : IDisposable
{
    private static readonly ConcurrentDictionary<IStepSpeculator, byte> InUse = new(ReferenceEqualityComparer.Instance);

    private readonly IStepSpeculator? _speculator;

    private SpeculatorLease(IStepSpeculator speculator) { _speculator = speculator; }

    /// <summary>Marks <paramref name="speculator"/> as used by this generation (nothing to do for null: plain decoding).</summary>
    /// <exception cref="InvalidOperationException">Another generation is using it.</exception>
    public static SpeculatorLease Acquire(IStepSpeculator? speculator)
    {
        if (speculator is null) return default;
        if (!InUse.TryAdd(speculator, 0))
            throw new InvalidOperationException($"this speculator ({speculator.GetType().Name}) is already in use by another generation; "
                + "create one per concurrent generation (the model and decoder can be shared)");
        return new SpeculatorLease(speculator);
    }

    /// <summary>Ends the generation's use of the speculator.</summary>
    public void Dispose()
    {
        if (_speculator is not null) InUse.TryRemove(_speculator, out _);
    }
}
