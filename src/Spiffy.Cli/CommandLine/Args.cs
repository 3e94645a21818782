using System.Globalization;

namespace Spiffy.Cli.CommandLine;

/// <summary>A command-line usage error: printed with the verb's help, exit code 2.</summary>
public sealed class UsageException : Exception
{
    public UsageException(string message) : base(message) { }
}

/// <summary>
/// Parsed arguments of one verb: positionals, "--name value" options and "--flag" switches.
/// Every option a verb reads is declared by reading it; <see cref="EnsureAllUsed"/> then rejects
/// the rest, so a typo is an error instead of a silently ignored setting.
/// </summary>
public sealed class Args
{
    private readonly Dictionary<string, string?> _options = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);
    private readonly List<string> _positionals = new();

    public Args(IReadOnlyList<string> argv, IReadOnlySet<string> flags)
    {
        for (int i = 0; i < argv.Count; i++)
        {
            string a = argv[i];
            if (a == "--") { for (int j = i + 1; j < argv.Count; j++) _positionals.Add(argv[j]); break; }
            if (a.StartsWith("--", StringComparison.Ordinal) && a.Length > 2)
            {
                string name = a[2..];
                string? value = null;
                int eq = name.IndexOf('=');
                if (eq >= 0) { value = name[(eq + 1)..]; name = name[..eq]; }
                else if (!flags.Contains(name))
                {
                    if (i + 1 >= argv.Count) throw new UsageException($"option --{name} needs a value");
                    value = argv[++i];
                }
                if (_options.ContainsKey(name)) throw new UsageException($"option --{name} is given more than once");
                _options[name] = value;
            }
            else if (a.StartsWith('-') && a.Length > 1 && !char.IsDigit(a[1]))
            {
                if (a == "-o") { if (i + 1 >= argv.Count) throw new UsageException("option -o needs a value"); _options["output"] = argv[++i]; }
                else throw new UsageException($"unknown option {a}");
            }
            else _positionals.Add(a);
        }
    }

    public IReadOnlyList<string> Positionals => _positionals;

    public bool Has(string name) { _used.Add(name); return _options.ContainsKey(name); }

    public bool Flag(string name)
    {
        _used.Add(name);
        if (!_options.TryGetValue(name, out var v)) return false;
        if (v is null || v == "true") return true;
        if (v == "false") return false;
        throw new UsageException($"--{name} is a switch; it takes no value (or true/false)");
    }

    public string? String(string name) { _used.Add(name); return _options.TryGetValue(name, out var v) ? v : null; }

    public string Required(string name) => String(name) ?? throw new UsageException($"missing required option --{name}");

    public int Int(string name, int fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        var s = String(name);
        if (s is null) return fallback;
        if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v)) throw new UsageException($"--{name} expects an integer, got \"{s}\"");
        if (v < min || v > max) throw new UsageException($"--{name} must be in [{min}, {max}], got {v}");
        return v;
    }

    public long Long(string name, long fallback)
    {
        var s = String(name);
        if (s is null) return fallback;
        if (!long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out long v)) throw new UsageException($"--{name} expects an integer, got \"{s}\"");
        return v;
    }

    public double Double(string name, double fallback)
    {
        var s = String(name);
        if (s is null) return fallback;
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || double.IsNaN(v) || double.IsInfinity(v))
            throw new UsageException($"--{name} expects a number, got \"{s}\"");
        return v;
    }

    public T Enum<T>(string name, T fallback) where T : struct, System.Enum
    {
        var s = String(name);
        if (s is null) return fallback;
        string norm = s.Replace("-", "", StringComparison.Ordinal).Replace("_", "", StringComparison.Ordinal);
        if (System.Enum.TryParse<T>(norm, ignoreCase: true, out var v) && System.Enum.IsDefined(v)) return v;
        var names = string.Join(", ", System.Enum.GetNames<T>().Select(n => n.ToLowerInvariant()));
        throw new UsageException($"--{name} must be one of: {names} (got \"{s}\")");
    }

    /// <summary>Rejects options no code path asked for, and surplus positionals.</summary>
    public void EnsureAllUsed(int maxPositionals)
    {
        foreach (var k in _options.Keys)
            if (!_used.Contains(k)) throw new UsageException($"unknown option --{k}");
        if (_positionals.Count > maxPositionals) throw new UsageException($"unexpected argument \"{_positionals[maxPositionals]}\"");
    }
}
