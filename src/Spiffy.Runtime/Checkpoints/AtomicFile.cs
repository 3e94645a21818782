using System.Diagnostics;
using System.Globalization;

namespace Spiffy.Checkpoints;

/// <summary>
/// Writes a file so that readers only ever see the old or the complete new content: the bytes go to
/// a temporary file in the same directory (same file system, so the rename is atomic) which then
/// replaces the target. A symlinked path stays a symlink (the file it leads to is replaced), and
/// the replaced file's permissions are kept. A writer killed mid-write leaves a
/// ".NAME.PID.ID.spiffy-tmp" file; the next write of that name (or <see cref="RemoveStaleTemporaries"/>)
/// removes it once its process is gone.
/// </summary>
internal static class AtomicFile
{
    private const string Suffix = ".spiffy-tmp";

    /// <summary>
    /// Temporary files without a process id (written before issue 15) count as stale after this
    /// long: no write of this tool takes that long, and a younger one may belong to a running writer.
    /// </summary>
    public static readonly TimeSpan LegacyTemporaryAge = TimeSpan.FromHours(1);

    public static void Write(string path, Action<FileStream> write)
    {
        string full = FinalTarget(Path.GetFullPath(path));
        string dir = Path.GetDirectoryName(full) ?? ".";
        Directory.CreateDirectory(dir);
        string name = Path.GetFileName(full);
        RemoveStaleTemporaries(dir, name);
        string temp = Path.Combine(dir, $".{name}.{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}.{Guid.NewGuid():N}{Suffix}");
        try
        {
            using (var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            KeepMode(full, temp);
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    public static void WriteAllText(string path, string text)
        => Write(path, fs =>
        {
            var bytes = new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(text);
            fs.Write(bytes, 0, bytes.Length);
        });

    /// <summary>
    /// Removes temporary files of killed writers in <paramref name="directory"/> (only those of
    /// <paramref name="fileName"/> when given): their process is gone, or they are older than
    /// <see cref="LegacyTemporaryAge"/> and carry no process id.
    /// </summary>
    public static void RemoveStaleTemporaries(string directory, string? fileName = null)
    {
        if (!Directory.Exists(directory)) return;
        string pattern = fileName is null ? "*" + Suffix : $".{fileName}.*{Suffix}";
        foreach (var temp in Directory.EnumerateFiles(directory, pattern))
            if (IsStale(Path.GetFileName(temp), temp)) TryDelete(temp);
    }

    private static bool IsStale(string tempName, string path)
    {
        // ".NAME.PID.GUID.spiffy-tmp": the second-last dot-separated part before the guid is the writer's pid.
        var parts = tempName[..^Suffix.Length].Split('.');
        if (parts.Length >= 3 && int.TryParse(parts[^2], NumberStyles.None, CultureInfo.InvariantCulture, out int pid) && parts[^1].Length == 32)
            return pid != Environment.ProcessId && !IsRunning(pid);
        try { return DateTime.UtcNow - File.GetLastWriteTimeUtc(path) > LegacyTemporaryAge; }
        catch (IOException) { return false; }
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException) { return false; } // no such process
        catch (InvalidOperationException) { return false; }
    }

    /// <summary>The file a path leads to after every symlink (the path itself when it is no symlink).</summary>
    private static string FinalTarget(string full)
    {
        var info = new FileInfo(full);
        if (info.LinkTarget is null) return full;
        var target = info.ResolveLinkTarget(returnFinalTarget: true);
        return target is null ? full : Path.GetFullPath(target.FullName);
    }

    private static void KeepMode(string target, string temp)
    {
        if (OperatingSystem.IsWindows() || !File.Exists(target)) return;
        File.SetUnixFileMode(temp, File.GetUnixFileMode(target));
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (IOException) { /* best effort: the original error matters more */ }
        catch (UnauthorizedAccessException) { }
    }
}
