using System.Runtime.InteropServices;

namespace Spiffy.Microbenchmarks;

/// <summary>
/// Keeps the benchmarks at the priority they were started with. BenchmarkDotNet's in-process
/// executor raises the process to High priority before each benchmark (nice -11 on Linux, allowed
/// for root), which would let a benchmark started with `nice -n 19` push aside the jobs it was
/// meant to yield to. Every GlobalSetup, which runs after that raise, puts the start value back.
/// </summary>
public static class Niceness
{
    private const int PrioProcess = 0;

    /// <summary>The nice value of the main thread at startup (null when not on Linux).</summary>
    public static int? Original { get; private set; }

    /// <summary>Call first thing in Main, before BenchmarkDotNet changes anything.</summary>
    public static void Remember()
    {
        if (OperatingSystem.IsLinux()) Original = GetPriority(PrioProcess, 0);
    }

    /// <summary>Lowers the main thread and the calling thread back to <see cref="Original"/> (raising a nice value needs no privilege).</summary>
    public static void Restore()
    {
        if (Original is not int nice) return;
        // On Linux a "process" priority is per thread: the id names one thread, 0 the caller.
        SetPriority(PrioProcess, Environment.ProcessId, nice);
        SetPriority(PrioProcess, 0, nice);
    }

    [DllImport("libc", EntryPoint = "getpriority")]
    private static extern int GetPriority(int which, int who);

    [DllImport("libc", EntryPoint = "setpriority")]
    private static extern int SetPriority(int which, int who, int prio);
}
