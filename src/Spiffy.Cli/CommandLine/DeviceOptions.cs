using System.CommandLine;
using System.Text.Json;
using Spiffy.Checkpoints;
using Spiffy.Devices;
using TorchSharp;
using static TorchSharp.torch;

namespace Spiffy.Cli.CommandLine;

/// <summary>
/// --device and --dtype, shared by generate, bench, calibrate, train, logits, inspect and
/// check-device (docs/gpu.md): defined once, added to a command, read back as the runtime's types.
/// </summary>
public sealed class DeviceOptionSet
{
    private static readonly string[] DTypes = { "float32", "bfloat16", "float16" };

    public DeviceOptionSet(bool withDType = true, string dtypeDefault = "bfloat16 on CUDA, the checkpoint's dtype on the CPU")
    {
        Device.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is not string text) return;
            try { ComputeDevice.Parse(text); }
            catch (FormatException e) { r.AddError("--device: " + e.Message); }
        });
        if (withDType)
        {
            DType = new Option<string?>("--dtype") { Description = $"weights on the device (default: {dtypeDefault})", HelpName = string.Join('|', DTypes) };
            DType.AcceptOnlyFromAmong(DTypes);
        }
    }

    public Option<string?> Device { get; } = new("--device")
    {
        Description = "auto | cpu | cuda | cuda:N (default auto: CUDA when TorchSharp finds it, else the CPU)",
        HelpName = "auto|cpu|cuda|cuda:N",
    };

    public Option<string?>? DType { get; }

    public void AddTo(Command command)
    {
        command.Options.Add(Device);
        if (DType is not null) command.Options.Add(DType);
    }

    /// <summary>The requested device (auto when not given).</summary>
    public ComputeDevice Requested(ParseResult parse) => parse.GetValue(Device) is string s ? ComputeDevice.Parse(s) : ComputeDevice.Auto;

    /// <summary>The requested weight dtype, or null for the device's default.</summary>
    public ScalarType? RequestedDType(ParseResult parse) => DType is not null && parse.GetValue(DType) is string s ? Checkpoint.ParseDType(s) : null;

    /// <summary>Resolves the request and says on stderr which device was chosen (not with --json or --quiet).</summary>
    public Device Resolve(ParseResult parse, CliOutput output)
    {
        var requested = Requested(parse);
        var device = requested.Resolve();
        if (!output.Json) output.Log($"device: {ComputeDevice.Name(device)}{(requested.Kind == ComputeDeviceKind.Auto ? " (auto)" : "")}");
        return device;
    }

    /// <summary>"device" and "dtype" in a JSON object being written.</summary>
    public static void WriteJson(Utf8JsonWriter w, Device device, ScalarType dtype)
    {
        w.WriteString("device", ComputeDevice.Name(device));
        w.WriteString("dtype", Checkpoint.DTypeName(dtype));
    }
}
