using System.Diagnostics;
using System.Text;

namespace Spiffy.Tests.Tokenization;

/// <summary>A directory under the system temp folder, deleted on dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "spiffy-tok-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        if (Directory.Exists(Path)) Directory.Delete(Path, recursive: true);
    }
}

internal static class TokenizationTestSupport
{
    /// <summary>The folder holding Spiffy.Compiler.sln, found by walking up from the test binaries.</summary>
    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Spiffy.Compiler.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException($"no Spiffy.Compiler.sln above {AppContext.BaseDirectory}");
    }

    /// <summary>Runs a program and returns (exit code, stdout, stderr); kills it after the timeout.</summary>
    public static (int ExitCode, string StdOut, string StdErr) Run(string fileName, IEnumerable<string> args, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in args) info.ArgumentList.Add(a);
        using Process process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {fileName}");
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            return (-1, stdout.ToString(), stderr + $"\n(timed out after {timeout.TotalSeconds:F0} s)");
        }
        process.WaitForExit(); // drains the asynchronous readers
        return (process.ExitCode, stdout.ToString(), stderr.ToString());
    }

    /// <summary>GSM8K-shaped problems with worked answers, seeded so every run sees the same corpus.</summary>
    public static List<string> ArithmeticCorpus(int count, int seed)
    {
        string[] names = ["Natalia", "Weng", "Betty", "Julie", "James", "Albert", "Mark", "Zoë", "Ken", "Alexis"];
        string[] things = ["clips", "apples", "pages", "dollars", "cookies", "marbles", "tickets", "miles", "eggs"];
        string[] verbs = ["sold", "bought", "read", "earned", "baked", "found", "gave away", "walked", "collected"];
        var random = new Random(seed);
        var result = new List<string>(count);
        for (int i = 0; i < count; i++)
        {
            string name = names[random.Next(names.Length)];
            string thing = things[random.Next(things.Length)];
            string verb = verbs[random.Next(verbs.Length)];
            string made = MadeUpWord(random); // gives the corpus many distinct words, like real text
            int a = random.Next(2, 500), b = random.Next(2, 60);
            int product = a * b, sum = product + a;
            result.Add(
                $"{name} {verb} {a} {made} {thing} on Monday, and then {b} times as many on Tuesday. How many {thing} did {name} handle in total?\n" +
                $"On Tuesday {name} {verb} {a}*{b} = <<{a}*{b}={product}>>{product} {thing}.\n" +
                $"In total that's {a}+{product} = <<{a}+{product}={sum}>>{sum} {thing}.\n#### {sum}");
        }
        return result;
    }

    private static string MadeUpWord(Random random)
    {
        string[] syllables = ["ka", "lo", "mi", "ren", "tor", "vi", "sa", "ne", "qu", "bel", "dor", "fin", "ash", "ul", "pre"];
        int n = random.Next(2, 5);
        var sb = new StringBuilder();
        for (int i = 0; i < n; i++) sb.Append(syllables[random.Next(syllables.Length)]);
        return sb.ToString();
    }
}
