using System.Buffers.Binary;
using System.Text;
using Spiffy.Schema;
using Spiffy.Schema.Models;

namespace Spiffy.Fuzz;

/// <summary>Valid fixed inputs (embedded from the repository) that targets wrap the fuzzed bytes in.</summary>
internal static class Seeds
{
    public static readonly string Config = Resource("config.json");

    public static readonly ModelSpec ModelSpec = ModelSpecParser.Parse(Resource("model.json"), "model.json", new List<SchemaError>())
        ?? throw new InvalidOperationException("the embedded model description does not parse");

    private static string Resource(string name)
    {
        using var s = typeof(Seeds).Assembly.GetManifestResourceStream(name) ?? throw new InvalidOperationException($"resource {name} missing");
        using var r = new StreamReader(s, Encoding.UTF8);
        return r.ReadToEnd();
    }

    /// <summary>A one-tensor safetensors file ("x": F32 [2]), written by hand so no tensor library is loaded.</summary>
    public static byte[] Shard()
    {
        var header = Encoding.UTF8.GetBytes("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}");
        var file = new byte[8 + header.Length + 8];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)header.Length);
        header.CopyTo(file, 8);
        return file;
    }
}
