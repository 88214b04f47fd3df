using System.Net;
using System.Net.Sockets;
using Amazon.S3;
using Npgsql;
using StackExchange.Redis;
using Sunaiva.ServiceDefaults.Resilience;

namespace Sunaiva.ServiceDefaults.Tests.Resilience;

public sealed class DependencyUnavailableExceptionHandlerTests
{
    [Fact]
    public async Task Refused_postgres_connection_is_named_postgres()
    {
        // Nothing listens on port 1: the same refusal Npgsql meets when Postgres is down.
        await using var dataSource = NpgsqlDataSource.Create("Host=127.0.0.1;Port=1;Username=x;Password=y;Timeout=2");
        var ex = await Assert.ThrowsAnyAsync<Exception>(async () => await dataSource.OpenConnectionAsync());
        Assert.Equal(ResourceNames.Postgres, DependencyUnavailableExceptionHandler.Classify(ex));
    }

    [Fact]
    public void Redis_connection_and_timeout_failures_are_named_redis()
    {
        Assert.Equal(ResourceNames.Redis, DependencyUnavailableExceptionHandler.Classify(new RedisConnectionException(ConnectionFailureType.UnableToConnect, "down")));
        Assert.Equal(ResourceNames.Redis, DependencyUnavailableExceptionHandler.Classify(new RedisTimeoutException("slow", CommandStatus.Sent)));
    }

    [Fact]
    public void Storage_server_errors_are_named_storage_but_client_errors_are_not()
    {
        Assert.Equal(ResourceNames.Storage, DependencyUnavailableExceptionHandler.Classify(new AmazonS3Exception("busy") { StatusCode = HttpStatusCode.ServiceUnavailable }));
        Assert.Null(DependencyUnavailableExceptionHandler.Classify(new AmazonS3Exception("no such key") { StatusCode = HttpStatusCode.NotFound }));
    }

    [Fact]
    public void Server_side_postgres_errors_and_unrelated_failures_are_bugs_not_outages()
    {
        Assert.Null(DependencyUnavailableExceptionHandler.Classify(new PostgresException("duplicate key", "ERROR", "ERROR", "23505")));
        Assert.Equal(ResourceNames.Postgres, DependencyUnavailableExceptionHandler.Classify(new PostgresException("shutting down", "FATAL", "FATAL", "57P01")));
        Assert.Null(DependencyUnavailableExceptionHandler.Classify(new InvalidOperationException("bug")));
        Assert.Null(DependencyUnavailableExceptionHandler.Classify(new SocketException((int)SocketError.ConnectionRefused)));
    }
}
