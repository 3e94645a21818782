using Spiffy.Decoding;
using Spiffy.Generators.Tests.Support;
using Spiffy.Schema.Graphs;
using Spiffy.Speculation;

namespace Spiffy.Generators.Tests;

/// <summary>
/// Generated decoders against the interpreted GraphSpeculator over the same graph: for every keep
/// value and many random block states and drafting distributions, identical draft rows (same
/// rows, same order), identical Match results for every parent and candidate state, identical depths.
/// </summary>
public class DifferentialTests
{
    private static readonly Lazy<(LoadedDecoders Decoders, List<(string Class, GraphSpec Spec)> Graphs)> s_built = new(Build);

    private static (LoadedDecoders, List<(string, GraphSpec)>) Build()
    {
        var graphs = new List<(string File, GraphSpec Spec)>
        {
            ("tiny.json", TestGraphs.Parse(Inputs.TinyJson)),
            ("chain.json", TestGraphs.Rename(DraftGraph.Chain(6, TestGraphs.Decoding(64, 16)), "chain", "gsm8k-small")),
            ("large-chain.json", Inputs.LargeChain()),
            ("llada-demo.json", Inputs.FamilyGraph("llada-8b-instruct", "llada")),
        };
        var rng = new Random(20240607);
        // (nodes, max position rank, max token rank, max depth, keep), up to the unrolling budget of 64 nodes.
        var shapes = new[] { (3, 2, 2, 1, 0), (10, 3, 2, 2, 1), (24, 4, 2, 3, 2), (40, 5, 2, 4, 0), (64, 6, 2, 5, 1), (64, 7, 3, 6, 2) };
        for (int k = 0; k < shapes.Length; k++)
        {
            var (nodes, maxI, maxJ, maxDepth, keep) = shapes[k];
            var spec = TestGraphs.RandomGraph(rng, $"random-{k}", "gsm8k-small", nodes, maxI, maxJ, maxDepth, TestGraphs.Decoding(64, 16), keep == 0
                ? DraftKeep.All : DraftKeep.Of(keep));
            Assert.Equal(nodes, spec.Nodes.Count);
            graphs.Add(($"random-{k}.json", spec));
        }
        var texts = graphs.Select(g => (g.File, Json: TestGraphs.ToJson(g.Spec))).ToList();
        // A shipped calibrated graph as written by `spiffy calibrate` (keep profile included).
        texts.Add(("gsm8k-small-dual.json", File.ReadAllText(Path.Combine(Harness.RepoRoot, "graphs", "gsm8k-small-dual.json"))));
        var decoders = LoadedDecoders.Build(Inputs.With(texts.ToArray()), "DifferentialDecoders");
        // The specs as the runtime parses those files, named by their classes.
        var parsed = texts.Select(t => TestGraphs.Parse(t.Json, t.File)).Select(spec => (ClassName(spec.Name), spec)).ToList();
        Assert.True(parsed[^1].spec.Provenance.KeepProfile.Count > 0, "the shipped graph has a keep profile to carry");
        return (decoders, parsed);
    }

    private static string ClassName(string graphName) =>
        string.Concat(graphName.Split('-').Select(p => char.ToUpperInvariant(p[0]) + p[1..])) + "Decoder";

    public static IEnumerable<object[]> ClassNames() => new[]
    {
        "TinyDecoder", "ChainDecoder", "LargeChainDecoder", "LladaDemoDecoder",
        "Random0Decoder", "Random1Decoder", "Random2Decoder", "Random3Decoder", "Random4Decoder", "Random5Decoder", "Gsm8kSmallDualDecoder",
    }.Select(c => new object[] { c });

    [Theory]
    [MemberData(nameof(ClassNames))]
    public void GraphPropertyEqualsTheParsedFile(string className)
    {
        var (decoders, graphs) = s_built.Value;
        var spec = graphs.Single(g => g.Class == className).Spec;
        Assert.Equal(spec, decoders.Graph(className));
        Assert.Equal(spec.Nodes.Count, decoders.Constant<int>(className, "NodeCount"));
        Assert.Equal(spec.Decoding.BlockLength, decoders.Constant<int>(className, "BlockLength"));
        Assert.Equal(spec.Nodes.Count <= 64, decoders.Constant<bool>(className, "IsUnrolled"));
    }

