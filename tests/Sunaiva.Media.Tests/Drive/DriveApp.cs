using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Sunaiva.Messaging.Work;
using Sunaiva.Testing;
using Sunaiva.Testing.FakeGoogle;

namespace Sunaiva.Media.Tests.Drive;

/// <summary>Media in-process on real Postgres, Redis and s3rver, with Drive pointed at the fake Google server on fake time.</summary>
public sealed class DriveApp(LocalServers servers, FakeGoogleServer google, bool configured = true, CapturedLogs? logs = null) : ServiceApp<Program>(servers, ResourceNames.MediaDb)
{
    public const string WebhookAddress = "https://media.example.test/webhooks/google-drive";

    public FakeGoogleServer Google { get; } = google;

    protected override void AddSettings(IDictionary<string, string?> values)
    {
        values[$"ConnectionStrings:{ResourceNames.Storage}"] = Servers.StorageConnectionString;
        if (configured)
        {
            foreach (var (key, value) in Google.Settings)
            {
                values[key] = value;
            }

            values["Drive:WebhookAddress"] = WebhookAddress;
            values["Drive:RedirectUri"] = "http://localhost/drive/callback";
        }
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        if (logs is not null)
        {
            // Everything, down to Trace, from every category: what an operator could ever see.
            builder.ConfigureLogging(l => l.SetMinimumLevel(LogLevel.Trace).AddFilter(_ => true).AddProvider(logs));
        }
    }

    /// <summary>Connects <paramref name="userId"/>'s Drive as Google account <paramref name="account"/>, and waits for the first sync.</summary>
    public async Task ConnectAsync(string userId, string account)
    {
        using var client = ClientFor(userId);
        var start = await (await client.PostAsync("/drive/connect", null)).Content.ReadFromJsonAsync<JsonElement>();
        var callback = Google.Consent(start.GetProperty("authorizationUrl").GetString()!, account);
        using var browser = CreateClient();
        var answer = await browser.GetAsync(callback.PathAndQuery);
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        await UntilAsync(async () => await ScalarAsync<string>("SELECT page_token FROM drive_connections WHERE user_id = @u", ("u", userId)) is not null, "first Drive sync");
    }

    /// <summary>
    /// POSTs and moves the app's clock until the answer comes: connect gives up waiting for a revoke still in flight after
    /// DriveRevokeWork.InFlightWait on that clock.
    /// </summary>
    public async Task<HttpResponseMessage> PostWhileTheClockMovesAsync(HttpClient client, string path)
    {
        var posting = client.PostAsync(path, null);
        while (!posting.IsCompleted)
        {
            Time.Advance(TimeSpan.FromMilliseconds(250));
            await Task.Delay(25);
        }

        return await posting;
    }

    /// <summary>Queues an import of the files.</summary>
    public async Task<HttpResponseMessage> ImportAsync(string userId, params string[] fileIds)
    {
        using var client = ClientFor(userId);
        return await client.PostAsJsonAsync("/drive/imports", new { fileIds });
    }

    /// <summary>Queues an import of the file and waits until it is imported.</summary>
    public async Task ImportedAsync(string userId, string fileId)
    {
        await ImportAsync(userId, fileId);
        await UntilAsync(async () => await ImportStatusAsync(userId, fileId) == "imported", $"import of {fileId}");
    }

    public Task<string?> ImportStatusAsync(string userId, string fileId) =>
        ScalarAsync<string>("SELECT status FROM drive_imports WHERE user_id = @u AND drive_file_id = @f", ("u", userId), ("f", fileId));

    public Task<string?> VaultFileIdAsync(string userId, string fileId) =>
        ScalarAsync<string>("SELECT vault_file_id FROM drive_imports WHERE user_id = @u AND drive_file_id = @f", ("u", userId), ("f", fileId));

    /// <summary>Waits for background work, nudging the runner (its idle wait runs on fake time).</summary>
    public async Task UntilAsync(Func<Task<bool>> condition, string what)
    {
        try
        {
            await Eventually.UntilAsync(async () =>
            {
                Services.GetRequiredService<WorkSignal>().Notify();
                return await condition();
            }, what);
        }
        catch (TimeoutException ex)
        {
            // Say what the durable work was doing: the failure then explains itself.
            var work = await ScalarAsync<string>(
                "SELECT string_agg(kind || ' ' || status || ' attempts=' || attempts || ' run_at=' || run_at || ' ' || COALESCE(last_error, ''), E'\n' ORDER BY id) FROM work_items");
            throw new TimeoutException($"{ex.Message}; now {Time.GetUtcNow():O}; work items:\n{work}", ex);
        }
    }
}
