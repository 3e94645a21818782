namespace Spiffy.Tokenization;

/// <summary>A tokenizer file that cannot be used: malformed JSON, a missing field, or an unsupported kind.</summary>
public sealed class TokenizerFormatException : FormatException
{
    /// <summary>A problem with tokenizer file <paramref name="path"/>.</summary>
    /// <param name="path">The file that was read.</param>
    /// <param name="problem">What is wrong, without the path.</param>
    /// <param name="line">1-based line of a JSON syntax error, when known.</param>
    /// <param name="position">1-based byte position within the line, when known.</param>
    /// <param name="inner">The underlying failure.</param>
    public TokenizerFormatException(string path, string problem, long? line = null, long? position = null, Exception? inner = null)
        : base($"{path}: {problem}", inner)
    {
        Path = path;
        Problem = problem;
        Line = line;
        Position = position;
    }

    /// <summary>The file that was read.</summary>
    public string Path { get; }

    /// <summary>What is wrong, without the path.</summary>
    public string Problem { get; }

    /// <summary>1-based line of a JSON syntax error, when known.</summary>
    public long? Line { get; }

    /// <summary>1-based byte position within <see cref="Line"/> of a JSON syntax error, when known.</summary>
    public long? Position { get; }
}
