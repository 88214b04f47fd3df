using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using MimeKit;
using MimeKit.Cryptography;
using Sunaiva.Engagement.Deliverability;

namespace Sunaiva.Email.Tests;

public sealed class DkimTests(EmailServers servers) : EmailTestBase(servers)
{
    private static readonly RSA Key = RSA.Create(2048);

    protected override IDictionary<string, string?>? Settings => new Dictionary<string, string?>
    {
        ["Email:Dkim:Domain"] = "sunaiva.test",
        ["Email:Dkim:Selector"] = "mail2026",
        ["Email:Dkim:PrivateKeyPem"] = Key.ExportRSAPrivateKeyPem(),
    };

    [Fact]
    public async Task Messages_are_DKIM_signed_and_verify_against_the_published_key()
    {
        var address = NewAddress("dkim");
        await App.SignUpAsync("user-dkim", address, "Dee Kim", "en");
        await Mail.WaitForAsync(address, 1);

        var message = Assert.Single(await Mail.RawAsync(address));
        var index = message.Headers.IndexOf(HeaderId.DkimSignature);
        Assert.True(index >= 0, "no DKIM-Signature header");
        Assert.Contains("d=sunaiva.test", message.Headers[index].Value, StringComparison.Ordinal);
        Assert.Contains("list-unsubscribe", message.Headers[index].Value.ToLowerInvariant(), StringComparison.Ordinal);

        var verifier = new DkimVerifier(new PublishedKey("v=DKIM1; k=rsa; p=" + Convert.ToBase64String(Key.ExportSubjectPublicKeyInfo())));
        Assert.True(await verifier.VerifyAsync(message, message.Headers[index]));
    }

    /// <summary>The DNS TXT record <c>mail2026._domainkey.sunaiva.test</c>, as a receiver would look it up.</summary>
    private sealed class PublishedKey(string txt) : DkimPublicKeyLocatorBase
    {
        public override Org.BouncyCastle.Crypto.AsymmetricKeyParameter LocatePublicKey(string methods, string domain, string selector, CancellationToken cancellationToken = default) =>
            GetPublicKey(txt);

        public override Task<Org.BouncyCastle.Crypto.AsymmetricKeyParameter> LocatePublicKeyAsync(string methods, string domain, string selector, CancellationToken cancellationToken = default) =>
            Task.FromResult(GetPublicKey(txt));
    }
}

public sealed class FallbackTests(EmailServers servers) : EmailTestBase(servers)
{
    protected override IDictionary<string, string?>? Settings => new Dictionary<string, string?>
    {
        ["ConnectionStrings:smtp"] = $"Endpoint=smtp://127.0.0.1:{Sunaiva.Testing.LocalServers.FreePort()}",
        ["ConnectionStrings:smtp2"] = Servers.Servers.SmtpConnectionString,
    };

    [Fact]
    public async Task A_failing_smtp_server_falls_back_to_the_second_provider()
    {
        var address = NewAddress("fallback");
        await App.SignUpAsync("user-fallback", address, "Fay", "en");

        Assert.Equal("Welcome to Sunaiva, Fay", Assert.Single(await Mail.WaitForAsync(address, 1)).Subject);
        Assert.Equal("sent", await App.QueryOneAsync<string>("SELECT status FROM sent_emails WHERE user_id = 'user-fallback'"));
    }
}

public sealed class BounceWebhookTests(EmailServers servers) : EmailTestBase(servers)
{
    private const string Secret = "email-webhook-test-secret";

    protected override IDictionary<string, string?>? Settings => new Dictionary<string, string?> { ["Email:Webhooks:SigningSecret"] = Secret };

    [Fact]
    public async Task A_hard_bounce_or_complaint_stops_every_later_email_and_a_soft_bounce_does_not()
    {
        var bounced = NewAddress("bounced");
        var complained = NewAddress("complained");
        var soft = NewAddress("soft");
        await App.SignUpAsync("user-bounced", bounced, "Bo", "en");
        await App.SignUpAsync("user-complained", complained, "Cy", "en");
        await App.SignUpAsync("user-soft", soft, "So", "en");

        Assert.Equal(HttpStatusCode.OK, (await DeliverAsync(new { id = "ev-1", type = "bounce", bounceType = "hard", email = bounced.ToUpperInvariant() })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await DeliverAsync(new { id = "ev-2", type = "complaint", email = complained })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await DeliverAsync(new { id = "ev-3", type = "bounce", bounceType = "soft", email = soft })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await DeliverAsync(new { id = "ev-4", type = "complaint", email = soft }, secret: "wrong")).StatusCode);
        await App.RunDueWorkAsync();

        await App.AdvanceAsync(TimeSpan.FromDays(1));
        Assert.Equal("suppressed", await App.QueryOneAsync<string>("SELECT status FROM sent_emails WHERE user_id = 'user-bounced' AND kind = 'welcome-2'"));
        Assert.Equal("suppressed", await App.QueryOneAsync<string>("SELECT status FROM sent_emails WHERE user_id = 'user-complained' AND kind = 'welcome-2'"));
        await Mail.WaitForAsync(soft, 2);
        Assert.Single(await Mail.ListAsync(bounced));
    }

    private async Task<HttpResponseMessage> DeliverAsync(object body, string secret = Secret)
    {
        var json = System.Text.Json.JsonSerializer.Serialize(body);
        var t = App.Time.GetUtcNow().ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        using var client = App.Anonymous();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/webhooks/email") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation(EmailEventsWebhook.SignatureHeader, $"t={t},v1={Convert.ToHexStringLower(EmailEventsWebhook.Sign(secret, t, json))}");
        return await client.SendAsync(request);
    }
}
