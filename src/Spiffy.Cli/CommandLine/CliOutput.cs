using System.Text.Encodings.Web;
using System.Text.Json;
using Spectre.Console;

namespace Spiffy.Cli.CommandLine;

/// <summary>
/// Where a verb's output goes: results on stdout (text, or one JSON object with --json); log lines,
/// warnings, progress and errors on stderr. The progress display (Spectre.Console) is shown only
/// when stderr is a terminal and neither --json nor --quiet is given.
/// </summary>
public sealed class CliOutput
{
    private IAnsiConsole? _live; // the console of the progress display while it is shown

    public CliOutput(bool json, bool quiet, bool verbose)
    {
        Json = json;
        Quiet = quiet;
        Verbose = verbose;
    }

    public bool Json { get; }
    public bool Quiet { get; }
    public bool Verbose { get; }

    /// <summary>Whether a live progress display is shown for long jobs.</summary>
    public bool ShowsProgress => !Json && !Quiet && !Console.IsErrorRedirected;

    /// <summary>A result line on stdout (text mode only; JSON results go through <see cref="WriteJson"/>).</summary>
    public void Result(string line)
    {
        if (!Json) Console.Out.WriteLine(line);
    }

    /// <summary>An informational line on stderr (not with --quiet).</summary>
    public void Log(string line)
    {
        if (!Quiet) Err(line);
    }

    /// <summary>A warning on stderr (also with --quiet: it may change how a result is read).</summary>
    public void Warn(string message) => Err("warning: " + message);

    private void Err(string line)
    {
        var live = _live;
        if (live is not null) live.WriteLine(line, Style.Plain);
        else Console.Error.WriteLine(line);
    }

    /// <summary>Writes one JSON object (indented, UTF-8, culture-invariant numbers) and a newline to stdout.</summary>
    public static void WriteJson(Action<Utf8JsonWriter> body)
    {
        Console.Out.Flush();
        using (var stdout = Console.OpenStandardOutput())
        {
            using var w = new Utf8JsonWriter(stdout, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
            w.Flush();
        }
        Console.Out.WriteLine();
    }

    /// <summary>
    /// Runs <paramref name="work"/> with a progress display on stderr (rate and time left per task);
    /// without one the tasks it adds do nothing. Log lines written meanwhile appear above the bars.
    /// </summary>
    public T WithProgress<T>(Func<ProgressScope, T> work)
    {
        if (!ShowsProgress) return work(ProgressScope.None);
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(Console.Error),
            Ansi = AnsiSupport.Detect,
            ColorSystem = ColorSystemSupport.Detect,
            Interactive = InteractionSupport.Yes, // stderr is a terminal (ShowsProgress); stdin may be redirected
        });
        var progress = console.Progress()
            .AutoClear(true)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new SizedColumn(new PercentageColumn()),
                new CountColumn(), new RateColumn(), new SizedColumn(new RemainingTimeColumn()), new SpinnerColumn());
        _live = console;
        try
        {
            return progress.Start(ctx => work(new ProgressScope(ctx)));
        }
        finally
        {
            _live = null;
        }
    }

    public void WithProgress(Action<ProgressScope> work) => WithProgress<bool>(p => { work(p); return true; });

    /// <summary>Runs a job of unknown length (loading a model, hashing weights) under a spinner with the elapsed time.</summary>
    public T Busy<T>(string description, Func<T> work) => WithProgress(progress =>
    {
        var bar = progress.Busy(description);
        var result = work();
        bar.Finish();
        return result;
    });

    /// <summary>"done/total unit"; the elapsed time for a task of unknown size.</summary>
    private sealed class CountColumn : ProgressColumn
    {
        public override Spectre.Console.Rendering.IRenderable Render(Spectre.Console.Rendering.RenderOptions options, ProgressTask task, TimeSpan deltaTime)
            => new Text(task.IsIndeterminate
                ? FormattableString.Invariant($"{task.ElapsedTime ?? TimeSpan.Zero:hh\\:mm\\:ss} elapsed")
                : FormattableString.Invariant($"{task.Value:0}/{task.MaxValue:0} {task.Tag as string}"));
    }

    /// <summary>A column that says nothing for a task of unknown size (no percentage, no time left).</summary>
    private sealed class SizedColumn : ProgressColumn
    {
        private readonly ProgressColumn _inner;

        public SizedColumn(ProgressColumn inner) { _inner = inner; }

        public override Spectre.Console.Rendering.IRenderable Render(Spectre.Console.Rendering.RenderOptions options, ProgressTask task, TimeSpan deltaTime)
            => task.IsIndeterminate ? new Text("") : _inner.Render(options, task, deltaTime);
    }

    /// <summary>Units per second, or seconds per unit when a unit takes longer than a second.</summary>
    private sealed class RateColumn : ProgressColumn
    {
        public override Spectre.Console.Rendering.IRenderable Render(Spectre.Console.Rendering.RenderOptions options, ProgressTask task, TimeSpan deltaTime)
        {
            string unit = task.Tag as string ?? "";
            double? speed = task.Speed;
            if (task.IsIndeterminate || speed is not > 0) return new Text("");
            string text = speed >= 1
                ? FormattableString.Invariant($"{speed:0.0} {unit}/s")
                : FormattableString.Invariant($"{1 / speed:0.0} s/{Singular(unit)}");
            return new Text(text);
        }

        private static string Singular(string unit) => unit.EndsWith('s') ? unit[..^1] : unit;
    }
}

/// <summary>The progress tasks of one display; <see cref="None"/> when no display is shown.</summary>
public sealed class ProgressScope
{
    private readonly ProgressContext? _context;

    internal ProgressScope(ProgressContext? context) { _context = context; }

    public static ProgressScope None { get; } = new ProgressScope(null);

    /// <summary>A task whose size is unknown (a spinner and the elapsed time), e.g. hashing a checkpoint.</summary>
    public ProgressBar Busy(string description)
    {
        if (_context is null) return new ProgressBar(null);
        var task = _context.AddTask(Markup.Escape(description), autoStart: true);
        task.IsIndeterminate = true;
        return new ProgressBar(task);
    }

    /// <summary>A task of <paramref name="total"/> <paramref name="unit"/>s (e.g. "prompts").</summary>
    public ProgressBar Add(string description, double total, string unit)
    {
        if (_context is null) return new ProgressBar(null);
        var task = _context.AddTask(Markup.Escape(description), autoStart: true, maxValue: Math.Max(1, total));
        task.Tag = unit;
        return new ProgressBar(task);
    }
}

/// <summary>One progress task; all members do nothing when no display is shown.</summary>
public sealed class ProgressBar
{
    private readonly ProgressTask? _task;

    internal ProgressBar(ProgressTask? task) { _task = task; }

    public void Advance(double amount = 1) => _task?.Increment(amount);

    public void Set(double value)
    {
        if (_task is not null) _task.Value = value;
    }

    public void Describe(string description)
    {
        if (_task is not null) _task.Description = Markup.Escape(description);
    }

    public void Finish()
    {
        if (_task is null) return;
        if (!_task.IsIndeterminate) _task.Value = _task.MaxValue;
        _task.StopTask();
    }
}
