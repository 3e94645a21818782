using System.Reflection;
using System.Runtime.InteropServices;

namespace Spiffy.Native;

/// <summary>
/// The LibTorchSharp C exports the decode loop's hot path calls directly, declared as TorchSharp 0.107.0 declares
/// them (src/TorchSharp/PInvoke/LibTorchSharp.*.cs of that release; every name checked against the shipped
/// libLibTorchSharp.so) but with blittable arguments only (bool as byte, no strings, no delegates), so a call
/// allocates nothing managed. The library resolves through TorchSharp's own assembly, so it is the very file
/// TorchSharp loaded (the patched copy in the build output, the CUDA package's, or an external libtorch's shim).
/// Callers check errors through <see cref="Check"/>; <see cref="NativeTensor"/> wraps all of this.
/// </summary>
internal static unsafe class LibTorch
{
    private const string Lib = "LibTorchSharp";

    static LibTorch()
    {
        // Every handle passed here was made by TorchSharp, which has loaded libtorch and its shim by then.
        NativeLibrary.SetDllImportResolver(typeof(LibTorch).Assembly, Resolve);
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path)
        => name == Lib ? NativeLibrary.Load(Lib, typeof(TorchSharp.torch).Assembly, path) : IntPtr.Zero;

    /// <summary>Runs the static constructor (the resolver) before any call of a caller's own.</summary>
    public static void EnsureLoaded() { }

    /// <summary>Throws the pending libtorch error of this thread, if any, as TorchSharp does.</summary>
    public static void Check()
    {
        IntPtr error = THSTorch_get_and_reset_last_err();
        if (error != IntPtr.Zero) Fail(error);
    }

    private static void Fail(IntPtr error) => throw new ExternalException(Marshal.PtrToStringAnsi(error));

    [DllImport(Lib)] public static extern IntPtr THSTorch_get_and_reset_last_err();
    [DllImport(Lib)] public static extern IntPtr THSTorch_int32_to_scalar(int value);
    [DllImport(Lib)] public static extern IntPtr THSTorch_float32_to_scalar(float value);
    [DllImport(Lib)] public static extern IntPtr THSTorch_float64_to_scalar(double value);
    [DllImport(Lib)] public static extern IntPtr THSTorch_bool_to_scalar(byte value);
    [DllImport(Lib)] public static extern void THSTorch_dispose_scalar(IntPtr handle);

    [DllImport(Lib)] public static extern void THSTensor_dispose(IntPtr handle);
    [DllImport(Lib)] public static extern long THSTensor_ndimension(IntPtr handle);
    [DllImport(Lib)] public static extern long THSTensor_size(IntPtr handle, long dim);
    [DllImport(Lib)] public static extern long THSTensor_numel(IntPtr handle);
    [DllImport(Lib)] public static extern sbyte THSTensor_type(IntPtr handle);
    [DllImport(Lib)] public static extern int THSTensor_device_type(IntPtr handle);
    [DllImport(Lib)] public static extern int THSTensor_device_index(IntPtr handle);
    [DllImport(Lib)] public static extern IntPtr THSTensor_data(IntPtr handle);

    [DllImport(Lib)] public static extern IntPtr THSTensor_empty(long* sizes, int length, sbyte type, int deviceType, int deviceIndex, byte requiresGrad);
    [DllImport(Lib)] public static extern IntPtr THSTensor_zeros(long* sizes, int length, sbyte type, int deviceType, int deviceIndex, byte requiresGrad);
    [DllImport(Lib)] public static extern IntPtr THSTensor_eye(long rows, long columns, sbyte type, int deviceType, int deviceIndex, byte requiresGrad);
    [DllImport(Lib)] public static extern IntPtr THSTensor_zeros_like(IntPtr input, sbyte type, int deviceType, int deviceIndex, byte requiresGrad);
    [DllImport(Lib)]
    public static extern IntPtr THSTensor_rand(IntPtr generator, long* sizes, int length, sbyte type, int deviceType, int deviceIndex, byte requiresGrad);
    [DllImport(Lib)] public static extern void THSTensor_exponential_(IntPtr tensor, double lambda, IntPtr generator);

