using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Spiffy.Microbenchmarks;

Niceness.Remember();

// Our own switch (docs/microbenchmarks.md), removed before BenchmarkDotNet parses the rest.
var arguments = new List<string>(args);
bool cpuClock = arguments.Remove("--cpu-clock");

// Benchmarks run in this process. BenchmarkDotNet's default toolchain builds and starts a second
// project, whose own copy of libLibTorchSharp.so is not patched for Debian 12
// (build/LibTorchSharpGlibcFix.targets) and which would copy libtorch (~525 MB) once more. The
// in-process default gives up after 5 minutes per benchmark, too soon on a busy 2-core machine.
var job = Job.Default.WithToolchain(new InProcessEmitToolchain(TimeSpan.FromHours(2), logOutput: true));
if (cpuClock)
{
    // One torch thread: kernels then run on the benchmark thread, whose CPU time the clock reads.
    TorchSharp.torch.set_num_threads(1);
    job = job.WithClock(ThreadCpuClock.Instance);
}

// Reports next to the project (ignored by git), not wherever `dotnet run` was started. Min and
// median next to the mean: on a shared machine they are the robust ones. The job is a mutator,
// so it applies to whatever job the command line picks (--job short, --job dry, ...).
IConfig config = DefaultConfig.Instance
    .WithArtifactsPath(Path.Combine(BenchModel.RepoRoot, "bench", "Spiffy.Microbenchmarks", "BenchmarkDotNet.Artifacts"))
    .AddColumn(StatisticColumn.Min, StatisticColumn.Median)
    .AddJob(job.AsMutator());
BenchmarkSwitcher.FromAssembly(typeof(BenchModel).Assembly).Run(arguments.ToArray(), config);
