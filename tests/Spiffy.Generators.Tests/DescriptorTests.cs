extern alias SpiffyGenerators;
using System.Text.RegularExpressions;
using Spiffy.Generators.Tests.Support;
using Descriptors = SpiffyGenerators::Spiffy.Generators.DiagnosticDescriptors;
using SchemaErrorKind = SpiffyGenerators::Spiffy.Schema.SchemaErrorKind;

namespace Spiffy.Generators.Tests;

/// <summary>The descriptor table itself: every id reachable, none missing, none silently replaced, each documented and tracked.</summary>
public class DescriptorTests
{
    [Fact]
    public void EverySchemaErrorKind_HasItsOwnDescriptor()
    {
        var seen = new HashSet<string>();
        foreach (var kind in Enum.GetValues<SchemaErrorKind>())
        {
            var d = Descriptors.For(kind);
            Assert.Contains(d, Descriptors.All);
            Assert.True(seen.Add(d.Id), $"{kind} shares {d.Id} with another kind");
        }
    }

    [Fact]
    public void AnUnknownKindOrId_IsABug_NotADefault()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Descriptors.For((SchemaErrorKind)999));
        Assert.Throws<ArgumentOutOfRangeException>(() => Descriptors.ById("SPF9999"));
    }

    [Fact]
    public void IdsAreConsecutive_AndEachLooksUpItself()
    {
        for (int i = 0; i < Descriptors.All.Length; i++)
        {
            var d = Descriptors.All[i];
            Assert.Equal($"SPF{i + 1:D4}", d.Id);
            Assert.Same(d, Descriptors.ById(d.Id));
        }
    }

    [Fact]
    public void EveryDescriptor_IsDocumentedAndTracked()
    {
        string docs = File.ReadAllText(Path.Combine(Harness.RepoRoot, "docs", "diagnostics.md"));
        string releases = File.ReadAllText(Path.Combine(Harness.RepoRoot, "src", "Spiffy.Generators", "AnalyzerReleases.Shipped.md"))
            + File.ReadAllText(Path.Combine(Harness.RepoRoot, "src", "Spiffy.Generators", "AnalyzerReleases.Unshipped.md"));
        foreach (var d in Descriptors.All)
        {
            string title = d.Title.ToString(System.Globalization.CultureInfo.InvariantCulture);
            string severity = d.DefaultSeverity.ToString();
            Assert.Matches(new Regex($@"^\| \[{d.Id}\]\([^)]*\) \| {severity} \| {Regex.Escape(title)} \|$", RegexOptions.Multiline), docs);
            Assert.Contains($"## {d.Id}: {title}", docs, StringComparison.Ordinal);
            Assert.Matches(new Regex($@"^{d.Id} \| Spiffy \| {severity} \| {Regex.Escape(title)}$", RegexOptions.Multiline), releases);
        }
    }
}
