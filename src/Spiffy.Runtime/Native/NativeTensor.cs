using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Spiffy.Native;

/// <summary>
/// A libtorch tensor by handle, as a value: the hot path's tensor type. Every operation calls the LibTorchSharp
/// export TorchSharp's method of the same name calls, with the same arguments (so results are bit-identical),
/// checks libtorch's error, and registers its result with this thread's <see cref="TensorArena"/> instead of
/// making a managed <c>Tensor</c>. Shapes go by span (stack memory at the call site) and scalars by their
/// handles (<see cref="NativeScalar"/>), so an operation allocates nothing managed. TorchSharp tensors
/// (parameters, the K/V cache) are read through <see cref="Of"/> without taking ownership.
/// </summary>
internal readonly unsafe struct NativeTensor
{
    public readonly IntPtr Handle;

    internal NativeTensor(IntPtr handle) => Handle = handle;

    /// <summary>A TorchSharp tensor's native tensor, borrowed (it stays the TorchSharp tensor's).</summary>
    public static NativeTensor Of(Tensor t) => new(t.Handle);

    /// <summary>An optional TorchSharp tensor; <see cref="IsNull"/> when absent.</summary>
    public static NativeTensor OfOptional(Tensor? t) => t is null ? default : new(t.Handle);

    /// <summary>Borrows a TorchSharp tensor (null: a null handle), so callers outside the hot path pass their tensors as they are.</summary>
    public static implicit operator NativeTensor(Tensor? t) => OfOptional(t);

    public bool IsNull => Handle == IntPtr.Zero;

    public long Size(long dim) => Checked(LibTorch.THSTensor_size(Handle, dim));
    public int Dim => (int)Checked(LibTorch.THSTensor_ndimension(Handle));
    public long NumberOfElements => Checked(LibTorch.THSTensor_numel(Handle));
    public ScalarType DType => (ScalarType)Checked(LibTorch.THSTensor_type(Handle));
    public DeviceType DeviceType => (DeviceType)Checked(LibTorch.THSTensor_device_type(Handle));
    public int DeviceIndex => Checked(LibTorch.THSTensor_device_index(Handle));

    /// <summary>Takes the tensor out of the arena: the caller owns it and frees it with <see cref="Free"/> (or hands it to TorchSharp).</summary>
    public NativeTensor Detach()
    {
        TensorArena.Current.Remove(Handle);
        return this;
    }

    /// <summary>Frees a tensor the caller owns (one taken out with <see cref="Detach"/>).</summary>
    public void Free()
    {
        if (Handle != IntPtr.Zero) LibTorch.THSTensor_dispose(Handle);
    }

    /// <summary>Hands a detached tensor to TorchSharp (one managed wrapper: for callers outside the decode loop).</summary>
    public Tensor ToTorchSharp() => Tensor.UnsafeCreateTensor(Detach().Handle);

    /// <summary>The elements of a contiguous CPU tensor, in place.</summary>
    public Span<T> Data<T>() where T : unmanaged
    {
        var p = LibTorch.THSTensor_data(Handle);
        LibTorch.Check();
        return new Span<T>((void*)p, checked((int)NumberOfElements));
    }

    public static NativeTensor Empty(ReadOnlySpan<long> shape, ScalarType dtype, DeviceType device = DeviceType.CPU, int index = -1)
    {
        fixed (long* s = shape) return Own(LibTorch.THSTensor_empty(s, shape.Length, (sbyte)dtype, (int)device, index, 0));
    }

    public static NativeTensor Zeros(ReadOnlySpan<long> shape, ScalarType dtype, DeviceType device = DeviceType.CPU, int index = -1)
    {
        fixed (long* s = shape) return Own(LibTorch.THSTensor_zeros(s, shape.Length, (sbyte)dtype, (int)device, index, 0));
    }

    public static NativeTensor Eye(long rows, long columns, ScalarType dtype, DeviceType device = DeviceType.CPU, int index = -1)
        => Own(LibTorch.THSTensor_eye(rows, columns, (sbyte)dtype, (int)device, index, 0));

    public NativeTensor ZerosLike() => Own(LibTorch.THSTensor_zeros_like(Handle, (sbyte)DType, (int)DeviceType, DeviceIndex, 0));

    /// <summary>Uniform [0, 1) from <paramref name="generator"/> (a TorchSharp generator's handle), on the CPU.</summary>
    public static NativeTensor Rand(IntPtr generator, ReadOnlySpan<long> shape, ScalarType dtype)
    {
        fixed (long* s = shape) return Own(LibTorch.THSTensor_rand(generator, s, shape.Length, (sbyte)dtype, (int)DeviceType.CPU, -1, 0));
    }

    public NativeTensor Exponential_(double lambda, IntPtr generator)
    {
        LibTorch.THSTensor_exponential_(Handle, lambda, generator);
        LibTorch.Check();
        return this;
    }

    public NativeTensor To(ScalarType dtype) => Own(LibTorch.THSTensor_to_type(Handle, (sbyte)dtype, 0, 0));
    public NativeTensor ToDevice(DeviceType device, int index) => Own(LibTorch.THSTensor_to_device(Handle, (int)device, index, 0, 0));

    /// <summary>This tensor on <paramref name="like"/>'s device (itself when it is there already, as libtorch's <c>to</c> does).</summary>
    public NativeTensor ToDeviceOf(NativeTensor like) => ToDevice(like.DeviceType, like.DeviceIndex);

    public NativeTensor Cpu() => Own(LibTorch.THSTensor_cpu(Handle));
    public NativeTensor Contiguous() => Own(LibTorch.THSTensor_contiguous(Handle));
    public NativeTensor Clone() => Own(LibTorch.THSTensor_clone(Handle));

    public void CopyFrom(NativeTensor source)
    {
        LibTorch.THSTensor_copy_(Handle, source.Handle, 0);
        LibTorch.Check();
    }

    public void Fill_(NativeScalar value)
    {
        LibTorch.THSTensor_fill_(Handle, value.Handle);
        LibTorch.Check();
    }

    // Shapes go as separate arguments into stack memory: a span of constants would be read through
    // RuntimeHelpers.CreateSpan, which allocates in unoptimized (Debug) code.
    public NativeTensor Reshape(long a) => Reshape(Shape(stackalloc long[1], a));
    public NativeTensor Reshape(long a, long b) => Reshape(Shape(stackalloc long[2], a, b));
    public NativeTensor Reshape(long a, long b, long c) => Reshape(Shape(stackalloc long[3], a, b, c));
    public NativeTensor Reshape(long a, long b, long c, long d) => Reshape(Shape(stackalloc long[4], a, b, c, d));
    public NativeTensor Reshape(long a, long b, long c, long d, long e) => Reshape(Shape(stackalloc long[5], a, b, c, d, e));

    public NativeTensor Reshape(ReadOnlySpan<long> shape)
    {
        fixed (long* s = shape) return Own(LibTorch.THSTensor_reshape(Handle, s, shape.Length));
    }

    public NativeTensor View(long a, long b) => View(Shape(stackalloc long[2], a, b));
    public NativeTensor View(long a, long b, long c) => View(Shape(stackalloc long[3], a, b, c));
    public NativeTensor View(long a, long b, long c, long d) => View(Shape(stackalloc long[4], a, b, c, d));
    public NativeTensor View(long a, long b, long c, long d, long e) => View(Shape(stackalloc long[5], a, b, c, d, e));

    public NativeTensor View(ReadOnlySpan<long> shape)
    {
        fixed (long* s = shape) return Own(LibTorch.THSTensor_view(Handle, s, shape.Length));
    }

    public NativeTensor Expand(long a, long b) => Expand(Shape(stackalloc long[2], a, b));
    public NativeTensor Expand(long a, long b, long c) => Expand(Shape(stackalloc long[3], a, b, c));
    public NativeTensor Expand(long a, long b, long c, long d, long e) => Expand(Shape(stackalloc long[5], a, b, c, d, e));

    public NativeTensor Expand(ReadOnlySpan<long> shape)
    {
        fixed (long* s = shape) return Own(LibTorch.THSTensor_expand(Handle, s, shape.Length, 0));
    }

    public NativeTensor Repeat(long a, long b) => Repeat(Shape(stackalloc long[2], a, b));

    public NativeTensor Repeat(ReadOnlySpan<long> repeats)
    {
        fixed (long* s = repeats) return Own(LibTorch.THSTensor_repeat(Handle, s, repeats.Length));
    }

    private static Span<long> Shape(Span<long> s, long a, long b = 0, long c = 0, long d = 0, long e = 0)
    {
        s[0] = a;
        if (s.Length > 1) s[1] = b;
        if (s.Length > 2) s[2] = c;
        if (s.Length > 3) s[3] = d;
        if (s.Length > 4) s[4] = e;
        return s;
    }

    /// <summary><c>repeat_interleave(repeats, dim)</c> without an output size, as TorchSharp passes it.</summary>
    public NativeTensor RepeatInterleave(long repeats, long dim) => Own(LibTorch.THSTensor_repeat_interleave_int64(Handle, repeats, dim, long.MinValue));

    public NativeTensor Narrow(long dim, long start, long length) => Own(LibTorch.THSTensor_narrow(Handle, dim, start, length));
    public NativeTensor Select(long dim, long index) => Own(LibTorch.THSTensor_select(Handle, dim, index));
    public NativeTensor Transpose(long dim1, long dim2) => Own(LibTorch.THSTensor_transpose(Handle, dim1, dim2));
    public NativeTensor Unsqueeze(long dim) => Own(LibTorch.THSTensor_unsqueeze(Handle, dim));
    public NativeTensor Squeeze(long dim) => Own(LibTorch.THSTensor_squeeze(Handle, dim));

    public static NativeTensor Cat(ReadOnlySpan<NativeTensor> tensors, long dim)
    {
        fixed (NativeTensor* p = tensors) return Own(LibTorch.THSTensor_cat((IntPtr*)p, tensors.Length, dim));
    }

    public static NativeTensor Stack(ReadOnlySpan<NativeTensor> tensors, long dim)
    {
        fixed (NativeTensor* p = tensors) return Own(LibTorch.THSTensor_stack((IntPtr*)p, tensors.Length, dim));
    }

    public NativeTensor IndexSelect(long dim, NativeTensor index) => Own(LibTorch.THSTensor_index_select(Handle, dim, index.Handle));
    public NativeTensor IndexFill(long dim, NativeTensor index, NativeScalar value)
        => Own(LibTorch.THSTensor_index_fill(Handle, dim, index.Handle, value.Handle));

    public NativeTensor IndexCopy(long dim, NativeTensor index, NativeTensor source)
        => Own(LibTorch.THSTensor_index_copy(Handle, dim, index.Handle, source.Handle));

    public NativeTensor IndexCopy_(long dim, NativeTensor index, NativeTensor source)
    {
        LibTorch.THSTensor_index_copy_(Handle, dim, index.Handle, source.Handle);
        LibTorch.Check();
        return this;
    }

    public NativeTensor Gather(long dim, NativeTensor index) => Own(LibTorch.THSTensor_gather(Handle, dim, index.Handle));
    public NativeTensor Scatter(long dim, NativeTensor index, NativeTensor source) => Own(LibTorch.THSTensor_scatter(Handle, dim, index.Handle, source.Handle));
    public NativeTensor MaskedFill(NativeTensor mask, NativeScalar value) => Own(LibTorch.THSTensor_masked_fill(Handle, mask.Handle, value.Handle));

    /// <summary><c>add(other)</c>: alpha is the integer 1, as TorchSharp passes it.</summary>
    public NativeTensor Add(NativeTensor other) => Own(LibTorch.THSTensor_add(Handle, other.Handle, NativeScalar.One.Handle));
    public NativeTensor Add(NativeScalar value) => Own(LibTorch.THSTensor_add_scalar(Handle, value.Handle, NativeScalar.One.Handle));
    public NativeTensor Sub(NativeTensor other) => Own(LibTorch.THSTensor_sub(Handle, other.Handle));
    public NativeTensor Mul(NativeTensor other) => Own(LibTorch.THSTensor_mul(Handle, other.Handle));
    public NativeTensor Mul(NativeScalar value) => Own(LibTorch.THSTensor_mul_scalar(Handle, value.Handle));
    public NativeTensor Div(NativeTensor other) => Own(LibTorch.THSTensor_div(Handle, other.Handle, IntPtr.Zero));
    public NativeTensor Div(NativeScalar value) => Own(LibTorch.THSTensor_div_scalar(Handle, value.Handle, IntPtr.Zero));
    public NativeTensor Pow(NativeScalar exponent) => Own(LibTorch.THSTensor_pow_scalar(Handle, exponent.Handle));

    /// <summary><c>square()</c>, which TorchSharp computes as <c>pow(2)</c>.</summary>
    public NativeTensor Square() => Pow(NativeScalar.Two);

    public NativeTensor Neg() => Own(LibTorch.THSTensor_neg(Handle));
    public NativeTensor Exp() => Own(LibTorch.THSTensor_exp(Handle));
    public NativeTensor Log() => Own(LibTorch.THSTensor_log(Handle));
    public NativeTensor Rsqrt() => Own(LibTorch.THSTensor_rsqrt(Handle));
    public NativeTensor Cos() => Own(LibTorch.THSTensor_cos(Handle));
    public NativeTensor Sin() => Own(LibTorch.THSTensor_sin(Handle));
    public NativeTensor Silu() => Own(LibTorch.THSTensor_silu(Handle));
    public NativeTensor ClampMin(NativeScalar min) => Own(LibTorch.THSTensor_clamp_min(Handle, min.Handle));
    /// <summary>
    /// <c>matmul</c>. LibTorchSharp's export does not catch libtorch's errors (one would end the process), so the
    /// operands are checked here first: same dtype and device, inner sizes equal, batch sizes broadcastable.
    /// </summary>
    public NativeTensor MatMul(NativeTensor other)
    {
        int a = Dim, b = other.Dim;
        bool ok = a >= 2 && b >= 2 && DType == other.DType && DeviceType == other.DeviceType && DeviceIndex == other.DeviceIndex
            && Size(a - 1) == other.Size(b - 2);
        for (int i = 3; ok && i <= Math.Min(a, b); i++)
        {
            long x = Size(a - i), y = other.Size(b - i);
            ok = x == y || x == 1 || y == 1;
        }
        if (!ok) throw new ArgumentException($"matmul: operands of {Describe()} and {other.Describe()} cannot be multiplied");
        return Own(LibTorch.THSTensor_matmul(Handle, other.Handle));
    }

    /// <summary>"Float32 [2, 3]": dtype and shape, for messages.</summary>
    public string Describe()
    {
        var dims = new long[Dim];
        for (int i = 0; i < dims.Length; i++) dims[i] = Size(i);
        return $"{DType} [{string.Join(", ", dims)}]";
    }
    public NativeTensor LogicalNot() => Own(LibTorch.THSTensor_logical_not(Handle));
    public NativeTensor LogicalAnd(NativeTensor other) => Own(LibTorch.THSTensor_logical_and(Handle, other.Handle));
    public NativeTensor Lt(NativeTensor other) => Own(LibTorch.THSTensor_lt(Handle, other.Handle));
    public NativeTensor Le(NativeTensor other) => Own(LibTorch.THSTensor_le(Handle, other.Handle));
    public NativeTensor Gt(NativeScalar value) => Own(LibTorch.THSTensor_gt_scalar(Handle, value.Handle));

    /// <summary><c>mean([dim], keepdim)</c> in the input's dtype.</summary>
    public NativeTensor Mean(long dim, bool keepdim)
    {
        long d = dim;
        return Own(LibTorch.THSTensor_mean_along_dimensions(Handle, &d, 1, keepdim ? (byte)1 : (byte)0, 0, 0));
    }

    /// <summary><c>sum(dim, keepdim)</c> in the input's dtype.</summary>
    public NativeTensor Sum(long dim, bool keepdim = false)
    {
        long d = dim;
        return Own(LibTorch.THSTensor_sum_along_dimensions(Handle, &d, 1, keepdim ? (byte)1 : (byte)0, 0, 0));
    }

    public NativeTensor CumSum(long dim) => Own(LibTorch.THSTensor_cumsum(Handle, dim, 0, 0));
    public NativeTensor ArgMax(long dim) => Own(LibTorch.THSTensor_argmax_along_dimension(Handle, dim, 0));

    /// <summary><c>softmax(dim)</c> in the input's dtype (torch.special.softmax, as TorchSharp's <c>softmax</c>).</summary>
    public NativeTensor Softmax(long dim) => Own(LibTorch.THSSpecial_softmax(Handle, dim, (sbyte)DType));

    public (NativeTensor Values, NativeTensor Indices) TopK(int k, long dim = -1, bool largest = true, bool sorted = true)
    {
        LibTorch.THSTensor_topk(Handle, (IntPtr)(delegate* unmanaged[Cdecl]<nuint, IntPtr*>)&PairBuffer, k, dim,
            largest ? (byte)1 : (byte)0, sorted ? (byte)1 : (byte)0);
        LibTorch.Check();
        IntPtr* pair = _pair;
        return (Own(pair[0]), Own(pair[1]));
    }

    public (NativeTensor Values, NativeTensor Indices) Sort(long dim, bool descending)
    {
        IntPtr indices;
        var values = LibTorch.THSTensor_sort(Handle, dim, descending ? (byte)1 : (byte)0, 0, &indices);
        LibTorch.Check();
        return (Own(values), Own(indices));
    }

    /// <summary><c>F.linear(x, weight, bias)</c>.</summary>
    public static NativeTensor Linear(NativeTensor x, NativeTensor weight, NativeTensor bias = default)
        => Own(LibTorch.THSNN_functional_linear(x.Handle, weight.Handle, bias.Handle));

    /// <summary><c>F.scaled_dot_product_attention(q, k, v, mask, 0, false)</c>; a null mask is none.</summary>
    public static NativeTensor ScaledDotProductAttention(NativeTensor q, NativeTensor k, NativeTensor v, NativeTensor mask)
        => Own(LibTorch.THSNN_scaled_dot_product_attention(q.Handle, k.Handle, v.Handle, mask.Handle, 0.0, 0));

    // libtorch returns multi-tensor results (topk) through an allocator callback; this thread's buffer for them,
    // allocated once outside the managed heap.
    [ThreadStatic] private static IntPtr* _pair;
    private const int PairCapacity = 8;

    [UnmanagedCallersOnly(CallConvs = new[] { typeof(CallConvCdecl) })]
    private static IntPtr* PairBuffer(nuint length)
    {
        if (_pair == null) _pair = (IntPtr*)NativeMemory.AllocZeroed(PairCapacity, (nuint)sizeof(IntPtr));
        return length <= PairCapacity ? _pair : null;
    }

    /// <summary>Takes ownership of a tensor libtorch returned outside any arena (the caller frees it with <see cref="Free"/>).</summary>
    public static NativeTensor Owned(IntPtr result)
    {
        LibTorch.Check();
        if (result == IntPtr.Zero) throw new ExternalException("libtorch returned no tensor and no error");
        return new NativeTensor(result);
    }

    private static NativeTensor Own(IntPtr result)
    {
        LibTorch.Check();
        if (result == IntPtr.Zero) throw new ExternalException("libtorch returned no tensor and no error");
        return TensorArena.Current.Add(result);
    }

    private static T Checked<T>(T value)
    {
        LibTorch.Check();
        return value;
    }
}
