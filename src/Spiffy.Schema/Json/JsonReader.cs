using System;
using System.Collections.Generic;
using System.Text;

namespace Spiffy.Schema.Json;

/// <summary>A syntax error in a JSON document, with its 1-based location.</summary>
internal sealed class JsonSyntaxException : Exception
{
    public JsonSyntaxException(string message, int line, int column) : base(message) { Line = line; Column = column; }
    public int Line { get; }
    public int Column { get; }
}

/// <summary>
/// A small strict JSON (RFC 8259) reader that keeps line/column for every value. Written by hand
/// because System.Text.Json is not reliably loadable inside the compiler, and because schema
/// errors must point at the text. Rejects duplicate keys, nesting deeper than
/// <see cref="MaxDepth"/>, trailing content, lone surrogates in escapes and control characters in strings.
/// </summary>
internal sealed class JsonReader
{
    public const int MaxDepth = 64;

    private readonly string _text;
    private int _pos;
    private int _line = 1;
    private int _lineStart;

    private JsonReader(string text) { _text = text; }

    /// <summary>Parses a whole document. A leading byte-order mark is skipped.</summary>
    public static JsonNode Parse(string text)
    {
        if (text is null) throw new ArgumentNullException(nameof(text));
        var reader = new JsonReader(text);
        if (text.Length > 0 && text[0] == '\uFEFF') { reader._pos = 1; reader._lineStart = 1; }
        reader.SkipWhitespace();
        var root = reader.ReadValue(0);
        reader.SkipWhitespace();
        if (reader._pos < text.Length) throw reader.Error("unexpected content after the end of the document");
        return root;
    }

    private int Column => _pos - _lineStart + 1;

    private JsonSyntaxException Error(string message) => new JsonSyntaxException(message, _line, Column);

    private void SkipWhitespace()
    {
        while (_pos < _text.Length)
        {
            char c = _text[_pos];
            if (c == '\n') { _pos++; _line++; _lineStart = _pos; }
            else if (c == ' ' || c == '\t' || c == '\r') _pos++;
            else break;
        }
    }

    private JsonNode ReadValue(int depth)
    {
        if (_pos >= _text.Length) throw Error("unexpected end of document, expected a value");
        int line = _line, column = Column;
        char c = _text[_pos];
        switch (c)
        {
            case '{': return ReadObject(depth + 1, line, column);
            case '[': return ReadArray(depth + 1, line, column);
            case '"': return new JsonString(ReadString(), line, column);
            case 't': ExpectWord("true"); return new JsonLiteral(JsonKind.True, line, column);
            case 'f': ExpectWord("false"); return new JsonLiteral(JsonKind.False, line, column);
            case 'n': ExpectWord("null"); return new JsonLiteral(JsonKind.Null, line, column);
            default:
                if (c == '-' || (c >= '0' && c <= '9')) return new JsonNumber(ReadNumber(), line, column);
                throw Error($"unexpected character '{Printable(c)}', expected a value");
        }
    }

    private JsonObject ReadObject(int depth, int line, int column)
    {
        if (depth > MaxDepth) throw Error($"nesting deeper than {MaxDepth} levels");
        _pos++; // {
        var members = new List<KeyValuePair<string, JsonNode>>();
        var keys = new List<JsonNode>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        SkipWhitespace();
        if (Peek() == '}') { _pos++; return new JsonObject(members, keys, line, column); }
        while (true)
        {
            SkipWhitespace();
            if (Peek() != '"') throw Error("expected a property name in double quotes");
            int keyLine = _line, keyColumn = Column;
            string key = ReadString();
            if (!seen.Add(key)) throw new JsonSyntaxException($"duplicate key \"{key}\"", keyLine, keyColumn);
            SkipWhitespace();
            if (Peek() != ':') throw Error("expected ':' after a property name");
            _pos++;
            SkipWhitespace();
            var value = ReadValue(depth);
            members.Add(new KeyValuePair<string, JsonNode>(key, value));
            keys.Add(new JsonString(key, keyLine, keyColumn));
            SkipWhitespace();
            char c = Peek();
            if (c == ',') { _pos++; continue; }
            if (c == '}') { _pos++; return new JsonObject(members, keys, line, column); }
            throw Error("expected ',' or '}' in an object");
        }
    }

