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

    public EquatableArray(T[] items) { _items = items; }

    public static EquatableArray<T> Empty => new EquatableArray<T>(Array.Empty<T>());

    public int Count => _items?.Length ?? 0;
    public T this[int index] => _items![index];
    public T[] ToArray() => _items is null ? Array.Empty<T>() : (T[])_items.Clone();

    public bool Equals(EquatableArray<T> other)
    {
        int n = Count;
        if (n != other.Count) return false;
        for (int i = 0; i < n; i++)
            if (!_items![i].Equals(other._items![i])) return false;
        return true;
    }

    public override bool Equals(object? obj) => obj is EquatableArray<T> other && Equals(other);

    public override int GetHashCode()
    {
        int h = 17;
        for (int i = 0; i < Count; i++) h = unchecked(h * 31 + _items![i].GetHashCode());
        return h;
    }

    public static bool operator ==(EquatableArray<T> a, EquatableArray<T> b) => a.Equals(b);
    public static bool operator !=(EquatableArray<T> a, EquatableArray<T> b) => !a.Equals(b);

    public IEnumerator<T> GetEnumerator() => ((IEnumerable<T>)(_items ?? Array.Empty<T>())).GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
