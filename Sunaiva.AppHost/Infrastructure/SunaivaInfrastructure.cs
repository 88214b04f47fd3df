using System.Net;
using System.Net.Sockets;

namespace Sunaiva.AppHost.Infrastructure;

/// <summary>The shared infrastructure resources, the same names in either mode.</summary>
public sealed record SunaivaInfrastructure(
    InfrastructureMode Mode,
    string? DataRoot,
    IResourceBuilder<IResourceWithConnectionString> Redis,
    IResourceBuilder<IResource> PostgresServer,
    IReadOnlyDictionary<string, IResourceBuilder<IResourceWithConnectionString>> Databases,
    IResourceBuilder<IResourceWithConnectionString> Storage,
    IResourceBuilder<IResourceWithConnectionString> Smtp);

/// <summary>A tool that local mode needs is not installed.</summary>
public sealed class MissingToolException(string message) : Exception(message);

public static class SunaivaInfrastructureExtensions
{
    private static readonly string[] DatabaseNames =
        [ResourceNames.VoiceDb, ResourceNames.BillingDb, ResourceNames.MediaDb, ResourceNames.EngagementDb];

    public static SunaivaInfrastructure AddSunaivaInfrastructure(this IDistributedApplicationBuilder builder, TimeProvider time)
    {
        var mode = InfrastructureModeDetector.Resolve(builder.Configuration);
        return mode == InfrastructureMode.Containers ? AddContainers(builder) : AddLocal(builder, time);
    }

    private static SunaivaInfrastructure AddContainers(IDistributedApplicationBuilder builder)
    {
        var redis = builder.AddRedis(ResourceNames.Redis);
        var postgres = builder.AddPostgres(ResourceNames.Postgres);
        var databases = DatabaseNames.ToDictionary(
            n => n,
            n => (IResourceBuilder<IResourceWithConnectionString>)postgres.AddDatabase(n));

        var minioPassword = builder.AddParameter("storage-password", new GenerateParameterDefault { MinLength = 24, Special = false }, secret: true, persist: true);
        var storage = builder.AddResource(new MinioResource(ResourceNames.Storage, minioPassword.Resource))
            .WithImage("minio/minio", "latest")
            .WithArgs("server", "/data", "--console-address", ":9001")
            .WithHttpEndpoint(targetPort: 9000, name: "http")
            .WithHttpEndpoint(targetPort: 9001, name: "console")
            .WithEnvironment("MINIO_ROOT_USER", MinioResource.RootUser)
            .WithEnvironment("MINIO_ROOT_PASSWORD", minioPassword)
            .WithVolume("sunaiva-storage", "/data");

        var smtp = builder.AddResource(new MailpitResource(ResourceNames.Smtp))
            .WithImage("axllent/mailpit", "latest")
            .WithEndpoint(targetPort: 1025, name: "smtp", scheme: "tcp")
            .WithHttpEndpoint(targetPort: 8025, name: "http");

        return new SunaivaInfrastructure(InfrastructureMode.Containers, null, redis, postgres, databases, storage, smtp);
    }

