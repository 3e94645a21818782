using System.CommandLine;
using System.Globalization;
using Spiffy.Decoding;
using Spiffy.Schema.Decoding;
using Spiffy.Schema.Graphs;
using Spiffy.Schema.Models;

namespace Spiffy.Cli.CommandLine;

/// <summary>
/// The options several verbs share, defined once: the model, threads, output switches (--json,
/// --quiet, --verbose: on the root, recursive, so they work before or after the verb) and the
/// decoding options. Each factory returns a new instance (an option belongs to one command); the
/// name, help text, parsing and range checks live here only.
/// </summary>
public static class SharedOptions
{
    /// <summary>--json: one JSON object on stdout (errors too), no progress.</summary>
    public static readonly Option<bool> Json = new("--json")
    {
        Description = "print one JSON object on stdout (errors as {\"error\": {...}}); no progress display", Recursive = true
    };

    /// <summary>--quiet: results and errors only (warnings stay); no progress, no log lines.</summary>
    public static readonly Option<bool> Quiet = new("--quiet", "-q")
    {
        Description = "print results, warnings and errors only: no progress display, no log lines", Recursive = true
    };

    /// <summary>--verbose: the exception trace after an error message.</summary>
    public static readonly Option<bool> Verbose = new("--verbose") { Description = "on an error, also print the exception's trace", Recursive = true };

    /// <summary>--model: a model description or checkpoint directory; null = the shipped default.</summary>
    public static Option<string?> Model(string? defaultText = null) => new("--model")
    {
        Description = $"model description (models/*.json) or checkpoint directory (default: {defaultText ?? Commands.ModelSources.DefaultModel})",
        HelpName = "model.json|checkpoint-dir",
    };

    /// <summary>--threads: torch CPU threads (default: torch's choice, one per core).</summary>
    public static Option<int?> Threads() =>
        Positive(new Option<int?>("--threads") { Description = "torch CPU threads (default: one per core)", HelpName = "N" });

    /// <summary>--allow-non-finite: load NaN or infinite weights instead of refusing the checkpoint (verbs that load weights).</summary>
    public static Option<bool> AllowNonFinite() =>
        new("--allow-non-finite") { Description = "load NaN or infinite weights instead of refusing the checkpoint" };

    /// <summary>Applies --threads when given.</summary>
    public static void ApplyThreads(ParseResult parse, Option<int?> threads)
    {
        if (parse.GetValue(threads) is int n) TorchSharp.torch.set_num_threads(n);
    }

    /// <summary>--chat-template: one of the templates the runtime knows (default: the model's).</summary>
    public static Option<string?> ChatTemplate(string description = "wrap the prompt as a single user turn (default: the model's)")
    {
        var option = new Option<string?>("--chat-template") { Description = description, HelpName = string.Join('|', Spiffy.Tokenization.ChatTemplate.Kinds) };
        option.AcceptOnlyFromAmong(Spiffy.Tokenization.ChatTemplate.Kinds.ToArray());
        return option;
    }

    public static Option<int?> GenLength(string defaultText) => Within(new Option<int?>("--gen-length")
    {
        Description = $"generation length in tokens (default: {defaultText})", HelpName = "N"
    }, DecodingRules.GenLength);

    public static Option<int?> BlockLength(string defaultText) => Within(new Option<int?>("--block-length")
    {
        Description = $"block length (default: {defaultText})", HelpName = "N"
    }, DecodingRules.BlockLength);

    public static Option<double?> Threshold(string description)
        => Within(new Option<double?>("--threshold") { Description = description, HelpName = "X" }, DecodingRules.Threshold);

