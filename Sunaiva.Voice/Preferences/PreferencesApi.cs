using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.HttpResults;
using Sunaiva.ServiceDefaults.Auth;

namespace Sunaiva.Voice.Preferences;

public sealed record VoicePreference(string VoiceId, string Language, DateTime UpdatedAt);

public sealed record VoicePreferenceRequest(string? VoiceId, string? Language);

public static partial class PreferencesApi
{
    public static RouteGroupBuilder MapPreferencesApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/voice/preferences").RequireAuthorization().WithTags("Voice preferences");
        group.MapGet("/", GetAsync);
        group.MapPut("/", PutAsync);
        return group;
    }

    private static async Task<Results<Ok<VoicePreference>, ProblemHttpResult>> GetAsync(HttpContext http, PreferenceStore store, CancellationToken ct)
    {
        var preference = await store.GetAsync(http.User.UserId(), ct);
        return preference is null
            ? TypedResults.Problem(statusCode: 404, title: "No voice preference yet", detail: "PUT /voice/preferences to choose a voice.")
            : TypedResults.Ok(preference);
    }

    private static async Task<Results<Ok<VoicePreference>, ProblemHttpResult>> PutAsync(VoicePreferenceRequest request, HttpContext http, PreferenceStore store, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(request.VoiceId) || request.VoiceId.Length > 64 || !VoiceIdPattern().IsMatch(request.VoiceId))
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid voice", detail: "voiceId must look like en-GB-female-1 (letters, digits and dashes, at most 64).");
        }

        var language = string.IsNullOrWhiteSpace(request.Language) ? request.VoiceId[..2] : request.Language;
        if (language.Length is < 2 or > 12)
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid language", detail: "language must be a BCP 47 tag such as en or pt-BR.");
        }

        return TypedResults.Ok(await store.UpsertAsync(http.User.UserId(), request.VoiceId, language, ct));
    }

    [GeneratedRegex("^[A-Za-z0-9-]+$")]
    private static partial Regex VoiceIdPattern();
}
