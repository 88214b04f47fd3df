using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using Sunaiva.ServiceDefaults.Events;

namespace Sunaiva.Engagement.Internal;

/// <summary>An event from the conversation backend.</summary>
public sealed record InternalEventRequest(string? Id, string? Type, JsonElement Data);

public sealed record InternalEventAccepted(string Id, string Type, bool Duplicate);

/// <summary>
/// <c>POST /internal/events</c>: the conversation backend tells us about users. Authenticated by a shared
/// bearer token (not a user JWT). The event is recorded and re-published on the bus with its own id,
/// so a retried post is recognised and changes nothing.
/// </summary>
public static partial class InternalEventsApi
{
    public static RouteHandlerBuilder MapInternalEventsApi(this IEndpointRouteBuilder app) =>
        app.MapPost("/internal/events", PostAsync).AllowAnonymous().WithTags("Internal");

    private static async Task<Results<Accepted<InternalEventAccepted>, Ok<InternalEventAccepted>, ProblemHttpResult>> PostAsync(
        HttpContext http,
        InternalEventRequest? request,
        IOptions<InternalEventsOptions> options,
        NpgsqlDataSource dataSource,
        EventOutbox outbox,
        TimeProvider time,
        CancellationToken ct)
    {
        if (!HasValidToken(http, options.Value.Token))
        {
            return TypedResults.Problem(statusCode: 401, title: "Unauthorized", detail: "A valid internal events token is required.");
        }

        if (request is null || string.IsNullOrWhiteSpace(request.Id) || request.Id.Length > 100 || string.IsNullOrWhiteSpace(request.Type))
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid event", detail: "The body needs id (at most 100 characters), type and data.");
        }

        if (request.Data.ValueKind != JsonValueKind.Object)
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid event", detail: "data must be a JSON object.");
        }

        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        bool applied;
        switch (request.Type)
        {
            case EventTypes.UserSignedUp:
                UserSignedUp user;
                try
                {
                    user = request.Data.Deserialize<UserSignedUp>(EventJson.Options)!;
                }
                catch (JsonException)
                {
                    return InvalidUser("data does not match user.signed_up.");
                }

                if (Validate(user) is { } problem)
                {
                    return InvalidUser(problem);
                }

                applied = await connection.ExecuteAsync(new CommandDefinition(
                    """
                    INSERT INTO users (id, email, name, language, country, goals, voice, referral_code, signed_up_at)
                    VALUES (@Id, @Email, @Name, @Language, @Country, @goals::jsonb, @Voice, @ReferralCode, @at)
                    ON CONFLICT (id) DO NOTHING
                    """,
                    new { user.Id, user.Email, user.Name, user.Language, user.Country, goals = JsonSerializer.Serialize(user.Goals ?? []), user.Voice, user.ReferralCode, at = time.GetUtcNow() },
                    tx, cancellationToken: ct)) == 1;
                if (applied)
                {
                    await outbox.AddAsync(connection, tx, EventTypes.UserSignedUp, user, request.Id, ct);
                }

                break;

            case EventTypes.UserActive:
                var active = request.Data.Deserialize<UserActive>(EventJson.Options);
                if (active is null || string.IsNullOrWhiteSpace(active.Id))
                {
                    return InvalidUser("user.active needs data.id.");
                }

                var at = active.At ?? time.GetUtcNow();
                var updated = await connection.ExecuteAsync(new CommandDefinition(
                    "UPDATE users SET last_active_at = GREATEST(COALESCE(last_active_at, @at), @at) WHERE id = @id",
                    new { id = active.Id, at }, tx, cancellationToken: ct));
                if (updated == 0)
                {
                    return TypedResults.Problem(statusCode: 404, title: "Unknown user", detail: "user.active for a user that never signed up.");
                }

                applied = await connection.ExecuteScalarAsync<bool>(new CommandDefinition(
                    "SELECT NOT EXISTS (SELECT 1 FROM outbox WHERE id = @id)", new { id = request.Id }, tx, cancellationToken: ct));
                await outbox.AddAsync(connection, tx, EventTypes.UserActive, active with { At = at }, request.Id, ct);
                break;

            default:
                return TypedResults.Problem(statusCode: 400, title: "Unsupported event type", detail: $"Accepted types: {EventTypes.UserSignedUp}, {EventTypes.UserActive}.");
        }

        await tx.CommitAsync(ct);
        var body = new InternalEventAccepted(request.Id, request.Type, Duplicate: !applied);
        return applied ? TypedResults.Accepted((string?)null, body) : TypedResults.Ok(body);
    }

    private static string? Validate(UserSignedUp user)
    {
        if (string.IsNullOrWhiteSpace(user.Id) || user.Id.Length > 100)
        {
            return "data.id is required (at most 100 characters).";
        }

        if (string.IsNullOrWhiteSpace(user.Email) || user.Email.Length > 254 || !EmailPattern().IsMatch(user.Email))
        {
            return "data.email must be an email address.";
        }

        if (user.Name is { Length: > 200 } || user.Language is { Length: > 12 } || user.Country is { Length: > 2 })
        {
            return "name (200), language (12) or country (ISO 3166 alpha-2) is too long.";
        }

        return null;
    }

    private static ProblemHttpResult InvalidUser(string detail) =>
        TypedResults.Problem(statusCode: 400, title: "Invalid event data", detail: detail);

    private static bool HasValidToken(HttpContext http, string expected)
    {
        var header = http.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var given = Encoding.UTF8.GetBytes(header["Bearer ".Length..].Trim());
        return CryptographicOperations.FixedTimeEquals(given, Encoding.UTF8.GetBytes(expected));
    }

    [GeneratedRegex(@"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
    private static partial Regex EmailPattern();
}
