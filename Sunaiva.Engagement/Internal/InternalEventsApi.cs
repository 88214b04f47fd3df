using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;
using Sunaiva.ServiceDefaults.OpenApi;

namespace Sunaiva.Engagement.Internal;

/// <summary>An event from the conversation backend.</summary>
public sealed record InternalEventRequest(string? Id, string? Type, JsonElement Data);

public sealed record InternalEventAccepted(string Id, string Type, bool Duplicate);

/// <summary>
/// <c>POST /internal/events</c>: the conversation backend tells us about users. Authenticated by a shared
/// bearer token (not a user JWT), checked before the body is read. The event is recorded and re-published on
/// the bus with its own id, so a retried post is recognised and changes nothing; the same id for another
/// fact is a conflict.
/// </summary>
public static class InternalEventsApi
{
    private const int MaxBodyBytes = 64 * 1024;
    private const int MaxGoals = 20;
    private const int MaxGoalLength = 200;

    public static RouteHandlerBuilder MapInternalEventsApi(this IEndpointRouteBuilder app) =>
        app.MapPost("/internal/events", PostAsync).AllowAnonymous().WithTags("Internal")
            .Accepts<InternalEventRequest>("application/json")
            .WithBearerScheme("InternalEventsToken", "The shared internal events token (AppHost parameter internal-events-token), not a user JWT.")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status401Unauthorized, StatusCodes.Status404NotFound, StatusCodes.Status422UnprocessableEntity,
                StatusCodes.Status409Conflict, StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType)
            .WithSummary("Conversation backend: report user.signed_up or user.active")
            .WithDescription("202 when recorded and published; 200 with duplicate: true for a retried id of the same fact; 409 when the id was used for another fact.")
            .WithRequestExample(new
            {
                id = "evt_backend_0001",
                type = EventTypes.UserSignedUp,
                data = new UserSignedUp("user_0001", "ada@example.com", "Ada", "en", "GB", ["reflect daily"], "en-GB-female-1", "DEMO"),
            });

    private static async Task<Results<Accepted<InternalEventAccepted>, Ok<InternalEventAccepted>, ProblemHttpResult>> PostAsync(
        HttpRequest http,
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

        if (http.ContentLength > MaxBodyBytes)
        {
            return TypedResults.Problem(statusCode: 413, title: "Event too large", detail: $"An event may have at most {MaxBodyBytes} bytes.");
        }

        if (http.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = MaxBodyBytes;
        }

        InternalEventRequest? request;
        try
        {
            request = await http.ReadFromJsonAsync<InternalEventRequest>(EventJson.Options, ct);
        }
        catch (JsonException)
        {
            return Invalid("The body is not a JSON event {\"id\", \"type\", \"data\"}.");
        }
        catch (InvalidOperationException)
        {
            return TypedResults.Problem(statusCode: 415, title: "Expected application/json", detail: "Send the event as application/json.");
        }

        if (request is null || string.IsNullOrWhiteSpace(request.Id) || request.Id.Length > 100 || InputRules.HasControlCharacters(request.Id) || string.IsNullOrWhiteSpace(request.Type))
        {
            return Invalid("The body needs id (at most 100 characters), type and data.");
        }

        if (request.Data.ValueKind != JsonValueKind.Object)
        {
            return Invalid("data must be a JSON object.");
        }

        return request.Type switch
        {
            EventTypes.UserSignedUp => await SignedUpAsync(request, dataSource, outbox, time, ct),
            EventTypes.UserActive => await ActiveAsync(request, dataSource, outbox, time, ct),
            _ => Invalid($"Unsupported type; accepted types: {EventTypes.UserSignedUp}, {EventTypes.UserActive}."),
        };
    }

    private static async Task<Results<Accepted<InternalEventAccepted>, Ok<InternalEventAccepted>, ProblemHttpResult>> SignedUpAsync(
        InternalEventRequest request, NpgsqlDataSource dataSource, EventOutbox outbox, TimeProvider time, CancellationToken ct)
    {
        if (!TryRead<UserSignedUp>(request.Data, out var user))
        {
            return Invalid("data does not match user.signed_up.");
        }

        if (Validate(user) is { } problem)
        {
            return Invalid(problem);
        }

        // The welcome email is sent with MimeKit: an address it would refuse or rewrite is refused here, once.
        if (!InputRules.TryNormalizeEmail(user.Email, out var email))
        {
            return Unprocessable("data.email must be a plain address (local@domain.tld) that mail can be sent to as written.");
        }

        user = user with { Email = email };

        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        if (await EarlierUseAsync(connection, tx, request, user.Id, time, ct) is { } answer)
        {
            return answer;
        }

        var inserted = await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO users (id, email, name, language, country, goals, voice, referral_code, signed_up_at)
            VALUES (@Id, @Email, @Name, @Language, @Country, @goals::jsonb, @Voice, @ReferralCode, @at)
            ON CONFLICT (id) DO NOTHING
            """,
            new { user.Id, user.Email, user.Name, user.Language, Country = user.Country?.ToUpperInvariant(), goals = JsonSerializer.Serialize(user.Goals ?? []), user.Voice, user.ReferralCode, at = time.GetUtcNow() },
            tx, cancellationToken: ct));
        if (inserted == 0)
        {
            // A signup is recorded once. Another signup of the same user with another address is not a retry and
            // not an update either (which address is newer cannot be told): refuse it and write nothing.
            var recorded = await connection.QuerySingleAsync<string>(new CommandDefinition(
                "SELECT email FROM users WHERE id = @Id", new { user.Id }, tx, cancellationToken: ct));
            if (!string.Equals(recorded, user.Email, StringComparison.OrdinalIgnoreCase))
            {
                return TypedResults.Problem(statusCode: 409, title: "User already signed up",
                    detail: "This user signed up before with another email address; a signup is recorded once and does not change the address.");
            }

            // The user signed up before under another event id: the same fact, nothing new to publish
            // (the id stays recorded, so it cannot name another user later).
            await tx.CommitAsync(ct);
            return TypedResults.Ok(new InternalEventAccepted(request.Id!, request.Type!, Duplicate: true));
        }

        await outbox.AddAsync(connection, tx, EventTypes.UserSignedUp, user, request.Id, ct);
        await tx.CommitAsync(ct);
        return TypedResults.Accepted((string?)null, new InternalEventAccepted(request.Id!, request.Type!, Duplicate: false));
    }

    private static async Task<Results<Accepted<InternalEventAccepted>, Ok<InternalEventAccepted>, ProblemHttpResult>> ActiveAsync(
        InternalEventRequest request, NpgsqlDataSource dataSource, EventOutbox outbox, TimeProvider time, CancellationToken ct)
    {
        if (!TryRead<UserActive>(request.Data, out var active) || string.IsNullOrWhiteSpace(active.Id) || active.Id.Length > 100)
        {
            return Invalid("user.active needs data.id (a string) and optionally data.at (an ISO 8601 time).");
        }

        if (InputRules.HasControlCharacters(active.Id))
        {
            return Unprocessable("data.id may not hold control characters.");
        }

        var now = time.GetUtcNow();
        var at = (active.At ?? now).ToUniversalTime();
        if (at > now.AddMinutes(5))
        {
            return Invalid("data.at lies in the future.");
        }

        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        if (await EarlierUseAsync(connection, tx, request, active.Id, time, ct) is { } answer)
        {
            return answer;
        }

        var updated = await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE users SET last_active_at = GREATEST(COALESCE(last_active_at, @at), @at) WHERE id = @id",
            new { id = active.Id, at }, tx, cancellationToken: ct));
        if (updated == 0)
        {
            return TypedResults.Problem(statusCode: 404, title: "Unknown user", detail: "user.active for a user that never signed up.");
        }

        await outbox.AddAsync(connection, tx, EventTypes.UserActive, active with { At = at }, request.Id, ct);
        await tx.CommitAsync(ct);
        return TypedResults.Accepted((string?)null, new InternalEventAccepted(request.Id!, request.Type!, Duplicate: false));
    }

    /// <summary>
    /// Records the event id, or answers for its earlier use: a duplicate of the same fact, or a conflict.
    /// The id is locked for the transaction, so parallel posts of one id are decided one at a time.
    /// </summary>
    private static async Task<Results<Accepted<InternalEventAccepted>, Ok<InternalEventAccepted>, ProblemHttpResult>?> EarlierUseAsync(
        NpgsqlConnection connection, NpgsqlTransaction tx, InternalEventRequest request, string userId, TimeProvider time, CancellationToken ct)
    {
        await connection.ExecuteAsync(new CommandDefinition(
            "SELECT pg_advisory_xact_lock(hashtextextended(@id, 7))", new { id = request.Id }, tx, cancellationToken: ct));
        var earlier = await connection.QuerySingleOrDefaultAsync<EarlierEvent>(new CommandDefinition(
            "SELECT type, user_id AS userid FROM internal_events WHERE id = @id", new { id = request.Id }, tx, cancellationToken: ct));
        if (earlier is null)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "INSERT INTO internal_events (id, type, user_id, received_at) VALUES (@id, @type, @userId, @at)",
                new { id = request.Id, type = request.Type, userId, at = time.GetUtcNow() }, tx, cancellationToken: ct));
        }

        return earlier switch
        {
            null => null,
            _ when earlier.Type == request.Type && earlier.UserId == userId => TypedResults.Ok(new InternalEventAccepted(request.Id!, request.Type!, Duplicate: true)),
            _ => Conflict(request.Id!),
        };
    }

    private static bool TryRead<T>(JsonElement data, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out T? value)
        where T : class
    {
        try
        {
            value = data.Deserialize<T>(EventJson.Options);
        }
        catch (JsonException)
        {
            value = null;
        }

        return value is not null;
    }

    private static string? Validate(UserSignedUp user)
    {
        if (string.IsNullOrWhiteSpace(user.Id) || user.Id.Length > 100 || InputRules.HasControlCharacters(user.Id))
        {
            return "data.id is required (at most 100 characters, no control characters).";
        }

        if (user.Name is { } name && (name.Length > 200 || InputRules.HasControlCharacters(name)))
        {
            return "data.name may have at most 200 characters and no control characters.";
        }

        if (user.Language is not null && !InputRules.IsLanguageTag(user.Language))
        {
            return "data.language must be a BCP 47 tag such as en or pt-BR.";
        }

        if (user.Country is not null && !InputRules.IsCountry(user.Country))
        {
            return "data.country must be an ISO 3166-1 alpha-2 code such as GB.";
        }

        if (user.Voice is not null && !InputRules.IsVoiceId(user.Voice))
        {
            return "data.voice must look like en-GB-female-1.";
        }

        if (user.ReferralCode is not null && !InputRules.IsReferralCode(user.ReferralCode))
        {
            return "data.referralCode has 3 to 32 letters, digits, dashes or underscores.";
        }

        if (user.Goals is { } goals && (goals.Count > MaxGoals || goals.Any(g => g is null || g.Length > MaxGoalLength || InputRules.HasControlCharacters(g))))
        {
            return $"data.goals may hold at most {MaxGoals} goals of at most {MaxGoalLength} characters each.";
        }

        return null;
    }

    private static ProblemHttpResult Invalid(string detail) =>
        TypedResults.Problem(statusCode: 400, title: "Invalid event", detail: detail);

    private static ProblemHttpResult Unprocessable(string detail) =>
        TypedResults.Problem(statusCode: 422, title: "Invalid event", detail: detail);

    private static ProblemHttpResult Conflict(string eventId) =>
        TypedResults.Problem(statusCode: 409, title: "Event id already used", detail: $"Event {eventId} was already recorded for another fact; an id names one event.");

    private static bool HasValidToken(HttpRequest http, string expected)
    {
        var header = http.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var given = Encoding.UTF8.GetBytes(header["Bearer ".Length..].Trim());
        return CryptographicOperations.FixedTimeEquals(given, Encoding.UTF8.GetBytes(expected));
    }

    private sealed record EarlierEvent(string Type, string? UserId);
}
