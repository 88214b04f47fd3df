using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using Sunaiva.ServiceDefaults.Auth;
using Sunaiva.ServiceDefaults.OpenApi;

namespace Sunaiva.Engagement.Email;

/// <summary>Which optional categories the user receives; <paramref name="Blocked"/> when a bounce or complaint stops all mail.</summary>
public sealed record EmailPreferences(IReadOnlyDictionary<string, bool> Categories, bool Blocked);

/// <summary>Categories to turn on (true) or off (false); categories not named keep their setting.</summary>
public sealed record EmailPreferencesRequest(IReadOnlyDictionary<string, bool>? Categories);

/// <summary><c>GET|PUT /email/preferences</c>: the caller's own email categories (JWT user).</summary>
public static class EmailPreferencesApi
{
    public static RouteGroupBuilder MapEmailPreferencesApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/email/preferences").RequireAuthorization().WithTags("Email preferences");
        group.MapGet("/", GetAsync).ProducesProblems(StatusCodes.Status404NotFound, StatusCodes.Status503ServiceUnavailable)
            .WithSummary("The caller's email categories")
            .WithResponseExample(StatusCodes.Status200OK, Example);
        group.MapPut("/", PutAsync).ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status503ServiceUnavailable)
            .WithSummary("Turn email categories on or off")
            .WithDescription("Idempotent. Transactional emails (payments, payouts) cannot be turned off.")
            .WithRequestExample(new EmailPreferencesRequest(new Dictionary<string, bool> { [EmailCategories.Onboarding] = false }));
        return group;
    }

    private static readonly EmailPreferences Example = new(
        new Dictionary<string, bool> { [EmailCategories.Onboarding] = true, [EmailCategories.Reengagement] = false, [EmailCategories.Reports] = true }, false);

    private static async Task<Results<Ok<EmailPreferences>, ProblemHttpResult>> GetAsync(HttpContext http, NpgsqlDataSource dataSource, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var address = await AddressAsync(connection, http.User.UserId(), ct);
        return address is null ? UnknownUser() : TypedResults.Ok(await ReadAsync(connection, address, ct));
    }

    private static async Task<Results<Ok<EmailPreferences>, ProblemHttpResult>> PutAsync(
        EmailPreferencesRequest request, HttpContext http, NpgsqlDataSource dataSource, SuppressionList suppressions, CancellationToken ct)
    {
        var changes = request.Categories ?? new Dictionary<string, bool>();
        if (changes.Keys.FirstOrDefault(k => !EmailCategories.IsOptional(k)) is { } unknown)
        {
            return TypedResults.Problem(statusCode: 400, title: "Unknown category",
                detail: $"'{(unknown.Length > 40 ? unknown[..40] : unknown)}' is not a category you can choose; choose among {string.Join(", ", EmailCategories.Optional)}.");
        }

        var userId = http.User.UserId();
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var address = await AddressAsync(connection, userId, ct);
        if (address is null)
        {
            return UnknownUser();
        }

        await using (var tx = await connection.BeginTransactionAsync(ct))
        {
            foreach (var (category, on) in changes)
            {
                if (on)
                {
                    await suppressions.RemoveChoiceAsync(connection, tx, address, category, ct);
                }
                else
                {
                    await suppressions.AddAsync(connection, tx, address, category, SuppressionList.Preference, userId, ct);
                }
            }

            await tx.CommitAsync(ct);
        }

        return TypedResults.Ok(await ReadAsync(connection, address, ct));
    }

    private static async Task<EmailPreferences> ReadAsync(NpgsqlConnection connection, string address, CancellationToken ct)
    {
        var off = (await connection.QueryAsync<string>(new CommandDefinition(
            "SELECT category FROM email_suppressions WHERE address = lower(@address)", new { address }, cancellationToken: ct))).ToHashSet(StringComparer.Ordinal);
        return new EmailPreferences(
            EmailCategories.Optional.ToDictionary(c => c, c => !off.Contains(c) && !off.Contains(EmailCategories.All), StringComparer.Ordinal),
            off.Contains(EmailCategories.All));
    }

    private static Task<string?> AddressAsync(NpgsqlConnection connection, string userId, CancellationToken ct) =>
        connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition("SELECT email FROM users WHERE id = @userId", new { userId }, cancellationToken: ct));

    private static ProblemHttpResult UnknownUser() =>
        TypedResults.Problem(statusCode: 404, title: "Unknown user", detail: "Engagement has not been told about this user yet.");
}
