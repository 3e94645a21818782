using System.Globalization;
using Spiffy.Cli.CommandLine;
using Spiffy.Modeling;
using Spiffy.Tokenization;
using Spiffy.Training;
using TorchSharp;

namespace Spiffy.Cli.Commands;

/// <summary>`spiffy train`: masked-diffusion SFT of a LLaDA-family model on prompt/answer JSONL.</summary>
public sealed class TrainCommand : ICommand
{
    public string Help => """
        usage: spiffy train --model <model.json> --data <train.jsonl> --out <run dir> [options]

        Trains a diffusion LM from scratch with LLaDA's SFT objective (prompt never masked; answer
        padded with EOS to the generation length and masked with ratio t ~ U(eps, 1); loss = CE over
        masked positions / t / answer length). The last --holdout problems of the file are never
        trained on: the first --eval-problems of them give the validation loss. Re-running with the
        same --out resumes from the last checkpoint (same batches, same masks).
          --eval-data <file>   validate on this file's problems instead (e.g. the held-out file of
                               `spiffy augment`); --data is then trained on whole unless --holdout is
                               given, and a question found in both files is an error
          --init <checkpoint>  start a new run from these weights (same architecture) instead of random
          --tokenizer <tokenizer.json>  use this tokenizer (default: train a byte-level BPE of the
                                        model's vocabulary size on the training part, saved in --out)
          --holdout N          problems held out at the end of the file (default 500)
          --steps N            optimizer steps (default 10000)     --batch N        (default 16)
          --lr X               peak learning rate (default 2e-3)   --warmup N       (default 200)
          --gen-length N       answer region (default: the model's, else 256)
          --max-prompt N       longest prompt in tokens (default 160; longer problems are listed and skipped)
          --eval-every N       (default 250)  --eval-problems N (default 100)  --checkpoint-every N (default 250)
          --time-limit MIN     stop (with a checkpoint) after this many minutes
          --seed N             (default 1234)   --threads N   torch CPU threads
        """;

    public IReadOnlySet<string> Flags { get; } = new HashSet<string>();

