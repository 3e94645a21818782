using System.Globalization;
using System.CommandLine;
using Spiffy.Cli.CommandLine;
using Spiffy.Decoding;
using Spiffy.Modeling;
using Spiffy.Tokenization;
using Spiffy.Training;
using TorchSharp;

namespace Spiffy.Cli.Commands;

/// <summary>`spiffy train`: masked-diffusion SFT of a LLaDA-family model on prompt/answer JSONL.</summary>
public sealed class TrainCommand : IVerb
{
    private readonly Option<string?> _model = SharedOptions.Model("required");
    private readonly DeviceOptionSet _device = new(withDType: false);
    private readonly Option<string> _data = new("--data")
    {
        Description = "training problems (JSONL, question/answer or prompt/answer)", HelpName = "train.jsonl", Required = true
    };
    private readonly Option<string> _out = new("--out")
    {
        Description = "run directory: checkpoints, tokenizer, log; re-running with it resumes", HelpName = "DIR", Required = true
    };
    private readonly Option<string?> _tokenizer = new("--tokenizer")
    {
        Description = "use this tokenizer (default: train a byte-level BPE of the model's vocabulary size on the training part, saved in --out)",
        HelpName = "tokenizer.json"
    };
    private readonly Option<int?> _holdout = SharedOptions.AtLeast(new Option<int?>("--holdout")
    {
        Description = "problems held out at the end of the file (default 500)", HelpName = "N"
    }, 0);
    private readonly Option<int?> _steps = SharedOptions.Positive(new Option<int?>("--steps")
    {
        Description = "optimizer steps (default 10000)", HelpName = "N"
    });
    private readonly Option<int?> _batch = SharedOptions.Positive(new Option<int?>("--batch") { Description = "batch size (default 16)", HelpName = "N" });
    private readonly Option<double?> _lr = new("--lr") { Description = "peak learning rate (default 2e-3)", HelpName = "X" };
    private readonly Option<int?> _warmup = SharedOptions.AtLeast(new Option<int?>("--warmup") { Description = "warm-up steps (default 200)", HelpName = "N" },
        0);
    private readonly Option<int?> _gen = SharedOptions.GenLength("the model's, else 256");
    private readonly Option<int?> _maxPrompt = SharedOptions.Positive(new Option<int?>("--max-prompt")
    {
        Description = "longest prompt in tokens (default 160; longer problems are listed and skipped)", HelpName = "N"
    });
    private readonly Option<int?> _evalEvery = SharedOptions.Positive(new Option<int?>("--eval-every")
    {
        Description = "steps between validation losses (default 250)", HelpName = "N"
    });
    private readonly Option<int?> _evalProblems = SharedOptions.AtLeast(new Option<int?>("--eval-problems")
    {
        Description = "held-out problems of the validation loss (default 100)", HelpName = "N"
    }, 0);
    private readonly Option<int?> _checkpointEvery = SharedOptions.Positive(new Option<int?>("--checkpoint-every")
    {
        Description = "steps between checkpoints (default 250)", HelpName = "N"
    });
    private readonly Option<double?> _timeLimit = new("--time-limit") { Description = "stop (with a checkpoint) after this many minutes", HelpName = "MIN" };
    private readonly Option<long?> _seed = new("--seed") { Description = "seed of the weights, batches and masks (default 1234)", HelpName = "N" };
    private readonly Option<int?> _threads = SharedOptions.Threads();
    private readonly Option<string?> _evalData = new("--eval-data")
    {
        Description = "validate on this file's problems instead (e.g. the held-out file of `spiffy augment`); --data is then trained on whole unless --holdout "
            + "is given, and a question in both files is an error", HelpName = "FILE"
    };
    private readonly Option<string?> _init = new("--init")
    {
        Description = "start a new run from these weights (same architecture) instead of random ones; a resumed run keeps its own", HelpName = "CHECKPOINT"
    };

    public TrainCommand()
    {
        _model.Required = true;
        _device.Device.Description += "; weights and AdamW stay float32";
        Command = new VerbCommand("train",
            "train a LLaDA-style diffusion LM with the masked-diffusion objective",
            "Train a diffusion LM from scratch with LLaDA's SFT objective (prompt never masked; answer padded with EOS to the "
            + "generation length and masked with ratio t ~ U(eps, 1); loss = CE over masked positions / t / answer length). "
            + "The last --holdout problems of the file are never trained on: the first --eval-problems of them give the "
            + "validation loss (or of --eval-data, a separate held-out file). Re-running with the same --out resumes from the last "
                + "checkpoint (same batches, same masks).",
            "spiffy train --model models/gsm8k-small.json --data train.jsonl --out runs/x",
            "spiffy train --model models/gsm8k-small.json --data train.jsonl --out runs/x --steps 200 --time-limit 30 --threads 2",
            "spiffy train --model models/gsm8k-small.json --init checkpoints/gsm8k-small --data aug.jsonl --eval-data heldout.jsonl --out runs/y  # continue "
                + "the shipped weights on `spiffy augment` output")
        {
            _model, _data, _out, _tokenizer, _evalData, _init, _holdout, _steps, _batch, _lr, _warmup, _gen, _maxPrompt, _evalEvery, _evalProblems,
            _checkpointEvery, _timeLimit, _seed, _threads,
        };
        _device.AddTo(Command);
    }

