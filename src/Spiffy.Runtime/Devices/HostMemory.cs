using System.Globalization;

namespace Spiffy.Devices;

/// <summary>The process's host memory as the kernel counts it (Linux /proc/self/status); -1 elsewhere.</summary>
internal static class HostMemory
{
    /// <summary>Peak resident set size of this process so far (VmHWM), in bytes.</summary>
    public static long PeakResidentBytes() => Read("VmHWM:");

    /// <summary>Current resident set size (VmRSS), in bytes.</summary>
    public static long ResidentBytes() => Read("VmRSS:");

    private static long Read(string field)
    {
        const string status = "/proc/self/status";
        if (!File.Exists(status)) return -1;
        foreach (var line in File.ReadLines(status))
        {
            if (!line.StartsWith(field, StringComparison.Ordinal)) continue;
            var parts = line[field.Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            // The kernel reports kB (1024 bytes).
            if (parts.Length == 2 && parts[1] == "kB" && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long kb))
                return kb * 1024;
        }
        return -1;
    }
}
