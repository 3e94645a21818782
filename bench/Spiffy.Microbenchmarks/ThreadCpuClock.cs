using System.Runtime.InteropServices;
using Perfolizer.Horology;

namespace Spiffy.Microbenchmarks;

/// <summary>
/// A BenchmarkDotNet clock that reads the CPU time of the calling thread instead of the wall clock
/// (<c>--cpu-clock</c>). On a machine shared with a higher-priority job, a nice'd benchmark waits
/// most of its wall time for a core, so wall-clock numbers measure the scheduler; CPU time still
/// measures the work. The engine reads the clock on the thread that runs the workload, and torch is
/// then limited to one thread, so a forward's kernels run on that thread too. Work on other threads
/// (finalizers, background GC) is not counted: process CPU time was tried and picked up the
/// finalizing of earlier benchmarks' tensors. Linux only (clock_gettime).
/// </summary>
public sealed class ThreadCpuClock : IClock
{
    private const int ClockThreadCpuTimeId = 3;

    public static ThreadCpuClock Instance { get; } = new ThreadCpuClock();

    public string Title => "Thread CPU time";

    public bool IsAvailable => OperatingSystem.IsLinux();

    /// <summary>Timestamps are nanoseconds.</summary>
    public Frequency Frequency => new Frequency(1e9);

    public long GetTimestamp()
    {
        if (ClockGetTime(ClockThreadCpuTimeId, out var t) != 0) throw new InvalidOperationException("clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
        return t.Seconds * 1_000_000_000L + t.Nanoseconds;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clockId, out TimeSpec time);
}
