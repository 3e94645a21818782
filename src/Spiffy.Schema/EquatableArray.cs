using System;
using System.Collections;
using System.Collections.Generic;

namespace Spiffy.Schema;

/// <summary>
/// An immutable array with value equality, so spec records that hold arrays compare by content
/// (the generator's incremental pipeline caches on spec equality).
/// </summary>
public readonly struct EquatableArray<T> : IEquatable<EquatableArray<T>>, IReadOnlyList<T> where T : IEquatable<T>
{
    private readonly T[]? _items;

    /// <summary>Wraps <paramref name="items"/> (not copied: do not change it afterwards).</summary>
    /// <param name="items">The elements.</param>
    public EquatableArray(T[] items) { _items = items; }

    /// <summary>An empty array.</summary>
    public static EquatableArray<T> Empty => new EquatableArray<T>(Array.Empty<T>());

    /// <summary>The number of elements.</summary>
    public int Count => _items?.Length ?? 0;
    /// <summary>The element at <paramref name="index"/>.</summary>
    /// <param name="index">0-based.</param>
    public T this[int index] => _items![index];
    /// <summary>A copy of the elements.</summary>
    public T[] ToArray() => _items is null ? Array.Empty<T>() : (T[])_items.Clone();

    /// <summary>Element-wise equality.</summary>
    /// <param name="other">The array to compare with.</param>
    public bool Equals(EquatableArray<T> other)
    {
        int n = Count;
        if (n != other.Count) return false;
        for (int i = 0; i < n; i++)
            if (!_items![i].Equals(other._items![i])) return false;
        return true;
    }

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is EquatableArray<T> other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        int h = 17;
        for (int i = 0; i < Count; i++) h = unchecked(h * 31 + _items![i].GetHashCode());
        return h;
    }

    /// <summary>Element-wise equality.</summary>
    /// <param name="a">One array.</param>
    /// <param name="b">The other.</param>
    public static bool operator ==(EquatableArray<T> a, EquatableArray<T> b) => a.Equals(b);
    /// <summary>Element-wise inequality.</summary>
    /// <param name="a">One array.</param>
    /// <param name="b">The other.</param>
    public static bool operator !=(EquatableArray<T> a, EquatableArray<T> b) => !a.Equals(b);

    /// <inheritdoc/>
    public IEnumerator<T> GetEnumerator() => ((IEnumerable<T>)(_items ?? Array.Empty<T>())).GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
