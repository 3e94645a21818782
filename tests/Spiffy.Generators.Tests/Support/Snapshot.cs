namespace Spiffy.Generators.Tests.Support;

/// <summary>
/// A small approval helper (Verify is not available): compares text with Snapshots/NAME.verified.cs.
/// On a mismatch or a missing file it writes NAME.received.cs next to it and fails. Setting
/// SPIFFY_ACCEPT_SNAPSHOTS=1 overwrites the verified file instead; CI never sets it.
/// </summary>
public static class Snapshot
{
    public const string AcceptVariable = "SPIFFY_ACCEPT_SNAPSHOTS";

    public static string Directory => Path.Combine(Harness.TestsDir, "Snapshots");

    public static void Verify(string name, string actual)
    {
        actual = actual.Replace("\r\n", "\n");
        string verified = Path.Combine(Directory, name + ".verified.cs");
        string received = Path.Combine(Directory, name + ".received.cs");
        if (Environment.GetEnvironmentVariable(AcceptVariable) == "1")
        {
            System.IO.Directory.CreateDirectory(Directory);
            File.WriteAllText(verified, actual);
            File.Delete(received);
            return;
        }
        string? expected = File.Exists(verified) ? File.ReadAllText(verified).Replace("\r\n", "\n") : null;
        if (expected == actual)
        {
            File.Delete(received);
            return;
        }
        File.WriteAllText(received, actual);
        string why = expected is null ? "no approved snapshot yet" : FirstDifference(expected, actual);
        Assert.Fail($"snapshot '{name}' differs ({why}).\n  received: {received}\n  verified: {verified}\n"
            + $"Review the received file (diff it against the verified one); to approve, rerun with {AcceptVariable}=1.");
    }

    private static string FirstDifference(string expected, string actual)
    {
        var e = expected.Split('\n');
        var a = actual.Split('\n');
        for (int i = 0; i < Math.Max(e.Length, a.Length); i++)
        {
            string el = i < e.Length ? e[i] : "<end of file>";
            string al = i < a.Length ? a[i] : "<end of file>";
            if (el != al) return $"first difference at line {i + 1}: expected `{el.Trim()}`, received `{al.Trim()}`";
        }
        return "line endings differ";
    }
}
