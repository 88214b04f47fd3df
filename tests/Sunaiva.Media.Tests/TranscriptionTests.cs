using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Sunaiva.Messaging.Work;
using Sunaiva.Testing;

namespace Sunaiva.Media.Tests;

[Collection(ServersCollection.Name)]
public sealed class TranscriptionTests(MediaServers servers) : IAsyncLifetime
{
    private ServiceChildProcess _voice = null!;
    private readonly string _ada = "ada-" + Guid.NewGuid().ToString("N")[..8];
    private MediaApp _app = null!;

    public Task InitializeAsync()
    {
        // The real Voice service as a process of its own (Media tests cannot host it in-process: both are top-level
        // Programs; and Voice is our own service, not a cloud to fake), started only once the upload met it down.
        _voice = new ServiceChildProcess("Sunaiva.Voice", new Dictionary<string, string?>
        {
            ["ConnectionStrings:voicedb"] = servers.Servers.PostgresConnectionString(LocalServers.NewDatabaseName("voice")),
            ["ConnectionStrings:redis"] = servers.Servers.RedisConnectionString,
            ["Jwt:SigningKey"] = DevTokens.TestSigningKey,
            ["Voice:Tts:WarmAtStart"] = "false",
        });
        _app = new MediaApp(servers.Servers, new Dictionary<string, string?> { ["FileVault:VoiceBaseUrl"] = _voice.BaseAddress.ToString().TrimEnd('/') });
        return _app.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _voice.DisposeAsync();
        await _app.DisposeAsync();
    }

    [Fact]
    public async Task Audio_uploaded_while_Voice_is_down_is_found_by_name_then_by_a_spoken_word_once_Voice_transcribes_it()
    {
        using var ada = _app.ClientFor(_ada);
        var wav = await FliteWavAsync("hello world. please call me tomorrow morning.");

        var id = await TestFiles.UploadedIdAsync(ada, wav, "audio/wav", "voicemail.wav");
        await UntilAsync(async () => await StatusAsync(id) == "awaiting_transcription", "indexed by name while Voice is down");
        var byNameWhileDown = await SearchAsync(ada, "voicemail");
        var retryQueued = await _app.ScalarAsync<string>("SELECT status FROM work_items WHERE key = @key", ("key", "file.transcribe:" + id));
        await _voice.StartAsync(TimeSpan.FromSeconds(90));
        await UntilAsync(async () =>
        {
            // The retry waits out its back-off on the app's clock, moved only to the retry's due time (Media's service
            // tokens are minted on this clock and Voice checks them on the real one, with five minutes of skew allowed: a
            // clock run ahead by fixed steps while a slow first transcription is under way would outrun that skew).
            var due = await _app.ScalarAsync<DateTime?>("SELECT run_at FROM work_items WHERE key = @key AND status = 'pending'", ("key", "file.transcribe:" + id));
            if (due is { } runAt && runAt > _app.Time.GetUtcNow().UtcDateTime)
            {
                _app.Time.Advance(runAt - _app.Time.GetUtcNow().UtcDateTime + TimeSpan.FromMilliseconds(1));
            }

            return await StatusAsync(id) == "indexed";
        }, "transcribed once Voice is up");
        var bySpokenWord = await SearchAsync(ada, "tomorrow");

        Assert.Contains(byNameWhileDown.GetProperty("items").EnumerateArray(), h => h.GetProperty("id").GetString() == id);
        Assert.Equal("pending", retryQueued);
        var hit = Assert.Single(bySpokenWord.GetProperty("items").EnumerateArray());
        Assert.Equal(id, hit.GetProperty("id").GetString());
        Assert.Contains("**tomorrow**", hit.GetProperty("snippet").GetString(), StringComparison.OrdinalIgnoreCase);
        Assert.Equal("done", await _app.ScalarAsync<string>("SELECT status FROM work_items WHERE key = @key", ("key", "file.transcribe:" + id)));
    }

    private Task<string?> StatusAsync(string id) => _app.ScalarAsync<string>("SELECT text_status FROM files WHERE id = @id", ("id", id));

    private async Task UntilAsync(Func<Task<bool>> condition, string what)
    {
        try
        {
            await Eventually.UntilAsync(async () =>
            {
                _app.Services.GetRequiredService<WorkSignal>().Notify();
                return await condition();
            }, what, TimeSpan.FromSeconds(90));
        }
        catch (TimeoutException ex)
        {
            var work = await _app.ScalarAsync<string>("SELECT string_agg(kind || ' ' || status || ' attempts=' || attempts || ' ' || coalesce(last_error, ''), E'\n') FROM work_items WHERE kind LIKE 'file.%'")
                + "\nfiles: " + await _app.ScalarAsync<string>("SELECT string_agg(f.text_status || ' [' || coalesce(t.body, '') || ']', E'\n') FROM files f LEFT JOIN file_texts t ON t.file_id = f.id");
            throw new TimeoutException($"{ex.Message}; work items:\n{work}", ex);
        }
    }

    private static async Task<JsonElement> SearchAsync(HttpClient client, string q) =>
        await client.GetFromJsonAsync<JsonElement>($"/search?q={Uri.EscapeDataString(q)}");

    private static Task<byte[]> FliteWavAsync(string text) => Flite.WavAsync(text);
}
