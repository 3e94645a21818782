using System;
using System.Collections.Generic;
using System.Text;

namespace Spiffy.Schema;

/// <summary>What went wrong in a model or graph file. Each kind maps to one stable generator diagnostic (SPFxxxx).</summary>
public enum SchemaErrorKind
{
    MalformedJson,
    UnknownField,
    MissingField,
    WrongType,
    InvalidValue,
    ContradictoryValues,
    GraphNotRootConnected,
    GraphParentRule,
    RankOutOfRange,
    UnknownModel,
}

/// <summary>One problem found in a schema file, located at a 1-based line and column.</summary>
public sealed class SchemaError : IEquatable<SchemaError>
{
    public SchemaError(SchemaErrorKind kind, string file, int line, int column, string field, string message)
    {
        Kind = kind; File = file; Line = line; Column = column; Field = field; Message = message;
    }

    public SchemaErrorKind Kind { get; }
    public string File { get; }
    public int Line { get; }
    public int Column { get; }

    /// <summary>JSON path of the field ("attention.block_size", "nodes[3].pairs"), empty for the document.</summary>
    public string Field { get; }
    public string Message { get; }

    public override string ToString()
        => Field.Length == 0 ? $"{File}({Line},{Column}): {Message}" : $"{File}({Line},{Column}): field '{Field}': {Message}";

    public bool Equals(SchemaError? other) => other is not null && Kind == other.Kind && File == other.File && Line == other.Line
        && Column == other.Column && Field == other.Field && Message == other.Message;
    public override bool Equals(object? obj) => Equals(obj as SchemaError);
    public override int GetHashCode() => (((Line * 31) + Column) * 31) ^ Message.GetHashCode();
}

/// <summary>Thrown by the runtime when a schema file is invalid; carries every error found.</summary>
public sealed class SchemaException : Exception
{
    public SchemaException(IReadOnlyList<SchemaError> errors) : base(Format(errors)) { Errors = errors; }
    public IReadOnlyList<SchemaError> Errors { get; }

    /// <summary>Runs a parser and returns its result, or throws with every error it recorded (the runtime's one way to load a schema file).</summary>
    public static T Require<T>(Func<List<SchemaError>, T?> parse) where T : class
    {
        var errors = new List<SchemaError>();
        var result = parse(errors);
        if (result is null || errors.Count > 0) throw new SchemaException(errors);
        return result;
    }

    private static string Format(IReadOnlyList<SchemaError> errors)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < errors.Count; i++)
        {
            if (i > 0) sb.Append('\n');
            sb.Append(errors[i]);
        }
        return sb.ToString();
    }
}
