using BenchmarkDotNet.Attributes;
using Spiffy.Decoding;
using Spiffy.Microbenchmarks.Generated;
using Spiffy.Schema.Graphs;
using Spiffy.Speculation;

namespace Spiffy.Microbenchmarks;

/// <summary>
/// The host-side work Spiffy adds to one decoding step, without any forward: draft the graph's rows
/// from P (ranking, pruning, row writes), then the acceptance walk (Match from the root down the
/// chain that came true, Depth of each accepted row). Interpreted <see cref="GraphSpeculator"/>
/// versus the generated <see cref="BenchDagDecoder"/> on the same inputs; both should allocate nothing.
/// </summary>
[MemoryDiagnoser]
public class SpeculatorStepBenchmarks
{
    private const int BlockLength = BenchDagDecoder.BlockLength, Mask = BenchDagDecoder.MaskTokenId, Masked = 20;

    private IStepSpeculator _speculator = null!;
    private readonly long[] _state = new long[BlockLength];
    private double[] _topProbs = null!;
    private long[] _topTokens = null!;
    private long[] _drafts = null!;
    private long[][] _truth = null!;

    [Params(GenerationBenchmarks.Interpreted, GenerationBenchmarks.Generated)]
    public string Speculator { get; set; } = GenerationBenchmarks.Interpreted;

    /// <summary>D*: all drafts every node (no pruning); 4 is the graph's default (<c>keep</c>) and runs the pruning pass.</summary>
    [Params("all", "4")]
    public string Keep { get; set; } = "all";

    [GlobalSetup]
    public void Setup()
    {
        Niceness.Restore(); // BenchmarkDotNet has just raised our priority
        _speculator = Speculator == GenerationBenchmarks.Generated ? new BenchDagDecoder(DraftKeep.Parse(Keep))
            : BenchDagDecoder.CreateInterpreted(DraftKeep.Parse(Keep));
        int j = _speculator.TopTokenRanks;
        var random = new Random(8);
        // A block 12 steps in: the first 12 positions decided, 20 masked.
        for (int i = 0; i < BlockLength; i++) _state[i] = i < BlockLength - Masked ? random.Next(2, BenchDagDecoder.VocabSize) : Mask;
        // P: distinct descending probabilities and distinct tokens per position, so ranks are unambiguous.
        _topProbs = new double[BlockLength * j];
        _topTokens = new long[BlockLength * j];
        for (int i = 0; i < BlockLength; i++)
        {
            // Top-1 in [0.4, 0.99); each further rank takes half of the mass left (so it is smaller).
            double p = 0.4 + 0.59 * random.NextDouble(), left = 1;
            for (int r = 0; r < j; r++)
            {
                _topProbs[i * j + r] = p;
                _topTokens[i * j + r] = 2 + i * j + r;
                left -= p;
                p = 0.5 * left;
            }
        }
        _drafts = new long[_speculator.MaxDrafts * BlockLength];

        // The true future states: the rank-1 token committed at the rank-1, 2, 3, 4 positions in turn
        // (the chain 1 -> 4 -> 7 -> 8 of the graph), so the walk goes as deep as the kept drafts allow.
        var ranked = new int[4];
        DraftRanking.RankPositions(_state, Mask, _topProbs, j, ranked);
        _truth = new long[ranked.Length][];
        var next = (long[])_state.Clone();
        for (int d = 0; d < ranked.Length; d++)
        {
            next[ranked[d]] = _topTokens[ranked[d] * j];
            _truth[d] = (long[])next.Clone();
        }
    }

    [Benchmark]
    public int DraftAndWalk()
    {
        int rows = _speculator.Draft(_state, Mask, _topProbs, _topTokens, _drafts);
        int parent = -1, depth = 0;
        foreach (var state in _truth)
        {
            int q = _speculator.Match(parent, state);
            if (q < 0) break;
            depth = _speculator.Depth(q);
            parent = q;
        }
        return rows * 100 + depth;
    }
}
