using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;
using Sunaiva.Testing;
using Sunaiva.Voice.Preferences;
using Sunaiva.Voice.Catalog;

namespace Sunaiva.Voice.Tests;

[Collection(ServersCollection.Name)]
public sealed class VoiceCatalogTests(LocalServers servers) : IAsyncLifetime
{
    private static readonly string[] RequiredRegions = ["en-US", "en-GB", "en-AU", "en-IN", "es-ES", "es-MX", "fr-FR", "de-DE", "it-IT", "pt-BR", "hi-IN"];

    private readonly VoiceApp _app = new(servers);

    public Task InitializeAsync() => _app.StartAsync();

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task Every_region_lists_three_female_and_three_male_voices_each_mapped_to_a_voice_espeak_ng_has()
    {
        using var client = _app.ClientFor("ada");
        var catalog = _app.Services.GetRequiredService<VoiceCatalog>();
        var languages = await EspeakListAsync("--voices", column: 1);
        var variants = (await EspeakListAsync("--voices=variant", column: 4)).Select(f => f.Replace("!v/", string.Empty, StringComparison.Ordinal)).ToHashSet();

        Assert.Superset(RequiredRegions.ToHashSet(), catalog.Regions.ToHashSet());
        foreach (var region in RequiredRegions)
        {
            var listed = await client.GetFromJsonAsync<JsonElement[]>($"/voices?region={region}");
            Assert.NotNull(listed);
            Assert.Equal(3, listed.Count(v => v.GetProperty("gender").GetString() == "female"));
            Assert.Equal(3, listed.Count(v => v.GetProperty("gender").GetString() == "male"));
            Assert.All(listed, v => Assert.Equal(region, v.GetProperty("region").GetString()));
            var local = catalog.InRegion(region)!.Select(v => v.Local).ToList();
            Assert.All(local, l => Assert.Contains(l.Voice, languages));
            Assert.All(local, l => Assert.Contains(l.Variant, variants));
            Assert.Equal(6, local.Select(l => (l.Voice, l.Variant, l.Pitch)).Distinct().Count());
        }

        Assert.Equal(catalog.All.Count, (await client.GetFromJsonAsync<JsonElement[]>("/voices"))!.Length);
    }

    [Fact]
    public async Task Voice_sample_is_a_wav_with_a_valid_riff_header_and_sound_in_it()
    {
        using var client = _app.ClientFor("ada");

        var response = await client.GetAsync("/voices/en-GB-female-1/sample");
        var wav = await response.Content.ReadAsByteArrayAsync();
        var again = await client.GetByteArrayAsync("/voices/en-GB-female-1/sample");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("audio/wav", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("RIFF"u8.ToArray(), wav[..4]);
        Assert.Equal("WAVE"u8.ToArray(), wav[8..12]);
        Assert.Equal((uint)(wav.Length - 8), BinaryPrimitives.ReadUInt32LittleEndian(wav.AsSpan(4)));
        Assert.Equal("fmt "u8.ToArray(), wav[12..16]);
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(wav.AsSpan(20)));
        Assert.Equal(16, BinaryPrimitives.ReadUInt16LittleEndian(wav.AsSpan(34)));
        Assert.Equal("data"u8.ToArray(), wav[36..40]);
        var dataLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(wav.AsSpan(40));
        Assert.Equal(wav.Length - 44, dataLength);
        var samples = Enumerable.Range(0, dataLength / 2).Select(i => BinaryPrimitives.ReadInt16LittleEndian(wav.AsSpan(44 + (2 * i)))).ToList();
        Assert.True(samples.Count(s => Math.Abs((int)s) > 1000) > samples.Count / 20, "the sample is (almost) silent");
        Assert.Equal(wav, again);
    }

    [Fact]
    public async Task Two_voices_of_a_region_give_different_samples()
    {
        using var client = _app.ClientFor("ada");

        var first = await client.GetByteArrayAsync("/voices/fr-FR-male-1/sample");
        var second = await client.GetByteArrayAsync("/voices/fr-FR-male-2/sample");

        Assert.NotEqual(first, second);
    }

