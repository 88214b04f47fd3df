using System.Diagnostics;
using Sunaiva.Testing;

namespace Sunaiva.Media.Tests;

/// <summary>
/// The real Voice service as a process of its own (its build output; build the solution first), on real Postgres and
/// Redis, for Media's calls to its <c>POST /transcriptions</c>: Media tests cannot host Voice in-process (both are
/// top-level <c>Program</c>s), and Voice is our own service, not a cloud to fake.
/// </summary>
public sealed class VoiceProcess : IAsyncDisposable
{
    private readonly Process _process;

    private VoiceProcess(Process process, Uri address)
    {
        _process = process;
        Address = address;
    }

    public Uri Address { get; }

    public static async Task<VoiceProcess> StartAsync(LocalServers servers, int port)
    {
        var dll = Path.Combine(Root(), "Sunaiva.Voice", "bin", AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug", "net10.0", "Sunaiva.Voice.dll");
        if (!File.Exists(dll))
        {
            throw new InvalidOperationException($"{dll} not found: build the solution (dotnet build Sunaiva.sln) first.");
        }

        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(dll);
        info.WorkingDirectory = Path.GetDirectoryName(dll)!;
        info.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}";
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        info.Environment["ConnectionStrings__voicedb"] = servers.PostgresConnectionString(LocalServers.NewDatabaseName("voice"));
        info.Environment["ConnectionStrings__redis"] = servers.RedisConnectionString;
        info.Environment["Jwt__SigningKey"] = DevTokens.TestSigningKey;
        info.Environment["Voice__Tts__WarmAtStart"] = "false";
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var address = new Uri($"http://127.0.0.1:{port}");
        try
        {
            await BenchSupport.WaitForAsync(new Uri(address, "/alive").AbsoluteUri);
        }
        catch
        {
            process.Kill(entireProcessTree: true);
            process.Dispose();
            throw;
        }

        return new VoiceProcess(process, address);
    }

    public async ValueTask DisposeAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        _process.Dispose();
    }

    private static string Root()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Sunaiva.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Sunaiva.sln not found above " + AppContext.BaseDirectory);
    }
}
