using System;
using System.Collections.Generic;
using System.Text;

namespace Spiffy.Schema;

/// <summary>What went wrong in a model or graph file. Each kind maps to one stable generator diagnostic (SPFxxxx).</summary>
public enum SchemaErrorKind
{
    /// <summary>The file is not well-formed JSON.</summary>
    MalformedJson,
    /// <summary>A field the format does not define.</summary>
    UnknownField,
    /// <summary>A required field is absent.</summary>
    MissingField,
    /// <summary>A field has the wrong JSON type.</summary>
    WrongType,
    /// <summary>A value outside its allowed range or set.</summary>
    InvalidValue,
    /// <summary>Two fields contradict each other.</summary>
    ContradictoryValues,
    /// <summary>A graph node cannot be reached from the root.</summary>
    GraphNotRootConnected,
    /// <summary>A graph node's parents break the parent rule.</summary>
    GraphParentRule,
    /// <summary>A node uses a rank above the graph's limits.</summary>
    RankOutOfRange,
    /// <summary>A graph names a model no description defines.</summary>
    UnknownModel,
}

/// <summary>One problem found in a schema file, located at a 1-based line and column.</summary>
public sealed class SchemaError : IEquatable<SchemaError>
{
    /// <summary>An error of <paramref name="kind"/> at <paramref name="line"/>:<paramref name="column"/> of <paramref name="file"/>.</summary>
    /// <param name="kind">What went wrong.</param>
    /// <param name="file">The file.</param>
    /// <param name="line">1-based line.</param>
    /// <param name="column">1-based column.</param>
    /// <param name="field">JSON path of the field, empty for the document.</param>
    /// <param name="message">One line for the user.</param>
    public SchemaError(SchemaErrorKind kind, string file, int line, int column, string field, string message)
    {
        Kind = kind; File = file; Line = line; Column = column; Field = field; Message = message;
    }

    /// <summary>What went wrong.</summary>
    public SchemaErrorKind Kind { get; }
    /// <summary>The file, as given to the parser.</summary>
    public string File { get; }
    /// <summary>1-based line.</summary>
    public int Line { get; }
    /// <summary>1-based column.</summary>
    public int Column { get; }

    /// <summary>JSON path of the field ("attention.block_size", "nodes[3].pairs"), empty for the document.</summary>
    public string Field { get; }
    /// <summary>The problem, in one line.</summary>
    public string Message { get; }

    /// <summary>"file(line,column): field 'f': message", the form compilers use.</summary>
    public override string ToString()
        => Field.Length == 0 ? $"{File}({Line},{Column}): {Message}" : $"{File}({Line},{Column}): field '{Field}': {Message}";

    /// <inheritdoc/>
    public bool Equals(SchemaError? other) => other is not null && Kind == other.Kind && File == other.File && Line == other.Line
        && Column == other.Column && Field == other.Field && Message == other.Message;
    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as SchemaError);
    /// <inheritdoc/>
    public override int GetHashCode() => (((Line * 31) + Column) * 31) ^ Message.GetHashCode();
}

/// <summary>Thrown by the runtime when a schema file is invalid; carries every error found.</summary>
public sealed class SchemaException : Exception
{
    /// <summary>An exception whose message lists <paramref name="errors"/>, one per line.</summary>
    /// <param name="errors">Every error found.</param>
    public SchemaException(IReadOnlyList<SchemaError> errors) : base(Format(errors)) { Errors = errors; }
    /// <summary>Every error found, in file order.</summary>
    public IReadOnlyList<SchemaError> Errors { get; }

    /// <summary>Runs a parser and returns its result, or throws with every error it recorded (the runtime's one way to load a schema file).</summary>
    internal static T Require<T>(Func<List<SchemaError>, T?> parse) where T : class
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
