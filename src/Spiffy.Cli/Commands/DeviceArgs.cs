using Spiffy.Cli.CommandLine;
using Spiffy.Devices;
using TorchSharp;
using static TorchSharp.torch;

namespace Spiffy.Cli.Commands;

/// <summary>The --device and --dtype options shared by generate, bench, calibrate, train, logits and inspect.</summary>
internal static class DeviceArgs
{
    public const string Help = """
          --device D            auto | cpu | cuda | cuda:N (default auto: CUDA when TorchSharp finds it, else the CPU)
          --dtype T             weights on the device: float32 | bfloat16 | float16 (default: bfloat16 on CUDA,
                                the checkpoint's dtype on the CPU)
        """;

    /// <summary>The requested device; a misspelling is a usage error.</summary>
    public static ComputeDevice Read(Args args)
    {
        string? text = args.String("device");
        if (text is null) return ComputeDevice.Auto;
        try { return ComputeDevice.Parse(text); }
        catch (FormatException e) { throw new UsageException("--device: " + e.Message); }
    }

    /// <summary>The requested weight dtype, or null for the device's default.</summary>
    public static ScalarType? ReadDType(Args args)
    {
        string? text = args.String("dtype");
        if (text is null) return null;
        return text switch
        {
            "float32" => ScalarType.Float32,
            "bfloat16" => ScalarType.BFloat16,
            "float16" => ScalarType.Float16,
            _ => throw new UsageException($"--dtype must be one of: float32, bfloat16, float16 (got \"{text}\")"),
        };
    }

    /// <summary>Resolves the request and says on stderr which device was chosen (stdout stays the verb's output).</summary>
    public static Device Resolve(ComputeDevice requested, bool quiet = false)
    {
        var device = requested.Resolve();
        if (!quiet) Console.Error.WriteLine($"device: {ComputeDevice.Name(device)}{(requested.Kind == ComputeDeviceKind.Auto ? " (auto)" : "")}");
        return device;
    }

    /// <summary>Writes "device" and "dtype" into a JSON object being written.</summary>
    public static void WriteJson(System.Text.Json.Utf8JsonWriter w, Device device, ScalarType dtype)
    {
        w.WriteString("device", ComputeDevice.Name(device));
        w.WriteString("dtype", Checkpoints.Checkpoint.DTypeName(dtype));
    }
}
