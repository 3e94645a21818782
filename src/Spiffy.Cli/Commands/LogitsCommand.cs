using System.Text.Json;
using Spiffy.Files;
using Spiffy.Checkpoints;
using System.CommandLine;
using Spiffy.Cli.CommandLine;
using Spiffy.Modeling;
using Spiffy.Schema.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Spiffy.Cli.Commands;

/// <summary>`spiffy logits`: raw float32 logits of one forward, for comparing with other implementations.</summary>
public sealed class LogitsCommand : IVerb
{
    private readonly DeviceOptionSet _device = new(dtypeDefault: "float32 here, for comparisons");
    private readonly Argument<string> _model = new("model")
    {
        Description = "checkpoint directory or model description", HelpName = "checkpoint-dir|model.json"
    };
    private readonly Option<string> _ids = new(
        "--ids")
    { Description = "JSON list of equal-length lists of token ids", HelpName = "ids.json", Required = true };
    private readonly Option<string> _output = new("--output", "-o")
    {
        Description = "the safetensors file to write", HelpName = "out.safetensors", Required = true
    };
    private readonly Option<int?> _threads = SharedOptions.Threads();
    private readonly Option<bool> _allowNonFinite = SharedOptions.AllowNonFinite();

    public LogitsCommand()
    {
        Command = new VerbCommand("logits",
            "write raw float32 logits of a forward over given ids (safetensors)",
            "Run one float32 forward over the given token ids (positions 0..L-1) and write the model's raw logits as tensor "
            + "\"logits\" [batch, length, vocab]: Dream's unshifted (as its model returns them), SDAR's under its block-causal mask.",
            "spiffy logits checkpoints/gsm8k-small --ids ids.json -o logits.safetensors")
        { _model, _ids, _output, _threads, _allowNonFinite };
        _device.AddTo(Command);
    }

    public VerbCommand Command { get; }

    public Task<int> RunAsync(ParseResult parse, CliOutput output, CancellationToken cancel)
    {
        string idsFile = parse.GetValue(_ids)!, outFile = parse.GetValue(_output)!;
        SharedOptions.ApplyThreads(parse, _threads);
        long[][] rows;
        try
        {
            rows = JsonSerializer.Deserialize<long[][]>(InputFile.ReadAllText(idsFile, InputFile.MaxJsonBytes, "ids file"))
                ?? throw new InvalidDataException($"{idsFile}: empty");
        }
        catch (JsonException e) { throw new InvalidDataException($"{idsFile}: expected a JSON list of equal-length lists of token ids ({e.Message})"); }
        if (rows.Length == 0 || rows[0].Length == 0) throw new InvalidDataException($"{idsFile}: no token ids");
        int len = rows[0].Length;
        foreach (var r in rows) if (r.Length != len) throw new InvalidDataException($"{idsFile}: rows have different lengths ({len} and {r.Length})");

        var device = _device.Resolve(parse, output);
        var dtype = _device.RequestedDType(parse) ?? float32;
        using var model = output.Busy("loading the model", () => Checkpoint.LoadModel(parse.GetValue(_model)!, dtype, device, parse.GetValue(_allowNonFinite)));
        var spec = model.Spec;
        if (len > spec.MaxSequenceLength) throw new ArgumentException($"{len} tokens exceed the model's context of {spec.MaxSequenceLength}");
        var flat = new long[rows.Length * len];
        for (int b = 0; b < rows.Length; b++)
            for (int i = 0; i < len; i++)
            {
                long id = rows[b][i];
                if (id < 0 || id >= spec.VocabSize)
                    throw new ArgumentException($"token id {id} (row {b}, position {i}) is outside the vocabulary [0, {spec.VocabSize})");
                flat[b * len + i] = id;
            }
        model.eval();
        using var _ = inference_mode();
        var tokens = tensor(flat, new long[] { rows.Length, len }).to(device);
        var positions = arange(len, int64, device).unsqueeze(0);
        Tensor? mask = spec.Attention == AttentionKind.BlockCausal ? AttentionMasks.BlockCausal(spec.AttentionBlockSize, len, device) : null;
        using var logits = output.Busy("forward", () => model.Forward(ForwardRequest.Full(tokens, positions, mask)));
        SafeTensorsFile.Save(outFile, new List<(string, Tensor)> { ("logits", logits) });
        if (output.Json)
            CliOutput.WriteJson(w =>
            {
                w.WriteString("output", outFile);
                w.WriteString("tensor", "logits");
                DeviceOptionSet.WriteJson(w, device, dtype);
                w.WriteStartArray("shape");
                w.WriteNumberValue(rows.Length);
                w.WriteNumberValue(len);
                w.WriteNumberValue(spec.VocabSize);
                w.WriteEndArray();
            });
        else output.Result($"wrote logits [{rows.Length}, {len}, {spec.VocabSize}] to {outFile}");
        return Task.FromResult(0);
    }
}
