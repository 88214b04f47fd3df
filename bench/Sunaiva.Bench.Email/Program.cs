using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Options;
using MimeKit;
using Sunaiva.Engagement.Deliverability;
using Sunaiva.Engagement.Email;
using Sunaiva.Engagement.Email.Templates;
using Sunaiva.ServiceDefaults.Mail;
using Sunaiva.Testing;

// Email benchmark: campaign sends with templates, tracking links and DKIM against a bare MailKit loop sending the same
// messages to the same local SMTP server (maildev). Both send one message at a time over a kept-open SMTP connection (the
// product through SmtpTransport's pool), so the ratio is the cost of what the product adds per message. The outbox's
// database writes are not included (docs/email.md).
// Usage: dotnet run -c Release --project bench/Sunaiva.Bench.Email [-- --messages 1000]
//        dotnet run -c Release --project bench/Sunaiva.Bench.Email -- --segments [--small] [--lag-events 2000] (SegmentBench.cs)
if (args.Contains("--segments"))
{
    return await Sunaiva.Bench.Email.SegmentBench.RunAsync(args);
}

var messages = args.SkipWhile(a => a != "--messages").Skip(1).Select(a => int.Parse(a, CultureInfo.InvariantCulture)).FirstOrDefault(1000);
var servers = new LocalServers { WithSmtp = true };
await servers.InitializeAsync();
try
{
    var smtp = SmtpConnection.Parse(servers.SmtpConnectionString!);
    var options = Options.Create(new EmailOptions
    {
        PublicBaseUrl = "https://engagement.bench",
        AppBaseUrl = "https://app.bench",
        SigningKey = "bench-signing-key-0123456789-0123456789",
    });
    using var rsa = RSA.Create(2048);
    var dkim = new DkimSigning(Options.Create(new DkimOptions { Domain = "sunaiva.bench", Selector = "bench", PrivateKeyPem = rsa.ExportRSAPrivateKeyPem() }));
    var templates = new EmailTemplateEngine();
    var tokens = new EmailTokens(options);
    var users = Enumerable.Range(0, messages).Select(i => (Id: $"user-{i:D6}", Address: $"reader{i:D6}@example.com", Name: $"Reader{i} Example")).ToList();

    // What the product sends for each user, rendered the way EmailOutbox does; the bare loop sends these same messages.
    async Task<MimeMessage> ComposeAsync((string Id, string Address, string Name) user)
    {
        var id = $"mail_{Guid.CreateVersion7():N}";
        var links = new MessageLinks(options.Value, tokens, id, user.Id, EmailCategories.Onboarding, track: true);
        var model = new Dictionary<string, object?>
        {
            ["user"] = new Dictionary<string, object?> { ["first_name"] = EmailOutbox.FirstName(user.Name), ["name"] = user.Name },
            ["links"] = new Dictionary<string, object?> { ["app"] = "https://app.bench/", ["voice"] = "https://app.bench/voice", ["upload"] = "https://app.bench/vault/upload", ["subscribe"] = "https://app.bench/plans" },
            ["videos"] = new List<object> { new Dictionary<string, object?> { ["kind"] = "welcome", ["title"] = "Welcome", ["url"] = "https://media.bench/v/1" } },
        };
        var rendered = await templates.RenderAsync("welcome-1", "en", model, links, CancellationToken.None);
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Sunaiva", "hello@sunaiva.bench"));
        message.To.Add(new MailboxAddress(EmailTemplateEngine.HeaderSafe(user.Name), user.Address));
        message.Subject = rendered.Subject;
        message.MessageId = id + "@sunaiva.bench";
        message.Headers.Add("List-Unsubscribe", $"<{links.Unsubscribe}>");
        message.Headers.Add("List-Unsubscribe-Post", "List-Unsubscribe=One-Click");
        message.Body = new BodyBuilder { TextBody = rendered.Text, HtmlBody = rendered.Html }.ToMessageBody();
        return message;
    }

    async Task<SmtpClient> ConnectAsync()
    {
        var client = new SmtpClient();
        await client.ConnectAsync(smtp.Host, smtp.Port, SecureSocketOptions.None);
        return client;
    }

    // Warm-up: JIT, template cache, maildev's first connections.
    using (var warm = await ConnectAsync())
    {
        for (var i = 0; i < 20; i++)
        {
            var m = await ComposeAsync(users[i]);
            dkim.Sign(m);
            await warm.SendAsync(m);
        }

        await warm.DisconnectAsync(true);
    }

    // The same messages for the bare loop, composed beforehand (not timed).
    var prepared = new List<MimeMessage>(messages);
    foreach (var user in users)
    {
        prepared.Add(await ComposeAsync(user));
    }

    var bare = Stopwatch.StartNew();
    using (var client = await ConnectAsync())
    {
        foreach (var message in prepared)
        {
            await client.SendAsync(message);
        }

        await client.DisconnectAsync(true);
    }

    bare.Stop();

    // The product's adapter (SmtpTransport over its connection pool), as EmailSendWork calls it through the chain.
    using var pool = new SmtpTransport.Pool(smtp, TimeProvider.System);
    var transport = new SmtpTransport(pool);
    var product = Stopwatch.StartNew();
    foreach (var user in users)
    {
        var message = await ComposeAsync(user);
        // Stored as text and read back at send time, as sent_emails.mime is; then signed.
        using var stored = new MemoryStream();
        await message.WriteToAsync(stored);
        stored.Position = 0;
        var loaded = await MimeMessage.LoadAsync(stored);
        dkim.Sign(loaded);
        await transport.SendAsync(loaded, CancellationToken.None);
    }

    product.Stop();

    // For comparison: one SMTP connection per message (the shared SmtpSender, which the product used before the pool).
    var perMessage = Stopwatch.StartNew();
    var sender = new SmtpSender(smtp);
    foreach (var message in prepared.Take(Math.Min(messages, 200)))
    {
        await sender.SendAsync(message, CancellationToken.None);
    }

    perMessage.Stop();

    double Rate(Stopwatch s, int n) => n / s.Elapsed.TotalSeconds;
    Console.WriteLine($"Sunaiva email benchmark ({Environment.ProcessorCount} cores), {messages} messages of welcome-1 to maildev on loopback");
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  bare MailKit loop (pre-composed, one connection):        {Rate(bare, messages),8:F0} msg/s"));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  templates + tracking + DKIM + store/reload + pool:        {Rate(product, messages),8:F0} msg/s"));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  ratio (goal >= 0.70):                                     {Rate(product, messages) / Rate(bare, messages),8:F2}"));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  SmtpSender, one connection per message ({Math.Min(messages, 200)} msgs):        {Rate(perMessage, Math.Min(messages, 200)),8:F0} msg/s"));
    return 0;
}
finally
{
    await servers.DisposeAsync();
}
