using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using System.Net;
using System.Net.Sockets;
using Npgsql;
using Sunaiva.Messaging.Work;
using Sunaiva.ServiceDefaults.Data;
using Xunit;

namespace Sunaiva.Testing;

/// <summary>
/// Real Redis, Postgres, s3rver and maildev processes on loopback for one test assembly, started the same way
/// the AppHost's local mode starts them, in a fresh temporary folder. Use as an xunit collection fixture.
/// </summary>
public sealed class LocalServers : IAsyncLifetime
{
    private const int MaxRestarts = 3;
    private readonly List<Process> _processes = [];
    private readonly ConcurrentDictionary<Assembly, Lazy<Task<string>>> _templates = new();
    private volatile bool _disposing;
    private readonly string _root = Path.Combine(Path.GetTempPath(), "sunaiva-tests", Guid.NewGuid().ToString("N"));

    /// <summary>Which servers to start; Redis and Postgres always.</summary>
    public bool WithStorage { get; init; }

    public bool WithSmtp { get; init; }

    /// <summary>
    /// Postgres with memory sized to the machine, as the AppHost runs it (Sunaiva.AppHost/Infrastructure/PostgresLauncher.cs:
    /// shared_buffers a quarter of RAM, at most 4 GB): for benches that measure what the system does. Tests keep the default.
    /// </summary>
    public bool WithProductionMemory { get; init; }

    /// <summary>The shared_buffers of <see cref="WithProductionMemory"/>, in MB: a quarter of RAM, at least 128 MB, at most 4 GB.</summary>
    public static long ProductionSharedBuffersMb() => Math.Clamp(MemoryMb() / 4, 128, 4096);

    private static long MemoryMb() =>
        long.Parse(File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) / 1024;

    /// <summary>The folder the servers keep their data in (one per fixture; a server's command line names its subfolder).</summary>
    public string Folder => _root;

    public string RedisConnectionString { get; private set; } = string.Empty;

    public int PostgresPort { get; private set; }

    public string PostgresPassword { get; } = "pw" + Guid.NewGuid().ToString("N");

    public string? StorageConnectionString { get; private set; }

    public string? SmtpConnectionString { get; private set; }

    /// <summary>Base address of maildev's REST API (GET /api/email lists messages).</summary>
    public Uri? MaildevApi { get; private set; }

    public string PostgresConnectionString(string database) =>
        $"Host=127.0.0.1;Port={PostgresPort};Username=postgres;Password={PostgresPassword};Database={database}";

    /// <summary>A new empty database name, so tests of one assembly do not see each other's rows.</summary>
    public static string NewDatabaseName(string prefix) => $"{prefix}_{Guid.NewGuid().ToString("N")[..10]}";

    /// <summary>
    /// Creates an empty database by copying the template's files (<c>STRATEGY FILE_COPY</c>; these servers run with fsync
    /// off, so its checkpoint costs nothing): about 130 ms less than a plain <c>CREATE DATABASE</c>, which since Postgres 15
    /// writes every page of the template to the WAL, and a test starts a service on a database of its own.
    /// </summary>
    public async Task CreateDatabaseAsync(string database) => await CreateDatabaseAsync(database, template: null);

    /// <summary>
    /// Creates a database with every migration of <paramref name="service"/> (the kernel's, messaging's and its own) already
    /// applied: a copy of a template database that the service's own <see cref="DatabaseMigrator"/> migrated once for these
    /// servers. A service starting on it finds nothing to apply; on this VM applying Media's scripts costs Postgres about
    /// 0.2 s of CPU, and a suite starts a service on a database of its own about 500 times.
    /// </summary>
    public async Task CreateMigratedDatabaseAsync(string database, Assembly service)
    {
        var template = _templates.GetOrAdd(service, s => new Lazy<Task<string>>(() => MigrateTemplateAsync(s)));
        string name;
        try
        {
            name = await template.Value;
        }
        catch
        {
            // Postgres down (an outage test): the next database tries again.
            _templates.TryRemove(KeyValuePair.Create(service, template));
            throw;
        }

        await CreateDatabaseAsync(database, name);
    }

