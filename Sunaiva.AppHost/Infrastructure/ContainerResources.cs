namespace Sunaiva.AppHost.Infrastructure;

/// <summary>A MinIO container exposing the same <c>storage</c> connection string as local mode.</summary>
public sealed class MinioResource(string name, ParameterResource rootPassword) : ContainerResource(name), IResourceWithConnectionString
{
    public const string RootUser = "sunaiva";

    private EndpointReference? _api;

    public ParameterResource RootPassword { get; } = rootPassword;

    public EndpointReference ApiEndpoint => _api ??= new EndpointReference(this, "http");

    public ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create(
            $"Endpoint=http://{ApiEndpoint.Property(EndpointProperty.Host)}:{ApiEndpoint.Property(EndpointProperty.Port)};AccessKey={RootUser};SecretKey={RootPassword};Region=us-east-1");
}

/// <summary>A MailPit container exposing the same <c>smtp</c> connection string as local mode.</summary>
public sealed class MailpitResource(string name) : ContainerResource(name), IResourceWithConnectionString
{
    private EndpointReference? _smtp;

    public EndpointReference SmtpEndpoint => _smtp ??= new EndpointReference(this, "smtp");

    public ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create(
            $"Endpoint=smtp://{SmtpEndpoint.Property(EndpointProperty.Host)}:{SmtpEndpoint.Property(EndpointProperty.Port)}");
}
