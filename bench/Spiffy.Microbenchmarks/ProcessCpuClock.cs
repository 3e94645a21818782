using System.Runtime.InteropServices;
using Perfolizer.Horology;

namespace Spiffy.Microbenchmarks;

/// <summary>
/// A BenchmarkDotNet clock that reads the CPU time of the whole process (all threads) instead of the
/// wall clock (<c>--cpu-clock</c>). On a machine shared with a higher-priority job, a nice'd benchmark
/// waits most of its wall time for a core, so wall-clock numbers measure the scheduler; CPU time
/// still measures the work. Linux only (clock_gettime with CLOCK_PROCESS_CPUTIME_ID).
/// </summary>
public sealed class ProcessCpuClock : IClock
{
    private const int ClockProcessCpuTimeId = 2;

    public static ProcessCpuClock Instance { get; } = new ProcessCpuClock();

    public string Title => "Process CPU time";

    public bool IsAvailable => OperatingSystem.IsLinux();

    /// <summary>Timestamps are nanoseconds.</summary>
    public Frequency Frequency => new Frequency(1e9);

    public long GetTimestamp()
    {
        if (ClockGetTime(ClockProcessCpuTimeId, out var t) != 0) throw new InvalidOperationException("clock_gettime(CLOCK_PROCESS_CPUTIME_ID) failed");
        return t.Seconds * 1_000_000_000L + t.Nanoseconds;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", EntryPoint = "clock_gettime", SetLastError = false)]
    private static extern int ClockGetTime(int clockId, out TimeSpec time);
}
