using Spiffy.Cli.Tests.Support;

namespace Spiffy.Cli.Tests;

public class SmokeTests
{
    [Fact]
    public void UnknownVerb_IsAUsageError_WithoutATrace()
    {
        var r = CliProcess.Run("no-such-verb");
        Assert.Equal(2, r.ExitCode);
        Assert.DoesNotContain("Unhandled exception", r.StdErr);
        Assert.DoesNotContain("   at ", r.StdErr);
    }

    [Fact]
    public void Inspect_ShippedModel_PrintsParameterCount()
    {
        var r = CliProcess.Run("inspect", "models/gsm8k-small.json");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("5,868,800", r.StdOut + r.StdErr);
    }
}
