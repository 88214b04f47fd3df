using System.Net;
using System.Net.Http.Json;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.DependencyInjection;
using Sunaiva.ServiceDefaults.Storage;
using Sunaiva.Testing;
using Sunaiva.Voice.Catalog;
using Sunaiva.Voice.Tts;

namespace Sunaiva.Voice.Tests;

/// <summary>Redis, Postgres and a real s3rver for the object-storage tier of the TTS cache.</summary>
public sealed class StorageServers : IAsyncLifetime
{
    public LocalServers Servers { get; } = new() { WithStorage = true };

    public Task InitializeAsync() => Servers.InitializeAsync();

    public Task DisposeAsync() => Servers.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class StorageServersCollection : ICollectionFixture<StorageServers>
{
    public const string Name = "Local servers with object storage";
}

/// <summary>Large clips go to object storage under tts/, small ones stay in HybridCache, and storage being down never stops speech.</summary>
[Collection(StorageServersCollection.Name)]
public sealed class TtsStorageTests(StorageServers fixture)
{
    private const string Bucket = "sunaiva-voice";

    // About 4 s of speech: some 130 KB of PCM, above the 64 KiB threshold the tests set.
    private static string LongText() =>
        $"This is a longer message {Guid.NewGuid().ToString()[..6]}, read slowly so that it makes a clip larger than the threshold of the small cache tier.";

    private VoiceApp App(string? storage = null, params (string Key, string? Value)[] more)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Voice:Tts:WarmAtStart"] = "false",
            ["Voice:Tts:StorageThresholdBytes"] = $"{64 * 1024}",
            ["ConnectionStrings:storage"] = storage ?? fixture.Servers.StorageConnectionString,
        };
        foreach (var (key, value) in more)
        {
            settings[key] = value;
        }