    private static SunaivaInfrastructure AddLocal(IDistributedApplicationBuilder builder, TimeProvider time)
    {
        var tools = LocalTools.Locate();
        var dataRoot = ResolveDataRoot(builder, time);
        var fresh = builder.Configuration.GetValue("LocalInfra:Fresh", false);

        var redisDir = CreateDirectory(dataRoot, "redis");
        var redis = builder.AddResource(new LocalRedisResource(ResourceNames.Redis, redisDir, PortFor(builder, ResourceNames.Redis)))
            .WithServerEndpoint()
            .WithArgs(context =>
            {
                var resource = (LocalRedisResource)context.Resource;
                context.Args.Add("--port");
                context.Args.Add(resource.Port.ToString(CultureInfo.InvariantCulture));
                context.Args.Add("--bind");
                context.Args.Add("127.0.0.1");
                context.Args.Add("--dir");
                context.Args.Add(redisDir);
                // Every acknowledged event lives in Redis's stream until each service has taken it: an fsynced
                // append-only file keeps it through a crash (a lost data set is also detected and republished).
                context.Args.Add("--save");
                context.Args.Add(string.Empty);
                context.Args.Add("--appendonly");
                context.Args.Add("yes");
                context.Args.Add("--appendfsync");
                context.Args.Add("always");
            })
            .WithTcpHealthCheck(builder)
            .WithSupervision();

        var password = builder.AddParameter(ResourceNames.PostgresPasswordParameter, new GenerateParameterDefault { MinLength = 24, Special = false }, secret: true, persist: !fresh);
        var pgData = Path.Combine(dataRoot, "postgres");
        var postgresResource = new LocalPostgresResource(ResourceNames.Postgres, dataRoot, PortFor(builder, ResourceNames.Postgres), password.Resource);
        var postgres = builder.AddResource(postgresResource)
            .WithServerEndpoint()
            .WithArgs("-c", PostgresLauncher.Script, "postgres-launcher", pgData, postgresResource.Port.ToString(CultureInfo.InvariantCulture), tools.PostgresBin, fresh ? "fast" : "durable")
            .WithEnvironment("PG_SUPERUSER_PASSWORD", password);
        var healthKey = $"{ResourceNames.Postgres}-query";
        builder.Services.AddHealthChecks().AddTypeActivatedCheck<PostgresHealthCheck>(healthKey, args: postgresResource);
        postgres.WithHealthCheck(healthKey).WithSupervision();

        var databases = DatabaseNames.ToDictionary(
            n => n,
            n => (IResourceBuilder<IResourceWithConnectionString>)builder.AddResource(new LocalPostgresDatabaseResource(n, n, postgresResource))
                .WithParentRelationship(postgres)
                .ExcludeFromManifest());

        var s3Dir = CreateDirectory(dataRoot, "s3");
        var storage = builder.AddResource(new LocalS3Resource(ResourceNames.Storage, s3Dir, PortFor(builder, ResourceNames.Storage)))
            .WithCommand(tools.S3rver)
            .WithServerEndpoint()
            .WithArgs(context =>
            {
                var resource = (LocalS3Resource)context.Resource;
                context.Args.Add("--directory");
                context.Args.Add(s3Dir);
                context.Args.Add("--address");
                context.Args.Add("127.0.0.1");
                context.Args.Add("--port");
                context.Args.Add(resource.Port.ToString(CultureInfo.InvariantCulture));
                context.Args.Add("--silent");
            })
            .WithTcpHealthCheck(builder)
            .WithSupervision();

        var mailDir = CreateDirectory(dataRoot, "mail");
        var smtpResource = new LocalSmtpResource(ResourceNames.Smtp, mailDir, PortFor(builder, ResourceNames.Smtp), PortFor(builder, "smtp-web"));
        var smtp = builder.AddResource(smtpResource)
            .WithCommand(tools.Maildev)
            .WithServerEndpoint()
            .WithEndpoint(LocalSmtpResource.WebEndpointName, e =>
            {
                e.UriScheme = "http";
                e.Port = smtpResource.WebPort;
                e.TargetPort = smtpResource.WebPort;
                e.IsProxied = false;
                e.TargetHost = "127.0.0.1";
            })
            .WithArgs(
                "--smtp", smtpResource.Port.ToString(CultureInfo.InvariantCulture),
                "--web", smtpResource.WebPort.ToString(CultureInfo.InvariantCulture),
                "--ip", "127.0.0.1",
                "--web-ip", "127.0.0.1",
                "--mail-directory", mailDir)
            .WithUrlForEndpoint(LocalSmtpResource.WebEndpointName, u => u.DisplayText = "Inbox")
            .WithTcpHealthCheck(builder)
            .WithSupervision();

        redis.WithCommand(tools.RedisServer);
        return new SunaivaInfrastructure(InfrastructureMode.Local, dataRoot, redis, postgres, databases, storage, smtp);
    }

    private static IResourceBuilder<T> WithServerEndpoint<T>(this IResourceBuilder<T> builder)
        where T : LocalServerResource =>
        builder.WithEndpoint(LocalServerResource.PrimaryEndpointName, e =>
        {
            e.UriScheme = "tcp";
            e.Port = builder.Resource.Port;
            e.TargetPort = builder.Resource.Port;
            e.IsProxied = false;
            e.TargetHost = "127.0.0.1";
        });

    private static IResourceBuilder<T> WithTcpHealthCheck<T>(this IResourceBuilder<T> resource, IDistributedApplicationBuilder builder)
        where T : LocalServerResource
    {
        var key = $"{resource.Resource.Name}-tcp";
        var port = resource.Resource.Port;
        builder.Services.AddHealthChecks().AddCheck(key, new TcpHealthCheck(port));
        return resource.WithHealthCheck(key);
    }

    private static int PortFor(IDistributedApplicationBuilder builder, string name)
    {
        var configured = builder.Configuration.GetValue<int?>($"LocalInfra:Ports:{name}");
        if (configured is > 0)
        {
            return configured.Value;
        }

        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string ResolveDataRoot(IDistributedApplicationBuilder builder, TimeProvider time)
    {
        if (builder.Configuration.GetValue("LocalInfra:Fresh", false))
        {
            var freshRoot = Path.Combine(Path.GetTempPath(), "sunaiva-fresh");
            Directory.CreateDirectory(freshRoot);
            RemoveStaleFreshFolders(freshRoot, time);
            return CreateTraversable(Path.Combine(freshRoot, Guid.NewGuid().ToString("N")));
        }

        var configured = builder.Configuration["LocalInfra:DataRoot"];
        var root = string.IsNullOrWhiteSpace(configured)
            ? Path.Combine(builder.AppHostDirectory, ".data")
            : Path.GetFullPath(configured);
        return CreateTraversable(root);
    }

    // Fresh folders of earlier test runs are left behind when a run is killed; an hour is well past any run.
    private static void RemoveStaleFreshFolders(string freshRoot, TimeProvider time)
    {
        foreach (var dir in Directory.EnumerateDirectories(freshRoot))
        {
            if (Directory.GetLastWriteTimeUtc(dir) < time.GetUtcNow().UtcDateTime.AddHours(-1))
            {
                try
                {
                    Directory.Delete(dir, recursive: true);
                }
                catch (IOException)
                {
                }
                catch (UnauthorizedAccessException)
                {
                }
            }
        }
    }

    // Postgres runs as the postgres user, which must be able to reach its data folder.
    private static string CreateTraversable(string path)
    {
        Directory.CreateDirectory(path);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        }

        return path;
    }

    private static string CreateDirectory(string root, string name)
    {
        var path = Path.Combine(root, name);
        Directory.CreateDirectory(path);
        return path;
    }
}