    private async Task<string> MigrateTemplateAsync(Assembly service)
    {
        var name = "template_" + service.GetName().Name!.Replace('.', '_').ToLowerInvariant();
        await CreateDatabaseAsync(name, template: null);
        // Not pooled: a database is copied only while no one is connected to it.
        var connectionString = PostgresConnectionString(name) + ";Pooling=false";
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [$"ConnectionStrings:{name}"] = connectionString }).Build();
        await using var source = NpgsqlDataSource.Create(connectionString);
        var migrator = new DatabaseMigrator(
            source, configuration, new DatabaseName(name, service), [new MigrationSource(typeof(WorkRunner).Assembly, "messaging/")], NullLogger<DatabaseMigrator>.Instance, TimeProvider.System);
        await migrator.RunAsync(CancellationToken.None);
        return name;
    }

    private async Task CreateDatabaseAsync(string database, string? template)
    {
        await using var connection = new NpgsqlConnection(PostgresConnectionString("postgres") + ";Timeout=2");
        await connection.OpenAsync();
        var from = template is null ? string.Empty : $" TEMPLATE {Quoted(template)}";
        await using var command = new NpgsqlCommand($"CREATE DATABASE {Quoted(database)}{from} STRATEGY FILE_COPY", connection);
        await command.ExecuteNonQueryAsync();
    }

    private static string Quoted(string identifier) => $"\"{identifier.Replace("\"", "\"\"", StringComparison.Ordinal)}\"";

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_root);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(_root, (UnixFileMode)0b111_101_101);
        }
        await Task.WhenAll(StartRedisAsync(), StartPostgresAsync(), WithStorage ? StartStorageAsync() : Task.CompletedTask, WithSmtp ? StartSmtpAsync() : Task.CompletedTask);
    }

    public Task DisposeAsync()
    {
        _disposing = true;
        List<Process> processes;
        lock (_processes)
        {
            processes = [.. _processes];
        }

        foreach (var process in processes)
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    process.WaitForExit(5000);
                }
            }
            catch (InvalidOperationException)
            {
            }

            process.Dispose();
        }

        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return Task.CompletedTask;
    }

    private async Task StartRedisAsync()
    {
        var port = FreePort();
        var dir = Directory.CreateDirectory(Path.Combine(_root, "redis")).FullName;
        Start(Which("redis-server", "redis-server"), ["--port", port.ToString(), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "yes", "--appendfsync", "always"]);
        await WaitForPortAsync(port, "redis-server");
        RedisConnectionString = $"127.0.0.1:{port}";
    }

    private async Task StartPostgresAsync()
    {
        PostgresPort = FreePort();
        var bin = PostgresBin();
        var data = Path.Combine(_root, "postgres");
        var script = $$"""
            set -euo pipefail
            mkdir -p '{{data}}'; chown postgres:postgres '{{data}}'; chmod 700 '{{data}}'
            pw="$(mktemp)"; printf '%s' '{{PostgresPassword}}' > "$pw"; chown postgres "$pw"
            setpriv --reuid=postgres --regid=postgres --init-groups '{{bin}}/initdb' -D '{{data}}' -U postgres --auth=scram-sha-256 --pwfile="$pw" -E UTF8 --locale=C.UTF-8 >/dev/null
            rm -f "$pw"
            memory=()
            if [ '{{WithProductionMemory}}' = 'True' ]; then
              memory=(-c "shared_buffers={{ProductionSharedBuffersMb()}}MB" -c "effective_cache_size={{MemoryMb() * 3 / 4}}MB")
            fi
            exec setpriv --reuid=postgres --regid=postgres --init-groups '{{bin}}/postgres' -D '{{data}}' -p {{PostgresPort}} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 "${memory[@]}"
            """;
        Start("/bin/bash", ["-c", script], restartable: false); // the script also creates the cluster
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                await using var connection = new NpgsqlConnection(PostgresConnectionString("postgres") + ";Pooling=false;Timeout=2");
                await connection.OpenAsync();
                return;
            }
            catch (Exception ex) when ((ex is NpgsqlException or SocketException) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }
        }
    }

    private async Task StartStorageAsync()
    {
        var port = FreePort();
        var dir = Directory.CreateDirectory(Path.Combine(_root, "s3")).FullName;
        Start(Which("s3rver", "npm package s3rver"), ["--directory", dir, "--address", "127.0.0.1", "--port", port.ToString(), "--silent"]);
        await WaitForPortAsync(port, "s3rver");
        StorageConnectionString = $"Endpoint=http://127.0.0.1:{port};AccessKey=S3RVER;SecretKey=S3RVER;Region=us-east-1";
    }

    private async Task StartSmtpAsync()
    {
        var smtp = FreePort();
        var web = FreePort();
        var dir = Directory.CreateDirectory(Path.Combine(_root, "mail")).FullName;
        Start(Which("maildev", "npm package maildev"), ["--smtp", smtp.ToString(), "--web", web.ToString(), "--ip", "127.0.0.1", "--web-ip", "127.0.0.1", "--mail-directory", dir]);
        await WaitForPortAsync(smtp, "maildev");
        await WaitForPortAsync(web, "maildev web");
        SmtpConnectionString = $"Endpoint=smtp://127.0.0.1:{smtp}";
        MaildevApi = new Uri($"http://127.0.0.1:{web}/");
    }

    /// <summary>
    /// Starts a server process. A <paramref name="restartable"/> one (its state is on disk and its command line starts it
    /// again as it was) that exits while the fixture is in use is started again on the same port and folder, at most
    /// <see cref="MaxRestarts"/> times, as the AppHost's supervisor does, and says so with its last output on the test
    /// host's error stream: one crash of a stand-in server (s3rver has been seen to exit in a CI run) then fails the test
    /// that met it, not every later test of the assembly, and the log says which server died and why.
    /// </summary>
    private void Start(string file, string[] args, bool restartable = true, int restarts = 0)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var lastLines = new System.Collections.Concurrent.ConcurrentQueue<string>();
        void Keep(string? line)
        {
            if (line is not null)
            {
                lastLines.Enqueue(line);
                while (lastLines.Count > 20 && lastLines.TryDequeue(out _))
                {
                }
            }
        }

        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.Exited += (_, _) =>
        {
            if (_disposing)
            {
                return;
            }

            var again = restartable && restarts < MaxRestarts;
            Console.Error.WriteLine(
                $"[LocalServers] {Path.GetFileName(file)} exited with code {process.ExitCode}{(again ? "; starting it again" : string.Empty)}. Last output: {string.Join(" | ", lastLines)}");
            if (again)
            {
                Start(file, args, restartable, restarts + 1);
            }
        };
        if (!process.Start())
        {
            throw new InvalidOperationException($"could not start {file}");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        lock (_processes)
        {
            _processes.Add(process);
        }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task WaitForPortAsync(int port, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
            catch (SocketException ex)
            {
                throw new InvalidOperationException($"{what} did not listen on port {port} within 60 s", ex);
            }
        }
    }

    private static string Which(string name, string package)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException($"{name} is not installed ({package}); run eng/test.sh, which installs it.");
    }

    private static string PostgresBin()
    {
        var root = "/usr/lib/postgresql";
        var bin = Directory.Exists(root)
            ? Directory.EnumerateDirectories(root).Select(d => Path.Combine(d, "bin")).Where(d => File.Exists(Path.Combine(d, "initdb"))).OrderDescending().FirstOrDefault()
            : null;
        return bin ?? throw new InvalidOperationException("postgresql is not installed (Debian package postgresql); run eng/test.sh, which installs it.");
    }
}
