using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Sunaiva.Media.Files;
using Sunaiva.Testing;

namespace Sunaiva.Media.Tests;

/// <summary>Kestrel's memory in 64 KiB blocks for Media (<see cref="LargeBlockMemoryPoolFactory"/>), and uploads read through it.</summary>
[Collection(ServersCollection.Name)]
public sealed class LargeBlockMemoryPoolTests(MediaServers servers)
{
    [Fact]
    public void A_block_holds_64_KiB_and_a_larger_request_is_refused()
    {
        using var pool = new LargeBlockMemoryPool();
        using var block = pool.Rent(4096);
        Assert.Equal(LargeBlockMemoryPool.BlockSize, block.Memory.Length);
        Assert.Equal(LargeBlockMemoryPool.BlockSize, pool.MaxBufferSize);
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Rent(LargeBlockMemoryPool.BlockSize + 1));
    }

    [Fact]
    public void A_returned_block_is_rented_again_and_a_second_dispose_does_not_return_it_twice()
    {
        using var pool = new LargeBlockMemoryPool();
        var first = pool.Rent();
        var memory = first.Memory;
        first.Dispose();
        first.Dispose();
        Assert.Equal(1, pool.FreeBlocks);

        using var again = pool.Rent();
        Assert.True(again.Memory.Span == memory.Span, "the block that came back is the one rented next");
        Assert.Equal(0, pool.FreeBlocks);
        using var fresh = pool.Rent();
        Assert.False(fresh.Memory.Span == memory.Span, "a block is never handed out twice at once");
    }

    [Fact]
    public void At_most_64_free_blocks_are_kept_after_a_burst()
    {
        using var pool = new LargeBlockMemoryPool();
        var burst = Enumerable.Range(0, LargeBlockMemoryPool.MaxFreeBlocks * 3).Select(_ => pool.Rent()).ToList();
        burst.ForEach(b => b.Dispose());
        Assert.Equal(LargeBlockMemoryPool.MaxFreeBlocks, pool.FreeBlocks);
    }

    [Fact]
    public async Task Media_gives_kestrel_the_64_KiB_pool()
    {
        await using var app = new MediaApp(servers.Servers);
        await app.StartAsync();
        Assert.IsType<LargeBlockMemoryPoolFactory>(app.Services.GetRequiredService<IMemoryPoolFactory<byte>>());
    }

    /// <summary>Through a real Kestrel (Media as its own process): files of 1 and 3 MB, and a small one, read back byte for byte.</summary>
    [Fact]
    public async Task Uploads_read_by_kestrel_in_64_KiB_blocks_are_stored_byte_for_byte()
    {
        await using var media = servers.MediaProcess(LocalServers.NewDatabaseName("mediablocks"));
        await media.StartAsync(TimeSpan.FromSeconds(60));
        using var client = media.Client("blocks-" + Guid.NewGuid().ToString("N")[..8]);
        foreach (var size in new[] { 1_000_000, 3_000_017, 70_001 })
        {
            var bytes = TestFiles.Png(padding: size);
            using var form = new MultipartFormDataContent();
            var part = new ByteArrayContent(bytes);
            part.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("image/png");
            form.Add(part, "file", $"photo-{size}.png");

            using var created = await client.PostAsync("/files", form);
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            var file = await created.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal(bytes.Length, file.GetProperty("sizeBytes").GetInt64());
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), file.GetProperty("sha256").GetString());
            var stored = await client.GetByteArrayAsync($"/files/{file.GetProperty("id").GetString()}/content");
            Assert.Equal(bytes, stored);
        }
    }
}
