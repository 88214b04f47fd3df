using System.Diagnostics;
using System.Text;

namespace Sunaiva.Testing;

/// <summary>
/// One Sunaiva service as a real OS process (<c>dotnet {Service}.dll</c> from the service's own build output), configured
/// through environment variables like the AppHost does, on a free port. <see cref="Kill"/> is a SIGKILL of that process
/// (what the AppHost tests' <c>Faults.Kill</c> does to a resource): nothing in the service gets to run.
/// </summary>
public sealed class ServiceChildProcess : IAsyncDisposable
{
    private readonly string _dll;
    private readonly IReadOnlyDictionary<string, string?> _settings;
    private readonly StringBuilder _log = new();
    private Process? _process;

    public ServiceChildProcess(string project, IReadOnlyDictionary<string, string?> settings)
    {
        _dll = ServiceDll(project);
        _settings = settings;
        BaseAddress = new Uri($"http://127.0.0.1:{LocalServers.FreePort()}");
    }

    public Uri BaseAddress { get; private set; }

    public int Pid => _process?.Id ?? throw new InvalidOperationException("not started");

    /// <summary>The last lines the process wrote (for a failing test's message).</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.Length > 4000 ? _log.ToString(_log.Length - 4000, 4000) : _log.ToString();
            }
        }
    }

    /// <summary>
    /// Starts the process and waits until its health endpoint answers 200: on <see cref="BaseAddress"/> the first time (so
    /// a caller configured before the start finds it), on a new port when started again after a kill.
    /// </summary>
    public async Task StartAsync(TimeSpan timeout)
    {
        if (_process is { HasExited: false })
        {
            throw new InvalidOperationException("already running");
        }

        if (_process is not null)
        {
            BaseAddress = new Uri($"http://127.0.0.1:{LocalServers.FreePort()}");
        }

        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Path.GetDirectoryName(_dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(_dll);
        start.Environment["ASPNETCORE_URLS"] = BaseAddress.ToString().TrimEnd('/');
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
        start.Environment["DOTNET_ENVIRONMENT"] = "Development";
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        foreach (var (key, value) in _settings)
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException($"{_dll} did not start");
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var until = Stopwatch.StartNew();
        while (until.Elapsed < timeout)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{Path.GetFileName(_dll)} exited with {_process.ExitCode}: {Log}");
            }

            try
            {
                using var response = await http.GetAsync("/health");
                if (response.IsSuccessStatusCode)
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

            await Task.Delay(200);
        }

        throw new TimeoutException($"{Path.GetFileName(_dll)} not healthy after {timeout}: {Log}");
    }

    /// <summary>kill -9 of the service's process (its children, such as an encoder, are orphaned as in a real crash).</summary>
    public void Kill()
    {
        var process = _process ?? throw new InvalidOperationException("not started");
        process.Kill(entireProcessTree: false); // SIGKILL on Linux
        process.WaitForExit();
    }

    public HttpClient Client(string? userId = null)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        if (userId is not null)
        {
            client.DefaultRequestHeaders.Authorization = new("Bearer", DevTokens.For(userId));
        }

        return client;
    }

    /// <summary>
    /// The service's own build output (<c>{repo}/{project}/bin/{configuration}/{tfm}/{project}.dll</c>, built with the
    /// test project that references it), so its appsettings.json and content root are its own.
    /// </summary>
    public static string ServiceDll(string project)
    {
        // .../tests/X/bin/{configuration}/{tfm}/
        var testOutput = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var tfm = testOutput.Name;
        var configuration = testOutput.Parent!.Name;
        for (var dir = testOutput; dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, project, "bin", configuration, tfm, project + ".dll");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException($"{project}.dll not found next to the tests' repository (build {project} first)");
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_log)
        {
            _log.AppendLine(line);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        _process?.Dispose();
    }
}
