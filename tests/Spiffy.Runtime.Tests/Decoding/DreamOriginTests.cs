using System.Text.Json;
using Spiffy.Decoding;
using Spiffy.Speculation;
using Spiffy.Tests.Checkpoints;
using Spiffy.Tests.Speculation;
using Xunit.Abstractions;

namespace Spiffy.Tests.Decoding;

/// <summary>
/// Dream's alg "origin" (<see cref="UnmaskingRule.Origin"/>): its coin flips come from the generator of (seed, step), not
/// from the authors' one stream (how many it draws per step depends on its own earlier flips, so the stream's position
/// at a step depends on the path, which Spiffy's drafts do not know), so it is checked by distribution against the
/// authors' sampler (tests/reference/vectors/sampler-dream/origin.json) and token for token between Spiffy and plain.
/// </summary>
public class DreamOriginTests(ITestOutputHelper output)
{
    private const int OurSamples = 500;
    private const int PowerSamples = 300;

    private static DecodingOptions Origin(int gen, int steps, double temperature, long seed) => new()
    {
        GenLength = gen, BlockLength = gen, Steps = steps, Unmasking = UnmaskingRule.Origin, Schedule = ScheduleKind.Timesteps,
        Temperature = temperature, Sampler = SamplerKind.Gumbel, Seed = seed,
    };

    [Theory]
    [InlineData(16, 0.0)]
    [InlineData(8, 0.0)]
    [InlineData(16, 1.0)]
    public void Spiffy_ReproducesThePlainOriginSampler_TokenForToken(int steps, double temperature)
    {
        var (model, _) = AuthorsSamplerParityTests.Load("dream");
        long[] prompt = { 3, 14, 15, 9, 26 };
        long free = 0;
        for (long seed = 0; seed < 4; seed++)
        {
            var o = Origin(16, steps, temperature, seed);
            var plain = new DiffusionDecoder(model).Generate(prompt, o);
            var decoding = o.ToSchema();
            foreach (var graph in new[] { DraftGraph.Chain(4, decoding, 1), SpiffyLosslessTests.WideGraph(decoding) })
            {
                var r = new DiffusionDecoder(model).Generate(prompt, o, speculator: new GraphSpeculator(new DraftGraph(graph), o.BlockLength));
                Assert.Equal(plain.TokenIds, r.TokenIds);
                Assert.Equal(plain.Statistics.Nfe, r.Statistics.Nfe + r.Statistics.FreeSteps);
                free += r.Statistics.FreeSteps;
            }
        }
        output.WriteLine($"free steps: {free}");
    }

    [Fact]
    public void Origin_FollowsTheAuthorsOriginSampler_OverTheWholeOutput()
    {
        var (model, _) = AuthorsSamplerParityTests.Load("dream");
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(CheckpointTestSupport.RepoRoot, "tests", "reference", "vectors",
            "sampler-dream", "origin.json")));
        var root = doc.RootElement;
        long[] prompt = root.GetProperty("prompt").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        int gen = root.GetProperty("gen_length").GetInt32(), steps = root.GetProperty("steps").GetInt32(), samples = root.GetProperty("samples").GetInt32();
        double temperature = root.GetProperty("temperature").GetDouble();
        var authors = new List<long[]>();
        foreach (var kv in root.GetProperty("counts").EnumerateObject())
            for (int i = 0; i < kv.Value.GetInt32(); i++) authors.Add(kv.Name.Split(',').Select(long.Parse).ToArray());
        Assert.Equal(samples, authors.Count);
        var decoder = new DiffusionDecoder(model);
        var ours = new List<long[]>();
        var byConfidence = new List<long[]>();
        // Fewer runs of ours than the reference's 1000 keep the test short; the two-sample test allows unequal sizes.
        for (int s = 0; s < OurSamples; s++)
        {
            var o = Origin(gen, steps, temperature, 1_000_000 + s) with { TrimEos = false };
            ours.Add(decoder.Generate(prompt, o).TokenIds);
            // Power: the same timesteps and temperature, positions by confidence (maskgit_plus) instead of coin flips.
            if (s < PowerSamples) byConfidence.Add(decoder.Generate(prompt, o with { Unmasking = UnmaskingRule.Schedule }).TokenIds);
        }
        var verdicts = SamplingDistributionTests.Compare(authors, ours);
        foreach (var v in verdicts) output.WriteLine("origin: " + v);
        foreach (var v in verdicts) Assert.True(!v.Rejects, $"{v}: our origin rule does not follow the authors' distribution");
        var power = SamplingDistributionTests.Compare(authors, byConfidence);
        foreach (var v in power) output.WriteLine("confidence rule: " + v);
        Assert.Contains(power, v => v.Rejects);
    }
}
