using System.Runtime.InteropServices;

namespace Spiffy.Devices;

/// <summary>
/// The <c>external</c> libtorch backend: when <see cref="DirectoryVariable"/> names a folder (for
/// example a PyTorch installation's <c>torch/lib</c>), its libtorch is loaded by full path before
/// TorchSharp's first native call. TorchSharp then finds <c>torch_cpu</c>/<c>torch_cuda</c> and
/// its own shim's dependencies already in the process (the loader matches them by soname), so no
/// libtorch NuGet package and no <c>LD_LIBRARY_PATH</c> is needed. Without the variable nothing
/// happens and TorchSharp loads the libtorch package the app was built with.
/// </summary>
internal static class NativeBackend
{
    /// <summary>The environment variable naming the libtorch folder of the external backend.</summary>
    public const string DirectoryVariable = "SPIFFY_LIBTORCH_DIR";

    // Loaded in this order; each one's own dependencies resolve through its RUNPATH ($ORIGIN).
    private static readonly string[] Required = { "libc10.so", "libtorch_cpu.so", "libtorch.so" };
    private static readonly string[] CudaLibraries = { "libc10_cuda.so", "libtorch_cuda.so" };

    private static readonly object Gate = new();
    private static bool _done;
    private static string _description = "the libtorch package this build references; SPIFFY_LIBTORCH_DIR is not set";

    /// <summary>The folder the external backend loaded libtorch from, or null.</summary>
    public static string? ExternalDirectory { get; private set; }

    /// <summary>True when the external folder had <c>libtorch_cuda.so</c> and it loaded.</summary>
    public static bool ExternalCudaLoaded { get; private set; }

    /// <summary>Loads the external libtorch once when <see cref="DirectoryVariable"/> is set; idempotent and thread-safe.</summary>
    public static void EnsureLoaded()
    {
        if (_done) return;
        lock (Gate)
        {
            if (_done) return;
            string? dir = Environment.GetEnvironmentVariable(DirectoryVariable);
            if (!string.IsNullOrEmpty(dir)) LoadExternal(dir);
            _done = true;
        }
    }

    /// <summary>Where libtorch comes from, for messages.</summary>
    public static string Describe()
    {
        EnsureLoaded();
        return _description;
    }

    /// <summary>
    /// Runs TorchSharp's first native call. When libtorch cannot be loaded, TorchSharp prints a long
    /// text to stdout and throws; this keeps stdout clean and turns it into one line naming what was
    /// looked for.
    /// </summary>
    internal static T Guard<T>(Func<T> firstCall)
    {
        var stdout = Console.Out;
        try
        {
            Console.SetOut(TextWriter.Null);
            return firstCall();
        }
        catch (Exception e) when (e is NotSupportedException or TypeInitializationException or DllNotFoundException or EntryPointNotFoundException)
        {
            string first = (e.InnerException ?? e).Message.Split('\n', 2)[0].Trim();
            throw new DeviceUnavailableException($"libtorch could not be loaded ({Describe()}): {first} Set {DirectoryVariable} to a libtorch lib folder (e.g. "
                + $"<python site-packages>/torch/lib) or build with SpiffyTorchBackend=cpu; see docs/gpu.md", e);
        }
        finally { Console.SetOut(stdout); }
    }

    private static void LoadExternal(string dir)
    {
        string full = Path.GetFullPath(dir);
        if (!Directory.Exists(full))
            throw new DeviceUnavailableException($"{DirectoryVariable}={dir}: no such folder (it should name a libtorch 'lib' folder, e.g. "
                + $"<python site-packages>/torch/lib)");
        foreach (var name in Required)
        {
            string path = Path.Combine(full, name);
            if (!File.Exists(path))
                throw new DeviceUnavailableException($"{DirectoryVariable}={dir}: {name} not found (it should name a libtorch 'lib' folder, e.g. "
                    + $"<python site-packages>/torch/lib)");
            Load(path);
        }
        bool cuda = File.Exists(Path.Combine(full, CudaLibraries[^1]));
        if (cuda) foreach (var name in CudaLibraries) if (File.Exists(Path.Combine(full, name))) Load(Path.Combine(full, name));
        ExternalDirectory = full;
        ExternalCudaLoaded = cuda;
        _description = cuda ? $"libtorch with CUDA from {DirectoryVariable}={full}"
            : $"libtorch from {DirectoryVariable}={full}, which has no libtorch_cuda.so";
    }

    private static void Load(string path)
    {
        try { NativeLibrary.Load(path); }
        catch (DllNotFoundException e)
        {
            // The loader's own text names the missing dependency or symbol version.
            throw new DeviceUnavailableException($"{DirectoryVariable}: cannot load {path}: {e.Message}", e);
        }
        catch (BadImageFormatException e)
        {
            throw new DeviceUnavailableException($"{DirectoryVariable}: {path} is not a loadable library for this platform: {e.Message}", e);
        }
    }
}