    public VerbCommand Command { get; }

    public Task<int> RunAsync(ParseResult parse, CliOutput output, CancellationToken cancel)
    {
        string modelPath = parse.GetValue(_model)!, dataPath = parse.GetValue(_data)!, outDir = parse.GetValue(_out)!;
        string? tokenizerPath = parse.GetValue(_tokenizer);
        string? evalPath = parse.GetValue(_evalData), initPath = parse.GetValue(_init);
        int holdout = parse.GetValue(_holdout) ?? (evalPath is null ? 500 : 0);
        var spec = ModelDescription.Load(modelPath);
        var options = new TrainingOptions
        {
            Steps = parse.GetValue(_steps) ?? 10000,
            BatchSize = parse.GetValue(_batch) ?? 16,
            LearningRate = parse.GetValue(_lr) ?? 2e-3,
            WarmupSteps = parse.GetValue(_warmup) ?? 200,
            GenLength = parse.GetValue(_gen) ?? DecodingOptions.ForModel(spec).GenLength,
            MaxPromptLength = parse.GetValue(_maxPrompt) ?? 160,
            EvalEvery = parse.GetValue(_evalEvery) ?? 250,
            EvalProblems = parse.GetValue(_evalProblems) ?? 100,
            CheckpointEvery = parse.GetValue(_checkpointEvery) ?? 250,
            Seed = parse.GetValue(_seed) ?? 1234,
            TimeLimit = TimeSpan.FromMinutes(parse.GetValue(_timeLimit) ?? 0),
        };
        SharedOptions.ApplyThreads(parse, _threads);

        var all = PromptAnswerData.Read(dataPath);
        var (trainSet, heldOut) = holdout == 0 ? (all, new List<PromptAnswer>()) : PromptAnswerData.Split(all, holdout);
        output.Log($"data: {all.Count} problems in {dataPath}; training on {trainSet.Count}, holding out the last {heldOut.Count}");
        string validationFile = dataPath;
        if (evalPath is not null)
        {
            heldOut = PromptAnswerData.Read(evalPath);
            validationFile = evalPath;
            PromptAnswerData.EnsureDisjoint(trainSet, dataPath, heldOut, evalPath);
            output.Log($"validation: {Math.Min(options.EvalProblems, heldOut.Count)} of the {heldOut.Count} problems in {evalPath}");
        }
        Directory.CreateDirectory(outDir);

        string tokFile = Path.Combine(outDir, "tokenizer.json");
        if (tokenizerPath is not null)
        {
            if (Path.GetFullPath(tokenizerPath) != Path.GetFullPath(tokFile))
            {
                HfTokenizer.Load(tokenizerPath); // checked (special files, format) before it is copied into the run
                Spiffy.Files.AtomicFile.Write(tokFile, fs => { using var src = File.OpenRead(tokenizerPath); src.CopyTo(fs); });
            }
        }
        else if (!File.Exists(tokFile))
        {
            var texts = new List<string>(trainSet.Count * 2);
            foreach (var p in trainSet) { texts.Add(PromptAnswerData.FormatPrompt(p.Prompt)); texts.Add(p.Answer); }
            var specials = SpecialTokenNames(spec);
            var summary = BpeTrainer.Train(texts, spec.VocabSize, specials, tokFile);
            output.Log($"tokenizer: trained byte-level BPE, {summary.VocabSize} tokens ({summary.MergeCount} merges) -> {tokFile}");
        }
        var tokenizer = HfTokenizer.Load(tokFile);
        if (tokenizer.VocabSize > spec.VocabSize)
            throw new ArgumentException($"the tokenizer has {tokenizer.VocabSize} tokens but the model's vocabulary is {spec.VocabSize}");

        var train = Tokenize(trainSet, tokenizer, options, "training", dataPath, output);
        var validation = Tokenize(heldOut, tokenizer, options, "held-out", validationFile, output);

        var model = new DiffusionTransformer(spec, torch.float32, _device.Resolve(parse, output));
        model.InitializeRandom(options.Seed);
        if (initPath is not null)
        {
            // A resumed run overwrites these with its own checkpoint; --init only seeds a new one.
            using var init = Spiffy.Checkpoints.Checkpoint.Open(initPath);
            init.LoadInto(model);
            output.Log($"init: weights from {initPath}");
        }
        output.Log(string.Create(CultureInfo.InvariantCulture,
            $"model: {spec.Name}, {spec.ParameterCount:N0} parameters; {options.Steps} steps of {options.BatchSize} "
            + $"(about {(double)options.Steps * options.BatchSize / train.Count:F1} epochs)"));
        var trainer = new MaskedDiffusionTrainer(model, options, train, validation, outDir);
        TrainingProgress? last = null;
        double? validationLoss = null;
        var ci = CultureInfo.InvariantCulture;
        output.WithProgress(progress =>
        {
            var bar = progress.Add("training", options.Steps, "steps");
            trainer.Run(p =>
            {
                last = p;
                bar.Set(p.Step);
                if (!double.IsFinite(p.Loss))
                {
                    // The resume report: no step has run in this process yet, so there is no loss or rate to show.
                    if (p.ValidationLoss is double rv) validationLoss = rv;
                    output.Log(string.Create(ci, $"resumed at step {p.Step}/{p.TotalSteps}{(p.ValidationLoss is double r ? $"  val {r:F4}" : "")}"));
                    return;
                }
                bar.Describe(string.Create(ci, $"training: loss {p.Loss:F4}"));
                string line = string.Create(ci,
                    $"step {p.Step}/{p.TotalSteps}  loss {p.Loss:F4}  lr {p.LearningRate:E2}  {p.TokensPerSecond:F0} tok/s  "
                    + $"elapsed {p.Elapsed:hh\\:mm\\:ss}  eta {p.Eta:hh\\:mm\\:ss}");
                if (p.ValidationLoss is double v) { validationLoss = v; output.Log(line + string.Create(ci, $"  val {v:F4}")); }
                else if (!output.ShowsProgress) output.Log(line); // the bar shows it on a terminal
            }, cancel);
        });
        bool cancelled = cancel.IsCancellationRequested;
        if (output.Json)
            CliOutput.WriteJson(w =>
            {
                w.WriteString("checkpoint", outDir);
                w.WriteNumber("step", last?.Step ?? 0);
                w.WriteNumber("steps", options.Steps);
                // A resumed run that stops before its next logged step has no loss of its own (NaN).
                if (last is not null && double.IsFinite(last.Loss)) w.WriteNumber("loss", last.Loss);
                else w.WriteNull("loss");
                if (validationLoss is double v) w.WriteNumber("validation_loss", v);
                else w.WriteNull("validation_loss");
                w.WriteNumber("tokens_per_s", last?.TokensPerSecond ?? 0);
                w.WriteNumber("elapsed_s", last?.Elapsed.TotalSeconds ?? 0);
                w.WriteBoolean("cancelled", cancelled);
            });
        else
        {
            if (last is not null)
                output.Result(string.Create(ci, $"step {last.Step}/{last.TotalSteps}{(double.IsFinite(last.Loss) ? $": loss {last.Loss:F4}" : "")}"
                    + $"{(validationLoss is double v ? $", validation loss {v:F4}" : "")}"));
            output.Result($"checkpoint: {outDir}");
        }
        return Task.FromResult(cancelled ? Failures.Cancelled : 0);
    }

