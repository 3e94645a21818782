using System.Diagnostics;
using System.Globalization;
using System.Text;
using Spiffy.Schema.Decoding;
using Spiffy.Schema.Graphs;

namespace Spiffy.Calibration;

/// <summary>
/// Pictures of draft graphs: Graphviz DOT with one row per depth (the root on top), each node
/// labelled with its pairs and calibration count, and rendering through Graphviz's <c>dot</c>.
/// </summary>
internal static class GraphDot
{
    public static string ToDot(GraphSpec g)
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        string title = string.Create(ci, $"{g.Name}\n{g.Nodes.Count} nodes, keep {g.Keep}")
            + (g.Provenance.Objective.Length > 0 ? $", {g.Provenance.Objective}" : "")
            + (g.ModelName.Length > 0 ? $"\nmodel {g.ModelName}" : "")
            + string.Create(ci, $"\n{DecodingNames.Unmasking.Name(g.Decoding.Unmasking)}, block {g.Decoding.BlockLength}, "
                + $"cache {DecodingNames.Cache.Name(g.Decoding.Cache)}");
        sb.Append("digraph ").Append(Quote(g.Name)).Append(" {\n");
        sb.Append("  graph [rankdir=TB, labelloc=t, fontname=\"Helvetica\", label=").Append(Quote(title)).Append("];\n");
        sb.Append("  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=10];\n");
        sb.Append("  edge [arrowsize=0.6];\n");
        sb.Append("  depth0 [shape=plaintext, label=\"depth 0\"];\n");
        sb.Append("  root [shape=ellipse, label=\"root\\ncurrent state\"];\n");
        sb.Append("  { rank=same; depth0; root; }\n");
        int maxDepth = g.MaxDepth;
        for (int d = 1; d <= maxDepth; d++)
        {
            sb.Append(ci, $"  depth{d} [shape=plaintext, label=\"depth {d}\"];\n");
            sb.Append(ci, $"  depth{d - 1} -> depth{d} [style=invis];\n");
            sb.Append("  { rank=same; ").Append(ci, $"depth{d};");
            foreach (var n in g.Nodes) if (n.Depth == d) sb.Append(ci, $" n{n.Id};");
            sb.Append(" }\n");
        }
        foreach (var n in g.Nodes)
        {
            var label = new StringBuilder("{");
            for (int p = 0; p < n.PairCount; p++) label.Append(ci, $"{(p > 0 ? "," : "")}({n.PositionRanks[p]},{n.TokenRanks[p]})");
            label.Append('}');
            label.Append(ci, $"\ncount {n.Count}");
            sb.Append(ci, $"  n{n.Id} [label=").Append(Quote(label.ToString())).Append("];\n");
        }
        foreach (var n in g.Nodes)
            foreach (int p in n.Parents)
                sb.Append(p == 0 ? "  root" : string.Create(ci, $"  n{p}")).Append(ci, $" -> n{n.Id};\n");
        sb.Append("}\n");
        return sb.ToString();
    }

    /// <summary>Writes DOT source atomically (no Graphviz needed).</summary>
    public static void WriteDot(GraphSpec g, string path) => Spiffy.Files.AtomicFile.WriteAllText(path, ToDot(g));

    /// <summary>A DOT string literal ("\n" becomes a centred line break).</summary>
    private static string Quote(string s)
        => "\"" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)
            .Replace("\n", "\\n", StringComparison.Ordinal) + "\"";

    /// <summary>The <c>dot</c> executable on PATH, or null.</summary>
    public static string? FindDot()
    {
        string exe = OperatingSystem.IsWindows() ? "dot.exe" : "dot";
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, exe);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    public const string MissingDotMessage =
        "Graphviz's 'dot' was not found on PATH, so the picture cannot be rendered. Install Graphviz " +
        "(Debian/Ubuntu: sudo apt-get install -y graphviz; macOS: brew install graphviz; Windows: winget install graphviz), " +
        "or write the DOT source instead with -o <file>.dot";

    /// <summary>
    /// Renders DOT text with Graphviz into <paramref name="output"/> in <paramref name="format"/> (svg, png, pdf);
    /// the file appears only when rendering succeeded. Throws <see cref="InvalidOperationException"/> when dot is missing or fails.
    /// </summary>
    public static void Render(string dotText, string output, string format, string? dotPath = null)
    {
        string dot = dotPath ?? FindDot() ?? throw new InvalidOperationException(MissingDotMessage);
        try
        {
            // dot writes the picture to its stdout, straight into the atomic file: it appears only when dot succeeded.
            Spiffy.Files.AtomicFile.Write(output, fs =>
            {
                var psi = new ProcessStartInfo(dot)
                {
                    RedirectStandardInput = true, RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false,
                };
                psi.ArgumentList.Add("-T" + format);
                using var proc = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {dot}");
                var stderr = proc.StandardError.ReadToEndAsync();
                var copy = proc.StandardOutput.BaseStream.CopyToAsync(fs);
                proc.StandardInput.Write(dotText);
                proc.StandardInput.Close();
                copy.GetAwaiter().GetResult();
                proc.WaitForExit();
                if (proc.ExitCode != 0 || fs.Length == 0)
                    throw new InvalidOperationException($"{dot} -T{format} failed (exit {proc.ExitCode}): {stderr.Result.Trim()}");
            });
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"{MissingDotMessage} ({e.Message})");
        }
    }
}
