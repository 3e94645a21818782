using Spiffy.Benchmarking;
using Spiffy.Cli.Bench;
using Spiffy.Decoding;
using Spiffy.Schema.Graphs;
using Spiffy.Speculation;

namespace Spiffy.Cli.Tests.Bench;

/// <summary>The bench's report writers (tool code in the CLI); `spiffy bench --out/--chart` runs them end to end (KillTests).</summary>
public class BenchWriterTests
{
    private static BenchReport Report(string command, params ModeResult[] modes) => new()
    {
        Model = "m", PromptSource = "p", Prompts = 1, GenLength = 8, BlockLength = 8, Command = command, Modes = modes,
    };

    [Fact]
    public void Chart_DrawsEveryModeAndTheAcceptanceOfSpiffyModes()
    {
        var o = new DecodingOptions { GenLength = 8, BlockLength = 8 };
        var plain = new ModeResult(new BenchMode("baseline", o), 1)
        {
            Runs = 1, Total = { Nfe = 8, Steps = 8, TokensCommitted = 8, WallTime = TimeSpan.FromMilliseconds(10) },
        };
        var spiffy = new ModeResult(new BenchMode("baseline+spiffy", o, DraftGraph.Chain(2, o.ToSchema()), DraftKeep.All, "baseline"), 1)
        {
            Runs = 1, Total = { Nfe = 5, Steps = 8, TokensCommitted = 8, WallTime = TimeSpan.FromMilliseconds(7) },
        };
        foreach (int accepted in new[] { 0, 1, 1, 2 }) // four verification forwards: histogram 1, 2, 1
        {
            spiffy.Total.Speculation.RecordStepForward(1);
            spiffy.Total.Speculation.RecordWalk(accepted);
        }

        string svg = BenchChart.ToSvg(Report("spiffy bench", plain, spiffy));

        Assert.StartsWith("<svg", svg);
        Assert.EndsWith("</svg>", svg.TrimEnd());
        Assert.Contains("baseline+spiffy", svg);
        Assert.Contains("baseline", svg.Replace("baseline+spiffy", ""));
    }

    [Fact]
    public void Markdown_ReplacesOnlyTheMarkedSection()
    {
        string dir = Directory.CreateTempSubdirectory("spiffy-bench-").FullName;
        try
        {
            string path = Path.Combine(dir, "b.md");
            File.WriteAllText(path, "# Title\n\nhand-written analysis\n\n" + BenchMarkdown.Begin + "\nold\n" + BenchMarkdown.End + "\n\ntail\n");
            BenchMarkdown.WriteSection(path, Report("spiffy bench --count 1"), null);
            string text = File.ReadAllText(path);
            Assert.Contains("hand-written analysis", text);
            Assert.Contains("tail", text);
            Assert.DoesNotContain("\nold\n", text);
            Assert.Contains("spiffy bench --count 1", text);
            Assert.Empty(Directory.GetFiles(dir, "*tmp*"));
        }
        finally { Directory.Delete(dir, true); }
    }
}