    [DllImport(Lib)] public static extern IntPtr THSTensor_to_type(IntPtr handle, sbyte type, byte copy, byte nonBlocking);
    [DllImport(Lib)] public static extern IntPtr THSTensor_to_device(IntPtr handle, int deviceType, int deviceIndex, byte copy, byte nonBlocking);
    [DllImport(Lib)] public static extern IntPtr THSTensor_cpu(IntPtr handle);
    [DllImport(Lib)] public static extern IntPtr THSTensor_contiguous(IntPtr handle);
    [DllImport(Lib)] public static extern IntPtr THSTensor_clone(IntPtr handle);
    [DllImport(Lib)] public static extern void THSTensor_copy_(IntPtr handle, IntPtr source, byte nonBlocking);
    [DllImport(Lib)] public static extern void THSTensor_fill_(IntPtr handle, IntPtr value);

    [DllImport(Lib)] public static extern IntPtr THSTensor_reshape(IntPtr tensor, long* shape, int length);
    [DllImport(Lib)] public static extern IntPtr THSTensor_view(IntPtr tensor, long* shape, int length);
    [DllImport(Lib)] public static extern IntPtr THSTensor_expand(IntPtr tensor, long* sizes, int length, byte isImplicit);
    [DllImport(Lib)] public static extern IntPtr THSTensor_repeat(IntPtr tensor, long* sizes, int length);
    [DllImport(Lib)] public static extern IntPtr THSTensor_repeat_interleave_int64(IntPtr tensor, long repeats, long dim, long outputSize);
    [DllImport(Lib)] public static extern IntPtr THSTensor_narrow(IntPtr tensor, long dim, long start, long length);
    [DllImport(Lib)] public static extern IntPtr THSTensor_select(IntPtr tensor, long dim, long index);
    [DllImport(Lib)] public static extern IntPtr THSTensor_transpose(IntPtr tensor, long dim1, long dim2);
    [DllImport(Lib)] public static extern IntPtr THSTensor_unsqueeze(IntPtr tensor, long dim);
    [DllImport(Lib)] public static extern IntPtr THSTensor_squeeze(IntPtr tensor, long dim);
    [DllImport(Lib)] public static extern IntPtr THSTensor_cat(IntPtr* tensors, int length, long dim);
    [DllImport(Lib)] public static extern IntPtr THSTensor_stack(IntPtr* tensors, int length, long dim);

    [DllImport(Lib)] public static extern IntPtr THSTensor_index_select(IntPtr tensor, long dim, IntPtr index);
    [DllImport(Lib)] public static extern IntPtr THSTensor_index_fill(IntPtr tensor, long dim, IntPtr index, IntPtr value);
    [DllImport(Lib)] public static extern IntPtr THSTensor_index_copy(IntPtr tensor, long dim, IntPtr index, IntPtr source);
    [DllImport(Lib)] public static extern void THSTensor_index_copy_(IntPtr tensor, long dim, IntPtr index, IntPtr source);
    [DllImport(Lib)] public static extern IntPtr THSTensor_gather(IntPtr tensor, long dim, IntPtr index);
    [DllImport(Lib)] public static extern IntPtr THSTensor_scatter(IntPtr tensor, long dim, IntPtr index, IntPtr source);
    [DllImport(Lib)] public static extern IntPtr THSTensor_masked_fill(IntPtr tensor, IntPtr mask, IntPtr value);

