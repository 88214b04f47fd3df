using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Sunaiva.ServiceDefaults.Data;

namespace Sunaiva.ServiceDefaults.Storage;

/// <summary>Parsed <c>storage</c> connection string: <c>Endpoint=...;AccessKey=...;SecretKey=...;Region=...</c>.</summary>
public sealed record StorageConnection(Uri Endpoint, string AccessKey, string SecretKey, string Region)
{
    public static StorageConnection Parse(string connectionString)
    {
        var parts = connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2))
            .Where(p => p.Length == 2)
            .ToDictionary(p => p[0].Trim(), p => p[1].Trim(), StringComparer.OrdinalIgnoreCase);
        string Get(string key) => parts.TryGetValue(key, out var v) && v.Length > 0
            ? v
            : throw new InvalidOperationException($"ConnectionStrings:{ResourceNames.Storage} has no {key}.");
        return new StorageConnection(new Uri(Get("Endpoint")), Get("AccessKey"), Get("SecretKey"), parts.GetValueOrDefault("Region") ?? "us-east-1");
    }
}

/// <summary>The buckets this service owns; created at start.</summary>
public sealed record StorageBuckets(IReadOnlyList<string> Names);

public static class StorageExtensions
{
    /// <summary>Registers an AWSSDK.S3 client for the <c>storage</c> connection and creates the buckets at start.</summary>
    public static IHostApplicationBuilder AddSunaivaStorage(this IHostApplicationBuilder builder, params string[] buckets)
    {
        var connectionString = builder.Configuration.GetConnectionString(ResourceNames.Storage)
            ?? throw new InvalidOperationException($"ConnectionStrings:{ResourceNames.Storage} is not configured; the AppHost passes it.");
        var connection = AddClient(builder, connectionString);
        builder.Services.AddSingleton(sp => new StreamingPut(sp.GetRequiredService<IAmazonS3>(), connection,
            MeteredAwsHttpClientFactory.NewStreamingClient(sp.GetRequiredService<Integration.IIntegrationMeter>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<StorageCircuit>()),
            sp.GetRequiredService<TimeProvider>()));
        builder.Services.AddSingleton(new StorageBuckets(buckets));
        builder.Services.AddSingleton<IStartupTask, BucketInitializer>();
        builder.Services.AddStartupTaskRunner();
        builder.Services.AddHealthChecks().AddCheck<StorageHealthCheck>(ResourceNames.Storage, tags: ["ready"]);
        return builder;
    }

    /// <summary>
    /// For a service whose storage is optional (a cache tier): registers the same metered S3 client when the <c>storage</c>
    /// connection is configured and answers whether it is, without creating buckets at start or a readiness check, so
    /// storage being down neither stops the service from starting nor marks it unready.
    /// </summary>
    public static bool TryAddSunaivaStorageClient(this IHostApplicationBuilder builder)
    {
        if (builder.Configuration.GetConnectionString(ResourceNames.Storage) is not { Length: > 0 } connectionString)
        {
            return false;
        }

        AddClient(builder, connectionString);
        return true;
    }

    // The connection, the process's storage circuit and the metered SDK client through it.
    private static StorageConnection AddClient(IHostApplicationBuilder builder, string connectionString)
    {
        var connection = StorageConnection.Parse(connectionString);
        builder.Services.AddSingleton(connection);
        builder.Services.TryAddSingleton(_ => new StorageCircuit());
        builder.Services.AddSingleton<IAmazonS3>(sp => CreateClient(connection,
            new MeteredAwsHttpClientFactory(sp.GetRequiredService<Integration.IIntegrationMeter>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<StorageCircuit>())));
        return connection;
    }

    private static readonly TimeSpan ClientTimeout = TimeSpan.FromSeconds(30);

    public static AmazonS3Client CreateClient(StorageConnection connection, Amazon.Runtime.HttpClientFactory? httpClients = null) =>
        new(
            new BasicAWSCredentials(connection.AccessKey, connection.SecretKey),
            new AmazonS3Config
            {
                ServiceURL = connection.Endpoint.ToString(),
                ForcePathStyle = true,
                AuthenticationRegion = connection.Region,
                UseHttp = connection.Endpoint.Scheme == Uri.UriSchemeHttp,
                Timeout = ClientTimeout,
                MaxErrorRetry = 2,
                RequestChecksumCalculation = Amazon.Runtime.RequestChecksumCalculation.WHEN_REQUIRED,
                ResponseChecksumValidation = Amazon.Runtime.ResponseChecksumValidation.WHEN_REQUIRED,
                HttpClientFactory = httpClients,
            });

