using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace Spiffy.Devices;

/// <summary>Which kind of device a <see cref="ComputeDevice"/> asks for.</summary>
public enum ComputeDeviceKind
{
    /// <summary>CUDA when TorchSharp finds it, else the CPU.</summary>
    Auto,
    /// <summary>The CPU.</summary>
    Cpu,
    /// <summary>A CUDA device (index 0 unless one is given).</summary>
    Cuda,
}

/// <summary>
/// Where a model runs, as a user asks for it: <c>auto</c>, <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>.
/// <see cref="Resolve"/> turns the request into a TorchSharp device once, checking that it exists;
/// every layer (loading, decoding, training, benchmarking) then takes the resolved device.
/// </summary>
public sealed record ComputeDevice(ComputeDeviceKind Kind, int? Index = null)
{
    /// <summary>CUDA device 0 when there is one, else the CPU.</summary>
    public static readonly ComputeDevice Auto = new(ComputeDeviceKind.Auto);
    /// <summary>The CPU.</summary>
    public static readonly ComputeDevice Cpu = new(ComputeDeviceKind.Cpu);
    /// <summary>CUDA device 0.</summary>
    public static readonly ComputeDevice Cuda = new(ComputeDeviceKind.Cuda);

    /// <summary>The accepted spellings, for help texts and messages.</summary>
    public const string Syntax = "auto, cpu, cuda or cuda:N";

    /// <summary>Parses <c>auto|cpu|cuda|cuda:N</c> (case-insensitive); anything else is a <see cref="FormatException"/>.</summary>
    public static ComputeDevice Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string s = text.Trim().ToLowerInvariant();
        switch (s)
        {
            case "auto": return Auto;
            case "cpu": return Cpu;
            case "cuda": return Cuda;
        }
        if (s.StartsWith("cuda:", StringComparison.Ordinal)
            && int.TryParse(s.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out int index))
            return new ComputeDevice(ComputeDeviceKind.Cuda, index);
        throw new FormatException($"device \"{text}\" is not one of {Syntax}");
    }

    /// <summary>
    /// The TorchSharp device this request names on this machine. <c>auto</c> picks CUDA device 0
    /// when TorchSharp finds one. A CUDA request with no CUDA device, or an index past the last
    /// one, is a <see cref="DeviceUnavailableException"/> naming what was looked for.
    /// </summary>
    internal Device Resolve()
    {
        // Probing CUDA also loads libtorch: a missing libtorch fails here, in one line, for every kind.
        int count = CudaCount();
        switch (Kind)
        {
            case ComputeDeviceKind.Cpu: return CPU;
            case ComputeDeviceKind.Auto: return count > 0 ? new Device(DeviceType.CUDA, 0) : CPU;
        }
        int wanted = Index ?? 0;
        if (count == 0)
            throw new DeviceUnavailableException($"device {this} was requested but TorchSharp finds no CUDA device ({NativeBackend.Describe()}); use "
                + $"--device cpu or see docs/gpu.md");
        if (wanted >= count)
            throw new DeviceUnavailableException($"device {this} was requested but TorchSharp finds {count} CUDA device(s) (cuda:0..cuda:{count - 1})");
        return new Device(DeviceType.CUDA, wanted);
    }

    /// <summary>CUDA devices TorchSharp can use; 0 when libtorch has no CUDA support loaded.</summary>
    public static int CudaCount()
    {
        NativeBackend.EnsureLoaded();
        return NativeBackend.Guard(() => torch.cuda.is_available() ? torch.cuda.device_count() : 0);
    }

    /// <summary>
    /// The weight dtype a model gets on <paramref name="device"/> when none is asked for:
    /// bfloat16 on CUDA (what the published checkpoints use and what tensor cores run), the
    /// checkpoint's own dtype on the CPU (so CPU behaviour is unchanged).
    /// </summary>
    internal static ScalarType DefaultDType(Device device, ScalarType checkpointDType)
        => device.type == DeviceType.CUDA ? ScalarType.BFloat16 : checkpointDType;

    /// <summary>The name a user writes for a resolved device: "cpu", "cuda:0".</summary>
    internal static string Name(Device device)
        => device.type == DeviceType.CPU ? "cpu" : device.type == DeviceType.CUDA ? $"cuda:{Math.Max(0, device.index)}" : device.ToString();

    /// <summary>The spelling <see cref="Parse"/> accepts: "auto", "cpu", "cuda" or "cuda:N".</summary>
    public override string ToString() => Kind switch
    {
        ComputeDeviceKind.Auto => "auto",
        ComputeDeviceKind.Cpu => "cpu",
        _ => Index is int i ? $"cuda:{i}" : "cuda",
    };
}

/// <summary>A requested compute device does not exist on this machine (not a bug: exit code 1).</summary>
public sealed class DeviceUnavailableException : Exception
{
    /// <summary>The device named in <paramref name="message"/> is not there.</summary>
    /// <param name="message">One line naming what was looked for.</param>
    public DeviceUnavailableException(string message) : base(message) { }
    /// <summary>The device is not there, found out through <paramref name="inner"/>.</summary>
    /// <param name="message">One line naming what was looked for.</param>
    /// <param name="inner">The underlying failure.</param>
    public DeviceUnavailableException(string message, Exception inner) : base(message, inner) { }
}
