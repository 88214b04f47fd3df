using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using Sunaiva.ServiceDefaults.OpenApi;

namespace Sunaiva.Engagement.Email;

/// <summary>What an unsubscribe did.</summary>
public sealed record UnsubscribeResult(string Category, bool Unsubscribed);

/// <summary>
/// The public links inside our emails, authenticated by their signed token only (no login): one-click unsubscribe
/// (RFC 8058), the open pixel and click redirects. A click redirects only to the URL inside its signed token.
/// </summary>
public static class EmailTrackingApi
{
    // The smallest transparent GIF (1x1).
    private static readonly byte[] Pixel = Convert.FromBase64String("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7");

    public static RouteGroupBuilder MapEmailTrackingApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/email").AllowAnonymous().WithTags("Email links");
        group.MapPost("/unsubscribe", UnsubscribeAsync)
            .DisableAntiforgery()
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status503ServiceUnavailable)
            .WithSummary("One-click unsubscribe (RFC 8058) from the category named in the signed token")
            .WithDescription("The List-Unsubscribe URL of our emails; mailbox providers POST List-Unsubscribe=One-Click to it. Idempotent.");
        group.MapGet("/unsubscribe", ConfirmPageAsync)
            .Produces(StatusCodes.Status200OK, contentType: "text/html")
            .ProducesProblems(StatusCodes.Status400BadRequest)
            .WithSummary("The page behind the footer's Unsubscribe link: a button that POSTs the one-click unsubscribe")
            .WithDescription("A GET never unsubscribes: mail scanners follow links.");
        group.MapGet("/o/{token}.gif", OpenAsync)
            .Produces(StatusCodes.Status200OK, contentType: "image/gif")
            .ProducesProblems(StatusCodes.Status503ServiceUnavailable)
            .WithSummary("Open pixel: counts an open of the message named in the token");
        group.MapGet("/c/{token}", ClickAsync)
            .ProducesProblems(StatusCodes.Status404NotFound, StatusCodes.Status503ServiceUnavailable)
            .WithSummary("Click redirect: counts a click and redirects to the URL inside the signed token (never elsewhere)");
        return group;
    }

    private static async Task<Results<Ok<UnsubscribeResult>, ProblemHttpResult>> UnsubscribeAsync(
        string? token, EmailTokens tokens, NpgsqlDataSource dataSource, SuppressionList suppressions, CancellationToken ct)
    {
        var claim = tokens.ReadUnsubscribe(token);
        if (claim is null)
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid unsubscribe link", detail: "The token is missing, altered or not an unsubscribe token.");
        }

        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var address = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "SELECT email FROM users WHERE id = @UserId", claim, cancellationToken: ct));
        if (address is null)
        {
            return TypedResults.Problem(statusCode: 404, title: "Unknown user", detail: "This link's user is not known here.");
        }

        await suppressions.AddAsync(connection, null, address, claim.Category, SuppressionList.Unsubscribed, claim.UserId, ct);
        return TypedResults.Ok(new UnsubscribeResult(claim.Category, true));
    }

    private static async Task<Results<ContentHttpResult, ProblemHttpResult>> ConfirmPageAsync(string? token, EmailTokens tokens, Templates.EmailTemplateEngine templates, CancellationToken ct)
    {
        if (tokens.ReadUnsubscribe(token) is not { } claim)
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid unsubscribe link", detail: "The token is missing, altered or not an unsubscribe token.");
        }

        var page = await templates.RenderPageAsync("unsubscribe", new Dictionary<string, object?>
        {
            ["category"] = claim.Category,
            ["action"] = "/email/unsubscribe?token=" + Uri.EscapeDataString(token!),
        }, ct);
        return TypedResults.Content(page, "text/html; charset=utf-8");
    }

    private static async Task<FileContentHttpResult> OpenAsync(string token, HttpContext http, EmailTokens tokens, NpgsqlDataSource dataSource, TimeProvider time, CancellationToken ct)
    {
        // Always the pixel, whatever the token: a broken image would tell nobody anything useful.
        if (tokens.ReadOpen(token) is { } messageId)
        {
            await using var connection = await dataSource.OpenConnectionAsync(ct);
            var at = time.GetUtcNow();
            var firstOpenBy = await connection.QuerySingleOrDefaultAsync<string?>(new CommandDefinition(
                """
                UPDATE sent_emails e SET opens = e.opens + 1, first_opened_at = COALESCE(e.first_opened_at, @at)
                FROM sent_emails pre WHERE e.id = @messageId AND pre.id = e.id
                RETURNING CASE WHEN pre.first_opened_at IS NULL THEN e.user_id END
                """,
                new { messageId, at }, cancellationToken: ct));
            if (firstOpenBy is not null)
            {
                // The hour of each message's first open teaches the user's best send hour.
                await Segments.SegmentStore.CountOpenAsync(connection, firstOpenBy, at, ct);
            }
        }

        http.Response.Headers.CacheControl = "no-store, max-age=0";
        return TypedResults.File(Pixel, "image/gif");
    }

    private static async Task<Results<RedirectHttpResult, ProblemHttpResult>> ClickAsync(string token, EmailTokens tokens, NpgsqlDataSource dataSource, TimeProvider time, CancellationToken ct)
    {
        var claim = tokens.ReadClick(token);
        if (claim is null || !Uri.TryCreate(claim.Url, UriKind.Absolute, out var target) || (target.Scheme != Uri.UriSchemeHttps && target.Scheme != Uri.UriSchemeHttp))
        {
            return TypedResults.Problem(statusCode: 404, title: "Unknown link", detail: "This link is not one of ours.");
        }

        await using (var connection = await dataSource.OpenConnectionAsync(ct))
        {
            // A click implies the message was opened (images are often blocked).
            var at = time.GetUtcNow();
            var firstOpenBy = await connection.QuerySingleOrDefaultAsync<string?>(new CommandDefinition(
                """
                UPDATE sent_emails e SET clicks = e.clicks + 1, first_clicked_at = COALESCE(e.first_clicked_at, @at),
                                         first_opened_at = COALESCE(e.first_opened_at, @at), opens = GREATEST(e.opens, 1)
                FROM sent_emails pre WHERE e.id = @MessageId AND pre.id = e.id
                RETURNING CASE WHEN pre.first_opened_at IS NULL THEN e.user_id END
                """,
                new { claim.MessageId, at }, cancellationToken: ct));
            if (firstOpenBy is not null)
            {
                await Segments.SegmentStore.CountOpenAsync(connection, firstOpenBy, at, ct);
            }
        }

        return TypedResults.Redirect(target.AbsoluteUri);
    }
}