    /// <summary>
    /// A decoding option checked by its field's range rule in <see cref="DecodingRules"/> (the one home of the range, which the
    /// graph and model files and <see cref="DecodingOptions.Validate"/> apply too), reported under the flag's name:
    /// "--top-p must be in (0, 1] (1 = off; got 2)".
    /// </summary>
    internal static Option<T> Within<T>(Option<T> option, FieldRange range)
    {
        option.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<T>() is { } value && range.Violation(Convert.ToDouble(value, CultureInfo.InvariantCulture)) is string violation)
                r.AddError($"{option.Name} {violation}");
        });
        return option;
    }

    /// <summary>An option value that must be at least 1.</summary>
    public static Option<int?> Positive(Option<int?> option) => AtLeast(option, 1);

    public static Option<int?> AtLeast(Option<int?> option, int min)
    {
        option.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int?>() is int v && v < min) r.AddError($"{option.Name} must be at least {min}, got {v}");
        });
        return option;
    }

    /// <summary>An enum option written in kebab case (dynamic-top-k); snake case and any letter case are accepted too.</summary>
    public static Option<T?> Enum<T>(string name, string description) where T : struct, System.Enum
    {
        var names = System.Enum.GetValues<T>().Select(Kebab).ToArray();
        var option = new Option<T?>(name)
        {
            Description = description,
            HelpName = string.Join('|', names),
            CustomParser = r =>
            {
                string text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
                foreach (var v in System.Enum.GetValues<T>())
                    if (Normalize(Kebab(v)) == Normalize(text)) return v;
                r.AddError($"{name} must be one of {string.Join(", ", names)} (got \"{text}\")");
                return null;
            },
        };
        option.CompletionSources.Add(names);
        return option;
    }

    /// <summary>"DynamicTopK" -> "dynamic-top-k": how enum values are written on the command line.</summary>
    public static string Kebab<T>(T value) where T : struct, System.Enum
    {
        string s = value.ToString();
        var sb = new System.Text.StringBuilder(s.Length + 4);
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsUpper(s[i]) && i > 0) sb.Append('-');
            sb.Append(char.ToLowerInvariant(s[i]));
        }
        return sb.ToString();
    }

    /// <summary>A comma-separated list of integers, each at least <paramref name="min"/> ("all" allowed when <paramref name="allowAll"/>).</summary>
    public static Option<string?> IntList(string name, string description, int min, bool allowAll = false)
    {
        var option = new Option<string?>(name) { Description = description, HelpName = allowAll ? "N,N,...|all" : "N,N,..." };
        option.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is not string text) return;
            foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                if (!(allowAll && part == "all") && !(int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= min))
                {
                    r.AddError($"{name} expects integers >= {min} separated by commas{(allowAll ? " (or \"all\")" : "")}, got \"{part}\"");
                    return;
                }
        });
        return option;
    }

    /// <summary>Parses a list validated by <see cref="IntList"/> ("all" entries dropped).</summary>
    public static List<int> ParseIntList(string text) => text
        .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Where(p => p != "all")
        .Select(p => int.Parse(p, NumberStyles.Integer, CultureInfo.InvariantCulture)).ToList();

    /// <summary>
    /// <c>--keep</c>: D*, drafts kept per forward after dynamic pruning: <c>all</c>, <c>none</c> or a count
    /// (<see cref="DraftKeep.Parse"/>; 0 is refused as ambiguous), plus <c>auto</c> where <paramref name="allowAuto"/>.
    /// </summary>
    public static Option<string?> Keep(string description, bool allowAuto = false)
    {
        var option = new Option<string?>("--keep") { Description = description, HelpName = allowAuto ? "all|none|N|auto" : "all|none|N" };
        option.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is not string text || (allowAuto && text == Auto)) return;
            if (!DraftKeep.TryParse(text, out _, out string error)) r.AddError($"--keep: {error}");
        });
        return option;
    }

    /// <summary>The value of <see cref="Keep"/> that chooses D* from the measured forward cost.</summary>
    public const string Auto = "auto";

    /// <summary>
    /// A comma-separated list of D* values (<c>all</c>, <c>none</c>, counts; "" for none) such as
    /// <c>--compare-keep</c>; <paramref name="allowNone"/> says whether <c>none</c> means anything here.
    /// </summary>
    public static Option<string?> KeepList(string name, string description, bool allowNone = false)
    {
        var option = new Option<string?>(name) { Description = description, HelpName = "all|N,..." };
        option.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is not string text) return;
            foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!DraftKeep.TryParse(part, out var keep, out string error)) { r.AddError($"{name}: {error}"); return; }
                if (keep.IsNone && !allowNone) { r.AddError($"{name}: 'none' does not apply here (it drafts nothing)"); return; }
            }
        });
        return option;
    }

    /// <summary>Parses a list validated by <see cref="KeepList"/>.</summary>
    public static List<DraftKeep> ParseKeepList(string text) => text
        .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Select(DraftKeep.Parse).ToList();

    /// <summary>
    /// A flag that was renamed: hidden from help, and using it is a usage error naming the new flag (one
    /// name per concept: D* is <c>--keep</c> everywhere).
    /// </summary>
    public static Option<string?> Renamed(string oldName, string newName)
    {
        var option = new Option<string?>(oldName) { Hidden = true, Arity = ArgumentArity.ZeroOrOne };
        option.Validators.Add(r => r.AddError($"{oldName} was renamed {newName} (D*: all, none or a count)"));
        return option;
    }

    private static string Normalize(string s) => s.Replace("-", "", StringComparison.Ordinal).Replace("_", "", StringComparison.Ordinal).ToLowerInvariant();

}

