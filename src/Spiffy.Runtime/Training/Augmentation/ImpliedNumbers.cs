using System.Text.RegularExpressions;

namespace Spiffy.Training.Augmentation;

/// <summary>
/// Values a problem's words imply ("six", "half", "dozen", "hour"): an answer uses them as literals, so a
/// question number of the same value cannot be told apart from them and is kept as written. Without this,
/// "$6 skirts ... six T-shirts" re-samples the 6 of "$2.5 x 6" as if it were the skirts' price.
/// </summary>
internal static class ImpliedNumbers
{
    private static readonly Regex Word = new(@"[A-Za-z]+", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));

    // Words (lower case, singular) and the literal values an answer writes for them.
    private static readonly Dictionary<string, int[]> Table = new(StringComparer.Ordinal)
    {
        ["zero"] = [0], ["one"] = [1], ["two"] = [2], ["three"] = [3], ["four"] = [4], ["five"] = [5], ["six"] = [6],
        ["seven"] = [7], ["eight"] = [8], ["nine"] = [9], ["ten"] = [10], ["eleven"] = [11], ["twelve"] = [12],
        ["thirteen"] = [13], ["fourteen"] = [14], ["fifteen"] = [15], ["sixteen"] = [16], ["seventeen"] = [17],
        ["eighteen"] = [18], ["nineteen"] = [19], ["twenty"] = [20], ["thirty"] = [30], ["forty"] = [40], ["fifty"] = [50],
        ["sixty"] = [60], ["seventy"] = [70], ["eighty"] = [80], ["ninety"] = [90], ["hundred"] = [100], ["thousand"] = [1000],
        ["half"] = [2], ["twice"] = [2], ["double"] = [2], ["doubled"] = [2], ["pair"] = [2], ["triple"] = [3], ["tripled"] = [3],
        ["thrice"] = [3], ["third"] = [3], ["quarter"] = [4], ["fourth"] = [4], ["fifth"] = [5], ["sixth"] = [6], ["seventh"] = [7],
        ["eighth"] = [8], ["ninth"] = [9], ["tenth"] = [10], ["dozen"] = [12], ["score"] = [20],
        ["hour"] = [60, 24], ["minute"] = [60], ["second"] = [60, 2], ["day"] = [24, 7, 30, 365], ["week"] = [7, 52, 4],
        ["month"] = [12, 30, 4], ["year"] = [12, 52, 365], ["percent"] = [100], ["cent"] = [100], ["dollar"] = [100],
        ["quart"] = [4], ["gallon"] = [4, 128], ["foot"] = [12], ["feet"] = [12], ["inch"] = [12], ["yard"] = [3, 36],
        ["pound"] = [16], ["ounce"] = [16], ["meter"] = [100], ["kilogram"] = [1000], ["liter"] = [1000], ["mile"] = [5280],
    };

    /// <summary>Every value implied by the words of the texts (a '%' implies 100).</summary>
    public static HashSet<long> Of(params string[] texts)
    {
        var values = new HashSet<long>();
        foreach (var text in texts)
        {
            if (text.Contains('%')) values.Add(100);
            foreach (Match m in Word.Matches(text))
            {
                var w = m.Value.ToLowerInvariant();
                if (Table.TryGetValue(w, out var v) || (w.EndsWith('s') && Table.TryGetValue(w[..^1], out v)))
                    foreach (var x in v) values.Add(x);
            }
        }
        return values;
    }
}
