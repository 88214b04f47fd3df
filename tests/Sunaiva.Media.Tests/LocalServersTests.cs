using System.Diagnostics;
using Amazon.S3.Model;
using Sunaiva.ServiceDefaults.Storage;
using Sunaiva.Testing;

namespace Sunaiva.Media.Tests;

/// <summary>The test servers' own supervision: a stand-in server that dies mid-run comes back with its data.</summary>
public sealed class LocalServersTests
{
    [Fact]
    public async Task A_storage_server_that_dies_is_started_again_on_its_port_with_its_objects()
    {
        var servers = new LocalServers { WithStorage = true };
        await servers.InitializeAsync();
        try
        {
            using var s3 = StorageExtensions.CreateClient(StorageConnection.Parse(servers.StorageConnectionString!));
            await s3.PutBucketAsync("survivor");
            await s3.PutObjectAsync(new PutObjectRequest { BucketName = "survivor", Key = "kept.txt", ContentBody = "still here", UseChunkEncoding = false });

            using (var kill = Process.Start("pkill", ["-KILL", "-f", $"s3rver --directory {Path.Combine(servers.Folder, "s3")}"]))
            {
                await kill.WaitForExitAsync();
                Assert.Equal(0, kill.ExitCode); // 0: a process matched and was killed
            }

            string? body = null;
            await Eventually.UntilAsync(
                async () =>
                {
                    try
                    {
                        using var answer = await s3.GetObjectAsync("survivor", "kept.txt");
                        using var reader = new StreamReader(answer.ResponseStream);
                        body = await reader.ReadToEndAsync();
                        return true;
                    }
                    catch (Exception ex) when (ex is HttpRequestException or Amazon.Runtime.AmazonServiceException or IOException)
                    {
                        return false;
                    }
                },
                "the object read from the restarted s3rver",
                TimeSpan.FromSeconds(30));

            Assert.Equal("still here", body);
        }
        finally
        {
            await servers.DisposeAsync();
        }
    }
}