/// <summary>The decoder options of generate and calibrate, added to a command and read back into <see cref="DecodingOptions"/>.</summary>
public sealed class DecodingOptionSet
{
    public Option<int?> GenLength { get; } = SharedOptions.GenLength("the model's, else 256");
    public Option<int?> BlockLength { get; } = SharedOptions.BlockLength("the model's, else 32");
    public Option<int?> Steps { get; } = SharedOptions.Within(new Option<int?>("--steps")
    {
        Description = "total steps of the schedule rule (default: the generation length, one token per step)", HelpName = "N"
    }, DecodingRules.Steps);
    public Option<UnmaskingRule?> Unmasking { get; } = SharedOptions.Enum<UnmaskingRule>("--unmasking", "how many tokens a step commits (default schedule)");
    public Option<double?> Threshold { get; } = SharedOptions.Threshold("tau of threshold / dynamic-top-k (default 0.9)");
    public Option<double?> Factor { get; } = SharedOptions.Within(
        new Option<double?>("--factor") { Description = "f of the factor rule (default 1.0)", HelpName = "X" }, DecodingRules.Factor);
    public Option<int?> K { get; } = SharedOptions.Within(
        new Option<int?>("--k") { Description = "k of dynamic-top-k (default 1)", HelpName = "N" }, DecodingRules.K);
    public Option<ConfidenceKind?> Confidence { get; } = SharedOptions.Enum<ConfidenceKind>("--confidence",
        "how a candidate's confidence is scored (default probability)");
    public Option<double?> Temperature { get; } = SharedOptions.Within(
        new Option<double?>("--temperature") { Description = "0 = greedy (default); > 0 samples as --sampler says", HelpName = "X" },
        DecodingRules.Temperature);
    public Option<SamplerKind?> Sampler { get; } = SharedOptions.Enum<SamplerKind>("--sampler",
        "how T > 0 draws: gumbel (LLaDA), masked-categorical (Dream) or block-multinomial (SDAR), the last two from one generator seeded once as the authors' "
        + "torch draws (default: the model's)");
    public Option<int?> TopK { get; } = SharedOptions.Within(new Option<int?>("--top-k")
    {
        Description = "keep the k most likely tokens before a categorical draw (default 0 = off)", HelpName = "N"
    }, DecodingRules.TopK);
    public Option<double?> AlgTemp { get; } = SharedOptions.Within(new Option<double?>("--alg-temp")
    {
        Description = "Dream's alg_temp: > 0 draws a schedule step's positions from softmax(confidence / X) instead of taking the top ones (default 0)",
        HelpName = "X"
    }, DecodingRules.AlgTemp);
    public Option<double?> TopP { get; } = SharedOptions.Within(new Option<double?>("--top-p")
    {
        Description = "nucleus filter before a categorical draw, in (0, 1] (default 1 = off)", HelpName = "X"
    }, DecodingRules.TopP);
    public Option<long?> Seed { get; } = new("--seed") { Description = "noise seed (default 0)", HelpName = "N" };
    public Option<CacheMode?> Cache { get; } = SharedOptions.Enum<CacheMode>("--cache", "K/V cache (default none; block-causal models use their block cache)");
    public Option<ScheduleKind?> Schedule { get; } = SharedOptions.Enum<ScheduleKind>("--schedule",
        "tokens per step of the schedule rule: even or timesteps (default: the model's; Dream: timesteps)");
    public Option<double?> Eps { get; } = SharedOptions.Within(new Option<double?>("--eps")
    {
        Description = "last timestep of the timesteps schedule (default: the model's, else 0.001)", HelpName = "X"
    }, DecodingRules.Eps);
    public Option<BlockStartRule?> BlockStart { get; } = SharedOptions.Enum<BlockStartRule>("--block-start",
        "what a cache's block-start forward commits: step or first-position (default: the model's; Dream: first-position)");
    public Option<bool> EarlyStop { get; } = new("--early-stop") { Description = "stop once a finished block ends the text" };
    public Option<string?> StopTokens { get; } = SharedOptions.IntList("--stop-tokens",
        "stop after a block once the generation holds any of these token ids (SDAR's stopping_criteria_idx; default none)", 0);
    public Option<bool> StopOnEos { get; } = new("--stop-on-eos")
    {
        Description = "--stop-tokens with the model's end-of-text and end-of-turn ids (SDAR's generate.py default)"
    };
    public Option<bool?> OverfullTopK { get; } = new("--overfull-top-k")
    {
        Description = "true: a step whose share exceeds the masks left rewrites decided positions as SDAR's torch.topk does (default: the model's; SDAR: true)",
        HelpName = "true|false"
    };
    public Option<bool> NoTrim { get; } = new("--no-trim") { Description = "keep text after the first end-of-text token" };