    /// <summary>Special tokens of a freshly trained tokenizer, in id order: their ids must be the model's.</summary>
    private static List<string> SpecialTokenNames(Spiffy.Schema.Models.ModelSpec spec)
    {
        var byId = new SortedDictionary<int, string>
        {
            [spec.Tokens.Eos] = "<|endoftext|>",
            [spec.Tokens.Mask] = "<|mask|>",
        };
        if (spec.Tokens.Pad != spec.Tokens.Eos) byId[spec.Tokens.Pad] = "<|pad|>";
        int expect = 0;
        foreach (var id in byId.Keys)
            if (id != expect++)
                throw new ArgumentException("to train a tokenizer, the model's special token ids (eos, mask, pad) must be 0, 1, ... in some order");
        return byId.Values.ToList();
    }

    private static List<TokenizedExample> Tokenize(List<PromptAnswer> set, HfTokenizer tok, TrainingOptions o, string what, string file, CliOutput output)
    {
        var result = new List<TokenizedExample>(set.Count);
        var skipped = new List<string>();
        foreach (var p in set)
        {
            var prompt = tok.Encode(PromptAnswerData.FormatPrompt(p.Prompt));
            var answer = tok.Encode(p.Answer);
            if (prompt.Length > o.MaxPromptLength || answer.Length > o.GenLength)
            {
                skipped.Add($"{file}:{p.Line} (prompt {prompt.Length}, answer {answer.Length} tokens)");
                continue;
            }
            result.Add(new TokenizedExample(prompt, answer));
        }
        if (skipped.Count > 0)
        {
            output.Log($"{what}: skipped {skipped.Count} problems longer than the limits (prompt {o.MaxPromptLength}, answer {o.GenLength}):");
            foreach (var s in skipped) output.Log($"  {s}");
        }
        return result;
    }
}
