using Spiffy.Cli;

return await CliApp.RunAsync(args);
