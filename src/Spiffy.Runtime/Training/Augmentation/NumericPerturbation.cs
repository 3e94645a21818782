using System.Text;
using System.Text.RegularExpressions;
using Spiffy.Training;

namespace Spiffy.Training.Augmentation;

/// <summary>A generated (or original) training problem and where it came from.</summary>
internal sealed record AugmentedProblem(string Question, string Answer, int SourceLine, int Variant);

/// <summary>Why a problem yields no variants at all (its chain cannot be re-evaluated safely).</summary>
internal enum UnsupportedReason { NoCalculatorSteps, UnparsedExpression, ChainDoesNotReevaluate, FinalIsNotLastStep, NothingToPerturb, SameAsHeldOut }

/// <summary>Why one re-sampling of a supported problem was discarded.</summary>
internal enum RejectReason { NonInteger, Negative, TooLarge, InexactDivision, DivisionByZero, AmbiguousNumber, Duplicate }

/// <summary>
/// Numeric perturbation of GSM8K-style problems: the integers of the question are re-sampled, the
/// answer's &lt;&lt;expr=result&gt;&gt; calculator chain is recomputed in order with them, and every number
/// of the answer that was a question number or an earlier result is rewritten to its new value. A
/// variant is kept only if every step computes a non-negative integer no larger than the bound, every
/// division that was exact stays exact, no rewritten number is ambiguous (one old value bound to two
/// new ones), and the final "#### N" equals the last computed value. A question number whose value the
/// problem's words also imply ("six", "hour") is kept, since the answer's literal could be either.
/// Deterministic in (seed, source line).
/// </summary>
internal sealed class NumericPerturbation
{
    // An integer with optional thousands groups and decimals, not glued to a preceding digit or decimal point.
    private static readonly Regex Number = new(@"(?<![\d.])\d+(?:,\d{3})*(?:\.\d+)?", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
    private static readonly Regex Step = new(@"<<([^<>=]*)=([^<>]*)>>", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));

    private readonly AugmentationOptions _options;

    public NumericPerturbation(AugmentationOptions options) { _options = options; }

    /// <summary>A problem prepared for perturbation, or the reason it cannot be.</summary>
    public sealed class Template
    {
        internal string Question { get; init; } = "";
        internal string Answer { get; init; } = "";
        internal List<Match> QuestionNumbers { get; init; } = new();
        internal HashSet<int> Perturbable { get; init; } = new();   // indices into QuestionNumbers
        internal HashSet<int> Percent { get; init; } = new();
        internal List<(Match Match, CalculatorExpression Expr, List<bool> ExactDivisions)> Steps { get; init; } = new();
        public UnsupportedReason? Unsupported { get; init; }
    }

    /// <summary>Parses a problem and checks that its own chain re-evaluates to its annotated results.</summary>
    public Template Prepare(string question, string answer)
    {
        var steps = new List<(Match, CalculatorExpression, List<bool>)>();
        Rational? last = null;
        foreach (Match m in Step.Matches(answer))
        {
            var expr = CalculatorExpression.Parse(m.Groups[1].Value);
            var annotated = Rational.ParseDecimal(m.Groups[2].Value.Trim());
            if (expr is null || annotated is null) return new Template { Unsupported = UnsupportedReason.UnparsedExpression };
            var exact = new List<bool>();
            var value = expr.Evaluate(exact);
            if (value is null || value.Value != annotated.Value) return new Template { Unsupported = UnsupportedReason.ChainDoesNotReevaluate };
            steps.Add((m, expr, exact));
            last = value;
        }
        if (steps.Count == 0) return new Template { Unsupported = UnsupportedReason.NoCalculatorSteps };
        var final = GsmAnswer.Extract(answer);
        if (final is null || Rational.ParseDecimal(final) is not Rational f || f != last) return new Template
        {
            Unsupported = UnsupportedReason.FinalIsNotLastStep
        };

        var numbers = Number.Matches(question).ToList();
        var implied = ImpliedNumbers.Of(question, answer);
        var perturbable = new HashSet<int>();
        var percent = new HashSet<int>();
        for (int i = 0; i < numbers.Count; i++)
        {
            if (!IsPerturbable(question, numbers[i]) || implied.Contains((long)Rational.ParseDecimal(numbers[i].Value)!.Value.Numerator)) continue;
            perturbable.Add(i);
            if (IsPercent(question, numbers[i])) percent.Add(i);
        }
        if (perturbable.Count == 0) return new Template { Unsupported = UnsupportedReason.NothingToPerturb };
        return new Template { Question = question, Answer = answer, QuestionNumbers = numbers, Perturbable = perturbable, Percent = percent, Steps = steps };
    }

