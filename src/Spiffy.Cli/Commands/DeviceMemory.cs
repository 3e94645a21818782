using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Spiffy.Checkpoints;
using Spiffy.Devices;
using Spiffy.Schema.Models;
using static TorchSharp.torch;

namespace Spiffy.Cli.Commands;

/// <summary>What a model takes on a device (inspect --device), measured by loading it when asked (--load).</summary>
internal sealed record DeviceMemory(Device Device, ScalarType DType, long WeightBytes, double? LoadSeconds, long PeakHostBytes, long HostBytesBefore)
{
    public static DeviceMemory Measure(string source, ModelSpec spec, Device device, ScalarType? dtype, bool load)
    {
        var chosen = dtype ?? ComputeDevice.DefaultDType(device, Checkpoint.ParseDType(spec.DType));
        int elem = chosen == ScalarType.Float32 ? 4 : 2;
        if (!load) return new DeviceMemory(device, chosen, spec.ParameterCount * elem, null, -1, -1);
        long before = HostMemory.ResidentBytes();
        var watch = Stopwatch.StartNew();
        using var model = Checkpoint.LoadModel(source, chosen, device);
        double seconds = watch.Elapsed.TotalSeconds;
        long bytes = 0;
        foreach (var p in model.parameters()) bytes += p.NumberOfElements * p.ElementSize;
        return new DeviceMemory(device, chosen, bytes, seconds, HostMemory.PeakResidentBytes(), before);
    }

    public string Describe()
    {
        var ci = CultureInfo.InvariantCulture;
        string s = string.Create(ci, $"on {ComputeDevice.Name(Device)} as {Checkpoint.DTypeName(DType)}: weights {InspectCommand.Gib(WeightBytes)}");
        if (LoadSeconds is double t)
            s += string.Create(ci, $"; loaded in {t:F2} s, peak host memory {InspectCommand.Gib(PeakHostBytes)} (process before "
                + $"loading {InspectCommand.Gib(HostBytesBefore)})");
        return s;
    }

    public void WriteJson(Utf8JsonWriter w)
    {
        w.WriteStartObject("on_device");
        CommandLine.DeviceOptionSet.WriteJson(w, Device, DType);
        w.WriteNumber("weight_bytes", WeightBytes);
        if (LoadSeconds is double t)
        {
            w.WriteNumber("load_seconds", t);
            w.WriteNumber("peak_host_bytes", PeakHostBytes);
            w.WriteNumber("host_bytes_before_load", HostBytesBefore);
        }
        w.WriteEndObject();
    }
}
