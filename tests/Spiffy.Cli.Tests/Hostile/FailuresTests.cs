using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Spiffy.Checkpoints;
using Spiffy.Cli.CommandLine;
using Spiffy.Tokenization;

namespace Spiffy.Cli.Tests.Hostile;

/// <summary>Failures.Classify is total: every exception gets an exit code, bugs say so and keep their trace for --verbose.</summary>
public class FailuresTests
{
    public static TheoryData<Exception, int> Cases => new()
    {
        { new UsageException("bad option"), Failures.Usage },
        { new OperationCanceledException(), Failures.Cancelled },
        { new CheckpointException("x.safetensors: truncated"), Failures.Input },
        { new TokenizerFormatException("t.json", "bad"), Failures.Input },
        { new InsufficientMemoryException("not enough memory"), Failures.Input },
        { new UnauthorizedAccessException("/root/x"), Failures.Input },
        { new FileNotFoundException("x"), Failures.Input },
        { new InvalidDataException("x"), Failures.Input },
        { new RegexMatchTimeoutException("aaaa", "(a|aa)+$", TimeSpan.FromSeconds(1)), Failures.Input },
        {
            new ExternalException("[enforce fail at alloc_cpu.cpp:114] DefaultCPUAllocator: not enough memory: you tried to allocate 4 TB\nframe #0"),
            Failures.Input
        },
        { new AggregateException(new CheckpointException("inner")), Failures.Input },
        { new TargetInvocationException(new UsageException("inner")), Failures.Usage },
        { new NullReferenceException(), Failures.Internal },
        { new DivideByZeroException(), Failures.Internal },
        { new IndexOutOfRangeException(), Failures.Internal },
        { new ExternalException("shape mismatch"), Failures.Internal },
        { new Exception("anything"), Failures.Internal },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void EveryException_GetsAnExitCode(Exception e, int exit)
    {
        var f = Failures.Classify(e);
        Assert.Equal(exit, f.ExitCode);
        Assert.False(string.IsNullOrWhiteSpace(f.Message));
        Assert.DoesNotContain("\n", exit == Failures.Internal || e is ExternalException ? f.Message : "");
        if (exit == Failures.Internal) Assert.Contains("please report", f.Message);
        Assert.NotNull(f.Exception);
    }
}
