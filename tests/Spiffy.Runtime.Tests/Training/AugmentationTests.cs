using Spiffy.Training;
using Spiffy.Training.Augmentation;

namespace Spiffy.Tests.Training;

public class AugmentationTests
{
    private const string Natalia = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia "
        + "sell altogether in April and May?";
    private const string NataliaAnswer = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips "
        + "altogether in April and May.\n#### 72";

    [Theory]
    [InlineData("48/2", "24")]
    [InlineData("100-50-30-15", "5")]
    [InlineData("300*5/100", "15")]
    [InlineData("0.2*50", "10")]
    [InlineData("(3+4)*2", "14")]
    [InlineData("1,200/4", "300")]
    [InlineData("20%*50", "10")]
    [InlineData("2 x 6", "12")]
    [InlineData("-3+5", "2")]
    [InlineData("12/60", "0.2")]
    public void Expression_EvaluatesExactly(string expr, string result)
    {
        var e = CalculatorExpression.Parse(expr);
        Assert.NotNull(e);
        Assert.Equal(Rational.ParseDecimal(result), e!.Evaluate(new List<bool>()));
    }

    [Theory]
    [InlineData("48/")]
    [InlineData("sqrt(4)")]
    [InlineData("3/0")]
    [InlineData("2^3")]
    public void Expression_OutsideTheGrammar_IsUnsupported(string expr) => Assert.Null(CalculatorExpression.Parse(expr));

    [Fact]
    public void Expression_RecordsWhichDivisionsAreExact()
    {
        var e = CalculatorExpression.Parse("7/2*4")!;
        var exact = new List<bool>();
        Assert.Equal(Rational.FromInteger(14), e.Evaluate(exact));
        Assert.Equal(new[] { false }, exact);
    }

    [Fact]
    public void Variants_RecomputeTheChain_AndEveryStepReevaluates()
    {
        var p = new NumericPerturbation(new AugmentationOptions { VariantsPerProblem = 8 });
        var t = p.Prepare(Natalia, NataliaAnswer);
        Assert.Null(t.Unsupported);
        var variants = p.Variants(t, 1, new Dictionary<RejectReason, int>());
        Assert.NotEmpty(variants);
        foreach (var (q, a) in variants)
        {
            var n = long.Parse(System.Text.RegularExpressions.Regex.Match(q, @"\d+").Value);
            Assert.Equal(0, n % 2);                                         // 48/2 was exact, so it must stay exact
            Assert.Contains($"sold {n}/2 = <<{n}/2={n / 2}>>{n / 2} clips in May", a);
            Assert.Contains($"<<{n}+{n / 2}={n + n / 2}>>{n + n / 2} clips", a);
            Assert.Equal((n + n / 2).ToString(System.Globalization.CultureInfo.InvariantCulture), GsmAnswer.Extract(a));
            Assert.Null(p.Prepare(q, a).Unsupported);                       // the variant's own chain re-evaluates
        }
    }

    [Fact]
    public void Variants_NeverNegative_AndInexactDivisionsRejected()
    {
        // 30 - 12 can go negative; 30/3 must stay exact.
        const string q = "Tom has 30 apples. He gives 12 to Ann. He splits the rest into 3 equal bags. How many apples are in each bag?";
        const string a = "Tom has 30-12=<<30-12=18>>18 apples left.\nEach bag holds 18/3=<<18/3=6>>6 apples.\n#### 6";
        var p = new NumericPerturbation(new AugmentationOptions { VariantsPerProblem = 16, AttemptsPerProblem = 200 });
        var rejects = new Dictionary<RejectReason, int>();
        var variants = p.Variants(p.Prepare(q, a), 7, rejects);
        Assert.NotEmpty(variants);
        Assert.True(rejects.GetValueOrDefault(RejectReason.InexactDivision) + rejects.GetValueOrDefault(RejectReason.Negative) > 0);
        foreach (var (vq, va) in variants)
        {
            var t = p.Prepare(vq, va);
            Assert.Null(t.Unsupported);
            Assert.DoesNotContain("-", GsmAnswer.Extract(va));
        }
    }

    [Fact]
    public void Prepare_RejectsAChainThatDoesNotReevaluate_AndAFinalThatIsNotTheLastStep()
    {
        var p = new NumericPerturbation(new AugmentationOptions());
        Assert.Equal(UnsupportedReason.ChainDoesNotReevaluate, p.Prepare("Sam has 4 cats and 5 dogs.", "4+5=<<4+5=10>>10\n#### 10").Unsupported);
        Assert.Equal(UnsupportedReason.FinalIsNotLastStep, p.Prepare("Sam has 4 cats and 5 dogs.", "4+5=<<4+5=9>>9\n#### 8").Unsupported);
        Assert.Equal(UnsupportedReason.NoCalculatorSteps, p.Prepare("Sam has 4 cats.", "He has 4.\n#### 4").Unsupported);
    }

    [Fact]
    public void WordImpliedValues_AreKept()
    {
        // "six" T-shirts: the answer's literal 6 is the count, so the $6 price must not be re-sampled.
        const string q = "A skirt costs $6 and a shirt costs $5. How much do six shirts and one skirt cost?";
        const string a = "Shirts: 5*6=<<5*6=30>>30 dollars.\nTotal: 30+6=<<30+6=36>>36 dollars.\n#### 36";
        var p = new NumericPerturbation(new AugmentationOptions { VariantsPerProblem = 8 });
        var variants = p.Variants(p.Prepare(q, a), 3, new Dictionary<RejectReason, int>());
        Assert.NotEmpty(variants);
        Assert.All(variants, v => Assert.Contains("costs $6 and", v.Question));
    }

    [Fact]
    public void Generate_IsDeterministicInTheSeed_AndNeverUsesHeldOutProblems()
    {
        var train = Enumerable.Range(0, 20)
            .Select(i => new PromptAnswer(Natalia.Replace("48", (40 + 2 * i).ToString(System.Globalization.CultureInfo.InvariantCulture)),
            NataliaAnswer.Replace("48/2", $"{40 + 2 * i}/2").Replace("=24>>24", $"={20 + i}>>{20 + i}").Replace("48+24", $"{40 + 2 * i}+{20 + i}")
                .Replace("=72>>72", $"={60 + 3 * i}>>{60 + 3 * i}").Replace("#### 72", $"#### {60 + 3 * i}"), i + 1)).ToList();
        var heldOut = new List<PromptAnswer> { new("Bob reads 30 pages a day for 4 days. How many pages?", "30*4=<<30*4=120>>120\n#### 120", 21) };
        // A training problem that repeats a held-out question is dropped.
        train.Add(new PromptAnswer("  bob reads 30 pages a day for 4 days.   How many pages?", "30*4=<<30*4=120>>120\n#### 120", 22));
        var options = new AugmentationOptions { HoldOut = 1, VariantsPerProblem = 4, Seed = 5 };
        var (first, report) = GsmAugmenter.Generate(train, heldOut, options);
        var (second, _) = GsmAugmenter.Generate(train, heldOut, options);
        var (other, _) = GsmAugmenter.Generate(train, heldOut, options with { Seed = 6 });
        Assert.Equal(first, second);
        Assert.NotEqual(first, other);
        Assert.Equal(1, report.Unsupported[UnsupportedReason.SameAsHeldOut]);
        Assert.All(first, p => Assert.InRange(p.SourceLine, 1, 20));
        Assert.DoesNotContain(first, p => p.Question.Contains("Bob", StringComparison.OrdinalIgnoreCase));
        Assert.Equal(20, first.Count(p => p.Variant == 0));
        Assert.True(first.Count > 20);
    }
}
