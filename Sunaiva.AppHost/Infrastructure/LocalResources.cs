namespace Sunaiva.AppHost.Infrastructure;

/// <summary>A server started from a locally installed executable, reachable on one loopback TCP port.</summary>
public abstract class LocalServerResource(string name, string command, string workingDirectory, int port)
    : ExecutableResource(name, command, workingDirectory), IResourceWithConnectionString
{
    public const string PrimaryEndpointName = "tcp";

    private EndpointReference? _primary;

    /// <summary>The port chosen for the server; it is passed on its command line.</summary>
    public int Port { get; } = port;

    public EndpointReference PrimaryEndpoint => _primary ??= new EndpointReference(this, PrimaryEndpointName);

    public abstract ReferenceExpression ConnectionStringExpression { get; }
}

/// <summary>redis-server on loopback.</summary>
public sealed class LocalRedisResource(string name, string workingDirectory, int port)
    : LocalServerResource(name, "redis-server", workingDirectory, port)
{
    public override ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create($"{PrimaryEndpoint.Property(EndpointProperty.Host)}:{PrimaryEndpoint.Property(EndpointProperty.Port)}");
}

/// <summary>A PostgreSQL server run by initdb + postgres as the postgres user.</summary>
public sealed class LocalPostgresResource(string name, string workingDirectory, int port, ParameterResource password)
    : LocalServerResource(name, "bash", workingDirectory, port)
{
    public ParameterResource Password { get; } = password;

    public override ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create(
            $"Host={PrimaryEndpoint.Property(EndpointProperty.Host)};Port={PrimaryEndpoint.Property(EndpointProperty.Port)};Username=postgres;Password={Password}");
}

/// <summary>A database on <see cref="LocalPostgresResource"/>; the owning service creates it if missing.</summary>
public sealed class LocalPostgresDatabaseResource(string name, string databaseName, LocalPostgresResource parent)
    : Resource(name), IResourceWithParent<LocalPostgresResource>, IResourceWithConnectionString
{
    public string DatabaseName { get; } = databaseName;

    public LocalPostgresResource Parent { get; } = parent;

    public ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create($"{Parent};Database={DatabaseName}");
}

/// <summary>s3rver (npm): an S3 API on loopback.</summary>
public sealed class LocalS3Resource(string name, string workingDirectory, int port)
    : LocalServerResource(name, "s3rver", workingDirectory, port)
{
    // s3rver accepts only its fixed development credentials; they protect nothing and are not secrets.
    public const string AccessKey = "S3RVER";
    public const string SecretKey = "S3RVER";

    public override ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create(
            $"Endpoint=http://{PrimaryEndpoint.Property(EndpointProperty.Host)}:{PrimaryEndpoint.Property(EndpointProperty.Port)};AccessKey={AccessKey};SecretKey={SecretKey};Region=us-east-1");
}

/// <summary>maildev (npm): SMTP plus a web inbox with a REST API.</summary>
public sealed class LocalSmtpResource(string name, string workingDirectory, int port, int webPort)
    : LocalServerResource(name, "maildev", workingDirectory, port)
{
    public const string WebEndpointName = "http";

    public int WebPort { get; } = webPort;

    public override ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create(
            $"Endpoint=smtp://{PrimaryEndpoint.Property(EndpointProperty.Host)}:{PrimaryEndpoint.Property(EndpointProperty.Port)}");
}
