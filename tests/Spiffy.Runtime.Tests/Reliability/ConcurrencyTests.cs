using Spiffy.Schema.Graphs;
using Spiffy.Decoding;
using Spiffy.Speculation;
using Xunit.Abstractions;
using static Spiffy.Tests.Decoding.DecodingTestSupport;

namespace Spiffy.Tests.Reliability;

/// <summary>
/// One loaded model shared by many threads: parallel generations (plain, Spiffy, batched; several
/// decoders and families) give exactly the tokens of sequential runs. A decoder and a model may be
/// shared; a speculator holds per-generation state and is created per generation.
/// </summary>
public class ConcurrencyTests(ITestOutputHelper output)
{
    private sealed record Job(string Family, string Kind, bool Spiffy, int Prompt);

    private static readonly string[] Kinds = { "schedule", "threshold", "dual", "prefix-threshold" };

    private static long[] Run(DiffusionDecoder decoder, Job job, long[][] prompts)
    {
        var o = Speculation.SpiffyLosslessTests.Configure(Options(decoder.Model.Spec), job.Family == "sdar" ? "schedule" : job.Kind);
        IStepSpeculator? spec = job.Spiffy
            ? new GraphSpeculator(new DraftGraph(Speculation.SpiffyLosslessTests.WideGraph(o.ToSchema())), o.BlockLength, keep: job.Prompt % 2 == 0
                ? DraftKeep.All : DraftKeep.Of(3))
            : null;
        return decoder.Generate(prompts[job.Prompt], o, speculator: spec).TokenIds;
    }

    [Theory]
    [InlineData("llada")]
    [InlineData("sdar")]
    public void ParallelGenerations_OnOneModel_EqualSequentialOnes(string family)
    {
        var model = Properties.SpiffyLosslessProperties.SharedModel(family);
        var decoder = new DiffusionDecoder(model);
        var prompts = Prompts(4, 404);
        var jobs = (from kind in family == "sdar" ? new[] { "schedule" } : Kinds
                    from spiffy in new[] { false, true }
                    from p in Enumerable.Range(0, 2)
                    select new Job(family, kind, spiffy, p)).ToArray();
        var expected = jobs.Select(j => Run(decoder, j, prompts)).ToArray();
        var batchOptions = Options(model.Spec);
        var expectedBatch = decoder.Generate(prompts, batchOptions).Select(r => r.TokenIds).ToArray();

        const int threads = 8;
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var start = new Barrier(threads);
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            start.SignalAndWait();
            try
            {
                // Each thread walks the jobs from a different offset, so different decoders overlap.
                for (int k = 0; k < jobs.Length; k += 4)
                {
                    int j = (k + t * 3) % jobs.Length;
                    var got = Run(decoder, jobs[j], prompts);
                    int diff = FirstDifference(expected[j], got);
                    if (diff >= 0) failures.Enqueue($"thread {t}, {jobs[j]}: first difference at {diff}");
                }
                var batch = decoder.Generate(prompts, batchOptions);
                for (int r = 0; r < prompts.Length; r++)
                    if (FirstDifference(expectedBatch[r], batch[r].TokenIds) is int d && d >= 0)
                        failures.Enqueue($"thread {t}, batch row {r}: first difference at {d}");
            }
            catch (Exception e) { failures.Enqueue($"thread {t}: {e.GetType().Name}: {e.Message}"); }
        })).ToList();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        // One intra-op thread per generation: 8 threads x all cores of OpenMP spin-waiting would only oversubscribe.
        int torchThreads = TorchSharp.torch.get_num_threads();
        TorchSharp.torch.set_num_threads(1);
        try
        {
            workers.ForEach(w => w.Start());
            foreach (var w in workers) Assert.True(w.Join(TimeSpan.FromMinutes(10)), "a generation thread hung");
        }
        finally { TorchSharp.torch.set_num_threads(torchThreads); }
        output.WriteLine($"{family}: {threads} threads x {(jobs.Length + 3) / 4 + 1} generations in {watch.Elapsed.TotalSeconds:F1} s");
        Assert.True(failures.IsEmpty, string.Join("\n", failures));
    }
}
