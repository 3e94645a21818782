using System;
using System.Collections.Generic;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;
using Spiffy.Schema;
using Spiffy.Schema.Graphs;
using Spiffy.Schema.Json;
using Spiffy.Schema.Models;

namespace Spiffy.Generators;

public sealed partial class SpiffyGenerator
{
    // Values whose locations cross-file checks point at (the file's own errors carry their own).
    private static readonly string[] s_anchorKeys =
    {
        "name", "model", "model.name", "decoding", "decoding.gen_length", "decoding.block_length", "decoding.steps", "decoding.k", "decoding.cache",
        "limits", "limits.max_position_rank", "limits.max_token_rank", "nodes",
    };

    /// <summary>A model or graph file is any .json under a folder named "models" or "graphs" (the nearest such folder decides).</summary>
    internal static SpiffyFileKind Classify(string path)
    {
        if (!path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) return SpiffyFileKind.None;
        int end = LastSeparator(path, path.Length - 1);
        while (end > 0)
        {
            int start = LastSeparator(path, end - 1);
            string dir = path.Substring(start + 1, end - start - 1);
            if (dir.Equals("models", StringComparison.OrdinalIgnoreCase)) return SpiffyFileKind.Model;
            if (dir.Equals("graphs", StringComparison.OrdinalIgnoreCase)) return SpiffyFileKind.Graph;
            end = start;
        }
        return SpiffyFileKind.None;
    }

    private static int LastSeparator(string path, int from)
    {
        for (int i = from; i >= 0; i--)
            if (path[i] == '/' || path[i] == '\\') return i;
        return -1;
    }

    /// <summary>Reads, parses and validates one AdditionalFile with the shared schema code.</summary>
    internal static ParsedFile ParseFile(AdditionalText file, CancellationToken cancel)
    {
        string path = file.Path;
        var kind = Classify(path);
        SourceText? source = file.GetText(cancel);
        if (source is null)
        {
            var unread = DiagnosticInfo.Create(DiagnosticDescriptors.MalformedJson, LocationInfo.DocumentStart(path), "the file could not be read");
            return new ParsedFile(path, kind, "", "", null, null, EquatableArray<Anchor>.Empty, new EquatableArray<DiagnosticInfo>(new[] { unread }));
        }
        string text = source.ToString();
        var locator = new JsonLocator(path, text, source);
        var errors = new List<SchemaError>();
        // The same entry as the runtime's (SchemaDocument), parsed once; the root also gives the anchors below.
        JsonNode? root = SchemaDocument.Read(text, path, errors);
        ModelSpec? model = null;
        GraphSpec? graph = null;
        if (kind == SpiffyFileKind.Model) model = ModelSpecParser.Parse(root, path, errors);
        else graph = GraphSpecParser.Parse(root, path, errors);
        cancel.ThrowIfCancellationRequested();

        var anchors = new List<Anchor>();
        string declaredName = "", declaredModel = "";
        if (root is JsonObject obj)
        {
            foreach (var key in s_anchorKeys)
                if (Lookup(obj, key) is JsonNode node) anchors.Add(new Anchor(key, locator.At(node.Line, node.Column)));
            declaredName = (Lookup(obj, "name") as JsonString)?.Value ?? "";
            declaredModel = (Lookup(obj, "model.name") as JsonString)?.Value ?? "";
        }

        var diagnostics = new DiagnosticInfo[errors.Count];
        for (int i = 0; i < errors.Count; i++)
        {
            var e = errors[i];
            string message = e.Field.Length == 0 ? e.Message : "'" + e.Field + "': " + e.Message;
            diagnostics[i] = DiagnosticInfo.Create(DiagnosticDescriptors.For(e.Kind), locator.At(e.Line, e.Column), message);
        }
        return new ParsedFile(path, kind, declaredName, declaredModel, model, graph,
            new EquatableArray<Anchor>(anchors.ToArray()), new EquatableArray<DiagnosticInfo>(diagnostics));
    }

    private static JsonNode? Lookup(JsonObject obj, string dottedPath)
    {
        JsonNode? node = obj;
        foreach (var part in dottedPath.Split('.'))
        {
            if (node is not JsonObject o) return null;
            node = o.Get(part);
        }
        return node;
    }

    /// <summary>
    /// Turns the schema's 1-based line/column (lines end at '\n', as the JSON reader counts them)
    /// into a span over the offending token, with Roslyn's own line positions for that span.
    /// </summary>
    private sealed class JsonLocator
    {
        private readonly string _path;
        private readonly string _text;
        private readonly SourceText _source;
        private readonly List<int> _lineStarts = new List<int>();

        public JsonLocator(string path, string text, SourceText source)
        {
            _path = path; _text = text; _source = source;
            // The reader skips a leading byte-order mark and counts columns after it.
            _lineStarts.Add(text.Length > 0 && text[0] == '\uFEFF' ? 1 : 0);
            for (int i = 0; i < text.Length; i++)
                if (text[i] == '\n') _lineStarts.Add(i + 1);
        }

        public LocationInfo At(int line, int column)
        {
            if (line < 1) line = 1;
            if (line > _lineStarts.Count) line = _lineStarts.Count;
            int offset = _lineStarts[line - 1] + Math.Max(column, 1) - 1;
            if (offset > _text.Length) offset = _text.Length;
            var span = new TextSpan(offset, TokenLength(offset));
            var lines = _source.Lines.GetLinePositionSpan(span);
            return new LocationInfo(_path, span.Start, span.Length, lines.Start.Line, lines.Start.Character, lines.End.Line, lines.End.Character);
        }

        /// <summary>Length of the JSON token at <paramref name="at"/>: a whole string, number or word; one character otherwise.</summary>
        private int TokenLength(int at)
        {
            if (at >= _text.Length) return 0;
            char c = _text[at];
            int i = at + 1;
            if (c == '"')
            {
                while (i < _text.Length && _text[i] != '"' && _text[i] != '\n') i += _text[i] == '\\' ? 2 : 1;
                return Math.Min(i + 1, _text.Length) - at;
            }
            if (c == '-' || (c >= '0' && c <= '9'))
            {
                while (i < _text.Length && ((_text[i] >= '0' && _text[i] <= '9') || _text[i] == '.' || _text[i] == 'e' || _text[i] == 'E'
                    || _text[i] == '+' || _text[i] == '-')) i++;
                return i - at;
            }
            if (char.IsLetter(c))
            {
                while (i < _text.Length && char.IsLetterOrDigit(_text[i])) i++;
                return i - at;
            }
            return 1;
        }
    }
}
