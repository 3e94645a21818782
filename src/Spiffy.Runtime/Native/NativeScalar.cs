namespace Spiffy.Native;

/// <summary>
/// A libtorch scalar made once and passed by handle to every call that needs it (TorchSharp builds a managed
/// <c>Scalar</c> per call, e.g. the alpha of every <c>add</c>). The kind matters: libtorch sees the same C++ type
/// TorchSharp's implicit conversion would make (an <c>int</c> exponent stays an integer), so results are bit-identical.
/// </summary>
internal sealed class NativeScalar
{
    /// <summary>The integer 1: <c>add</c>'s alpha as TorchSharp passes it.</summary>
    public static readonly NativeScalar One = new(LibTorch.THSTorch_int32_to_scalar(1));

    /// <summary>The integer 2 (<c>square()</c> is <c>pow(2)</c>).</summary>
    public static readonly NativeScalar Two = new(LibTorch.THSTorch_int32_to_scalar(2));

    public static readonly NativeScalar False = new(LibTorch.THSTorch_bool_to_scalar(0));

    /// <summary>-inf as a double (masked_fill with <c>double.NegativeInfinity</c>).</summary>
    public static readonly NativeScalar NegativeInfinity = new(LibTorch.THSTorch_float64_to_scalar(double.NegativeInfinity));

    /// <summary>-inf as a float (index_fill with <c>float.NegativeInfinity</c>).</summary>
    public static readonly NativeScalar NegativeInfinityFloat = new(LibTorch.THSTorch_float32_to_scalar(float.NegativeInfinity));

    private NativeScalar(IntPtr handle)
    {
        LibTorch.Check();
        Handle = handle;
    }

    public IntPtr Handle { get; private set; }

    /// <summary>A double scalar (what TorchSharp makes from a C# double).</summary>
    public static NativeScalar Of(double value) => new(LibTorch.THSTorch_float64_to_scalar(value));

    /// <summary>An integer scalar (what TorchSharp makes from a C# int).</summary>
    public static NativeScalar Of(int value) => new(LibTorch.THSTorch_int32_to_scalar(value));

    ~NativeScalar()
    {
        if (Handle == IntPtr.Zero) return;
        LibTorch.THSTorch_dispose_scalar(Handle);
        Handle = IntPtr.Zero;
    }
}
