using Spiffy.Decoding;

namespace Spiffy.Schema.Graphs;

/// <summary>
/// One draft node: a formula (set of (position rank, token rank) pairs, 1-based) standing for the
/// block state <see cref="Depth"/> steps ahead of the root. Id 0 is the root and is implicit. Plain
/// values only: where the node stands in its file is not part of it, so reformatting a file leaves
/// its graph equal (the generator caches on it).
/// </summary>
public sealed record NodeSpec(int Id, int Depth, EquatableArray<int> PositionRanks, EquatableArray<int> TokenRanks,
    EquatableArray<int> Parents, long Count)
{
    /// <summary>The node's (position rank, token rank) pairs.</summary>
    public int PairCount => PositionRanks.Count;

    /// <summary>A node from plain arrays (the arrays are taken, not copied).</summary>
    public static NodeSpec Create(int id, int depth, int[] positionRanks, int[] tokenRanks, int[] parents, long count = 0)
        => new NodeSpec(id, depth, new EquatableArray<int>(positionRanks), new EquatableArray<int>(tokenRanks), new EquatableArray<int>(parents), count);
}

/// <summary>
/// The decoding configuration a graph was calibrated for (and is served with), in the schema's
/// enums (spelled in files as <see cref="Spiffy.Schema.Decoding.DecodingNames"/> says). <see cref="Schedule"/>,
/// <see cref="Eps"/> (the timesteps' end) and <see cref="BlockStart"/> name the family sampler's details
/// (docs/decoding.md), and so do <see cref="Sampler"/>, <see cref="TopK"/> (0 = off) and <see cref="TopP"/>
/// (1 = off) for sampling, Dream's <see cref="AlgTemp"/> (0 = top-k positions) and SDAR's <see cref="OverfullTopK"/>;
/// <see cref="Spiffy.Schema.Decoding.DecodingRules"/> holds the rules it must satisfy.
/// </summary>
public sealed record GraphDecoding(int GenLength, int BlockLength, int Steps, UnmaskingRule Unmasking, ConfidenceKind Confidence,
    double Threshold, double Factor, int K, double Temperature, CacheMode Cache,
    ScheduleKind Schedule = ScheduleKind.Even, double Eps = GraphDecoding.DefaultEps, BlockStartRule BlockStart = BlockStartRule.Step,
    SamplerKind Sampler = SamplerKind.Gumbel, int TopK = 0, double TopP = 1.0, double AlgTemp = 0, bool OverfullTopK = false)
{
    /// <summary>Dream's default eps (DreamGenerationConfig).</summary>
    public const double DefaultEps = 1e-3;
}

/// <summary>Rank and depth limits declared by a graph; every node must stay within them.</summary>
public sealed record GraphLimits(int MaxPositionRank, int MaxTokenRank, int MaxDepth);

/// <summary>
/// What a D* costs on the calibration prompts: the step forwards taken and the rows they carried
/// (Keep 0 = no drafts, the plain decoder). With a forward's measured cost a + b x rows, the time of
/// the step forwards is a x StepForwards + b x Rows, so a machine can choose its D* (docs/benchmarks.md).
/// </summary>
public sealed record KeepCost(int Keep, long StepForwards, long Rows)
{
    /// <summary>This entry's D*: <see cref="Keep"/> counts drafts here, so 0 is
    /// <see cref="DraftKeep.None"/> (unlike a graph's top-level <c>keep</c>).</summary>
    public DraftKeep Drafts => Keep == 0 ? DraftKeep.None : DraftKeep.Of(Keep);
}

/// <summary>Where a graph came from.</summary>
public sealed record GraphProvenance(bool Calibrated, string Objective, string PromptSource, int PromptCount, long StepsObserved, string Note,
    EquatableArray<KeepCost> KeepProfile = default);

/// <summary>A parsed, validated draft graph file (<c>graphs/*.json</c>, docs/graph-schema.md).</summary>
public sealed record GraphSpec(
    string Name,
    string ModelName,
    string ModelHash,
    GraphDecoding Decoding,
    GraphLimits Limits,
    GraphProvenance Provenance,
    DraftKeep Keep,
    EquatableArray<NodeSpec> Nodes)
{
    /// <summary>Steps ahead of the root of the deepest node.</summary>
    public int MaxDepth
    {
        get
        {
            int d = 0;
            foreach (var n in Nodes) if (n.Depth > d) d = n.Depth;
            return d;
        }
    }
}
