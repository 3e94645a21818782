using System.Globalization;
using System.Text;
using Spiffy.Files;
using Spiffy.Benchmarking;
using Spiffy.Checkpoints;

namespace Spiffy.Cli.Bench;

/// <summary>
/// Writes a report into a Markdown file between <c>&lt;!-- bench:begin --&gt;</c> and
/// <c>&lt;!-- bench:end --&gt;</c>, keeping the hand-written analysis around it; a file without the
/// markers gets them appended. The file is replaced atomically.
/// </summary>
internal static class BenchMarkdown
{
    public const string Begin = "<!-- bench:begin (written by spiffy bench --out; edits inside are overwritten) -->";
    public const string End = "<!-- bench:end -->";

    public static void WriteSection(string path, BenchReport report, string? chartPath)
    {
        string existing = File.Exists(path) ? Spiffy.Files.InputFile.ReadAllText(path, Spiffy.Files.InputFile.MaxJsonBytes, "report") : "# Benchmarks\n\n";
        string section = Render(report, chartPath is null ? null
            : Path.GetRelativePath(Path.GetDirectoryName(Path.GetFullPath(path))!, Path.GetFullPath(chartPath)));
        int b = existing.IndexOf("<!-- bench:begin", StringComparison.Ordinal);
        int e = existing.IndexOf(End, StringComparison.Ordinal);
        string text = b >= 0 && e > b
            ? existing[..b] + section + existing[(e + End.Length)..]
            : existing.TrimEnd() + "\n\n" + section + "\n";
        AtomicFile.WriteAllText(path, text);
    }

    public static string Render(BenchReport report, string? chartRelative)
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(Begin).Append("\n\n");
        sb.Append(ci, $"Measured {report.Date:yyyy-MM-dd HH:mm} UTC on {report.Machine}, device {report.Device}.\n\n");
        sb.Append(ci, $"Model `{report.Model}`, {report.Prompts} prompts ({report.PromptSource}), generation {report.GenLength}, "
            + $"block {report.BlockLength}, greedy.\n\n");
        sb.Append("```sh\n").Append(report.Command.Trim()).Append("\n```\n\n");
        if (chartRelative is not null)
            sb.Append("![NFE reduction, wall-clock speedup and acceptance by depth per mode](").Append(chartRelative.Replace('\\', '/')).Append(")\n\n");
        sb.Append(report.ToMarkdownTable()).Append('\n');
        sb.Append("Step cost (the forward and its rows' scoring) measured in the same run (minimum of 5 after a warm-up, middle block):\n\n");
        sb.Append(report.CostTable()).Append('\n');
        if (report.Oracles.Count > 0)
        {
            sb.Append("Replay oracle bound on the same prompts (every true future state within the graph's rank and depth limits "
                + "drafted, no width limit):\n\n");
            sb.Append(report.OracleTable()).Append('\n');
        }
        var notes = report.Modes.Where(m => m.Mode.Note.Length > 0).ToList();
        if (notes.Count > 0)
        {
            sb.Append("Notes:\n\n");
            foreach (var m in notes) sb.Append(ci, $"- `{m.Mode.Name}`: {m.Mode.Note}\n");
            sb.Append('\n');
        }
        sb.Append(End);
        return sb.ToString();
    }
}