    /// <summary>
    /// The objects under <paramref name="prefix"/>, a page of <paramref name="pageSize"/> keys at a time, in key order. S3's
    /// first listing version paged by the last key: s3rver fails every truncated page of the second (its continuation token
    /// uses a cipher that current OpenSSL refuses: an internal error). A caller may delete a page's objects before asking for
    /// the next: the next page starts after the last key listed, not at a position in the listing.
    /// </summary>
    public static async IAsyncEnumerable<List<S3Object>> ListPagesAsync(
        this IAmazonS3 s3, string bucket, string prefix, int pageSize = 1000, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
    {
        string? next = null;
        do
        {
            var page = await s3.ListObjectsAsync(new ListObjectsRequest { BucketName = bucket, Prefix = prefix, Marker = next, MaxKeys = pageSize }, ct);
            var objects = page.S3Objects ?? [];
            next = page.IsTruncated == true && objects is [.., var last] ? last.Key : null;
            yield return objects;
        }
        while (next is not null);
    }

    /// <summary>s3rver rejects chunked uploads, so every put goes through here.</summary>
    public static PutObjectRequest NewPut(string bucket, string key) => new()
    {
        BucketName = bucket,
        Key = key,
        UseChunkEncoding = false,
    };
}

internal sealed class BucketInitializer(IAmazonS3 s3, StorageBuckets buckets) : IStartupTask
{
    public int Order => 1;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var existing = (await s3.ListBucketsAsync(cancellationToken)).Buckets?.Select(b => b.BucketName).ToHashSet() ?? [];
        foreach (var bucket in buckets.Names.Where(b => !existing.Contains(b)))
        {
            try
            {
                await s3.PutBucketAsync(new PutBucketRequest { BucketName = bucket }, cancellationToken);
            }
            catch (AmazonS3Exception ex) when (ex.ErrorCode is "BucketAlreadyOwnedByYou" or "BucketAlreadyExists")
            {
            }
        }
    }
}

/// <summary>
/// Storage is ready when it lists its buckets. Each attempt has <see cref="ProbeAttemptTimeout"/> (the SDK tries three times,
/// within the 5 s health-check timeout), as a timeout the storage circuit counts: a probe of storage that hangs is a failure
/// toward opening it, where the health check's own cancellation would be counted as a success.
/// </summary>
internal sealed class StorageHealthCheck(IAmazonS3 s3, StorageCircuit circuit) : Microsoft.Extensions.Diagnostics.HealthChecks.IHealthCheck
{
    public static readonly TimeSpan ProbeAttemptTimeout = TimeSpan.FromSeconds(1.5);

    public async Task<Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult> CheckHealthAsync(
        Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            using var deadline = StorageCircuit.AttemptTimeoutOf(ProbeAttemptTimeout);
            await s3.ListBucketsAsync(cancellationToken);
            return Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Healthy();
        }
        catch (Exception ex) when (ex is AmazonServiceException or HttpRequestException or IOException)
        {
            return Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Unhealthy(
                circuit.Refusing ? "object storage does not answer; its circuit is open (requests refused at once)" : "object storage does not answer", ex);
        }
    }
}

/// <summary>Gives the AWS SDK HTTP clients that meter every storage request (capability storage, provider s3-storage).</summary>
internal sealed class MeteredAwsHttpClientFactory(Integration.IIntegrationMeter meter, TimeProvider time, StorageCircuit circuit) : Amazon.Runtime.HttpClientFactory
{
    // The attempt's deadline is the circuit's timeout (which the breaker counts), not the HttpClient's.
    public override HttpClient CreateHttpClient(Amazon.Runtime.IClientConfig clientConfig) =>
        new(Metered(meter, time, circuit.BreakerAndTimeout(NewSocketsHandler()))) { Timeout = Timeout.InfiniteTimeSpan };

    /// <summary>The client of streamed puts: metered, through the circuit, with no deadline but the put's own idle one.</summary>
    public static HttpClient NewStreamingClient(Integration.IIntegrationMeter meter, TimeProvider time, StorageCircuit circuit) =>
        new(Metered(meter, time, circuit.Breaker(NewSocketsHandler()))) { Timeout = Timeout.InfiniteTimeSpan };

    // Every request to storage is metered as storage / s3-storage, refusals of the open circuit included (as circuit-open
    // and timeout outcomes); above the meter, the circuit's refusals and timeouts become network failures (StorageCircuit).
    private static DelegatingHandler Metered(Integration.IIntegrationMeter meter, TimeProvider time, HttpMessageHandler inner) =>
        StorageCircuit.AsNetworkFailures(new Integration.MeteringHttpHandler(meter, "storage", "s3-storage", time) { InnerHandler = inner });

    private static SocketsHttpHandler NewSocketsHandler() => new() { PooledConnectionLifetime = TimeSpan.FromMinutes(5) };

    public override bool UseSDKHttpClientCaching(Amazon.Runtime.IClientConfig clientConfig) => true;

    public override bool DisposeHttpClientsAfterUse(Amazon.Runtime.IClientConfig clientConfig) => false;
}
