using CsCheck;
using Spiffy.Calibration;
using Spiffy.Schema;
using Spiffy.Schema.Graphs;
using static Spiffy.Tests.Properties.RandomGraphs;

namespace Spiffy.Tests.Properties;

/// <summary>
/// The graph parser accepts every valid graph and rejects every graph that breaks one rule, always
/// with a located message, never by accepting it or by throwing.
/// </summary>
public class GraphRejectionProperties
{
    private static List<SchemaError> Parse(string json, out GraphSpec? spec)
    {
        var errors = new List<SchemaError>();
        spec = GraphSpecParser.Parse(json, "g.json", errors);
        return errors;
    }

    [Fact]
    public void RandomValidGraph_IsAccepted_AndReadsBackAsItself()
    {
        Ops.Sample(ops =>
        {
            var g = Build(ops, DefaultDecoding);
            var errors = Parse(GraphFileWriter.ToJson(g), out var back);
            Assert.Empty(errors);
            Assert.NotNull(back);
            Assert.Equal(g.Nodes.Count, back!.Nodes.Count);
            for (int n = 0; n < g.Nodes.Count; n++)
            {
                Assert.Equal(g.Nodes[n].PositionRanks, back.Nodes[n].PositionRanks);
                Assert.Equal(g.Nodes[n].TokenRanks, back.Nodes[n].TokenRanks);
                Assert.Equal(g.Nodes[n].Parents, back.Nodes[n].Parents);
                Assert.Equal(g.Nodes[n].Depth, back.Nodes[n].Depth);
            }
        }, iter: 300, threads: 1);
    }

    public const int MutationCount = 15;

    /// <summary>Breaks one rule of a valid graph; returns the file text and what was broken (null when the mutation does not apply).</summary>
    internal static (string Json, string What)? Break(GraphSpec g, int mutation, int pick)
    {
        int d = g.Nodes.Count;
        int n = pick % d;
        var node = g.Nodes[n];
        GraphSpec? bad = null;
        string what;
        switch (mutation)
        {
            case 0:
                what = "ids out of order";
                bad = With(g, n, x => x with { Id = x.Id + d });
                break;
            case 1:
                what = "depth one too deep";
                bad = With(g, n, x => x with { Depth = x.Depth + 1 }) with { Limits = g.Limits with { MaxDepth = g.Limits.MaxDepth + 1 } };
                break;
            case 2:
                what = "position rank above the limit";
                bad = With(g, n, x => x with { PositionRanks = Ints(x.PositionRanks.Select((v, i) => i == 0 ? g.Limits.MaxPositionRank + 1 : v)) });
                break;
            case 3:
                what = "token rank above the limit";
                bad = With(g, n, x => x with { TokenRanks = Ints(x.TokenRanks.Select((v, i) => i == 0 ? g.Limits.MaxTokenRank + 1 : v)) });
                break;
            case 4:
                what = "one position twice";
                bad = With(g, n, x => x with
                {
                    PositionRanks = Ints(x.PositionRanks.Append(x.PositionRanks[0])),
                    TokenRanks = Ints(x.TokenRanks.Append(x.TokenRanks[0] % MaxTokenRank + 1))
                });
                break;
            case 5:
                what = "duplicate formula";
                // The copy goes last with the next id, so only the duplicate (and perhaps depth order) is wrong.
                bad = g with { Nodes = new EquatableArray<NodeSpec>(g.Nodes.Append(node with { Id = d + 1 }).ToArray()) };
                break;
            case 6:
                what = "no parent";
                bad = With(g, n, x => x with { Parents = EquatableArray<int>.Empty });
                break;
            case 7:
                what = "parent that does not exist";
                bad = With(g, n, x => x with { Parents = Ints(x.Parents.Append(d + 5)) });
                break;
            case 8:
                what = "a parent-rule parent left out";
                bad = With(g, n, x => x with { Parents = Ints(x.Parents.Take(x.Parents.Count - 1)) });
                break;
            case 9:
                {
                    what = "parent that is not a strict subset";
                    int other = Enumerable.Range(0, d).FirstOrDefault(i => node.Depth > 1 && g.Nodes[i].Depth == node.Depth - 1
                        && !node.Parents.Contains(i + 1), -1);
                    if (other < 0) return null;
                    bad = With(g, n, x => x with { Parents = Ints(x.Parents.Append(other + 1)) });
                    break;
                }
            case 10:
                {
                    what = "parent listed after the node";
                    int later = Enumerable.Range(n + 1, d - n - 1).FirstOrDefault(i => true, -1);
                    if (later < 0) return null;
                    bad = With(g, n, x => x with { Parents = Ints(x.Parents.Append(later + 1)) });
                    break;
                }
            case 11:
                what = "no pairs";
                bad = With(g, n, x => x with { PositionRanks = EquatableArray<int>.Empty, TokenRanks = EquatableArray<int>.Empty });
                break;
            case 12:
                what = "the root as parent of a deeper node";
                if (node.Depth < 2) return null;
                bad = With(g, n, x => x with { Parents = Ints(x.Parents.Prepend(0)) });
                break;
            case 13:
                what = "fewer pairs than steps";
                if (node.PairCount != node.Depth || node.PairCount < 2) return null;
                bad = With(g, n, x => x with { PositionRanks = Ints(x.PositionRanks.Skip(1)), TokenRanks = Ints(x.TokenRanks.Skip(1)) });
                break;
            default:
                what = "max_depth below the deepest node";
                bad = g with { Limits = g.Limits with { MaxDepth = g.Limits.MaxDepth - 1 } };
                break;
        }
        return (GraphFileWriter.ToJson(bad!), what);
    }

