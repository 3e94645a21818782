using Spiffy.Calibration;
using Spiffy.Decoding;
using Spiffy.Schema;
using Spiffy.Schema.Graphs;
using static Spiffy.Tests.Calibration.ReplayTests;

namespace Spiffy.Tests.Calibration;

/// <summary>The selection objectives on hand-made count tables and trajectories.</summary>
public class SelectionTests
{
    /// <summary>The prototype's counts (docs/spiffy.md section 5), with one token per step.</summary>
    private static (CandidateDag Dag, Dictionary<string, int> Ids) PrototypeCounts()
    {
        var table = new FormulaTable();
        var entries = new (string Name, (int, int)[] Pairs, long Count)[]
        {
            ("11", new[] { (1, 1) }, 1674),
            ("21", new[] { (2, 1) }, 677),
            ("31", new[] { (3, 1) }, 322),
            ("11+21", new[] { (1, 1), (2, 1) }, 718),
            ("11+31", new[] { (1, 1), (3, 1) }, 300),
            ("21+31", new[] { (2, 1), (3, 1) }, 150),
            ("11+21+31", new[] { (1, 1), (2, 1), (3, 1) }, 405),
        };
        var ids = new Dictionary<string, int>();
        foreach (var e in entries) ids[e.Name] = Intern(table, e.Pairs, e.Pairs.Length);
        var counts = new long[table.Count];
        foreach (var e in entries) counts[ids[e.Name]] = e.Count;
        return (new CandidateDag(table, counts), ids);
    }

    private static string[] Names(Dictionary<string, int> ids, List<int> picked)
    {
        var byId = ids.ToDictionary(kv => kv.Value, kv => kv.Key);
        return picked.Select(id => byId[id]).ToArray();
    }

    [Fact]
    public void Degree1_PilesOntoChildrenOfTheTopNode_AndNeverTakesTheSecondRankedPosition()
    {
        var (dag, ids) = PrototypeCounts();
        var selection = new GraphSelection(dag);
        // degree-1 weights: 11+21 = 718 + 1674 + 677 = 3069, 11+31 = 2296, 11+21+31 = 405 + 718 + 300 + 150 = 1573 > 21 = 677.
        Assert.Equal(3069, selection.Weight(ids["11+21"], SelectionObjective.Degree1));
        Assert.Equal(new[] { "11", "11+21", "11+31", "11+21+31" }, Names(ids, selection.Select(SelectionObjective.Degree1, 4)));
        Assert.Equal(new[] { "11", "11+21", "21", "11+21+31" }, Names(ids, selection.Select(SelectionObjective.Frequency, 4)));
        // Whole ancestors: 11+21+31 = 405 + 718 + 300 + 150 + 1674 + 677 + 322 = 4246.
        Assert.Equal(4246, selection.Weight(ids["11+21+31"], SelectionObjective.Ancestors));
        Assert.Equal(new[] { "11", "11+21", "11+21+31", "11+31" }, Names(ids, selection.Select(SelectionObjective.Ancestors, 4)));
    }

    [Fact]
    public void Selections_AreRootConnected_AndListEveryParent()
    {
        var (dag, ids) = PrototypeCounts();
        var selection = new GraphSelection(dag);
        foreach (var objective in new[] { SelectionObjective.Degree1, SelectionObjective.Frequency, SelectionObjective.Ancestors })
            for (int d = 1; d <= 8; d++)
            {
                var picked = selection.Select(objective, d);
                Assert.Equal(Math.Min(d, 7), picked.Count);
                var g = GraphAssembly.Build(dag, picked, "t", "", "", new GraphDecoding(32, 8, 32, UnmaskingRule.Schedule, ConfidenceKind.Probability,
                    0.9, 1, 1, 0, CacheMode.None),
                    new GraphLimits(3, 1, 3), new GraphProvenance(true, SelectionObjectives.Name(objective), "", 0, 0, ""), DraftKeep.All);
                var errors = new List<SchemaError>();
                GraphSpecParser.Validate(g, "t", errors);
                Assert.Empty(errors);
            }
        // The full graph: 11+21+31 has all three depth-2 parents.
        var full = GraphAssembly.Build(dag, selection.Select(SelectionObjective.Frequency, 7), "t", "", "",
            new GraphDecoding(32, 8, 32, UnmaskingRule.Schedule, ConfidenceKind.Probability, 0.9, 1, 1, 0, CacheMode.None), new GraphLimits(3, 1, 3),
                new GraphProvenance(true, "", "", 0, 0, ""), DraftKeep.All);
        var deepest = full.Nodes[^1];
        Assert.Equal(3, deepest.Depth);
        Assert.Equal(3, deepest.Parents.Count);
        Assert.Equal(1674, full.Nodes[0].Count);
    }

    [Fact]
    public void AFormulaSeenAtTwoDepths_IsSelectedOnce()
    {
        var table = new FormulaTable();
        int a = Intern(table, new[] { (1, 1) }, 1);
        int pairAt1 = Intern(table, new[] { (1, 1), (2, 1) }, 1); // two tokens in one step (threshold)
        int pairAt2 = Intern(table, new[] { (1, 1), (2, 1) }, 2);
        var counts = new long[table.Count];
        counts[a] = 10; counts[pairAt1] = 8; counts[pairAt2] = 6;
        var picked = new GraphSelection(new CandidateDag(table, counts)).Select(SelectionObjective.Frequency, 3);
        Assert.Equal(new[] { a, pairAt1 }, picked);
    }

    [Fact]
    public void ReplayGreedy_PicksTheNodeThatSavesTheMostForwards()
    {
        // The hand-made trajectory: {(2,1)} and {(1,2)} each save one forward per block alone; {(2,1)} with its child saves two.
        var c = new Calibrator(FormulaTests.HandMade(blocks: 3), new FormulaLimits(4, 2, 4));
        var one = c.Select(SelectionObjective.ReplayGreedy, 1);
        var best = long.MaxValue;
        foreach (int id in c.Dag.AtDepth(1))
        {
            var member = new bool[c.Table.Count];
            member[id] = true;
            best = Math.Min(best, c.Chains.Nfe(member));
        }
        var chosen = new bool[c.Table.Count];
        chosen[one[0]] = true;
        Assert.Equal(best, c.Chains.Nfe(chosen));
        var three = c.Select(SelectionObjective.ReplayGreedy, 3);
        Assert.Equal(c.Oracle().Nfe, c.Replay.Replay(c.Graph(three, "g", SelectionObjective.ReplayGreedy, DraftKeep.All)).Nfe);
        // With D* = 1 the pruned phase replays exactly; the result is still a valid, root-connected graph.
        var pruned = c.Calibrate("p", SelectionObjective.ReplayGreedy, 3, keep: DraftKeep.Of(1));
        var errors = new List<SchemaError>();
        GraphSpecParser.Validate(pruned, "p", errors);
        Assert.Empty(errors);
    }

    [Fact]
    public void Objectives_ParseAndName()
    {
        foreach (var o in SelectionObjectives.All) Assert.Equal(o, SelectionObjectives.Parse(SelectionObjectives.Name(o)));
        Assert.Throws<ArgumentException>(() => SelectionObjectives.Parse("best"));
    }
}