    private JsonArray ReadArray(int depth, int line, int column)
    {
        if (depth > MaxDepth) throw Error($"nesting deeper than {MaxDepth} levels");
        _pos++; // [
        var items = new List<JsonNode>();
        SkipWhitespace();
        if (Peek() == ']') { _pos++; return new JsonArray(items, line, column); }
        while (true)
        {
            SkipWhitespace();
            items.Add(ReadValue(depth));
            SkipWhitespace();
            char c = Peek();
            if (c == ',') { _pos++; continue; }
            if (c == ']') { _pos++; return new JsonArray(items, line, column); }
            throw Error("expected ',' or ']' in an array");
        }
    }

    private char Peek() => _pos < _text.Length ? _text[_pos] : '\0';

    private void ExpectWord(string word)
    {
        if (string.CompareOrdinal(_text, _pos, word, 0, word.Length) != 0) throw Error($"invalid literal, expected '{word}'");
        _pos += word.Length;
    }

    private string ReadNumber()
    {
        int start = _pos;
        if (Peek() == '-') _pos++;
        if (Peek() == '0') _pos++;
        else if (Peek() >= '1' && Peek() <= '9') { while (Peek() >= '0' && Peek() <= '9') _pos++; }
        else throw Error("invalid number");
        if (Peek() == '.')
        {
            _pos++;
            if (!(Peek() >= '0' && Peek() <= '9')) throw Error("invalid number: digits expected after '.'");
            while (Peek() >= '0' && Peek() <= '9') _pos++;
        }
        if (Peek() == 'e' || Peek() == 'E')
        {
            _pos++;
            if (Peek() == '+' || Peek() == '-') _pos++;
            if (!(Peek() >= '0' && Peek() <= '9')) throw Error("invalid number: digits expected in the exponent");
            while (Peek() >= '0' && Peek() <= '9') _pos++;
        }
        if (_pos - start > 400) throw Error("number literal too long");
        return _text.Substring(start, _pos - start);
    }

    private string ReadString()
    {
        _pos++; // opening quote
        var sb = new StringBuilder();
        while (true)
        {
            if (_pos >= _text.Length) throw Error("unterminated string");
            char c = _text[_pos];
            if (c == '"') { _pos++; return sb.ToString(); }
            if (c < 0x20) throw Error("control character in a string (escape it)");
            if (c != '\\') { sb.Append(c); _pos++; continue; }
            _pos++;
            char e = Peek();
            _pos++;
            switch (e)
            {
                case '"': sb.Append('"'); break;
                case '\\': sb.Append('\\'); break;
                case '/': sb.Append('/'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'n': sb.Append('\n'); break;
                case 'r': sb.Append('\r'); break;
                case 't': sb.Append('\t'); break;
                case 'u':
                    char u = ReadHex4();
                    if (char.IsHighSurrogate(u))
                    {
                        if (Peek() != '\\' || _pos + 1 >= _text.Length || _text[_pos + 1] != 'u') throw Error("lone high surrogate in \\u escape");
                        _pos += 2;
                        char low = ReadHex4();
                        if (!char.IsLowSurrogate(low)) throw Error("invalid surrogate pair in \\u escape");
                        sb.Append(u).Append(low);
                    }
                    else if (char.IsLowSurrogate(u)) throw Error("lone low surrogate in \\u escape");
                    else sb.Append(u);
                    break;
                default: _pos--; throw Error("invalid escape sequence");
            }
        }
    }

    private char ReadHex4()
    {
        if (_pos + 4 > _text.Length) throw Error("truncated \\u escape");
        int v = 0;
        for (int i = 0; i < 4; i++)
        {
            char h = _text[_pos + i];
            int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
            if (d < 0) throw Error("invalid hex digit in \\u escape");
            v = v * 16 + d;
        }
        _pos += 4;
        return (char)v;
    }

    private static string Printable(char c) => c < 0x20 ? $"\\u{(int)c:x4}" : c.ToString();
}