    [Theory]
    [MemberData(nameof(ClassNames))]
    public void GeneratedDecoderMatchesTheInterpretedOneForEveryKeep(string className)
    {
        var (decoders, graphs) = s_built.Value;
        var spec = graphs.Single(g => g.Class == className).Spec;
        int d = spec.Nodes.Count, b = spec.Decoding.BlockLength;
        var rng = new Random(className.Length * 7919 + d);
        var coverage = new Coverage();
        // None, all and every count for small graphs; for large ones the edges of the range and a spread between.
        var counts = d <= 24 ? Enumerable.Range(1, d + 1) : new[] { 1, 2, 3, 5, d / 3, d / 2, d - 1, d, d + 1 }.Where(k => k >= 1).Distinct();
        var keeps = new[] { DraftKeep.None, DraftKeep.All }.Concat(counts.Select(DraftKeep.Of));
        foreach (var keep in keeps)
        {
            var generated = decoders.Create(className, keep);
            var interpreted = new GraphSpeculator(new DraftGraph(spec), b, keep);
            Assert.Equal(interpreted.MaxDrafts, generated.MaxDrafts);
            Assert.Equal(interpreted.TopTokenRanks, generated.TopTokenRanks);
            int trials = d > 40 ? 60 : 150;
            for (int t = 0; t < trials; t++) CompareOneStep(rng, generated, interpreted, b, $"{className} keep={keep} trial={t}", coverage);
        }
        // Guard against a vacuous pass: drafts were made, pruned, and matched below the root.
        Assert.True(coverage.Rows > 0 && coverage.RootMatches > 0, $"rows {coverage.Rows}, root matches {coverage.RootMatches}");
        if (spec.Nodes.Any(n => n.Depth > 1)) Assert.True(coverage.DeepMatches > 0, "no match below the root");
        if (d > 3) Assert.True(coverage.Pruned > 0, "pruning never limited the rows");
    }

    private sealed class Coverage
    {
        public long Rows, RootMatches, DeepMatches, Pruned;
    }

    private const long Mask = 1;

    private static void CompareOneStep(Random rng, IStepSpeculator generated, IStepSpeculator interpreted, int b, string where, Coverage coverage)
    {
        int j = interpreted.TopTokenRanks, rowsMax = interpreted.MaxDrafts;
        var state = RandomState(rng, b);
        var (probs, tokens) = RandomDistribution(rng, b, j);
        var draftsG = Filled(rowsMax * b, -7);
        var draftsI = Filled(rowsMax * b, -7);
        int n = generated.Draft(state, (int)Mask, probs, tokens, draftsG);
        Assert.Equal(interpreted.Draft(state, (int)Mask, probs, tokens, draftsI), n);
        Assert.True(draftsI.AsSpan().SequenceEqual(draftsG), where + ": draft rows differ");
        for (int r = 0; r < n; r++) Assert.Equal(interpreted.Depth(r), generated.Depth(r));
        coverage.Rows += n;
        if (n == rowsMax && rowsMax < ((GraphSpeculator)interpreted).Graph.NodeCount) coverage.Pruned++;

        // Candidate true states: each draft row, each row with one more position filled, the root
        // with one position filled, and random noise. Parents: the root, every row, and stale rows.
        var candidates = new List<long[]>();
        var others = new List<long[]>();
        for (int r = 0; r < n; r++)
        {
            var row = draftsI.AsSpan(r * b, b).ToArray();
            candidates.Add(row);
            others.Add(FillOne(rng, row));
        }
        for (int k = 0; k < 3; k++) others.Add(FillOne(rng, state));
        others.Add(RandomState(rng, b));
        candidates.AddRange(others.OrderBy(_ => rng.Next()).Take(8));
        for (int parent = -1; parent < rowsMax; parent++)
            foreach (var c in candidates)
            {
                int q = interpreted.Match(parent, c);
                Assert.True(q == generated.Match(parent, c), $"{where}: Match({parent}) differs");
                if (q >= 0 && parent < 0) coverage.RootMatches++;
                if (q >= 0 && parent >= 0) coverage.DeepMatches++;
            }
    }

    private static long[] Filled(int length, long value) { var a = new long[length]; Array.Fill(a, value); return a; }

    /// <summary>A block with a random share of masked positions; tokens drawn from a small range so drafts collide.</summary>
    private static long[] RandomState(Random rng, int b)
    {
        double masked = rng.NextDouble();
        var s = new long[b];
        for (int i = 0; i < b; i++) s[i] = rng.NextDouble() < masked ? Mask : rng.Next(2, 8);
        return s;
    }

    private static long[] FillOne(Random rng, long[] state)
    {
        var s = (long[])state.Clone();
        var masked = Enumerable.Range(0, s.Length).Where(i => s[i] == Mask).ToList();
        if (masked.Count > 0) s[masked[rng.Next(masked.Count)]] = rng.Next(2, 8);
        return s;
    }

    /// <summary>
    /// Per position, J descending probabilities: sometimes coarse (k/8, so positions and scores tie),
    /// sometimes fine, sometimes zero or tiny (the 1e-300 floor), and J tokens from a small range.
    /// </summary>
    private static (double[] Probs, long[] Tokens) RandomDistribution(Random rng, int b, int j)
    {
        var probs = new double[b * j];
        var tokens = new long[b * j];
        int style = rng.Next(4);
        for (int i = 0; i < b; i++)
        {
            var row = new double[j];
            for (int k = 0; k < j; k++)
                row[k] = style switch
                {
                    0 => rng.Next(0, 9) / 8.0,
                    1 => rng.NextDouble(),
                    2 => rng.Next(2) == 0 ? 0 : Math.Pow(10, -rng.Next(0, 320)),
                    _ => Math.Round(rng.NextDouble(), 2),
                };
            Array.Sort(row);
            Array.Reverse(row);
            for (int k = 0; k < j; k++)
            {
                probs[i * j + k] = row[k];
                tokens[i * j + k] = rng.Next(2, 8);
            }
        }
        return (probs, tokens);
    }
}
