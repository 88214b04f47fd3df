using Microsoft.AspNetCore.Http.HttpResults;
using MimeKit;
using Sunaiva.ServiceDefaults.Auth;
using Sunaiva.ServiceDefaults.OpenApi;

namespace Sunaiva.Engagement.Welcome;

public sealed record TestEmailRequest(string? To, string? Subject);

public static class TestEmailApi
{
    /// <summary><c>POST /ops/email/test</c>: ops check that mail leaves through the configured SMTP server.</summary>
    public static RouteHandlerBuilder MapTestEmailApi(this IEndpointRouteBuilder app) =>
        app.MapPost("/ops/email/test", SendAsync).RequireOps().WithTags("Ops")
            .WithSummary("Send a test email through the configured SMTP chain")
            .WithRequestExample(new TestEmailRequest("ops@example.com", "Sunaiva SMTP test"));

    private static async Task<Results<Accepted, ProblemHttpResult>> SendAsync(TestEmailRequest request, Email.EmailDelivery email, Microsoft.Extensions.Options.IOptions<Email.EmailOptions> options, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(request.To) || !MailboxAddress.TryParse(request.To, out var to))
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid recipient", detail: "to must be an email address.");
        }

        var message = new MimeMessage();
        message.From.Add(new MailboxAddress(options.Value.FromName, options.Value.FromAddress));
        message.To.Add(to);
        message.Subject = string.IsNullOrWhiteSpace(request.Subject) ? "Sunaiva SMTP test" : request.Subject[..Math.Min(request.Subject.Length, 200)];
        message.Body = new TextPart("plain") { Text = "This message proves that Sunaiva can send mail." };
        await email.SendAsync(message, userId: null, ct);
        return TypedResults.Accepted((string?)null);
    }
}