    [Fact]
    public void RandomGraphBrokenByOneRule_IsRejectedWithALocatedMessage()
    {
        int applied = 0;
        var seen = new HashSet<int>();
        Gen.Select(Ops, Gen.Int[0, MutationCount - 1], Gen.Int[0, 63]).Sample((ops, mutation, pick) =>
        {
            var g = Build(ops, DefaultDecoding);
            var broken = Break(g, mutation, pick);
            if (broken is null) return;
            var errors = Parse(broken.Value.Json, out var spec);
            Assert.True(spec is null, $"accepted a graph with {broken.Value.What}:\n{broken.Value.Json}");
            Assert.NotEmpty(errors);
            foreach (var e in errors)
            {
                Assert.True(e.Line >= 1 && e.Column >= 1, $"unlocated error: {e}");
                Assert.False(string.IsNullOrWhiteSpace(e.Message));
            }
            lock (seen) { seen.Add(mutation); applied++; }
        }, iter: 1500, threads: 1);
        Assert.True(seen.Count == MutationCount, $"only mutations {string.Join(",", seen.Order())} were exercised");
        Assert.True(applied > 500);
    }

    [Fact]
    public void JsonLevelBreakage_IsRejectedWithALocatedMessage()
    {
        // Wrong types, unknown and missing fields, out-of-range numbers, in random places of a random valid graph.
        var edits = new (string From, string To)[]
        {
            ("\"depth\": ", "\"depth\": \"x\", \"_d\": "), ("\"parents\": [", "\"parents\": [true, "), ("\"pairs\": [[", "\"pairs\": [[0, "),
            ("\"id\": ", "\"idx\": 1, \"id\": "), ("\"count\": ", "\"count\": -1"), ("\"max_depth\": ", "\"max_depth\": 1e400, \"_x\": "),
            ("\"gen_length\": 32", "\"gen_length\": 30"), ("\"format\": \"spiffy-graph/1\"", "\"format\": \"spiffy-graph/2\""),
            ("\"pairs\": [[", "\"pairs\": [[4294967297, 1], ["), ("\"keep\": 0", "\"keep\": 99999999999999999999"),
        };
        Gen.Select(Ops, Gen.Int[0, edits.Length - 1], Gen.Int[0, 63]).Sample((ops, e, which) =>
        {
            string json = GraphFileWriter.ToJson(Build(ops, DefaultDecoding));
            var (from, to) = edits[e];
            var at = new List<int>();
            for (int i = json.IndexOf(from, StringComparison.Ordinal); i >= 0; i = json.IndexOf(from, i + 1, StringComparison.Ordinal)) at.Add(i);
            Assert.NotEmpty(at);
            int pos = at[which % at.Count];
            string broken = json[..pos] + to + json[(pos + from.Length)..];
            var errors = Parse(broken, out var spec);
            Assert.True(spec is null, $"accepted after replacing {from} by {to}:\n{broken}");
            Assert.All(errors, x => Assert.True(x.Line >= 1 && x.Column >= 1));
        }, iter: 400, threads: 1);
    }
}
