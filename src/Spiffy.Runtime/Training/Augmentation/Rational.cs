using System.Globalization;
using System.Numerics;

namespace Spiffy.Training.Augmentation;

/// <summary>An exact fraction (normalized, positive denominator): calculator chains are checked without rounding.</summary>
internal readonly record struct Rational
{
    public BigInteger Numerator { get; }
    public BigInteger Denominator { get; }

    public Rational(BigInteger numerator, BigInteger denominator)
    {
        if (denominator.IsZero) throw new DivideByZeroException();
        if (denominator.Sign < 0) { numerator = -numerator; denominator = -denominator; }
        var g = BigInteger.GreatestCommonDivisor(numerator, denominator);
        if (!g.IsOne && !g.IsZero) { numerator /= g; denominator /= g; }
        Numerator = numerator; Denominator = numerator.IsZero ? BigInteger.One : denominator;
    }

    public static Rational FromInteger(BigInteger value) => new(value, BigInteger.One);

    public bool IsInteger => Denominator.IsOne;

    public int Sign => Numerator.Sign;

    public static Rational operator +(Rational a, Rational b) => new(a.Numerator * b.Denominator + b.Numerator * a.Denominator, a.Denominator * b.Denominator);
    public static Rational operator -(Rational a, Rational b) => new(a.Numerator * b.Denominator - b.Numerator * a.Denominator, a.Denominator * b.Denominator);
    public static Rational operator *(Rational a, Rational b) => new(a.Numerator * b.Numerator, a.Denominator * b.Denominator);
    public static Rational operator /(Rational a, Rational b) => new(a.Numerator * b.Denominator, a.Denominator * b.Numerator);
    public static Rational operator -(Rational a) => new(-a.Numerator, a.Denominator);

    /// <summary>Parses a plain decimal literal ("1,200", "0.25", "7"); null if it is not one.</summary>
    public static Rational? ParseDecimal(string text)
    {
        var s = text.Replace(",", "", StringComparison.Ordinal);
        if (s.Length == 0) return null;
        int dot = s.IndexOf('.');
        string digits = dot < 0 ? s : s[..dot] + s[(dot + 1)..];
        if (digits.Length == 0 || !digits.All(char.IsAsciiDigit)) return null;
        var n = BigInteger.Parse(digits, CultureInfo.InvariantCulture);
        var d = dot < 0 ? BigInteger.One : BigInteger.Pow(10, s.Length - dot - 1);
        return new Rational(n, d);
    }

    /// <summary>Text of an integer value (with thousands separators when <paramref name="grouped"/>); fractions are not formatted.</summary>
    public string FormatInteger(bool grouped)
    {
        if (!IsInteger) throw new InvalidOperationException($"{this} is not an integer");
        return grouped ? Numerator.ToString("#,0", CultureInfo.InvariantCulture) : Numerator.ToString(CultureInfo.InvariantCulture);
    }

    public override string ToString() => IsInteger ? Numerator.ToString(CultureInfo.InvariantCulture) : $"{Numerator}/{Denominator}";
}
