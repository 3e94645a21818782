namespace Spiffy.Native;

/// <summary>
/// Owns the native tensors that <see cref="NativeTensor"/> operations create on this thread, in scopes
/// (<see cref="Open"/>): closing a scope frees everything made inside it except the one tensor it returns,
/// which moves to the enclosing scope. The handle list is an array that grows to the deepest forward once and
/// is reused, so steady-state decoding allocates nothing managed (TorchSharp's DisposeScope allocates a
/// <c>Tensor</c> and a registration per result). A tensor that must outlive every scope is taken out with
/// <see cref="NativeTensor.Detach"/> and freed by its owner.
/// </summary>
internal sealed class TensorArena
{
    private const int InitialCapacity = 1024;

    [ThreadStatic] private static TensorArena? _current;

    private IntPtr[] _handles = new IntPtr[InitialCapacity];
    private int _count;
    private int _depth;

    /// <summary>This thread's arena (made on the thread's first use).</summary>
    public static TensorArena Current => _current ??= new TensorArena();

    /// <summary>Native tensors created through arenas on this thread so far (the bench reports them per step).</summary>
    public static long Created => Current._created;

    private long _created;

    /// <summary>Tensors alive in this thread's open scopes.</summary>
    public int Live
    {
        get
        {
            int n = 0;
            for (int i = 0; i < _count; i++) if (_handles[i] != IntPtr.Zero) n++;
            return n;
        }
    }

    /// <summary>Opens a scope on this thread's arena; dispose it (a <c>using</c>) to free what it made.</summary>
    public static Scope Open()
    {
        var arena = Current;
        arena._depth++;
        return new Scope(arena, arena._count);
    }

    internal NativeTensor Add(IntPtr handle)
    {
        if (_depth == 0)
        {
            LibTorch.THSTensor_dispose(handle);
            throw new InvalidOperationException("a native tensor operation ran outside a TensorArena scope");
        }
        if (_count == _handles.Length) Array.Resize(ref _handles, _handles.Length * 2);
        _handles[_count++] = handle;
        _created++;
        return new NativeTensor(handle);
    }

    /// <summary>Removes a tensor from the open scopes: the caller owns it now.</summary>
    internal void Remove(IntPtr handle)
    {
        for (int i = _count - 1; i >= 0; i--)
        {
            if (_handles[i] != handle) continue;
            _handles[i] = IntPtr.Zero;
            return;
        }
        throw new InvalidOperationException("the tensor is not owned by an open scope of this thread's arena");
    }

    private void Release(int mark, IntPtr keep)
    {
        bool kept = false;
        for (int i = mark; i < _count; i++)
        {
            IntPtr h = _handles[i];
            _handles[i] = IntPtr.Zero;
            if (h == IntPtr.Zero) continue;
            if (h == keep && !kept) { kept = true; continue; }
            LibTorch.THSTensor_dispose(h);
        }
        _count = mark;
        _depth--;
        if (kept) _handles[_count++] = keep; // the returned tensor now belongs to the enclosing scope
    }

    /// <summary>An open scope; <see cref="Return"/> names the one tensor that survives it.</summary>
    public ref struct Scope
    {
        private readonly TensorArena _arena;
        private readonly int _mark;
        private IntPtr _keep;
        private bool _closed;

        internal Scope(TensorArena arena, int mark)
        {
            _arena = arena;
            _mark = mark;
            _keep = IntPtr.Zero;
            _closed = false;
        }

        /// <summary>Keeps <paramref name="t"/> alive past this scope (it moves to the enclosing one).</summary>
        public NativeTensor Return(NativeTensor t)
        {
            _keep = t.Handle;
            return t;
        }

        public void Dispose()
        {
            if (_closed) return;
            _closed = true;
            _arena.Release(_mark, _keep);
        }
    }
}
