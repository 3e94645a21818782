namespace Spiffy.Training.Augmentation;

/// <summary>A number literal inside a calculator expression: where it is and its value.</summary>
internal sealed record NumberLiteral(int Start, int Length, Rational Value, bool Grouped);

/// <summary>
/// The arithmetic of GSM8K's calculator annotations (the "expr" of &lt;&lt;expr=result&gt;&gt;):
/// + - * / (also x and ×), unary minus, parentheses, decimal literals with thousands separators and
/// a postfix %. Evaluated exactly over rationals. Anything else makes the expression unsupported
/// (null), so a problem is never perturbed through arithmetic this class does not understand.
/// </summary>
internal sealed class CalculatorExpression
{
    private readonly string _text;
    private readonly List<NumberLiteral> _literals = new();

    private CalculatorExpression(string text) { _text = text; }

    public string Text => _text;

    /// <summary>The number literals in order of appearance.</summary>
    public IReadOnlyList<NumberLiteral> Literals => _literals;

    /// <summary>Parses an expression; null when it uses anything outside the supported grammar.</summary>
    public static CalculatorExpression? Parse(string text)
    {
        var e = new CalculatorExpression(text);
        var probe = new Evaluator(text, null);
        try { if (probe.TryParseAll(e._literals) is null) return null; }
        catch (DivideByZeroException) { return null; }
        return e;
    }

    /// <summary>
    /// Evaluates with the i-th literal replaced by <paramref name="values"/>[i]. Returns null on a
    /// division by zero. <paramref name="divisionsExact"/> lists, per division in evaluation order,
    /// whether its quotient was an integer.
    /// </summary>
    public Rational? Evaluate(IReadOnlyList<Rational> values, List<bool> divisionsExact)
    {
        if (values.Count != _literals.Count) throw new ArgumentException($"expected {_literals.Count} values, got {values.Count}");
        var ev = new Evaluator(_text, values) { Divisions = divisionsExact };
        try { return ev.TryParseAll(null); }
        catch (DivideByZeroException) { return null; }
    }

    /// <summary>Evaluates the expression as written.</summary>
    public Rational? Evaluate(List<bool> divisionsExact) => Evaluate(_literals.Select(l => l.Value).ToList(), divisionsExact);

    /// <summary>The expression text with each literal replaced by the given text.</summary>
    public string Rewrite(IReadOnlyList<string> literalTexts)
    {
        var sb = new System.Text.StringBuilder();
        int at = 0;
        for (int i = 0; i < _literals.Count; i++)
        {
            sb.Append(_text, at, _literals[i].Start - at).Append(literalTexts[i]);
            at = _literals[i].Start + _literals[i].Length;
        }
        return sb.Append(_text, at, _text.Length - at).ToString();
    }

    /// <summary>Recursive-descent parser and evaluator in one pass.</summary>
    private sealed class Evaluator
    {
        private readonly string _s;
        private readonly IReadOnlyList<Rational>? _values;
        private int _pos, _literal;
        private List<NumberLiteral>? _collect;
        public List<bool>? Divisions { get; init; }

        public Evaluator(string s, IReadOnlyList<Rational>? values) { _s = s; _values = values; }

        public Rational? TryParseAll(List<NumberLiteral>? collect)
        {
            _collect = collect;
            var v = Sum();
            SkipSpaces();
            return v is not null && _pos == _s.Length ? v : null;
        }

        private void SkipSpaces() { while (_pos < _s.Length && char.IsWhiteSpace(_s[_pos])) _pos++; }

        private bool Accept(char c)
        {
            SkipSpaces();
            if (_pos < _s.Length && _s[_pos] == c) { _pos++; return true; }
            return false;
        }

        private Rational? Sum()
        {
            var left = Product();
            while (left is not null)
            {
                if (Accept('+')) { var r = Product(); if (r is null) return null; left = left.Value + r.Value; }
                else if (Accept('-')) { var r = Product(); if (r is null) return null; left = left.Value - r.Value; }
                else break;
            }
            return left;
        }

        private Rational? Product()
        {
            var left = Unary();
            while (left is not null)
            {
                if (Accept('*') || Accept('x') || Accept('×')) { var r = Unary(); if (r is null) return null; left = left.Value * r.Value; }
                else if (Accept('/'))
                {
                    var r = Unary();
                    if (r is null) return null;
                    if (r.Value.Sign == 0) throw new DivideByZeroException();
                    left = left.Value / r.Value;
                    Divisions?.Add(left.Value.IsInteger);
                }
                else break;
            }
            return left;
        }

        private Rational? Unary()
        {
            if (Accept('-')) { var v = Unary(); return v is null ? null : -v.Value; }
            if (Accept('+')) return Unary();
            return Postfix();
        }

        private Rational? Postfix()
        {
            var v = Primary();
            if (v is not null && Accept('%')) v = v.Value / Rational.FromInteger(100);
            return v;
        }

        private Rational? Primary()
        {
            if (Accept('('))
            {
                var v = Sum();
                return v is not null && Accept(')') ? v : null;
            }
            SkipSpaces();
            int start = _pos;
            while (_pos < _s.Length && (char.IsAsciiDigit(_s[_pos]) || _s[_pos] == '.' ||
                   (_s[_pos] == ',' && GroupFollows(_pos)))) _pos++;
            if (_pos == start) return null;
            string text = _s[start.._pos];
            var parsed = Rational.ParseDecimal(text);
            if (parsed is null || text.EndsWith('.')) return null;
            _collect?.Add(new NumberLiteral(start, _pos - start, parsed.Value, text.Contains(',')));
            if (_values is not null) return _values[_literal++];
            return parsed;
        }

        /// <summary>A comma is a thousands separator when exactly three digits follow it.</summary>
        private bool GroupFollows(int comma)
        {
            int n = 0;
            for (int i = comma + 1; i < _s.Length && char.IsAsciiDigit(_s[i]); i++) n++;
            return n == 3;
        }
    }
}