    [Fact]
    public async Task Unknown_region_gets_404_problem_details_naming_the_known_regions()
    {
        using var client = _app.ClientFor("ada");

        var response = await client.GetAsync("/voices?region=xx-XX");
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("en-GB", problem.GetProperty("detail").GetString());
        Assert.Equal(RequiredRegions.Order(StringComparer.Ordinal), problem.GetProperty("regions").EnumerateArray().Select(r => r.GetString()!).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Unknown_voice_gets_404_problem_details_for_the_voice_and_its_sample()
    {
        using var client = _app.ClientFor("ada");

        var voice = await client.GetAsync("/voices/en-GB-female-9");
        var sample = await client.GetAsync("/voices/en-GB-female-9/sample");
        var known = await client.GetFromJsonAsync<JsonElement>("/voices/en-US-female-3");

        Assert.Equal(HttpStatusCode.NotFound, voice.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, sample.StatusCode);
        Assert.Equal("application/problem+json", sample.Content.Headers.ContentType?.MediaType);
        Assert.Equal("female", known.GetProperty("gender").GetString());
    }

    [Fact]
    public async Task Anonymous_caller_cannot_list_voices()
    {
        using var anonymous = _app.CreateClient();

        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/voices")).StatusCode);
    }

    [Fact]
    public async Task Voice_not_in_the_catalog_gets_422_naming_the_regions_valid_ids_and_writes_nothing()
    {
        using var client = _app.ClientFor("mallory");

        var response = await client.PutAsJsonAsync("/voice/preferences", new { voiceId = "en-GB-female-7" });
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        string[] expected = ["en-GB-female-1", "en-GB-female-2", "en-GB-female-3", "en-GB-male-1", "en-GB-male-2", "en-GB-male-3"];
        Assert.Equal(expected, problem.GetProperty("validVoiceIds").EnumerateArray().Select(v => v.GetString()).Order(StringComparer.Ordinal));
        Assert.All(expected, id => Assert.Contains(id, problem.GetProperty("detail").GetString()));
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM voice_preferences WHERE user_id = @u", ("u", "mallory")));
    }

    [Fact]
    public async Task Signup_voice_outside_the_catalog_is_skipped_and_one_inside_is_stored()
    {
        var handler = _app.Services.GetServices<IIntegrationEventHandler>().OfType<SignupPreferenceHandler>().Single();
        await using var connection = new NpgsqlConnection(_app.ConnectionString);
        await connection.OpenAsync();
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            await handler.HandleAsync(SignedUp("ada", "en-GB-female-9"), connection, transaction, CancellationToken.None);
            await handler.HandleAsync(SignedUp("bob", "es-MX-male-2"), connection, transaction, CancellationToken.None);
            await transaction.CommitAsync();
        }

        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM voice_preferences WHERE user_id = @u", ("u", "ada")));
        Assert.Equal("es-MX-male-2", await _app.ScalarAsync<string>("SELECT voice_id FROM voice_preferences WHERE user_id = @u", ("u", "bob")));
    }

    [Fact]
    public async Task Sample_answers_503_with_retry_after_when_espeak_ng_is_missing()
    {
        await using var app = new VoiceApp(servers, new Dictionary<string, string?> { ["Voice:Espeak:Executable"] = "/nonexistent/espeak-ng" });
        await app.StartAsync();
        using var client = app.ClientFor("ada");

        // No other test samples this voice, so neither cache level holds it (each test run has its own Redis).
        var response = await client.GetAsync("/voices/de-DE-female-2/sample");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public void Catalog_validator_rejects_a_region_with_two_female_voices_naming_it()
    {
        var catalog = VoiceCatalogOptions.LoadEmbedded();
        catalog.Voices.RemoveAll(v => v.Id == "it-IT-female-3");

        var result = new VoiceCatalogValidator().Validate(null, catalog);

        Assert.True(result.Failed);
        Assert.Contains(result.Failures!, f => f.Contains("it-IT has 2 female and 3 male voices", StringComparison.Ordinal));
        Assert.True(new VoiceCatalogValidator().Validate(null, VoiceCatalogOptions.LoadEmbedded()).Succeeded);
    }

    [Fact]
    public void Catalog_validator_names_duplicate_ids_unknown_genders_and_out_of_range_pitch_and_rate()
    {
        var catalog = VoiceCatalogOptions.LoadEmbedded();
        var first = catalog.Voices[0];
        catalog.Voices[1] = catalog.Voices[1] with { Id = first.Id };
        catalog.Voices[2] = catalog.Voices[2] with { Gender = "robot" };
        catalog.Voices[3] = catalog.Voices[3] with { Local = catalog.Voices[3].Local with { Pitch = 120, Rate = 20 } };

        var failures = new VoiceCatalogValidator().Validate(null, catalog).Failures!.ToList();

        Assert.Contains(failures, f => f.Contains($"Voice id {first.Id} appears 2 times", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("gender 'robot'", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("pitch 120 is outside 0..99", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("rate 20 is outside", StringComparison.Ordinal));
    }

    private IntegrationEvent SignedUp(string userId, string voice) =>
        new($"evt_{userId}", EventTypes.UserSignedUp, "test", _app.Time.GetUtcNow(),
            JsonSerializer.SerializeToElement(new UserSignedUp(userId, $"{userId}@example.com", null, null, null, null, voice, null), EventJson.Options));

    /// <summary>One column of <c>espeak-ng --voices</c> (the voice names a <c>-v</c> accepts, or the variant files).</summary>
    private static async Task<HashSet<string>> EspeakListAsync(string argument, int column)
    {
        using var process = Process.Start(new ProcessStartInfo("espeak-ng", [argument]) { RedirectStandardOutput = true, UseShellExecute = false })!;
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return output.Split('\n').Skip(1)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(c => c.Length > column)
            .Select(c => c[column])
            .ToHashSet(StringComparer.Ordinal);
    }
}
