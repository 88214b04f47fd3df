using System.Net.Sockets;

namespace Sunaiva.AppHost.Infrastructure;

/// <summary>Where Redis, Postgres, object storage and SMTP come from.</summary>
public enum InfrastructureMode
{
    Local,
    Containers,
}

internal static class InfrastructureModeDetector
{
    public const string SettingKey = "Infrastructure:Mode";

    /// <summary>Reads <c>Infrastructure:Mode</c> (local, containers, auto); auto asks the Docker engine.</summary>
    public static InfrastructureMode Resolve(IConfiguration configuration)
    {
        var setting = configuration[SettingKey];
        if (string.Equals(setting, "local", StringComparison.OrdinalIgnoreCase))
        {
            return InfrastructureMode.Local;
        }

        if (string.Equals(setting, "containers", StringComparison.OrdinalIgnoreCase))
        {
            return InfrastructureMode.Containers;
        }

        return DockerEngineAnswers() ? InfrastructureMode.Containers : InfrastructureMode.Local;
    }

    // The docker client is installed on machines without an engine, so look for the engine's socket
    // and make sure something listens on it instead of trusting the client binary.
    private static bool DockerEngineAnswers()
    {
        var host = Environment.GetEnvironmentVariable("DOCKER_HOST");
        var socketPath = host is not null && host.StartsWith("unix://", StringComparison.Ordinal)
            ? host["unix://".Length..]
            : "/var/run/docker.sock";
        if (host is not null && !host.StartsWith("unix://", StringComparison.Ordinal))
        {
            return true;
        }

        if (!File.Exists(socketPath))
        {
            return false;
        }

        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.Connect(new UnixDomainSocketEndPoint(socketPath));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
