using SharpFuzz;
using Spiffy.Fuzz;

// usage: Spiffy.Fuzz <target>
// Under afl-fuzz this is SharpFuzz's fork server; run directly, it executes the target once on
// stdin (how a finding is reproduced: dotnet Spiffy.Fuzz.dll schema < crash-file).
// An exception a target does not expect is a finding: it escapes and afl records a crash.
if (args.Length != 1 || !Targets.All.TryGetValue(args[0], out var target))
{
    Console.Error.WriteLine($"usage: Spiffy.Fuzz <{string.Join("|", Targets.All.Keys)}>");
    return 2;
}
Fuzzer.OutOfProcess.Run(stream =>
{
    using var ms = new MemoryStream();
    stream.CopyTo(ms);
    target(ms.ToArray());
});
return 0;
