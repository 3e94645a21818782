using System.Collections.Generic;
using System.Globalization;

namespace Spiffy.Schema.Json;

/// <summary>Kind of a parsed JSON value.</summary>
internal enum JsonKind { Object, Array, String, Number, True, False, Null }

/// <summary>
/// A parsed JSON value that remembers where it came from (1-based line and column), so every
/// schema error can point at the offending text. Shared by the generator and the runtime.
/// </summary>
internal abstract class JsonNode
{
    protected JsonNode(JsonKind kind, int line, int column) { Kind = kind; Line = line; Column = column; }
    public JsonKind Kind { get; }
    public int Line { get; }
    public int Column { get; }

    /// <summary>The JSON type name used in error messages ("object", "number", ...).</summary>
    public string KindName => Kind switch
    {
        JsonKind.Object => "object",
        JsonKind.Array => "array",
        JsonKind.String => "string",
        JsonKind.Number => "number",
        JsonKind.True or JsonKind.False => "boolean",
        _ => "null",
    };
}

internal sealed class JsonObject : JsonNode
{
    public JsonObject(IReadOnlyList<KeyValuePair<string, JsonNode>> members, IReadOnlyList<JsonNode> keyNodes, int line, int column)
        : base(JsonKind.Object, line, column)
    {
        Members = members;
        KeyNodes = keyNodes;
    }

    /// <summary>Members in document order (duplicate keys are rejected by the reader).</summary>
    public IReadOnlyList<KeyValuePair<string, JsonNode>> Members { get; }

    /// <summary>The key string nodes, aligned with <see cref="Members"/> (for locations of unknown keys).</summary>
    public IReadOnlyList<JsonNode> KeyNodes { get; }

    public JsonNode? Get(string key)
    {
        for (int i = 0; i < Members.Count; i++)
            if (Members[i].Key == key) return Members[i].Value;
        return null;
    }
}

internal sealed class JsonArray : JsonNode
{
    public JsonArray(IReadOnlyList<JsonNode> items, int line, int column) : base(JsonKind.Array, line, column) { Items = items; }
    public IReadOnlyList<JsonNode> Items { get; }
}

internal sealed class JsonString : JsonNode
{
    public JsonString(string value, int line, int column) : base(JsonKind.String, line, column) { Value = value; }
    public string Value { get; }
}

internal sealed class JsonNumber : JsonNode
{
    public JsonNumber(string text, int line, int column) : base(JsonKind.Number, line, column) { Text = text; }

    /// <summary>The literal as written, so integers wider than a double survive.</summary>
    public string Text { get; }

    public bool IsInteger => Text.IndexOfAny(new[] { '.', 'e', 'E' }) < 0;

    public bool TryGetInt64(out long value) => long.TryParse(Text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);

    public double AsDouble() => double.Parse(Text, NumberStyles.Float, CultureInfo.InvariantCulture);
}

internal sealed class JsonLiteral : JsonNode
{
    public JsonLiteral(JsonKind kind, int line, int column) : base(kind, line, column) { }
}
