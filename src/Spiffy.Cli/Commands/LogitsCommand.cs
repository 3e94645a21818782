using System.Text.Json;
using Spiffy.Checkpoints;
using Spiffy.Cli.CommandLine;
using Spiffy.Modeling;
using Spiffy.Schema.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Spiffy.Cli.Commands;

/// <summary>`spiffy logits`: raw float32 logits of one forward, for comparing with other implementations.</summary>
public sealed class LogitsCommand : ICommand
{
    public string Help => """
        usage: spiffy logits <checkpoint dir | model.json> --ids <ids.json> -o <out.safetensors>

        Runs one float32 forward over the given token ids (a JSON list of equal-length lists; positions
        0..L-1) and writes the model's raw logits as tensor "logits" [batch, length, vocab]: Dream's
        unshifted (as its model returns them), SDAR's under its block-causal mask.
        """;

    public IReadOnlySet<string> Flags { get; } = new HashSet<string> { "allow-non-finite" };

    public Task<int> RunAsync(Args args, CancellationToken cancel)
    {
        string idsFile = args.Required("ids"), output = args.Required("output");
        bool allowNonFinite = args.Flag("allow-non-finite");
        args.EnsureAllUsed(1);
        if (args.Positionals.Count != 1) throw new UsageException("expected a checkpoint directory or model description");
        long[][] rows;
        try { rows = JsonSerializer.Deserialize<long[][]>(Spiffy.Checkpoints.InputFile.ReadAllText(idsFile, Spiffy.Checkpoints.InputFile.MaxJsonBytes, "ids file")) ?? throw new InvalidDataException($"{idsFile}: empty"); }
        catch (JsonException e) { throw new InvalidDataException($"{idsFile}: expected a JSON list of equal-length lists of token ids ({e.Message})"); }
        if (rows.Length == 0 || rows[0].Length == 0) throw new InvalidDataException($"{idsFile}: no token ids");
        int len = rows[0].Length;
        foreach (var r in rows) if (r.Length != len) throw new InvalidDataException($"{idsFile}: rows have different lengths ({len} and {r.Length})");

        using var model = Checkpoint.LoadModel(args.Positionals[0], float32, allowNonFinite);
        var spec = model.Spec;
        if (len > spec.MaxSequenceLength) throw new ArgumentException($"{len} tokens exceed the model's context of {spec.MaxSequenceLength}");
        var flat = new long[rows.Length * len];
        for (int b = 0; b < rows.Length; b++)
            for (int i = 0; i < len; i++)
            {
                long id = rows[b][i];
                if (id < 0 || id >= spec.VocabSize) throw new ArgumentException($"token id {id} (row {b}, position {i}) is outside the vocabulary [0, {spec.VocabSize})");
                flat[b * len + i] = id;
            }
        model.eval();
        using var _ = inference_mode();
        var tokens = tensor(flat, new long[] { rows.Length, len });
        var positions = arange(len, int64).unsqueeze(0);
        Tensor? mask = spec.Attention == AttentionKind.BlockCausal ? AttentionMasks.BlockCausal(spec.AttentionBlockSize, len, CPU) : null;
        using var logits = model.Forward(ForwardRequest.Full(tokens, positions, mask));
        SafeTensorsFile.Save(output, new List<(string, Tensor)> { ("logits", logits) });
        Console.WriteLine($"wrote logits [{rows.Length}, {len}, {spec.VocabSize}] to {output}");
        return Task.FromResult(0);
    }
}
