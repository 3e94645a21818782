using System.Collections.Generic;
using System.Globalization;
using Spiffy.Schema.Decoding;

namespace Spiffy.Schema.Json;

/// <summary>
/// Reads typed fields out of a <see cref="JsonObject"/> while collecting located errors (so a
/// generator can report all of them at once). Every field read is remembered; <see cref="RejectUnknown"/>
/// then reports keys the schema does not define.
/// </summary>
internal sealed class FieldReader
{
    private readonly JsonObject _obj;
    private readonly string _file;
    private readonly string _path;
    private readonly List<SchemaError> _errors;
    private readonly HashSet<string> _known = new HashSet<string>();

    public FieldReader(JsonObject obj, string file, string path, List<SchemaError> errors)
    {
        _obj = obj; _file = file; _path = path; _errors = errors;
    }

    public JsonObject Node => _obj;
    public string File => _file;
    public List<SchemaError> Errors => _errors;

    public string PathOf(string key) => _path.Length == 0 ? key : _path + "." + key;

    public void Error(SchemaErrorKind kind, JsonNode at, string field, string message)
        => _errors.Add(new SchemaError(kind, _file, at.Line, at.Column, field, message));

    /// <summary>Returns the raw node of a field, or null (recording a missing-field error when required).</summary>
    public JsonNode? Raw(string key, bool required)
    {
        _known.Add(key);
        var node = _obj.Get(key);
        if (node is null || node.Kind == JsonKind.Null)
        {
            if (required) Error(SchemaErrorKind.MissingField, _obj, PathOf(key), "required field is missing");
            return null;
        }
        return node;
    }

    public string? String(string key, bool required = true)
    {
        var node = Raw(key, required);
        if (node is null) return null;
        if (node is JsonString s) return s.Value;
        Error(SchemaErrorKind.WrongType, node, PathOf(key), $"expected a string, found {node.KindName}");
        return null;
    }

    public long? Integer(string key, bool required = true, long min = long.MinValue, long max = long.MaxValue)
    {
        var node = Raw(key, required);
        if (node is null) return null;
        if (node is JsonNumber n && n.IsInteger && n.TryGetInt64(out long v))
        {
            if (v < min || v > max)
            {
                Error(SchemaErrorKind.InvalidValue, node, PathOf(key),
                    $"{v.ToString(CultureInfo.InvariantCulture)} is out of range "
                    + $"[{min.ToString(CultureInfo.InvariantCulture)}, {max.ToString(CultureInfo.InvariantCulture)}]");
                return null;
            }
            return v;
        }
        Error(SchemaErrorKind.WrongType, node, PathOf(key), node is JsonNumber ? "expected an integer that fits in 64 bits"
            : $"expected an integer, found {node.KindName}");
        return null;
    }

    public int? Int(string key, bool required = true, int min = int.MinValue, int max = int.MaxValue)
    {
        long? v = Integer(key, required, min, max);
        return v.HasValue ? (int)v.Value : null;
    }

    public double? Number(string key, bool required = true, double min = double.MinValue, double max = double.MaxValue, bool minExclusive = false)
    {
        var node = Raw(key, required);
        if (node is null) return null;
        if (node is JsonNumber n)
        {
            double v = n.AsDouble();
            if (double.IsInfinity(v) || double.IsNaN(v) || v < min || v > max || (minExclusive && v == min))
            {
                Error(SchemaErrorKind.InvalidValue, node, PathOf(key), $"{n.Text} is out of range {(minExclusive ? "(" : "[")}"
                    + $"{min.ToString("R", CultureInfo.InvariantCulture)}, {max.ToString("R", CultureInfo.InvariantCulture)}]");
                return null;
            }
            return v;
        }
        Error(SchemaErrorKind.WrongType, node, PathOf(key), $"expected a number, found {node.KindName}");
        return null;
    }

    public bool? Bool(string key, bool required = true)
    {
        var node = Raw(key, required);
        if (node is null) return null;
        if (node.Kind == JsonKind.True) return true;
        if (node.Kind == JsonKind.False) return false;
        Error(SchemaErrorKind.WrongType, node, PathOf(key), $"expected true or false, found {node.KindName}");
        return null;
    }

    public FieldReader? Object(string key, bool required = true)
    {
        var node = Raw(key, required);
        if (node is null) return null;
        if (node is JsonObject o) return new FieldReader(o, _file, PathOf(key), _errors);
        Error(SchemaErrorKind.WrongType, node, PathOf(key), $"expected an object, found {node.KindName}");
        return null;
    }

    public JsonArray? Array(string key, bool required = true)
    {
        var node = Raw(key, required);
        if (node is null) return null;
        if (node is JsonArray a) return a;
        Error(SchemaErrorKind.WrongType, node, PathOf(key), $"expected an array, found {node.KindName}");
        return null;
    }

    /// <summary>A string restricted to a fixed set of values.</summary>
    public string? Choice(string key, IReadOnlyList<string> allowed, bool required = true)
    {
        var node = Raw(key, required);
        if (node is null) return null;
        if (node is not JsonString s)
        {
            Error(SchemaErrorKind.WrongType, node, PathOf(key), $"expected a string, found {node.KindName}");
            return null;
        }
        foreach (var a in allowed) if (a == s.Value) return a;
        Error(SchemaErrorKind.InvalidValue, node, PathOf(key), $"\"{s.Value}\" is not one of: {string.Join(", ", allowed)}");
        return null;
    }

    /// <summary>An enum value by its file spelling (<see cref="DecodingNames"/>).</summary>
    public T? Choice<T>(string key, EnumSpelling<T> spelling, bool required = true) where T : struct, System.Enum
    {
        string? name = Choice(key, spelling.Names, required);
        return name is not null && spelling.TryParse(name, out var value) ? value : null;
    }

    /// <summary>Reports every key that was never read as unknown.</summary>
    public void RejectUnknown()
    {
        for (int i = 0; i < _obj.Members.Count; i++)
        {
            string key = _obj.Members[i].Key;
            if (!_known.Contains(key))
                Error(SchemaErrorKind.UnknownField, _obj.KeyNodes[i], PathOf(key), "unknown field (check the spelling against the schema)");
        }
    }
}
