// Torch kernels already use every core; xunit running test classes in parallel oversubscribes
// the CPU (OpenMP threads spin-wait), which made the suite many times slower.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