        return new VoiceApp(fixture.Servers, settings);
    }

    private AmazonS3Client S3() => StorageExtensions.CreateClient(StorageConnection.Parse(fixture.Servers.StorageConnectionString!));

    private async Task<List<S3Object>> ObjectsAsync(string voiceId)
    {
        using var s3 = S3();
        try
        {
            var page = await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = Bucket, Prefix = $"tts/v2/{voiceId}/" });
            return page.S3Objects ?? [];
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return [];
        }
    }

    [Fact]
    public async Task A_large_clip_is_kept_in_object_storage_under_tts_and_the_next_request_streams_it_from_there()
    {
        await using var app = App();
        await app.StartAsync();
        using var client = app.ClientFor("ada");
        var request = new { voiceId = "en-IN-female-1", text = LongText() };

        var first = await client.PostAsJsonAsync("/tts", request);
        var wav = await first.Content.ReadAsByteArrayAsync();
        // Stored after the answer, in the background: s3rver lists an object while it is still being written (a CI run saw
        // it at 0 bytes), so the listing is read until the object is whole.
        var stored = await Eventually.Get(() => ObjectsAsync("en-IN-female-1"), o => o.Count > 0 && o.All(x => x.Size == wav.Length));
        var second = await client.PostAsJsonAsync("/tts", request);
        var again = await second.Content.ReadAsByteArrayAsync();

        Assert.True(wav.Length - 44 > 64 * 1024);
        var item = Assert.Single(stored);
        Assert.StartsWith("tts/", item.Key);
        Assert.Equal(wav.Length, item.Size);
        Assert.Equal("miss", first.Headers.GetValues("Sunaiva-Tts-Cache").Single());
        Assert.Equal("hit", second.Headers.GetValues("Sunaiva-Tts-Cache").Single());
        Assert.Equal(wav.Length - 44, BitConverter.ToInt32(again, 40));
        Assert.Equal(wav[44..], again[44..]);
    }

    [Fact]
    public async Task A_small_clip_stays_in_hybrid_cache_and_never_reaches_object_storage()
    {
        await using var app = App();
        await app.StartAsync();
        using var client = app.ClientFor("ada");
        // A short greeting of a name picked at random (unique within the run; digits from a GUID were read out as numbers
        // such as "eight thousand eight hundred", which made the clip longer than the small tier now and then).
        string[] names = ["Ann", "Bo", "Cy", "Di", "Ed", "Flo", "Gus", "Hal", "Ivy", "Jo", "Kit", "Lou", "Max", "Ned", "Oz", "Pam"];
        var request = new { voiceId = "en-IN-male-2", text = $"Hi {names[Random.Shared.Next(names.Length)]}." };

        var first = await client.PostAsJsonAsync("/tts", request);
        var wav = await first.Content.ReadAsByteArrayAsync();
        var second = await client.PostAsJsonAsync("/tts", request);
        await second.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal("miss", first.Headers.GetValues("Sunaiva-Tts-Cache").Single());
        Assert.False(first.Headers.Contains("Sunaiva-Degraded"), "the first clip came from a fallback");
        Assert.True(wav.Length - 44 <= 64 * 1024);
        Assert.Equal("hit", second.Headers.GetValues("Sunaiva-Tts-Cache").Single());
        Assert.Empty(await ObjectsAsync("en-IN-male-2"));
    }

    [Fact]
    public async Task A_clip_url_of_a_large_clip_is_streamed_from_storage_or_redirected_to_a_presigned_url()
    {
        await using var app = App();
        await using var presigning = App(more: ("Voice:Tts:PresignStoredClips", "true"));
        await app.StartAsync();
        await presigning.StartAsync();
        var voice = app.Services.GetRequiredService<VoiceCatalog>().Find("en-AU-male-1")!;
        var text = LongText();
        var (id, _) = await app.Services.GetRequiredService<TtsService>().CreateClipAsync(voice, text, CancellationToken.None);
        var (presignedId, _) = await presigning.Services.GetRequiredService<TtsService>().CreateClipAsync(voice, text, CancellationToken.None);
        using var anonymous = app.CreateClient();
        using var noRedirects = presigning.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { AllowAutoRedirect = false });

        var streamed = await anonymous.GetAsync($"/tts/clips/{id}");
        var wav = await streamed.Content.ReadAsByteArrayAsync();
        var redirect = await noRedirects.GetAsync($"/tts/clips/{presignedId}");
        using var plain = new HttpClient();
        var fromStorage = await plain.GetByteArrayAsync(redirect.Headers.Location);

        Assert.Equal(HttpStatusCode.OK, streamed.StatusCode);
        Assert.Equal("audio/wav", streamed.Content.Headers.ContentType?.MediaType);
        Assert.True(Speech.HasSound(wav[44..]));
        Assert.Equal(HttpStatusCode.Redirect, redirect.StatusCode);
        Assert.Contains($"/{Bucket}/tts/", redirect.Headers.Location!.AbsoluteUri);
        Assert.Equal(wav, fromStorage);
    }

    [Fact]
    public async Task With_object_storage_hung_the_first_read_gives_up_and_opens_the_circuit_so_the_next_reads_do_not_wait_for_storage()
    {
        await using var hung = new HungServer();
        await using var app = App(storage: $"Endpoint=http://127.0.0.1:{hung.Port};AccessKey=S3RVER;SecretKey=S3RVER;Region=us-east-1");
        await app.StartAsync();
        var storage = app.Services.GetRequiredService<TtsStorage>();

        var first = await storage.OpenAsync("tts/v2/en-US-male-2/first.wav", CancellationToken.None);
        // The call the first read gave up on ends by its attempts' own timeouts, which open the circuit.
        var openAfterFirst = await Eventually.Get(() => Task.FromResult(storage.CircuitOpen), open => open, maxSeconds: 30);
        var second = await storage.OpenAsync("tts/v2/en-US-male-2/second.wav", CancellationToken.None);
        var third = await storage.OpenAsync("tts/v2/en-US-male-2/third.wav", CancellationToken.None);
        using var ops = app.ClientFor("olivia", ops: true);
        var status = await ops.GetFromJsonAsync<System.Text.Json.JsonElement>("/ops/status");

        // The first read reached storage and gave up; the circuit its call opened answers the next two without storage.
        Assert.Null(first);
        Assert.Null(second);
        Assert.Null(third);
        Assert.True(hung.Accepted > 0);
        Assert.True(openAfterFirst);
        Assert.Equal(3, storage.Failures);
        var cache = status.GetProperty("dependencies").EnumerateArray().Single(d => d.GetProperty("name").GetString() == "tts-cache");
        Assert.Equal("degraded", cache.GetProperty("state").GetString());
        Assert.Contains("circuit open", cache.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task With_object_storage_down_a_large_clip_is_still_spoken_uncached()
    {
        await using var app = App(storage: $"Endpoint=http://127.0.0.1:{LocalServers.FreePort()};AccessKey=S3RVER;SecretKey=S3RVER;Region=us-east-1");
        await app.StartAsync();
        using var client = app.ClientFor("ada");
        var request = new { voiceId = "en-US-male-2", text = LongText() };

        var first = await client.PostAsJsonAsync("/tts", request);
        var wav = await first.Content.ReadAsByteArrayAsync();
        var second = await client.PostAsJsonAsync("/tts", request);
        var again = await second.Content.ReadAsByteArrayAsync();
        var voice = app.Services.GetRequiredService<VoiceCatalog>().Find("en-US-male-2")!;
        var (id, _) = await app.Services.GetRequiredService<TtsService>().CreateClipAsync(voice, request.text, CancellationToken.None);
        var clip = await client.GetAsync($"/tts/clips/{id}");

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.True(Speech.HasSound(wav[44..]));
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal("miss", second.Headers.GetValues("Sunaiva-Tts-Cache").Single());
        Assert.True(Speech.HasSound(again[44..]));
        Assert.Equal(HttpStatusCode.OK, clip.StatusCode);
        using var ops = app.ClientFor("olivia", ops: true);
        var status = await ops.GetFromJsonAsync<System.Text.Json.JsonElement>("/ops/status");
        var cache = status.GetProperty("dependencies").EnumerateArray().Single(d => d.GetProperty("name").GetString() == "tts-cache");
        Assert.Equal("degraded", cache.GetProperty("state").GetString());
        Assert.Contains("object storage failing", cache.GetProperty("detail").GetString());
    }
}