    [DllImport(Lib)] public static extern IntPtr THSTensor_add(IntPtr tensor, IntPtr other, IntPtr alpha);
    [DllImport(Lib)] public static extern IntPtr THSTensor_add_scalar(IntPtr tensor, IntPtr scalar, IntPtr alpha);
    [DllImport(Lib)] public static extern IntPtr THSTensor_sub(IntPtr tensor, IntPtr other);
    [DllImport(Lib)] public static extern IntPtr THSTensor_mul(IntPtr tensor, IntPtr other);
    [DllImport(Lib)] public static extern IntPtr THSTensor_mul_scalar(IntPtr tensor, IntPtr scalar);
    [DllImport(Lib)] public static extern IntPtr THSTensor_div(IntPtr tensor, IntPtr other, IntPtr roundingMode);
    [DllImport(Lib)] public static extern IntPtr THSTensor_div_scalar(IntPtr tensor, IntPtr scalar, IntPtr roundingMode);
    [DllImport(Lib)] public static extern IntPtr THSTensor_pow_scalar(IntPtr tensor, IntPtr exponent);
    [DllImport(Lib)] public static extern IntPtr THSTensor_neg(IntPtr tensor);
    [DllImport(Lib)] public static extern IntPtr THSTensor_exp(IntPtr tensor);
    [DllImport(Lib)] public static extern IntPtr THSTensor_log(IntPtr tensor);
    [DllImport(Lib)] public static extern IntPtr THSTensor_rsqrt(IntPtr tensor);
    [DllImport(Lib)] public static extern IntPtr THSTensor_cos(IntPtr tensor);
    [DllImport(Lib)] public static extern IntPtr THSTensor_sin(IntPtr tensor);
    [DllImport(Lib)] public static extern IntPtr THSTensor_silu(IntPtr tensor);
    [DllImport(Lib)] public static extern IntPtr THSTensor_clamp_min(IntPtr tensor, IntPtr min);
    [DllImport(Lib)] public static extern IntPtr THSTensor_matmul(IntPtr tensor, IntPtr other);
    [DllImport(Lib)] public static extern IntPtr THSTensor_logical_not(IntPtr tensor);
    [DllImport(Lib)] public static extern IntPtr THSTensor_logical_and(IntPtr tensor, IntPtr other);
    [DllImport(Lib)] public static extern IntPtr THSTensor_lt(IntPtr tensor, IntPtr other);
    [DllImport(Lib)] public static extern IntPtr THSTensor_le(IntPtr tensor, IntPtr other);
    [DllImport(Lib)] public static extern IntPtr THSTensor_gt_scalar(IntPtr tensor, IntPtr scalar);

    [DllImport(Lib)] public static extern IntPtr THSTensor_mean_along_dimensions(IntPtr tensor, long* dims, int length, byte keepdim, byte hasType, sbyte type);
    [DllImport(Lib)] public static extern IntPtr THSTensor_sum_along_dimensions(IntPtr tensor, long* dims, int length, byte keepdim, byte hasType, sbyte type);
    [DllImport(Lib)] public static extern IntPtr THSTensor_cumsum(IntPtr tensor, long dim, byte hasType, sbyte type);
    [DllImport(Lib)] public static extern IntPtr THSTensor_argmax_along_dimension(IntPtr tensor, long dim, byte keepdim);
    [DllImport(Lib)] public static extern void THSTensor_topk(IntPtr tensor, IntPtr allocator, int k, long dim, byte largest, byte sorted);
    [DllImport(Lib)] public static extern IntPtr THSTensor_sort(IntPtr tensor, long dim, byte descending, byte stable, IntPtr* indices);
    [DllImport(Lib)] public static extern IntPtr THSSpecial_softmax(IntPtr tensor, long dim, sbyte type);

    [DllImport(Lib)] public static extern IntPtr THSNN_functional_linear(IntPtr input, IntPtr weights, IntPtr bias);
    [DllImport(Lib)] public static extern IntPtr THSNN_scaled_dot_product_attention(IntPtr query, IntPtr key, IntPtr value, IntPtr mask, double p, byte causal);

    [DllImport(Lib)] public static extern void THSGenerator_gen_manual_seed(IntPtr handle, long seed);
    [DllImport(Lib)] public static extern IntPtr THSGenerator_get_rng_state(IntPtr handle);
    [DllImport(Lib)] public static extern void THSGenerator_set_rng_state(IntPtr handle, IntPtr state);
}