    /// <summary>
    /// Up to <see cref="AugmentationOptions.VariantsPerProblem"/> distinct variants of a prepared problem;
    /// each discarded re-sampling is counted in <paramref name="rejects"/>.
    /// </summary>
    public List<(string Question, string Answer)> Variants(Template t, int sourceLine, Dictionary<RejectReason, int> rejects)
    {
        var result = new List<(string, string)>();
        if (t.Unsupported is not null) return result;
        var seen = new HashSet<string>(StringComparer.Ordinal) { t.Question + "\n" + t.Answer };
        var rng = new Random(unchecked((int)(_options.Seed * 1_000_003 + sourceLine)));
        for (int attempt = 0; attempt < _options.AttemptsPerProblem && result.Count < _options.VariantsPerProblem; attempt++)
        {
            var (variant, reason) = TryOnce(t, rng);
            if (variant is { } v && !seen.Add(v.Question + "\n" + v.Answer)) reason = RejectReason.Duplicate;
            if (reason is RejectReason r) { rejects[r] = rejects.GetValueOrDefault(r) + 1; continue; }
            result.Add(variant!.Value);
        }
        return result;
    }

    /// <summary>Old value -> new value bindings, with values bound two ways marked ambiguous.</summary>
    private sealed class Bindings
    {
        private readonly Dictionary<Rational, Rational> _map = new();
        private readonly HashSet<Rational> _ambiguous = new();

        public void Bind(Rational old, Rational now)
        {
            if (_ambiguous.Contains(old)) return;
            if (_map.TryGetValue(old, out var had) && had != now) { _map.Remove(old); _ambiguous.Add(old); return; }
            _map[old] = now;
        }

        /// <summary>The new value of a number as it appears in the text; false if it is ambiguous.</summary>
        public bool TryRewrite(Rational old, out Rational now)
        {
            if (_ambiguous.Contains(old)) { now = old; return false; }
            if (!_map.TryGetValue(old, out now)) { now = old; _map[old] = old; }  // a constant: later reuse must agree
            return true;
        }
    }

    private ((string Question, string Answer)? Variant, RejectReason? Reason) TryOnce(Template t, Random rng)
    {
        var bindings = new Bindings();
        // Question: one new value per distinct perturbable value (the same number twice is the same quantity).
        var chosen = new Dictionary<Rational, Rational>();
        var q = new StringBuilder();
        int at = 0;
        for (int i = 0; i < t.QuestionNumbers.Count; i++)
        {
            var m = t.QuestionNumbers[i];
            var old = Rational.ParseDecimal(m.Value)!.Value;
            Rational now = old;
            if (t.Perturbable.Contains(i))
            {
                if (!chosen.TryGetValue(old, out now)) { now = Sample(old, t.Percent.Contains(i), rng); chosen[old] = now; }
            }
            bindings.Bind(old, now);
            q.Append(t.Question, at, m.Index - at).Append(now == old ? m.Value : now.FormatInteger(m.Value.Contains(',')));
            at = m.Index + m.Length;
        }
        q.Append(t.Question, at, t.Question.Length - at);

        // Answer: prose numbers and step literals rewritten in order; each step recomputed and its result bound.
        var a = new StringBuilder();
        at = 0;
        foreach (var (match, expr, exactBefore) in t.Steps)
        {
            if (RewriteProse(t.Answer[at..match.Index], bindings, a) is RejectReason pr) return (null, pr);
            var values = new List<Rational>();
            var texts = new List<string>();
            foreach (var lit in expr.Literals)
            {
                if (!bindings.TryRewrite(lit.Value, out var now)) return (null, RejectReason.AmbiguousNumber);
                values.Add(now);
                texts.Add(now == lit.Value ? expr.Text.Substring(lit.Start, lit.Length) : Format(now, lit.Grouped));
            }
            var exact = new List<bool>();
            var value = expr.Evaluate(values, exact);
            if (value is null) return (null, RejectReason.DivisionByZero);
            for (int d = 0; d < exact.Count; d++) if (exactBefore[d] && !exact[d]) return (null, RejectReason.InexactDivision);
            var v = value.Value;
            if (!v.IsInteger) return (null, RejectReason.NonInteger);
            if (v.Sign < 0) return (null, RejectReason.Negative);
            if (v.Numerator > _options.MaxValue) return (null, RejectReason.TooLarge);
            var oldResult = Rational.ParseDecimal(match.Groups[2].Value.Trim())!.Value;
            bindings.Bind(oldResult, v);
            a.Append("<<").Append(expr.Rewrite(texts)).Append('=').Append(v.FormatInteger(false)).Append(">>");
            at = match.Index + match.Length;
        }
        if (RewriteProse(t.Answer[at..], bindings, a) is RejectReason tail) return (null, tail);
        var answer = a.ToString();
        // The final line must state the last computed value (a rewritten "#### N" that lost its binding fails here).
        var last = Rational.ParseDecimal(t.Steps[^1].Match.Groups[2].Value.Trim())!.Value;
        bindings.TryRewrite(last, out var lastNow);
        if (GsmAnswer.Extract(answer) is not string final || Rational.ParseDecimal(final) != lastNow) return (null, RejectReason.AmbiguousNumber);
        return ((q.ToString(), answer), null);
    }

