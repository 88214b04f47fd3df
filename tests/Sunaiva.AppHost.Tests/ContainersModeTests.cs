using Sunaiva.AppHost.Infrastructure;

namespace Sunaiva.AppHost.Tests;

/// <summary>Builds (does not start) the model in containers mode: same connection names, container resources.</summary>
public sealed class ContainersModeTests
{
    [Fact]
    public async Task Containers_mode_declares_redis_postgres_minio_and_mailpit_with_the_local_connection_names()
    {
        await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Sunaiva_AppHost>(["--Infrastructure:Mode=containers"]);
        var resources = builder.Resources.ToDictionary(r => r.Name);

        Assert.IsType<RedisResource>(resources[ResourceNames.Redis]);
        Assert.IsType<PostgresServerResource>(resources[ResourceNames.Postgres]);
        var minio = Assert.IsType<MinioResource>(resources[ResourceNames.Storage]);
        var mailpit = Assert.IsType<MailpitResource>(resources[ResourceNames.Smtp]);
        Assert.StartsWith("minio/minio", minio.Annotations.OfType<ContainerImageAnnotation>().Single().Image, StringComparison.Ordinal);
        Assert.StartsWith("axllent/mailpit", mailpit.Annotations.OfType<ContainerImageAnnotation>().Single().Image, StringComparison.Ordinal);
        foreach (var db in new[] { ResourceNames.VoiceDb, ResourceNames.BillingDb, ResourceNames.MediaDb, ResourceNames.EngagementDb })
        {
            Assert.IsType<PostgresDatabaseResource>(resources[db]);
        }

        Assert.DoesNotContain(builder.Resources, r => r is LocalServerResource);
    }

    [Fact]
    public async Task Local_mode_declares_no_container_resource()
    {
        await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Sunaiva_AppHost>(["--Infrastructure:Mode=local", "--LocalInfra:Fresh=true"]);
        Assert.DoesNotContain(builder.Resources, r => r is ContainerResource);
        foreach (var name in new[] { ResourceNames.Redis, ResourceNames.Storage, ResourceNames.Smtp, ResourceNames.VoiceDb, ResourceNames.BillingDb, ResourceNames.MediaDb, ResourceNames.EngagementDb })
        {
            Assert.IsAssignableFrom<IResourceWithConnectionString>(builder.Resources.Single(r => r.Name == name));
        }
    }
}
