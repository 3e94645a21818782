namespace Spiffy.Schema.Graphs;

/// <summary>
/// One draft node: a formula (set of (position rank, token rank) pairs, 1-based) standing for the
/// block state <see cref="Depth"/> steps ahead of the root. Id 0 is the root and is implicit.
/// </summary>
public sealed record NodeSpec(int Id, int Depth, EquatableArray<int> PositionRanks, EquatableArray<int> TokenRanks,
    EquatableArray<int> Parents, long Count, int Line, int Column)
{
    /// <summary>The node's (position rank, token rank) pairs.</summary>
    public int PairCount => PositionRanks.Count;
}

/// <summary>
/// The decoding configuration a graph was calibrated for (and is served with). <see cref="Schedule"/>
/// ("even" or Dream's "timesteps"), <see cref="Eps"/> (the timesteps' end) and <see cref="BlockStart"/>
/// ("step" or Dream's "first_position") name the family sampler's details (docs/decoding.md), and so do
/// <see cref="Sampler"/> ("gumbel", "masked_categorical" or "block_multinomial"), <see cref="TopK"/> (0 = off) and
/// <see cref="TopP"/> (1 = off) for sampling, Dream's <see cref="AlgTemp"/> (0 = top-k positions) and SDAR's <see cref="OverfullTopK"/>.
/// </summary>
public sealed record GraphDecoding(int GenLength, int BlockLength, int Steps, string Unmasking, string Confidence,
    double Threshold, double Factor, int K, double Temperature, string Cache,
    string Schedule = GraphDecoding.EvenSchedule, double Eps = GraphDecoding.DefaultEps, string BlockStart = GraphDecoding.StepBlockStart,
    string Sampler = GraphDecoding.GumbelSampler, int TopK = 0, double TopP = 1.0, double AlgTemp = 0,
    bool OverfullTopK = false)
{
    /// <summary>The sampler that adds float64 Gumbel noise to the logits (LLaDA's).</summary>
    public const string GumbelSampler = "gumbel";
    /// <summary>The schedule that spreads a block's tokens evenly over its steps.</summary>
    public const string EvenSchedule = "even";
    /// <summary>A block's first step is taken like any other (not Dream's first-position rule).</summary>
    public const string StepBlockStart = "step";
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
    /// <summary>This entry's D*: <see cref="Keep"/> counts drafts here, so 0 is <see cref="DraftKeep.None"/> (unlike a graph's top-level <c>keep</c>).</summary>
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
