using System.Text;
using Spiffy.Checkpoints;
using Spiffy.Cli.CommandLine;
using Spiffy.Cli.Commands;
using Spiffy.Decoding;
using Spiffy.Schema;
using Spiffy.Schema.Graphs;
using Spiffy.Schema.Json;
using Spiffy.Schema.Models;
using Spiffy.Speculation;
using Spiffy.Tokenization;

namespace Spiffy.Fuzz;

/// <summary>
/// The fuzz targets. Each takes raw bytes and lets only the exceptions its API documents for bad
/// input pass; anything else (and any hang or crash) is a finding.
/// </summary>
internal static class Targets
{
    public static readonly Dictionary<string, Action<byte[]>> All = new(StringComparer.Ordinal)
    {
        ["schema"] = Schema,
        ["safetensors"] = SafeTensors,
        ["index"] = Index,
        ["tokenizer"] = Tokenizer,
        ["cli"] = Cli,
    };

    /// <summary>One scratch directory per process (afl runs one input at a time per process).</summary>
    private static readonly string Scratch = CreateScratch();

    private static string CreateScratch()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"spiffy-fuzz-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(dir, true); } catch (IOException) { } };
        return dir;
    }

    /// <summary>
    /// The schema JSON reader (the generator compiles the same source) and model/graph validation;
    /// a graph that validates must also build a speculator and draft from any state.
    /// </summary>
    private static void Schema(byte[] input)
    {
        var errors = new List<SchemaError>();
        var model = ModelSpecParser.Parse(input, "fuzz.json", errors);
        if (model is not null) _ = model.ParameterCount;
        errors.Clear();
        var graph = GraphSpecParser.Parse(input, "fuzz.json", errors);
        foreach (var e in errors)
            if (e.Line < 1 || e.Column < 1 || e.Message.Length == 0) throw new InvalidOperationException($"unlocated schema error: {e}");
        if (graph is null) return;
        if (graph.Nodes.Count > 512) return; // keep one execution fast; size limits are the decoder's job
        var g = new DraftGraph(graph);
        var s = new GraphSpeculator(g, blockLength: 8, keep: graph.Keep);
        int j = s.TopTokenRanks;
        if (j > 64) return;
        var state = new long[8];
        Array.Fill(state, 99L);
        var probs = new double[8 * j];
        var tokens = new long[8 * j];
        for (int i = 0; i < probs.Length; i++) { probs[i] = 1.0 / (1 + i % j); tokens[i] = i % j; }
        var drafts = new long[s.MaxDrafts * 8];
        int d = s.Draft(state, maskId: 99, probs, tokens, drafts);
        for (int r = 0; r < d; r++) _ = s.Depth(r);
        _ = s.Match(-1, state);
    }

    private static void SafeTensors(byte[] input)
    {
        string path = Path.Combine(Scratch, "model.safetensors");
        File.WriteAllBytes(path, input);
        try
        {
            using var f = SafeTensorsFile.Open(path);
            foreach (var name in f.Names)
            {
                var info = f.Info(name);
                if (info.DataEnd > f.DataStart + input.Length || info.ByteLength < 0)
                    throw new InvalidOperationException($"accepted a range outside the file: {name} [{info.DataBegin}, {info.DataEnd}]");
            }
        }
        catch (CheckpointException) { }
    }

    /// <summary>A checkpoint directory (valid config and one valid shard) whose index is the input.</summary>
    private static void Index(byte[] input)
    {
        string dir = Path.Combine(Scratch, "ckpt");
        if (!Directory.Exists(dir))
        {
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, Checkpoint.ConfigFileName), Seeds.Config);
            File.WriteAllBytes(Path.Combine(dir, "model-00001-of-00001.safetensors"), Seeds.Shard());
        }
        File.WriteAllBytes(Path.Combine(dir, Checkpoint.IndexFileName), input);
        try { Checkpoint.Open(dir).Dispose(); }
        catch (CheckpointException) { }
        catch (FileNotFoundException) { } // a shard name inside the directory that does not exist
    }

    private static void Tokenizer(byte[] input)
    {
        string path = Path.Combine(Scratch, "tokenizer.json");
        File.WriteAllBytes(path, input);
        HfTokenizer tok;
        try { tok = HfTokenizer.Load(path); }
        catch (TokenizerFormatException) { return; }
        // A loaded tokenizer must encode and decode anything.
        foreach (var text in new[] { "", "Natalia sold 48/2 = 24 clips.", "ünïcode ✓ 𝄞\n\t", "<|endoftext|>" })
            _ = tok.Decode(tok.Encode(text));
    }

    /// <summary>Arguments separated by NUL or newline, parsed by the real generate command and read as it reads them.</summary>
    private static void Cli(byte[] input)
    {
        var argv = Encoding.UTF8.GetString(input).Split('\0', '\n');
        var generate = new GenerateCommand();
        var parse = generate.Command.Parse(argv);
        _ = OptionLikeArguments.Find(parse);
        if (parse.Errors.Count > 0) return; // a usage error, reported by the parser
        var o = generate.Decoding.Read(parse, Seeds.ModelSpec);
        try { o.Validate(Seeds.ModelSpec, promptLength: 10); }
        catch (ArgumentException) { } // DecodingOptions.Validate: options that cannot decode with the model
    }
}