    public Task<int> RunAsync(Args args, CancellationToken cancel)
    {
        string modelPath = args.Required("model"), dataPath = args.Required("data"), outDir = args.Required("out");
        string? tokenizerPath = args.String("tokenizer");
        string? evalPath = args.String("eval-data"), initPath = args.String("init");
        int holdout = args.Int("holdout", evalPath is null ? 500 : 0, 0);
        var spec = ModelDescription.Load(modelPath);
        var options = new TrainingOptions
        {
            Steps = args.Int("steps", 10000, 1),
            BatchSize = args.Int("batch", 16, 1),
            LearningRate = args.Double("lr", 2e-3),
            WarmupSteps = args.Int("warmup", 200, 0),
            GenLength = args.Int("gen-length", spec.Defaults.GenLength > 0 ? spec.Defaults.GenLength : 256, 1),
            MaxPromptLength = args.Int("max-prompt", 160, 1),
            EvalEvery = args.Int("eval-every", 250, 1),
            EvalProblems = args.Int("eval-problems", 100, 0),
            CheckpointEvery = args.Int("checkpoint-every", 250, 1),
            Seed = args.Long("seed", 1234),
            TimeLimit = TimeSpan.FromMinutes(args.Double("time-limit", 0)),
        };
        int threads = args.Int("threads", 0, 0);
        args.EnsureAllUsed(0);
        if (threads > 0) torch.set_num_threads(threads);

        var all = PromptAnswerData.Read(dataPath);
        var (trainSet, heldOut) = holdout == 0 ? (all, new List<PromptAnswer>()) : PromptAnswerData.Split(all, holdout);
        Console.WriteLine($"data: {all.Count} problems in {dataPath}; training on {trainSet.Count}, holding out the last {heldOut.Count}");
        string validationFile = dataPath;
        if (evalPath is not null)
        {
            heldOut = PromptAnswerData.Read(evalPath);
            validationFile = evalPath;
            PromptAnswerData.EnsureDisjoint(trainSet, dataPath, heldOut, evalPath);
            Console.WriteLine($"validation: {Math.Min(options.EvalProblems, heldOut.Count)} of the {heldOut.Count} problems in {evalPath}");
        }
        Directory.CreateDirectory(outDir);

        string tokFile = Path.Combine(outDir, "tokenizer.json");
        if (tokenizerPath is not null)
        {
            if (Path.GetFullPath(tokenizerPath) != Path.GetFullPath(tokFile)) File.Copy(tokenizerPath, tokFile, overwrite: true);
        }
        else if (!File.Exists(tokFile))
        {
            var texts = new List<string>(trainSet.Count * 2);
            foreach (var p in trainSet) { texts.Add(PromptAnswerData.FormatPrompt(p.Prompt)); texts.Add(p.Answer); }
            var specials = SpecialTokenNames(spec);
            var summary = BpeTrainer.Train(texts, spec.VocabSize, specials, tokFile);
            Console.WriteLine($"tokenizer: trained byte-level BPE, {summary.VocabSize} tokens ({summary.MergeCount} merges) -> {tokFile}");
        }
        var tokenizer = HfTokenizer.Load(tokFile);
        if (tokenizer.VocabSize > spec.VocabSize) throw new ArgumentException($"the tokenizer has {tokenizer.VocabSize} tokens but the model's vocabulary is {spec.VocabSize}");

        var train = Tokenize(trainSet, tokenizer, options, "training", dataPath);
        var validation = Tokenize(heldOut, tokenizer, options, "held-out", validationFile);

        var model = new DiffusionTransformer(spec, torch.float32);
        model.InitializeRandom(options.Seed);
        if (initPath is not null)
        {
            // A resumed run overwrites these with its own checkpoint; --init only seeds a new one.
            using var init = Spiffy.Checkpoints.Checkpoint.Open(initPath);
            init.LoadInto(model);
            Console.WriteLine($"init: weights from {initPath}");
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"model: {spec.Name}, {spec.ParameterCount:N0} parameters; {options.Steps} steps of {options.BatchSize} (about {(double)options.Steps * options.BatchSize / train.Count:F1} epochs)"));
        var trainer = new MaskedDiffusionTrainer(model, options, train, validation, outDir);
        var progress = new ProgressPrinter();
        trainer.Run(p => progress.Report(p), cancel);
        Console.WriteLine($"checkpoint: {outDir}");
        return Task.FromResult(cancel.IsCancellationRequested ? 130 : 0);
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
            if (id != expect++) throw new ArgumentException("to train a tokenizer, the model's special token ids (eos, mask, pad) must be 0, 1, ... in some order");
        return byId.Values.ToList();
    }

    private static List<TokenizedExample> Tokenize(List<PromptAnswer> set, HfTokenizer tok, TrainingOptions o, string what, string file)
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
            Console.WriteLine($"{what}: skipped {skipped.Count} problems longer than the limits (prompt {o.MaxPromptLength}, answer {o.GenLength}):");
            foreach (var s in skipped) Console.WriteLine($"  {s}");
        }
        return result;
    }
}

/// <summary>Prints training progress: one line per report; on a terminal the latest line is rewritten in place.</summary>
internal sealed class ProgressPrinter
{
    private readonly bool _tty = !Console.IsOutputRedirected;

    public void Report(TrainingProgress p)
    {
        var ci = CultureInfo.InvariantCulture;
        string line = string.Create(ci, $"step {p.Step}/{p.TotalSteps}  loss {p.Loss:F4}  lr {p.LearningRate:E2}  {p.TokensPerSecond:F0} tok/s  elapsed {p.Elapsed:hh\\:mm\\:ss}  eta {p.Eta:hh\\:mm\\:ss}");
        if (p.ValidationLoss is double v) line += string.Create(ci, $"  val {v:F4}");
        if (_tty && p.ValidationLoss is null) Console.Write("\r" + line + "   ");
        else Console.WriteLine((_tty ? "\r" : "") + line);
    }
}
