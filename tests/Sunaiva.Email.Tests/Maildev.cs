using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Sunaiva.Email.Tests;

/// <summary>One message as maildev's REST API returns it.</summary>
public sealed record ReceivedMail(string MessageId, IReadOnlyList<string> To, string Subject, string Html, string Text, IReadOnlyDictionary<string, string> Headers);

/// <summary>maildev's REST API: <c>GET /api/email</c> lists every message received.</summary>
public sealed class Maildev(Uri api)
{
    public async Task<IReadOnlyList<ReceivedMail>> ListAsync(string recipient)
    {
        using var client = new HttpClient { BaseAddress = api };
        var all = await client.GetFromJsonAsync<JsonArray>("api/email") ?? [];
        var mails = new List<ReceivedMail>();
        foreach (var m in all.OfType<JsonObject>())
        {
            var to = (m["to"] as JsonArray ?? []).OfType<JsonObject>().Select(t => t["address"]?.ToString() ?? string.Empty).ToList();
            if (!to.Contains(recipient, StringComparer.OrdinalIgnoreCase))
            {
                continue;
            }

            // The parsed JSON leaves some headers out (List-*): read them from the raw message.
            using var source = await client.GetStreamAsync($"api/email/{m["id"]}/source");
            var raw = await MimeKit.MimeMessage.LoadAsync(source);
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var header in raw.Headers)
            {
                headers.TryAdd(header.Field.ToLowerInvariant(), header.Value);
            }

            mails.Add(new ReceivedMail(raw.MessageId ?? string.Empty, to, m["subject"]?.ToString() ?? string.Empty,
                m["html"]?.ToString() ?? string.Empty, m["text"]?.ToString() ?? string.Empty, headers));
        }

        return mails;
    }

    /// <summary>The raw messages to <paramref name="recipient"/>, as received (signatures intact).</summary>
    public async Task<IReadOnlyList<MimeKit.MimeMessage>> RawAsync(string recipient)
    {
        using var client = new HttpClient { BaseAddress = api };
        var all = await client.GetFromJsonAsync<JsonArray>("api/email") ?? [];
        var messages = new List<MimeKit.MimeMessage>();
        foreach (var m in all.OfType<JsonObject>().Where(m => (m["to"] as JsonArray ?? []).OfType<JsonObject>().Any(t => string.Equals(t["address"]?.ToString(), recipient, StringComparison.OrdinalIgnoreCase))))
        {
            using var source = await client.GetStreamAsync($"api/email/{m["id"]}/source");
            messages.Add(await MimeKit.MimeMessage.LoadAsync(source));
        }

        return messages;
    }

    /// <summary>Waits until <paramref name="recipient"/> has received <paramref name="count"/> messages.</summary>
    public async Task<IReadOnlyList<ReceivedMail>> WaitForAsync(string recipient, int count)
    {
        IReadOnlyList<ReceivedMail> mails = [];
        await Eventually.UntilAsync(async () => (mails = await ListAsync(recipient)).Count >= count, $"{count} message(s) to {recipient}");
        return mails;
    }
}