    private static RejectReason? RewriteProse(string prose, Bindings bindings, StringBuilder into)
    {
        int at = 0;
        foreach (Match m in Number.Matches(prose))
        {
            var old = Rational.ParseDecimal(m.Value)!.Value;
            if (!bindings.TryRewrite(old, out var now)) return RejectReason.AmbiguousNumber;
            into.Append(prose, at, m.Index - at).Append(now == old ? m.Value : Format(now, m.Value.Contains(',')));
            at = m.Index + m.Length;
        }
        into.Append(prose, at, prose.Length - at);
        return null;
    }

    private static string Format(Rational value, bool grouped) => value.FormatInteger(grouped);

    /// <summary>A new value near <paramref name="old"/> in the same rounding unit: [m / Scale, m * Scale] units.</summary>
    private Rational Sample(Rational old, bool percent, Random rng)
    {
        long v = (long)old.Numerator;
        long unit = 1;
        foreach (var u in _options.RoundingUnits) if (v % u == 0 && v / u >= 2) { unit = u; break; }
        long m = v / unit;
        long lo = Math.Max(1, (m + _options.Scale - 1) / _options.Scale), hi = m * _options.Scale;
        if (unit == 1) lo = Math.Max(lo, _options.SmallestPerturbed);
        if (percent) hi = Math.Min(hi, _options.PercentCap / unit);
        if (hi < lo) return old;
        return Rational.FromInteger(unit * rng.NextInt64(lo, hi + 1));
    }

    /// <summary>
    /// Integers that are quantities: not decimals, not 0/1, not ordinals or glued to letters ("1st", "3D"),
    /// not clock times ("3:30"), not years.
    /// </summary>
    private bool IsPerturbable(string text, Match m)
    {
        if (m.Value.Contains('.')) return false;
        var value = Rational.ParseDecimal(m.Value)!.Value;
        if (value.Numerator < _options.SmallestPerturbed || value.Numerator > _options.MaxValue) return false;
        int end = m.Index + m.Length;
        if (end < text.Length && (char.IsLetter(text[end]) || text[end] == ':')) return false;
        if (m.Index > 0 && text[m.Index - 1] == ':') return false;
        if (m.Value.Length == 4 && value.Numerator >= _options.YearFrom && value.Numerator <= _options.YearTo) return false;
        return true;
    }

    private static bool IsPercent(string text, Match m)
    {
        var rest = text.AsSpan(m.Index + m.Length).TrimStart();
        return rest.StartsWith("%") || rest.StartsWith("percent", StringComparison.OrdinalIgnoreCase);
    }
}
