using System.Globalization;
using System.Text;
using Spiffy.Benchmarking;

namespace Spiffy.Cli.Bench;

/// <summary>
/// A self-contained SVG of a benchmark: NFE reduction and wall-clock speedup against the baseline
/// per mode (horizontal bars, a line at 1x), and each Spiffy mode's acceptance by depth (share of
/// verification forwards whose accepted chain had length d). Deterministic, culture-invariant.
/// </summary>
internal static class BenchChart
{
    private const int RowHeight = 26, LabelWidth = 250, BarWidth = 520, Margin = 16;
    private const string NfeColor = "#3b75af", SpeedColor = "#ef8636";

    public static string ToSvg(BenchReport report)
    {
        var modes = report.Modes;
        var spiffy = modes.Where(m => m.Mode.Graph is not null && m.Total.AcceptedByDepth.Count > 0).ToList();
        double max = 1;
        foreach (var m in modes) max = Math.Max(max, Math.Max(Safe(m.NfeReduction), Safe(m.Speedup)));
        max = Math.Ceiling(max);
        int depthCols = 1;
        foreach (var m in spiffy) depthCols = Math.Max(depthCols, m.Total.AcceptedByDepth.Count);

        int top1 = 60, h1 = modes.Count * RowHeight;
        int top2 = top1 + h1 + 70, h2 = spiffy.Count * RowHeight;
        int width = Margin * 2 + LabelWidth + BarWidth + 60, height = top2 + h2 + 40;
        var sb = new StringBuilder();
        var ci = CultureInfo.InvariantCulture;
        sb.Append(ci, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" "
            + $"font-family=\"sans-serif\" font-size=\"12\">\n");
        sb.Append(ci, $"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n");
        sb.Append(ci, $"<text x=\"{Margin}\" y=\"22\" font-size=\"15\" font-weight=\"bold\">{Esc(report.Model)}: {report.Prompts} prompts, "
            + $"gen {report.GenLength}, block {report.BlockLength} (against baseline)</text>\n");
        Legend(sb, Margin + LabelWidth, 44);

        double scale = BarWidth / max;
        for (int t = 0; t <= (int)max; t++)
        {
            double x = Margin + LabelWidth + t * scale;
            sb.Append(ci, $"<line x1=\"{x:F1}\" y1=\"{top1 - 4}\" x2=\"{x:F1}\" y2=\"{top1 + h1}\" stroke=\"{(t == 1 ? "#444" : "#ddd")}\"/>\n");
            sb.Append(ci, $"<text x=\"{x:F1}\" y=\"{top1 + h1 + 14}\" text-anchor=\"middle\" fill=\"#444\">{t}x</text>\n");
        }
        for (int i = 0; i < modes.Count; i++)
        {
            var m = modes[i];
            int y = top1 + i * RowHeight;
            sb.Append(ci, $"<text x=\"{Margin + LabelWidth - 8}\" y=\"{y + 17}\" text-anchor=\"end\">{Esc(m.Mode.Name)}</text>\n");
            Bar(sb, y + 3, Safe(m.NfeReduction) * scale, NfeColor, Safe(m.NfeReduction));
            Bar(sb, y + 13, Safe(m.Speedup) * scale, SpeedColor, Safe(m.Speedup));
        }

        sb.Append(ci, $"<text x=\"{Margin}\" y=\"{top2 - 30}\" font-size=\"14\" font-weight=\"bold\">Acceptance by depth (share of verification forwards "
            + $"accepting a chain of length d)</text>\n");
        double cell = (double)BarWidth / depthCols;
        for (int d = 0; d < depthCols; d++)
            sb.Append(ci, $"<text x=\"{Margin + LabelWidth + (d + 0.5) * cell:F1}\" y=\"{top2 - 8}\" text-anchor=\"middle\" fill=\"#444\">d={d}</text>\n");
        for (int i = 0; i < spiffy.Count; i++)
        {
            var m = spiffy[i];
            int y = top2 + i * RowHeight;
            long n = 0;
            foreach (var c in m.Total.AcceptedByDepth) n += c;
            sb.Append(ci, $"<text x=\"{Margin + LabelWidth - 8}\" y=\"{y + 17}\" text-anchor=\"end\">{Esc(m.Mode.Name)}</text>\n");
            for (int d = 0; d < m.Total.AcceptedByDepth.Count; d++)
            {
                double share = n == 0 ? 0 : (double)m.Total.AcceptedByDepth[d] / n;
                // Darker cells hold more of the verification forwards.
                int shade = (int)Math.Round(245 - 200 * share);
                double x = Margin + LabelWidth + d * cell;
                sb.Append(ci, $"<rect x=\"{x:F1}\" y=\"{y + 2}\" width=\"{cell - 2:F1}\" height=\"{RowHeight - 4}\" "
                    + $"fill=\"rgb({shade},{Math.Min(255, shade + 5)},255)\"/>\n");
                sb.Append(ci, $"<text x=\"{x + cell / 2:F1}\" y=\"{y + 17}\" text-anchor=\"middle\" "
                    + $"fill=\"{(share > 0.5 ? "white" : "black")}\">{share * 100:F0}%</text>\n");
            }
        }
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    private static void Legend(StringBuilder sb, int x, int y)
    {
        sb.Append(CultureInfo.InvariantCulture,
            $"<rect x=\"{x}\" y=\"{y - 10}\" width=\"12\" height=\"10\" fill=\"{NfeColor}\"/><text x=\"{x + 16}\" y=\"{y}\">NFE "
            + $"reduction (fewer forwards)</text>\n");
        sb.Append(CultureInfo.InvariantCulture,
            $"<rect x=\"{x + 230}\" y=\"{y - 10}\" width=\"12\" height=\"10\" fill=\"{SpeedColor}\"/><text x=\"{x + 246}\" "
            + $"y=\"{y}\">wall-clock speedup</text>\n");
    }

    private static void Bar(StringBuilder sb, int y, double w, string color, double value)
    {
        var ci = CultureInfo.InvariantCulture;
        double x = Margin + LabelWidth;
        sb.Append(ci, $"<rect x=\"{x}\" y=\"{y}\" width=\"{Math.Max(0, w):F1}\" height=\"9\" fill=\"{color}\"/>\n");
        sb.Append(ci, $"<text x=\"{x + Math.Max(0, w) + 4:F1}\" y=\"{y + 8}\" font-size=\"10\" fill=\"#333\">{value:F2}x</text>\n");
    }

    private static double Safe(double v) => double.IsNaN(v) || double.IsInfinity(v) ? 0 : v;

    private static string Esc(string s) => s.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal)
        .Replace(">", "&gt;", StringComparison.Ordinal);
}