    private IEnumerable<Option> All => new Option[]
    {
        GenLength, BlockLength, Steps, Unmasking, Threshold, Factor, K, Confidence, Temperature, Sampler, TopK, TopP, AlgTemp, Seed, Cache, Schedule, Eps,
        BlockStart, EarlyStop, StopTokens, StopOnEos, OverfullTopK, NoTrim
    };

    public void AddTo(Command command)
    {
        foreach (var o in All) command.Options.Add(o);
    }

    /// <summary>--stop-tokens and --stop-on-eos (the model's end-of-text and end-of-turn ids), else the baseline's.</summary>
    private IReadOnlyList<int> ReadStopTokens(ParseResult parse, ModelSpec spec, IReadOnlyList<int> baseline)
    {
        var ids = new List<int>();
        if (parse.GetValue(StopTokens) is string text) ids.AddRange(SharedOptions.ParseIntList(text));
        if (parse.GetValue(StopOnEos))
        {
            ids.Add(spec.Tokens.Eos);
            if (spec.Tokens.EndOfTurn >= 0) ids.Add(spec.Tokens.EndOfTurn);
        }
        return ids.Count == 0 ? baseline : ids.Distinct().ToArray();
    }

    /// <summary>The options given on the command line over <paramref name="baseline"/> (default: the model's defaults).</summary>
    public DecodingOptions Read(ParseResult parse, ModelSpec spec, DecodingOptions? baseline = null)
    {
        // The model's own lengths and its family's sampler, as the model file (or the checkpoint's family) names them.
        var b = baseline ?? DecodingOptions.ForModel(spec);
        int? gen = parse.GetValue(GenLength);
        var unmasking = parse.GetValue(Unmasking) ?? b.Unmasking;
        return b with
        {
            GenLength = gen ?? b.GenLength,
            BlockLength = parse.GetValue(BlockLength) ?? b.BlockLength,
            // A new generation length resets the steps to one token per step unless --steps says otherwise.
            Steps = parse.GetValue(Steps) ?? (gen is null ? b.Steps : 0),
            Unmasking = unmasking,
            Threshold = parse.GetValue(Threshold) ?? b.Threshold,
            Factor = parse.GetValue(Factor) ?? b.Factor,
            K = parse.GetValue(K) ?? b.K,
            // The model's default confidence belongs to its schedule; threshold rules compare probabilities with tau
            // (Fast-dLLM's confidence_threshold, Dream's included).
            Confidence = parse.GetValue(Confidence) ?? (baseline is null && unmasking != UnmaskingRule.Schedule ? ConfidenceKind.Probability : b.Confidence),
            Temperature = parse.GetValue(Temperature) ?? b.Temperature,
            Sampler = parse.GetValue(Sampler) ?? b.Sampler,
            TopK = parse.GetValue(TopK) ?? b.TopK,
            TopP = parse.GetValue(TopP) ?? b.TopP,
            AlgTemp = parse.GetValue(AlgTemp) ?? b.AlgTemp,
            Seed = parse.GetValue(Seed) ?? b.Seed,
            Cache = parse.GetValue(Cache) ?? b.Cache,
            Schedule = parse.GetValue(Schedule) ?? b.Schedule,
            Eps = parse.GetValue(Eps) ?? b.Eps,
            BlockStart = parse.GetValue(BlockStart) ?? b.BlockStart,
            EarlyStop = parse.GetValue(EarlyStop) || b.EarlyStop,
            StopTokens = ReadStopTokens(parse, spec, b.StopTokens),
            OverfullTopK = parse.GetValue(OverfullTopK) ?? b.OverfullTopK,
            TrimEos = !parse.GetValue(NoTrim) && b.TrimEos,
        };
    }
}
