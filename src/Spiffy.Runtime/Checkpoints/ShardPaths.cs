namespace Spiffy.Checkpoints;

/// <summary>
/// Confines shard file names read from an index to the checkpoint directory. The index is data
/// (often downloaded), so a name like "../../secret" or "/dev/zero", or a symlink leading out of the
/// directory, must not make the loader read arbitrary files.
/// </summary>
internal static class ShardPaths
{
    private const int MaxLinks = 40; // like the kernel's ELOOP bound

    /// <summary>Returns the shard's real path, or throws naming the index and the offending name.</summary>
    public static string Resolve(string dir, string realDir, string shard, string indexPath)
    {
        if (shard.Length == 0) throw new CheckpointException($"{indexPath}: empty shard file name");
        if (Path.IsPathRooted(shard) || shard[0] is '/' or '\\')
            throw new CheckpointException($"{indexPath}: shard file name '{shard}' is an absolute path (shards must lie inside the checkpoint directory)");
        if (shard.Contains("..", StringComparison.Ordinal))
            throw new CheckpointException($"{indexPath}: shard file name '{shard}' contains \"..\" (shards must lie inside the checkpoint directory)");
        string real = RealPath(Path.Combine(dir, shard));
        string root = realDir.EndsWith(Path.DirectorySeparatorChar) ? realDir : realDir + Path.DirectorySeparatorChar;
        if (!real.StartsWith(root, StringComparison.Ordinal))
            throw new CheckpointException($"{indexPath}: shard '{shard}' resolves to {real}, outside the checkpoint directory {realDir}");
        return real;
    }

    /// <summary>
    /// The path with every symbolic link resolved, component by component (like realpath(3)), so a
    /// link anywhere along the way is seen. Components that do not exist are kept as written.
    /// </summary>
    public static string RealPath(string path)
    {
        string full = Path.GetFullPath(path);
        string current = Path.GetPathRoot(full) ?? "/";
        var pending = new List<string>(Split(full[current.Length..]));
        int links = 0;
        for (int i = 0; i < pending.Count; i++)
        {
            string part = pending[i];
            if (part.Length == 0 || part == ".") continue;
            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? current;
                continue;
            }
            string next = Path.Join(current, part);
            FileSystemInfo info = System.IO.Directory.Exists(next) ? new DirectoryInfo(next) : new FileInfo(next);
            string? target = info.LinkTarget;
            if (target is null)
            {
                current = next;
                continue;
            }
            if (++links > MaxLinks) throw new CheckpointException($"{path}: too many levels of symbolic links");
            // Splice the link target in place of this component and keep walking (".." in it is
            // then applied to the resolved path, which is what the kernel does).
            var rest = pending.GetRange(i + 1, pending.Count - i - 1);
            pending = new List<string>(Split(target));
            pending.AddRange(rest);
            i = -1;
            if (Path.IsPathRooted(target)) current = Path.GetPathRoot(target) ?? "/";
        }
        return current;
    }

    private static string[] Split(string path) => path.Split(new[] { '/', Path.DirectorySeparatorChar }, StringSplitOptions.RemoveEmptyEntries);
}
