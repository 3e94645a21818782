namespace Spiffy.Cli.CommandLine;

/// <summary>
/// A usage error found after parsing (a combination of options the parser cannot judge alone, or a
/// parse error handed to <see cref="Failures.Classify"/>): exit code 2, shown with a pointer to the verb's help.
/// </summary>
public sealed class UsageException : Exception
{
    public UsageException(string message) : base(message) { }
}
