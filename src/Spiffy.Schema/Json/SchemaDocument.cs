using System.Collections.Generic;

namespace Spiffy.Schema.Json;

/// <summary>
/// The one entry from a schema file's bytes or text to its JSON root, for both parsers: invalid
/// UTF-8 and malformed JSON become a located <see cref="SchemaErrorKind.MalformedJson"/> error.
/// </summary>
internal static class SchemaDocument
{
    /// <summary>The root of a file's raw bytes (strict UTF-8, never silently replaced); null after recording the error.</summary>
    public static JsonNode? Read(byte[] utf8, string file, List<SchemaError> errors)
    {
        string text;
        try { text = Utf8Text.Decode(utf8); }
        catch (JsonSyntaxException e)
        {
            errors.Add(new SchemaError(SchemaErrorKind.MalformedJson, file, e.Line, e.Column, "", e.Message));
            return null;
        }
        return Read(text, file, errors);
    }

    /// <summary>The root of a file's text; null after recording the error.</summary>
    public static JsonNode? Read(string text, string file, List<SchemaError> errors)
    {
        try { return JsonReader.Parse(text); }
        catch (JsonSyntaxException e)
        {
            errors.Add(new SchemaError(SchemaErrorKind.MalformedJson, file, e.Line, e.Column, "", e.Message));
            return null;
        }
    }
}
