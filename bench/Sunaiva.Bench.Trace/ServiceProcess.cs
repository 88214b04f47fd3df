using System.Diagnostics;

namespace Sunaiva.Bench.Trace;

/// <summary>A Sunaiva service run from its build output as its own process, exporting telemetry over OTLP/HTTP.</summary>
internal sealed class ServiceProcess : IAsyncDisposable
{
    private readonly Process _process;

    private ServiceProcess(string name, Process process, string url) => (Name, _process, Url) = (name, process, url);

    public string Name { get; }

    public string Url { get; }

    public static ServiceProcess Start(string dll, string name, int port, string otlpEndpoint, IDictionary<string, string> settings)
    {
        if (!File.Exists(dll))
        {
            throw new FileNotFoundException($"{dll} not found: build the bench (it builds the services) in the same configuration first.");
        }

        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(dll);
        var env = info.Environment;
        env["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}";
        env["ASPNETCORE_ENVIRONMENT"] = "Production";
        env["Logging__LogLevel__Default"] = "Warning";
        // What the AppHost gives every service: OTLP export, named after the resource; short batch delays so the bench need not wait.
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlpEndpoint;
        env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf";
        env["OTEL_SERVICE_NAME"] = name;
        env["OTEL_BSP_SCHEDULE_DELAY"] = "100";
        env["OTEL_BLRP_SCHEDULE_DELAY"] = "1000";
        env["OTEL_METRIC_EXPORT_INTERVAL"] = "60000";
        foreach (var (key, value) in settings)
        {
            env[key] = value;
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start " + dll);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { Length: > 0 } line && line.Contains("fail", StringComparison.OrdinalIgnoreCase))
            {
                Console.Error.WriteLine($"{name}: {line}");
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { Length: > 0 } line)
            {
                Console.Error.WriteLine($"{name}! {line}");
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new ServiceProcess(name, process, $"http://127.0.0.1:{port}");
    }

    public async Task WaitAliveAsync(TimeSpan timeout)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var watch = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited with code {_process.ExitCode} while starting");
            }

            try
            {
                if ((await client.GetAsync(Url + "/alive")).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            if (watch.Elapsed > timeout)
            {
                throw new TimeoutException($"{Name} did not start within {timeout}");
            }

            await Task.Delay(200);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
